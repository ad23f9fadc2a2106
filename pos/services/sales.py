"""Sale services: invoice numbers (every channel) and the in-store sale rung up at a register."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from pos.choices import Channel, MovementReason, PaymentState, SaleStatus
from pos.models import Customer, PaymentType, Product, Register, Retailer, Sale, SaleLine, SalePayment, User
from pos.services.stock import StockMove, stock_move_many


def invoice_numbers_allocate(*, retailer_id: int, count: int = 1) -> range:
    """Hand out the next `count` invoice numbers of a retailer, sequential and never duplicated.

    Call it inside the transaction that creates the sales: the retailer row stays locked until that transaction
    ends, so concurrent callers queue for it and a rolled-back sale gives its number back (no gaps).
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    table = connection.ops.quote_name(Retailer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_invoice_number = last_invoice_number + %s WHERE id = %s "
            f"RETURNING last_invoice_number",
            [count, retailer_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise Retailer.DoesNotExist(f"Retailer {retailer_id} does not exist")
    last = row[0]
    return range(last - count + 1, last + 1)


@dataclass(frozen=True)
class InStoreLine:
    """A product and how many of it the customer takes."""

    product_id: int
    quantity: int


@dataclass(frozen=True)
class InStorePayment:
    """Money taken for the sale with one payment type."""

    payment_type_id: int
    amount: Decimal


SALE_EMPTY = "Add at least one product to the sale."
SALE_QUANTITY = "Quantities must be whole numbers of at least 1 (“%(name)s”: %(quantity)s)."
SALE_INACTIVE = "“%(name)s” is inactive and cannot be sold. An admin can reactivate it in the catalog."
SALE_UNKNOWN_PRODUCT = "A product in the sale is not in this retailer's catalog."
SALE_UNKNOWN_PAYMENT = "Choose one of this retailer's active payment types."
SALE_PAYMENT_AMOUNT = "Payment amounts must be more than zero."
SALE_OVERPAID = (
    "The payments (%(paid)s) are more than the sale total (%(total)s). Enter the amount kept, not the cash handed "
    "over: give the difference back as change."
)
SALE_CUSTOMER = "The customer belongs to another retailer."
SALE_REGISTER_INACTIVE = (
    "The register “%(name)s” (or its outlet) is inactive and cannot sell. Choose another register, or ask an admin "
    "to reactivate it in Settings › Outlets and registers."
)
FOUR_PLACES = Decimal("0.0001")


def payment_state_for(*, total: Decimal, paid: Decimal, refunded: Decimal = Decimal("0")) -> str:
    """A sale's payment state from its total, the payments received and the refunds given back."""
    if refunded > 0:
        return PaymentState.REFUNDED if refunded >= paid else PaymentState.PARTIALLY_REFUNDED
    if paid <= 0:
        return PaymentState.PAID if total <= 0 else PaymentState.UNPAID
    return PaymentState.PAID if paid >= total else PaymentState.PARTIALLY_PAID


@transaction.atomic
def sale_create_in_store(
    *,
    register: Register,
    lines: Sequence[InStoreLine],
    payments: Sequence[InStorePayment],
    user: User | None,
    customer: Customer | None = None,
) -> Sale:
    """Ring up a sale at a register: a closed in-store sale with its lines and payments, stock out of the outlet.

    Prices: there is no tax model yet, so each line's unit price is the product's retail price, taken as
    tax-inclusive, and tax is 0 (ex-tax equals inc-tax). Tracked products leave the register's outlet through the
    ledger, one movement per line with the source key `pos:sale:<sale id>:<line position>`, so the stock moves
    exactly once. The payment state follows the payments (less than the total leaves a balance owing); paying more
    than the total is refused. In-store sales are never sent to BigCommerce: nothing here enqueues anything.
    """
    retailer_id = register.retailer_id
    if not lines:
        raise ValidationError(SALE_EMPTY)
    if not Register.objects.filter(pk=register.pk, active=True, outlet__active=True).exists():
        raise ValidationError(SALE_REGISTER_INACTIVE % {"name": register.name})
    if customer is not None and customer.retailer_id != retailer_id:
        raise ValidationError(SALE_CUSTOMER)
    products = {p.pk: p for p in Product.objects.for_retailer(retailer_id).filter(pk__in=[x.product_id for x in lines])}
    payment_types = {
        t.pk: t
        for t in PaymentType.objects.for_retailer(retailer_id).filter(
            pk__in=[x.payment_type_id for x in payments], active=True
        )
    }
    errors = []
    for line in lines:
        product = products.get(line.product_id)
        if product is None:
            errors.append(SALE_UNKNOWN_PRODUCT)
            continue
        if not isinstance(line.quantity, int) or line.quantity < 1:
            errors.append(SALE_QUANTITY % {"name": product.name, "quantity": line.quantity})
        if not product.active:
            errors.append(SALE_INACTIVE % {"name": product.name})
    if any(p.payment_type_id not in payment_types for p in payments):
        errors.append(SALE_UNKNOWN_PAYMENT)
    if any(p.amount <= 0 for p in payments):
        errors.append(SALE_PAYMENT_AMOUNT)
    if errors:
        raise ValidationError(list(dict.fromkeys(errors)))

    total = sum((products[x.product_id].retail_price * x.quantity for x in lines), Decimal("0")).quantize(FOUR_PLACES)
    paid = sum((p.amount for p in payments), Decimal("0")).quantize(FOUR_PLACES)
    if paid > total:
        raise ValidationError(SALE_OVERPAID % {"paid": f"{paid:.2f}", "total": f"{total:.2f}"})

    retailer = Retailer.objects.only("currency").get(pk=retailer_id)
    sale = Sale.objects.create(
        retailer_id=retailer_id,
        outlet_id=register.outlet_id,
        register=register,
        customer=customer,
        user=user,
        channel=Channel.IN_STORE,
        invoice_number=invoice_numbers_allocate(retailer_id=retailer_id)[0],
        status=SaleStatus.CLOSED,
        payment_state=payment_state_for(total=total, paid=paid),
        currency=retailer.currency,
        total_ex_tax=total,
        total_tax=Decimal("0"),
        total_inc_tax=total,
        amount_paid=paid,
    )
    sale_lines = []
    for position, line in enumerate(lines, start=1):
        product = products[line.product_id]
        line_total = (product.retail_price * line.quantity).quantize(FOUR_PLACES)
        sale_lines.append(
            SaleLine(
                sale=sale,
                product=product,
                position=position,
                name=product.name,
                sku=product.sku or "",
                quantity=line.quantity,
                unit_price_ex_tax=product.retail_price,
                unit_price_inc_tax=product.retail_price,
                total_ex_tax=line_total,
                total_tax=Decimal("0"),
                total_inc_tax=line_total,
            )
        )
    SaleLine.objects.bulk_create(sale_lines)
    SalePayment.objects.bulk_create(
        SalePayment(sale=sale, payment_type=payment_types[p.payment_type_id], amount=p.amount.quantize(FOUR_PLACES))
        for p in payments
    )
    stock_move_many(
        retailer_id=retailer_id,
        moves=[
            StockMove(
                product_id=line.product_id,
                outlet_id=register.outlet_id,
                quantity=-line.quantity,
                reason=MovementReason.SALE,
                source_key=f"pos:sale:{sale.pk}:{line.position}",
                sale_id=sale.pk,
                user_id=user.pk if user else None,
            )
            for line in sale_lines
            if line.product.tracks_inventory
        ],
    )
    return sale
