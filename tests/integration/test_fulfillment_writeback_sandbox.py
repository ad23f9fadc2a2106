"""End to end against the sandbox store: an imported order is fulfilled in the POS and BigCommerce follows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integration.models import StoreLink
from pos.choices import FulfillmentAction, FulfillmentType, WritebackState
from pos.models import Fulfillment, Sale
from tests.fixtures_fulfillment import complete
from tests.work_helpers import sync_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(sandbox, sandbox_link, bc_client):
    StoreLink.objects.filter(pk=sandbox_link.pk).update(linked_at=timezone.now() - timedelta(hours=1))

    def run(**order):
        order_id = sandbox.store.place_order(**order).id
        sandbox_link.refresh_from_db()
        sync_order(sandbox_link, order_id)
        return Sale.objects.get(external_order_id=str(order_id)).fulfillment

    return run


def test_a_delivery_on_two_addresses_is_two_fulfilments_each_one_shipment_and_the_order_is_shipped(
    imported, sandbox, staff_user, run_jobs, django_capture_on_commit_callbacks, bc_client
):
    first = imported(status_id=11, lines=4, two_addresses=True)
    order_id = int(first.sale.external_order_id)
    second = first.sale.fulfillments.exclude(pk=first.pk).get()

    with django_capture_on_commit_callbacks(execute=True):
        complete(first, staff_user)
    run_jobs("default")

    # the first address's fulfilment is one shipment to its address; the order is only partly shipped
    first.refresh_from_db()
    assert first.writeback_state == WritebackState.SUCCEEDED
    [shipment] = sandbox.store.shipments[order_id]
    assert shipment.order_address_id == int(first.external_address_id)
    assert sum(q for _, _, q in shipment.items) == sum(line.quantity for line in first.lines.all())
    assert bc_client.get_order(order_id).status_id == 3

    with django_capture_on_commit_callbacks(execute=True):
        complete(second, staff_user)
    run_jobs("default")

    shipments = sandbox.store.shipments[order_id]
    assert [s.order_address_id for s in shipments] == [int(first.external_address_id), int(second.external_address_id)]
    assert bc_client.get_order(order_id).status_id == 2


def test_a_completed_pickup_marks_the_order_completed(
    imported, sandbox, staff_user, run_jobs, django_capture_on_commit_callbacks, bc_client
):
    fulfillment = imported(status_id=8, lines=1, pickup=True)

    with django_capture_on_commit_callbacks(execute=True):
        complete(fulfillment, staff_user)
    run_jobs("default")

    fulfillment.refresh_from_db()
    assert fulfillment.writeback_state == WritebackState.SUCCEEDED
    assert bc_client.get_order(int(fulfillment.sale.external_order_id)).status_id == 10


def test_a_collected_pickup_leaves_the_status_alone_while_another_consignment_is_open(
    imported, sandbox, staff_user, run_jobs, django_capture_on_commit_callbacks, bc_client
):
    fulfillment = imported(status_id=8, lines=1, pickup=True)
    order_id = int(fulfillment.sale.external_order_id)
    # another consignment of the same order, still to hand over (the sandbox places one pickup per order)
    Fulfillment.objects.create(
        retailer=fulfillment.retailer, sale=fulfillment.sale, type=FulfillmentType.PICKUP, consignment="pickup:other"
    )

    with django_capture_on_commit_callbacks(execute=True):
        complete(fulfillment, staff_user)
    run_jobs("default")

    fulfillment.refresh_from_db()
    assert fulfillment.writeback_state == WritebackState.SUCCEEDED
    assert bc_client.get_order(order_id).status_id == 8
    message = fulfillment.events.filter(action=FulfillmentAction.WRITEBACK_SUCCEEDED).get().message
    assert "not marked Completed" in message
