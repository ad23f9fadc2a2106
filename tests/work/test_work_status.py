"""`manage.py work_status`: what an operator reads about background work, straight from the work table."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from work.models import WorkItem

pytestmark = pytest.mark.django_db


def _status(*args: str) -> list[str]:
    out = StringIO()
    call_command("work_status", *args, stdout=out)
    return out.getvalue().splitlines()


def test_due_running_lapsed_and_failed_work_per_kind_and_the_failures_listed():
    now = timezone.now()
    minutes = timedelta(minutes=1)
    WorkItem.objects.create(
        kind="bc.order_sync", key="1", shard=7, due_at=now - minutes, requested_at=now - 3 * minutes
    )
    WorkItem.objects.create(kind="bc.order_sync", key="2", shard=7, due_at=now + minutes)
    WorkItem.objects.create(kind="bc.order_sync", key="3", shard=7, lease_until=now + minutes)
    WorkItem.objects.create(kind="bc.push", key="7", shard=7, lease_until=now - minutes)
    WorkItem.objects.create(
        kind="bc.push",
        key="8",
        shard=8,
        failed_at=now,
        attempts=5,
        last_error_code="credentials_rejected",
        last_error="BigCommerce rejected the token",
    )

    lines = _status("--failed")
    assert lines[0].split() == ["kind", "due", "due", "now", "waiting", "running", "lapsed", "failed"]
    kind, due, due_now, waited, _s, running, lapsed, failed = lines[1].split()
    assert (kind, due, due_now, running, lapsed, failed) == ("bc.order_sync", "2", "1", "1", "0", "0")
    assert int(waited) >= 180  # the oldest due request's age
    assert lines[2].split() == ["bc.push", "0", "0", "-", "0", "1", "1"]
    assert "bc.push 8 (retailer 8) after 5 attempt(s): credentials_rejected BigCommerce rejected the token" in lines[-1]

    assert [line.split()[0] for line in _status("--shard", "8")[1:]] == ["bc.push"]


def test_nothing_waiting_says_so():
    assert _status("--failed")[1:] == ["(no background work waiting)", "", "(no failed work)"]
