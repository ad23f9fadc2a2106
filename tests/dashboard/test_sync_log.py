"""The sync log page and the per-order timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from integration.choices import LogLevel, OrderSyncState
from tests import factories

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:sync_log")


def events(response) -> list[str]:
    return [entry.event for entry in response.context["page_obj"]]


def entry(link, event, order_id=None, level=LogLevel.INFO, when=None, message="…"):
    return factories.SyncLogEntryFactory(
        link=link,
        event=event,
        bc_order_id=order_id,
        level=level,
        message=message,
        created_at=when or datetime(2026, 4, 2, 12, tzinfo=UTC),
    )


class TestSyncLog:
    @pytest.fixture
    def entries(self, link):
        entry(link, "order_imported", 1, when=datetime(2026, 4, 1, 12, tzinfo=UTC))
        entry(link, "sync_failed", 2, LogLevel.ERROR, when=datetime(2026, 4, 2, 12, tzinfo=UTC))
        entry(link, "sync_retrying", 2, LogLevel.WARNING, when=datetime(2026, 4, 3, 12, tzinfo=UTC))
        entry(link, "reconciled", None, when=datetime(2026, 4, 4, 12, tzinfo=UTC))

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ({}, ["reconciled", "sync_retrying", "sync_failed", "order_imported"]),
            ({"level": "error"}, ["sync_failed"]),
            ({"event": "order_imported"}, ["order_imported"]),
            ({"order": "2"}, ["sync_retrying", "sync_failed"]),
            ({"date_from": "2026-04-02", "date_to": "2026-04-03"}, ["sync_retrying", "sync_failed"]),
        ],
    )
    def test_filter_by_level_event_order_and_date(self, staff_client, entries, query, expected):
        assert events(staff_client.get(URL, query)) == expected

    def test_rows_link_to_the_order_timeline(self, staff_client, entries, link):
        body = staff_client.get(URL).content.decode()

        assert reverse("dashboard:order_timeline", args=[link.pk, 2]) in body

    def test_another_retailers_entries_never_show(self, staff_client, entries, other_retailer):
        entry(factories.StoreLinkFactory(retailer=other_retailer), "order_imported", 1)

        assert len(events(staff_client.get(URL))) == 4

    def test_keyset_pages(self, staff_client, link):
        start = datetime(2026, 4, 1, tzinfo=UTC)
        for minute in range(30):
            entry(link, f"e{minute:02d}", when=start + timedelta(minutes=minute))

        first = staff_client.get(URL, {"per_page": 25})
        second = staff_client.get(URL, {"per_page": 25, "after": first.context["page_obj"].next_cursor})

        assert events(first) == [f"e{m:02d}" for m in range(29, 4, -1)]
        assert events(second) == [f"e{m:02d}" for m in range(4, -1, -1)]

    def test_query_count_does_not_grow_with_the_page_size(self, staff_client, link, django_assert_max_num_queries):
        for minute in range(60):
            entry(link, "order_imported", minute, when=datetime(2026, 4, 1, tzinfo=UTC) + timedelta(minutes=minute))
        with django_assert_max_num_queries(6) as small:
            staff_client.get(URL, {"per_page": 25})
        with django_assert_max_num_queries(len(small.captured_queries)):
            staff_client.get(URL, {"per_page": 100})

    def test_empty_state(self, staff_client, link):
        assert "Nothing logged yet." in staff_client.get(URL).content.decode()


class TestOrderTimeline:
    def test_webhooks_and_log_entries_oldest_first_with_where_the_order_stands(self, staff_client, link):
        sale = factories.SaleFactory(retailer=link.retailer, outlet=link.outlet, invoice_number=31)
        factories.OrderSyncFactory(link=link, bc_order_id=7, state=OrderSyncState.IMPORTED, sale=sale, attempts=0)
        t0 = datetime(2026, 4, 1, 9, tzinfo=UTC)
        factories.WebhookEventFactory(link=link, resource_id=7, scope="store/order/created", received_at=t0)
        entry(link, "sync_retrying", 7, LogLevel.WARNING, when=t0 + timedelta(seconds=5), message="Rate limited.")
        entry(link, "order_imported", 7, when=t0 + timedelta(minutes=1), message="Order 7 imported as sale #31.")
        entry(link, "order_imported", 8, when=t0)  # another order

        response = staff_client.get(reverse("dashboard:order_timeline", args=[link.pk, 7]))

        titles = [item.title for item in response.context["timeline"].items]
        assert titles == ["Webhook received", "Sync retrying", "Order imported"]
        body = response.content.decode()
        assert reverse("dashboard:sale_detail", args=[sale.pk]) in body
        assert f"https://store-{link.store_hash}.mybigcommerce.com/manage/orders/7" in body

    def test_an_order_without_any_record_says_so(self, staff_client, link):
        body = staff_client.get(reverse("dashboard:order_timeline", args=[link.pk, 999])).content.decode()

        assert "This order has no sync record" in body and "Nothing recorded for this order" in body

    def test_reachable_from_the_sale_and_the_failed_order(self, staff_client, history_shop):
        timeline = reverse("dashboard:order_timeline", args=[history_shop.link.pk, 6001])
        sale_timeline = reverse("dashboard:order_timeline", args=[history_shop.link.pk, 5001])

        assert timeline in staff_client.get(reverse("dashboard:failed_orders")).content.decode()
        sale_page = staff_client.get(reverse("dashboard:sale_detail", args=[history_shop.sales["ada"].pk]))
        assert sale_timeline in sale_page.content.decode()

    def test_query_count_does_not_grow_with_the_timeline(self, staff_client, link, django_assert_max_num_queries):
        url = reverse("dashboard:order_timeline", args=[link.pk, 7])
        factories.OrderSyncFactory(link=link, bc_order_id=7)
        with django_assert_max_num_queries(9) as few:
            staff_client.get(url)
        for minute in range(30):
            entry(link, "order_updated", 7, when=datetime(2026, 4, 1, tzinfo=UTC) + timedelta(minutes=minute))
            factories.WebhookEventFactory(link=link, resource_id=7)

        with django_assert_max_num_queries(len(few.captured_queries)):
            staff_client.get(url)
