"""pos.services.sales.sale_create_in_store: a sale rung up at a register."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from integration.models import OrderSync
from pos.choices import Channel, MovementReason, PaymentState, ProductKind, SaleStatus
from pos.models import InventoryLevel, InventoryMovement, Sale
from pos.services.sales import InStoreLine, InStorePayment, sale_create_in_store
from tests import factories
from work.models import WorkItem

pytestmark = pytest.mark.django_db


@pytest.fixture
def cash(retailer):
    return factories.PaymentTypeFactory(retailer=retailer, name="Cash")


def _on_hand(product, outlet) -> int:
    level = InventoryLevel.objects.filter(product=product, outlet=outlet).first()
    return level.on_hand if level else 0


def test_a_sale_is_closed_paid_numbered_and_moves_stock_once_per_line(retailer, register, cash, staff_user):
    shoe = factories.ProductFactory(retailer=retailer, retail_price=Decimal("129.0000"))
    sock = factories.ProductFactory(retailer=retailer, retail_price=Decimal("18.5000"), sku=None)
    sale = sale_create_in_store(
        register=register,
        lines=[InStoreLine(shoe.pk, 1), InStoreLine(sock.pk, 3)],
        payments=[InStorePayment(cash.pk, Decimal("184.50"))],
        user=staff_user,
    )
    heard = [sorted(tuple(c) for c in w.payload["changes"]) for w in WorkItem.objects.filter(kind="pos.stock_moved")]

    sale.refresh_from_db()
    assert (sale.channel, sale.status, sale.payment_state, sale.invoice_number) == (
        Channel.IN_STORE,
        SaleStatus.CLOSED,
        PaymentState.PAID,
        1,
    )
    assert (sale.outlet, sale.register, sale.user, sale.external_order_id) == (
        register.outlet,
        register,
        staff_user,
        "",
    )
    assert (sale.total_inc_tax, sale.total_ex_tax, sale.total_tax, sale.amount_paid) == (
        Decimal("184.5000"),
        Decimal("184.5000"),
        Decimal("0"),
        Decimal("184.5000"),
    )
    lines = list(sale.lines.values_list("position", "name", "sku", "quantity", "unit_price_inc_tax", "total_inc_tax"))
    assert lines == [
        (1, shoe.name, shoe.sku, 1, Decimal("129.0000"), Decimal("129.0000")),
        (2, sock.name, "", 3, Decimal("18.5000"), Decimal("55.5000")),
    ]
    assert list(sale.payments.values_list("payment_type__name", "amount")) == [("Cash", Decimal("184.5000"))]
    assert (_on_hand(shoe, register.outlet), _on_hand(sock, register.outlet)) == (-1, -3)
    movements = InventoryMovement.objects.filter(sale=sale).order_by("source_key")
    assert list(movements.values_list("source_key", "line_key", "quantity", "reason")) == [
        (f"pos:sale:{sale.pk}:1:sale:{shoe.pk}", "1", -1, MovementReason.SALE),
        (f"pos:sale:{sale.pk}:2:sale:{sock.pk}", "2", -3, MovementReason.SALE),
    ]
    assert heard == [sorted([(shoe.pk, register.outlet_id), (sock.pk, register.outlet_id)])]


def test_the_next_sale_gets_the_next_invoice_number(retailer, register, cash):
    product = factories.ProductFactory(retailer=retailer)
    numbers = [
        sale_create_in_store(
            register=register, lines=[InStoreLine(product.pk, 1)], payments=[], user=None
        ).invoice_number
        for _ in range(2)
    ]

    assert numbers == [1, 2]


def test_charges_and_untracked_products_are_sold_without_moving_stock(retailer, register):
    wrap = factories.ProductFactory(retailer=retailer, kind=ProductKind.WRAPPING, tracks_inventory=False)

    sale = sale_create_in_store(register=register, lines=[InStoreLine(wrap.pk, 2)], payments=[], user=None)

    assert sale.lines.count() == 1
    assert not InventoryMovement.objects.exists()


@pytest.mark.parametrize(
    ("paid", "state"),
    [
        (None, PaymentState.UNPAID),
        (Decimal("5.00"), PaymentState.PARTIALLY_PAID),
        (Decimal("20.00"), PaymentState.PAID),
    ],
)
def test_the_payment_state_follows_the_payments(retailer, register, cash, paid, state):
    product = factories.ProductFactory(retailer=retailer, retail_price=Decimal("10.0000"))
    payments = [InStorePayment(cash.pk, paid)] if paid else []

    sale = sale_create_in_store(register=register, lines=[InStoreLine(product.pk, 2)], payments=payments, user=None)

    assert sale.payment_state == state
    assert sale.balance == Decimal("20.0000") - (paid or 0)


def test_a_sale_split_over_two_payment_types_is_paid(retailer, register, cash):
    card = factories.PaymentTypeFactory(retailer=retailer, name="Card")
    product = factories.ProductFactory(retailer=retailer, retail_price=Decimal("10.0000"))

    sale = sale_create_in_store(
        register=register,
        lines=[InStoreLine(product.pk, 1)],
        payments=[InStorePayment(cash.pk, Decimal("4")), InStorePayment(card.pk, Decimal("6"))],
        user=None,
    )

    assert sale.payment_state == PaymentState.PAID
    assert sale.payments.count() == 2


def _refused(register, lines, payments=(), **kwargs) -> list[str]:
    with pytest.raises(ValidationError) as error:
        sale_create_in_store(register=register, lines=lines, payments=list(payments), user=None, **kwargs)
    assert not Sale.objects.exists()
    assert not InventoryMovement.objects.exists()
    return error.value.messages


def test_an_empty_sale_is_refused(register):
    assert _refused(register, []) == ["Add at least one product to the sale."]


def test_an_inactive_product_is_refused(retailer, register):
    product = factories.ProductFactory(retailer=retailer, name="Old Hat", active=False)

    assert _refused(register, [InStoreLine(product.pk, 1)]) == [
        "“Old Hat” is inactive and cannot be sold. An admin can reactivate it in the catalog."
    ]


def test_quantities_below_one_are_refused(retailer, register):
    product = factories.ProductFactory(retailer=retailer, name="Sock")

    assert _refused(register, [InStoreLine(product.pk, 0)]) == [
        "Quantities must be whole numbers of at least 1 (“Sock”: 0)."
    ]


def test_another_retailers_product_payment_type_and_customer_are_refused(retailer, register, other_retailer, cash):
    product = factories.ProductFactory(retailer=retailer)
    foreign_product = factories.ProductFactory(retailer=other_retailer)
    foreign_payment = factories.PaymentTypeFactory(retailer=other_retailer)

    assert "not in this retailer's catalog" in _refused(register, [InStoreLine(foreign_product.pk, 1)])[0]
    assert (
        "payment types"
        in _refused(register, [InStoreLine(product.pk, 1)], [InStorePayment(foreign_payment.pk, Decimal("1"))])[0]
    )
    customer = factories.CustomerFactory(retailer=other_retailer)
    assert "another retailer" in _refused(register, [InStoreLine(product.pk, 1)], customer=customer)[0]


def test_inactive_payment_types_zero_payments_and_overpayment_are_refused(retailer, register, cash):
    product = factories.ProductFactory(retailer=retailer, retail_price=Decimal("10.0000"))
    retired = factories.PaymentTypeFactory(retailer=retailer, active=False)
    line = [InStoreLine(product.pk, 1)]

    assert "payment types" in _refused(register, line, [InStorePayment(retired.pk, Decimal("1"))])[0]
    assert _refused(register, line, [InStorePayment(cash.pk, Decimal("0"))]) == [
        "Payment amounts must be more than zero."
    ]
    assert (
        "more than the sale total (10.00)" in _refused(register, line, [InStorePayment(cash.pk, Decimal("10.01"))])[0]
    )


def test_a_customer_of_the_retailer_is_attached(retailer, register):
    customer = factories.CustomerFactory(retailer=retailer)
    product = factories.ProductFactory(retailer=retailer)

    sale = sale_create_in_store(
        register=register, lines=[InStoreLine(product.pk, 1)], payments=[], user=None, customer=customer
    )

    assert sale.customer == customer


def test_an_in_store_sale_is_never_queued_for_bigcommerce(retailer, register, django_capture_on_commit_callbacks):
    factories.StoreLinkFactory(retailer=retailer, outlet=register.outlet, register=register)
    product = factories.ProductFactory(retailer=retailer)

    with django_capture_on_commit_callbacks(execute=True):
        sale = sale_create_in_store(register=register, lines=[InStoreLine(product.pk, 1)], payments=[], user=None)

    assert (sale.channel, sale.external_order_id) == (Channel.IN_STORE, "")
    assert not OrderSync.objects.filter(sale=sale).exists()
    # Only the record that stock moved (the link pushes the new level): nothing else is sent for it.
    assert set(WorkItem.objects.values_list("kind", flat=True)) == {"pos.stock_moved"}


@pytest.mark.parametrize("inactive", ["register", "outlet"])
def test_an_inactive_register_or_outlet_cannot_sell(retailer, register, staff_user, inactive):
    row = register if inactive == "register" else register.outlet
    row.active = False
    row.save()
    shoe = factories.ProductFactory(retailer=retailer)

    with pytest.raises(ValidationError) as excinfo:
        sale_create_in_store(register=register, lines=[InStoreLine(shoe.pk, 1)], payments=[], user=staff_user)

    assert "is inactive and cannot sell" in excinfo.value.messages[0]
    assert not Sale.objects.exists()
