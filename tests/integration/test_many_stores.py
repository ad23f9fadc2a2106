"""Many stores on one deployment: a store with a backlog never holds up a store with one new order (issue 18).
Two retailers linked to two stores of one sandbox process, real PostgreSQL, the kernel's own claim and run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from integration.choices import ImportState, OrderSyncState
from integration.client import BigCommerceClient
from integration.models import HistoricalImport, OrderSync
from integration.ratelimit import RateLimitHeaders, StoreRateLimiter
from integration.services.catalog_ids import catalog_ids_request
from integration.services.historical_import import (
    IMPORT,
    historical_import_start,
    historical_import_step,
    historical_import_switch_set,
    import_options,
)
from integration.services.order_sync import ORDER_SYNC, order_sync_key, order_sync_request
from pos.models import Sale
from tests import factories
from tests.limiter_clock import let_waits_pass
from work import kernel
from work.models import QueueHead, WorkItem

pytestmark = pytest.mark.django_db


def _link(retailer, sandbox, store):
    return factories.StoreLinkFactory(
        retailer=retailer,
        store_hash=store.settings.store_hash,
        store_id=str(store.settings.store_id),
        access_token=store.settings.access_token,
        api_base_url=sandbox.url,
        linked_at=timezone.now() - timedelta(hours=1),
    )


@pytest.mark.sandbox(orders=0)
def test_the_quiet_stores_order_is_applied_before_the_backlog_drains(sandbox, retailer, other_retailer):
    noisy_store, quiet_store = sandbox.store, sandbox.add_stores(1)[0]
    noisy, quiet = _link(retailer, sandbox, noisy_store), _link(other_retailer, sandbox, quiet_store)
    backlog = noisy_store.place_orders(120, status_id=11)  # a flash sale: 120 webhooks, then one quiet order
    for order_id in backlog:
        order_sync_request(link=noisy, bc_order_id=order_id)
    (quiet_order,) = quiet_store.place_orders(1, status_id=11)
    order_sync_request(link=quiet, bc_order_id=quiet_order)

    noisy_done_when_quiet_was_applied = None
    while (batch := kernel.claim(only={ORDER_SYNC, IMPORT}, worker="the-only-worker")) is not None:
        kernel.run(batch)
        quiet_sync = OrderSync.objects.get(link=quiet, bc_order_id=quiet_order)
        if noisy_done_when_quiet_was_applied is None and quiet_sync.state == OrderSyncState.IMPORTED:
            noisy_done_when_quiet_was_applied = OrderSync.objects.filter(
                link=noisy, state=OrderSyncState.IMPORTED
            ).count()

    assert quiet_sync.sale is not None and quiet_sync.sale.retailer == other_retailer
    assert noisy_done_when_quiet_was_applied <= 50  # at most one batch of the backlog went first
    assert OrderSync.objects.filter(link=noisy, state=OrderSyncState.IMPORTED).count() == 120  # then it drained
    assert sum(quiet_store.request_log.counts().values()) >= 1  # fetched from its own store, on its own quota


@pytest.mark.sandbox(orders=30)
def test_an_import_step_gives_way_to_another_stores_order_waiting_for_a_worker(
    sandbox, sandbox_link, other_retailer, admin_user, support_user, run_jobs
):
    """Live orders go before import pages, whichever store they belong to: an import step of one store ends after
    its page in hand when another store's order has waited longer than `WORK_YIELD_AFTER_SECONDS` for a worker,
    and that order is applied before the import's next page."""
    quiet_store = sandbox.add_stores(1)[0]
    quiet = _link(other_retailer, sandbox, quiet_store)
    historical_import_switch_set(
        retailer=sandbox_link.retailer, enabled=True, reason="Migrating from another POS", acting_user=support_user
    )
    catalog_ids_request(link=sandbox_link)  # as linking does: the import's pages need no catalog read of their own
    run_jobs("webhooks")
    run = historical_import_start(link=sandbox_link, options=import_options(link=sandbox_link), acting_user=admin_user)
    (quiet_order,) = quiet_store.place_orders(1, status_id=11)
    with time_machine.travel(timezone.now() - timedelta(seconds=1), tick=False):  # no idle worker took it since
        order_sync_request(link=quiet, bc_order_id=quiet_order)

    assert historical_import_step(import_id=run.pk, page_size=10) == ImportState.RUNNING
    assert HistoricalImport.objects.get(pk=run.pk).seen == 10  # one page of its window of three, then it gave way

    following = kernel.claim(only={ORDER_SYNC, IMPORT}, worker="the-only-worker")
    assert following.kind.name == ORDER_SYNC and [i.key for i in following.items] == [f"{quiet.pk}:{quiet_order}"]
    kernel.run(following)
    quiet_sync = OrderSync.objects.get(link=quiet, bc_order_id=quiet_order)
    assert quiet_sync.state == OrderSyncState.IMPORTED and quiet_sync.sale.retailer == other_retailer
    assert HistoricalImport.objects.get(pk=run.pk).seen == 10  # applied before the import's next page

    following = kernel.claim(only={ORDER_SYNC, IMPORT}, worker="the-only-worker")
    assert following.kind.name == IMPORT
    kernel.run(following)
    assert HistoricalImport.objects.get(pk=run.pk).seen == 30  # nothing waiting: the rest of its window


# ---------------------------------------------------------------- a store's quota never holds a worker asleep


def _quota_left(link, left: int, *, reset_ms: int = 3_000) -> StoreRateLimiter:
    """The store's limiter (the one its syncs use), told by a response that `left` requests remain in a window of
    15 per 3 s ending in `reset_ms`; its waits are recorded and pass at once (`let_waits_pass`)."""
    limiter = BigCommerceClient.for_link(link).rate_limiter
    limiter.reset()
    limiter.observe(limiter.acquire(), RateLimitHeaders(left, reset_ms, 3_000, 15), status=200)
    return limiter


def _window_end(limiter: StoreRateLimiter):
    """When the limiter's window ends (Redis's clock: this machine's), as the store's last response said."""
    reset_at = int(limiter._conn().hget(limiter._keys[0], "reset_at"))
    return datetime.fromtimestamp(reset_at / 1000, tz=UTC)


def _drain_window_by_window(limiters, *, windows: int = 20) -> None:
    """Let each window pass (the limiters' and the clock's) and drain what falls due, until no sync is left."""
    moment = timezone.now()
    for _ in range(windows):
        if not WorkItem.objects.filter(kind=ORDER_SYNC).exists():
            return
        for limiter in limiters:
            limiter._sleep(3.0)  # the quota's window passes
        moment += timedelta(seconds=4)
        with time_machine.travel(moment, tick=False):
            kernel.drain(only={ORDER_SYNC}, worker="later")
    raise AssertionError("order syncs left after every window passed")


@pytest.mark.sandbox(orders=0)
def test_a_batch_runs_what_the_stores_quota_serves_and_gives_the_rest_back_unrun(sandbox, retailer):
    store = sandbox.store
    link = _link(retailer, sandbox, store)
    orders = store.place_orders(5, status_id=11)
    for order_id in orders:
        order_sync_request(link=link, bc_order_id=order_id)
    limiter = _quota_left(link, 2)  # two requests left until the window ends, 3 s from now
    waits = let_waits_pass(limiter)
    window_end = _window_end(limiter)

    batch = kernel.claim(only={ORDER_SYNC}, worker="w1")
    assert len(batch.items) == 5
    assert kernel.run(batch) == 2  # what the quota serves now; the worker is free at once

    assert waits == []  # never asleep on the quota
    imported = OrderSync.objects.filter(link=link, state=OrderSyncState.IMPORTED)
    assert imported.count() == 2
    left = list(WorkItem.objects.filter(kind=ORDER_SYNC))
    assert len(left) == 3
    for item in left:  # back in the queue unrun: no attempt counted, no error, due when the quota refills
        assert item.attempts == 0 and item.lease_until is None and item.claimed_by == "" and item.last_error_code == ""
        assert abs((item.due_at - window_end).total_seconds()) < 0.5
    waiting = OrderSync.objects.filter(link=link).exclude(state=OrderSyncState.IMPORTED)
    assert {(s.state, s.attempts, s.last_error_code) for s in waiting} == {(OrderSyncState.PENDING, 0, "")}
    assert QueueHead.objects.get(kind=ORDER_SYNC, shard=retailer.pk).ready_at == min(i.due_at for i in left)
    assert kernel.claim(only={ORDER_SYNC}, worker="w2") is None  # not due before the window ends

    _drain_window_by_window([limiter])

    assert OrderSync.objects.filter(link=link, state=OrderSyncState.IMPORTED).count() == 5
    assert Sale.objects.filter(retailer=retailer).count() == 5  # each order applied exactly once
    for order_id in orders:
        assert len(store.request_log.records(endpoint="get_order", order_id=order_id)) == 1  # fetched once


@pytest.mark.sandbox(orders=0)
def test_two_stores_out_of_quota_leave_the_workers_free_for_a_quiet_store(sandbox, retailer, other_retailer):
    """Two flash sales at once, each store's quota spent: the workers that claim their batches give them back at
    once, so the next claims serve a quiet store's order while both backlogs wait on their quotas (before, each
    batch held its worker asleep on the quota for its whole length: two such stores held every worker)."""
    third_retailer = factories.RetailerFactory()
    first_store, second_store, quiet_store = sandbox.store, *sandbox.add_stores(2)
    first = _link(retailer, sandbox, first_store)
    second = _link(other_retailer, sandbox, second_store)
    quiet = _link(third_retailer, sandbox, quiet_store)
    for link, store in ((first, first_store), (second, second_store)):
        for order_id in store.place_orders(60, status_id=11):
            order_sync_request(link=link, bc_order_id=order_id)
    (quiet_order,) = quiet_store.place_orders(1, status_id=11)
    order_sync_request(link=quiet, bc_order_id=quiet_order)
    limiters = [_quota_left(first, 0), _quota_left(second, 0)]
    waits = [let_waits_pass(limiter) for limiter in limiters]

    claims = []
    quiet_sync = OrderSync.objects.get(link=quiet, bc_order_id=quiet_order)
    while quiet_sync.state != OrderSyncState.IMPORTED and len(claims) < 6:
        batch = kernel.claim(only={ORDER_SYNC}, worker=f"worker-{len(claims) % 2}")  # two workers' claims in turn
        claims.append(batch.items[0].shard)
        kernel.run(batch)
        quiet_sync.refresh_from_db()

    assert quiet_sync.state == OrderSyncState.IMPORTED and quiet_sync.sale.retailer == third_retailer
    assert claims == [retailer.pk, other_retailer.pk, third_retailer.pk]  # each backlog's batch, then the quiet one
    assert waits == [[], []]  # no worker slept on a quota
    backlog = OrderSync.objects.filter(link__in=[first, second])
    assert not backlog.filter(state=OrderSyncState.IMPORTED).exists()  # both backlogs wait on their quotas
    assert set(backlog.values_list("attempts", "last_error_code")) == {(0, "")}

    _drain_window_by_window(limiters)

    assert backlog.filter(state=OrderSyncState.IMPORTED).count() == 120
    assert Sale.objects.filter(retailer__in=[retailer, other_retailer]).count() == 120  # exactly once each


@pytest.mark.sandbox(orders=0)
def test_a_store_out_of_quota_is_claimed_once_per_window_not_batch_after_batch(sandbox, retailer):
    """Regression: with its quota spent, a store's backlog of three batches was claimed batch after batch, each
    given back at once, and again as soon as it was due: a worker busy claiming for nothing. The first batch given
    back takes the rest of the queue with it, so the next claim finds nothing due before the window ends, and the
    backlog keeps its order (the oldest request first)."""
    link = _link(retailer, sandbox, sandbox.store)
    orders = sandbox.store.place_orders(120, status_id=11)
    for order_id in orders:
        order_sync_request(link=link, bc_order_id=order_id)
    limiter = _quota_left(link, 0)
    waits = let_waits_pass(limiter)
    window_end = _window_end(limiter)

    batch = kernel.claim(only={ORDER_SYNC}, worker="w1")
    assert len(batch.items) == 50
    assert kernel.run(batch) == 0

    assert kernel.claim(only={ORDER_SYNC}, worker="w2") is None  # the other 70 wait with the 50 given back
    left = WorkItem.objects.filter(kind=ORDER_SYNC)
    assert left.count() == 120 and set(left.values_list("attempts", "last_error_code")) == {(0, "")}
    assert all(abs((due - window_end).total_seconds()) < 0.5 for due in left.values_list("due_at", flat=True))
    assert waits == []

    moment = timezone.now() + timedelta(seconds=4)
    limiter._sleep(3.0)  # the window passes: 15 requests
    with time_machine.travel(moment, tick=False):
        first = kernel.claim(only={ORDER_SYNC}, worker="w1")
        assert [i.key for i in first.items] == [order_sync_key(link.pk, o) for o in orders[:50]]  # oldest first
        kernel.run(first)
    assert OrderSync.objects.filter(link=link, state=OrderSyncState.IMPORTED).count() == 15

    _drain_window_by_window([limiter])
    assert Sale.objects.filter(retailer=retailer).count() == 120  # each order applied exactly once
