"""Order money as BigCommerce has it (issue 14, items 4, 5 and 7), synced from the sandbox store over HTTP: order
fees as sale lines, orders in another currency, and payments that follow the V3 transactions. Every expected
figure is worked out by hand in the test, never by the code's own formula."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from django.urls import reverse

from integration.client import BigCommerceClient
from integration.models import SyncLogEntry
from integration.services.intake import AUTH_HEADER, webhook_accept
from integration.services.order_sync import ORDER_SYNC
from pos.choices import ProductKind
from pos.models import Fulfillment, InventoryMovement, Product, Sale
from pos.services.fulfillment import FulfillmentError
from tests.fixtures_fulfillment import complete
from tests.work_helpers import make_due, sync_order

pytestmark = pytest.mark.django_db


def _place(sandbox, *, quantity: int, unit: int, shipping: int = 0, **options) -> int:
    """An order of one line, `quantity` × `unit` (units of 1/10,000), with only the charges asked for."""
    options = {"coupon": False, "discount": False, "wrapping": False, "handling": 0, "tax_flip": False} | options
    order_id = sandbox.store.place_order(status_id=11, lines=1, shipping=shipping, **options).id
    record = sandbox.store.order(order_id)
    record.lines[0].quantity, record.lines[0].unit_price = quantity, unit
    sandbox.store._save(record)
    return order_id


def _sale(order_id: int) -> Sale:
    return Sale.objects.get(external_order_id=str(order_id))


def _charges(sale: Sale) -> dict[str, tuple[str, Decimal, Decimal, Decimal]]:
    return {
        line.external_line_id: (line.name, line.total_ex_tax, line.total_tax, line.total_inc_tax)
        for line in sale.lines.exclude(product__kind=ProductKind.STANDARD)
    }


# ---------------------------------------------------------------- order fees (item 7)


@pytest.mark.sandbox(tax_rate_bp=1000, tax_inclusive=False)
def test_an_order_fee_is_a_taxed_line_of_the_fee_product_and_the_totals_still_match(sandbox, live_link):
    order_id = _place(sandbox, quantity=2, unit=25_0000, shipping=10_0000, fee=4_0000)

    sync_order(live_link, order_id)

    # 2 × 25.00 + 10.00 shipping + 4.00 fee = 64.00 ex tax; tax 10 %: 5.00 + 1.00 + 0.40 = 6.40; 70.40 in all.
    sale = _sale(order_id)
    assert (sale.total_ex_tax, sale.total_tax, sale.total_inc_tax) == (
        Decimal("64.00"),
        Decimal("6.40"),
        Decimal("70.40"),
    )
    fee_id = order_id * 10 + 1  # the sandbox numbers an order's fee from its order id
    assert _charges(sale) == {
        "shipping": ("Shipping", Decimal("10.00"), Decimal("1.00"), Decimal("11.00")),
        f"fee-{fee_id}": ("Package protection fee", Decimal("4.00"), Decimal("0.40"), Decimal("4.40")),
    }
    assert sum(line.total_inc_tax for line in sale.lines.all()) == Decimal("70.40")
    fee_product = Product.objects.get(retailer=live_link.retailer, kind=ProductKind.FEE)
    assert fee_product.tracks_inventory is False and fee_product.name == "Order fee"


@pytest.mark.sandbox(tax_rate_bp=1000, tax_inclusive=False)
def test_the_fee_product_is_created_once_per_retailer(sandbox, live_link):
    first = _place(sandbox, quantity=1, unit=10_0000, fee=1_0000)
    second = _place(sandbox, quantity=1, unit=10_0000, fee=2_0000)

    sync_order(live_link, first)
    sync_order(live_link, second)

    assert Product.objects.filter(retailer=live_link.retailer, kind=ProductKind.FEE).count() == 1
    created = SyncLogEntry.objects.filter(event="service_product_created", message__contains="Order fee")
    assert created.count() == 1


@pytest.mark.sandbox(tax_rate_bp=0, tax_inclusive=False)
def test_a_fee_in_the_cost_exc_tax_spelling_of_bigcommerces_examples_is_read_the_same(sandbox, live_link):
    order_id = _place(sandbox, quantity=1, unit=20_0000, fee=3_5000)

    def exc_spelling(body, *, products):
        if not products and isinstance(body.get("fees"), list):
            for fee in body["fees"]:
                fee["cost_exc_tax"] = fee.pop("cost_ex_tax")

    sandbox.store.patch_order(order_id, exc_spelling)
    sync_order(live_link, order_id)

    # 20.00 + 3.50 fee, no tax.
    sale = _sale(order_id)
    assert sale.total_inc_tax == Decimal("23.50")
    assert _charges(sale)[f"fee-{order_id * 10 + 1}"][1:] == (Decimal("3.50"), Decimal("0"), Decimal("3.50"))


@pytest.mark.sandbox(tax_rate_bp=1000, tax_inclusive=False)
def test_a_fee_removed_in_bigcommerce_charges_nothing_any_more(sandbox, live_link):
    order_id = _place(sandbox, quantity=1, unit=10_0000, fee=1_0000)
    sync_order(live_link, order_id)
    record = sandbox.store.order(order_id)
    record.fee, record.modified = 0, record.modified + 60
    sandbox.store._save(record)

    sync_order(live_link, order_id)

    # 10.00 + 1.00 tax, the fee gone: its line stays in the sale's history at nothing (as removed lines do).
    sale = _sale(order_id)
    assert sale.total_inc_tax == Decimal("11.00")
    fee_line = sale.lines.get(product__kind=ProductKind.FEE)
    assert (fee_line.quantity, fee_line.total_inc_tax) == (0, Decimal("0"))


# ---------------------------------------------------------------- orders in another currency (item 5)


def _lines_of(sale: Sale) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    return [(li.external_line_id, li.total_ex_tax, li.total_tax, li.total_inc_tax) for li in sale.lines.all()]


@pytest.mark.sandbox(tax_rate_bp=0, tax_inclusive=False, currency="USD")
def test_an_order_in_euros_is_a_sale_in_dollars_at_its_own_rate_and_rounding_cents_go_to_the_largest_line(
    sandbox, live_link
):
    # 3 lines of 1.00 EUR, no tax, no shipping; 1.00 EUR of it paid with store credit; 1 USD = 0.30 EUR.
    order_id = sandbox.store.place_order(
        status_id=11,
        lines=3,
        pickup=False,
        shipping=0,
        store_credit=1_0000,
        currency="EUR",
        exchange_rate="0.3",
        coupon=False,
        discount=False,
        wrapping=False,
        handling=0,
        deleted_product=False,
    ).id
    record = sandbox.store.order(order_id)
    for line in record.lines:
        line.quantity, line.unit_price = 1, 1_0000
    sandbox.store._save(record)
    ids = [str(line.id) for line in record.lines]

    sync = sync_order(live_link, order_id)

    # 3.00 EUR / 0.3 = 10.00 USD; each line 1.00 / 0.3 = 3.333… → 3.33, three of them 9.99: the cent left over
    # goes to the largest line (all equal: the first). Store credit 1.00 EUR → 3.33 USD; the gateway the rest, 6.67.
    assert sync.state == "imported"
    sale = _sale(order_id)
    assert (sale.currency, sale.total_ex_tax, sale.total_tax, sale.total_inc_tax) == (
        "USD",
        Decimal("10.00"),
        Decimal("0"),
        Decimal("10.00"),
    )
    assert _lines_of(sale) == [
        (ids[0], Decimal("3.34"), Decimal("0"), Decimal("3.34")),
        (ids[1], Decimal("3.33"), Decimal("0"), Decimal("3.33")),
        (ids[2], Decimal("3.33"), Decimal("0"), Decimal("3.33")),
    ]
    assert (sale.original_currency, sale.exchange_rate, sale.original_total_inc_tax) == (
        "EUR",
        Decimal("0.3"),
        Decimal("3.00"),
    )
    assert dict(sale.payments.values_list("method_label", "amount"))["Store credit"] == Decimal("3.33")
    assert sorted(sale.payments.values_list("amount", flat=True)) == [Decimal("3.33"), Decimal("6.67")]
    assert (sale.amount_paid, sale.balance, sale.payment_state) == (Decimal("10.00"), 0, "paid")
    # Stock moves as for any order: one unit out per line.
    moved = InventoryMovement.objects.filter(source_key__startswith=f"bc:{live_link.pk}:{order_id}:")
    assert sorted(moved.values_list("quantity", flat=True)) == [-1, -1, -1]


@pytest.mark.sandbox(tax_rate_bp=1000, tax_inclusive=False, currency="USD")
def test_an_order_in_euros_with_tax_shipping_and_a_fee_converts_each_amount_to_the_cent(sandbox, live_link):
    # 3 × 3.33 EUR + 5.00 EUR shipping + 1.00 EUR fee, 10 % tax on each; 1 USD = 0.90 EUR.
    order_id = _place(
        sandbox, quantity=3, unit=3_3300, shipping=5_0000, fee=1_0000, currency="EUR", exchange_rate="0.9"
    )
    fee = f"fee-{order_id * 10 + 1}"

    sync_order(live_link, order_id)

    # In EUR: goods 9.99 + tax 0.999 (BigCommerce keeps 4 decimals) = 10.989; shipping 5.00 + 0.50 = 5.50;
    # fee 1.00 + 0.10 = 1.10; total 17.589, tax 1.599, ex tax 15.99.
    # In USD (÷ 0.9, to the cent, halves up): total 19.5433… → 19.54, tax 1.7766… → 1.78, ex tax 17.76;
    # goods 12.21 / tax 1.11; shipping 6.1111… → 6.11 / 0.5555… → 0.56; fee 1.2222… → 1.22 / 0.1111… → 0.11.
    sale = _sale(order_id)
    assert (sale.total_ex_tax, sale.total_tax, sale.total_inc_tax) == (
        Decimal("17.76"),
        Decimal("1.78"),
        Decimal("19.54"),
    )
    goods = sale.lines.get(product__kind=ProductKind.STANDARD).external_line_id
    assert sorted(_lines_of(sale)) == sorted(
        [
            (goods, Decimal("11.10"), Decimal("1.11"), Decimal("12.21")),
            ("shipping", Decimal("5.55"), Decimal("0.56"), Decimal("6.11")),
            (fee, Decimal("1.11"), Decimal("0.11"), Decimal("1.22")),
        ]
    )
    assert (sale.original_currency, sale.exchange_rate) == ("EUR", Decimal("0.9"))
    assert (sale.original_total_ex_tax, sale.original_total_tax, sale.original_total_inc_tax) == (
        Decimal("15.99"),
        Decimal("1.599"),
        Decimal("17.589"),
    )
    assert sale.payment_state == "paid" and sale.amount_paid == Decimal("19.54")


@pytest.mark.sandbox(tax_rate_bp=0, tax_inclusive=False, currency="USD")
def test_the_original_currency_and_amounts_show_beside_the_sale_and_in_sales_history(sandbox, live_link, staff_client):
    order_id = _place(sandbox, quantity=2, unit=4_6000, currency="GBP", exchange_rate="0.8")
    sync_order(live_link, order_id)
    sale = _sale(order_id)

    detail = staff_client.get(reverse("dashboard:sale_detail", args=[sale.pk])).content.decode()
    history = staff_client.get(reverse("dashboard:sales")).content.decode()
    export = staff_client.get(reverse("dashboard:sales_export"))
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))

    # 2 × 4.60 GBP = 9.20 GBP; ÷ 0.8 = 11.50 USD.
    assert 'data-testid="sale-total">11.50<' in detail
    assert "Paid in GBP at 0.8 GBP per USD" in detail
    assert 'data-testid="sale-original-total">9.20<' in detail
    assert "USD 11.50" in history and "GBP 9.20 at 0.8" in history
    [row] = [r for r in rows if r["BigCommerce order"] == str(order_id)]
    assert (row["Total"], row["Paid in"], row["Exchange rate"], row["Total paid in that currency"]) == (
        "11.50",
        "GBP",
        "0.8",
        "9.20",
    )


@pytest.mark.sandbox(currency="USD")
def test_an_order_in_another_currency_without_a_rate_needs_attention_and_moves_nothing(sandbox, live_link):
    order_id = sandbox.store.place_order(status_id=11, lines=1, currency="EUR", exchange_rate="0").id

    sync = sync_order(live_link, order_id)

    assert (sync.state, sync.last_error_code) == ("needs_attention", "currency_mismatch")
    assert "EUR with no usable exchange rate" in sync.last_error_message
    assert "exchange rate in BigCommerce" in SyncLogEntry.objects.get(event="sync_failed").message
    assert not Sale.objects.exists()
    assert not InventoryMovement.objects.exists()


# ---------------------------------------------------------------- payments that follow the V3 transactions (item 4)


def _payments(sale: Sale) -> list[tuple[str, Decimal, str]]:
    return list(sale.payments.order_by("kind", "external_id").values_list("kind", "amount", "external_id"))


def _transaction_reads(sandbox, order_id: int) -> int:
    return len(sandbox.store.request_log.records(endpoint="list_transactions", order_id=order_id))


@pytest.fixture
def authorised_order(sandbox, live_link):
    """An order of 2 × 12.50, no tax, no charges (25.00), whose payment was only authorised at checkout."""
    return _place(sandbox, quantity=2, unit=12_5000, authorized=True)


@pytest.mark.sandbox(tax_rate_bp=0, tax_inclusive=False)
def test_an_authorised_then_captured_order_is_right_at_every_step_and_reads_transactions_once(
    sandbox, live_link, authorised_order, staff_user, django_capture_on_commit_callbacks
):
    order_id = authorised_order

    # Placed: authorised (held for the sale, not owing), nothing taken; its payment status says so without a
    # transactions call.
    sync_order(live_link, order_id)
    sale = _sale(order_id)
    assert (sale.payment_state, sale.amount_paid) == ("authorised", 0)
    assert _payments(sale) == [("authorised", Decimal("25.00"), "bc-order-payment")]
    assert _transaction_reads(sandbox, order_id) == 0

    # Captured in BigCommerce: the capture is the payment, nothing is held any more.
    sandbox.store.capture_payment(order_id)
    sync_order(live_link, order_id)
    sale.refresh_from_db()
    assert (sale.payment_state, sale.amount_paid, sale.balance) == ("paid", Decimal("25.00"), 0)
    assert _payments(sale) == [
        ("authorised", Decimal("0"), "bc-order-payment"),
        ("payment", Decimal("25.00"), "bc-order-payment"),
    ]
    capture_time = sandbox.store.order(order_id).modified
    assert int(sale.payments.get(kind="payment").paid_at.timestamp()) == capture_time
    assert _transaction_reads(sandbox, order_id) == 1

    # Shipped later: the payment stays as it is, and no transactions call is made for it.
    sandbox.store.set_status(order_id, 2)
    sync_order(live_link, order_id)
    sale.refresh_from_db()
    assert (sale.payment_state, sale.amount_paid) == ("paid", Decimal("25.00"))
    assert len(_payments(sale)) == 2
    assert _transaction_reads(sandbox, order_id) == 1


@pytest.mark.sandbox(tax_rate_bp=0, tax_inclusive=False)
def test_a_payment_held_for_review_is_held_money_the_merchant_sees_and_may_fulfil_then_its_capture_pays(
    sandbox, live_link, staff_user, staff_client
):
    order_id = _place(sandbox, quantity=2, unit=12_5000, authorized="review")
    assert BigCommerceClient.for_link(live_link).get_order(order_id).payment_status == "held for review"

    # Held by the gateway while it reviews the payment: nothing owed, nothing taken; the page says why.
    sync_order(live_link, order_id)
    sale = _sale(order_id)
    assert (sale.payment_state, sale.amount_paid) == ("authorised", 0)
    assert _payments(sale) == [("authorised", Decimal("25.00"), "bc-order-payment")]
    detail = staff_client.get(reverse("dashboard:sale_detail", args=[sale.pk])).content.decode()
    assert 'data-testid="bc-payment-status">Payment held for review<' in detail

    # The merchant may ship it (money held is not money owed), as with any authorisation.
    fulfillment = Fulfillment.objects.get(sale=sale)
    complete(fulfillment, staff_user)
    fulfillment.refresh_from_db()
    assert fulfillment.state == "completed"

    # The review passes and the payment is captured: it is the sale's payment.
    sandbox.store.capture_payment(order_id)
    sync_order(live_link, order_id)
    sale.refresh_from_db()
    assert (sale.payment_state, sale.amount_paid, sale.balance) == ("paid", Decimal("25.00"), 0)


@pytest.mark.sandbox(tax_rate_bp=0, tax_inclusive=False)
def test_a_voided_authorisation_leaves_the_sale_owing_and_its_fulfilment_cannot_be_completed(
    sandbox, live_link, authorised_order, staff_user
):
    order_id = authorised_order
    sync_order(live_link, order_id)

    sandbox.store.void_payment(order_id)
    sync_order(live_link, order_id)

    # Nothing held, nothing taken: the customer owes the 25.00 again (the order itself is still open).
    sale = _sale(order_id)
    assert (sale.status, sale.payment_state, sale.amount_paid, sale.balance) == (
        "closed",
        "unpaid",
        0,
        Decimal("25.00"),
    )
    assert _payments(sale) == [("authorised", Decimal("0"), "bc-order-payment")]
    fulfillment = Fulfillment.objects.get(sale=sale)
    with pytest.raises(FulfillmentError, match="USD 25.00 owing"):
        complete(fulfillment, staff_user)


@pytest.mark.sandbox(tax_rate_bp=0, tax_inclusive=False)
def test_a_transaction_webhook_makes_the_next_sync_read_the_transactions(sandbox, live_link, authorised_order):
    order_id = authorised_order
    sync_order(live_link, order_id)
    payload = {
        "scope": "store/order/transaction/created",
        "store_id": str(live_link.store_id),
        "data": {"type": "transaction", "order_id": str(order_id), "transaction_id": "9", "transaction_type": "auth"},
        "hash": "a-transaction-webhook",
        "created_at": 1561479335,
        "producer": f"stores/{live_link.store_hash}",
    }

    webhook_accept(
        body=json.dumps(payload).encode(), headers={AUTH_HEADER: f"{live_link.pk}:{live_link.webhook_secret}"}
    )
    make_due(ORDER_SYNC)
    sync = sync_order(live_link, order_id)
    sync_order(live_link, order_id)  # read once for one webhook

    assert (sync.transaction_requests, sync.transactions_read) == (1, 1)
    assert _transaction_reads(sandbox, order_id) == 1
    # Still only authorised: the transactions say what the payment status said.
    assert _payments(_sale(order_id)) == [("authorised", Decimal("25.00"), "bc-order-payment")]


@pytest.mark.sandbox(tax_rate_bp=0, tax_inclusive=False)
def test_store_credit_beside_an_authorised_payment_is_counted_once_when_the_transactions_are_read(sandbox, live_link):
    # 2 × 12.50 = 25.00: 5.00 of it store credit, 20.00 authorised at the gateway, then captured.
    order_id = _place(sandbox, quantity=2, unit=12_5000, authorized=True, store_credit=5_0000)
    sync_order(live_link, order_id)
    sale = _sale(order_id)
    assert (sale.payment_state, sale.amount_paid) == ("authorised", Decimal("5.00"))

    sandbox.store.capture_payment(order_id)
    sync_order(live_link, order_id)

    sale.refresh_from_db()
    assert _payments(sale) == [
        ("authorised", Decimal("0"), "bc-order-payment"),
        ("payment", Decimal("20.00"), "bc-order-payment"),
        ("payment", Decimal("5.00"), "bc-store-credit"),
    ]
    assert (sale.payment_state, sale.amount_paid, sale.balance) == ("paid", Decimal("25.00"), 0)
