"""Regression tests for what the reliability drills (tests/drills/) found: each fix, narrowly."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integration.bc_types import to_count, to_money
from integration.client import _without_nul
from integration.models import OrderSync, StoreLink
from integration.services import order_sync
from integration.services.order_apply import link_heartbeat_sync
from integration.services.order_sync import ORDER_SYNC, order_sync_request
from tests.work_helpers import sync_order, work_rows
from work import kernel
from work.kernel import whole_second_after
from work.models import WorkItem
from work.registry import get as work_kind
from work.worker import JobOverran, Worker

pytestmark = pytest.mark.django_db


def test_the_link_heartbeat_is_written_after_the_apply_commits_not_inside_it(
    sandbox, link, django_capture_on_commit_callbacks
):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    table = StoreLink._meta.db_table

    with django_capture_on_commit_callbacks() as callbacks, CaptureQueriesContext(connection) as queries:
        sync_order(link, order_id)

    assert not [q for q in queries if q["sql"].startswith("UPDATE") and table in q["sql"]]
    assert StoreLink.objects.get(pk=link.pk).last_order_synced_at is None
    for callback in callbacks:
        callback()
    assert StoreLink.objects.get(pk=link.pk).last_order_synced_at is not None


def test_the_link_heartbeat_is_written_only_when_stale(link):
    now = timezone.now()
    link_heartbeat_sync(link_id=link.pk, now=now)
    with CaptureQueriesContext(connection) as queries:
        link_heartbeat_sync(link_id=link.pk, now=now + timedelta(seconds=1))
    link.refresh_from_db()
    assert link.last_order_synced_at == now  # a second later: not rewritten
    assert len(queries) == 1  # one short statement, which matched nothing
    link_heartbeat_sync(link_id=link.pk, now=now + timedelta(seconds=10))
    link.refresh_from_db()
    assert link.last_order_synced_at == now + timedelta(seconds=10)


def test_whole_second_after_rounds_up():
    moment = datetime(2026, 12, 4, 12, 0, 0, 400_000, tzinfo=UTC)
    assert whole_second_after(moment) == datetime(2026, 12, 4, 12, 0, 1, tzinfo=UTC)
    assert whole_second_after(moment.replace(microsecond=0)) == moment.replace(microsecond=0)


@pytest.mark.django_db(transaction=True)
def test_orders_claimed_by_a_worker_that_died_are_claimed_again_once_their_lease_runs_out(link):
    for n in (1, 2, 3):
        order_sync_request(link=link, bc_order_id=n)
    claimed = kernel.claim(only={ORDER_SYNC}, worker="dies-now")  # ... and the worker dies here
    assert len(claimed.items) == 3
    assert kernel.claim(only={ORDER_SYNC}, worker="other") is None  # a slow batch is not a dead one

    lease = work_kind(ORDER_SYNC).lease
    with time_machine.travel(timezone.now() + lease + timedelta(seconds=1)):
        again = kernel.claim(only={ORDER_SYNC}, worker="other")
    assert {i.key for i in again.items} == {i.key for i in claimed.items}
    assert {i.attempts for i in again.items} == {2}


def test_a_stale_copy_finishes_its_work_it_is_not_left_for_abandoned(sandbox, link):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sync_order(link, order_id)
    # A late copy older than the one applied: the run writes no outcome for it (stale), and is finished all the same.
    OrderSync.objects.filter(bc_order_id=order_id).update(bc_date_modified=F("bc_date_modified") + timedelta(days=1))

    sync_order(link, order_id)

    assert work_rows(ORDER_SYNC) == []


@pytest.mark.parametrize("value", ["-2", -1, "1.5", 2**31, "NaN", "1E+400"])
def test_a_line_quantity_must_be_a_whole_number_from_zero(value):
    with pytest.raises(ValueError):
        to_count(value)


@pytest.mark.parametrize("value", ["1E+400", "10000000000", "-10000000000.00", "Infinity"])
def test_an_amount_beyond_what_a_sale_holds_is_unreadable(value):
    with pytest.raises(ValueError):
        to_money(value)


def test_nul_characters_are_removed_from_api_data():
    assert _without_nul({"a\x00": ["x\x00y", 1, {"k": "\x00"}]}) == {"a": ["xy", 1, {"k": ""}]}


def test_a_batch_cut_off_by_the_job_timeout_is_not_applied_again_order_by_order(sandbox, link, monkeypatch):
    def overran(**kwargs):  # the job's alarm goes off while the batch waits in orders_apply
        Worker.death_penalty_class(120).handle_death_penalty(signal.SIGALRM, None)

    monkeypatch.setattr(order_sync, "orders_apply", overran)
    order_ids = [sandbox.store.place_order(status_id=11, lines=1).id for _ in range(2)]
    for order_id in order_ids:
        order_sync_request(link=link, bc_order_id=order_id)

    with pytest.raises(JobOverran):
        kernel.drain(only={ORDER_SYNC}, budget=600)

    # Neither order was tried alone nor recorded as failed: the claim waits for its lease to lapse.
    syncs = OrderSync.objects.filter(link=link, bc_order_id__in=order_ids)
    assert sorted((s.state, s.last_error_code, s.attempts) for s in syncs) == [("pending", "", 0)] * 2
    items = WorkItem.objects.filter(kind=ORDER_SYNC, key__in=[f"{link.pk}:{o}" for o in order_ids])
    assert sorted((i.attempts, i.last_error_code) for i in items) == [(1, "")] * 2
