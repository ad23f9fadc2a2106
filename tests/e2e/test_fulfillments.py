"""Browser: fulfil an order partially, then fully, complete it and watch the write-back go from pending to sent."""

from __future__ import annotations

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_fulfil_partially_then_fully_and_see_the_write_back_recorded(
    page, live_server, login, staff_user, retailer, outlet, register, make_fulfillment, fake_bigcommerce, run_jobs
):
    factories.StoreLinkFactory(retailer=retailer, outlet=outlet, register=register)
    fulfillment = make_fulfillment(goods=(("Tent", 2), ("Stove", 1)))
    problems = []  # CSP violations, script errors, failed requests (the browser's own favicon probe aside)
    page.on(
        "console", lambda m: m.type == "error" and "Failed to load resource" not in m.text and problems.append(m.text)
    )
    page.on("response", lambda r: r.status >= 400 and "favicon" not in r.url and problems.append(f"{r.status} {r.url}"))
    login(staff_user)

    page.get_by_role("link", name="Fulfillments").click()
    expect(page.get_by_test_id("count-open")).to_have_text("1")
    page.screenshot(path=str(settings.ARTIFACTS_DIR / "fulfillments.png"))
    page.get_by_role("link", name=f"#{fulfillment.sale.invoice_number}").click()
    expect(page.get_by_test_id("state")).to_have_text("New")
    expect(page.get_by_test_id("shipping-address")).to_contain_text("555 East Street")

    # Partially: one tent picked, packed and handed over.
    page.get_by_label("Picked — Tent").fill("1")
    page.get_by_label("Packed — Tent").fill("1")
    page.get_by_label("Fulfilled — Tent").fill("1")
    page.get_by_role("button", name="Save quantities").click()
    expect(page.get_by_role("alert")).to_contain_text("Quantities saved.")
    expect(page.get_by_test_id("state")).to_have_text("Picking")
    expect(page.get_by_test_id("completion-blocked")).to_contain_text("Tent 1 of 2")
    expect(page.get_by_role("button", name="Complete and ship")).to_be_disabled()
    page.screenshot(path=str(settings.ARTIFACTS_DIR / "fulfillment-partial.png"), full_page=True)

    # Fully, with tracking.
    page.get_by_role("button", name="Fulfil everything").click()
    expect(page.get_by_test_id("state")).to_have_text("Packed")
    page.get_by_label("Tracking number", exact=True).fill("1Z999AA10123456784")
    page.get_by_label("Carrier", exact=True).fill("ups")
    page.get_by_role("button", name="Save tracking").click()
    expect(page.get_by_role("alert")).to_contain_text("Tracking saved.")

    page.get_by_role("button", name="Complete and ship").click()
    expect(page.get_by_test_id("state")).to_have_text("Completed")
    expect(page.get_by_test_id("writeback-state")).to_have_text("Sending to BigCommerce")
    page.screenshot(path=str(settings.ARTIFACTS_DIR / "fulfillment-pending.png"), full_page=True)

    run_jobs("default")  # the worker: the job reaches the fake BigCommerce

    expect(page.get_by_test_id("writeback-state")).to_have_text("Sent to BigCommerce", timeout=10_000)
    expect(page.get_by_test_id("history")).to_contain_text("Shipment created in BigCommerce order 250: 3 items")
    assert [s["items"] for s in fake_bigcommerce.shipments] == [
        [{"order_product_id": 6500, "quantity": 2}, {"order_product_id": 6501, "quantity": 1}]
    ]
    page.screenshot(path=str(settings.ARTIFACTS_DIR / "fulfillment-sent.png"), full_page=True)
    assert problems == []
