"""What the sandbox store keeps, and how orders stay small.

Money is an int of 1/10,000 of the currency unit (BigCommerce's 4 decimals), so sums are exact and cheap.
An order is packed into one `array('q')` of 64-bit ints (header fields, then 9 per line): about 460 bytes for
an order of three lines, instead of the several kilobytes of a dict per order and per line. Strings live in
shared pools (addresses, texts, coupon codes, payment methods) and orders hold their indexes. Everything an
order's JSON shows is derived from these fields when it is rendered.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

UNITS = 10_000  # money: 1/10,000 of the currency unit
RATE_UNITS = 10**10  # exchange rates: BigCommerce's 10 decimals ("1.0000000000")

# Order flags (bits).
TAX_INCLUSIVE = 1  # prices were entered including tax
ARCHIVED = 2  # DELETE /v2/orders/{id}: `is_deleted` true, left out of lists
PICKUP = 4  # collected in store: a pickup consignment, no shipping address
PICKUP_SECOND_LOCATION = 8  # a pickup collected at the store's second location (else at the default one)
NO_CONSIGNMENTS = 16  # answered without `consignments` even when asked, as the spec's own order example is

# An order's gateway payment when it was only authorised at checkout: still held, captured later, voided.
AUTH_HELD, AUTH_CAPTURED, AUTH_VOIDED = 1, 2, 3

# Line slots: which consignment a line belongs to.
SLOT_FIRST_ADDRESS, SLOT_SECOND_ADDRESS = 0, 1

_HEADER = (
    "id",
    "customer_id",
    "status_id",
    "created",
    "modified",
    "flags",
    "shipping",
    "handling",
    "coupon",
    "coupon_amount",
    "discount",
    "billing",
    "ship_address",
    "ship_address2",
    "payment",
    "message",
    "staff_notes",
    "channel_id",
    "source",
    "shipped_at",
    "store_credit",
    "gift_certificate",
    "authorized",
    "fee",
    "currency",
    "rate",
)
_LINE = ("id", "product_id", "variant_id", "quantity", "unit_price", "wrapping", "refunded", "shipped", "slot")
HEADER_SIZE, LINE_SIZE = len(_HEADER), len(_LINE)
# Where a header field sits in a packed order (queries read packed orders without unpacking them).
FIELD_AT = {name: position for position, name in enumerate(_HEADER)}


def money(units: int) -> str:
    """BigCommerce's V2 money string: always 4 decimals ("12.3400")."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), UNITS)
    return f"{sign}{whole}.{frac:04d}"


def number(units: int) -> float | int:
    """V3 money as a JSON number (the shortest float form of a 4-decimal value reads back exactly)."""
    return units // UNITS if units % UNITS == 0 else units / UNITS


def rate_text(units: int) -> str:
    """An exchange rate as BigCommerce writes it: 10 decimals."""
    whole, frac = divmod(units, RATE_UNITS)
    return f"{whole}.{frac:010d}"


def to_rate_units(value) -> int:
    """Rate units from "0.92", 0.92 or a Decimal (control-endpoint input)."""
    from decimal import ROUND_HALF_UP, Decimal

    return int((Decimal(str(value)) * RATE_UNITS).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_units(value) -> int:
    """Units from "12.34", 12.34, Decimal or int (used for control-endpoint input)."""
    from decimal import ROUND_HALF_UP, Decimal

    return int((Decimal(str(value)) * UNITS).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def split_tax(entered: int, inclusive: bool, rate_bp: int) -> tuple[int, int, int]:
    """(ex tax, inc tax, tax) of an amount entered with or without tax, at `rate_bp` basis points."""
    if inclusive:
        ex = (entered * 10_000 * 2 + (10_000 + rate_bp)) // (2 * (10_000 + rate_bp))
        return ex, entered, entered - ex
    tax = (entered * rate_bp * 2 + 10_000) // 20_000
    return entered, entered + tax, tax


@dataclass(slots=True)
class LineRecord:
    """One order line: a catalog variant, a quantity and the unit price as entered (with or without tax)."""

    id: int
    product_id: int
    variant_id: int
    quantity: int
    unit_price: int
    wrapping: int = 0  # gift wrapping for the line, entered amount
    refunded: int = 0  # quantity refunded
    shipped: int = 0  # quantity shipped
    slot: int = SLOT_FIRST_ADDRESS


@dataclass(slots=True)
class OrderRecord:
    """An order, unpacked for reading or changing; `pack()` gives the compact form the store keeps."""

    id: int
    customer_id: int
    status_id: int
    created: int  # UNIX seconds
    modified: int
    flags: int = 0
    shipping: int = 0  # entered shipping cost (the whole order)
    handling: int = 0
    coupon: int = -1  # index into the coupon codes, -1 none
    coupon_amount: int = 0
    discount: int = 0  # manual discount on top of the coupon
    billing: int = 0  # index into the address pool
    ship_address: int = 0
    ship_address2: int = -1  # a second destination, -1 none
    payment: int = 0  # index into the payment methods
    message: int = 0  # index into the text pool (0 is "")
    staff_notes: int = 0
    channel_id: int = 1
    source: int = 0  # index into the order sources
    shipped_at: int = 0
    store_credit: int = 0  # paid with store credit (units)
    gift_certificate: int = 0  # paid with gift certificates (units)
    authorized: int = 0  # the gateway's payment: 0 taken at checkout, or one of the AUTH_* states below
    fee: int = 0  # an order fee (`fees`, one custom fee), entered like shipping, taxed at the store's rate
    currency: int = 0  # index into the text pool of the transactional currency; 0: the store's own
    rate: int = 0  # store default → transactional currency rate, in RATE_UNITS (0: the store's own currency)
    lines: list[LineRecord] = field(default_factory=list)

    @property
    def tax_inclusive(self) -> bool:
        return bool(self.flags & TAX_INCLUSIVE)

    @property
    def archived(self) -> bool:
        return bool(self.flags & ARCHIVED)

    @property
    def pickup(self) -> bool:
        return bool(self.flags & PICKUP)

    @property
    def without_consignments(self) -> bool:
        return bool(self.flags & NO_CONSIGNMENTS)

    @property
    def pickup_location_index(self) -> int:
        """Which of the store's locations a pickup is collected at (0: the default location)."""
        return 1 if self.flags & PICKUP_SECOND_LOCATION else 0

    def pack(self) -> array:
        values = [getattr(self, name) for name in _HEADER]
        for line in self.lines:
            values.extend(getattr(line, name) for name in _LINE)
        return array("q", values)

    @classmethod
    def unpack(cls, packed: array) -> OrderRecord:
        record = cls(**dict(zip(_HEADER, packed[:HEADER_SIZE], strict=True)))
        for start in range(HEADER_SIZE, len(packed), LINE_SIZE):
            record.lines.append(LineRecord(*packed[start : start + LINE_SIZE]))
        return record


@dataclass(slots=True)
class Option:
    """A variant's option value: Size = M."""

    option_id: int
    display_name: str
    value_id: int
    label: str


@dataclass(slots=True)
class VariantRecord:
    id: int
    product_id: int
    sku: str
    price: int | None  # None: the product's price
    options: tuple[Option, ...] = ()
    sku_id: int | None = None  # None for a product's base variant


@dataclass(slots=True)
class ProductRecord:
    """A catalog product. A deleted product stays here (its order lines keep their names) but the API hides it."""

    id: int
    name: str
    sku: str
    price: int
    cost_price: int
    brand: str
    created: int
    modified: int
    variants: list[VariantRecord] = field(default_factory=list)
    deleted: bool = False

    @property
    def has_options(self) -> bool:
        return any(v.options for v in self.variants)


@dataclass(slots=True)
class CustomerRecord:
    id: int
    address: int  # index into the address pool (name, email, phone, company)
    created: int
    modified: int
    group_id: int = 0


@dataclass(slots=True)
class HookRecord:
    id: int
    scope: str
    destination: str
    is_active: bool
    headers: dict[str, str]
    created_at: int
    updated_at: int


@dataclass(slots=True)
class RefundRecord:
    """A refund: its items (type, item id, quantity, amount) and the payment it went back through."""

    id: int
    order_id: int
    created: int
    reason: str
    amount: int
    tax: int
    items: tuple[tuple[str, int, int | None, int | None], ...]
    provider_id: str
    offline: bool


@dataclass(slots=True)
class ShipmentRecord:
    id: int
    order_id: int
    order_address_id: int
    created: int
    tracking_number: str
    tracking_carrier: str
    shipping_provider: str
    comments: str
    items: tuple[tuple[int, int, int], ...]  # (order_product_id, product_id, quantity)
