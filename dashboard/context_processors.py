from __future__ import annotations

from dashboard.nav import nav_items


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
