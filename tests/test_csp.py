"""The Content-Security-Policy is in force on every page, and no page needs more than it allows.

Every GET route of the registry (tests/url_access.py) is fetched by someone allowed to see it, on a retailer with
a linked store, a fortnight of sales, a fulfilment, failing orders, a sync log, products with stock and one to
review, so pages render their full content (tables, charts, forms, badges), plus the error pages and the app's
page in BigCommerce's control panel. Each answer must carry a strict policy (scripts from our origin or with the
request's nonce, no 'unsafe-inline' or 'unsafe-eval') and its HTML must need nothing more: no inline <script>
without that nonce, no <style> element, no style="..." attribute, no on*="..." handler, no hx-on, and no
javascript: URL.
"""

from __future__ import annotations

import re
import time
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.urls import reverse

from integration.services.app_install import app_claim_token
from pos.choices import Role
from pos.tenancy import SESSION_KEY
from sandbox.auth import signed_payload_jwt
from tests import factories
from tests.fixtures_catalog import receive
from tests.url_access import ROUTES, Access, route_methods

pytestmark = pytest.mark.django_db

# Data blocks (json_script) are never executed, so the policy does not apply to them.
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href"}


class PageAudit(HTMLParser):
    """What in a page the policy would block (or that needs script evaluation)."""

    def __init__(self, nonce: str | None):
        super().__init__(convert_charrefs=True)
        self.nonce = nonce
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        where = f"<{tag}{''.join(f' {k}' for k in attributes)}>"
        executed = (attributes.get("type") or "").lower() not in DATA_SCRIPT_TYPES
        if tag == "script" and "src" not in attributes and executed and attributes.get("nonce") != self.nonce:
            self.problems.append(f"inline script without the request's nonce: {where}")
        if tag == "style":
            self.problems.append("a <style> element (style-src is 'self' only)")
        for name, value in attrs:
            if name == "style":
                self.problems.append(f"a style attribute: {where} style={value!r}")
            elif re.fullmatch(r"on[a-z]+", name):
                self.problems.append(f"an event-handler attribute: {where} {name}={value!r}")
            elif name.startswith(("hx-on", "data-hx-on")):
                self.problems.append(f"hx-on needs eval: {where} {name}={value!r}")
            elif name in URL_ATTRIBUTES and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"a javascript: URL: {where} {name}={value!r}")


def policy(response) -> dict[str, list[str]]:
    header = response.get("Content-Security-Policy", "")
    directives = (part.split() for part in header.split(";") if part.strip())
    return {words[0]: words[1:] for words in directives}


def assert_policy_in_force(response) -> None:
    directives = policy(response)
    assert directives, "no Content-Security-Policy header"
    scripts = directives.get("script-src", directives.get("default-src", []))
    # The nonce is in the header once the page used it (Django adds it lazily); without it only 'self' runs.
    nonces = [source.removeprefix("'nonce-").removesuffix("'") for source in scripts if source.startswith("'nonce-")]
    assert "'self'" in scripts and len(nonces) <= 1, directives.get("script-src")
    sources = [source for values in directives.values() for source in values]
    assert "'unsafe-inline'" not in sources and "'unsafe-eval'" not in sources
    assert directives.get("object-src") == ["'none'"]
    content_type = response.get("Content-Type", "")
    if content_type.startswith("text/html"):
        audit = PageAudit(nonce=nonces[0] if nonces else None)
        audit.feed(response.content.decode())
        assert not audit.problems, "\n".join(audit.problems)


# ---------------------------------------------------------------- a retailer with everything on its pages


@pytest.fixture
def full_shop(history_shop, sandbox, bc_settings):
    """`history_shop` linked to the sandbox store (live status, locations), with products, stock and an install."""
    link = history_shop.link
    link.store_hash, link.api_base_url = sandbox.store_hash, sandbox.url
    link.save(update_fields=["store_hash", "api_base_url"])
    shoe = factories.ProductFactory(retailer=history_shop.retailer, name="Trail Shoe", sku="TS-1")
    from_link = factories.ProductFactory(
        retailer=history_shop.retailer, name="Trail shoe (BC)", sku="BC-TS", created_by_link=True, needs_review=True
    )
    receive(shoe, history_shop.outlet, 10, "csp:shoe")
    receive(from_link, history_shop.outlet, 3, "csp:bc")
    history_shop.products = {"shoe": shoe, "from_link": from_link}
    history_shop.install = factories.AppInstallFactory(store_hash=sandbox.store_hash, link=link)
    return history_shop


def _rich_kwargs(name: str, shop) -> dict | None:
    """The URL kwargs that show the fullest version of a page (the registry's builders make bare rows)."""
    ada = shop.sales["ada"]
    return {
        "dashboard:product_detail": {"pk": shop.products["shoe"].pk},
        "dashboard:product_edit": {"pk": shop.products["shoe"].pk},
        "dashboard:product_merge": {"pk": shop.products["from_link"].pk},
        "dashboard:sale_receipt": {"pk": shop.sales["till"].pk},
        "dashboard:sale_detail": {"pk": ada.pk},
        "dashboard:fulfillment_detail": {"pk": ada.fulfillment.pk},
        "dashboard:failed_order_row": {"pk": shop.syncs["status"].pk},
        "dashboard:failed_order_resolve": {"pk": shop.syncs["status"].pk},
        "dashboard:order_timeline": {"link_id": shop.link.pk, "order_id": shop.syncs["status"].bc_order_id},
    }.get(name)


def _rich_query(name: str, shop, sandbox) -> dict:
    if name == "dashboard:settings_bigcommerce_claim":
        return {"token": app_claim_token(install=shop.install)}
    if name == "integration:app_auth":
        return sandbox.store.auth.issue_code()
    if name in ("integration:app_load", "integration:app_uninstall"):
        jwt = signed_payload_jwt(
            client_id=settings.BIGCOMMERCE_CLIENT_ID,
            client_secret=settings.BIGCOMMERCE_CLIENT_SECRET,
            store_hash=shop.install.store_hash,
            now=time.time(),
        )
        return {"signed_payload_jwt": jwt}
    return {}


def _credentials(name: str, settings) -> dict:
    """The headers a public route needs to answer in full: the metrics endpoint's bearer token."""
    if name == "metrics":
        settings.METRICS_TOKEN = "csp-test-metrics-token"
        return {"Authorization": "Bearer csp-test-metrics-token"}
    return {}


def _viewer(client, name: str, shop):
    access = ROUTES[name].access
    if access is Access.PUBLIC:
        return client
    if access is Access.SUPPORT:
        user = factories.UserFactory(is_support=True)
        client.force_login(user)
        session = client.session
        session[SESSION_KEY] = shop.retailer.pk
        session.save()
        return client
    user = factories.UserFactory()
    factories.MembershipFactory(user=user, retailer=shop.retailer, role=Role.ADMIN)
    client.force_login(user)
    return client


GET_ROUTES = [name for name, method in route_methods() if method == "GET"]


@pytest.mark.parametrize("name", GET_ROUTES)
def test_every_page_is_under_the_policy_and_needs_nothing_it_forbids(client, full_shop, sandbox, settings, name):
    route = ROUTES[name]
    kwargs = _rich_kwargs(name, full_shop) or (route.kwargs_for(full_shop.retailer) if route.kwargs_for else None)
    query = _rich_query(name, full_shop, sandbox)
    headers = _credentials(name, settings)

    response = _viewer(client, name, full_shop).get(reverse(name, kwargs=kwargs), query, headers=headers)

    assert response.status_code == 200
    assert_policy_in_force(response)


def test_the_app_page_may_be_framed_by_the_control_panel_only(client, full_shop, sandbox):
    response = client.get(reverse("integration:app_load"), _rich_query("integration:app_load", full_shop, sandbox))

    assert response.status_code == 200
    assert policy(response)["frame-ancestors"] == ["https://*.bigcommerce.com", "https://*.mybigcommerce.com"]
    assert b'data-testid="app-linked"' in response.content


def test_error_pages_are_under_the_policy(client, staff_client, full_shop):
    not_found = staff_client.get("/no-such-page/")
    forbidden = staff_client.get(reverse("dashboard:product_create"))

    assert (not_found.status_code, forbidden.status_code) == (404, 403)
    assert_policy_in_force(not_found)
    assert_policy_in_force(forbidden)


def test_the_audit_finds_what_the_policy_would_block():
    audit = PageAudit(nonce="abc")

    audit.feed(
        '<script>alert(1)</script><script nonce="abc">ok()</script><script type="application/json">{}</script>'
        '<div style="color: red" onclick="go()" hx-on:click="x()"></div><a href="javascript:go()">x</a><style></style>'
    )

    assert len(audit.problems) == 6


def test_django_rqs_admin_pages_get_their_own_looser_policy_and_only_they(client):
    """django-rq's templates need inline script and style: its pages get a policy allowing them (nothing from
    another origin), while the rest of the admin and every product page keep the strict one."""
    client.force_login(factories.UserFactory(is_staff=True, is_superuser=True))

    rq_home = client.get(reverse("admin:django_rq_home"))
    rq_queue = client.get(reverse("admin:django_rq_jobs", kwargs={"queue_index": 0}))
    admin_index = client.get(reverse("admin:index"))

    for response in (rq_home, rq_queue):
        assert response.status_code == 200
        directives = policy(response)
        assert directives["script-src"] == ["'self'", "'unsafe-inline'"]
        assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
        assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    assert b"<script" in rq_queue.content  # what needed it
    assert_policy_in_force(admin_index)
