"""The write-back of shipments staff made from the POS, and of a pickup ready for collection, when BigCommerce
fails: what the shipment (or the pickup's history) says, and that staff can send it again. The fake BigCommerce is
handed out by `BigCommerceClient.for_link`; the sandbox runs are in test_shipments_sandbox.py."""

from __future__ import annotations

import pytest

from integration.status_table import AWAITING_PICKUP
from pos.choices import FulfillmentAction, FulfillmentType, WritebackState
from pos.events import PICKUP_READY, SHIPMENT_RECORDED
from pos.models import Fulfillment, FulfillmentShipment
from pos.services.fulfillment import LineQuantities, fulfillment_record_quantities
from pos.services.shipments import fulfillment_ship, fulfillment_shipment_retry
from tests.work_helpers import make_due, work_rows
from work.registry import get as work_kind

pytestmark = pytest.mark.django_db

Action = FulfillmentAction


def _ship_one_tent(make_fulfillment, user) -> FulfillmentShipment:
    fulfillment = make_fulfillment(goods=(("Tent", 2), ("Stove", 1)))
    tent = fulfillment.lines.get(sale_line__name="Tent")
    return fulfillment_ship(
        fulfillment=fulfillment,
        quantities={tent.pk: 1},
        tracking_number="1Z-9",
        carrier="fedex",
        expected_version=fulfillment.version,
        acting_user=user,
    )


def test_a_shipment_is_sent_with_its_items_tracking_and_reference(
    make_fulfillment, staff_user, link, fake_bigcommerce, run_jobs
):
    shipment = _ship_one_tent(make_fulfillment, staff_user)

    run_jobs()

    [sent] = fake_bigcommerce.shipments
    assert sent["items"] == [{"order_product_id": 6500, "quantity": 1}]
    assert (sent["tracking_number"], sent["shipping_provider"], sent["tracking_carrier"]) == ("1Z-9", "fedex", "")
    assert sent["comments"] == f"Shipped from the POS ({shipment.reference})."
    shipment.refresh_from_db()
    assert (shipment.writeback_state, shipment.external_ids) == (WritebackState.SUCCEEDED, [1])
    assert work_rows(SHIPMENT_RECORDED.name) == []


def test_a_transient_failure_retries_then_sends(
    make_fulfillment, staff_user, link, fake_bigcommerce, bigcommerce_api, run_jobs
):
    shipment = _ship_one_tent(make_fulfillment, staff_user)
    fake_bigcommerce.errors = [bigcommerce_api.make("ApiServerError", "503 Service Unavailable")]

    run_jobs()
    shipment.refresh_from_db()
    assert shipment.writeback_state == WritebackState.PENDING
    assert shipment.writeback_error == (
        "BigCommerce answered with a server error (503 Service Unavailable). Trying again automatically."
    )
    event = shipment.fulfillment.events.filter(action=Action.WRITEBACK_RETRYING).get()
    assert event.message.startswith("Shipment 1: BigCommerce answered with a server error")

    make_due(SHIPMENT_RECORDED.name)
    run_jobs()
    shipment.refresh_from_db()
    assert (shipment.writeback_state, shipment.writeback_error) == (WritebackState.SUCCEEDED, "")
    assert len(fake_bigcommerce.shipments) == 1


def test_a_refused_shipment_fails_at_once_and_staff_send_it_again(
    make_fulfillment, staff_user, link, fake_bigcommerce, bigcommerce_api, run_jobs
):
    shipment = _ship_one_tent(make_fulfillment, staff_user)
    fake_bigcommerce.errors = [bigcommerce_api.make("ApiError", "tracking_carrier is invalid")]

    run_jobs()

    shipment.refresh_from_db()
    assert shipment.writeback_state == WritebackState.FAILED
    assert "BigCommerce refused the shipment (tracking_carrier is invalid)" in shipment.writeback_error
    assert work_rows(SHIPMENT_RECORDED.name) == [(str(shipment.pk), "failed")]
    assert fake_bigcommerce.shipments == []

    # staff retry from the page: it is sent, once
    fulfillment = Fulfillment.objects.get(pk=shipment.fulfillment_id)
    fulfillment_shipment_retry(
        fulfillment=fulfillment, shipment_id=shipment.pk, expected_version=fulfillment.version, acting_user=staff_user
    )
    run_jobs()
    shipment.refresh_from_db()
    assert shipment.writeback_state == WritebackState.SUCCEEDED
    assert len(fake_bigcommerce.shipments) == 1


def test_a_pickup_ready_sets_awaiting_pickup_and_a_failure_that_gives_up_is_noted(
    make_fulfillment, staff_user, link, fake_bigcommerce, bigcommerce_api, run_jobs
):
    attempts = work_kind(PICKUP_READY.name).retry.max_attempts
    fulfillment = make_fulfillment(type=FulfillmentType.PICKUP, goods=(("Tent", 1),))
    fake_bigcommerce.errors = [bigcommerce_api.make("ApiServerError", "502 Bad Gateway") for _ in range(attempts)]
    line = fulfillment.lines.get()
    fulfillment_record_quantities(
        fulfillment=fulfillment,
        quantities={line.pk: LineQuantities(1, 1, 0)},
        expected_version=fulfillment.version,
        acting_user=staff_user,
    )

    run_jobs()
    for _ in range(attempts - 1):
        make_due(PICKUP_READY.name)
        run_jobs()

    assert fake_bigcommerce.statuses == []
    event = fulfillment.events.filter(action=Action.WRITEBACK_FAILED).get()
    assert event.message.startswith("BigCommerce was not set to Awaiting Pickup: BigCommerce answered with a server")

    # packed again later (after a change), it is sent
    fulfillment = Fulfillment.objects.get(pk=fulfillment.pk)
    fulfillment = fulfillment_record_quantities(
        fulfillment=fulfillment,
        quantities={line.pk: LineQuantities(1, 0, 0)},
        expected_version=fulfillment.version,
        acting_user=staff_user,
    )
    fulfillment_record_quantities(
        fulfillment=fulfillment,
        quantities={line.pk: LineQuantities(1, 1, 0)},
        expected_version=fulfillment.version,
        acting_user=staff_user,
    )
    run_jobs()
    assert fake_bigcommerce.statuses == [(250, AWAITING_PICKUP.id)]
