"""End to end against the sandbox store: staff ship part of an imported order from the POS, BigCommerce gets each
shipment once (also after a lost answer), shipments made in BigCommerce are never sent back, and a pickup ready in
the POS is Awaiting Pickup in BigCommerce."""

from __future__ import annotations

import pytest

from integration.exceptions import ApiUnavailable
from integration.services.fulfillment_writeback import WritebackOutcome, shipment_writeback_run
from integration.status_table import AWAITING_PICKUP, COMPLETED, STATUS_TABLE
from pos import events
from pos.choices import FulfillmentAction, FulfillmentState, WritebackState
from pos.models import Fulfillment, FulfillmentShipment, Sale
from pos.services.fulfillment import LineQuantities, fulfillment_complete, fulfillment_record_quantities
from pos.services.shipments import fulfillment_ship
from tests.fixtures_fulfillment import complete
from tests.work_helpers import sync_order

pytestmark = pytest.mark.django_db

SHIPPED, PARTIALLY_SHIPPED = STATUS_TABLE[2], STATUS_TABLE[3]


@pytest.fixture
def imported(sandbox, link):
    """Place an order in the sandbox and sync it: its fulfilment."""

    def run(**order) -> Fulfillment:
        order_id = sandbox.store.place_order(**order).id
        sync_order(link, order_id)
        return Sale.objects.get(external_order_id=str(order_id)).fulfillment

    return run


def _ship(fulfillment: Fulfillment, user, quantities: dict[int, int], tracking: str = "") -> FulfillmentShipment:
    fulfillment.refresh_from_db()
    return fulfillment_ship(
        fulfillment=fulfillment,
        quantities=quantities,
        tracking_number=tracking,
        carrier="ups" if tracking else "",
        expected_version=fulfillment.version,
        acting_user=user,
    )


def _goods(fulfillment: Fulfillment):
    return list(fulfillment.lines.select_related("sale_line").order_by("sale_line__position"))


def _in_sandbox(sandbox, order_id: int) -> dict[int, int]:
    """Units shipped per order-product id, over every shipment the store holds for the order."""
    shipped: dict[int, int] = {}
    for shipment in sandbox.store.shipments.get(order_id, []):
        for line_id, _, quantity in shipment.items:
            shipped[line_id] = shipped.get(line_id, 0) + quantity
    return shipped


def _order_id(fulfillment: Fulfillment) -> int:
    return int(fulfillment.sale.external_order_id)


def test_a_partial_shipment_reaches_bigcommerce_once_and_the_rest_stays_open(
    imported, sandbox, link, staff_user, run_jobs, bc_client
):
    # given an imported order of several lines
    fulfillment = imported(status_id=11, lines=3)
    first, *others = _goods(fulfillment)
    order_id = _order_id(fulfillment)

    # when staff ship one unit of the first line with a tracking number, and the worker runs
    shipment = _ship(fulfillment, staff_user, {first.pk: 1}, tracking="1Z-PART-1")
    before = len(sandbox.store.request_log.records(order_id=order_id))
    run_jobs("default")

    # then it cost three calls: look for an earlier attempt's shipment, read the lines, create the shipment
    calls = [r.endpoint for r in sandbox.store.request_log.records(order_id=order_id)[before:]]
    assert calls == ["list_shipments", "list_order_products", "create_shipment"]

    # then BigCommerce holds exactly that shipment, with the tracking and the POS's reference
    [sent] = sandbox.store.shipments[order_id]
    assert [(line_id, quantity) for line_id, _, quantity in sent.items] == [(int(first.sale_line.external_line_id), 1)]
    assert (sent.tracking_number, sent.shipping_provider) == ("1Z-PART-1", "ups")
    shipment.refresh_from_db()
    assert shipment.reference in sent.comments
    assert (shipment.writeback_state, shipment.external_ids) == (WritebackState.SUCCEEDED, [sent.id])
    assert bc_client.get_order(order_id).status_id == PARTIALLY_SHIPPED.id
    # and the POS keeps the rest open
    fulfillment.refresh_from_db()
    assert fulfillment.state != FulfillmentState.COMPLETED
    first.refresh_from_db()
    assert first.fulfilled == 1

    # when BigCommerce's webhook makes the order sync again (it is now Partially Shipped)
    sync_order(link, order_id)

    # then the shipment is not counted twice (nor recorded as one made in BigCommerce), and nothing is sent back
    first.refresh_from_db()
    assert first.fulfilled == 1
    assert not fulfillment.events.filter(action=FulfillmentAction.SHIPPED_IN_BIGCOMMERCE).exists()
    run_jobs("default")
    assert len(sandbox.store.shipments[order_id]) == 1

    # when staff ship everything left
    _ship(fulfillment, staff_user, {line.pk: line.quantity - line.fulfilled for line in _goods(fulfillment)})
    run_jobs("default")

    # then BigCommerce has every unit exactly once and the order is Shipped; the fulfilment is completed
    assert _in_sandbox(sandbox, order_id) == {li.id: li.quantity for li in sandbox.store.order(order_id).lines}
    assert len(sandbox.store.shipments[order_id]) == 2
    assert bc_client.get_order(order_id).status_id == SHIPPED.id
    fulfillment.refresh_from_db()
    assert fulfillment.state == FulfillmentState.COMPLETED
    assert all(s.writeback_state == WritebackState.SUCCEEDED for s in fulfillment.shipments.all())


class _AnswerLost:
    """The real client, whose shipment reaches BigCommerce but whose answer never comes back (a read timeout)."""

    def __init__(self, client) -> None:
        self.client = client

    def __getattr__(self, name):
        return getattr(self.client, name)

    def create_shipment(self, *args, **kwargs):
        self.client.create_shipment(*args, **kwargs)
        raise ApiUnavailable("read timed out")


def test_a_shipment_whose_answer_was_lost_is_not_sent_again(imported, sandbox, staff_user, run_jobs, bc_client):
    # given a shipment that reached BigCommerce while our record of it was lost with the answer
    fulfillment = imported(status_id=11, lines=2)
    first = _goods(fulfillment)[0]
    shipment = _ship(fulfillment, staff_user, {first.pk: 1}, tracking="1Z-LOST")
    with pytest.raises(ApiUnavailable):
        shipment_writeback_run(shipment=shipment, client=_AnswerLost(bc_client))
    shipment.refresh_from_db()
    assert shipment.writeback_state == WritebackState.PENDING
    order_id = _order_id(fulfillment)
    assert len(sandbox.store.shipments[order_id]) == 1

    # when the write-back runs again (its retry)
    outcome = shipment_writeback_run(shipment=shipment, client=bc_client)

    # then it finds its shipment in BigCommerce and sends nothing twice
    assert outcome == WritebackOutcome.SUCCEEDED
    [sent] = sandbox.store.shipments[order_id]
    shipment.refresh_from_db()
    assert (shipment.writeback_state, shipment.external_ids) == (WritebackState.SUCCEEDED, [sent.id])
    assert (
        "nothing was sent twice"
        in fulfillment.events.filter(action=FulfillmentAction.WRITEBACK_SUCCEEDED).get().message
    )


def test_goods_shipped_in_bigcommerce_are_never_shipped_again_from_the_pos(
    imported, sandbox, link, staff_user, run_jobs
):
    # given an order whose first line was partly shipped in BigCommerce's control panel, followed by the sync
    fulfillment = imported(status_id=11, lines=2)
    order_id = _order_id(fulfillment)
    first, second = _goods(fulfillment)[:2]
    sandbox.store.ship_in_control_panel(order_id, lines=[(int(first.sale_line.external_line_id), 1)])
    sync_order(link, order_id)
    first.refresh_from_db()
    assert first.fulfilled == 1

    # when staff try to ship the whole line again, they are told what is left
    with pytest.raises(Exception, match="left to ship"):
        _ship(fulfillment, staff_user, {first.pk: first.quantity})

    # and when they ship everything left
    _ship(fulfillment, staff_user, {line.pk: line.quantity - line.fulfilled for line in _goods(fulfillment)})
    run_jobs("default")

    # then BigCommerce has each unit once: the control panel's shipment and the POS's rest
    assert _in_sandbox(sandbox, order_id) == {li.id: li.quantity for li in sandbox.store.order(order_id).lines}
    shipment = FulfillmentShipment.objects.get(fulfillment=fulfillment)
    assert shipment.writeback_state == WritebackState.SUCCEEDED
    second.refresh_from_db()
    assert second.fulfilled == second.quantity


def test_a_shipment_made_in_bigcommerce_before_the_sync_is_not_sent_again(imported, sandbox, staff_user, run_jobs):
    # given staff ship a line the merchant has just shipped in the control panel (the sync has not followed yet)
    fulfillment = imported(status_id=11, lines=1)
    order_id = _order_id(fulfillment)
    [line] = _goods(fulfillment)
    sandbox.store.ship_in_control_panel(order_id)
    shipment = _ship(fulfillment, staff_user, {line.pk: line.quantity})

    # when the write-back runs
    run_jobs("default")

    # then BigCommerce keeps its own shipment only, and the POS says why nothing was sent
    assert len(sandbox.store.shipments[order_id]) == 1
    shipment.refresh_from_db()
    assert shipment.writeback_state == WritebackState.SUCCEEDED
    assert shipment.external_ids == []
    message = fulfillment.events.filter(action=FulfillmentAction.WRITEBACK_SUCCEEDED).get().message
    assert "already" in message and "not sent again" in message


def test_completing_while_a_shipment_is_on_its_way_sends_only_the_rest(imported, sandbox, staff_user, run_jobs):
    # given a shipment of part of the order not sent yet, then everything else fulfilled and the fulfilment completed
    fulfillment = imported(status_id=11, lines=2)
    order_id = _order_id(fulfillment)
    first = _goods(fulfillment)[0]
    _ship(fulfillment, staff_user, {first.pk: 1}, tracking="1Z-FIRST")
    fulfillment.refresh_from_db()
    fulfillment = fulfillment_record_quantities(
        fulfillment=fulfillment,
        quantities={line.pk: LineQuantities(*[line.quantity] * 3) for line in _goods(fulfillment)},
        expected_version=fulfillment.version,
        acting_user=staff_user,
    )
    fulfillment_complete(fulfillment=fulfillment, expected_version=fulfillment.version, acting_user=staff_user)

    # when both write-backs run, the completion's first
    run_jobs("default", only={events.FULFILLMENT_COMPLETED.name})
    run_jobs("default")

    # then BigCommerce has every unit exactly once, the staff's shipment with its own tracking, and both succeeded
    assert _in_sandbox(sandbox, order_id) == {li.id: li.quantity for li in sandbox.store.order(order_id).lines}
    [theirs] = [s for s in sandbox.store.shipments[order_id] if s.tracking_number == "1Z-FIRST"]
    assert [(line_id, quantity) for line_id, _, quantity in theirs.items] == [
        (int(first.sale_line.external_line_id), 1)
    ]
    fulfillment.refresh_from_db()
    assert fulfillment.writeback_state == WritebackState.SUCCEEDED
    assert FulfillmentShipment.objects.get(fulfillment=fulfillment).writeback_state == WritebackState.SUCCEEDED


def test_a_pickup_ready_in_the_pos_is_awaiting_pickup_in_bigcommerce_then_completed(
    imported, staff_user, run_jobs, bc_client
):
    # given an imported pickup order awaiting fulfilment
    fulfillment = imported(status_id=11, lines=2, pickup=True)
    order_id = _order_id(fulfillment)

    # when staff pack everything (the page says "Ready for pickup") and the worker runs
    fulfillment = fulfillment_record_quantities(
        fulfillment=fulfillment,
        quantities={line.pk: LineQuantities(line.quantity, line.quantity, 0) for line in _goods(fulfillment)},
        expected_version=fulfillment.version,
        acting_user=staff_user,
    )
    assert fulfillment.state_label == "Ready for pickup"
    run_jobs("default")

    # then BigCommerce's order is Awaiting Pickup, and the history says so
    assert bc_client.get_order(order_id).status_id == AWAITING_PICKUP.id
    assert fulfillment.events.filter(action=FulfillmentAction.READY_SENT).count() == 1

    # and when the customer collects it, BigCommerce's order is Completed
    complete(fulfillment, staff_user)
    run_jobs("default")
    assert bc_client.get_order(order_id).status_id == COMPLETED.id


def test_a_pickup_collected_before_the_ready_write_back_ran_stays_completed(imported, staff_user, run_jobs, bc_client):
    # given a pickup packed (ready) and collected before any worker ran
    fulfillment = imported(status_id=11, lines=1, pickup=True)
    complete(fulfillment, staff_user)

    # when the worker runs both write-backs
    run_jobs("default")

    # then BigCommerce ends Completed, never set back to Awaiting Pickup
    assert bc_client.get_order(_order_id(fulfillment)).status_id == COMPLETED.id
    assert not fulfillment.events.filter(action=FulfillmentAction.READY_SENT).exists()


@pytest.mark.parametrize("made_by", ["a shipment", "a completion"])
def test_goods_removed_from_the_order_in_bigcommerce_fail_the_write_back_at_once_with_what_to_do(
    imported, sandbox, staff_user, run_jobs, made_by
):
    # regression: the "no longer on the order" refusal escaped the write-back as an error on our side, retried
    # five times and then reported as "An error on our side"
    fulfillment = imported(status_id=11, lines=2)
    order_id = _order_id(fulfillment)
    gone = _goods(fulfillment)[1]
    if made_by == "a shipment":
        row = _ship(fulfillment, staff_user, {gone.pk: 1})
    else:
        row = complete(fulfillment, staff_user)
    sandbox.store.edit_order(order_id, line_id=int(gone.sale_line.external_line_id), quantity=0)

    run_jobs("default")

    row.refresh_from_db()
    assert row.writeback_state == WritebackState.FAILED
    assert f"is no longer on BigCommerce order {order_id} (the order was edited)" in row.writeback_error
    assert sandbox.store.shipments.get(order_id, []) == []
