"""Template tags of the staff pages: status badges from the choice classes, and reason / event labels.

Badges and labels come from dicts built once, not from `get_FOO_display()`, which rebuilds its choices dict on
every call: on a 200-row list that was a measurable part of the page's time.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from integration.choices import LinkState, LogLevel, OrderSyncState
from integration.selectors import code_label as _code_label
from integration.selectors import reason_for
from integration.status_table import STATUS_TABLE
from pos.choices import Channel, FulfillmentState, PaymentState, SaleStatus

register = template.Library()

_CHOICES = {
    "sale": SaleStatus,
    "payment": PaymentState,
    "fulfillment": FulfillmentState,
    "sync": OrderSyncState,
    "level": LogLevel,
    "link": LinkState,
    "channel": Channel,
}
_LABELS = {kind: dict(choices.choices) for kind, choices in _CHOICES.items()}
_LINK_COLOURS = {LinkState.ACTIVE: "success", LinkState.PAUSED: "warning"}


def _colour(value: str, kind: str) -> str:
    if kind == "link":
        return _LINK_COLOURS.get(value, "secondary")
    return _CHOICES[kind].colour(value)


@register.filter
def choice_label(value: str, kind: str) -> str:
    """`{{ sale.channel|choice_label:"channel" }}` -> "BigCommerce"."""
    return str(_LABELS[kind].get(value, value))


@register.filter
def badge_colour(value: str, kind: str) -> str:
    """`{{ sale.status|badge_colour:"sale" }}` -> a Bootstrap colour name."""
    return _colour(value, kind)


@register.simple_tag
def badge(value: str, kind: str, label: str = "", testid: str = "") -> str:
    """`{% badge sale.status "sale" %}` -> a Bootstrap badge in the status's colour with its label."""
    return format_html(
        '<span class="badge text-bg-{}"{}>{}</span>',
        _colour(value, kind),
        format_html(' data-testid="{}"', testid) if testid else "",
        label or choice_label(value, kind),
    )


ADDRESS_PARTS = ("street_1", "street_2", "city", "state", "zip", "country")


@register.filter
def address_line(address: dict | None) -> str:
    """A BigCommerce-style address dict on one line, in postal order: "12 High St, London, N1 9GU, UK"."""
    address = address or {}
    return ", ".join(str(address[part]) for part in ADDRESS_PARTS if address.get(part))


@register.filter
def code_label(code: str) -> str:
    """`{{ sync.last_error_code|code_label }}` -> "Order not found"."""
    return _code_label(code or "")


@register.filter
def reason_fix(code: str) -> str:
    """The suggested fix for a failure reason code ("" when the code is unknown)."""
    reason = reason_for(code or "")
    return reason.fix if reason else ""


TIME_FORMAT = "%Y-%m-%d %H:%M"


@register.filter
def when(value: datetime | None, precision: str = "") -> str:
    """A moment as every page shows it: in the viewer's time zone (the retailer's; UTC for support without a
    retailer), in one format, labelled with the zone: `2025-03-01 14:05 GMT` (`|when:"seconds"` adds the
    seconds). The full zone name is its tooltip; the machine-readable instant is its `datetime`. "" for None."""
    if not isinstance(value, datetime):
        return ""
    return Moments(seconds=precision == "seconds")(value)


class Moments:
    """`when` for many moments (a list's rows): the zone is looked up once, not per row. Call it with a datetime."""

    def __init__(self, *, seconds: bool = False):
        self.zone = timezone.get_current_timezone()
        self.zone_name = escape(timezone.get_current_timezone_name())
        self.format = TIME_FORMAT + (":%S" if seconds else "")

    def __call__(self, value: datetime) -> SafeString:
        local = value.astimezone(self.zone) if timezone.is_aware(value) else value
        # Digits, dashes, colons and the zone's abbreviation: nothing to escape but the zone name, done once.
        return mark_safe(  # noqa: S308 - see above
            f'<time datetime="{value.isoformat()}" title="{self.zone_name}">{local.strftime(self.format)} '
            f"{escape(local.strftime('%Z')) or self.zone_name}</time>"
        )


CENTS = Decimal("0.01")


def money(value: Decimal) -> str:
    """An amount as `floatformat:"2g"` shows it (two decimals rounded half up, thousands grouped: 1,234.50), at a
    fraction of its cost, for long lists."""
    cents = value.quantize(CENTS, rounding=ROUND_HALF_UP)
    return f"{cents if cents else cents.copy_abs():,}"  # -0.00 shows as 0.00, as floatformat does


@register.filter
def rate(value: Decimal | None) -> str:
    """An exchange rate without its trailing zeros: 0.9200000000 shows as 0.92."""
    return "" if value is None else f"{value.normalize():f}"


@register.filter
def when_text(value: datetime | None) -> str:
    """`when` as plain text (for attributes and emails): `2025-03-01 14:05 GMT`."""
    if not isinstance(value, datetime):
        return ""
    local = timezone.localtime(value)
    return f"{local:{TIME_FORMAT}} {local.strftime('%Z') or timezone.get_current_timezone_name()}"


@register.filter
def audit_summary(entry) -> str:
    """What an audit entry changed, in a few words: the name or username it concerns and the fields changed."""
    detail = entry.detail or {}
    parts = [str(detail[key]) for key in ("name", "username", "store_hash") if detail.get(key)]
    changed = detail.get("changed")
    if isinstance(changed, dict):
        parts.append(", ".join(f"{field.replace('_', ' ')}: {old} → {new}" for field, (old, new) in changed.items()))
    elif isinstance(changed, list) and len(changed) == 2:
        parts.append(f"{changed[0]} → {changed[1]}")
    if "setting" in detail:
        parts.append(f"{str(detail['setting']).replace('_', ' ')}: {detail.get('value')}")
    return " · ".join(parts)


@register.filter
def bc_status(status_id: int | None) -> str:
    """A BigCommerce status id in words ("Completed"); an id this version does not know says so."""
    if status_id is None:
        return ""
    status = STATUS_TABLE.get(status_id)
    return status.label if status else f"an unknown status (id {status_id})"
