"""Stock drift against the sandbox store: a level edited in BigCommerce's control panel is read back and set back
to the POS's level within one cycle, each correction in the sync log and the drift report's rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.db import transaction
from django.utils import timezone

from integration.choices import DriftReason
from integration.models import StockDriftCorrection, StockPushState, SyncLogEntry
from integration.services.order_sync import ORDER_SYNC, order_sync_key, order_sync_request
from integration.services.stock_drift import STOCK_DRIFT, stock_drift_interval, stock_drift_run
from pos import events
from tests import factories
from tests.fixtures_catalog import receive
from work import kernel
from work.models import WorkItem

pytestmark = [pytest.mark.django_db, pytest.mark.sandbox(locations=1)]

HEADLAMP, BEANIE, DOWN_JACKET = 116, 112, 114  # sandbox products: no options, no options, sizes


HTTP = requests.Session()  # the sandbox's control API is not BigCommerce's


def _edit_in_control_panel(sandbox, variant_id: int, quantity: int, location: int = 1) -> None:
    response = HTTP.put(
        f"{sandbox.url}/__sandbox__/inventory",
        json={"location_id": location, "variant_id": variant_id, "quantity": quantity},
        timeout=5,
    )
    assert response.status_code == 200, response.text


@pytest.fixture
def pushed(sandbox, push_link, link_item, run_pushes):
    """Three linked items at the linked outlet (mapped to location 1), their levels pushed: 12, 5 and 3."""
    factories.OutletLocationFactory(link=push_link, outlet=push_link.outlet, location_id=1)
    items = [link_item(HEADLAMP), link_item(BEANIE), link_item(DOWN_JACKET, variant_index=1)]
    for pl, quantity in zip(items, (12, 5, 3), strict=True):
        receive(pl.product, push_link.outlet, quantity, f"fixture:{pl.pk}")
    run_pushes()
    assert [sandbox.store.inventory[(1, pl.bc_variant_id)] for pl in items] == [12, 5, 3]
    sandbox.store.request_log.clear()
    return items


def test_levels_edited_in_bigcommerce_are_set_back_in_one_read_and_one_batched_push(
    sandbox, push_link, pushed, run_pushes
):
    headlamp, beanie, jacket = pushed
    # given two levels edited in the control panel
    _edit_in_control_panel(sandbox, headlamp.bc_variant_id, 40)
    _edit_in_control_panel(sandbox, jacket.bc_variant_id, 0)

    # when the read-back runs, then the push it asks for
    report = stock_drift_run(link=push_link)
    run_pushes()

    # then BigCommerce has the POS's levels again, from one page read and one batched adjustment
    assert (report.checked, report.corrected) == (3, 2)
    assert [sandbox.store.inventory[(1, pl.bc_variant_id)] for pl in pushed] == [12, 5, 3]
    assert sandbox.store.request_log.counts() == {"list_location_items": 1, "set_inventory_absolute": 1}
    rows = {
        c.product_id: (c.bc_level, c.pos_level, c.sent_level, c.location_id, c.reason)
        for c in StockDriftCorrection.objects.all()
    }
    assert rows == {
        headlamp.product_id: (40, 12, 12, 1, DriftReason.EDITED),
        jacket.product_id: (0, 3, 3, 1, DriftReason.EDITED),
    }
    messages = sorted(SyncLogEntry.objects.filter(event="stock_drift_corrected").values_list("message", flat=True))
    outlet = push_link.outlet.name
    assert messages == sorted(
        f"Stock of {pl.product.name} ({pl.product.sku}) at {outlet} (BigCommerce location 1) was {bc} in "
        f"BigCommerce but {pos} in the POS: changed in BigCommerce after the POS last sent its level. It is set "
        f"back to {pos}. Change stock in the POS, not in BigCommerce: the POS is the system of record."
        for pl, bc, pos in ((headlamp, 40, 12), (jacket, 0, 3))
    )
    assert not StockPushState.objects.filter(dirty_since__isnull=False).exists()


def test_a_store_without_drift_costs_one_read_per_page_and_nothing_else(sandbox, push_link, pushed, run_pushes):
    report = stock_drift_run(link=push_link)
    run_pushes()

    assert (report.checked, report.corrected, report.calls) == (3, 0, 1)
    assert sandbox.store.request_log.counts() == {"list_location_items": 1}
    assert not StockDriftCorrection.objects.exists()


@pytest.mark.sandbox(locations=1, orders=0)
def test_a_location_of_600_items_is_read_in_3_pages(sandbox, push_link, pushed):
    sandbox.store.add_products(600 - len(sandbox.store.variants))

    report = stock_drift_run(link=push_link)

    assert report.calls == 3
    assert sandbox.store.request_log.counts() == {"list_location_items": 3}


def test_a_level_whose_push_is_pending_is_left_to_the_push(sandbox, push_link, pushed, run_jobs, run_pushes):
    headlamp = pushed[0]
    _edit_in_control_panel(sandbox, headlamp.bc_variant_id, 40)
    # a sale lowers the POS level: its push waits for the debounce window
    receive(headlamp.product, push_link.outlet, -2, "sale:1")
    run_jobs(only=[events.STOCK_MOVED.name])

    report = stock_drift_run(link=push_link)
    run_pushes()

    assert (report.corrected, report.pending) == (0, 1)
    assert not StockDriftCorrection.objects.exists()
    assert sandbox.store.inventory[(1, headlamp.bc_variant_id)] == 10


def test_a_level_never_sent_and_a_negative_level_are_corrected_as_the_push_would_send_them(
    sandbox, push_link, link_item, run_pushes
):
    # given an item the POS has never pushed, with a negative level in the POS and 9 in BigCommerce
    factories.OutletLocationFactory(link=push_link, outlet=push_link.outlet, location_id=1)
    pl = link_item(HEADLAMP)
    factories.InventoryLevelFactory(product=pl.product, outlet=push_link.outlet, on_hand=-4)
    _edit_in_control_panel(sandbox, pl.bc_variant_id, 9)

    report = stock_drift_run(link=push_link)
    run_pushes()

    correction = StockDriftCorrection.objects.get()
    assert (correction.bc_level, correction.pos_level, correction.sent_level) == (9, -4, 0)
    assert correction.reason == DriftReason.NEVER_SENT
    assert report.corrected == 1
    assert sandbox.store.inventory[(1, pl.bc_variant_id)] == 0


def test_a_failed_read_is_in_the_sync_log_and_changes_nothing(sandbox, push_link, pushed):
    _edit_in_control_panel(sandbox, pushed[0].bc_variant_id, 40)
    sandbox.store.faults.add(kind="error", endpoint="list_location_items", status=500, times=10)

    report = stock_drift_run(link=push_link)

    assert report.error
    assert not StockDriftCorrection.objects.exists()
    entry = SyncLogEntry.objects.get(event="stock_drift_failed")
    assert entry.message.startswith("BigCommerce's stock levels could not be read back: ")
    assert entry.message.endswith("It is tried again at the next check.")


def test_the_read_back_is_periodic_work_that_corrects_drift_within_one_cycle(
    sandbox, push_link, pushed, run_jobs, run_pushes
):
    # given the link's periodic read-back, seeded as the workers seed it
    kernel.ensure_periodic()
    row = WorkItem.objects.get(kind=STOCK_DRIFT, key=str(push_link.pk))
    headlamp = pushed[0]
    _edit_in_control_panel(sandbox, headlamp.bc_variant_id, 1)

    # when it comes due and the workers run it
    WorkItem.objects.filter(pk=row.pk).update(due_at=timezone.now())
    run_jobs(only=[STOCK_DRIFT])
    run_pushes()

    # then the level is back, and the next read-back is one interval later
    assert sandbox.store.inventory[(1, headlamp.bc_variant_id)] == 12
    row.refresh_from_db()
    assert row.due_at >= timezone.now() + stock_drift_interval() - timedelta(minutes=1)
    assert StockDriftCorrection.objects.get().bc_level == 1


def test_differences_wait_while_orders_are_syncing_then_are_corrected(sandbox, push_link, pushed, run_pushes):
    # given a level that differs while an order of the link waits for its sync (BigCommerce takes stock at
    # checkout; the POS has not applied the order yet)
    headlamp = pushed[0]
    _edit_in_control_panel(sandbox, headlamp.bc_variant_id, 10)
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    with transaction.atomic():
        order_sync_request(link=push_link, bc_order_id=order_id)

    # when the read-back runs, then again once the orders are synced
    waiting = stock_drift_run(link=push_link)
    retry = WorkItem.objects.get(kind=STOCK_DRIFT, key=str(push_link.pk))
    kernel.withdraw(ORDER_SYNC, [order_sync_key(push_link.pk, order_id)])
    settled = stock_drift_run(link=push_link)
    run_pushes()

    # then nothing was set while orders were in flight, the read-back asked to run again a minute later, and
    # the next run corrected the level
    assert (waiting.deferred, waiting.corrected) == (1, 0)
    assert timezone.now() < retry.due_at <= timezone.now() + timedelta(minutes=1)
    assert (settled.deferred, settled.corrected) == (0, 1)
    assert sandbox.store.inventory[(1, headlamp.bc_variant_id)] == 12


@pytest.mark.sandbox(locations=2)
def test_each_mapped_location_is_compared_with_its_own_outlet(sandbox, push_link, link_item, run_pushes):
    # given the linked outlet on location 1 and a warehouse on location 2, both pushed
    warehouse = factories.OutletFactory(retailer=push_link.retailer, name="Warehouse")
    factories.OutletLocationFactory(link=push_link, outlet=push_link.outlet, location_id=1)
    factories.OutletLocationFactory(link=push_link, outlet=warehouse, location_id=2)
    pl = link_item(HEADLAMP)
    receive(pl.product, push_link.outlet, 12, "fixture:front")
    receive(pl.product, warehouse, 30, "fixture:back")
    run_pushes()
    sandbox.store.request_log.clear()
    # when the warehouse's level is edited in BigCommerce
    _edit_in_control_panel(sandbox, pl.bc_variant_id, 2, location=2)

    report = stock_drift_run(link=push_link)
    run_pushes()

    # then only location 2 is corrected, to the warehouse's level, after one read of each location
    assert (report.locations, report.corrected) == (2, 1)
    correction = StockDriftCorrection.objects.get()
    assert (correction.outlet_id, correction.location_id, correction.bc_level, correction.sent_level) == (
        warehouse.pk,
        2,
        2,
        30,
    )
    assert (sandbox.store.inventory[(1, pl.bc_variant_id)], sandbox.store.inventory[(2, pl.bc_variant_id)]) == (12, 30)
    assert sandbox.store.request_log.counts() == {"list_location_items": 2, "set_inventory_absolute": 1}
