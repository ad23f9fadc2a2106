"""Failed orders: the list with reasons and fixes, retry (one, ticked, all matching), the polling row, resolve."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.views import failed_orders as view_module
from integration.choices import ErrorCode, OrderSyncState
from integration.models import OrderSync, SyncLogEntry
from integration.services.order_sync import ORDER_SYNC
from tests import factories
from work.models import WorkItem

pytestmark = pytest.mark.django_db

URL = reverse("dashboard:failed_orders")
HTMX = {"HX-Request": "true"}


def orders(response) -> list[int]:
    return [sync.bc_order_id for sync in response.context["page_obj"]]


def queued_syncs() -> list[int]:
    """The OrderSync ids whose sync is requested (due now)."""
    keys = WorkItem.objects.filter(kind=ORDER_SYNC, due_at__isnull=False).values_list("key", flat=True)
    pairs = {tuple(map(int, key.split(":"))) for key in keys}
    return sorted(sync.pk for sync in OrderSync.objects.all() if (sync.link_id, sync.bc_order_id) in pairs)


def failing(link, order_id: int, reason=ErrorCode.ORDER_NOT_FOUND, state=OrderSyncState.NEEDS_ATTENTION, **fields):
    return factories.OrderSyncFactory(
        link=link,
        bc_order_id=order_id,
        state=state,
        last_error_code=reason.code,
        last_error_message=reason.describe("x"),
        attempts=fields.pop("attempts", 1),
        **fields,
    )


class TestFailedOrdersList:
    def test_lists_failing_orders_with_reason_fix_and_attempts_only(self, staff_client, link, other_retailer):
        failing(link, 101, attempts=3)
        failing(link, 102, ErrorCode.RATE_LIMITED, OrderSyncState.RETRYING)
        factories.OrderSyncFactory(link=link, bc_order_id=103, state=OrderSyncState.IMPORTED)
        factories.OrderSyncFactory(link=link, bc_order_id=104, state=OrderSyncState.RESOLVED, last_error_code="x")
        failing(factories.StoreLinkFactory(retailer=other_retailer), 105)

        response = staff_client.get(URL)

        assert sorted(orders(response)) == [101, 102]
        body = response.content.decode()
        assert "The order no longer exists in BigCommerce" in body
        assert ErrorCode.ORDER_NOT_FOUND.fix in body
        assert reverse("dashboard:order_timeline", args=[link.pk, 101]) in body

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ({"state": "retrying"}, [202]),
            ({"state": "needs_attention"}, [201, 203]),
            ({"reason": "unknown_status"}, [203]),
            ({"order": "203"}, [203]),
        ],
    )
    def test_filters(self, staff_client, link, query, expected):
        failing(link, 201)
        failing(link, 202, ErrorCode.BIGCOMMERCE_ERROR, OrderSyncState.RETRYING)
        failing(link, 203, ErrorCode.UNKNOWN_STATUS)

        assert sorted(orders(staff_client.get(URL, query))) == expected

    def test_empty_state_says_what_to_do(self, staff_client, link):
        body = staff_client.get(URL).content.decode()

        assert "Every order synced." in body and reverse("dashboard:sync_log") in body

    def test_query_count_does_not_grow_with_the_page_size(self, staff_client, link, django_assert_max_num_queries):
        for order_id in range(300, 340):
            failing(link, order_id, sale=factories.SaleFactory(retailer=link.retailer, outlet=link.outlet))
        with django_assert_max_num_queries(8) as small:
            staff_client.get(URL, {"per_page": 25})
        with django_assert_max_num_queries(len(small.captured_queries)):
            response = staff_client.get(URL, {"per_page": 100})

        assert len(orders(response)) == 40


class TestRetry:
    def test_retry_one_queues_a_refetch_and_the_row_starts_polling(
        self, staff_client, link, staff_user, django_capture_on_commit_callbacks
    ):
        sync = failing(link, 401)

        with django_capture_on_commit_callbacks(execute=True):
            response = staff_client.post(reverse("dashboard:failed_order_retry", args=[sync.pk]), headers=HTMX)

        sync.refresh_from_db()
        assert sync.state == OrderSyncState.PENDING and sync.attempts == 0
        assert queued_syncs() == [sync.pk]
        entry = SyncLogEntry.objects.get(order_sync=sync, event="sync_retry_requested")
        assert staff_user.username in entry.message
        body = response.content.decode()
        assert f'<tr id="sync-{sync.pk}"' in body and "<html" not in body
        assert 'hx-trigger="every 2s"' in body and "Retry running" in body

    def test_the_row_stops_polling_once_the_sync_is_done(self, staff_client, link):
        sync = failing(link, 402)
        OrderSync.objects.filter(pk=sync.pk).update(state=OrderSyncState.PENDING)
        row = reverse("dashboard:failed_order_row", args=[sync.pk])
        assert "hx-trigger" in staff_client.get(row, headers=HTMX).content.decode()

        sale = factories.SaleFactory(retailer=link.retailer, outlet=link.outlet, invoice_number=77)
        OrderSync.objects.filter(pk=sync.pk).update(state=OrderSyncState.IMPORTED, sale=sale, last_error_code="")
        body = staff_client.get(row, headers=HTMX).content.decode()

        assert "hx-trigger" not in body
        assert "sale #77" in body and 'data-state="imported"' in body

    def test_retry_without_htmx_redirects_back_with_a_message(
        self, staff_client, link, django_capture_on_commit_callbacks
    ):
        sync = failing(link, 403)
        back = f"{URL}?state=needs_attention"

        with django_capture_on_commit_callbacks(execute=True):
            response = staff_client.post(
                reverse("dashboard:failed_order_retry", args=[sync.pk]), {"next": back}, follow=True
            )

        assert response.redirect_chain[-1][0] == back
        assert "Retrying 1 order" in response.content.decode()

    def test_retry_selected(self, staff_client, link, django_capture_on_commit_callbacks):
        first, second, untouched = failing(link, 501), failing(link, 502), failing(link, 503)

        with django_capture_on_commit_callbacks(execute=True):
            staff_client.post(reverse("dashboard:failed_orders_retry"), {"ids": [first.pk, second.pk]})

        states = dict(OrderSync.objects.values_list("bc_order_id", "state"))
        assert states == {501: "pending", 502: "pending", 503: "needs_attention"}
        assert queued_syncs() == sorted([first.pk, second.pk])
        assert untouched.pk not in queued_syncs()

    def test_retry_selected_refuses_another_retailers_order(
        self, staff_client, link, other_retailer, django_capture_on_commit_callbacks
    ):
        mine = failing(link, 601)
        theirs = failing(factories.StoreLinkFactory(retailer=other_retailer), 602)

        with django_capture_on_commit_callbacks(execute=True):
            response = staff_client.post(
                reverse("dashboard:failed_orders_retry"), {"ids": [mine.pk, theirs.pk]}, follow=True
            )

        assert set(OrderSync.objects.values_list("state", flat=True)) == {"needs_attention"}
        assert queued_syncs() == []
        assert "Select a valid choice" in response.content.decode()

    def test_retry_all_matching_takes_only_what_the_filter_matches(
        self, staff_client, link, django_capture_on_commit_callbacks
    ):
        failing(link, 701, ErrorCode.UNKNOWN_STATUS)
        failing(link, 702, ErrorCode.UNKNOWN_STATUS)
        failing(link, 703, ErrorCode.ORDER_NOT_FOUND)

        with django_capture_on_commit_callbacks(execute=True):
            staff_client.post(reverse("dashboard:failed_orders_retry"), {"scope": "all", "reason": "unknown_status"})

        states = dict(OrderSync.objects.values_list("bc_order_id", "state"))
        assert states == {701: "pending", 702: "pending", 703: "needs_attention"}

    def test_retry_all_is_capped_and_says_how_many_are_left(
        self, staff_client, link, monkeypatch, django_capture_on_commit_callbacks
    ):
        monkeypatch.setattr(view_module, "RETRY_ALL_LIMIT", 2)
        for order_id in (801, 802, 803):
            failing(link, order_id)

        with django_capture_on_commit_callbacks(execute=True):
            response = staff_client.post(reverse("dashboard:failed_orders_retry"), {"scope": "all"}, follow=True)

        assert OrderSync.objects.filter(state=OrderSyncState.PENDING).count() == 2
        assert "1 more matching order to retry" in response.content.decode()
        assert len(queued_syncs()) == 2

        with django_capture_on_commit_callbacks(execute=True):
            staff_client.post(reverse("dashboard:failed_orders_retry"), {"scope": "all"})
        assert OrderSync.objects.filter(state=OrderSyncState.PENDING).count() == 3


class TestResolve:
    def test_resolve_with_a_note_inline(self, staff_client, link, staff_user):
        sync = failing(link, 901)
        url = reverse("dashboard:failed_order_resolve", args=[sync.pk])
        form = staff_client.get(url, headers=HTMX).content.decode()
        assert 'name="note"' in form and "<html" not in form

        response = staff_client.post(url, {"note": "Re-created by hand as sale #12"}, headers=HTMX)

        sync.refresh_from_db()
        assert sync.state == OrderSyncState.RESOLVED
        assert sync.resolution_note == "Re-created by hand as sale #12" and sync.resolved_by == staff_user
        assert SyncLogEntry.objects.filter(order_sync=sync, event="sync_resolved").exists()
        body = response.content.decode()
        assert 'data-state="resolved"' in body and "Re-created by hand as sale #12" in body
        assert orders(staff_client.get(URL)) == []

    def test_a_note_is_required(self, staff_client, link):
        sync = failing(link, 902)

        response = staff_client.post(
            reverse("dashboard:failed_order_resolve", args=[sync.pk]), {"note": "   "}, headers=HTMX
        )

        sync.refresh_from_db()
        assert sync.state == OrderSyncState.NEEDS_ATTENTION
        assert "Say how it was resolved" in response.content.decode()

    def test_an_order_no_longer_failing_cannot_be_resolved(self, staff_client, link):
        sync = factories.OrderSyncFactory(link=link, bc_order_id=903, state=OrderSyncState.IMPORTED)

        response = staff_client.post(reverse("dashboard:failed_order_resolve", args=[sync.pk]), {"note": "done"})

        sync.refresh_from_db()
        assert sync.state == OrderSyncState.IMPORTED
        assert "no longer failing" in response.content.decode()

    def test_resolve_page_without_htmx(self, staff_client, link):
        sync = failing(link, 904)
        url = reverse("dashboard:failed_order_resolve", args=[sync.pk])

        page = staff_client.get(url)
        response = staff_client.post(url, {"note": "Customer cancelled by phone"}, follow=True)

        assert "Resolve order #904" in page.content.decode()
        assert response.redirect_chain[-1][0] == URL
        assert "Order 904 marked resolved." in response.content.decode()
