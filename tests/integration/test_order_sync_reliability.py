"""Regression tests for what the reliability drills (tests/drills/) found: each fix, narrowly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from integration.bc_types import to_count, to_money
from integration.choices import ErrorCode, OrderSyncState
from integration.client import _without_nul
from integration.jobs import LOST_AFTER, intake_sweep_job
from integration.models import OrderSync, StoreLink
from integration.queueing import QUEUE_WEBHOOKS, get_queue
from integration.services.intake import order_sync_job_id, order_sync_request
from integration.services.order_apply import link_heartbeat_sync
from integration.services.order_sync import (
    _withdraw_jobs,
    order_sync_fail,
    order_sync_run,
    order_syncs_claim,
    whole_second_after,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(live_link):
    return live_link


def test_the_link_heartbeat_is_written_after_the_apply_commits_not_inside_it(
    sandbox, link, bc_client, django_capture_on_commit_callbacks
):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sync_id, _ = order_sync_request(link=link, bc_order_id=order_id)
    table = StoreLink._meta.db_table

    with django_capture_on_commit_callbacks() as callbacks, CaptureQueriesContext(connection) as queries:
        order_sync_run(order_sync_id=sync_id, client=bc_client)

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


def test_a_retry_is_due_and_scheduled_on_a_whole_second_with_the_matching_job_id(
    link, django_capture_on_commit_callbacks
):
    sync = OrderSync.objects.create(link=link, bc_order_id=123)
    with django_capture_on_commit_callbacks(execute=True):
        order_sync_fail(order_sync=sync, reason=ErrorCode.RATE_LIMITED, detail="", retry_after=timedelta(seconds=30.4))

    sync.refresh_from_db()
    assert sync.state == OrderSyncState.RETRYING
    assert sync.next_retry_at.microsecond == 0 and sync.queued_at == sync.next_retry_at
    registry = ScheduledJobRegistry(queue=get_queue(QUEUE_WEBHOOKS))
    job_id = order_sync_job_id(sync.pk, sync.queued_at)
    assert registry.get_job_ids() == [job_id]
    # RQ's scheduler runs it at the second it is due, when the claim finds the request due too.
    assert registry.get_scheduled_time(job_id).timestamp() == sync.next_retry_at.timestamp()


def test_withdrawing_jobs_removes_waiting_ones_but_never_deletes_one_a_worker_took(link, redis_conn):
    queue = get_queue(QUEUE_WEBHOOKS)
    now = timezone.now()
    taken, waiting = (OrderSync.objects.create(link=link, bc_order_id=n, queued_at=now) for n in (1, 2))
    for sync in (taken, waiting):
        queue.enqueue_call("integration.jobs.order_sync_job", args=(sync.pk,), job_id=order_sync_job_id(sync.pk, now))
    queue.connection.lrem(queue.key, 0, order_sync_job_id(taken.pk, now))  # a worker dequeued it

    _withdraw_jobs([(taken.pk, now), (waiting.pk, now)])

    assert Job.exists(order_sync_job_id(taken.pk, now), connection=queue.connection)
    assert not Job.exists(order_sync_job_id(waiting.pk, now), connection=queue.connection)
    assert len(queue) == 0


@pytest.mark.django_db(transaction=True)
def test_orders_claimed_by_a_worker_that_died_are_queued_again_by_the_sweeper_after_lost_after(link):
    syncs = [order_sync_request(link=link, bc_order_id=n)[0] for n in (1, 2, 3)]
    claimed = order_syncs_claim(order_sync_id=syncs[0])  # ... and the worker dies here
    assert {s.pk for s in claimed} == set(syncs)
    assert intake_sweep_job() == 0  # a slow batch is not a dead one

    later = LOST_AFTER + timedelta(seconds=1)  # the clock moves on: every timestamp is that much older
    OrderSync.objects.update(last_attempt_at=F("last_attempt_at") - later, updated_at=F("updated_at") - later)
    assert intake_sweep_job() == 3
    assert OrderSync.objects.filter(queued_at__isnull=False).count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_applied_nothing_is_released_not_taken_for_abandoned(sandbox, link, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sync_id, _ = order_sync_request(link=link, bc_order_id=order_id)
    order_sync_run(order_sync_id=sync_id, client=bc_client)
    # A late copy older than the one applied: the batch writes no outcome for it (stale).
    OrderSync.objects.filter(pk=sync_id).update(bc_date_modified=F("bc_date_modified") + timedelta(days=1))
    now = timezone.now()
    order_sync_request(link=link, bc_order_id=order_id, now=now)
    order_sync_run(order_sync_id=sync_id, client=bc_client)

    OrderSync.objects.update(
        last_attempt_at=F("last_attempt_at") - LOST_AFTER - timedelta(seconds=1),
        updated_at=F("updated_at") - LOST_AFTER - timedelta(seconds=1),
    )
    assert intake_sweep_job() == 0


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
