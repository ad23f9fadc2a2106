"""Browser, end to end with the sandbox store over HTTP and real jobs: a failing order retried from the Failed
orders page until it imports, and an imported order fulfilled in two steps until BigCommerce has the shipment."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from pos.models import Sale
from sandbox.faults import Fault
from tests.work_helpers import sync_order

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_order_that_failed_is_retried_from_failed_orders_until_it_imports(
    page, live_server, login, admin_user, sandbox, link, run_jobs, watch
):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    sandbox.store.faults.add(Fault(kind="error", endpoint="get_order", status=404, times=1))
    sync_order(link, order_id)
    login(admin_user)

    page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("Failed orders")).click()
    row = page.get_by_test_id(f"failed-row-{order_id}")
    expect(row).to_contain_text("no longer exists in BigCommerce")
    row.get_by_role("button", name=f"Retry order {order_id}").click()
    expect(row.get_by_test_id("sync-state")).to_have_text("Retry running")
    run_jobs("webhooks")  # the worker re-fetches the order: BigCommerce answers this time

    expect(row.get_by_test_id("sync-state")).to_have_text("Imported", timeout=10_000)
    sale = Sale.objects.get(external_order_id=str(order_id))
    expect(row).to_contain_text(f"sale #{sale.invoice_number}")


def test_an_imported_order_is_fulfilled_partially_then_fully_and_bigcommerce_gets_the_shipment(
    page, live_server, login, staff_user, sandbox, link, run_jobs, watch
):
    record = sandbox.store.place_order(status_id=11, lines=1, two_addresses=False)
    sync_order(link, record.id)
    sale = Sale.objects.get(external_order_id=str(record.id))
    line = sale.fulfillment.lines.get()
    login(staff_user)

    page.get_by_role("link", name="Fulfillments").click()
    page.get_by_role("link", name=f"#{sale.invoice_number}").click()
    name = line.sale_line.name
    if line.quantity > 1:
        page.get_by_label(f"Picked — {name}").fill("1")
        page.get_by_label(f"Packed — {name}").fill("1")
        page.get_by_label(f"Fulfilled — {name}").fill("1")
        page.get_by_role("button", name="Save quantities").click()
        expect(page.get_by_test_id("state")).to_have_text("Picking")
    page.get_by_role("button", name="Fulfil everything").click()
    expect(page.get_by_test_id("state")).to_have_text("Packed")
    page.get_by_label("Tracking number", exact=True).fill("1Z999AA10123456784")
    page.get_by_label("Carrier", exact=True).fill("ups")
    page.get_by_role("button", name="Save tracking").click()
    page.get_by_role("button", name="Complete and ship").click()
    expect(page.get_by_test_id("writeback-state")).to_have_text("Sending to BigCommerce")
    run_jobs("default")

    expect(page.get_by_test_id("writeback-state")).to_have_text("Sent to BigCommerce", timeout=10_000)
    [shipment] = sandbox.store.shipments[record.id]
    assert shipment.tracking_number == "1Z999AA10123456784"
    assert sum(quantity for _, _, quantity in shipment.items) == line.quantity
