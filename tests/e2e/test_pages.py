"""Browser: each staff page's main job, in Chromium. With UPDATE_SCREENSHOTS=1 the tests also refresh the README's
screenshots under docs/screenshots/ (otherwise they write nothing to the tree)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from integration.choices import OrderSyncState
from integration.models import OrderSync
from pos.choices import AuditAction
from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(page, login, admin_user, history_shop):
    page.set_viewport_size({"width": 1280, "height": 860})
    csp_errors: list[str] = []
    page.on("console", lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    login(admin_user)
    yield history_shop
    assert csp_errors == [], csp_errors


def test_overview_shows_link_health_attention_and_the_charts(page, live_server, signed_in, screenshot):
    page.goto(f"{live_server.url}/")

    expect(page.get_by_test_id("attention-count")).to_have_text("2")
    expect(page.get_by_test_id("link-health-summary")).to_have_text("Needs a look")
    expect(page.get_by_test_id("missed-warning")).to_contain_text("never delivered")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name=re.compile("Failed orders"))).to_contain_text("2")
    page.wait_for_function("() => window.Chart && Chart.getChart('synced-chart') && Chart.getChart('failed-chart')")
    screenshot("overview")


def test_filter_and_search_sales(page, live_server, signed_in, screenshot):
    page.goto(f"{live_server.url}/sales/")
    rows = page.get_by_test_id("sale-row")
    expect(rows).to_have_count(13)
    screenshot("sales")

    page.get_by_label("Search").fill("grace")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Grace Hopper")
    expect(page).to_have_url(re.compile(r"q=grace"))

    page.get_by_label("Search").fill("")
    page.get_by_label("Channel").select_option("in_store")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Katherine Johnson")

    page.get_by_label("Channel").select_option("")
    page.get_by_label("Payment").select_option("partially_refunded")
    expect(rows).to_have_count(1)
    expect(page.get_by_test_id("sales-count")).to_contain_text("1 sale match the filters")


def test_the_navigation_stays_on_one_line_at_1366_px(page, live_server, signed_in):
    signed_in.retailer.name = "Acme Outdoor Supplies Co."
    signed_in.retailer.save()
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/sales/")

    boxes = page.eval_on_selector_all(
        "#mainnav .nav-link, #mainnav .navbar-text",
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [r.top, r.height, r.right]; })",
    )
    line = page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('#mainnav .nav-link')).lineHeight)")

    assert len(boxes) >= 10
    assert max(top for top, _, _ in boxes) - min(top for top, _, _ in boxes) < line / 2  # one row
    assert all(height < 2 * line for _, height, _ in boxes), boxes  # no label on two lines
    assert max(right for _, _, right in boxes) <= 1366
    expect(page.get_by_test_id("current-retailer")).to_have_attribute("title", "Acme Outdoor Supplies Co.")


def test_the_sales_list_reads_on_a_390_px_phone_without_sideways_scroll(page, live_server, signed_in):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/sales/")
    row = page.get_by_test_id("sale-row").first

    expect(row.get_by_test_id("sale-status")).to_be_in_viewport()
    expect(row.get_by_test_id("sale-row-total")).to_be_in_viewport()
    expect(row.get_by_test_id("sale-date-compact")).to_be_visible()
    widths = page.evaluate(
        """() => {
            const table = document.querySelector('[data-testid=sales-table]').parentElement;
            return [document.documentElement.scrollWidth, table.scrollWidth, table.clientWidth];
        }"""
    )
    page_width, table_width, table_box = widths
    assert page_width <= 390 and table_width <= table_box, widths
    for cell in (row.get_by_test_id("sale-status"), row.get_by_test_id("sale-row-total")):
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box

    page.get_by_role("button", name="Filters").click()  # the filters fold away on a phone
    expect(page.get_by_label("Channel")).to_be_visible()


def test_open_a_sale_and_follow_its_timeline(page, live_server, signed_in, screenshot):
    history_shop = signed_in
    page.goto(f"{live_server.url}/sales/?q=ada")

    page.get_by_role("link", name=f"#{history_shop.sales['ada'].invoice_number}").click()
    expect(
        page.get_by_role("heading", name=re.compile(f"Sale #{history_shop.sales['ada'].invoice_number}"))
    ).to_be_visible()
    expect(page.get_by_test_id("bc-status")).to_have_text("Awaiting Fulfillment")
    expect(page.get_by_test_id("bc-order-link")).to_have_attribute(
        "href", "https://store-acme42.mybigcommerce.com/manage/orders/5001"
    )
    screenshot("sale")

    page.get_by_test_id("timeline-link").click()
    items = page.get_by_test_id("timeline-item")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("Webhook received")
    expect(items.nth(1)).to_contain_text("Order imported")
    screenshot("timeline")

    page.get_by_test_id("sale-link").click()
    expect(page.get_by_test_id("sale-total")).to_have_text("129.00")


def test_retry_one_and_watch_its_row_update_live(page, live_server, signed_in, screenshot):
    history_shop = signed_in
    page.goto(f"{live_server.url}/failed-orders/")
    screenshot("failed-orders")
    row = page.get_by_test_id("failed-row-6001")
    expect(row).to_contain_text("no longer exists in BigCommerce")

    row.get_by_role("button", name="Retry order 6001").click()
    expect(row.get_by_test_id("sync-state")).to_have_text("Retry running")

    # The sync job (not running in this test) imports the order: the polling row picks it up by itself.
    OrderSync.objects.filter(pk=history_shop.syncs["gone"].pk).update(
        state=OrderSyncState.IMPORTED, sale=history_shop.sales["till"], last_error_code="", last_error_message=""
    )
    expect(row.get_by_test_id("sync-state")).to_have_text("Imported", timeout=10_000)
    expect(row).to_contain_text(f"sale #{history_shop.sales['till'].invoice_number}")


def test_retry_the_ticked_orders(page, live_server, signed_in):
    page.goto(f"{live_server.url}/failed-orders/")
    page.get_by_label("Select order 6002").check()
    page.get_by_label("Select order 6003").check()
    expect(page.get_by_role("button", name=re.compile("Retry selected"))).to_contain_text("2")

    page.get_by_role("button", name=re.compile("Retry selected")).click()

    expect(page.get_by_role("alert")).to_contain_text("Retrying 2 orders")
    expect(page.get_by_test_id("failed-row-6002").get_by_test_id("sync-state")).to_have_text("Retry running")
    expect(page.get_by_test_id("failed-row-6001").get_by_test_id("sync-state")).to_have_text("Needs attention")


def test_resolve_one_with_a_note(page, live_server, signed_in):
    history_shop = signed_in
    page.goto(f"{live_server.url}/failed-orders/")
    row = page.get_by_test_id("failed-row-6002")
    badge = page.get_by_test_id("attention-badge")
    expect(badge).to_have_text(re.compile(r"^2 "))

    row.get_by_role("link", name="Resolve order 6002").click()
    page.get_by_label("How was it resolved?").fill("Status fixed in BigCommerce; sale entered by hand as #88")
    page.get_by_role("button", name="Mark resolved").click()

    expect(row.get_by_test_id("resolution-note")).to_have_text(
        "Status fixed in BigCommerce; sale entered by hand as #88"
    )
    expect(row.get_by_test_id("sync-state")).to_have_text("Resolved")
    expect(badge).to_have_text(re.compile(r"^1 "))  # updated with the answer, before any reload
    assert OrderSync.objects.get(pk=history_shop.syncs["status"].pk).state == OrderSyncState.RESOLVED
    page.reload()
    expect(page.get_by_test_id("failed-row-6002")).to_have_count(0)


def test_filter_the_sync_log_and_open_an_order(page, live_server, signed_in, screenshot):
    page.goto(f"{live_server.url}/sync-log/")
    screenshot("sync-log")

    page.get_by_label("Level").select_option("error")
    rows = page.get_by_test_id("log-row")
    expect(rows).to_have_count(2)
    rows.first.get_by_role("link").click()

    expect(page.get_by_role("heading", name=re.compile(r"Order #600[12]"))).to_be_visible()
    expect(page.get_by_test_id("order-now")).to_contain_text("Needs attention")


def test_support_console(page, live_server, login, support_user, history_shop, screenshot):
    page.set_viewport_size({"width": 1280, "height": 700})
    factories.AuditEntryFactory(
        retailer=history_shop.retailer,
        actor=support_user,
        action=AuditAction.SUPPORT_SWITCH,
        reason="Ticket 4411: sync check",
    )
    login(support_user)

    page.goto(f"{live_server.url}/support/")

    row = page.get_by_test_id("retailer-row").filter(has_text="Acme Outdoor")
    expect(row.get_by_test_id("failing-orders")).to_have_text("3")
    expect(row.get_by_test_id("historical-import")).to_contain_text("Off")
    expect(page.get_by_test_id("audit-trail")).to_contain_text("Ticket 4411: sync check")
    screenshot("support")
