"""Order money as BigCommerce has it (issue 14, items 4, 5 and 7), synced from the sandbox store over HTTP: order
fees as sale lines, orders in another currency, and payments that follow the V3 transactions. Every expected
figure is worked out by hand in the test, never by the code's own formula."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integration.models import SyncLogEntry
from pos.choices import ProductKind
from pos.models import Product, Sale
from tests.work_helpers import sync_order

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
