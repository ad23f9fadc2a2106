"""Typed BigCommerce values: frozen dataclasses, each field declared once, read by msgspec from the API's JSON.

Each class lists the fields it reads under BigCommerce's own names, with their type and default; `from_api(dict)`
converts the decoded JSON (`msgspec.convert`, lax: "250" reads as 250), then each class's `__post_init__` applies
the rules below. Rules applied everywhere:
- money (`Money`) is `Decimal`, never float: V2 sends 4-decimal strings ("62.6793"), V3 and V2 consignments send
  JSON numbers, which the client decodes straight to Decimal; anything not finite or beyond what a sale holds is
  unreadable;
- dates (`Date`) are aware UTC datetimes: V2 sends RFC 2822 ("Tue, 05 Mar 2019 21:40:11 +0000"), V3 ISO 8601,
  hooks UNIX seconds; an empty string (`date_shipped` before shipping) is None;
- ids are ints even where BigCommerce sends strings (a transaction's `order_id`, a webhook's `store_id`);
- null is absent: a field with a default reads null as its default (the `| None` in the field kinds below lets
  null through, and `__post_init__` puts the default in its place);
- unknown fields are ignored (BigCommerce adds fields without notice); a field we rely on (no default) that is
  missing or unreadable raises `ApiParseError` naming the field and the resource ("order 123 line 7").
"""

from __future__ import annotations

import copyreg
import dataclasses
import datetime as dt
import gc
import io
import operator
import pickle
import re
import typing
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import field
from decimal import Decimal
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Annotated, Any, ClassVar, Self

import msgspec

from integration.exceptions import ApiBadResponse, ApiParseError

ZERO = Decimal("0")
# Amounts are stored with 14 digits, 4 after the point: anything larger is not a real order's amount.
MONEY_LIMIT = Decimal(10) ** 10
COUNT_LIMIT = 2**31


# ---------------------------------------------------------------- conversions


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
    return _money_checked(result)


def _money_checked(value: Decimal) -> Decimal:
    if not (value.is_finite() and -MONEY_LIMIT < value < MONEY_LIMIT):
        raise ValueError(f"not an amount: {value!r}")
    return value


def to_count(value: Any) -> int:
    """A quantity: a whole number from 0 up (BigCommerce sends ints; a negative or fractional one is an error)."""
    amount = to_money(value)
    if amount != amount.to_integral_value() or not 0 <= amount < COUNT_LIMIT:
        raise ValueError(f"not a quantity: {value!r}")
    return int(amount)


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}


def _rfc2822(text: str) -> dt.datetime:
    """BigCommerce's exact form ("Tue, 05 Mar 2019 21:40:11 +0000") read directly; any other by the email parser."""
    parts = text.split(" ")
    if len(parts) == 6 and (month := _MONTHS.get(parts[2])) and len(zone := parts[5]) == 5 and zone[0] in "+-":
        try:
            hour, minute, second = parts[4].split(":")
            moment = dt.datetime(
                int(parts[3]), month, int(parts[1]), int(hour), int(minute), int(second), tzinfo=dt.UTC
            )
            offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
        except ValueError:
            pass
        else:
            return moment - offset if zone[0] == "+" else moment + offset
    return parsedate_to_datetime(text)


def to_datetime(value: Any) -> dt.datetime | None:
    """RFC 2822, ISO 8601 or UNIX seconds to an aware UTC datetime; "" and None are None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, int | float | Decimal):
        return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
    elif isinstance(value, str):
        text = value.strip()
        parsed = dt.datetime.fromisoformat(text) if text[:1].isdigit() else _rfc2822(text)
    else:
        raise ValueError(f"not a date: {value!r}")
    if parsed.tzinfo is None:
        # BigCommerce documents every date as UTC; a missing offset is UTC, not local time.
        return parsed.replace(tzinfo=dt.UTC)
    return parsed if parsed.tzinfo is dt.UTC else parsed.astimezone(dt.UTC)


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


def _required_date(value: Any) -> dt.datetime:
    parsed = to_datetime(value)
    if parsed is None:
        raise _Unreadable("empty")
    return parsed


class _Unreadable(ValueError):
    """Raised by a conversion to say why, instead of "unreadable (value)"."""


# ---------------------------------------------------------------- field kinds


class _Kind(typing.NamedTuple):
    """Marks a field kind (in `Annotated`) for `bc_type`; `convert` is applied to a value that is not None."""

    name: str
    convert: Callable[[Any], Any] | None = None


MONEY, TEXT = _Kind("money"), _Kind("text")
DATE, REQUIRED_DATE = _Kind("date", to_datetime), _Kind("required date", _required_date)
ZERO_IS_NONE = _Kind("zero is none", lambda value: value or None)

# Field kinds: what msgspec accepts from BigCommerce, and (after `__post_init__`) what the field holds.
Money = Annotated[Decimal | None, MONEY]  # a Decimal within MONEY_LIMIT
Text = Annotated[str | int | None, TEXT]  # a str (a number BigCommerce sends is written out)
Date = Annotated[str | int | float | None, DATE]  # an aware UTC datetime, or None
RequiredDate = Annotated[str | int | float | None, REQUIRED_DATE]  # an aware UTC datetime
Count = Annotated[int, msgspec.Meta(ge=0, lt=COUNT_LIMIT)]  # a whole number from 0 up
Flag = bool | None  # a bool (true/false, 1/0, "1"/"0", "true"/"false")
OptionalId = int | None
# BigCommerce's "none" for an optional reference is sometimes 0 (a line's variant, a line's pickup method).
ZeroIsNone = Annotated[int | None, ZERO_IS_NONE]


# ---------------------------------------------------------------- the base


class BcType:
    """The base of every value here: `from_api`, the null and conversion rules, and errors that name the field."""

    __slots__ = ()
    #: How an error names the object, formatted with its own fields, `order_id` of the enclosing order, `parent`
    #: (the enclosing object's name) and `field` (the field it is under). `None`: "{parent} {field}".
    RESOURCE: ClassVar[str | None] = None
    # What `__post_init__` does, planned by `bc_type` from the field kinds: (name, default) of the Text and the
    # Money fields, and (name, default, conversion) of the other fields that read null as a default or convert.
    _text: ClassVar[tuple[tuple[str, Any], ...]] = ()
    _money: ClassVar[tuple[tuple[str, Any], ...]] = ()
    _other: ClassVar[tuple[tuple[str, Any, Callable | None], ...]] = ()

    def __post_init__(self) -> None:
        # One loop per kind, the commonest cases first: parsing an order runs this for each of its objects.
        for name, default in self._text:
            value = getattr(self, name)
            if type(value) is not str:
                object.__setattr__(self, name, _default(name, default) if value is None else str(value))
        for name, default in self._money:
            value = getattr(self, name)
            try:
                if -MONEY_LIMIT < value < MONEY_LIMIT:
                    continue
            except (TypeError, ArithmeticError):  # None, or NaN
                pass
            if value is not None:
                raise ValueError(f"field `{name}` is unreadable ({str(value)[:40]!r})")
            object.__setattr__(self, name, _default(name, default))
        for name, default, convert in self._other:
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, _default(name, default))
            elif convert is not None:
                try:
                    object.__setattr__(self, name, convert(value))
                except _Unreadable as exc:
                    raise ValueError(f"field `{name}` is {exc}") from None
                except (ValueError, TypeError, ArithmeticError, OverflowError):
                    raise ValueError(f"field `{name}` is unreadable ({str(value)[:40]!r})") from None
        self._derive()

    def _derive(self) -> None:
        """Fields computed from others (`init=False`), or checks across fields; raise ValueError naming a field."""

    @classmethod
    def _prepare(cls, data: Mapping, **context: Any) -> Mapping:
        """The decoded JSON reshaped where BigCommerce's shape is not a plain object of fields (see Order)."""
        return data

    @classmethod
    def from_api(cls, data: Any, **context: Any) -> Self:
        """The value from BigCommerce's decoded JSON; `ApiParseError` naming the field when one is missing or
        unreadable, `ApiBadResponse` when the data is not an object."""
        if isinstance(data, Mapping):
            data = cls._prepare(data, **context)
        try:
            return msgspec.convert(data, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise _parse_error(cls, data, str(exc), context) from None


def bc_dumps(value: Any) -> bytes:
    """`value` (BcType values, in lists, tuples, dicts and dataclasses) pickled for `bc_loads` in another process:
    each BcType as its class and field values, set again without `__init__` and `__post_init__` (the rules ran
    when it was read). Loading a page of orders this way takes about half the time parsing its JSON again does
    (and a third less than a slotted dataclass's own pickling)."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _dispatch_table()
    with _collector_paused():
        pickler.dump(value)
    return buffer.getvalue()


def bc_loads(data: bytes) -> Any:
    """The value `bc_dumps` wrote."""
    with _collector_paused():  # tens of thousands of new objects, no cycle among them: no collection to run
        return pickle.loads(data)


@contextmanager
def _collector_paused():
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


@cache
def _dispatch_table() -> dict:
    """copyreg's reducers, and `_bc_reduced` for every BcType class."""
    table = dict(copyreg.dispatch_table)
    pending = [BcType]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if dataclasses.is_dataclass(cls):
            table[cls] = _bc_reduced
    return table


def _bc_reduced(obj: Any) -> tuple:
    cls = type(obj)
    return _bc_rebuilt, (cls, _values(cls)(obj))


@cache
def _values(cls: type) -> Callable[[Any], tuple]:
    """A function returning the values of a BcType's fields, in `_slots` order."""
    names = [name for name, _ in _slots(cls)]
    get = operator.attrgetter(*names)
    return get if len(names) > 1 else lambda obj: (get(obj),)


def _bc_rebuilt(cls: type, values: tuple) -> Any:
    obj = object.__new__(cls)
    for (_, slot), value in zip(_slots(cls), values, strict=True):
        slot.__set__(obj, value)
    return obj


@cache
def _slots(cls: type) -> tuple[tuple[str, Any], ...]:
    """(name, slot descriptor) of each field of a BcType, the base classes' included."""
    return tuple(
        (f.name, next(k.__dict__[f.name] for k in cls.__mro__ if f.name in k.__dict__)) for f in dataclasses.fields(cls)
    )


_REQUIRED = dataclasses.MISSING


class _Factory(typing.NamedTuple):
    """A default made afresh for each object (`field(default_factory=...)`)."""

    make: Callable[[], Any]


def _default(name: str, default: Any) -> Any:
    if default is _REQUIRED:
        raise ValueError(f"field `{name}` is missing")
    return default.make() if type(default) is _Factory else default


def bc_type(cls: type) -> type:
    """Make `cls` a frozen slotted dataclass and plan its `__post_init__` from its field kinds."""
    cls = dataclasses.dataclass(frozen=True, slots=True)(cls)
    text, money, other = [], [], []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        hint = _hints(cls)[f.name]
        kind = next((m for m in getattr(hint, "__metadata__", ()) if isinstance(m, _Kind)), None)
        default = f.default if f.default_factory is dataclasses.MISSING else _Factory(f.default_factory)
        if kind is TEXT:
            text.append((f.name, default))
        elif kind is MONEY:
            money.append((f.name, default))
        elif kind is not None:
            other.append((f.name, default, kind.convert))
        elif type(None) in typing.get_args(hint) and default is not None:
            other.append((f.name, default, None))
    cls._text, cls._money, cls._other = tuple(text), tuple(money), tuple(other)
    return cls


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


# ---------------------------------------------------------------- errors


_ERROR = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD = re.compile(r"field `(?P<field>[^`]+)`(?: is (?P<reason>.*))?$", re.DOTALL)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")


def _parse_error(cls: type, data: Any, error: str, context: Mapping) -> ApiBadResponse:
    """msgspec's error ("Expected `int`, got `str` - at `$.consignments.shipping[0].id`") as ours."""
    match = _ERROR.match(error)
    steps = [
        key if key else int(index) if index.isdigit() else None for key, index in _STEP.findall(match["path"] or "")
    ]
    message = match["message"]
    named = _FIELD.search(message)
    if named:  # "Object missing required field `x`" or ours: the path is the object's
        field_name, reason = named["field"], named["reason"] or "missing"
    elif steps and isinstance(steps[-1], str):  # a value of the wrong type: the path ends at the field
        field_name, reason = steps.pop(), None
    else:  # an object or list item that is not an object
        resource, _ = _locate(cls, data, steps, context)
        return ApiBadResponse(f"{resource}: expected a JSON object ({message})")
    resource, where = _locate(cls, data, steps, context)
    if reason is None:
        value = where.get(field_name) if isinstance(where, Mapping) else None
        reason = "missing" if value is None else f"unreadable ({str(value)[:40]!r})"
    return ApiParseError(field_name, resource, reason)


def _locate(cls: type, data: Any, steps: list, context: Mapping) -> tuple[str, Any]:
    """The name of the object at `steps` below `data` (of type `cls`), and the object."""
    names = dict(context)
    resource = _name(cls, data, names, parent="", under="")
    for step in steps:
        if isinstance(step, str):
            cls, under = _nested_type(cls, step), step
            data = data.get(step) if isinstance(data, Mapping) else None
            if cls is not None and not isinstance(data, list | tuple):
                resource = _name(cls, data, names, resource, under)
        else:
            data = data[step] if isinstance(data, list | tuple) and isinstance(step, int) else None
            if cls is not None:
                resource = _name(cls, data, names, resource, under)
    return resource, data


def _name(cls: type, data: Any, names: dict, parent: str, under: str) -> str:
    fields = data if isinstance(data, Mapping) else {}
    if cls is Order:
        names["order_id"] = fields.get("id", "?")
    values = {"order_id": "?", **names, **{k: v for k, v in fields.items() if v is not None}}
    template = getattr(cls, "RESOURCE", None) or "{parent} {field}"
    return template.format_map(_Blank({**values, "parent": parent, "field": under.replace("_", " ")})).strip()


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def _nested_type(cls: type | None, name: str) -> type | None:
    """The BcType a field holds (directly, in a tuple, or optionally), or None."""
    if cls is None or not dataclasses.is_dataclass(cls):
        return None
    hint = _hints(cls).get(name)
    pending = [hint]
    while pending:
        hint = pending.pop()
        if isinstance(hint, type) and issubclass(hint, BcType):
            return hint
        pending.extend(typing.get_args(hint))
    return None


# ---------------------------------------------------------------- store


@bc_type
class StoreTimezone(BcType):
    name: Text = ""


@bc_type
class StoreInfo(BcType):
    """`GET /v2/store`: the store hash (`id`), BigCommerce's numeric `store_id` (webhooks), name and currency."""

    RESOURCE = "store"

    id: Text
    store_id: OptionalId = None
    name: Text = ""
    domain: Text = ""
    secure_url: Text = ""
    currency: Text = ""
    plan_name: Text = ""
    plan_level: Text = ""
    timezone: StoreTimezone | None = StoreTimezone()
    is_price_entered_with_tax: Flag = False
    default_channel_id: OptionalId = None


@bc_type
class AppUser(BcType):
    id: OptionalId = None
    email: Text = ""


@bc_type
class AppToken(BcType):
    """The login host's answer to a single-click app's code exchange (`POST /oauth2/token`)."""

    RESOURCE = "oauth token"

    access_token: Text = field(repr=False)
    context: Text
    scope: Text = ""
    user: AppUser | None = AppUser()
    owner: AppUser | None = AppUser()

    def _derive(self) -> None:
        if not self.context.startswith("stores/") or not self.store_hash.isalnum():
            raise ValueError(f"field `context` is unreadable ({self.context[:40]!r})")
        if not self.access_token:
            raise ValueError("field `access_token` is empty")

    @property
    def store_hash(self) -> str:
        return self.context.removeprefix("stores/")

    @property
    def user_id(self) -> int | None:
        return self.user.id

    @property
    def user_email(self) -> str:
        return self.user.email

    @property
    def owner_email(self) -> str:
        return self.owner.email


# ---------------------------------------------------------------- orders


@bc_type
class Address(BcType):
    """A billing or shipping address as BigCommerce's V2 orders give it."""

    first_name: Text = ""
    last_name: Text = ""
    company: Text = ""
    street_1: Text = ""
    street_2: Text = ""
    city: Text = ""
    state: Text = ""
    zip: Text = ""
    country: Text = ""
    country_iso2: Text = ""
    phone: Text = ""
    email: Text = ""

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@bc_type
class AppliedDiscount(BcType):
    RESOURCE = "{parent} discount"

    amount: Money
    id: Text = ""
    name: Text = ""
    code: Text = None
    target: Text = ""


@bc_type
class ProductOption(BcType):
    RESOURCE = "{parent} option"

    display_name: Text = ""
    display_value: Text = ""
    option_id: OptionalId = None
    product_option_id: OptionalId = None
    value: Text = ""


@bc_type
class OrderProduct(BcType):
    """One line of an order (`/v2/orders/{id}/products`, or inlined in consignments)."""

    RESOURCE = "order {order_id} line {id}"

    id: int
    order_id: int
    name: Text
    quantity: Count
    price_ex_tax: Money
    price_inc_tax: Money
    total_ex_tax: Money
    total_inc_tax: Money
    product_id: int | None = 0
    variant_id: ZeroIsNone = None
    order_address_id: int | None = 0
    order_pickup_method_id: ZeroIsNone = None
    sku: Text = ""
    upc: Text = ""
    type: Text = "physical"
    base_price: Money = ZERO
    price_tax: Money = ZERO
    total_tax: Money = ZERO
    applied_discounts: tuple[AppliedDiscount, ...] | None = ()
    wrapping_name: Text = ""
    base_wrapping_cost: Money = ZERO
    wrapping_cost_ex_tax: Money = ZERO
    wrapping_cost_inc_tax: Money = ZERO
    wrapping_cost_tax: Money = ZERO
    product_options: tuple[ProductOption, ...] | None = ()
    is_refunded: Flag = False
    quantity_refunded: int | None = 0
    quantity_shipped: int | None = 0

    @property
    def discount_total(self) -> Decimal:
        """The sum of the line's applied discounts."""
        return sum((d.amount for d in self.applied_discounts), ZERO)

    @classmethod
    def _prepare(cls, data: Mapping, order_id: int | None = None) -> Mapping:
        """`order_id`: the order the line belongs to, for a line that does not say."""
        return data if order_id is None or data.get("order_id") is not None else {**data, "order_id": order_id}


@bc_type
class ShippingDestination(BcType):
    """What an order's shipping address (`/shipping_addresses`) and a shipping consignment share: the address
    (its `id` is the order address id; its fields are the object's own, read into `address`), the method, costs."""

    id: int
    address: Address | None = Address()
    shipping_method: Text = ""
    shipping_zone_name: Text = ""
    items_total: int | None = 0
    items_shipped: int | None = 0
    base_cost: Money = ZERO
    cost_ex_tax: Money = ZERO
    cost_inc_tax: Money = ZERO
    cost_tax: Money = ZERO
    base_handling_cost: Money = ZERO
    handling_cost_ex_tax: Money = ZERO
    handling_cost_inc_tax: Money = ZERO
    handling_cost_tax: Money = ZERO


@bc_type
class ShippingConsignment(ShippingDestination):
    """A shipping consignment: one destination and its lines.

    `line_items` is None when BigCommerce sent links instead of lines; `truncated` says it cut them to 50 (an
    undocumented `__warning__`, docs issue #960). Both, and `address`, are set by `Consignments.inlined`."""

    RESOURCE = "order {order_id} shipping consignment {id}"

    line_items: tuple[OrderProduct, ...] | None = None
    truncated: bool = False


@bc_type
class PickupLocation(BcType):
    id: OptionalId = None
    name: Text = ""


@bc_type
class PickupConsignment(BcType):
    """A pickup consignment: collected at a store location. `line_items` and `truncated` as for shipping."""

    RESOURCE = "order {order_id} pickup consignment {id}"

    id: int
    pickup_method_id: OptionalId = None
    pickup_method_display_name: Text = ""
    collection_instructions: Text = ""
    location: PickupLocation | None = PickupLocation()
    line_items: tuple[OrderProduct, ...] | None = None
    truncated: bool = False


@bc_type
class Consignments(BcType):
    """An order's consignments (`include=consignments.line_items&consignment_structure=object`).

    A consignment's `line_items` is None when BigCommerce sent links instead of lines (`include=consignments`
    alone); `truncated` says BigCommerce cut some consignment to 50 inline lines.
    """

    RESOURCE = "order {order_id} consignments"

    shipping: tuple[ShippingConsignment, ...] = ()
    pickups: tuple[PickupConsignment, ...] = ()
    # Lines of digital downloads and gift certificates sent by email: no address.
    other_line_items: tuple[OrderProduct, ...] = ()
    truncated: bool = False
    line_items_inlined: bool = True

    @property
    def line_items(self) -> tuple[OrderProduct, ...]:
        lines = [li for c in (*self.shipping, *self.pickups) for li in c.line_items or ()]
        return (*lines, *self.other_line_items)

    @staticmethod
    def inlined(data: Any, order_id: Any) -> Any:
        """BigCommerce's consignments object in this class's shape, or None for a `{url, resource}` link.

        Its consignments get `line_items` None for links, `truncated` for a `__warning__`, and (shipping) their
        own address fields as `address`; downloads and e-mailed gift certificates become `other_line_items`; a
        line that does not say its order gets `order_id`.
        """
        if not isinstance(data, Mapping) or "resource" in data:
            return None
        shape: dict[str, Any] = {"truncated": False, "line_items_inlined": True}
        for kind in ("shipping", "pickups"):
            rows = data.get(kind)
            if isinstance(rows, list):
                shape[kind] = [_consignment(c, shape, order_id, address=kind == "shipping") for c in rows]
        email = data.get("email")
        groups = [
            *_list(data.get("downloads")),
            *_list(email.get("gift_certificates") if isinstance(email, Mapping) else None),
        ]
        other = []
        for group in groups:
            if isinstance(group, Mapping):
                lines = _inline_lines(group.get("line_items"), order_id)
                shape["line_items_inlined"] &= lines is not None
                shape["truncated"] |= "__warning__" in group
                other.extend(lines or ())
        shape["other_line_items"] = other
        return shape


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _inline_lines(items: Any, order_id: Any) -> list | None:
    """Inlined line items (each saying its order), or None when BigCommerce sent `{url, resource}` links instead."""
    if not isinstance(items, list):
        return None
    lines = []
    for item in items:
        if isinstance(item, Mapping):
            if "resource" in item:
                return None
            if item.get("order_id") is None:
                item = {**item, "order_id": order_id}
        lines.append(item)
    return lines


def _consignment(data: Any, shape: dict, order_id: Any, *, address: bool) -> Any:
    if not isinstance(data, Mapping):
        return data
    lines = _inline_lines(data.get("line_items"), order_id)
    truncated = "__warning__" in data
    shape["line_items_inlined"] &= lines is not None
    shape["truncated"] |= truncated
    return {**data, "line_items": lines, "truncated": truncated, **({"address": data} if address else {})}


@bc_type
class OrderFee(BcType):
    """An order-level fee (`fees` of `GET /v2/orders/{id}?include=fees`): a custom charge with its own tax.

    BigCommerce's documents spell the ex-tax amount both `cost_ex_tax` (the schema) and `cost_exc_tax` (its own
    examples); `Order._prepare` reads either."""

    RESOURCE = "order {order_id} fee {id}"

    id: int
    cost_ex_tax: Money
    cost_inc_tax: Money
    cost_tax: Money = ZERO
    type: Text = "custom_fee"
    display_name_customer: Text = ""
    display_name_merchant: Text = ""
    base_cost: Money = ZERO
    tax_class_id: OptionalId = None

    @property
    def name(self) -> str:
        return self.display_name_merchant or self.display_name_customer or "Fee"


def _fees(data: Any) -> list | None:
    """The inlined fees with `cost_exc_tax` read as `cost_ex_tax`, or None for a `{url, resource}` link."""
    if not isinstance(data, list):
        return None
    fees = []
    for fee in data:
        if isinstance(fee, Mapping) and fee.get("cost_ex_tax") is None and "cost_exc_tax" in fee:
            fee = {**fee, "cost_ex_tax": fee["cost_exc_tax"]}
        fees.append(fee)
    return fees


class LineItemsNotIncluded(ValueError):
    """The order was fetched without its line items; ask the client for `include_line_items=True`."""


@bc_type
class Order(BcType):
    """A V2 order (`GET /v2/orders/{id}`). `customer_id` 0 is a guest. Amounts are the transactional currency's."""

    RESOURCE = "order {id}"

    id: int
    status_id: int
    date_created: RequiredDate
    date_modified: RequiredDate
    default_currency_code: Text
    subtotal_ex_tax: Money
    subtotal_inc_tax: Money
    total_ex_tax: Money
    total_inc_tax: Money
    total_tax: Money
    status: Text = ""
    customer_id: int | None = 0
    date_shipped: Date = None
    currency_code: Text = ""
    # The transactional currency (`default_currency_code`) against the store's default: present with
    # Multi-Currency, "the exchange rate between the store's default currency and the transactional currency".
    store_default_currency_code: Text = ""
    store_default_to_transactional_exchange_rate: Money = None
    # The display currency's rate ("always 1" for orders made through the API): not used for amounts.
    currency_exchange_rate: Money = None
    is_tax_inclusive_pricing: Flag = False
    subtotal_tax: Money = ZERO
    base_shipping_cost: Money = ZERO
    shipping_cost_ex_tax: Money = ZERO
    shipping_cost_inc_tax: Money = ZERO
    shipping_cost_tax: Money = ZERO
    base_handling_cost: Money = ZERO
    handling_cost_ex_tax: Money = ZERO
    handling_cost_inc_tax: Money = ZERO
    handling_cost_tax: Money = ZERO
    base_wrapping_cost: Money = ZERO
    wrapping_cost_ex_tax: Money = ZERO
    wrapping_cost_inc_tax: Money = ZERO
    wrapping_cost_tax: Money = ZERO
    discount_amount: Money = ZERO
    coupon_discount: Money = ZERO
    store_credit_amount: Money = ZERO
    gift_certificate_amount: Money = ZERO
    items_total: int | None = 0
    items_shipped: int | None = 0
    payment_method: Text = ""
    payment_provider_id: Text = ""
    payment_status: Text = ""
    customer_message: Text = ""
    staff_notes: Text = ""
    order_source: Text = ""
    external_source: Text = ""
    external_id: Text = ""
    channel_id: int | None = 1
    is_deleted: Flag = False
    billing_address: Address | None = Address()
    consignments: Consignments | None = None
    # None: not inlined (`include=fees` not asked), BigCommerce sent a `{url, resource}` link.
    fees: tuple[OrderFee, ...] | None = None

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
    def _prepare(cls, data: Mapping, **context: Any) -> Mapping:
        consignments, fees = data.get("consignments"), data.get("fees")
        if consignments is None and fees is None:
            return data
        shaped = {**data, "fees": _fees(fees)}
        if consignments is not None:
            shaped["consignments"] = Consignments.inlined(consignments, data.get("id"))
        return shaped


@bc_type
class StatusCount(BcType):
    RESOURCE = "order count status"

    id: int
    count: int | None = 0


@bc_type
class OrderCount(BcType):
    """`GET /v2/orders/count`: the total (`count`) and the count per status id."""

    RESOURCE = "order count"

    count: int
    statuses: tuple[StatusCount, ...] | None = ()

    @property
    def total(self) -> int:
        return self.count

    @property
    def by_status(self) -> dict[int, int]:
        return {s.id: s.count for s in self.statuses}


@bc_type
class ShippingAddress(ShippingDestination):
    """`GET /v2/orders/{id}/shipping_addresses`: a destination, its shipping method and costs."""

    RESOURCE = "order {order_id} shipping address {id}"

    order_id: int = field(kw_only=True)

    @classmethod
    def _prepare(cls, data: Mapping, **context: Any) -> Mapping:
        return {**data, "address": data}


@bc_type
class ShipmentItem(BcType):
    RESOURCE = "{parent} item"

    order_product_id: int
    quantity: int
    product_id: OptionalId = None


@bc_type
class Shipment(BcType):
    """A V2 shipment (`GET`/`POST /v2/orders/{id}/shipments`). `tracking_link` falls back to the generated one."""

    RESOURCE = "order {order_id} shipment {id}"

    id: int
    order_id: int
    order_address_id: int | None = 0
    date_created: Date = None
    tracking_number: Text = ""
    tracking_carrier: Text = ""
    tracking_link: Text = ""
    generated_tracking_link: Text = ""
    shipping_provider: Text = ""
    shipping_method: Text = ""
    comments: Text = ""
    items: tuple[ShipmentItem, ...] | None = ()

    def _derive(self) -> None:
        if not self.tracking_link:
            object.__setattr__(self, "tracking_link", self.generated_tracking_link)


# ---------------------------------------------------------------- payments (Orders V3)


@bc_type
class OfflinePayment(BcType):
    display_name: Text = ""


@bc_type
class CustomPayment(BcType):
    payment_method: Text = ""


@bc_type
class Transaction(BcType):
    """`GET /v3/orders/{id}/transactions`: a payment event. `order_id` arrives as a string; here it is an int."""

    RESOURCE = "order {order_id} transaction {id}"

    id: int
    order_id: int
    event: Text
    method: Text
    amount: Money
    currency: Text
    gateway: Text
    gateway_transaction_id: Text = ""
    status: Text = ""
    test: Flag = False
    date_created: Date = None
    payment_method_id: Text = ""
    # The merchant's label for an offline method ("Cash on Delivery") or a custom one ("Manual").
    offline: OfflinePayment | None = OfflinePayment()
    custom: CustomPayment | None = CustomPayment()

    @property
    def method_label(self) -> str:
        """The most specific label BigCommerce gives the payment method."""
        return self.offline.display_name or self.custom.payment_method or self.gateway or self.method


@bc_type
class RefundPayment(BcType):
    RESOURCE = "{parent} payment"

    amount: Money
    id: OptionalId = None
    provider_id: Text = ""
    offline: Flag = False
    is_declined: Flag = False


@bc_type
class RefundItem(BcType):
    RESOURCE = "{parent} item"

    item_type: Text
    item_id: OptionalId = None
    quantity: int | None = None
    requested_amount: Money = None


@bc_type
class Refund(BcType):
    """A V3 refund (`GET /v3/orders/{id}/payment_actions/refunds`): what was refunded and how it was paid back."""

    RESOURCE = "order {order_id} refund {id}"

    id: int
    order_id: int
    total_amount: Money
    created: Date = None
    reason: Text = ""
    total_tax: Money = ZERO
    payments: tuple[RefundPayment, ...] | None = ()
    items: tuple[RefundItem, ...] | None = ()

    @property
    def refunded_amount(self) -> Decimal:
        """What actually went back to the customer: the payments that were not declined."""
        return sum((p.amount for p in self.payments if not p.is_declined), ZERO)


# ---------------------------------------------------------------- customers, hooks, catalog, inventory


@bc_type
class Customer(BcType):
    """A V3 customer (`GET /v3/customers?id:in=...`)."""

    RESOURCE = "customer {id}"

    id: int
    email: Text = ""
    first_name: Text = ""
    last_name: Text = ""
    company: Text = ""
    phone: Text = ""
    notes: Text = ""
    customer_group_id: OptionalId = None
    date_created: Date = None
    date_modified: Date = None


@bc_type
class Hook(BcType):
    """A V3 webhook subscription. BigCommerce echoes `headers` on every delivery."""

    RESOURCE = "hook {id}"

    id: int
    scope: Text
    destination: Text
    is_active: Flag = False
    headers: dict[str, str] | None = field(default_factory=dict)
    client_id: Text = ""
    created_at: Date = None
    updated_at: Date = None


@bc_type
class OptionValue(BcType):
    option_display_name: Text = ""
    label: Text = ""


@bc_type
class Variant(BcType):
    """A V3 catalog variant. `price` None means "the product's price"; `sku_id` None is the base variant."""

    RESOURCE = "product {product_id} variant {id}"

    id: int
    product_id: int
    sku: Text = ""
    sku_id: OptionalId = None
    price: Money = None
    sale_price: Money = None
    calculated_price: Money = None
    cost_price: Money = None
    inventory_level: int | None = 0
    purchasing_disabled: Flag = False
    upc: Text = ""
    option_values: tuple[OptionValue, ...] | None = ()


@bc_type
class CatalogProduct(BcType):
    """A V3 catalog product. `inventory_level` is the default location's only (BigCommerce's rule)."""

    RESOURCE = "product {id}"

    id: int
    name: Text
    sku: Text = ""
    type: Text = "physical"
    price: Money = ZERO
    sale_price: Money = ZERO
    retail_price: Money = ZERO
    cost_price: Money = ZERO
    calculated_price: Money = None
    inventory_level: int | None = 0
    inventory_tracking: Text = "none"
    base_variant_id: OptionalId = None
    is_visible: Flag = True
    date_modified: Date = None
    # Only with `include=variants` (the catalog match report reads the whole catalog that way).
    variants: tuple[Variant, ...] | None = ()


@bc_type
class Location(BcType):
    """A V3 inventory location. Location 1 is the store's default."""

    RESOURCE = "location {id}"

    id: int
    code: Text = ""
    label: Text = ""
    enabled: Flag = True
    type_id: Text = ""


class LocationItem(typing.NamedTuple):
    """One item of `GET /v3/inventory/locations/{id}/items`: the variant (and its product) and units on hand."""

    product_id: int | None
    variant_id: int
    on_hand: int


# ---------------------------------------------------------------- webhook callbacks


@bc_type
class HookStatus(BcType):
    previous_status_id: int | None = None
    new_status_id: int | None = None


@bc_type
class WebhookCallback(BcType):
    """A webhook delivery's body. `store_id` arrives as a string; `order_id` is the order it is about (an order
    event's `data.id`, a shipment's `data.orderId`), None for other resources."""

    RESOURCE = "webhook {scope}"

    scope: Text
    store_id: int
    hash: Text
    created_at: RequiredDate
    producer: Text = ""
    data: dict[str, Any] | None = field(default_factory=dict)
    order_id: int | None = field(default=None, init=False)
    previous_status_id: int | None = field(default=None, init=False)
    new_status_id: int | None = field(default=None, init=False)

    def _derive(self) -> None:
        body = self.data
        key = next((k for k in ("orderId", "order_id") if k in body), None)
        key = "id" if body.get("type") == "order" else key
        status = body.get("status")
        try:
            if key is not None:
                object.__setattr__(self, "order_id", msgspec.convert(body.get(key), int, strict=False))
            status = msgspec.convert(status if isinstance(status, Mapping) else {}, HookStatus, strict=False)
        except msgspec.ValidationError:
            raise ValueError(f"field `data` is unreadable ({str(body)[:40]!r})") from None
        object.__setattr__(self, "previous_status_id", status.previous_status_id)
        object.__setattr__(self, "new_status_id", status.new_status_id)
