"""An order's amounts, derived from its record: the sandbox stores entered prices and computes the rest.

Prices are entered with or without tax (the order's `is_tax_inclusive_pricing`), at the store's one tax rate.
The invariants every rendered order satisfies, so tests can rely on them:

    subtotal_* = sum of the lines' total_*             (ex, inc, tax)
    total_tax  = subtotal_tax + shipping_tax + handling_tax + wrapping_tax + fees' cost_tax
    total_ex   = subtotal_ex + shipping_ex + handling_ex + wrapping_ex + fees' cost_ex_tax - coupon_discount
                 - discount_amount
    total_inc  = total_ex + total_tax
    as BigCommerce reports them: `coupon_discount` the coupon, `discount_amount` the other (manual) discount, the two
    never overlapping (orders.v2's example: 67.84 + 12.00 − 5.00 − 5.00 = 69.84); both are spread over the lines as
    `applied_discounts`
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.records import LineRecord, OrderRecord, split_tax


@dataclass(frozen=True, slots=True)
class Triple:
    ex: int
    inc: int
    tax: int


@dataclass(frozen=True, slots=True)
class LineAmounts:
    unit: Triple
    total: Triple
    wrapping: Triple
    coupon_share: int
    discount_share: int


@dataclass(frozen=True, slots=True)
class OrderTotals:
    lines: tuple[LineAmounts, ...]
    subtotal: Triple
    shipping: Triple
    handling: Triple
    wrapping: Triple
    fee: Triple
    discount_amount: int
    total: Triple


def _triple(entered: int, inclusive: bool, rate_bp: int) -> Triple:
    return Triple(*split_tax(entered, inclusive, rate_bp))


def _spread(amount: int, weights: list[int]) -> list[int]:
    """`amount` spread over `weights` proportionally; the last share takes the rounding remainder."""
    total = sum(weights)
    if not amount or not total:
        return [0] * len(weights)
    shares = [amount * w // total for w in weights[:-1]]
    return [*shares, amount - sum(shares)]


def order_totals(record: OrderRecord, rate_bp: int) -> OrderTotals:
    inclusive = record.tax_inclusive
    line_totals = [_triple(line.unit_price * line.quantity, inclusive, rate_bp) for line in record.lines]
    weights = [t.ex for t in line_totals]
    coupons = _spread(record.coupon_amount, weights)
    discounts = _spread(record.discount, weights)
    lines = tuple(
        LineAmounts(
            unit=_triple(line.unit_price, inclusive, rate_bp),
            total=total,
            wrapping=_triple(line.wrapping, inclusive, rate_bp),
            coupon_share=coupon,
            discount_share=discount,
        )
        for line, total, coupon, discount in zip(record.lines, line_totals, coupons, discounts, strict=True)
    )
    subtotal = Triple(*(sum(getattr(la.total, k) for la in lines) for k in ("ex", "inc", "tax")))
    wrapping = Triple(*(sum(getattr(la.wrapping, k) for la in lines) for k in ("ex", "inc", "tax")))
    shipping = _triple(record.shipping, inclusive, rate_bp)
    handling = _triple(record.handling, inclusive, rate_bp)
    fee = _triple(record.fee, inclusive, rate_bp)
    discount_amount = record.coupon_amount + record.discount
    tax = subtotal.tax + shipping.tax + handling.tax + wrapping.tax + fee.tax
    ex = subtotal.ex + shipping.ex + handling.ex + wrapping.ex + fee.ex - discount_amount
    total = Triple(ex, ex + tax, tax)
    return OrderTotals(lines, subtotal, shipping, handling, wrapping, fee, discount_amount, total)


def line_unit_inc(line: LineRecord, inclusive: bool, rate_bp: int) -> int:
    """What one unit of the line cost the customer, tax included (refund amounts)."""
    return split_tax(line.unit_price, inclusive, rate_bp)[1]
