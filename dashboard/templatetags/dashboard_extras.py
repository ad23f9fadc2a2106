"""Template filters of the staff pages: badge colours from the choice classes, and reason / event labels."""

from __future__ import annotations

from django import template

from integration.choices import LinkState, LogLevel, OrderSyncState
from integration.selectors import code_label as _code_label
from integration.selectors import reason_for
from pos.choices import FulfillmentState, PaymentState, SaleStatus

register = template.Library()

_COLOURS = {
    "sale": SaleStatus.colour,
    "payment": PaymentState.colour,
    "fulfillment": FulfillmentState.colour,
    "sync": OrderSyncState.colour,
    "level": LogLevel.colour,
    "link": lambda value: {LinkState.ACTIVE: "success", LinkState.PAUSED: "warning"}.get(value, "secondary"),
}


@register.filter
def badge_colour(value: str, kind: str) -> str:
    """`{{ sale.status|badge_colour:"sale" }}` -> a Bootstrap colour name for the badge."""
    return _COLOURS[kind](value)


@register.filter
def code_label(code: str) -> str:
    """`{{ sync.last_error_code|code_label }}` -> "Order not found"."""
    return _code_label(code or "")


@register.filter
def reason_fix(code: str) -> str:
    """The suggested fix for a failure reason code ("" when the code is unknown)."""
    reason = reason_for(code or "")
    return reason.fix if reason else ""
