"""Typed BigCommerce values: frozen dataclasses built by `from_api(dict)` from the JSON the API returns.

Rules applied everywhere:
- money is `Decimal`, never float: V2 sends 4-decimal strings ("62.6793"), V3 and V2 consignments send JSON
  numbers; the client decodes numbers straight to Decimal, and numbers that still arrive as float go through
  `Decimal(str(x))`;
- dates are aware UTC datetimes: V2 sends RFC 2822 ("Tue, 05 Mar 2019 21:40:11 +0000"), V3 ISO 8601, hooks
  UNIX seconds; an empty string (`date_shipped` before shipping) is None;
- ids are ints even where BigCommerce sends strings (a transaction's `order_id`, a webhook's `store_id`);
- unknown fields are ignored (BigCommerce adds fields without notice); a field we rely on that is missing or
  unreadable raises `ApiParseError` naming the field and the resource ("order 123").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any, Self

from integration.exceptions import ApiBadResponse, ApiParseError

ZERO = Decimal("0")
_MISSING = object()


def to_money(value: Any) -> Decimal:
    """A BigCommerce amount as Decimal: from a string, an int, a Decimal, or (never via binary) a float."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(str(value))
    elif isinstance(value, str):
        result = Decimal(value.strip())
    else:
        raise ValueError(f"not an amount: {value!r}")
    if not result.is_finite() or abs(result) >= MONEY_LIMIT:
        raise ValueError(f"not an amount: {value!r}")
    return result


# Amounts are stored with 14 digits, 4 after the point: anything larger is not a real order's amount.
MONEY_LIMIT = Decimal(10) ** 10
COUNT_LIMIT = 2**31


def to_count(value: Any) -> int:
    """A quantity: a whole number from 0 up (BigCommerce sends ints; a negative or fractional one is an error)."""
    amount = to_money(value)
    if amount != amount.to_integral_value() or not 0 <= amount < COUNT_LIMIT:
        raise ValueError(f"not a quantity: {value!r}")
    return int(amount)


def to_datetime(value: Any) -> dt.datetime | None:
    """RFC 2822, ISO 8601 or UNIX seconds to an aware UTC datetime; "" and None are None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, int | float | Decimal):
        return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    text = value.strip()
    if text[:1].isdigit():
        parsed = dt.datetime.fromisoformat(text)
    else:
        parsed = parsedate_to_datetime(text)
    if parsed.tzinfo is None:
        # BigCommerce documents every date as UTC; a missing offset is UTC, not local time.
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def to_id(value: Any) -> int:
    """An id as int, from an int or a string of digits ("250")."""
    if isinstance(value, bool):
        raise ValueError(f"not an id: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, Decimal | float) and value == int(value):
        return int(value)
    raise ValueError(f"not an id: {value!r}")


class Fields:
    """Reads fields of one API object, raising `ApiParseError` that names the field and the resource."""

    def __init__(self, data: Any, resource: str):
        if not isinstance(data, Mapping):
            raise ApiBadResponse(f"{resource}: expected a JSON object, got {type(data).__name__}")
        self.data = data
        self.resource = resource

    def _convert(self, name: str, default: Any, convert) -> Any:
        """The field converted; `default` when absent or null (or ApiParseError when there is no default)."""
        value = self.data.get(name)
        if value is None:
            if default is _MISSING:
                raise ApiParseError(name, self.resource)
            return default
        try:
            return convert(value)
        except (ValueError, TypeError, InvalidOperation, OverflowError):
            raise ApiParseError(name, self.resource, f"unreadable ({str(value)[:40]!r})") from None

    def id(self, name: str, default: Any = _MISSING) -> int:
        return self._convert(name, default, to_id)

    def int(self, name: str, default: Any = _MISSING) -> int:
        return self._convert(name, default, lambda v: int(to_money(v)))

    def count(self, name: str, default: Any = _MISSING) -> int:
        return self._convert(name, default, to_count)

    def money(self, name: str, default: Any = ZERO) -> Decimal:
        return self._convert(name, default, to_money)

    def date(self, name: str, default: Any = None) -> dt.datetime | None:
        return self._convert(name, default, to_datetime)

    def required_date(self, name: str) -> dt.datetime:
        value = self._convert(name, _MISSING, to_datetime)
        if value is None:
            raise ApiParseError(name, self.resource, "empty")
        return value

    def str(self, name: str, default: Any = "") -> str:
        return self._convert(name, default, lambda v: v if isinstance(v, str) else str(v))

    def bool(self, name: str, default: Any = False) -> bool:
        return self._convert(name, default, _to_bool)

    def obj(self, name: str) -> Mapping:
        value = self.data.get(name)
        return value if isinstance(value, Mapping) else {}

    def list(self, name: str) -> list:
        value = self.data.get(name)
        return value if isinstance(value, list) else []


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1", "true", "false"):
        return value in (1, "1", "true")
    raise ValueError(value)


# ---------------------------------------------------------------- store


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """`GET /v2/store`: the store hash (`id`), BigCommerce's numeric `store_id` (webhooks), name and currency."""

    id: str
    store_id: int | None
    name: str
    domain: str
    secure_url: str
    currency: str
    plan_name: str
    plan_level: str
    timezone: str
    is_price_entered_with_tax: bool
    default_channel_id: int | None

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        f = Fields(data, "store")
        return cls(
            id=f.str("id", _MISSING),
            store_id=f.id("store_id", None),
            name=f.str("name"),
            domain=f.str("domain"),
            secure_url=f.str("secure_url"),
            currency=f.str("currency"),
            plan_name=f.str("plan_name"),
            plan_level=f.str("plan_level"),
            timezone=str(f.obj("timezone").get("name") or ""),
            is_price_entered_with_tax=f.bool("is_price_entered_with_tax"),
            default_channel_id=f.id("default_channel_id", None),
        )


@dataclass(frozen=True, slots=True)
class AppToken:
    """The login host's answer to a single-click app's code exchange (`POST /oauth2/token`)."""

    access_token: str = field(repr=False)
    scope: str
    store_hash: str
    user_id: int | None
    user_email: str
    owner_email: str

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        f = Fields(data, "oauth token")
        context = f.str("context", _MISSING)
        if not context.startswith("stores/") or not context.removeprefix("stores/").isalnum():
            raise ApiParseError("context", "oauth token", f"unreadable ({context[:40]!r})")
        user, owner = Fields(f.obj("user"), "oauth token user"), Fields(f.obj("owner"), "oauth token owner")
        access_token = f.str("access_token", _MISSING)
        if not access_token:
            raise ApiParseError("access_token", "oauth token", "empty")
        return cls(
            access_token=access_token,
            scope=f.str("scope"),
            store_hash=context.removeprefix("stores/"),
            user_id=user.id("id", None),
            user_email=user.str("email"),
            owner_email=owner.str("email"),
        )


# ---------------------------------------------------------------- orders


@dataclass(frozen=True, slots=True)
class Address:
    """A billing or shipping address as BigCommerce's V2 orders give it."""

    first_name: str = ""
    last_name: str = ""
    company: str = ""
    street_1: str = ""
    street_2: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    country: str = ""
    country_iso2: str = ""
    phone: str = ""
    email: str = ""

    @classmethod
    def from_api(cls, data: Mapping, resource: str = "address") -> Self:
        f = Fields(data, resource)
        return cls(**{name: f.str(name) for name in cls.__dataclass_fields__})

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True, slots=True)
class AppliedDiscount:
    id: str
    amount: Decimal
    name: str
    code: str | None
    target: str


@dataclass(frozen=True, slots=True)
class ProductOption:
    display_name: str
    display_value: str
    option_id: int | None
    product_option_id: int | None
    value: str


@dataclass(frozen=True, slots=True)
class OrderProduct:
    """One line of an order (`/v2/orders/{id}/products`, or inlined in consignments)."""

    id: int
    order_id: int
    product_id: int
    variant_id: int | None
    order_address_id: int
    order_pickup_method_id: int | None
    name: str
    sku: str
    upc: str
    type: str
    quantity: int
    base_price: Decimal
    price_ex_tax: Decimal
    price_inc_tax: Decimal
    price_tax: Decimal
    total_ex_tax: Decimal
    total_inc_tax: Decimal
    total_tax: Decimal
    applied_discounts: tuple[AppliedDiscount, ...]
    wrapping_name: str
    base_wrapping_cost: Decimal
    wrapping_cost_ex_tax: Decimal
    wrapping_cost_inc_tax: Decimal
    wrapping_cost_tax: Decimal
    product_options: tuple[ProductOption, ...]
    is_refunded: bool
    quantity_refunded: int
    quantity_shipped: int

    @property
    def discount_total(self) -> Decimal:
        """The sum of the line's applied discounts."""
        return sum((d.amount for d in self.applied_discounts), ZERO)

    @classmethod
    def from_api(cls, data: Mapping, order_id: int | None = None) -> Self:
        resource = f"order {data.get('order_id', order_id)} line {data.get('id', '?')}"
        f = Fields(data, resource)
        discounts = []
        for item in f.list("applied_discounts"):
            d = Fields(item, f"{resource} discount")
            discounts.append(
                AppliedDiscount(
                    id=d.str("id"),
                    amount=d.money("amount", _MISSING),
                    name=d.str("name"),
                    code=d.str("code", None),
                    target=d.str("target"),
                )
            )
        options = []
        for item in f.list("product_options"):
            o = Fields(item, f"{resource} option")
            options.append(
                ProductOption(
                    display_name=o.str("display_name"),
                    display_value=o.str("display_value"),
                    option_id=o.id("option_id", None),
                    product_option_id=o.id("product_option_id", None),
                    value=o.str("value"),
                )
            )
        variant_id = f.id("variant_id", None)
        return cls(
            id=f.id("id"),
            order_id=f.id("order_id") if order_id is None else f.id("order_id", order_id),
            product_id=f.id("product_id", 0),
            variant_id=variant_id or None,
            order_address_id=f.id("order_address_id", 0),
            order_pickup_method_id=f.id("order_pickup_method_id", None) or None,
            name=f.str("name", _MISSING),
            sku=f.str("sku"),
            upc=f.str("upc"),
            type=f.str("type", "physical"),
            quantity=f.count("quantity"),
            base_price=f.money("base_price"),
            price_ex_tax=f.money("price_ex_tax", _MISSING),
            price_inc_tax=f.money("price_inc_tax", _MISSING),
            price_tax=f.money("price_tax"),
            total_ex_tax=f.money("total_ex_tax", _MISSING),
            total_inc_tax=f.money("total_inc_tax", _MISSING),
            total_tax=f.money("total_tax"),
            applied_discounts=tuple(discounts),
            wrapping_name=f.str("wrapping_name"),
            base_wrapping_cost=f.money("base_wrapping_cost"),
            wrapping_cost_ex_tax=f.money("wrapping_cost_ex_tax"),
            wrapping_cost_inc_tax=f.money("wrapping_cost_inc_tax"),
            wrapping_cost_tax=f.money("wrapping_cost_tax"),
            product_options=tuple(options),
            is_refunded=f.bool("is_refunded"),
            quantity_refunded=f.int("quantity_refunded", 0),
            quantity_shipped=f.int("quantity_shipped", 0),
        )


def _line_items(items: Any, order_id: int) -> tuple[OrderProduct, ...] | None:
    """Inlined line items, or None when BigCommerce sent `{url, resource}` links instead."""
    if not isinstance(items, list) or any(isinstance(i, Mapping) and "resource" in i for i in items):
        return None
    return tuple(OrderProduct.from_api(item, order_id=order_id) for item in items)


@dataclass(frozen=True, slots=True)
class ShippingConsignment:
    """A shipping consignment: one destination address (its `id` is the order address id) and its lines."""

    id: int
    address: Address
    shipping_method: str
    items_total: int
    items_shipped: int
    base_cost: Decimal
    cost_ex_tax: Decimal
    cost_inc_tax: Decimal
    cost_tax: Decimal
    base_handling_cost: Decimal
    handling_cost_ex_tax: Decimal
    handling_cost_inc_tax: Decimal
    handling_cost_tax: Decimal
    line_items: tuple[OrderProduct, ...] | None
    truncated: bool

    @classmethod
    def from_api(cls, data: Mapping, order_id: int) -> Self:
        resource = f"order {order_id} shipping consignment {data.get('id', '?')}"
        f = Fields(data, resource)
        return cls(
            id=f.id("id"),
            address=Address.from_api(data, resource),
            shipping_method=f.str("shipping_method"),
            items_total=f.int("items_total", 0),
            items_shipped=f.int("items_shipped", 0),
            base_cost=f.money("base_cost"),
            cost_ex_tax=f.money("cost_ex_tax"),
            cost_inc_tax=f.money("cost_inc_tax"),
            cost_tax=f.money("cost_tax"),
            base_handling_cost=f.money("base_handling_cost"),
            handling_cost_ex_tax=f.money("handling_cost_ex_tax"),
            handling_cost_inc_tax=f.money("handling_cost_inc_tax"),
            handling_cost_tax=f.money("handling_cost_tax"),
            line_items=_line_items(data.get("line_items"), order_id),
            # Undocumented: more than 50 inline lines come back cut to 50 with a `__warning__` (docs issue #960).
            truncated="__warning__" in data,
        )


@dataclass(frozen=True, slots=True)
class PickupConsignment:
    """A pickup consignment: collected at a store location."""

    id: int
    pickup_method_id: int | None
    display_name: str
    collection_instructions: str
    location_id: int | None
    location_name: str
    line_items: tuple[OrderProduct, ...] | None
    truncated: bool

    @classmethod
    def from_api(cls, data: Mapping, order_id: int) -> Self:
        resource = f"order {order_id} pickup consignment {data.get('id', '?')}"
        f = Fields(data, resource)
        location = Fields(f.obj("location"), f"{resource} location")
        return cls(
            id=f.id("id"),
            pickup_method_id=f.id("pickup_method_id", None),
            display_name=f.str("pickup_method_display_name"),
            collection_instructions=f.str("collection_instructions"),
            location_id=location.id("id", None),
            location_name=location.str("name"),
            line_items=_line_items(data.get("line_items"), order_id),
            truncated="__warning__" in data,
        )


@dataclass(frozen=True, slots=True)
class Consignments:
    """An order's consignments (`include=consignments.line_items&consignment_structure=object`).

    A consignment's `line_items` is None when BigCommerce sent links instead of lines (`include=consignments`
    alone); `truncated` says BigCommerce cut some consignment to 50 inline lines.
    """

    shipping: tuple[ShippingConsignment, ...] = ()
    pickups: tuple[PickupConsignment, ...] = ()
    # Lines of digital downloads and gift certificates sent by email: no address.
    other_line_items: tuple[OrderProduct, ...] = ()
    truncated: bool = False
    line_items_inlined: bool = True

    @classmethod
    def from_api(cls, data: Any, order_id: int) -> Self | None:
        """None when the order came without inlined consignments (only a `{url, resource}` link)."""
        if not isinstance(data, Mapping) or "resource" in data:
            return None
        f = Fields(data, f"order {order_id} consignments")
        shipping = tuple(ShippingConsignment.from_api(c, order_id) for c in f.list("shipping"))
        pickups = tuple(PickupConsignment.from_api(c, order_id) for c in f.list("pickups"))
        truncated = any(c.truncated for c in (*shipping, *pickups))
        inlined = all(c.line_items is not None for c in (*shipping, *pickups))
        other: list[OrderProduct] = []
        for group in [*f.list("downloads"), *Fields(f.obj("email"), f.resource).list("gift_certificates")]:
            if isinstance(group, Mapping):
                lines = _line_items(group.get("line_items"), order_id)
                inlined = inlined and lines is not None
                other.extend(lines or ())
                truncated = truncated or "__warning__" in group
        return cls(shipping, pickups, tuple(other), truncated, inlined)

    @property
    def line_items(self) -> tuple[OrderProduct, ...]:
        lines = [li for c in (*self.shipping, *self.pickups) for li in c.line_items or ()]
        return (*lines, *self.other_line_items)


class LineItemsNotIncluded(ValueError):
    """The order was fetched without its line items; ask the client for `include_line_items=True`."""


@dataclass(frozen=True, slots=True)
class Order:
    """A V2 order (`GET /v2/orders/{id}`). `customer_id` 0 is a guest. Amounts are the transactional currency's."""

    id: int
    status_id: int
    status: str
    customer_id: int
    date_created: dt.datetime
    date_modified: dt.datetime
    date_shipped: dt.datetime | None
    default_currency_code: str
    currency_code: str
    is_tax_inclusive_pricing: bool
    subtotal_ex_tax: Decimal
    subtotal_inc_tax: Decimal
    subtotal_tax: Decimal
    base_shipping_cost: Decimal
    shipping_cost_ex_tax: Decimal
    shipping_cost_inc_tax: Decimal
    shipping_cost_tax: Decimal
    base_handling_cost: Decimal
    handling_cost_ex_tax: Decimal
    handling_cost_inc_tax: Decimal
    handling_cost_tax: Decimal
    base_wrapping_cost: Decimal
    wrapping_cost_ex_tax: Decimal
    wrapping_cost_inc_tax: Decimal
    wrapping_cost_tax: Decimal
    total_ex_tax: Decimal
    total_inc_tax: Decimal
    total_tax: Decimal
    discount_amount: Decimal
    coupon_discount: Decimal
    store_credit_amount: Decimal
    gift_certificate_amount: Decimal
    items_total: int
    items_shipped: int
    payment_method: str
    payment_provider_id: str
    payment_status: str
    customer_message: str
    staff_notes: str
    order_source: str
    external_source: str
    external_id: str
    channel_id: int
    is_deleted: bool
    billing_address: Address
    consignments: Consignments | None = field(default=None)

    @property
    def products(self) -> tuple[OrderProduct, ...]:
        """Every line of the order; needs the order fetched with its line items inlined."""
        if self.consignments is None or not self.consignments.line_items_inlined:
            raise LineItemsNotIncluded(f"order {self.id} was fetched without its line items")
        return self.consignments.line_items

    @property
    def is_guest(self) -> bool:
        return self.customer_id == 0

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        f = Fields(data, f"order {data.get('id', '?') if isinstance(data, Mapping) else '?'}")
        order_id = f.id("id")
        m = f.money
        return cls(
            id=order_id,
            status_id=f.int("status_id"),
            status=f.str("status"),
            customer_id=f.id("customer_id", 0),
            date_created=f.required_date("date_created"),
            date_modified=f.required_date("date_modified"),
            date_shipped=f.date("date_shipped"),
            default_currency_code=f.str("default_currency_code", _MISSING),
            currency_code=f.str("currency_code"),
            is_tax_inclusive_pricing=f.bool("is_tax_inclusive_pricing"),
            subtotal_ex_tax=m("subtotal_ex_tax", _MISSING),
            subtotal_inc_tax=m("subtotal_inc_tax", _MISSING),
            subtotal_tax=m("subtotal_tax"),
            base_shipping_cost=m("base_shipping_cost"),
            shipping_cost_ex_tax=m("shipping_cost_ex_tax"),
            shipping_cost_inc_tax=m("shipping_cost_inc_tax"),
            shipping_cost_tax=m("shipping_cost_tax"),
            base_handling_cost=m("base_handling_cost"),
            handling_cost_ex_tax=m("handling_cost_ex_tax"),
            handling_cost_inc_tax=m("handling_cost_inc_tax"),
            handling_cost_tax=m("handling_cost_tax"),
            base_wrapping_cost=m("base_wrapping_cost"),
            wrapping_cost_ex_tax=m("wrapping_cost_ex_tax"),
            wrapping_cost_inc_tax=m("wrapping_cost_inc_tax"),
            wrapping_cost_tax=m("wrapping_cost_tax"),
            total_ex_tax=m("total_ex_tax", _MISSING),
            total_inc_tax=m("total_inc_tax", _MISSING),
            total_tax=m("total_tax", _MISSING),
            discount_amount=m("discount_amount"),
            coupon_discount=m("coupon_discount"),
            store_credit_amount=m("store_credit_amount"),
            gift_certificate_amount=m("gift_certificate_amount"),
            items_total=f.int("items_total", 0),
            items_shipped=f.int("items_shipped", 0),
            payment_method=f.str("payment_method"),
            payment_provider_id=f.str("payment_provider_id"),
            payment_status=f.str("payment_status"),
            customer_message=f.str("customer_message"),
            staff_notes=f.str("staff_notes"),
            order_source=f.str("order_source"),
            external_source=f.str("external_source"),
            external_id=f.str("external_id"),
            channel_id=f.id("channel_id", 1),
            is_deleted=f.bool("is_deleted"),
            billing_address=Address.from_api(f.obj("billing_address"), f"{f.resource} billing address"),
            consignments=Consignments.from_api(data.get("consignments"), order_id),
        )


@dataclass(frozen=True, slots=True)
class OrderCount:
    """`GET /v2/orders/count`: the total and the count per status id."""

    total: int
    by_status: dict[int, int]

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        f = Fields(data, "order count")
        by_status = {}
        for item in f.list("statuses"):
            s = Fields(item, "order count status")
            by_status[s.int("id")] = s.int("count", 0)
        return cls(total=f.int("count"), by_status=by_status)


@dataclass(frozen=True, slots=True)
class ShippingAddress:
    """`GET /v2/orders/{id}/shipping_addresses`: a destination, its shipping method and costs."""

    id: int
    order_id: int
    address: Address
    shipping_method: str
    items_total: int
    items_shipped: int
    base_cost: Decimal
    cost_ex_tax: Decimal
    cost_inc_tax: Decimal
    cost_tax: Decimal
    handling_cost_ex_tax: Decimal
    handling_cost_inc_tax: Decimal
    handling_cost_tax: Decimal
    shipping_zone_name: str

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        resource = f"order {data.get('order_id', '?')} shipping address {data.get('id', '?')}"
        f = Fields(data, resource)
        return cls(
            id=f.id("id"),
            order_id=f.id("order_id"),
            address=Address.from_api(data, resource),
            shipping_method=f.str("shipping_method"),
            items_total=f.int("items_total", 0),
            items_shipped=f.int("items_shipped", 0),
            base_cost=f.money("base_cost"),
            cost_ex_tax=f.money("cost_ex_tax"),
            cost_inc_tax=f.money("cost_inc_tax"),
            cost_tax=f.money("cost_tax"),
            handling_cost_ex_tax=f.money("handling_cost_ex_tax"),
            handling_cost_inc_tax=f.money("handling_cost_inc_tax"),
            handling_cost_tax=f.money("handling_cost_tax"),
            shipping_zone_name=f.str("shipping_zone_name"),
        )


@dataclass(frozen=True, slots=True)
class ShipmentItem:
    order_product_id: int
    product_id: int | None
    quantity: int


@dataclass(frozen=True, slots=True)
class Shipment:
    """A V2 shipment (`POST /v2/orders/{id}/shipments`)."""

    id: int
    order_id: int
    order_address_id: int
    date_created: dt.datetime | None
    tracking_number: str
    tracking_carrier: str
    tracking_link: str
    shipping_provider: str
    shipping_method: str
    comments: str
    items: tuple[ShipmentItem, ...]

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        resource = f"order {data.get('order_id', '?')} shipment {data.get('id', '?')}"
        f = Fields(data, resource)
        items = []
        for item in f.list("items"):
            i = Fields(item, f"{resource} item")
            items.append(ShipmentItem(i.id("order_product_id"), i.id("product_id", None), i.int("quantity")))
        return cls(
            id=f.id("id"),
            order_id=f.id("order_id"),
            order_address_id=f.id("order_address_id", 0),
            date_created=f.date("date_created"),
            tracking_number=f.str("tracking_number"),
            tracking_carrier=f.str("tracking_carrier"),
            tracking_link=f.str("tracking_link") or f.str("generated_tracking_link"),
            shipping_provider=f.str("shipping_provider"),
            shipping_method=f.str("shipping_method"),
            comments=f.str("comments"),
            items=tuple(items),
        )


# ---------------------------------------------------------------- payments (Orders V3)


@dataclass(frozen=True, slots=True)
class Transaction:
    """`GET /v3/orders/{id}/transactions`: a payment event. `order_id` arrives as a string; here it is an int."""

    id: int
    order_id: int
    event: str
    method: str
    amount: Decimal
    currency: str
    gateway: str
    gateway_transaction_id: str
    status: str
    test: bool
    date_created: dt.datetime | None
    payment_method_id: str
    # The merchant's label for an offline method ("Cash on Delivery") or a custom one ("Manual").
    offline_display_name: str
    custom_payment_method: str

    @property
    def method_label(self) -> str:
        """The most specific label BigCommerce gives the payment method."""
        return self.offline_display_name or self.custom_payment_method or self.gateway or self.method

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        resource = f"order {data.get('order_id', '?')} transaction {data.get('id', '?')}"
        f = Fields(data, resource)
        return cls(
            id=f.id("id"),
            order_id=f.id("order_id"),
            event=f.str("event", _MISSING),
            method=f.str("method", _MISSING),
            amount=f.money("amount", _MISSING),
            currency=f.str("currency", _MISSING),
            gateway=f.str("gateway", _MISSING),
            gateway_transaction_id=f.str("gateway_transaction_id"),
            status=f.str("status"),
            test=f.bool("test"),
            date_created=f.date("date_created"),
            payment_method_id=f.str("payment_method_id"),
            offline_display_name=str(f.obj("offline").get("display_name") or ""),
            custom_payment_method=str(f.obj("custom").get("payment_method") or ""),
        )


@dataclass(frozen=True, slots=True)
class RefundPayment:
    id: int | None
    provider_id: str
    amount: Decimal
    offline: bool
    is_declined: bool


@dataclass(frozen=True, slots=True)
class RefundItem:
    item_type: str
    item_id: int | None
    quantity: int | None
    requested_amount: Decimal | None


@dataclass(frozen=True, slots=True)
class Refund:
    """A V3 refund (`GET /v3/orders/{id}/payment_actions/refunds`): what was refunded and how it was paid back."""

    id: int
    order_id: int
    created: dt.datetime | None
    reason: str
    total_amount: Decimal
    total_tax: Decimal
    payments: tuple[RefundPayment, ...]
    items: tuple[RefundItem, ...]

    @property
    def refunded_amount(self) -> Decimal:
        """What actually went back to the customer: the payments that were not declined."""
        return sum((p.amount for p in self.payments if not p.is_declined), ZERO)

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        resource = f"order {data.get('order_id', '?')} refund {data.get('id', '?')}"
        f = Fields(data, resource)
        payments = []
        for item in f.list("payments"):
            p = Fields(item, f"{resource} payment")
            payments.append(
                RefundPayment(
                    id=p.id("id", None),
                    provider_id=p.str("provider_id"),
                    amount=p.money("amount", _MISSING),
                    offline=p.bool("offline"),
                    is_declined=p.bool("is_declined"),
                )
            )
        items = []
        for item in f.list("items"):
            i = Fields(item, f"{resource} item")
            items.append(
                RefundItem(
                    item_type=i.str("item_type", _MISSING),
                    item_id=i.id("item_id", None),
                    quantity=i.int("quantity", None),
                    requested_amount=i.money("requested_amount", None),
                )
            )
        return cls(
            id=f.id("id"),
            order_id=f.id("order_id"),
            created=f.date("created"),
            reason=f.str("reason"),
            total_amount=f.money("total_amount", _MISSING),
            total_tax=f.money("total_tax"),
            payments=tuple(payments),
            items=tuple(items),
        )


# ---------------------------------------------------------------- customers, hooks, catalog, inventory


@dataclass(frozen=True, slots=True)
class Customer:
    """A V3 customer (`GET /v3/customers?id:in=...`)."""

    id: int
    email: str
    first_name: str
    last_name: str
    company: str
    phone: str
    notes: str
    customer_group_id: int | None
    date_created: dt.datetime | None
    date_modified: dt.datetime | None

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        f = Fields(data, f"customer {data.get('id', '?')}")
        return cls(
            id=f.id("id"),
            email=f.str("email"),
            first_name=f.str("first_name"),
            last_name=f.str("last_name"),
            company=f.str("company"),
            phone=f.str("phone"),
            notes=f.str("notes"),
            customer_group_id=f.id("customer_group_id", None),
            date_created=f.date("date_created"),
            date_modified=f.date("date_modified"),
        )


@dataclass(frozen=True, slots=True)
class Hook:
    """A V3 webhook subscription. BigCommerce echoes `headers` on every delivery."""

    id: int
    scope: str
    destination: str
    is_active: bool
    headers: dict[str, str]
    client_id: str
    created_at: dt.datetime | None
    updated_at: dt.datetime | None

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        f = Fields(data, f"hook {data.get('id', '?')}")
        return cls(
            id=f.id("id"),
            scope=f.str("scope", _MISSING),
            destination=f.str("destination", _MISSING),
            is_active=f.bool("is_active"),
            headers={str(k): str(v) for k, v in f.obj("headers").items()},
            client_id=f.str("client_id"),
            created_at=f.date("created_at"),
            updated_at=f.date("updated_at"),
        )


@dataclass(frozen=True, slots=True)
class CatalogProduct:
    """A V3 catalog product. `inventory_level` is the default location's only (BigCommerce's rule)."""

    id: int
    name: str
    sku: str
    type: str
    price: Decimal
    sale_price: Decimal
    retail_price: Decimal
    cost_price: Decimal
    calculated_price: Decimal | None
    inventory_level: int
    inventory_tracking: str
    base_variant_id: int | None
    is_visible: bool
    date_modified: dt.datetime | None

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        f = Fields(data, f"product {data.get('id', '?')}")
        return cls(
            id=f.id("id"),
            name=f.str("name", _MISSING),
            sku=f.str("sku"),
            type=f.str("type", "physical"),
            price=f.money("price"),
            sale_price=f.money("sale_price"),
            retail_price=f.money("retail_price"),
            cost_price=f.money("cost_price"),
            calculated_price=f.money("calculated_price", None),
            inventory_level=f.int("inventory_level", 0),
            inventory_tracking=f.str("inventory_tracking", "none"),
            base_variant_id=f.id("base_variant_id", None),
            is_visible=f.bool("is_visible", True),
            date_modified=f.date("date_modified"),
        )


@dataclass(frozen=True, slots=True)
class OptionValue:
    option_display_name: str
    label: str


@dataclass(frozen=True, slots=True)
class Variant:
    """A V3 catalog variant. `price` None means "the product's price"; `sku_id` None is the base variant."""

    id: int
    product_id: int
    sku: str
    sku_id: int | None
    price: Decimal | None
    sale_price: Decimal | None
    calculated_price: Decimal | None
    cost_price: Decimal | None
    inventory_level: int
    purchasing_disabled: bool
    upc: str
    option_values: tuple[OptionValue, ...]

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        resource = f"product {data.get('product_id', '?')} variant {data.get('id', '?')}"
        f = Fields(data, resource)
        options = tuple(
            OptionValue(Fields(o, resource).str("option_display_name"), Fields(o, resource).str("label"))
            for o in f.list("option_values")
        )
        return cls(
            id=f.id("id"),
            product_id=f.id("product_id"),
            sku=f.str("sku"),
            sku_id=f.id("sku_id", None),
            price=f.money("price", None),
            sale_price=f.money("sale_price", None),
            calculated_price=f.money("calculated_price", None),
            cost_price=f.money("cost_price", None),
            inventory_level=f.int("inventory_level", 0),
            purchasing_disabled=f.bool("purchasing_disabled"),
            upc=f.str("upc"),
            option_values=options,
        )


@dataclass(frozen=True, slots=True)
class Location:
    """A V3 inventory location. Location 1 is the store's default."""

    id: int
    code: str
    label: str
    enabled: bool
    type_id: str

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        f = Fields(data, f"location {data.get('id', '?')}")
        return cls(
            id=f.id("id"),
            code=f.str("code"),
            label=f.str("label"),
            enabled=f.bool("enabled", True),
            type_id=f.str("type_id"),
        )


# ---------------------------------------------------------------- webhook callbacks


@dataclass(frozen=True, slots=True)
class WebhookCallback:
    """A webhook delivery's body. `store_id` arrives as a string; `order_id` is the order it is about (an order
    event's `data.id`, a shipment's `data.orderId`), None for other resources."""

    scope: str
    store_id: int
    producer: str
    hash: str
    created_at: dt.datetime
    data: dict
    order_id: int | None
    previous_status_id: int | None
    new_status_id: int | None

    @classmethod
    def from_api(cls, data: Mapping) -> Self:
        f = Fields(data, f"webhook {data.get('scope', '?') if isinstance(data, Mapping) else '?'}")
        body = Fields(f.obj("data"), f"{f.resource} data")
        order_id = None
        if body.data.get("type") == "order":
            order_id = body.id("id")
        elif "orderId" in body.data or "order_id" in body.data:
            order_id = body.id("orderId" if "orderId" in body.data else "order_id")
        status = Fields(body.obj("status"), f"{f.resource} status")
        return cls(
            scope=f.str("scope", _MISSING),
            store_id=f.id("store_id"),
            producer=f.str("producer"),
            hash=f.str("hash", _MISSING),
            created_at=f.required_date("created_at"),
            data=dict(body.data),
            order_id=order_id,
            previous_status_id=status.int("previous_status_id", None),
            new_status_id=status.int("new_status_id", None),
        )
