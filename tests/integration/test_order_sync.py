"""The order sync engine against the sandbox store over HTTP: BigCommerce orders become POS sales, exactly once."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integration.choices import ErrorCode, OrderSyncState
from integration.models import CustomerLink, OrderSync, PaymentMethodMap, ProductLink, SyncLogEntry
from integration.services.order_apply import ApplyOptions, FetchedOrder, Mode, orders_apply
from integration.services.order_sync import ORDER_SYNC, order_fetch, order_sync_request
from pos.choices import (
    Channel,
    FulfillmentState,
    FulfillmentType,
    MovementReason,
    PaymentKind,
    PaymentState,
    ProductKind,
    SaleStatus,
)
from pos.models import Customer, Fulfillment, InventoryLevel, InventoryMovement, Product, Sale, SalePayment
from sandbox.faults import Fault
from tests import factories
from tests.work_helpers import make_due, sync_order, work_rows
from work import kernel
from work.models import WorkItem
from work.registry import get as work_kind

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync(link):
    """Request the sync of one order as a webhook does, and run the due order syncs as a worker does."""

    def run(order_id: int):
        return sync_order(link, order_id)

    return run


def _sale(order_id) -> Sale:
    return Sale.objects.get(channel=Channel.BIGCOMMERCE, external_order_id=str(order_id))


def _stock_out(sale: Sale) -> int:
    return -(InventoryMovement.objects.filter(sale=sale).aggregate(n=Sum("quantity"))["n"] or 0)


def _goods_units(order) -> int:
    return sum(item.quantity for item in order.products)


def _ledger_matches_levels() -> None:
    for level in InventoryLevel.objects.all():
        moved = InventoryMovement.objects.filter(product=level.product, outlet=level.outlet).aggregate(
            n=Sum("quantity")
        )["n"]
        assert level.on_hand == (moved or 0), level


# ---------------------------------------------------------------- the status table, end to end


@pytest.mark.parametrize("status_id", [2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14])
def test_closed_statuses_become_closed_sales_with_bigcommerce_status_beside(sandbox, sync, bc_client, status_id):
    order_id = sandbox.store.place_order(status_id=status_id, lines=2).id

    order_sync = sync(order_id)

    order = bc_client.get_order(order_id)
    sale = _sale(order_id)
    assert order_sync.state == OrderSyncState.IMPORTED
    assert order_sync.sale == sale
    assert sale.status == SaleStatus.CLOSED
    assert (sale.bc_status_id, sale.bc_status_label) == (status_id, order.status)
    assert _stock_out(sale) == _goods_units(order)
    _ledger_matches_levels()


@pytest.mark.parametrize("status_id", [5, 6])
def test_cancelled_and_declined_orders_are_voided_sales_that_moved_no_stock(sandbox, sync, status_id):
    order_id = sandbox.store.place_order(status_id=status_id, lines=2).id

    order_sync = sync(order_id)

    sale = _sale(order_id)
    assert order_sync.state == OrderSyncState.IMPORTED
    assert sale.status == SaleStatus.VOIDED
    assert _stock_out(sale) == 0
    assert not Fulfillment.objects.filter(sale=sale).exists()


@pytest.mark.parametrize("status_id", [0, 1])
def test_incomplete_and_pending_orders_are_skipped_with_the_reason_then_imported_when_they_move_on(
    sandbox, sync, status_id
):
    order_id = sandbox.store.place_order(status_id=status_id, lines=1).id

    order_sync = sync(order_id)

    assert order_sync.state == OrderSyncState.SKIPPED
    assert not Sale.objects.exists()
    entry = SyncLogEntry.objects.get(bc_order_id=order_id, event="order_skipped")
    assert "is imported when the status moves on" in entry.message

    sandbox.store.set_status(order_id, 11)
    assert sync(order_id).state == OrderSyncState.IMPORTED
    assert _sale(order_id).status == SaleStatus.CLOSED


def test_an_unknown_status_id_needs_attention_with_the_id_in_the_message(sandbox, link, bc_client):
    order = bc_client.get_order(sandbox.store.place_order(status_id=11, lines=1).id)
    odd = dataclasses.replace(order, status_id=21)

    [outcome] = orders_apply(link=link, fetched=[FetchedOrder(odd)], options=ApplyOptions())

    order_sync = OrderSync.objects.get(bc_order_id=order.id)
    assert outcome.state == OrderSyncState.NEEDS_ATTENTION
    assert order_sync.last_error_code == ErrorCode.UNKNOWN_STATUS.code
    assert "21" in order_sync.last_error_message
    assert not Sale.objects.exists()


def test_an_order_in_another_currency_needs_attention_and_is_not_converted(sandbox, link, bc_client):
    order = bc_client.get_order(sandbox.store.place_order(status_id=11, lines=1).id)
    euro = dataclasses.replace(order, default_currency_code="EUR")

    orders_apply(link=link, fetched=[FetchedOrder(euro)], options=ApplyOptions())

    order_sync = OrderSync.objects.get(bc_order_id=order.id)
    assert order_sync.state == OrderSyncState.NEEDS_ATTENTION
    assert order_sync.last_error_code == ErrorCode.CURRENCY_MISMATCH.code
    assert "EUR" in order_sync.last_error_message


def test_orders_placed_before_the_link_are_not_imported_by_live_sync(sandbox, sync, link):
    created = int((link.linked_at - timedelta(days=2)).timestamp())
    order_id = sandbox.store.place_order(status_id=11, lines=1, created=created).id

    assert sync(order_id).state == OrderSyncState.SKIPPED
    assert not Sale.objects.exists()
    assert SyncLogEntry.objects.filter(bc_order_id=order_id, event="order_historical").exists()


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
    sale = _sale(order_id)
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


# ---------------------------------------------------------------- lines and products


def test_products_resolve_by_link_then_unique_sku_then_are_created_and_linked(sandbox, link, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=3).id
    items = bc_client.get_order(order_id).products
    known_by_sku = factories.ProductFactory(retailer=link.retailer, sku=items[0].sku, name="Our own name")
    linked = factories.ProductFactory(retailer=link.retailer, sku=None)
    ProductLink.objects.create(
        link=link, product=linked, bc_product_id=items[1].product_id, bc_variant_id=items[1].variant_id
    )

    sync(order_id)

    products = {line.external_line_id: line.product for line in _sale(order_id).lines.all()}
    assert products[str(items[0].id)] == known_by_sku
    assert products[str(items[1].id)] == linked
    created = products[str(items[2].id)]
    assert (created.created_by_link, created.needs_review, created.sku) == (True, True, items[2].sku or None)
    assert ProductLink.objects.filter(link=link, product=known_by_sku, bc_product_id=items[0].product_id).exists()
    assert ProductLink.objects.filter(link=link, product=created, bc_variant_id=items[2].variant_id).exists()


def test_a_line_whose_product_was_deleted_becomes_a_placeholder_and_the_order_still_syncs(sandbox, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    deleted = bc_client.get_order(order_id).products[0]
    sandbox.store.delete_product(deleted.product_id)

    assert sync(order_id).state == OrderSyncState.IMPORTED

    line = _sale(order_id).lines.get(external_line_id=str(deleted.id))
    assert line.product.kind == ProductKind.PLACEHOLDER
    assert line.product.tracks_inventory is False
    assert SyncLogEntry.objects.filter(event="placeholder_created", bc_order_id=order_id).exists()


def test_an_order_without_any_linked_product_and_one_without_lines_both_sync(sandbox, sync):
    with_lines = sandbox.store.place_order(status_id=11, lines=4).id
    empty = sandbox.store.place_order(status_id=11, lines=0).id

    assert sync(with_lines).state == OrderSyncState.IMPORTED
    assert sync(empty).state == OrderSyncState.IMPORTED
    assert _sale(empty).lines.exclude(product__kind__in=ProductKind.service_kinds()).count() == 0


def test_an_order_with_200_lines_is_complete(sandbox, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=200).id

    sync(order_id)

    sale = _sale(order_id)
    assert sale.lines.exclude(product__kind__in=ProductKind.service_kinds()).count() == 200
    assert _stock_out(sale) == _goods_units(bc_client.get_order(order_id))


# ---------------------------------------------------------------- customers


def test_guest_orders_match_an_existing_customer_by_email_without_overwriting_them(sandbox, link, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=1, guest=True).id
    email = bc_client.get_order(order_id).billing_address.email
    existing = factories.CustomerFactory(
        retailer=link.retailer, email=email.upper(), first_name="Kept", phone="555-0000"
    )

    sync(order_id)

    existing.refresh_from_db()
    assert _sale(order_id).customer == existing
    assert (existing.first_name, existing.phone) == ("Kept", "555-0000")
    assert Customer.objects.count() == 1


def test_registered_customers_are_linked_once_then_found_by_their_bigcommerce_id(sandbox, link, sync, bc_client):
    customer_id = sandbox.store.place_order(status_id=11, lines=1, guest=False).customer_id
    first = sandbox.store.place_order(status_id=11, lines=1, customer_id=customer_id).id
    second = sandbox.store.place_order(status_id=11, lines=1, customer_id=customer_id).id

    sync(first)
    Customer.objects.update(email="changed@example.com")  # email changes no longer matter once linked
    sync(second)

    assert _sale(first).customer == _sale(second).customer
    assert CustomerLink.objects.filter(link=link, bc_customer_id=customer_id).count() == 1
    assert Customer.objects.count() == 1


def test_a_new_buyer_is_created_from_the_billing_address(sandbox, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=1, guest=True).id
    billing = bc_client.get_order(order_id).billing_address

    sync(order_id)

    customer = _sale(order_id).customer
    assert (customer.first_name, customer.last_name, customer.email) == (
        billing.first_name,
        billing.last_name,
        billing.email,
    )
    assert customer.created_by_link is True
    assert customer.address["city"] == billing.city


# ---------------------------------------------------------------- payments and refunds


def test_a_paid_order_gets_one_payment_through_the_mapping_with_default_fallback_logged(sandbox, link, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    method = bc_client.get_order(order_id).payment_method

    sync(order_id)

    sale = _sale(order_id)
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

    assert SalePayment.objects.get(sale=_sale(order_id)).payment_type == card
    assert not SyncLogEntry.objects.filter(event="payment_method_unmapped").exists()


def test_awaiting_payment_is_a_closed_sale_with_a_balance_owing_and_no_payment(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=7, lines=2).id

    sync(order_id)

    sale = _sale(order_id)
    assert sale.status == SaleStatus.CLOSED
    assert sale.payment_state == PaymentState.UNPAID
    assert sale.balance == sale.total_inc_tax > 0
    assert not sale.payments.exists()


def test_refunds_are_negative_payments_the_sale_stays_closed_and_stock_is_not_returned(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    sync(order_id)
    stock_before = _stock_out(_sale(order_id))

    refund = sandbox.store.refund_order(order_id)
    sync(order_id)
    sync(order_id)  # a replay adds nothing

    sale = _sale(order_id)
    refunds = sale.payments.filter(kind=PaymentKind.REFUND)
    assert [r.amount for r in refunds] == [-Decimal(refund.amount) / 10_000]
    assert sale.status == SaleStatus.CLOSED
    assert sale.payment_state == PaymentState.PARTIALLY_REFUNDED
    assert _stock_out(sale) == stock_before


def test_a_full_refund_makes_the_sale_refunded(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    sync(order_id)

    sandbox.store.refund_order(order_id, full=True)
    sync(order_id)

    sale = _sale(order_id)
    assert sale.payment_state == PaymentState.REFUNDED
    assert sale.amount_refunded == sale.total_inc_tax


# ---------------------------------------------------------------- stock: exactly once, edits, voids


def test_the_same_order_synced_twice_makes_one_sale_and_moves_stock_once(sandbox, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=3).id

    sync(order_id)
    sync(order_id)

    assert Sale.objects.count() == 1
    assert _stock_out(_sale(order_id)) == _goods_units(bc_client.get_order(order_id))
    _ledger_matches_levels()


def test_an_edited_order_moves_only_the_difference(sandbox, sync, bc_client):
    record = sandbox.store.place_order(status_id=11, lines=2)
    sync(record.id)
    first, second = record.lines

    sandbox.store.edit_order(record.id, line_id=first.id, quantity=first.quantity + 2)
    sync(record.id)
    sandbox.store.edit_order(record.id, line_id=second.id, quantity=0)
    sync(record.id)

    order = bc_client.get_order(record.id)
    sale = _sale(record.id)
    assert _stock_out(sale) == _goods_units(order) == first.quantity + 2
    edits = InventoryMovement.objects.filter(sale=sale, reason=MovementReason.EDIT)
    assert sorted(m.quantity for m in edits) == sorted([-2, second.quantity])
    assert sale.lines.get(external_line_id=str(second.id)).quantity == 0
    assert SyncLogEntry.objects.filter(event="order_edited", bc_order_id=record.id).count() == 2
    _ledger_matches_levels()


def test_a_cancelled_order_voids_the_sale_and_returns_stock_exactly_once(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    sync(order_id)

    sandbox.store.cancel_order(order_id)
    sync(order_id)
    sync(order_id)

    sale = _sale(order_id)
    assert sale.status == SaleStatus.VOIDED
    assert _stock_out(sale) == 0
    assert (
        InventoryMovement.objects.filter(sale=sale, reason=MovementReason.VOID).count()
        == sale.lines.filter(product__tracks_inventory=True).count()
    )
    assert sale.fulfillment.state == FulfillmentState.CANCELLED
    _ledger_matches_levels()


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
    assert _sale(order_id).status == SaleStatus.VOIDED
    assert _stock_out(_sale(order_id)) == 0


def test_a_copy_older_than_the_applied_one_is_ignored(sandbox, link, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    old = bc_client.get_order(order_id)
    sandbox.store.clock = lambda: __import__("time").time() + 5
    sandbox.store.cancel_order(order_id)
    sync(order_id)

    [outcome] = orders_apply(link=link, fetched=[FetchedOrder(old)], options=ApplyOptions())

    assert outcome.kind == "stale"
    assert _sale(order_id).status == SaleStatus.VOIDED


# ---------------------------------------------------------------- fulfilments


def test_a_shipping_order_gets_a_delivery_fulfilment_and_a_pickup_order_a_pickup(sandbox, sync):
    shipped = sandbox.store.place_order(status_id=11, lines=2).id
    pickup = sandbox.store.place_order(status_id=8, lines=1, pickup=True).id

    sync(shipped)
    sync(pickup)

    delivery = _sale(shipped).fulfillment
    assert (delivery.type, delivery.state) == (FulfillmentType.DELIVERY, FulfillmentState.NEW)
    assert delivery.shipping_address["city"]
    assert delivery.external_address_id
    assert sum(line.quantity for line in delivery.lines.all()) == _stock_out(_sale(shipped))
    assert _sale(pickup).fulfillment.type == FulfillmentType.PICKUP


def test_an_order_already_shipped_in_bigcommerce_gets_a_completed_fulfilment(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=2, lines=1).id

    sync(order_id)

    fulfillment = _sale(order_id).fulfillment
    assert fulfillment.state == FulfillmentState.COMPLETED
    assert all(line.fulfilled == line.quantity for line in fulfillment.lines.all())


def test_an_edit_adds_the_new_line_to_the_open_fulfilment(sandbox, sync):
    record = sandbox.store.place_order(status_id=11, lines=1)
    sync(record.id)

    sandbox.store.edit_order(record.id, add_variant_id=sandbox.store.live_products()[1].variants[0].id, quantity=2)
    sync(record.id)

    fulfillment = _sale(record.id).fulfillment
    assert fulfillment.lines.count() == 2
    assert fulfillment.events.filter(action="order_edited").exists()


# ---------------------------------------------------------------- failures


def test_a_5xx_is_retried_with_backoff_then_needs_attention_after_the_last_attempt(sandbox, link, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sandbox.store.faults.add(Fault(kind="error", endpoint="get_order", status=503))

    order_sync = sync(order_id)

    assert order_sync.state == OrderSyncState.RETRYING
    assert order_sync.attempts == 1
    assert order_sync.last_error_code == ErrorCode.BIGCOMMERCE_ERROR.code
    assert order_sync.next_retry_at > timezone.now() + timedelta(seconds=20)
    assert work_rows(ORDER_SYNC) == [(f"{link.pk}:{order_id}", "due")]  # due again, at the retry time
    assert sync(order_id).attempts == 1  # a webhook meanwhile: nothing happens before the retry time
    max_attempts = work_kind(ORDER_SYNC).retry.max_attempts
    for _ in range(max_attempts - 1):
        make_due(ORDER_SYNC)  # the retry time has come
        order_sync = sync(order_id)
    assert order_sync.state == OrderSyncState.NEEDS_ATTENTION
    assert order_sync.attempts == max_attempts
    assert work_rows(ORDER_SYNC) == [(f"{link.pk}:{order_id}", "failed")]

    sandbox.store.faults.clear()
    assert sync(order_id).state == OrderSyncState.IMPORTED


def test_a_timeout_is_retried_at_the_time_the_order_row_shows(sandbox, link, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sandbox.store.faults.add(Fault(kind="timeout", endpoint="get_order", seconds=6))

    order_sync = sync(order_id)

    [work] = WorkItem.objects.filter(kind=ORDER_SYNC)
    assert order_sync.state == OrderSyncState.RETRYING
    assert order_sync.last_error_code == ErrorCode.UNREACHABLE.code
    assert work.due_at == order_sync.next_retry_at and work.due_at.microsecond == 0


def test_a_rate_limit_waits_for_the_reset_and_is_not_a_failure_when_short(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sandbox.store.faults.add(Fault(kind="rate_limit", endpoint="get_order", reset_ms=200, times=1))

    assert sync(order_id).state == OrderSyncState.IMPORTED


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault(kind="error", endpoint="get_order", status=404), ErrorCode.ORDER_NOT_FOUND.code),
        (Fault(kind="error", endpoint="get_order", status=401), ErrorCode.CREDENTIALS_REJECTED.code),
        (Fault(kind="malformed", endpoint="get_order", body="wrong_shape"), ErrorCode.UNPARSEABLE.code),
    ],
)
def test_permanent_problems_need_attention_at_once_with_a_sentence_and_a_fix(sandbox, sync, fault, code):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sandbox.store.faults.add(fault)

    order_sync = sync(order_id)

    assert order_sync.state == OrderSyncState.NEEDS_ATTENTION
    assert order_sync.last_error_code == code
    assert order_sync.attempts == 1
    entry = SyncLogEntry.objects.get(bc_order_id=order_id, event="sync_failed")
    assert entry.level == "error"
    assert ErrorCode.by_code(code).fix in entry.message


def test_an_order_archived_after_import_keeps_its_sale(sandbox, sync):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sync(order_id)
    sandbox.store.faults.add(Fault(kind="error", endpoint="get_order", status=404))

    assert sync(order_id).state == OrderSyncState.IMPORTED
    assert _sale(order_id).status == SaleStatus.CLOSED


# ---------------------------------------------------------------- cost: API calls and queries


def test_queries_per_sync_are_the_same_for_a_1_line_and_a_50_line_order(sandbox, link, bc_client):
    one, fifty = (
        sandbox.store.place_order(status_id=11, lines=1).id,
        sandbox.store.place_order(status_id=11, lines=50).id,
    )
    # Warm up: the products exist and are linked, as they are for nearly every live order.
    warm = [FetchedOrder(bc_client.get_order(oid)) for oid in (one, fifty)]
    orders_apply(link=link, fetched=warm, options=ApplyOptions(mode=Mode.IMPORT, adjust_stock=False))
    Sale.objects.all().delete()
    OrderSync.objects.all().delete()

    counts = []
    for order_id in (one, fifty):
        fetched = FetchedOrder(bc_client.get_order(order_id))
        with CaptureQueriesContext(connection) as queries:
            orders_apply(link=link, fetched=[fetched], options=ApplyOptions())
        counts.append(len(queries))

    assert counts[0] == counts[1], counts


def test_the_webhook_path_costs_one_api_call_per_order_once_products_are_known(sandbox, link, bc_client):
    orders = sandbox.store.place_orders(10, status_id=11, lines=3)
    for order_id in orders[:1]:
        sync_order(link, order_id)
    sandbox.store.request_log.clear()

    for order_id in orders[1:]:
        order_fetch(client=bc_client, link=link, bc_order_id=order_id)

    calls = sum(sandbox.store.request_log.counts().values())
    assert calls / len(orders[1:]) <= 1.1 + 1  # first-seen products add one catalog call per new order at most


def test_one_run_takes_the_other_requested_orders_of_the_store_as_one_batch(sandbox, link, bc_client):
    order_ids = sandbox.store.place_orders(3, status_id=11, lines=1)
    for order_id in order_ids:
        order_sync_request(link=link, bc_order_id=order_id)
    sandbox.store.request_log.clear()

    claim = kernel.claim(only={ORDER_SYNC})
    kernel.run(claim)

    assert len(claim.items) == 3
    assert {s.state for s in OrderSync.objects.filter(bc_order_id__in=order_ids)} == {OrderSyncState.IMPORTED}
    assert not WorkItem.objects.filter(kind=ORDER_SYNC).exists()


def test_an_order_our_own_pos_channel_placed_in_bigcommerce_is_not_imported_back(sandbox, link, bc_client):
    from integration.services.order_apply import POS_EXTERNAL_SOURCE

    order = bc_client.get_order(sandbox.store.place_order(status_id=11, lines=1).id)
    ours = dataclasses.replace(order, external_source=POS_EXTERNAL_SOURCE)

    [outcome] = orders_apply(link=link, fetched=[FetchedOrder(ours)], options=ApplyOptions())

    assert outcome.state == OrderSyncState.SKIPPED
    assert not Sale.objects.exists()
    assert SyncLogEntry.objects.filter(bc_order_id=order.id, event="order_from_pos").exists()


def test_the_periodic_hook_check_brings_back_webhooks_bigcommerce_deactivated(sandbox, link, bc_client, run_jobs):
    from integration.services.link import HOOKS, hooks_register

    assert hooks_register(link=link, client=bc_client)
    link.refresh_from_db()
    sandbox.store.deactivate_hook(link.hooks[0]["id"])

    kernel.ensure_periodic()
    run_jobs(only={HOOKS})

    assert all(hook.is_active for hook in sandbox.store.hooks.values())
    assert SyncLogEntry.objects.filter(link=link, event="hooks_reactivated").exists()
