"""The order generator: order N of seed S is always the same order, whatever else was generated.

Each order draws from its own `random.Random(f"{seed}:{index}")`, so 100,000 orders need no memory beyond the
orders themselves and any one can be regenerated alone. The first orders follow `COVERAGE`, a fixed list that
puts every case the product must handle into even a small store: every status of the table, guests and
registered customers, 0 to N lines (and one over BigCommerce's 50 inline lines), variants with options, lines
without SKU, shipping, handling and gift wrapping, coupons and manual discounts, orders priced with and
without tax, two destinations, in-store pickup, orders edited after checkout, cancellations, declined payments,
full and partial refunds. Lines of products deleted later come from the catalog (`DELETED_PRODUCT_INDEXES`).
After `COVERAGE`, the mix is random with realistic weights.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.catalog import COUPONS, ORDER_SOURCES, PAYMENT_METHODS
from sandbox.records import (
    AUTH_HELD,
    NO_CONSIGNMENTS,
    PICKUP,
    PICKUP_SECOND_LOCATION,
    SLOT_SECOND_ADDRESS,
    TAX_INCLUSIVE,
    UNITS,
    LineRecord,
    OrderRecord,
    ProductRecord,
)

# status id -> weight, for orders after the coverage list.
STATUS_WEIGHTS = {11: 30, 10: 15, 2: 12, 7: 8, 9: 5, 3: 3, 8: 3, 0: 3, 1: 3, 4: 4, 14: 4, 5: 4, 6: 2, 12: 2, 13: 2}
SHIPPING_COSTS = (0, 4_9500, 5_9900, 9_9500, 14_5000)
MESSAGES = (
    "Leave at the door, s'il vous plaît",
    "Bitte klingeln 🔔",
    "Gift for my niece – no invoice in the box",
    "配達前に電話してください",
)
STAFF_NOTES_EDITED = "Edited after checkout: quantities changed"

# Every case in the first orders of any seed (each entry overrides the random draw of one order).
COVERAGE: tuple[dict, ...] = (
    {"status_id": 11, "guest": False, "lines": 3, "coupon": True, "shipping": 9_9500},
    {"status_id": 11, "guest": True, "lines": 2, "handling": 2_5000, "wrapping": True},
    {"status_id": 0, "guest": True, "lines": 0},
    {"status_id": 1, "guest": False, "lines": 1},
    {"status_id": 7, "guest": True, "lines": 2, "payment": 4},
    {"status_id": 9, "guest": False, "lines": 4, "discount": True},
    {"status_id": 8, "guest": False, "lines": 2, "pickup": True},
    {"status_id": 3, "guest": False, "lines": 3, "two_addresses": True},
    {"status_id": 2, "guest": True, "lines": 1},
    {"status_id": 10, "guest": False, "lines": 2, "tax_flip": True},
    {"status_id": 4, "guest": False, "lines": 2, "refund": "full"},
    {"status_id": 14, "guest": True, "lines": 3, "refund": "partial"},
    {"status_id": 5, "guest": False, "lines": 2},
    {"status_id": 6, "guest": True, "lines": 1, "payment": 0},
    {"status_id": 12, "guest": False, "lines": 1},
    {"status_id": 13, "guest": False, "lines": 2},
    {"status_id": 11, "guest": False, "lines": 2, "deleted_product": True},
    {"status_id": 11, "guest": True, "lines": 1, "no_sku": True},
    {"status_id": 11, "guest": False, "lines": 2, "edited": True},
    {"status_id": 11, "guest": False, "lines": 56},
)


@dataclass(slots=True)
class Generated:
    """A generated order, its texts (the store interns them) and the refund to book ("full", "partial", None)."""

    record: OrderRecord
    refund: str | None = None
    message: str = ""
    staff_notes: str = ""


class OrderGenerator:
    """Makes orders from the store's catalog, customers and address pool."""

    def __init__(
        self,
        *,
        seed: int,
        products: list[ProductRecord],
        deleted_later: set[int],
        customer_ids: list[int],
        customer_address: Callable[[int], int],
        address_count: int,
        tax_inclusive: bool,
    ):
        self.seed = seed
        self.customer_ids = customer_ids
        self.customer_address = customer_address
        self.address_count = address_count
        self.tax_inclusive = tax_inclusive
        live = [p for p in products if not p.deleted]
        self.variants = [(p, v) for p in live for v in p.variants if p.id not in deleted_later]
        # Products the store deletes once the history is generated: their lines outlive them.
        self.deleted = [(p, v) for p in live for v in p.variants if p.id in deleted_later]
        self.no_sku = [(p, v) for p, v in self.variants if not v.sku]
        self.with_options = [(p, v) for p, v in self.variants if v.options]

    def make(
        self, index: int, *, order_id: int, created: int, modified: int, next_line_id: Callable[[], int], **overrides
    ) -> Generated:
        """Order `index` of this seed, with id `order_id`. `overrides` are the keys of a `COVERAGE` entry."""
        rng = random.Random(f"{self.seed}:{index}")
        spec = {**(COVERAGE[index] if index < len(COVERAGE) else {}), **overrides}
        status_id = spec.get("status_id")
        if status_id is None:
            status_id = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
        guest = spec["guest"] if "guest" in spec else rng.random() < 0.3
        customer_id = spec.get("customer_id")
        if customer_id is None:
            customer_id = 0 if guest or not self.customer_ids else rng.choice(self.customer_ids)
        billing = self.customer_address(customer_id) if customer_id else rng.randrange(self.address_count)
        pickup = spec.get("pickup", status_id == 8 or rng.random() < 0.02)
        flags = (TAX_INCLUSIVE if self.tax_inclusive != bool(spec.get("tax_flip", rng.random() < 0.05)) else 0) | (
            PICKUP if pickup else 0
        )
        if pickup and int(spec.get("pickup_location", 1)) == 2:
            flags |= PICKUP_SECOND_LOCATION
        if spec.get("without_consignments"):
            flags |= NO_CONSIGNMENTS
        record = OrderRecord(
            id=order_id,
            customer_id=customer_id,
            status_id=status_id,
            created=created,
            modified=modified,
            flags=flags,
            billing=billing,
            ship_address=billing if rng.random() < 0.7 else rng.randrange(self.address_count),
            payment=spec.get("payment", rng.randrange(len(PAYMENT_METHODS))),
            channel_id=1,
            source=rng.randrange(len(ORDER_SOURCES)),
        )
        count = spec.get("lines")
        if count is None:
            count = rng.choices((0, 1, 2, 3, 4, 6, 8, 55), weights=(2, 28, 30, 20, 10, 6, 4, 0.05))[0]
            if status_id in (4, 14):
                count = max(count, 1)  # something to refund
        pool = self.variants
        if spec.get("no_sku") and self.no_sku:
            pool = self.no_sku
        for k in range(count):
            product, variant = rng.choice(self.with_options if k == 0 and self.with_options else pool)
            if self.deleted and k == 0 and spec.get("deleted_product", rng.random() < 0.03):
                product, variant = rng.choice(self.deleted)
            unit = variant.price if variant.price is not None else product.price
            record.lines.append(
                LineRecord(
                    id=next_line_id(),
                    product_id=product.id,
                    variant_id=variant.id,
                    quantity=rng.choice((1, 1, 1, 2, 2, 3)),
                    unit_price=unit,
                    wrapping=3 * UNITS if spec.get("wrapping", rng.random() < 0.04) and k == 0 else 0,
                )
            )
        if not pickup:
            record.shipping = spec.get("shipping", rng.choice(SHIPPING_COSTS))
            if spec.get("two_addresses", rng.random() < 0.04) and len(record.lines) >= 2:
                record.ship_address2 = rng.randrange(self.address_count)
                for line in record.lines[1::2]:
                    line.slot = SLOT_SECOND_ADDRESS
        record.handling = spec.get("handling", 2_5000 if rng.random() < 0.08 else 0)
        subtotal = sum(line.unit_price * line.quantity for line in record.lines)
        if spec.get("coupon", rng.random() < 0.15) and subtotal:
            record.coupon = rng.randrange(len(COUPONS))
            record.coupon_amount = min(subtotal // 10 // 100 * 100 or UNITS, subtotal // 2)
        if spec.get("discount", rng.random() < 0.05) and subtotal:
            record.discount = min(5 * UNITS, (subtotal - record.coupon_amount) // 4)
        record.store_credit = int(spec.get("store_credit", 0))
        record.gift_certificate = int(spec.get("gift_certificate", 0))
        record.authorized = AUTH_HELD if spec.get("authorized") else 0
        record.fee = int(spec.get("fee", 0))
        generated = Generated(record, spec.get("refund") or {4: "full", 14: "partial"}.get(status_id))
        if rng.random() < 0.1:
            generated.message = rng.choice(MESSAGES)
        _apply_status_effects(record, rng)
        if spec.get("edited", rng.random() < 0.04) and record.lines:
            record.lines[0].quantity += 1
            record.modified = max(record.modified, created + rng.randint(2, 48) * 3600)
            generated.staff_notes = STAFF_NOTES_EDITED
        return generated


def _apply_status_effects(record: OrderRecord, rng: random.Random) -> None:
    """What a status implies for shipped quantities and dates."""
    if record.status_id in (2, 10) and not record.flags & PICKUP:
        for line in record.lines:
            line.shipped = line.quantity
        record.shipped_at = record.created + rng.randint(1, 72) * 3600
        record.modified = max(record.modified, record.shipped_at)
    elif record.status_id == 3 and record.lines:
        record.lines[0].shipped = record.lines[0].quantity
        record.modified = max(record.modified, record.created + rng.randint(1, 48) * 3600)
    elif record.status_id in (4, 5, 6, 12, 13, 14):
        record.modified = max(record.modified, record.created + rng.randint(1, 96) * 3600)
