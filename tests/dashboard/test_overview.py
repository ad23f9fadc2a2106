"""The Overview (link health, attention, today's online sales, charts, missed-webhook warning) and the
navigation's attention badge."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from integration.choices import LinkState, LogLevel, OrderSyncState
from integration.services.order_sync import order_sync_request
from pos.choices import Channel
from tests import factories

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:overview")
NOW = datetime(2026, 5, 20, 15, 0, tzinfo=UTC)
HOOKS = [{"scope": "store/order/created", "id": 1, "is_active": True}]


@pytest.fixture
def link(link):
    """The shared link, with a hook BigCommerce deactivated and recent activity."""
    link.hooks = HOOKS + [{"scope": "store/order/updated", "id": 2, "is_active": False}]
    link.last_webhook_at = link.last_order_synced_at = NOW - timedelta(minutes=4)
    link.last_reconciled_at = NOW - timedelta(minutes=1)
    link.save(update_fields=["hooks", "last_webhook_at", "last_order_synced_at", "last_reconciled_at"])
    return link


def log(link, event, order_id, when, level=LogLevel.INFO):
    return factories.SyncLogEntryFactory(link=link, event=event, bc_order_id=order_id, level=level, created_at=when)


class TestOverview:
    @pytest.fixture(autouse=True)
    def _frozen_clock(self):
        with time_machine.travel(NOW, tick=False):
            yield

    def test_link_health_attention_and_queue(self, staff_client, link):
        for order_id, state in ((1, OrderSyncState.NEEDS_ATTENTION), (2, OrderSyncState.PENDING)):
            factories.OrderSyncFactory(link=link, bc_order_id=order_id, state=state)
        factories.OrderSyncFactory(link=link, bc_order_id=3, state=OrderSyncState.RETRYING)
        order_sync_request(link=link, bc_order_id=2)

        response = staff_client.get(URL)

        health = response.context["health"]
        assert (health.hooks_active, health.hooks_total) == (1, 2)
        assert (health.needs_attention, health.retrying, health.orders_waiting) == (1, 1, 1)
        assert health.queue_depth == 1
        assert any("1 of 2 webhooks are inactive" in p for p in health.problems)
        body = response.content.decode()
        assert 'data-testid="attention-count">1<' in body
        assert "4\xa0minutes ago" in body  # last webhook

    def test_a_healthy_link_says_so(self, staff_client, link):
        link.hooks = HOOKS
        link.save()

        response = staff_client.get(URL)

        assert response.context["health"].summary == "Healthy"
        assert response.context["health"].problems == []

    def test_stale_reconciliation_and_a_paused_link_are_problems(self, staff_client, link):
        link.state = LinkState.PAUSED
        link.last_reconciled_at = NOW - timedelta(days=1)
        link.save()

        health = staff_client.get(URL).context["health"]

        assert health.summary == "Paused"
        assert any("paused" in p for p in health.problems)

    def test_late_reconciliation_is_said_in_words_a_merchant_can_act_on(self, staff_client, link, settings):
        settings.RECONCILE_INTERVAL_SECONDS = 300
        link.hooks = HOOKS
        link.last_reconciled_at = NOW - timedelta(minutes=25)
        link.linked_at = NOW - timedelta(days=30)
        link.save()

        problems = staff_client.get(URL).context["health"].problems

        assert problems == [
            "The regular check for orders that webhooks missed last ran 25\xa0minutes ago (it runs every "
            "5\xa0minutes). New orders still arrive by webhook; one a webhook misses waits until the check runs "
            "again. If this lasts over an hour, contact support."
        ]
        assert "rqcron" not in staff_client.get(URL).content.decode()

    @pytest.mark.parametrize("relinked", [False, True])
    def test_no_reconciliation_warning_in_the_first_minutes_after_a_link(self, staff_client, link, settings, relinked):
        settings.RECONCILE_INTERVAL_SECONDS = 300
        link.hooks = HOOKS
        if relinked:  # an old link row, relinked a minute ago: its reconciliation ran before the unlink
            link.linked_at = link.last_reconciled_at = NOW - timedelta(days=30)
            log(link, "linked", None, NOW - timedelta(minutes=1))
        else:
            link.linked_at, link.last_reconciled_at = NOW - timedelta(minutes=1), None
        link.save()

        assert staff_client.get(URL).context["health"].problems == []

    def test_without_a_link(self, staff_client, retailer):
        body = staff_client.get(URL).content.decode()

        assert "Not linked" in body and "No BigCommerce store is linked" in body

    def test_todays_online_sales_count_and_total_in_local_time(self, staff_client, retailer, link):
        retailer.time_zone = "Pacific/Auckland"  # 15:00 UTC on the 20th is 03:00 on the 21st there
        retailer.save()
        online = {"retailer": retailer, "channel": Channel.BIGCOMMERCE, "outlet": link.outlet}
        factories.SaleFactory(**online, sale_date=NOW - timedelta(hours=2), total_inc_tax=Decimal("20.50"))
        factories.SaleFactory(**online, sale_date=NOW - timedelta(hours=1), total_inc_tax=Decimal("9.50"))
        factories.SaleFactory(**online, sale_date=NOW - timedelta(hours=4))  # yesterday in Auckland
        factories.SaleFactory(retailer=retailer, outlet=link.outlet, sale_date=NOW - timedelta(minutes=5))

        body = staff_client.get(URL).content.decode()

        assert 'data-testid="online-today">2<' in body
        assert "USD 30.00" in body

    def test_chart_data_counts_distinct_orders_per_local_day_over_30_days(self, staff_client, link):
        log(link, "order_imported", 1, NOW - timedelta(hours=1))
        log(link, "order_updated", 1, NOW - timedelta(minutes=30))  # same order, same day: counted once
        log(link, "order_imported", 2, NOW - timedelta(days=1))
        log(link, "sync_failed", 3, NOW - timedelta(days=1), LogLevel.ERROR)
        log(link, "order_imported", 4, NOW - timedelta(days=31))  # outside the window

        response = staff_client.get(URL)

        body = response.content.decode()
        data = json.loads(body.split('id="sync-chart-data" type="application/json">')[1].split("</script>")[0])
        assert len(data["labels"]) == 30 and data["labels"][-1] == "May 20"
        assert data["synced"][-1] == 1 and data["synced"][-2] == 1 and sum(data["synced"]) == 2
        assert data["failed"][-2] == 1 and sum(data["failed"]) == 1
        assert 'id="sync-chart-data"' in body and "overview_charts.js" in body and "<script>" not in body

    def test_warns_when_reconciliation_found_orders_webhooks_missed(self, staff_client, link):
        factories.SyncLogEntryFactory(
            link=link,
            event="reconcile_missed",
            level=LogLevel.WARNING,
            message="Reconciliation found 2 order(s) that webhooks never delivered: 11, 12.",
            created_at=NOW - timedelta(hours=3),
        )

        body = staff_client.get(URL).content.decode()

        assert 'data-testid="missed-warning"' in body and "never delivered: 11, 12" in body

    def test_an_old_missed_warning_is_not_shown(self, staff_client, link):
        factories.SyncLogEntryFactory(link=link, event="reconcile_missed", created_at=NOW - timedelta(days=8))

        assert 'data-testid="missed-warning"' not in staff_client.get(URL).content.decode()

    def test_query_count_is_fixed(self, staff_client, link, django_assert_max_num_queries):
        with django_assert_max_num_queries(13) as few:
            staff_client.get(URL)
        for order_id in range(50):
            log(link, "order_imported", order_id, NOW - timedelta(days=order_id % 30))
            factories.OrderSyncFactory(link=link, state=OrderSyncState.NEEDS_ATTENTION)

        with django_assert_max_num_queries(len(few.captured_queries)):
            staff_client.get(URL)


class TestAttentionBadge:
    def test_the_navigation_shows_how_many_orders_need_attention(self, staff_client, retailer, other_retailer):
        link = factories.StoreLinkFactory(retailer=retailer)
        for _ in range(3):
            factories.OrderSyncFactory(link=link, state=OrderSyncState.NEEDS_ATTENTION)
        factories.OrderSyncFactory(link=link, state=OrderSyncState.RETRYING)
        factories.OrderSyncFactory(
            link=factories.StoreLinkFactory(retailer=other_retailer), state=OrderSyncState.NEEDS_ATTENTION
        )

        body = staff_client.get(reverse("dashboard:sales")).content.decode()

        assert '3<span class="visually-hidden"> orders need attention</span>' in body

    def test_no_badge_and_no_count_query_for_htmx_fragments(self, staff_client, retailer, django_assert_num_queries):
        factories.OrderSyncFactory(
            link=factories.StoreLinkFactory(retailer=retailer), state=OrderSyncState.NEEDS_ATTENTION
        )
        full = staff_client.get(reverse("dashboard:sync_log"))
        with django_assert_num_queries(4) as fragment:  # session, user, membership, the page
            staff_client.get(reverse("dashboard:sync_log"), headers={"HX-Request": "true"})

        assert "orders need attention" in full.content.decode()
        assert not any("needs_attention" in q["sql"] for q in fragment.captured_queries)

    def test_support_users_without_a_retailer_get_no_badge(self, client, support_user):
        client.force_login(support_user)

        response = client.get(reverse("dashboard:support"))

        assert "attention_count" not in response.context
