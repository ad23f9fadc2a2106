"""Browser, end to end with the sandbox store over HTTP and real jobs: staff ship part of an order from the
fulfilment page and BigCommerce gets exactly that shipment; a shipment made in BigCommerce shows on the page after
the sync."""

from __future__ import annotations

import pytest
from django.utils.text import slugify
from playwright.sync_api import expect

from pos.models import Sale
from tests.work_helpers import sync_order

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _open_fulfilment(page, sale: Sale) -> None:
    page.get_by_role("link", name="Fulfillments").click()
    page.get_by_role("link", name=f"#{sale.invoice_number}").click()


def test_staff_ship_part_of_an_order_and_bigcommerce_holds_exactly_that_shipment(
    page, live_server, login, staff_user, sandbox, link, run_jobs, watch
):
    # given an imported order of two lines
    record = sandbox.store.place_order(status_id=11, lines=2)
    sync_order(link, record.id)
    sale = Sale.objects.get(external_order_id=str(record.id))
    first, second = sale.fulfillment.lines.select_related("sale_line").order_by("sale_line__position")
    units = first.quantity + second.quantity
    login(staff_user)
    _open_fulfilment(page, sale)

    # when staff ship one unit of the first line with a tracking number
    page.get_by_label(f"Ship now — {first.sale_line.name}").fill("1")
    page.get_by_label("Tracking number for this shipment").fill("1Z-PARTIAL-7")
    page.get_by_role("button", name="Ship selected").click()
    expect(page.get_by_role("alert").filter(has_text="Shipment 1 recorded")).to_be_visible()
    expect(page.get_by_test_id("shipment-1").get_by_test_id("shipment-state")).to_have_text("Sending to BigCommerce")
    run_jobs("default")

    # then the page (refreshing itself) shows it sent, and the rest still open, line by line
    expect(page.get_by_test_id("shipment-1").get_by_test_id("shipment-state")).to_have_text(
        "Sent to BigCommerce", timeout=10_000
    )
    expect(page.get_by_test_id("units-left")).to_have_text(f"{units - 1} of {units} left to ship")
    row = page.get_by_test_id(f"ship-{slugify(first.sale_line.name)}")
    expect(row.get_by_test_id("shipped")).to_have_text("1")
    expect(row.get_by_test_id("left")).to_have_text(str(first.quantity - 1))
    expect(page.get_by_test_id("state")).not_to_have_text("Completed")
    # and the sandbox holds one shipment with exactly that item and the tracking
    [shipment] = sandbox.store.shipments[record.id]
    assert [(line_id, quantity) for line_id, _, quantity in shipment.items] == [
        (int(first.sale_line.external_line_id), 1)
    ]
    assert shipment.tracking_number == "1Z-PARTIAL-7"


def test_a_shipment_made_in_bigcommerce_appears_on_the_fulfilment_page_after_the_sync(
    page, live_server, login, staff_user, sandbox, link, watch
):
    # given an imported order, open on the fulfilment page
    record = sandbox.store.place_order(status_id=11, lines=2)
    sync_order(link, record.id)
    sale = Sale.objects.get(external_order_id=str(record.id))
    first, second = sale.fulfillment.lines.select_related("sale_line").order_by("sale_line__position")
    login(staff_user)
    _open_fulfilment(page, sale)
    expect(page.get_by_test_id("units-left")).to_contain_text(f"{first.quantity + second.quantity} of ")

    # when the merchant ships the first line in BigCommerce's control panel, and the order syncs
    sandbox.store.ship_in_control_panel(record.id, lines=[(int(first.sale_line.external_line_id), first.quantity)])
    sync_order(link, record.id)
    page.reload()

    # then the page shows that line shipped, the other still to do, and the history says where it was shipped
    expect(page.get_by_test_id("units-left")).to_have_text(
        f"{second.quantity} of {first.quantity + second.quantity} left to ship"
    )
    expect(page.get_by_test_id("history")).to_contain_text("Shipped in BigCommerce")
    expect(page.get_by_test_id("history")).to_contain_text(f"{first.quantity} × {first.sale_line.name}")
    # and nothing is sent back to BigCommerce
    assert len(sandbox.store.shipments[record.id]) == 1
