"""An order BigCommerce answers without `consignments` (the spec's own order example has none) imports from the
order's sub-resources: its products and, when lines ship, its shipping addresses. Against the sandbox store."""

from __future__ import annotations

import pytest

from integration.choices import OrderSyncState
from pos.choices import FulfillmentType
from tests.sale_helpers import online_sale, stock_out

pytestmark = pytest.mark.django_db


def test_an_order_without_consignments_imports_from_its_products_and_addresses(sandbox, sync):
    record = sandbox.store.place_order(status_id=11, lines=3, two_addresses=True, without_consignments=True)
    sandbox.store.request_log.clear()

    outcome = sync(record.id)

    assert outcome.state == OrderSyncState.IMPORTED
    sale = online_sale(record.id)
    goods = [line for line in sale.lines.all() if line.external_line_id.isdigit()]
    assert sorted((int(line.external_line_id), line.quantity) for line in goods) == sorted(
        (line.id, line.quantity) for line in record.lines
    )
    assert stock_out(sale) == sum(line.quantity for line in record.lines)
    fulfillment = sale.fulfillment
    assert fulfillment.type == FulfillmentType.DELIVERY and fulfillment.shipping_address["city"]
    counts = sandbox.store.request_log.counts()
    assert (counts["get_order"], counts["list_order_products"], counts["list_shipping_addresses"]) == (1, 1, 1)


def test_a_pickup_without_consignments_reads_no_addresses_and_is_a_pickup(sandbox, sync):
    record = sandbox.store.place_order(status_id=8, lines=2, pickup=True, without_consignments=True)
    sandbox.store.request_log.clear()

    outcome = sync(record.id)

    assert outcome.state == OrderSyncState.IMPORTED
    assert online_sale(record.id).fulfillment.type == FulfillmentType.PICKUP
    assert "list_shipping_addresses" not in sandbox.store.request_log.counts()
