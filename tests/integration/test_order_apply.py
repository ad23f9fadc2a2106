"""Applying a fetched order (`integration/services/order_apply.py`), synced from the sandbox store over HTTP: the
sale and its totals, payments and refunds, stock moved exactly once through edits and voids, fulfilments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integration.choices import ErrorCode, OrderSyncState
from integration.models import PaymentMethodMap, SyncLogEntry
from integration.services.order_apply import ApplyOptions, FetchedOrder, orders_apply
from pos.choices import (
    FulfillmentState,
    FulfillmentType,
    MovementReason,
    PaymentKind,
    PaymentState,
    ProductKind,
    SaleStatus,
)
from pos.models import InventoryMovement, Product, Sale, SalePayment
from tests import factories
from tests.sale_helpers import goods_units, ledger_matches_levels, online_sale, stock_out

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- the sale


@pytest.mark.parametrize("tax_inclusive", [False, True])
def test_sale_totals_equal_bigcommerces_to_the_cent_with_discounts_coupons_and_charges(
    tax_inclusive, sandbox, link, sync, bc_client
):
    sandbox.store.settings.tax_inclusive = tax_inclusive
    sandbox.store.reset()
    order_id = sandbox.store.place_order(
        status_id=11, lines=3, coupon=True, discount=True, handling=2_5000, wrapping=True, shipping=9_9500
    ).id

    sync(order_id)

    order = bc_client.get_order(order_id)
    sale = online_sale(order_id)
    assert (sale.total_ex_tax, sale.total_tax, sale.total_inc_tax) == (
        order.total_ex_tax,
        order.total_tax,
        order.total_inc_tax,
    )
    assert sale.discount_total == order.discount_amount + order.coupon_discount
    assert sale.sale_date == order.date_created
    assert sale.outlet == link.outlet and sale.register == link.register
    assert sale.customer_note == order.customer_message
    kinds = {line.product.kind for line in sale.lines.all()}
    assert {ProductKind.SHIPPING, ProductKind.HANDLING, ProductKind.WRAPPING} <= kinds
    charges = {line.external_line_id: line for line in sale.lines.all() if line.product.kind != ProductKind.STANDARD}
    assert charges["shipping"].total_inc_tax == order.shipping_cost_inc_tax
    assert charges["handling"].total_tax == order.handling_cost_tax
    assert charges["wrapping"].total_ex_tax == order.wrapping_cost_ex_tax


def test_service_products_are_created_once_and_never_track_stock(sandbox, sync):
    first, second = sandbox.store.place_orders(2, status_id=11, lines=1, shipping=5_0000)

    sync(first)
    sync(second)

    shipping = Product.objects.get(kind=ProductKind.SHIPPING)
    assert shipping.tracks_inventory is False
    assert not InventoryMovement.objects.filter(product=shipping).exists()
    assert SyncLogEntry.objects.filter(event="service_product_created").count() == 1


# ---------------------------------------------------------------- payments and refunds


def test_a_paid_order_gets_one_payment_through_the_mapping_with_default_fallback_logged(sandbox, link, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    method = bc_client.get_order(order_id).payment_method

    sync(order_id)

    sale = online_sale(order_id)
    payment = SalePayment.objects.get(sale=sale)
    assert (payment.amount, payment.payment_type, payment.method_label) == (
        sale.total_inc_tax,
        link.default_payment_type,
        method,
    )
    assert sale.payment_state == PaymentState.PAID and sale.balance == 0
    assert SyncLogEntry.objects.filter(event="payment_method_unmapped", bc_order_id=order_id).exists()
    assert PaymentMethodMap.objects.filter(link=link, method=method).exists()


def test_a_mapped_payment_method_books_its_payment_type(sandbox, link, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    method = bc_client.get_order(order_id).payment_method
    card = factories.PaymentTypeFactory(retailer=link.retailer, name="Credit card")
    PaymentMethodMap.objects.create(link=link, method=method, payment_type=card)

    sync(order_id)

    assert SalePayment.objects.get(sale=online_sale(order_id)).payment_type == card
    assert not SyncLogEntry.objects.filter(event="payment_method_unmapped").exists()


def test_awaiting_payment_is_a_closed_sale_with_a_balance_owing_and_no_payment(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=7, lines=2).id

    sync(order_id)

    sale = online_sale(order_id)
    assert sale.status == SaleStatus.CLOSED
    assert sale.payment_state == PaymentState.UNPAID
    assert sale.balance == sale.total_inc_tax > 0
    assert not sale.payments.exists()


def test_refunds_are_negative_payments_the_sale_stays_closed_and_stock_is_not_returned(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    sync(order_id)
    stock_before = stock_out(online_sale(order_id))

    refund = sandbox.store.refund_order(order_id)
    sync(order_id)
    sync(order_id)  # a replay adds nothing

    sale = online_sale(order_id)
    refunds = sale.payments.filter(kind=PaymentKind.REFUND)
    assert [r.amount for r in refunds] == [-Decimal(refund.amount) / 10_000]
    assert sale.status == SaleStatus.CLOSED
    assert sale.payment_state == PaymentState.PARTIALLY_REFUNDED
    assert stock_out(sale) == stock_before


def test_a_full_refund_makes_the_sale_refunded(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    sync(order_id)

    sandbox.store.refund_order(order_id, full=True)
    sync(order_id)

    sale = online_sale(order_id)
    assert sale.payment_state == PaymentState.REFUNDED
    assert sale.amount_refunded == sale.total_inc_tax


# ---------------------------------------------------------------- stock: exactly once, edits, voids


def test_the_same_order_synced_twice_makes_one_sale_and_moves_stock_once(sandbox, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=3).id

    sync(order_id)
    sync(order_id)

    assert Sale.objects.count() == 1
    assert stock_out(online_sale(order_id)) == goods_units(bc_client.get_order(order_id))
    ledger_matches_levels()


def test_an_edited_order_moves_only_the_difference(sandbox, sync, bc_client):
    record = sandbox.store.place_order(status_id=11, lines=2)
    sync(record.id)
    first, second = record.lines

    sandbox.store.edit_order(record.id, line_id=first.id, quantity=first.quantity + 2)
    sync(record.id)
    sandbox.store.edit_order(record.id, line_id=second.id, quantity=0)
    sync(record.id)

    order = bc_client.get_order(record.id)
    sale = online_sale(record.id)
    assert stock_out(sale) == goods_units(order) == first.quantity + 2
    edits = InventoryMovement.objects.filter(sale=sale, reason=MovementReason.EDIT)
    assert sorted(m.quantity for m in edits) == sorted([-2, second.quantity])
    assert sale.lines.get(external_line_id=str(second.id)).quantity == 0
    assert SyncLogEntry.objects.filter(event="order_edited", bc_order_id=record.id).count() == 2
    ledger_matches_levels()


def test_a_cancelled_order_voids_the_sale_and_returns_stock_exactly_once(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    sync(order_id)

    sandbox.store.cancel_order(order_id)
    sync(order_id)
    sync(order_id)

    sale = online_sale(order_id)
    assert sale.status == SaleStatus.VOIDED
    assert stock_out(sale) == 0
    assert (
        InventoryMovement.objects.filter(sale=sale, reason=MovementReason.VOID).count()
        == sale.lines.filter(product__tracks_inventory=True).count()
    )
    assert sale.fulfillment.state == FulfillmentState.CANCELLED
    ledger_matches_levels()


def test_a_voided_sale_is_never_reopened_its_order_needs_attention(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sync(order_id)
    sandbox.store.cancel_order(order_id)
    sync(order_id)

    sandbox.store.set_status(order_id, 11)
    order_sync = sync(order_id)

    assert order_sync.state == OrderSyncState.NEEDS_ATTENTION
    assert order_sync.last_error_code == ErrorCode.VOIDED_REVIVED.code
    assert "never reopened" in ErrorCode.VOIDED_REVIVED.fix
    assert online_sale(order_id).status == SaleStatus.VOIDED
    assert stock_out(online_sale(order_id)) == 0


def test_a_copy_older_than_the_applied_one_is_ignored(sandbox, link, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    old = bc_client.get_order(order_id)
    sandbox.store.clock = lambda: __import__("time").time() + 5
    sandbox.store.cancel_order(order_id)
    sync(order_id)

    [outcome] = orders_apply(link=link, fetched=[FetchedOrder(old)], options=ApplyOptions())

    assert outcome.kind == "stale"
    assert online_sale(order_id).status == SaleStatus.VOIDED


# ---------------------------------------------------------------- fulfilments


def test_a_shipping_order_gets_a_delivery_fulfilment_and_a_pickup_order_a_pickup(sandbox, sync):
    shipped = sandbox.store.place_order(status_id=11, lines=2).id
    pickup = sandbox.store.place_order(status_id=8, lines=1, pickup=True).id

    sync(shipped)
    sync(pickup)

    delivery = online_sale(shipped).fulfillment
    assert (delivery.type, delivery.state) == (FulfillmentType.DELIVERY, FulfillmentState.NEW)
    assert delivery.shipping_address["city"]
    assert delivery.external_address_id
    assert sum(line.quantity for line in delivery.lines.all()) == stock_out(online_sale(shipped))
    assert online_sale(pickup).fulfillment.type == FulfillmentType.PICKUP


def test_an_order_already_shipped_in_bigcommerce_gets_a_completed_fulfilment(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=2, lines=1).id

    sync(order_id)

    fulfillment = online_sale(order_id).fulfillment
    assert fulfillment.state == FulfillmentState.COMPLETED
    assert all(line.fulfilled == line.quantity for line in fulfillment.lines.all())


def test_an_edit_adds_the_new_line_to_the_open_fulfilment(sandbox, sync):
    record = sandbox.store.place_order(status_id=11, lines=1)
    sync(record.id)

    sandbox.store.edit_order(record.id, add_variant_id=sandbox.store.live_products()[1].variants[0].id, quantity=2)
    sync(record.id)

    fulfillment = online_sale(record.id).fulfillment
    assert fulfillment.lines.count() == 2
    assert fulfillment.events.filter(action="order_edited").exists()
