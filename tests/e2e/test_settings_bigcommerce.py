"""Browser: link the sandbox store from Settings › BigCommerce (a wrong token first), see the hooks registered in
the sandbox and an order arrive as a sale through them; unlink, relink the same store, and nothing is duplicated."""

from __future__ import annotations

import pytest
from django.conf import settings
from playwright.sync_api import expect

from integration.choices import LinkState
from integration.models import CustomerLink, ProductLink, StoreLink
from integration.services.link import HOOK_SCOPES
from pos.choices import Channel
from pos.models import Customer, Product, Sale
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser_problems(page):
    """CSP violations, script errors and failed requests the page met (the browser's favicon probe aside)."""
    problems: list[str] = []
    page.on(
        "console", lambda m: m.type == "error" and "Failed to load resource" not in m.text and problems.append(m.text)
    )
    page.on("response", lambda r: r.status >= 400 and "favicon" not in r.url and problems.append(f"{r.status} {r.url}"))
    return problems


@pytest.fixture
def public_live_server(live_server, bc_settings):
    """The sandbox delivers webhooks to the live server."""
    bc_settings.PUBLIC_BASE_URL = live_server.url
    return live_server


def _fill_link_form(page, sandbox, token: str) -> None:
    page.get_by_label("Store hash").fill(sandbox.store_hash)
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Check and link").click()


def _sync_deliveries(sandbox, run_jobs) -> None:
    """Wait for the sandbox's webhooks to reach the live server, then let the worker run the syncs."""
    assert sandbox.store.webhooks.wait_idle(timeout=15)
    run_jobs("webhooks")


def _order_sale(order_id: int) -> Sale:
    return Sale.objects.get(channel=Channel.BIGCOMMERCE, external_order_id=str(order_id))


def test_link_the_sandbox_store_from_the_settings_page(
    page, public_live_server, login, admin_user, places, sandbox, run_jobs, browser_problems, screenshot
):
    factories.ProductFactory(retailer=places["outlet"].retailer, name="Camping Stove", sku="STOVE")
    factories.ProductFactory(retailer=places["outlet"].retailer, name="Compass", sku="compass")  # BC: COMPASS
    login(admin_user)
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="Link a store").click()

    # A wrong token: the page says exactly that, and nothing is linked.
    _fill_link_form(page, sandbox, "not-the-token")
    expect(page.get_by_text("BigCommerce rejected this access token")).to_be_visible()
    expect(page.get_by_label("Access token")).to_have_value("")  # a token BigCommerce refused is not kept
    page.screenshot(path=str(settings.ARTIFACTS_DIR / "settings-bigcommerce-wrong-token.png"), full_page=True)
    assert not StoreLink.objects.exists()

    # A first link shows the catalog match report before anything is saved.
    _fill_link_form(page, sandbox, sandbox.access_token)
    expect(page.get_by_role("heading", name="Before linking Sandbox Outdoor Store: catalog match")).to_be_visible()
    expect(page.get_by_test_id("count-matched")).to_have_text("1")
    expect(page.get_by_test_id("count-collisions")).to_have_text("1")
    collisions = page.get_by_test_id("collisions")
    expect(collisions).to_contain_text("differs only in case")
    expect(collisions.get_by_role("link", name="compass in the POS")).to_be_visible()
    expect(page.get_by_test_id("created")).to_contain_text("Gift Card Envelope")
    page.screenshot(path=str(settings.ARTIFACTS_DIR / "settings-bigcommerce-catalog-match.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 860})
    screenshot("catalog-match")
    assert not StoreLink.objects.exists()
    page.get_by_role("button", name="Check again").click()
    expect(page.get_by_test_id("count-collisions")).to_have_text("1")
    page.get_by_role("button", name="Accept and link").click()
    expect(page.get_by_role("alert")).to_contain_text("Linked to Sandbox Outdoor Store.")
    expect(page.get_by_test_id("hooks")).to_contain_text(f"{len(HOOK_SCOPES)} of {len(HOOK_SCOPES)} active")
    page.screenshot(path=str(settings.ARTIFACTS_DIR / "settings-bigcommerce-linked.png"), full_page=True)

    hooks = list(sandbox.store.hooks.values())
    assert sorted(h.scope for h in hooks) == sorted(HOOK_SCOPES)
    assert {h.destination for h in hooks} == {f"{public_live_server.url}/webhooks/bigcommerce/"}

    # An order placed now travels through those hooks and becomes a sale.
    order = sandbox.store.place_order(status_id=11)
    _sync_deliveries(sandbox, run_jobs)
    assert _order_sale(order.id).outlet == places["outlet"]
    page.reload()
    expect(page.get_by_test_id("last-webhook")).not_to_have_text("none yet")
    expect(page.get_by_test_id("last-order")).not_to_have_text("none yet")
    assert browser_problems == []


def test_unlink_then_relink_the_same_store_without_duplicates(
    page, public_live_server, login, admin_user, link_sandbox, sandbox, run_jobs, browser_problems
):
    link = link_sandbox()
    order = sandbox.store.place_order(status_id=11)
    _sync_deliveries(sandbox, run_jobs)
    counts = (Product.objects.count(), Customer.objects.count(), ProductLink.objects.count())
    assert CustomerLink.objects.count() <= 1 and _order_sale(order.id)
    login(admin_user)

    page.goto(f"{public_live_server.url}/settings/bigcommerce/")
    page.get_by_role("link", name="Unlink…").click()
    expect(page.get_by_test_id("unlink-explained")).to_contain_text("no product, customer or sale is created twice")
    page.screenshot(path=str(settings.ARTIFACTS_DIR / "settings-bigcommerce-unlink.png"), full_page=True)
    page.get_by_role("button", name="Unlink the store").click()
    expect(page.get_by_role("alert")).to_contain_text("Syncing stopped")
    expect(page.get_by_test_id("archived-links")).to_contain_text("Relinking this store reuses them")
    assert sandbox.store.hooks == {}
    assert StoreLink.objects.get().state == LinkState.UNLINKED

    _fill_link_form(page, sandbox, sandbox.access_token)  # the same store again: no catalog match report
    expect(page.get_by_role("alert")).to_contain_text("Linked to Sandbox Outdoor Store.")
    expect(page.get_by_test_id("hooks")).to_contain_text(f"{len(HOOK_SCOPES)} of {len(HOOK_SCOPES)} active")
    assert StoreLink.objects.get().pk == link.pk
    assert len(sandbox.store.hooks) == len(HOOK_SCOPES)

    # The same order changes after the relink: its sale is updated, nothing is created twice.
    sandbox.store.set_status(order.id, 2)
    _sync_deliveries(sandbox, run_jobs)
    assert Sale.objects.filter(external_order_id=str(order.id)).count() == 1
    assert _order_sale(order.id).bc_status_id == 2
    assert (Product.objects.count(), Customer.objects.count(), ProductLink.objects.count()) == counts
    assert browser_problems == []


def test_the_register_list_follows_the_chosen_outlet(page, live_server, login, admin_user, retailer, outlet, register):
    harbour = factories.OutletFactory(retailer=retailer, name="Harbour")
    quay = factories.RegisterFactory(outlet=harbour, name="Quay till")
    login(admin_user)
    page.goto(f"{live_server.url}/settings/bigcommerce/")
    registers = page.get_by_label("Register")

    shown = registers.locator("option:not([hidden])")
    expect(page.get_by_label("Outlet")).to_have_value(str(harbour.pk))  # the first outlet, by name
    expect(registers).to_have_value(str(quay.pk))
    expect(shown).to_have_text(["Harbour / Quay till"])

    page.get_by_label("Outlet").select_option(label="Main Street")

    expect(registers).to_have_value(str(register.pk))
    expect(shown).to_have_text(["Main Street / Online"])
