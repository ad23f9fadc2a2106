"""Sale services shared by every channel."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection

from pos.choices import PaymentState
from pos.models import Retailer


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


def payment_state_for(*, total: Decimal, paid: Decimal, refunded: Decimal) -> str:
    """A sale's payment state from its total, the payments received and the refunds given back."""
    if refunded > 0:
        return PaymentState.REFUNDED if refunded >= paid else PaymentState.PARTIALLY_REFUNDED
    if paid <= 0:
        return PaymentState.PAID if total <= 0 else PaymentState.UNPAID
    return PaymentState.PAID if paid >= total else PaymentState.PARTIALLY_PAID
