"""The dashboard's navigation, in one list. An entry shows once its URL exists, so pages join as they land."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    icon: str
    support_only: bool = False
    # Badge counts are filled by the context processor from `badge` (a key of its counts dict).
    badge: str = ""


NAV = [
    NavItem("Overview", "dashboard:overview", "speedometer2"),
    NavItem("Sell", "dashboard:sell", "cart3"),
    NavItem("Sales", "dashboard:sales", "receipt"),
    NavItem("Fulfillments", "dashboard:fulfillments", "box-seam"),
    NavItem("Failed orders", "dashboard:failed_orders", "exclamation-triangle", badge="attention"),
    NavItem("Sync log", "dashboard:sync_log", "journal-text"),
    NavItem("Catalog", "dashboard:catalog", "tags"),
    NavItem("Stock", "dashboard:stock", "boxes"),
    NavItem("Settings", "dashboard:settings", "gear"),
    NavItem("Support", "dashboard:support", "life-preserver", support_only=True),
]


def nav_items(*, is_support: bool, has_retailer: bool) -> list[tuple[NavItem, str]]:
    """(item, url) pairs the user may see."""
    items = []
    for item in NAV:
        if item.support_only and not is_support:
            continue
        if not item.support_only and not has_retailer:
            continue
        try:
            items.append((item, reverse(item.url_name)))
        except NoReverseMatch:
            continue
    return items
