"""A sweep over every named URL: anonymous users go to login, staff get 403 on admin-only routes, merchants get 403
on support routes, another retailer's ids are 404, and every POST without a CSRF token is refused."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests import factories
from tests.url_access import IGNORED_NAMESPACES, ROUTES, Access

pytestmark = pytest.mark.django_db


def _named_routes(resolver=None, namespace: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            ns = pattern.namespace
            if ns in IGNORED_NAMESPACES:
                continue
            prefix = f"{namespace}{ns}:" if ns else namespace
            names |= _named_routes(pattern, prefix)
        elif isinstance(pattern, URLPattern) and pattern.name:
            names.add(f"{namespace}{pattern.name}")
    return names


def _url(name: str, retailer) -> str:
    route = ROUTES[name]
    return reverse(name, kwargs=route.kwargs_for(retailer) if route.kwargs_for else None)


def _call(client: Client, name: str, retailer):
    route = ROUTES[name]
    url = _url(name, retailer)
    return client.post(url) if route.method == "POST" else client.get(url)


def test_every_named_route_says_who_may_use_it():
    missing = _named_routes() - set(ROUTES)
    assert not missing, f"add these routes to tests/url_access.py: {sorted(missing)}"
    stale = set(ROUTES) - _named_routes()
    assert not stale, f"these routes no longer exist: {sorted(stale)}"


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if r.access is not Access.PUBLIC))
def test_anonymous_users_are_sent_to_login(client, retailer, name):
    response = _call(client, name, retailer)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if r.access is Access.ADMIN))
def test_staff_get_403_on_admin_only_routes(staff_client, retailer, name):
    assert _call(staff_client, name, retailer).status_code == 403


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if r.access is Access.SUPPORT))
def test_merchant_admins_get_403_on_support_routes(admin_client, retailer, name):
    assert _call(admin_client, name, retailer).status_code == 403


@pytest.mark.parametrize(
    "name",
    sorted(
        n
        for n, r in ROUTES.items()
        if r.kwargs_for and not r.cross_retailer and r.access in (Access.MEMBER, Access.ADMIN)
    ),
)
def test_another_retailers_ids_are_404(admin_client, other_retailer, name):
    assert _call(admin_client, name, other_retailer).status_code == 404


@pytest.mark.parametrize(
    "name", sorted(n for n, r in ROUTES.items() if r.method == "POST" and r.access is not Access.PUBLIC)
)
def test_posts_without_csrf_token_are_refused(retailer, admin_user, support_user, name):
    client = Client(enforce_csrf_checks=True)
    client.force_login(support_user if ROUTES[name].access is Access.SUPPORT else admin_user)

    assert _call(client, name, retailer).status_code == 403


@pytest.mark.parametrize(
    "name", sorted(n for n, r in ROUTES.items() if r.method == "GET" and r.access in (Access.MEMBER, Access.ADMIN))
)
def test_members_pages_render_for_an_admin(admin_client, retailer, name):
    assert _call(admin_client, name, retailer).status_code == 200


def test_a_user_without_membership_is_refused(client, retailer):
    client.force_login(factories.UserFactory())

    assert client.get(reverse("dashboard:overview")).status_code == 403
