"""pos.services.sales: invoice numbers and sales_write, the one writer of sales."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from pos.choices import MovementReason, PaymentKind, PaymentState, SaleStatus
from pos.models import InventoryLevel, InventoryMovement, Register, Sale
from pos.services.sales import LineSpec, PaymentSpec, SaleSpec, invoice_numbers_allocate, sales_write
from tests import factories
from tests.concurrency import run_concurrently

pytestmark = pytest.mark.django_db


def test_invoice_numbers_are_sequential_per_retailer(retailer, other_retailer):
    assert list(invoice_numbers_allocate(retailer_id=retailer.pk)) == [1]
    assert list(invoice_numbers_allocate(retailer_id=retailer.pk, count=3)) == [2, 3, 4]
    assert list(invoice_numbers_allocate(retailer_id=other_retailer.pk)) == [1]


def test_a_rolled_back_sale_gives_its_number_back(retailer):
    with pytest.raises(RuntimeError), transaction.atomic():
        invoice_numbers_allocate(retailer_id=retailer.pk)
        raise RuntimeError("sale failed")

    assert list(invoice_numbers_allocate(retailer_id=retailer.pk)) == [1]


def _create_sale(register_id):
    """Runs in its own process: one sale with the next invoice number."""
    register = Register.objects.select_related("outlet").get(pk=register_id)
    with transaction.atomic():
        number = invoice_numbers_allocate(retailer_id=register.retailer_id)[0]
        sale = Sale.objects.create(
            retailer_id=register.retailer_id, outlet=register.outlet, register=register, invoice_number=number
        )
    return sale.invoice_number


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_eight_concurrent_sales_get_eight_distinct_consecutive_invoice_numbers():
    register = factories.RegisterFactory()

    numbers = run_concurrently(_create_sale, [(register.pk,)] * 8)

    assert sorted(numbers) == list(range(1, 9))
    assert sorted(Sale.objects.values_list("invoice_number", flat=True)) == list(range(1, 9))


# ---------------------------------------------------------------- sales_write: the one writer of sales


def _line(product, quantity, price="10.00", key=None) -> LineSpec:
    price = Decimal(price)
    total = price * quantity
    return LineSpec(
        key=key or str(product.pk),
        product=product,
        name=product.name,
        quantity=quantity,
        unit_price_ex_tax=price,
        unit_price_inc_tax=price,
        total_ex_tax=total,
        total_tax=Decimal("0"),
        total_inc_tax=total,
    )


def _on_hand(product, outlet) -> int:
    level = InventoryLevel.objects.filter(product=product, outlet=outlet).first()
    return level.on_hand if level else 0


def _spec(register, lines, **kwargs) -> SaleSpec:
    kwargs.setdefault("source_prefix", "test:order:1")
    return SaleSpec(outlet_id=register.outlet_id, register_id=register.pk, lines=lines, **kwargs)


def test_a_sale_is_written_with_its_number_amounts_payment_state_and_ledger_moves(retailer, register):
    tee = factories.ProductFactory(retailer=retailer)
    card = factories.PaymentTypeFactory(retailer=retailer)

    [written] = sales_write(
        retailer_id=retailer.pk,
        specs=[_spec(register, [_line(tee, 3)], payments=[PaymentSpec(card, Decimal("20.00"), external_id="p1")])],
    )

    sale = Sale.objects.get(pk=written.sale.pk)
    assert (sale.invoice_number, sale.total_inc_tax, sale.amount_paid) == (1, Decimal("30"), Decimal("20"))
    assert sale.payment_state == PaymentState.PARTIALLY_PAID
    assert list(InventoryMovement.objects.values_list("source_key", "line_key", "quantity", "reason")) == [
        (f"test:order:1:{tee.pk}:sale:{tee.pk}", str(tee.pk), -3, MovementReason.SALE)
    ]
    assert _on_hand(tee, register.outlet) == -3


def test_an_edit_moves_only_the_difference_and_a_void_returns_the_rest_once(retailer, register):
    tee = factories.ProductFactory(retailer=retailer)
    [first] = sales_write(retailer_id=retailer.pk, specs=[_spec(register, [_line(tee, 3)])])

    for _ in range(2):  # a replay moves nothing more
        [edited] = sales_write(retailer_id=retailer.pk, specs=[_spec(register, [_line(tee, 5)], sale=first.sale)])
    assert _on_hand(tee, register.outlet) == -5
    assert edited.line_changes == [] and not edited.created
    for _ in range(2):
        [voided] = sales_write(
            retailer_id=retailer.pk,
            specs=[
                _spec(register, [_line(tee, 5)], sale=first.sale, status=SaleStatus.VOIDED, void_reason="Cancelled")
            ],
        )

    assert _on_hand(tee, register.outlet) == 0
    assert list(InventoryMovement.objects.order_by("pk").values_list("reason", "quantity")) == [
        (MovementReason.SALE, -3),
        (MovementReason.EDIT, -2),
        (MovementReason.VOID, 5),
    ]
    sale = Sale.objects.get(pk=first.sale.pk)
    assert (sale.status, sale.void_reason, sale.balance) == (SaleStatus.VOIDED, "Cancelled", Decimal("0"))


def test_an_edit_says_what_changed_and_keeps_removed_lines_at_zero(retailer, register):
    tee, cap = (
        factories.ProductFactory(retailer=retailer, name="Tee"),
        factories.ProductFactory(retailer=retailer, name="Cap"),
    )
    [first] = sales_write(retailer_id=retailer.pk, specs=[_spec(register, [_line(tee, 1), _line(cap, 1)])])

    [edited] = sales_write(retailer_id=retailer.pk, specs=[_spec(register, [_line(tee, 2)], sale=first.sale)])

    assert edited.line_changes == ["Tee: 1 → 2", "removed Cap"]
    assert list(first.sale.lines.values_list("name", "quantity")) == [("Tee", 2), ("Cap", 0)]
    assert (_on_hand(tee, register.outlet), _on_hand(cap, register.outlet)) == (-2, 0)


def test_payments_are_recorded_once_follow_their_amount_and_are_never_deleted(retailer, register):
    tee = factories.ProductFactory(retailer=retailer)
    card = factories.PaymentTypeFactory(retailer=retailer)
    paid = PaymentSpec(card, Decimal("30.00"), external_id="order")
    refund = PaymentSpec(card, Decimal("-10.00"), kind=PaymentKind.REFUND, external_id="refund-1")
    [first] = sales_write(retailer_id=retailer.pk, specs=[_spec(register, [_line(tee, 3)], payments=[paid])])

    [refunded] = sales_write(
        retailer_id=retailer.pk, specs=[_spec(register, [_line(tee, 3)], sale=first.sale, payments=[paid, refund])]
    )
    [again] = sales_write(retailer_id=retailer.pk, specs=[_spec(register, [_line(tee, 3)], sale=first.sale)])

    assert refunded.new_refunds == Decimal("10.00") and again.new_payments == []
    sale = Sale.objects.get(pk=first.sale.pk)
    assert (sale.amount_paid, sale.amount_refunded) == (Decimal("30"), Decimal("10"))
    assert sale.payment_state == PaymentState.PARTIALLY_REFUNDED
    assert sale.payments.count() == 2


def test_a_batch_of_sales_costs_the_same_statements_as_one(retailer, register):
    products = [factories.ProductFactory(retailer=retailer) for _ in range(20)]
    card = factories.PaymentTypeFactory(retailer=retailer)

    def specs(n, offset):
        return [
            _spec(
                register,
                [_line(p, 1) for p in products[:5]],
                payments=[PaymentSpec(card, Decimal("50"), external_id="p")],
                source_prefix=f"test:order:{offset + i}",
            )
            for i in range(n)
        ]

    with CaptureQueriesContext(connection) as one:
        sales_write(retailer_id=retailer.pk, specs=specs(1, 0))
    with CaptureQueriesContext(connection) as many:
        sales_write(retailer_id=retailer.pk, specs=specs(20, 100))

    assert len(many) == len(one)
    assert list(Sale.objects.order_by("invoice_number").values_list("invoice_number", flat=True)) == list(range(1, 22))


@pytest.mark.postgres
def test_the_batch_form_writes_what_the_row_form_writes_and_edits_the_same(retailer, register):
    tee, mug = factories.ProductFactory(retailer=retailer), factories.ProductFactory(retailer=retailer)
    card = factories.PaymentTypeFactory(retailer=retailer)

    def specs(prefix):
        return [
            _spec(
                register,
                [_line(tee, i + 1), _line(mug, 2, price="3.3333")],
                payments=[PaymentSpec(card, Decimal("5.00"), external_id=f"{prefix}{i}")],
                source_prefix=f"{prefix}:{i}",
                external_order_id=f"{prefix}{i}",
            )
            for i in range(3)
        ]

    rows = [
        sales_write(retailer_id=retailer.pk, specs=specs("r")),
        sales_write(retailer_id=retailer.pk, specs=specs("s"), as_set=True),
    ]

    def stored(written):
        ids = [w.sale.pk for w in written]
        sales = Sale.objects.filter(pk__in=ids).order_by("pk")
        return [
            (
                s.total_inc_tax,
                s.amount_paid,
                s.payment_state,
                s.status,
                [(x.product_id, x.quantity, x.total_inc_tax, x.position) for x in s.lines.order_by("position")],
                [(p.kind, p.amount) for p in s.payments.all()],
            )
            for s in sales
        ]

    assert stored(rows[1]) == stored(rows[0])
    assert all(line.pk is not None for w in rows[1] for line in w.new_lines)
    # and a sale written as a set is edited like any other
    [edited] = sales_write(
        retailer_id=retailer.pk, specs=[_spec(register, [_line(tee, 9)], sale=rows[1][0].sale, source_prefix="s:0")]
    )
    assert edited.line_changes and Sale.objects.get(pk=edited.sale.pk).total_inc_tax == Decimal("90")
