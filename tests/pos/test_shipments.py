"""Shipping part of a delivery from the POS (pos.services.shipments): quantities, states, history, and the durable
work row each BigCommerce shipment is sent from."""

from __future__ import annotations

import pytest
from django.db import transaction

from pos import events
from pos.choices import Channel, FulfillmentAction, FulfillmentState, FulfillmentType, WritebackState
from pos.models import Fulfillment, FulfillmentLine, FulfillmentShipment, Sale
from pos.services.fulfillment import (
    FulfillmentConflict,
    FulfillmentError,
    LineQuantities,
    fulfillment_record_quantities,
)
from pos.services.shipments import fulfillment_ship, fulfillment_shipment_retry
from work.models import WorkItem

pytestmark = pytest.mark.django_db

Action, State = FulfillmentAction, FulfillmentState


def _lines(fulfillment: Fulfillment) -> dict[str, FulfillmentLine]:
    return {line.sale_line.name: line for line in fulfillment.lines.select_related("sale_line")}


def _ship(fulfillment: Fulfillment, user, tracking: str = "", carrier: str = "", **per_line: int):
    fulfillment.refresh_from_db()
    lines = _lines(fulfillment)
    return fulfillment_ship(
        fulfillment=fulfillment,
        quantities={lines[name].pk: quantity for name, quantity in per_line.items()},
        tracking_number=tracking,
        carrier=carrier,
        expected_version=fulfillment.version,
        acting_user=user,
    )


def _work(kind) -> list[str]:
    return list(WorkItem.objects.filter(kind=kind.name).values_list("key", flat=True))


def test_a_partial_shipment_counts_its_units_shipped_and_leaves_the_rest_open(make_fulfillment, staff_user):
    # given a delivery of 2 tents and 1 stove, nothing done yet
    fulfillment = make_fulfillment()

    # when staff ship one tent with a tracking number
    shipment = _ship(fulfillment, staff_user, tracking="1Z-1", carrier="FedEx", Tent=1)

    # then the tent is shipped (so picked and packed), the rest is left, and the fulfilment is picking
    lines = _lines(fulfillment)
    assert (lines["Tent"].picked, lines["Tent"].packed, lines["Tent"].fulfilled) == (1, 1, 1)
    assert (lines["Stove"].picked, lines["Stove"].packed, lines["Stove"].fulfilled) == (0, 0, 0)
    fulfillment.refresh_from_db()
    assert fulfillment.state == State.PICKING
    assert (shipment.number, shipment.tracking_number, shipment.carrier) == (1, "1Z-1", "fedex")
    assert [(item.line.sale_line.name, item.quantity) for item in shipment.lines.all()] == [("Tent", 1)]
    # and the history says what went and what is left
    event = fulfillment.events.get(action=Action.SHIP)
    assert event.actor == staff_user
    assert event.message == (
        "Shipment 1: 1 × Tent, tracking 1Z-1 (fedex). 2 items left to ship. Sending it to BigCommerce."
    )


def test_each_shipment_is_recorded_as_work_in_the_transaction_of_the_staff_action(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()

    # a shipment refused (or rolled back) leaves no work behind
    with pytest.raises(FulfillmentError), transaction.atomic():
        _ship(fulfillment, staff_user, Tent=3)
    assert _work(events.SHIPMENT_RECORDED) == []

    # one recorded is pending for BigCommerce, keyed by itself
    shipment = _ship(fulfillment, staff_user, Tent=1)
    assert shipment.writeback_state == WritebackState.PENDING
    assert _work(events.SHIPMENT_RECORDED) == [str(shipment.pk)]


def test_shipping_the_rest_completes_the_fulfilment_without_a_second_write_back(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()
    _ship(fulfillment, staff_user, Tent=1)

    second = _ship(fulfillment, staff_user, Tent=1, Stove=1)

    fulfillment.refresh_from_db()
    assert (second.number, fulfillment.state) == (2, State.COMPLETED)
    assert fulfillment.completed_at is not None
    # each shipment is its own write-back; the fulfilment's own (a completion's) is not needed
    assert fulfillment.writeback_state == WritebackState.NONE
    assert _work(events.FULFILLMENT_COMPLETED) == []
    assert sorted(_work(events.SHIPMENT_RECORDED)) == sorted(str(s.pk) for s in fulfillment.shipments.all())
    assert (
        fulfillment.events.filter(action=Action.SHIP)
        .last()
        .message.endswith("Everything is shipped. Sending it to BigCommerce.")
    )


def test_packed_goods_left_over_leave_the_fulfilment_packed(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()
    lines = _lines(fulfillment)
    fulfillment = fulfillment_record_quantities(
        fulfillment=fulfillment,
        quantities={line.pk: LineQuantities(line.quantity, line.quantity, 0) for line in lines.values()},
        expected_version=fulfillment.version,
        acting_user=staff_user,
    )

    _ship(fulfillment, staff_user, Stove=1)

    fulfillment.refresh_from_db()
    assert fulfillment.state == State.PACKED


@pytest.mark.parametrize(
    ("per_line", "message"),
    [
        ({"Tent": 3}, "Tent: only 2 of 2 are left to ship."),
        ({"Tent": -1}, "Tent: a quantity to ship cannot be negative."),
        ({"Tent": 0, "Stove": 0}, "Enter how many of each item go in this shipment."),
    ],
)
def test_a_shipment_of_more_than_is_left_or_of_nothing_is_refused_and_changes_nothing(
    make_fulfillment, staff_user, per_line, message
):
    fulfillment = make_fulfillment()

    with pytest.raises(FulfillmentError) as refused, transaction.atomic():
        _ship(fulfillment, staff_user, **per_line)

    assert refused.value.message == message
    assert not FulfillmentShipment.objects.exists()
    assert all(line.fulfilled == 0 for line in _lines(fulfillment).values())


def test_units_already_shipped_cannot_be_shipped_again(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()
    _ship(fulfillment, staff_user, Tent=2)

    with pytest.raises(FulfillmentError, match="Tent: only 0 of 2 are left to ship."):
        _ship(fulfillment, staff_user, Tent=1)


def test_a_pickup_is_not_shipped(make_fulfillment, staff_user):
    fulfillment = make_fulfillment(type=FulfillmentType.PICKUP)

    with pytest.raises(FulfillmentError, match="A pickup is collected at the outlet, not shipped"):
        _ship(fulfillment, staff_user, Tent=1)


def test_goods_are_not_shipped_while_money_is_owing_unless_the_retailer_allows_it(make_fulfillment, staff_user):
    fulfillment = make_fulfillment(paid=False)

    with pytest.raises(FulfillmentError, match="owing"), transaction.atomic():
        _ship(fulfillment, staff_user, Tent=1)

    fulfillment.retailer.allow_unpaid_fulfillment = True
    fulfillment.retailer.save(update_fields=["allow_unpaid_fulfillment"])
    assert _ship(fulfillment, staff_user, Tent=1).number == 1


def test_a_shipment_made_against_a_stale_page_is_refused(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()
    stale = fulfillment.version
    _ship(fulfillment, staff_user, Tent=1)

    with pytest.raises(FulfillmentConflict):
        fulfillment_ship(
            fulfillment=fulfillment,
            quantities={_lines(fulfillment)["Tent"].pk: 1},
            expected_version=stale,
            acting_user=staff_user,
        )
    assert fulfillment.shipments.count() == 1


def test_the_tracking_saved_on_the_fulfilment_is_the_shipments_by_default(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()
    Fulfillment.objects.filter(pk=fulfillment.pk).update(tracking_number="SAVED-1", carrier="ups")

    shipment = _ship(fulfillment, staff_user, Tent=1)

    assert (shipment.tracking_number, shipment.carrier) == ("SAVED-1", "ups")


def test_an_in_store_sales_shipment_sends_nothing_to_bigcommerce(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()
    Sale.objects.filter(pk=fulfillment.sale_id).update(channel=Channel.IN_STORE, external_order_id="")

    shipment = _ship(fulfillment, staff_user, Tent=1)

    assert shipment.writeback_state == WritebackState.NONE
    assert _work(events.SHIPMENT_RECORDED) == []


def test_only_a_failed_shipment_is_retried_and_the_retry_is_recorded_as_work_again(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()
    shipment = _ship(fulfillment, staff_user, Tent=1)
    WorkItem.objects.all().delete()
    fulfillment.refresh_from_db()

    with pytest.raises(FulfillmentError, match="nothing to retry"), transaction.atomic():
        fulfillment_shipment_retry(
            fulfillment=fulfillment,
            shipment_id=shipment.pk,
            expected_version=fulfillment.version,
            acting_user=staff_user,
        )

    FulfillmentShipment.objects.filter(pk=shipment.pk).update(
        writeback_state=WritebackState.FAILED, writeback_error="x"
    )
    fulfillment.refresh_from_db()
    fulfillment_shipment_retry(
        fulfillment=fulfillment, shipment_id=shipment.pk, expected_version=fulfillment.version, acting_user=staff_user
    )
    shipment.refresh_from_db()
    assert (shipment.writeback_state, shipment.writeback_error) == (WritebackState.PENDING, "")
    assert _work(events.SHIPMENT_RECORDED) == [str(shipment.pk)]
    assert fulfillment.events.filter(action=Action.RETRY_SHIPMENT).get().data["previous_error"] == "x"


def test_a_pickup_packed_in_full_is_recorded_as_ready_once(make_fulfillment, staff_user):
    fulfillment = make_fulfillment(type=FulfillmentType.PICKUP)
    lines = list(fulfillment.lines.all())

    def record(packed: bool) -> Fulfillment:
        fresh = Fulfillment.objects.get(pk=fulfillment.pk)
        return fulfillment_record_quantities(
            fulfillment=fresh,
            quantities={
                line.pk: LineQuantities(line.quantity, line.quantity if packed else line.quantity - 1, 0)
                for line in lines
            },
            expected_version=fresh.version,
            acting_user=staff_user,
        )

    assert record(packed=False).state == State.PICKING
    assert _work(events.PICKUP_READY) == []
    assert record(packed=True).state_label == "Ready for pickup"
    assert _work(events.PICKUP_READY) == [str(fulfillment.pk)]
