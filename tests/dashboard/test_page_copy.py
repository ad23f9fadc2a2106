"""Rough edges of the pages' copy: no raw codes ("Shipped_in_bigcommerce", "status id 10", webhook scopes), an
order's timeline says each thing once, every time is in the viewer's time zone with its label and one format,
the sale and its fulfilment link to each other, and an inline resolve updates the navigation's badge."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from integration.choices import LogLevel, OrderSyncState
from integration.services.synclog import Event, sync_log_build
from pos.choices import Channel, FulfillmentAction, FulfillmentState
from tests import factories

pytestmark = pytest.mark.django_db

FAILED = "Order 160 was cancelled or declined (its sale is voided), and BigCommerce now shows it as Shipped."


@pytest.fixture
def failing(retailer):
    link = factories.StoreLinkFactory(retailer=retailer)
    sync = factories.OrderSyncFactory(
        link=link, bc_order_id=160, state=OrderSyncState.NEEDS_ATTENTION, bc_status_id=2, attempts=0
    )
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    factories.WebhookEventFactory(link=link, resource_id=160, scope="store/order/statusUpdated")
    for minutes in range(4):
        entry = factories.SyncLogEntryFactory(
            link=link,
            order_sync=sync,
            bc_order_id=160,
            level=LogLevel.ERROR,
            event=Event.SYNC_FAILED.code,
            message=f"Order 160: {FAILED} A voided sale is never reopened.",
        )
        entry.created_at = start + timedelta(minutes=minutes)
        entry.save(update_fields=["created_at"])
    return sync


def test_the_timeline_says_a_repeated_failure_once_with_how_many_times(staff_client, failing):
    response = staff_client.get(reverse("dashboard:order_timeline", args=[failing.link_id, 160]))

    html = response.content.decode()
    items = [i for i in response.context["timeline"].items if i.kind == "log"]
    assert len(items) == 1 and items[0].count == 4
    assert items[0].message.startswith("Order 160 was cancelled") and "Order 160: Order 160" not in html
    assert 'data-testid="repeat-count"' in html and "×4" in html
    assert "BigCommerce: status changed." in html and "store/order/statusUpdated" not in html
    assert "Shipped in BigCommerce" in html and "status id" not in html
    assert response.context["timeline"].failed_attempts == 4  # the row's counter says 0


def test_a_new_failure_entry_names_its_order_once():
    link = factories.StoreLinkFactory()
    sync = factories.OrderSyncFactory(link=link, bc_order_id=160)

    failed = sync_log_build(link=link, event=Event.SYNC_FAILED, order_sync=sync, message=FAILED, fix="Resolve it.")
    other = sync_log_build(link=link, event=Event.SYNC_FAILED, order_sync=sync, message="BigCommerce said no.", fix="")

    assert failed.message.startswith("Order 160 was cancelled")
    assert other.message.startswith("Order 160: BigCommerce said no.")


def test_the_sale_page_shows_fulfilment_history_in_words_and_no_status_id(staff_client, retailer):
    sale = factories.SaleFactory(
        retailer=retailer, channel=Channel.BIGCOMMERCE, bc_status_id=10, bc_status_label="Completed"
    )
    fulfillment = factories.FulfillmentFactory(sale=sale, retailer=retailer, state=FulfillmentState.COMPLETED)
    for action in (FulfillmentAction.SHIPPED_IN_BIGCOMMERCE, FulfillmentAction.WRITEBACK_SUCCEEDED):
        factories.FulfillmentEventFactory(fulfillment=fulfillment, action=action)

    html = staff_client.get(reverse("dashboard:sale_detail", args=[sale.pk])).content.decode()

    assert "Shipped in BigCommerce" in html and "Sent to BigCommerce" in html
    assert "Shipped_in_bigcommerce" not in html and "Writeback_succeeded" not in html
    assert "status id" not in html


def test_a_sale_and_its_fulfilment_link_to_each_other_with_a_fulfil_action(staff_client, retailer):
    sale = factories.SaleFactory(retailer=retailer, channel=Channel.BIGCOMMERCE)
    fulfillment = factories.FulfillmentFactory(sale=sale, retailer=retailer, state=FulfillmentState.NEW)
    fulfillment_url = reverse("dashboard:fulfillment_detail", args=[fulfillment.pk])

    sale_page = staff_client.get(reverse("dashboard:sale_detail", args=[sale.pk])).content.decode()
    fulfillment_page = staff_client.get(fulfillment_url).content.decode()
    fulfillment.state = FulfillmentState.COMPLETED
    fulfillment.save()
    done_page = staff_client.get(reverse("dashboard:sale_detail", args=[sale.pk])).content.decode()

    assert 'data-testid="fulfil-action"' in sale_page and fulfillment_url in sale_page
    assert reverse("dashboard:sale_detail", args=[sale.pk]) in fulfillment_page
    assert f"Sale #{sale.invoice_number}" in fulfillment_page
    assert 'data-testid="fulfil-action"' not in done_page and 'data-testid="fulfilment-link"' in done_page


# ---------------------------------------------------------------- times


def test_times_are_in_the_retailers_zone_labelled_in_one_format(staff_client, retailer):
    retailer.time_zone = "Europe/London"
    retailer.save()
    sale = factories.SaleFactory(retailer=retailer, sale_date=datetime(2026, 7, 1, 22, 30, tzinfo=UTC))

    sales = staff_client.get(reverse("dashboard:sales")).content.decode()
    detail = staff_client.get(reverse("dashboard:sale_detail", args=[sale.pk])).content.decode()
    receipt = staff_client.get(reverse("dashboard:sale_receipt", args=[sale.pk])).content.decode()

    shown = 'title="Europe/London">2026-07-01 23:30 BST</time>'
    assert shown in sales and shown in detail and shown in receipt
    assert 'datetime="2026-07-01T22:30:00+00:00"' in sales


def test_the_support_console_labels_its_times(client, support_user, retailer):
    factories.StoreLinkFactory(retailer=retailer, last_webhook_at=datetime(2026, 7, 1, 22, 30, tzinfo=UTC))
    client.force_login(support_user)

    with time_machine.travel(datetime(2026, 7, 1, 23, 0, tzinfo=UTC)):
        html = client.get(reverse("dashboard:support")).content.decode()

    assert ">2026-07-01 22:30 UTC</time>" in html  # no retailer picked: UTC, and it says so
    assert "30\xa0minutes ago" in html


# ---------------------------------------------------------------- the navigation badge


def test_an_inline_resolve_answers_with_the_badges_new_count(staff_client, retailer):
    link = factories.StoreLinkFactory(retailer=retailer)
    first, _ = (
        factories.OrderSyncFactory(link=link, state=OrderSyncState.NEEDS_ATTENTION, last_error_code="unknown_status")
        for _ in range(2)
    )

    response = staff_client.post(
        reverse("dashboard:failed_order_resolve", args=[first.pk]),
        {"note": "Done by hand"},
        headers={"HX-Request": "true"},
    )

    html = response.content.decode()
    assert re.search(r'<template>\s*<span id="attention-badge" data-testid="attention-badge" hx-swap-oob="true">', html)
    assert '>1<span class="visually-hidden"> orders need attention' in html
    assert "<html" not in html
