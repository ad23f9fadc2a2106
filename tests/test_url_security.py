"""The security sweep over every URL of the URLconf.

The routes come from the URLconf itself (every included URLconf, named or not), their methods from the views
(every method a class-based view implements), and who may use them from tests/url_access.py. From that, for every
route, method and kind of user: anonymous users go to login; people without a membership, staff on admin-only
routes and merchants on support routes get 403; support users who have not picked a retailer are sent to the
support console; another retailer's ids are 404; every unsafe request without a CSRF token is refused; no
route redirects to another site whatever `next` says; the public routes are exactly the intended ones and do
nothing without their credentials; and the Django admin (with django-rq's pages) refuses anyone who is not
platform staff.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from django.core import mail
from django.test import Client
from django.urls import resolve, reverse

from integration.models import AppInstall, StoreLink, WebhookEvent
from pos.choices import Role
from pos.tenancy import SESSION_KEY
from tests import factories
from tests.url_access import (
    PUBLIC_ROUTES,
    ROUTES,
    STAFF_ONLY_NAMESPACES,
    Access,
    Pattern,
    callbacks,
    ours,
    patterns,
    route_methods,
    view_methods,
)

pytestmark = pytest.mark.django_db

UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
# Views that take unsafe requests without a CSRF token, with the reason. Anything else must refuse them.
CSRF_EXEMPT = {"integration:webhook": "BigCommerce posts it; a secret header or a signature authenticates it"}


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    data: dict


def request_for(name: str, method: str, retailer, body_retailer=None) -> Request:
    """The request of `method` on route `name` with the ids of `retailer`'s rows in the URL, and in the body
    those of `body_retailer`'s (by default the same retailer's)."""
    route = ROUTES[name]
    if route.prepare:
        route.prepare(retailer)
    url = reverse(name, kwargs=route.kwargs_for(retailer) if route.kwargs_for else None)
    # Only POST bodies are form data to Django (it does not parse PUT or PATCH bodies).
    data = route.data_for(body_retailer or retailer) if route.data_for and method == "POST" else {}
    return Request(method, url, data)


def _call(client: Client, request: Request):
    return getattr(client, request.method.lower())(request.url, request.data)


# ---------------------------------------------------------------- the registry covers the URLconf


def test_every_route_of_ours_has_a_name():
    unnamed = [p.route for p in ours() if p.name is None]

    assert not unnamed, f"name these routes and register them in tests/url_access.py: {unnamed}"


def test_every_named_route_says_who_may_use_it():
    names = {p.name for p in ours() if p.name}

    assert not names - set(ROUTES), f"add these routes to tests/url_access.py: {sorted(names - set(ROUTES))}"
    assert not set(ROUTES) - names, f"these routes no longer exist: {sorted(set(ROUTES) - names)}"


def test_the_registered_method_is_one_the_view_answers():
    wrong = {name: route.method for name, route in ROUTES.items() if route.method not in view_methods(name)}

    assert not wrong, f"these views do not answer the method registered for them: {wrong}"


def test_the_public_routes_are_exactly_the_intended_ones():
    public = {name for name, route in ROUTES.items() if route.access is Access.PUBLIC}

    assert public == set(PUBLIC_ROUTES)


def test_only_the_webhook_takes_requests_without_a_csrf_token():
    exempt = {name for name, callback in callbacks().items() if getattr(callback, "csrf_exempt", False)}

    assert exempt == set(CSRF_EXEMPT)


# ---------------------------------------------------------------- the role matrix

LOGIN, FORBIDDEN, SUPPORT_CONSOLE, ALLOWED = "sent to login", "403", "sent to the support console", "allowed"
ROLES = ("anonymous", "outsider", "staff", "admin", "support", "support_acting")
# Who gets what, per access rule. "outsider": signed in, member of no retailer. "support": a support user who
# has not picked a retailer; "support_acting": one acting for the retailer (from the support console).
MATRIX = {
    Access.SIGNED_IN: dict.fromkeys(ROLES, ALLOWED) | {"anonymous": LOGIN},
    Access.MEMBER: {
        "anonymous": LOGIN,
        "outsider": FORBIDDEN,
        "staff": ALLOWED,
        "admin": ALLOWED,
        "support": SUPPORT_CONSOLE,
        "support_acting": ALLOWED,
    },
    Access.ADMIN: {
        "anonymous": LOGIN,
        "outsider": FORBIDDEN,
        "staff": FORBIDDEN,
        "admin": ALLOWED,
        "support": SUPPORT_CONSOLE,
        "support_acting": ALLOWED,
    },
    Access.SUPPORT: {
        "anonymous": LOGIN,
        "outsider": FORBIDDEN,
        "staff": FORBIDDEN,
        "admin": FORBIDDEN,
        "support": ALLOWED,
        "support_acting": ALLOWED,
    },
}


def sign_in(client: Client, role: str, retailer) -> Client:
    """`client` signed in as a person of `role` (of `retailer` where the role has one)."""
    if role == "anonymous":
        return client
    if role in ("staff", "admin"):
        user = factories.UserFactory()
        factories.MembershipFactory(user=user, retailer=retailer, role=Role.STAFF if role == "staff" else Role.ADMIN)
    else:
        user = factories.UserFactory(is_support=role.startswith("support"))
    client.force_login(user)
    if role == "support_acting":
        session = client.session
        session[SESSION_KEY] = retailer.pk
        session.save()
    return client


def outcome(response) -> str:
    location = response.get("Location", "")
    if response.status_code == 302 and location.startswith(reverse("login")) and "next=" in location:
        return LOGIN
    if response.status_code == 302 and location == reverse("dashboard:support"):
        return SUPPORT_CONSOLE
    if response.status_code == 403:
        return FORBIDDEN
    if response.status_code in (401, 404, 405):
        return f"refused ({response.status_code})"
    return ALLOWED


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("name", "method"), route_methods(lambda name, route, method: route.access is not Access.PUBLIC)
)
def test_role_matrix(client, retailer, name, method, role):
    expected = MATRIX[ROUTES[name].access][role]
    request = request_for(name, method, retailer)

    response = _call(sign_in(client, role, retailer), request)

    if expected == LOGIN:
        # Anonymous users always land on the login page (logout sends them there without a `next`).
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    else:
        assert outcome(response) == expected
    if expected == ALLOWED and method == "GET":
        assert response.status_code == 200


def _has_ids(route, method: str) -> bool:
    return not route.cross_retailer and (route.kwargs_for is not None or (route.data_for and method == "POST"))


@pytest.mark.parametrize(
    ("name", "method", "role"),
    [
        (name, method, role)
        for name, method in route_methods(lambda name, route, method: _has_ids(route, method))
        for role in ("staff", "admin", "support_acting")
        if MATRIX[ROUTES[name].access][role] == ALLOWED
    ],
)
def test_another_retailers_ids_are_404(client, retailer, other_retailer, name, method, role):
    request = request_for(name, method, other_retailer)

    response = _call(sign_in(client, role, retailer), request)

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("name", "method"), route_methods(lambda name, route, method: route.data_for is not None and method == "POST")
)
def test_another_retailers_ids_in_a_form_are_404(client, retailer, other_retailer, name, method):
    # The page is the admin's own; only the ids the form sends belong to another retailer.
    request = request_for(name, method, retailer, body_retailer=other_retailer)

    response = _call(sign_in(client, "admin", retailer), request)

    assert response.status_code == 404


def _allowed_client(name: str, retailer) -> Client:
    client = Client(enforce_csrf_checks=True)
    access = ROUTES[name].access
    if access is Access.PUBLIC:
        return client
    return sign_in(client, "support" if access is Access.SUPPORT else "admin", retailer)


@pytest.mark.parametrize(
    ("name", "method"), route_methods(lambda name, route, method: method in UNSAFE and name not in CSRF_EXEMPT)
)
def test_unsafe_requests_without_a_csrf_token_are_refused(retailer, name, method):
    request = request_for(name, method, retailer)
    client = _allowed_client(name, retailer)

    response = _call(client, request)

    assert response.status_code == 403
    assert b"CSRF verification failed" in response.content


@pytest.mark.parametrize(("name", "method"), route_methods())
def test_no_route_redirects_off_site_whatever_next_says(client, retailer, name, method):
    # Sign-in, the forms that go back to their list, anything reading `next`: never to another site.
    request = request_for(name, method, retailer)
    evil = "https://evil.example/phish"
    if method == "GET":
        request = Request(method, f"{request.url}?next={evil}", request.data)
    else:
        request = Request(method, f"{request.url}?next={evil}", {**request.data, "next": evil})
    access = ROUTES[name].access
    if access is not Access.PUBLIC:
        sign_in(client, "support" if access is Access.SUPPORT else "admin", retailer)

    response = _call(client, request)

    assert "evil.example" not in response.get("Location", "")


# ---------------------------------------------------------------- the public routes


def _jwt_shaped() -> str:
    return "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdG9yZXMvYWJjIn0.forged-signature-forged-signature"


# What each public route answers an anonymous caller without its credentials (or with forged ones).
PUBLIC_WITHOUT_CREDENTIALS = {
    "healthz": ("GET", {}, 200),
    "metrics": ("GET", {}, 404),
    "login": ("GET", {}, 200),
    "integration:webhook": ("POST", {}, 401),
    "integration:app_auth": ("GET", {}, 400),
    "integration:app_load": ("GET", {"signed_payload_jwt": _jwt_shaped()}, 403),
    "integration:app_uninstall": ("GET", {"signed_payload_jwt": _jwt_shaped()}, 403),
    "password_reset": ("POST", {"email": "nobody@example.com"}, 302),
    "password_reset_done": ("GET", {}, 200),
    "password_reset_confirm": ("POST", {"new_password1": "Sneaky-pass-42", "new_password2": "Sneaky-pass-42"}, 200),
    "password_reset_complete": ("GET", {}, 200),
}


def test_every_public_route_is_covered_below():
    assert set(PUBLIC_WITHOUT_CREDENTIALS) == set(PUBLIC_ROUTES)


@pytest.mark.parametrize("name", sorted(PUBLIC_WITHOUT_CREDENTIALS))
def test_public_routes_do_nothing_without_their_credentials(client, retailer, name):
    link = factories.StoreLinkFactory(retailer=retailer, store_hash="abc")
    factories.AppInstallFactory(store_hash="abc", link=link)
    user = factories.UserFactory(email="nobody-else@example.com")
    method, params, status = PUBLIC_WITHOUT_CREDENTIALS[name]
    route = ROUTES[name]
    url = reverse(name, kwargs=route.kwargs_for(retailer) if route.kwargs_for else None)
    body = json.dumps({"scope": "store/order/created", "hash": "f" * 40, "data": {"type": "order", "id": 7}})

    if method == "POST" and name.startswith("integration:"):
        response = client.post(url, body, content_type="application/json")
    elif method == "POST":
        response = client.post(url, params)
    else:
        response = client.get(url, params)

    assert response.status_code == status
    assert not WebhookEvent.objects.exists()
    assert AppInstall.objects.get().is_installed
    assert StoreLink.objects.get().is_active
    assert mail.outbox == []
    user.refresh_from_db()
    assert user.check_password("pw-correct-horse")


@pytest.mark.parametrize("name", sorted(n for n in PUBLIC_ROUTES if not hasattr(callbacks()[n], "view_class")))
def test_public_function_views_refuse_other_methods(client, name):
    other = "GET" if ROUTES[name].method == "POST" else "POST"

    assert _call(client, Request(other, reverse(name), {})).status_code == 405


# ---------------------------------------------------------------- the Django admin and django-rq

STAFF_ONLY = [p for p in patterns() if p.namespace in STAFF_ONLY_NAMESPACES]
# The admin's own sign-in page is public by design (it refuses non-staff credentials).
STAFF_ONLY_PUBLIC = {"admin:login"}
SAMPLE_BY_CONVERTER = {"int": "1", "str": "sample", "path": "1", "slug": "sample", "uuid": "0" * 32}
SAMPLE_KWARGS = {"app_label": "pos", "token": "sample", "url": "nowhere/"}


def _concrete_path(pattern: Pattern) -> str:
    """A path that resolves to `pattern`, with sample values for its parameters."""
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)\??", lambda m: SAMPLE_KWARGS[m.group(1)], pattern.route)
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE_BY_CONVERTER[m.group(1) or "str"], route)
    return "/" + route.replace("^", "").replace("$", "").replace("/?", "/")


def test_every_staff_only_pattern_gets_a_path_that_reaches_it():
    # Where two patterns share a path, the first one answers it (django-rq's dashboard shadows its changelist).
    first = {}
    for pattern in STAFF_ONLY:
        first.setdefault(_concrete_path(pattern), pattern)
    wrong = [p.route for p in STAFF_ONLY if resolve(_concrete_path(p)).func is not first[_concrete_path(p)].callback]

    assert not wrong, wrong


@pytest.mark.parametrize("method", ("GET", "POST"))
@pytest.mark.parametrize("role", ("anonymous", "admin"))
def test_the_django_admin_and_django_rq_refuse_anyone_but_platform_staff(client, retailer, role, method):
    client = sign_in(client, role, retailer)
    admin_login, admin_index = reverse("admin:login"), reverse("admin:index")
    reached = []

    for pattern in STAFF_ONLY:
        if pattern.name in STAFF_ONLY_PUBLIC:
            continue
        path = _concrete_path(pattern)
        response = _call(client, Request(method, path, {}))
        # The admin sends non-staff to its login page (its logout view: to its index, which does the same).
        refused = response.status_code in (401, 403, 404) or (
            response.status_code == 302 and response["Location"].startswith((admin_login, admin_index))
        )
        if not refused:
            reached.append(f"{method} {path}: {response.status_code}")

    assert not reached, reached


def test_platform_staff_do_reach_the_admin_and_django_rq(client):
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))

    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:django_rq_home")).status_code == 200
