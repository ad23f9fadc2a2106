from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from dashboard.nav import nav_items
from integration.selectors import attention_count


def navigation(request) -> dict:
    """The navigation entries this user may see."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    return {
        "nav_items": nav_items(
            is_support=bool(getattr(user, "is_support", False)),
            has_retailer=getattr(request, "retailer", None) is not None,
        )
    }


def attention(request) -> dict:
    """`attention_count` for the navigation badge: signed-in members only, and lazy, so the one count query runs
    only when a template shows the badge (never for htmx fragments)."""
    retailer = getattr(request, "retailer", None)
    if retailer is None:
        return {}
    return {"attention_count": SimpleLazyObject(lambda: attention_count(retailer=retailer))}
