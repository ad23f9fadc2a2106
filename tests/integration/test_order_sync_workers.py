"""The order sync with real worker processes, real webhooks over HTTP and the sandbox store: exactly once."""

from __future__ import annotations

import random

import pytest
from django.db.models import Sum

from integration.choices import OrderSyncState
from integration.models import OrderSync, StoreLink
from integration.services.catalog_ids import catalog_ids_refresh
from integration.services.link import hooks_register
from integration.services.order_apply import ApplyOptions, orders_apply
from integration.services.order_sync import ORDER_SYNC, order_fetch, order_sync_request
from integration.services.reconcile import reconcile_run
from integration.status_table import Outcome, status_for
from pos.choices import Channel, ProductKind, SaleStatus
from pos.models import InventoryLevel, InventoryMovement, Sale
from tests.concurrency import run_concurrently
from work import kernel
from work.models import WorkItem

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_due_order_syncs() -> int:
    """What a worker does when woken: claim and run the due order syncs."""
    return kernel.drain(only={ORDER_SYNC})


def _fetch_and_apply(link_id: int, order_id: int) -> str:
    """What a worker does once it holds an order, without the claim: fetch it, apply it."""
    from integration.client import BigCommerceClient

    link = StoreLink.objects.select_related("retailer", "default_payment_type").get(pk=link_id)
    fetched = order_fetch(client=BigCommerceClient.for_link(link), link=link, bc_order_id=order_id)
    return orders_apply(link=link, fetched=[fetched], options=ApplyOptions())[0].kind


def test_two_processes_applying_the_same_order_at_once_make_one_sale_and_move_stock_once(sandbox, link):
    order_id = sandbox.store.place_order(status_id=11, lines=3).id

    kinds = run_concurrently(_fetch_and_apply, [(link.pk, order_id), (link.pk, order_id)])

    sale = Sale.objects.get()
    units = sum(line.quantity for line in sandbox.store.order(order_id).lines)
    assert sorted(kinds) in (["create", "update"], ["create", "stale"])
    assert -InventoryMovement.objects.filter(sale=sale).aggregate(n=Sum("quantity"))["n"] == units


def test_two_workers_woken_for_the_same_order_sync_it_once(sandbox, link):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    order_sync_request(link=link, bc_order_id=order_id)

    finished = run_concurrently(_run_due_order_syncs, [(), ()])

    assert sorted(finished) == [0, 1]
    assert sandbox.store.request_log.counts()["get_order"] == 1
    assert Sale.objects.count() == 1


def _assert_pos_matches_the_store(sandbox, link, order_ids) -> None:
    """Every order in its expected state, and the ledger equal to every level."""
    for order_id in order_ids:
        record = sandbox.store.order(order_id)
        outcome = status_for(record.status_id).outcome
        sync = OrderSync.objects.get(link=link, bc_order_id=order_id)
        sale = Sale.objects.filter(channel=Channel.BIGCOMMERCE, external_order_id=str(order_id)).first()
        if outcome == Outcome.SKIP:
            assert sync.state == OrderSyncState.SKIPPED and sale is None, order_id
            continue
        assert sync.state == OrderSyncState.IMPORTED, (order_id, sync.state, sync.last_error_message)
        moved = -(InventoryMovement.objects.filter(sale=sale).aggregate(n=Sum("quantity"))["n"] or 0)
        if outcome == Outcome.VOIDED:
            assert sale.status == SaleStatus.VOIDED and moved == 0, order_id
        else:
            tracked = sum(line.quantity for line in record.lines)
            assert sale.status == SaleStatus.CLOSED and moved == tracked, (order_id, moved, tracked)
    assert Sale.objects.count() == len({*Sale.objects.values_list("external_order_id", flat=True)})
    for level in InventoryLevel.objects.all():
        total = InventoryMovement.objects.filter(product=level.product, outlet=level.outlet).aggregate(
            n=Sum("quantity")
        )["n"]
        assert level.on_hand == total


def _drain(sandbox, rq_workers, workers: int = 2) -> None:
    """Let the sandbox deliver every webhook and the workers run every due piece of work, until none is left."""
    for _ in range(20):
        assert sandbox.store.webhooks.wait_idle(timeout=60)
        if not WorkItem.objects.filter(due_at__isnull=False, kind=ORDER_SYNC).exists():
            return
        rq_workers(workers)
    raise AssertionError("the order syncs never ran out")


def test_the_generated_order_mix_with_duplicate_and_out_of_order_webhooks_ends_exact(
    sandbox, link, live_server, settings, rq_workers, bc_client
):
    settings.PUBLIC_BASE_URL = live_server.url
    assert hooks_register(link=link)
    catalog_ids_refresh(link=link, client=bc_client)  # as linking does
    sandbox.store.webhooks.duplicates = True
    sandbox.store.webhooks.out_of_order = True
    rng = random.Random(7)
    first = sandbox.store.place_order(status_id=11, lines=2).id
    for _ in range(60):
        sandbox.store.simulate_activity(rng)
    last = sandbox.store.FIRST_ORDER_ID + sandbox.store.order_count() - 1
    order_ids = range(first, last + 1)
    for order_id in list(order_ids)[::7]:
        sandbox.store.cancel_order(order_id)
    sandbox.store.request_log.clear()

    _drain(sandbox, rq_workers)

    _assert_pos_matches_the_store(sandbox, link, order_ids)
    counts = sandbox.store.request_log.counts()
    syncs, calls = counts["get_order"], sum(counts.values())
    print(f"\nwebhook path: {calls} API calls for {syncs} order syncs = {calls / syncs:.3f} per sync: {counts}")
    assert calls / syncs <= 1.1


def test_with_webhooks_never_delivered_reconciliation_imports_every_order_in_one_cycle(
    sandbox, link, rq_workers, django_capture_on_commit_callbacks
):
    order_ids = sandbox.store.place_orders(30, lines=2)
    sandbox.store.set_status(order_ids[0], 5)
    sandbox.store.refund_order(order_ids[1], full=True) if sandbox.store.order(order_ids[1]).status_id not in (
        0,
        1,
        5,
        6,
    ) else None

    report = reconcile_run(link=link)
    rq_workers(2)

    assert report.error == ""
    assert set(report.missed) >= {
        oid for oid in order_ids if status_for(sandbox.store.order(oid).status_id).outcome != Outcome.SKIP
    }
    _assert_pos_matches_the_store(sandbox, link, order_ids)
    link.refresh_from_db()
    assert link.reconcile_cursor is not None
    assert not Sale.objects.filter(lines__product__kind=ProductKind.PLACEHOLDER).exists()
