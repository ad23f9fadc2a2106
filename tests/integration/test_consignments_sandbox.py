"""Against the sandbox store: an order shipping to two addresses is two fulfilments, one per consignment, each with
its own lines, address, state, shipments and write-back; a sale with one address behaves as before."""

from __future__ import annotations

import importlib
from dataclasses import asdict

import pytest
from django.apps import apps
from django.urls import reverse

from integration.choices import ErrorCode
from pos.choices import FulfillmentAction, FulfillmentState, FulfillmentType, WritebackState
from pos.models import Fulfillment, Sale
from pos.services.shipments import fulfillment_ship
from tests.work_helpers import sync_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def placed(sandbox, link):
    """Place an order in the sandbox and sync it: its id and its fulfilments, first consignment first."""

    def run(**order) -> tuple[int, list[Fulfillment]]:
        order_id = sandbox.store.place_order(**order).id
        sync_order(link, order_id)
        return order_id, _fulfillments(order_id)

    return run


def _fulfillments(order_id: int) -> list[Fulfillment]:
    return list(Fulfillment.objects.filter(sale__external_order_id=str(order_id)).order_by("pk"))


def _lines(fulfillment: Fulfillment) -> dict[str, int]:
    """Ordered units per BigCommerce order-product id."""
    return {line.sale_line.external_line_id: line.quantity for line in fulfillment.lines.select_related("sale_line")}


def _ship_all(fulfillment: Fulfillment, user) -> None:
    fulfillment.refresh_from_db()
    fulfillment_ship(
        fulfillment=fulfillment,
        quantities={line.pk: line.quantity - line.fulfilled for line in fulfillment.lines.all()},
        tracking_number="1Z-ADDR-1",
        carrier="ups",
        expected_version=fulfillment.version,
        acting_user=user,
    )


def test_an_order_to_two_addresses_is_two_fulfilments_with_their_own_lines_and_address(placed, bc_client):
    # given an order BigCommerce ships to two addresses, when it is imported
    order_id, fulfillments = placed(status_id=11, lines=4, two_addresses=True)

    # then each address has its fulfilment, with the lines BigCommerce puts on that address and that address
    order = bc_client.get_order(order_id)
    addresses = {a.id: a for a in bc_client.list_shipping_addresses(order_id)}
    assert len(addresses) == 2
    assert sorted(int(f.external_address_id) for f in fulfillments) == sorted(addresses)
    for fulfillment in fulfillments:
        address_id = int(fulfillment.external_address_id)
        wanted = {str(p.id): p.quantity for p in order.products if p.order_address_id == address_id}
        assert wanted and _lines(fulfillment) == wanted
        assert fulfillment.shipping_address == asdict(addresses[address_id].address)
        assert fulfillment.consignment == f"shipping:{address_id}"
        assert (fulfillment.type, fulfillment.state) == (FulfillmentType.DELIVERY, FulfillmentState.NEW)
    # and every goods line of the order is in exactly one of them
    assert sum(len(_lines(f)) for f in fulfillments) == len(order.products)


def test_shipping_one_address_leaves_the_other_open_and_bigcommerce_gets_one_shipment(
    placed, sandbox, link, staff_user, run_jobs
):
    order_id, (first, second) = placed(status_id=11, lines=4, two_addresses=True)

    # when staff ship everything of the first address from the POS, and the worker runs
    _ship_all(first, staff_user)
    run_jobs("default")

    # then BigCommerce holds exactly one shipment, to that address, of that address's lines
    [sent] = sandbox.store.shipments[order_id]
    assert sent.order_address_id == int(first.external_address_id)
    assert {str(line_id): quantity for line_id, _, quantity in sent.items} == _lines(first)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == FulfillmentState.COMPLETED
    assert second.state == FulfillmentState.NEW
    assert first.shipments.get().writeback_state == WritebackState.SUCCEEDED

    # when the order (now Partially Shipped in BigCommerce) syncs again
    sync_order(link, order_id)
    run_jobs("default")

    # then the other address is still all to do, nothing is counted as shipped in BigCommerce, nothing sent twice
    second.refresh_from_db()
    assert second.state == FulfillmentState.NEW
    assert all(line.fulfilled == 0 for line in second.lines.all())
    assert not Fulfillment.objects.filter(
        pk__in=[first.pk, second.pk], events__action=FulfillmentAction.SHIPPED_IN_BIGCOMMERCE
    ).exists()
    assert len(sandbox.store.shipments[order_id]) == 1
    assert len(_fulfillments(order_id)) == 2


def test_a_shipment_made_in_bigcommerce_for_one_address_completes_that_fulfilment_only(placed, sandbox, link):
    order_id, (first, second) = placed(status_id=11, lines=3, two_addresses=True)

    # when the merchant ships the second address's goods in BigCommerce's control panel
    sandbox.store.ship_in_control_panel(order_id, lines=[(int(key), q) for key, q in _lines(second).items()])
    sync_order(link, order_id)

    # then that fulfilment is completed with nothing to write back, and the first is untouched
    first.refresh_from_db()
    second.refresh_from_db()
    assert (second.state, second.writeback_state) == (FulfillmentState.COMPLETED, WritebackState.NONE)
    assert second.events.filter(action=FulfillmentAction.SHIPPED_IN_BIGCOMMERCE).exists()
    assert first.state == FulfillmentState.NEW
    assert all(line.fulfilled == 0 for line in first.lines.all())
    assert not first.events.filter(action=FulfillmentAction.SHIPPED_IN_BIGCOMMERCE).exists()


def test_voiding_the_order_cancels_every_fulfilment(placed, sandbox, link):
    order_id, fulfillments = placed(status_id=11, lines=3, two_addresses=True)

    sandbox.store.cancel_order(order_id)
    sync_order(link, order_id)

    assert [f.state for f in _fulfillments(order_id)] == [FulfillmentState.CANCELLED] * 2


def test_the_sale_page_lists_each_fulfilment_and_the_queue_has_a_row_for_each(placed, staff_client, bc_client):
    order_id, fulfillments = placed(status_id=11, lines=4, two_addresses=True)
    sale = Sale.objects.get(external_order_id=str(order_id))

    page = staff_client.get(reverse("dashboard:sale_detail", args=[sale.pk])).content.decode()

    assert page.count('data-testid="sale-fulfilment"') == 2
    for fulfillment in fulfillments:
        assert reverse("dashboard:fulfillment_detail", args=[fulfillment.pk]) in page
        assert fulfillment.shipping_address["street_1"] in page
    # and the Fulfillments list has a row for each, saying where it ships
    queue = staff_client.get(reverse("dashboard:fulfillments")).content.decode()
    for fulfillment in fulfillments:
        assert reverse("dashboard:fulfillment_detail", args=[fulfillment.pk]) in queue
        assert f"to {fulfillment.shipping_address['city']}" in queue


def test_a_sale_with_one_address_still_has_one_fulfilment_and_keeps_it_across_syncs(placed, sandbox, link):
    order_id, [fulfillment] = placed(status_id=11, lines=2, two_addresses=False)
    assert fulfillment.consignment == f"shipping:{fulfillment.external_address_id}"

    # given a fulfilment from before consignments were told apart (blank, as a migrated pickup's)
    Fulfillment.objects.filter(pk=fulfillment.pk).update(consignment="")

    # when the order changes (Awaiting Shipment) and syncs again, its first consignment takes the fulfilment over
    sandbox.store.set_status(order_id, 9)
    sync_order(link, order_id)
    [again] = _fulfillments(order_id)
    assert again.pk == fulfillment.pk
    assert again.consignment == f"shipping:{fulfillment.external_address_id}"


def test_the_migration_names_each_existing_delivery_by_its_address(placed):
    _, [delivery] = placed(status_id=11, lines=1, two_addresses=False)
    _, [pickup] = placed(status_id=8, lines=1, pickup=True)
    Fulfillment.objects.filter(pk__in=[delivery.pk, pickup.pk]).update(consignment="")
    migration = importlib.import_module("pos.migrations.0014_fulfillment_per_consignment")

    migration.name_consignments(apps, None)

    delivery.refresh_from_db()
    pickup.refresh_from_db()
    assert delivery.consignment == f"shipping:{delivery.external_address_id}"
    assert pickup.consignment == ""


def test_an_edit_after_one_address_shipped_is_recorded_there_and_followed_by_the_other(
    placed, sandbox, link, staff_user, run_jobs
):
    order_id, (first, second) = placed(status_id=11, lines=4, two_addresses=True)
    _ship_all(first, staff_user)
    run_jobs("default")
    shipped_key, shipped_quantity = next(iter(_lines(first).items()))
    open_key, open_quantity = next(iter(_lines(second).items()))

    # when the merchant edits a line already shipped to the first address and one of the second address
    sandbox.store.edit_order(order_id, line_id=int(shipped_key), quantity=shipped_quantity + 1)
    sandbox.store.edit_order(order_id, line_id=int(open_key), quantity=open_quantity + 1)
    sync = sync_order(link, order_id)

    # then the shipped fulfilment keeps what was handed over and its history says what changed (needs attention)
    first.refresh_from_db()
    assert first.state == FulfillmentState.COMPLETED
    assert _lines(first)[shipped_key] == shipped_quantity
    [late] = first.events.filter(action=FulfillmentAction.ORDER_EDITED)
    assert late.data["shipped_changed"] is True and f"{shipped_quantity} → {shipped_quantity + 1}" in late.message
    assert sync.last_error_code == ErrorCode.EDITED_AFTER_FULFILMENT.code
    # and the open one follows its own line, with its own history
    second.refresh_from_db()
    assert _lines(second)[open_key] == open_quantity + 1
    [edit] = second.events.filter(action=FulfillmentAction.ORDER_EDITED)
    assert f"{open_quantity} → {open_quantity + 1}" in edit.message
