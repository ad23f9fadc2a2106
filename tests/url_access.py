"""Who may reach each URL of the URLconf: the registry the security sweep (tests/test_url_security.py) walks.

Every named route must be listed here, so a new page cannot be added without saying who may use it. Each entry
gives the access rule, the HTTP method a function view answers (class-based views are asked which methods they
implement), a builder that creates an object of a given retailer and returns the URL kwargs (routes with ids: the
sweep checks that another retailer's id is a 404), and what else the page needs to exist to do its work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from functools import cache

from django.urls import URLPattern, URLResolver, get_resolver

from integration.choices import OrderSyncState
from tests import factories


class Access(Enum):
    PUBLIC = "public"  # no sign-in (webhooks, app callbacks, health, login); see PUBLIC_ROUTES
    MEMBER = "member"  # any member of the retailer (staff included)
    ADMIN = "admin"  # merchant admins (and support acting for the retailer); staff get 403
    SUPPORT = "support"  # platform support users only
    SIGNED_IN = "signed_in"  # any signed-in user, no retailer needed (password change, logout)


@dataclass(frozen=True)
class Route:
    access: Access
    # The method the route is used with. A function view is swept with it alone; a class-based view with every
    # method its class implements (and this one must be among them).
    method: str = "GET"
    # Given a retailer, create what the URL needs and return its kwargs. None: the URL takes no kwargs.
    kwargs_for: Callable | None = None
    # Given a retailer, create what the view needs to do its work (a linked store...), so that an allowed role
    # gets the page and not a "nothing here" 404.
    prepare: Callable | None = None
    # Given a retailer, the body of a POST that gets to the work (ids of that retailer's rows).
    data_for: Callable | None = None
    # The route looks objects up across retailers on purpose (support switching): skip the 404 check.
    cross_retailer: bool = False


# The routes anyone may call without signing in, each with the reason. Adding one is a security decision: the
# sweep fails until it is listed here too, and tests/test_url_security.py says what each must refuse.
PUBLIC_ROUTES = {
    "healthz": "load balancers probe it; it says ok or error and nothing else",
    "metrics": "Prometheus scrapes it: a 404 while METRICS_TOKEN is unset, a 401 without that bearer token",
    "login": "the sign-in form itself (throttled)",
    "integration:webhook": "BigCommerce's deliveries: authenticated by the link's secret header or a signature",
    "integration:app_auth": "BigCommerce's install callback: nothing happens without a code BigCommerce accepts",
    "integration:app_load": "BigCommerce's load callback: nothing is shown without a valid signed_payload_jwt",
    "integration:app_uninstall": "BigCommerce's uninstall callback: nothing happens without a valid JWT",
    "password_reset": "asking for a reset email: throttled, and it never says whether the address has an account",
    "password_reset_done": "a static page: check your email",
    "password_reset_confirm": "choosing a password: nothing happens without a valid one-use token from the email",
    "password_reset_complete": "a static page: your password is saved",
}

# Namespaces with their own access control (the Django admin and django-rq's pages in it: is_staff only); the
# sweep checks separately that anonymous users and merchant admins are refused everywhere in them.
STAFF_ONLY_NAMESPACES = {"admin"}


def product_kwargs(retailer, **fields) -> dict:
    return {"pk": factories.ProductFactory(retailer=retailer, **fields).pk}


def sale_kwargs(retailer) -> dict:
    return {"pk": factories.SaleLineFactory(sale__retailer=retailer).sale.pk}


def fulfillment_kwargs(retailer) -> dict:
    return {"pk": factories.FulfillmentFactory(sale__retailer=retailer).pk}


def failed_sync_kwargs(retailer) -> dict:
    link = factories.StoreLinkFactory(retailer=retailer)
    sync = factories.OrderSyncFactory(link=link, state=OrderSyncState.NEEDS_ATTENTION, last_error_code="unknown_status")
    return {"pk": sync.pk}


def timeline_kwargs(retailer) -> dict:
    return {"link_id": factories.StoreLinkFactory(retailer=retailer).pk, "order_id": 4242}


def import_kwargs(retailer) -> dict:
    link = retailer.store_links.first() or factories.StoreLinkFactory(retailer=retailer)
    return {"pk": factories.HistoricalImportFactory(link=link).pk}


def register_id(retailer) -> int:
    return factories.RegisterFactory(outlet__retailer=retailer).pk


def outlet_kwargs(retailer) -> dict:
    return {"pk": factories.OutletFactory(retailer=retailer).pk}


def register_kwargs(retailer) -> dict:
    return {"pk": register_id(retailer)}


def payment_type_kwargs(retailer) -> dict:
    return {"pk": factories.PaymentTypeFactory(retailer=retailer).pk}


def person_kwargs(retailer) -> dict:
    return {"pk": factories.MembershipFactory(retailer=retailer).pk}


def reset_link_kwargs(retailer) -> dict:
    """A password reset link whose token is not valid: the page says so."""
    return {"uidb64": "MQ", "token": "not-a-valid-token"}


def linked_store(retailer) -> None:
    """A live link whose API answers nothing (a closed loopback port): pages show "could not reach" at once."""
    factories.StoreLinkFactory(retailer=retailer, api_base_url="http://127.0.0.1:9")


ROUTES: dict[str, Route] = {
    "healthz": Route(Access.PUBLIC),
    "metrics": Route(Access.PUBLIC),
    "integration:webhook": Route(Access.PUBLIC, method="POST"),
    "integration:app_auth": Route(Access.PUBLIC),
    "integration:app_load": Route(Access.PUBLIC),
    "integration:app_uninstall": Route(Access.PUBLIC),
    "login": Route(Access.PUBLIC),
    "logout": Route(Access.SIGNED_IN, method="POST"),
    "password_change": Route(Access.SIGNED_IN),
    "password_change_done": Route(Access.SIGNED_IN),
    "password_reset": Route(Access.PUBLIC),
    "password_reset_done": Route(Access.PUBLIC),
    "password_reset_confirm": Route(Access.PUBLIC, kwargs_for=reset_link_kwargs, cross_retailer=True),
    "password_reset_complete": Route(Access.PUBLIC),
    "dashboard:overview": Route(Access.MEMBER),
    "dashboard:catalog": Route(Access.MEMBER),
    "dashboard:product_create": Route(Access.ADMIN),
    "dashboard:product_review": Route(Access.MEMBER),
    "dashboard:product_detail": Route(Access.MEMBER, kwargs_for=product_kwargs),
    "dashboard:product_edit": Route(Access.ADMIN, kwargs_for=product_kwargs),
    "dashboard:product_accept": Route(
        Access.ADMIN, method="POST", kwargs_for=lambda retailer: product_kwargs(retailer, needs_review=True)
    ),
    "dashboard:product_merge": Route(
        Access.ADMIN, kwargs_for=product_kwargs, data_for=lambda retailer: {"into": product_kwargs(retailer)["pk"]}
    ),
    "dashboard:stock": Route(Access.MEMBER),
    "dashboard:stock_adjust": Route(
        Access.ADMIN, data_for=lambda retailer: {"product": product_kwargs(retailer)["pk"]}
    ),
    "dashboard:stock_count": Route(Access.MEMBER),
    "dashboard:stock_drift": Route(Access.MEMBER),
    "dashboard:sell": Route(Access.MEMBER, data_for=lambda retailer: {"register": register_id(retailer)}),
    "dashboard:sale_receipt": Route(Access.MEMBER, kwargs_for=sale_kwargs),
    "dashboard:fulfillments": Route(Access.MEMBER),
    "dashboard:fulfillment_detail": Route(Access.MEMBER, kwargs_for=fulfillment_kwargs),
    **{
        f"dashboard:fulfillment_{action}": Route(Access.MEMBER, method="POST", kwargs_for=fulfillment_kwargs)
        for action in (
            "start_picking",
            "quantities",
            "fulfil_all",
            "tracking",
            "complete",
            "cancel",
            "writeback_retry",
            "ship",
            "shipment_retry",
        )
    },
    "dashboard:sales": Route(Access.MEMBER),
    "dashboard:sales_export": Route(Access.MEMBER),
    "dashboard:sale_detail": Route(Access.MEMBER, kwargs_for=sale_kwargs),
    "dashboard:failed_orders": Route(Access.MEMBER),
    "dashboard:failed_orders_retry": Route(Access.MEMBER, method="POST"),
    "dashboard:failed_order_row": Route(Access.MEMBER, kwargs_for=failed_sync_kwargs),
    "dashboard:failed_order_retry": Route(Access.MEMBER, method="POST", kwargs_for=failed_sync_kwargs),
    "dashboard:failed_order_resolve": Route(Access.MEMBER, method="POST", kwargs_for=failed_sync_kwargs),
    "dashboard:sync_log": Route(Access.MEMBER),
    "dashboard:order_timeline": Route(Access.MEMBER, kwargs_for=timeline_kwargs),
    "dashboard:settings": Route(Access.MEMBER),
    "dashboard:settings_fulfillment": Route(Access.ADMIN, method="POST"),
    "dashboard:settings_retailer": Route(Access.ADMIN, method="POST"),
    "dashboard:settings_outlets": Route(Access.MEMBER),
    "dashboard:settings_outlet_create": Route(Access.ADMIN),
    "dashboard:settings_outlet_edit": Route(Access.ADMIN, kwargs_for=outlet_kwargs),
    "dashboard:settings_register_create": Route(
        Access.ADMIN, data_for=lambda retailer: {"outlet": outlet_kwargs(retailer)["pk"], "name": "Till 9"}
    ),
    "dashboard:settings_register_edit": Route(Access.ADMIN, kwargs_for=register_kwargs),
    "dashboard:settings_payment_types": Route(Access.MEMBER),
    "dashboard:settings_payment_type_create": Route(Access.ADMIN),
    "dashboard:settings_payment_type_edit": Route(Access.ADMIN, kwargs_for=payment_type_kwargs),
    "dashboard:settings_people": Route(Access.ADMIN),
    "dashboard:settings_person_add": Route(Access.ADMIN),
    "dashboard:settings_person": Route(Access.ADMIN, kwargs_for=person_kwargs),
    "dashboard:settings_person_active": Route(Access.ADMIN, method="POST", kwargs_for=person_kwargs),
    "dashboard:settings_person_password_email": Route(Access.ADMIN, method="POST", kwargs_for=person_kwargs),
    "dashboard:settings_bigcommerce": Route(Access.MEMBER),
    "dashboard:settings_bigcommerce_unlink": Route(Access.ADMIN),
    "dashboard:settings_bigcommerce_claim": Route(Access.ADMIN),
    "dashboard:settings_bigcommerce_link": Route(Access.ADMIN, method="POST"),
    **{
        f"dashboard:settings_bigcommerce_{action}": Route(Access.ADMIN, method="POST", prepare=linked_store)
        for action in ("update", "payment_methods", "locations", "hooks")
    },
    "dashboard:historical_import": Route(Access.MEMBER),
    "dashboard:historical_import_preview": Route(Access.ADMIN, method="POST", prepare=linked_store),
    "dashboard:historical_import_start": Route(Access.ADMIN, method="POST", prepare=linked_store),
    "dashboard:historical_import_cancel": Route(Access.ADMIN, method="POST", kwargs_for=import_kwargs),
    "dashboard:historical_import_progress": Route(Access.MEMBER, kwargs_for=import_kwargs),
    "dashboard:support": Route(Access.SUPPORT),
    "dashboard:support_historical_import": Route(
        Access.SUPPORT,
        method="POST",
        kwargs_for=lambda retailer: {"pk": retailer.pk},
        cross_retailer=True,
    ),
    "dashboard:support_switch": Route(
        Access.SUPPORT, method="POST", kwargs_for=lambda retailer: {"pk": retailer.pk}, cross_retailer=True
    ),
    "dashboard:support_store_move": Route(
        Access.SUPPORT, kwargs_for=lambda retailer: {"pk": retailer.pk}, prepare=linked_store, cross_retailer=True
    ),
}


# ---------------------------------------------------------------- the URLconf as the sweep sees it


@dataclass(frozen=True)
class Pattern:
    name: str | None  # namespaced ("dashboard:sales"); None for an unnamed pattern
    route: str  # the whole route, prefixes of included URLconfs included
    namespace: str  # the outermost namespace ("" for the root URLconf)
    callback: Callable


def _walk(resolver: URLResolver, prefix: str = "", names: str = "", top: str = "") -> Iterator[Pattern]:
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            ns = pattern.namespace
            yield from _walk(pattern, route, f"{names}{ns}:" if ns else names, top or ns or "")
        elif isinstance(pattern, URLPattern):
            yield Pattern(f"{names}{pattern.name}" if pattern.name else None, route, top, pattern.callback)


@cache
def patterns() -> tuple[Pattern, ...]:
    """Every pattern of the URLconf, in every included URLconf, named or not."""
    return tuple(_walk(get_resolver()))


def ours() -> list[Pattern]:
    """The patterns outside the staff-only namespaces: the ones ROUTES must describe."""
    return [p for p in patterns() if p.namespace not in STAFF_ONLY_NAMESPACES]


@cache
def callbacks() -> dict[str, Callable]:
    return {p.name: p.callback for p in ours() if p.name}


def view_methods(name: str) -> list[str]:
    """The HTTP methods a route answers: what its class implements, or (function views) what ROUTES says."""
    view_class = getattr(callbacks()[name], "view_class", None)
    if view_class is None:
        return [ROUTES[name].method]
    return [
        method.upper()
        for method in view_class.http_method_names
        if method not in ("head", "options", "trace") and hasattr(view_class, method)
    ]


def route_methods(predicate: Callable = lambda name, route, method: True) -> list[tuple[str, str]]:
    """(route name, method) for every registered route of the URLconf and every method its view answers."""
    return [
        (name, method)
        for name, route in sorted(ROUTES.items())
        if name in callbacks()
        for method in view_methods(name)
        if predicate(name, route, method)
    ]
