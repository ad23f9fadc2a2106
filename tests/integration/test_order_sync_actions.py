"""Staff actions on order syncs: retry (the same path as a webhook) and resolve with a note."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from integration.choices import OrderSyncState
from integration.models import OrderSync, SyncLogEntry
from integration.services.order_sync import ORDER_SYNC, order_sync_key
from integration.services.order_sync_actions import order_sync_resolve, order_syncs_retry, status_label
from tests import factories
from tests.work_helpers import work_rows
from work import kernel

pytestmark = pytest.mark.django_db


def queued() -> list[str]:
    """The order syncs due now (or running): the ones a retry asks for."""
    return [key for key, state in work_rows(ORDER_SYNC) if state in ("due", "running")]


def _key(sync) -> str:
    return order_sync_key(sync.link_id, sync.bc_order_id)


class TestOrderSyncsRetry:
    def test_failing_orders_go_back_to_pending_with_their_sync_requested_in_the_same_transaction(
        self, link, staff_user
    ):
        syncs = [
            factories.OrderSyncFactory(
                link=link, state=OrderSyncState.NEEDS_ATTENTION, attempts=6, last_error_code="x"
            ),
            factories.OrderSyncFactory(
                link=link, state=OrderSyncState.RETRYING, attempts=2, next_retry_at=timezone.now(), last_error_code="y"
            ),
        ]

        kernel.request(ORDER_SYNC, _key(syncs[1]), shard=link.retailer_id, due=timezone.now() + timedelta(hours=1))

        count = order_syncs_retry(order_syncs=syncs, acting_user=staff_user)

        assert count == 2
        for sync in OrderSync.objects.all():
            assert (sync.state, sync.attempts, sync.next_retry_at) == (OrderSyncState.PENDING, 0, None)
            assert sync.last_error_code  # kept until a sync succeeds: the Failed orders row still explains itself
        # Due now, even the one whose automatic retry was an hour away: staff want it re-fetched at once.
        assert queued() == sorted(_key(s) for s in syncs)
        assert SyncLogEntry.objects.filter(event="sync_retry_requested").count() == 2

    def test_orders_not_failing_are_left_alone(self, link, staff_user, django_capture_on_commit_callbacks):
        imported = factories.OrderSyncFactory(link=link, state=OrderSyncState.IMPORTED)
        resolved = factories.OrderSyncFactory(link=link, state=OrderSyncState.RESOLVED)

        with django_capture_on_commit_callbacks(execute=True):
            count = order_syncs_retry(order_syncs=[imported, resolved], acting_user=staff_user)

        assert count == 0
        assert set(OrderSync.objects.values_list("state", flat=True)) == {"imported", "resolved"}
        assert queued() == [] and not SyncLogEntry.objects.exists()

    def test_an_order_whose_sync_is_already_waiting_gets_no_second_one(self, link, staff_user):
        waiting = factories.OrderSyncFactory(link=link, state=OrderSyncState.NEEDS_ATTENTION, last_error_code="x")
        kernel.request(ORDER_SYNC, _key(waiting), shard=link.retailer_id)

        order_syncs_retry(order_syncs=[waiting], acting_user=staff_user)

        waiting.refresh_from_db()
        assert waiting.state == OrderSyncState.PENDING
        assert queued() == [_key(waiting)]

    def test_nothing_to_retry(self, staff_user):
        assert order_syncs_retry(order_syncs=[], acting_user=staff_user) == 0


class TestOrderSyncResolve:
    def test_resolved_with_the_note_who_and_when_on_the_timeline(self, link, staff_user):
        sync = factories.OrderSyncFactory(link=link, state=OrderSyncState.NEEDS_ATTENTION, next_retry_at=None)

        order_sync_resolve(order_sync=sync, acting_user=staff_user, note="  Refunded by phone  ")

        sync.refresh_from_db()
        assert sync.state == OrderSyncState.RESOLVED
        assert (sync.resolution_note, sync.resolved_by) == ("Refunded by phone", staff_user)
        assert sync.resolved_at is not None
        entry = SyncLogEntry.objects.get(order_sync=sync)
        assert entry.event == "sync_resolved" and "Refunded by phone" in entry.message

    @pytest.mark.parametrize(
        ("state", "note", "code"),
        [
            (OrderSyncState.NEEDS_ATTENTION, "   ", "note_required"),
            (OrderSyncState.IMPORTED, "done", "not_failing"),
            (OrderSyncState.RESOLVED, "again", "not_failing"),
        ],
    )
    def test_refused_without_a_note_or_when_not_failing(self, link, staff_user, state, note, code):
        sync = factories.OrderSyncFactory(link=link, state=state)

        with pytest.raises(ValidationError) as raised:
            order_sync_resolve(order_sync=sync, acting_user=staff_user, note=note)

        assert raised.value.code == code
        sync.refresh_from_db()
        assert sync.state == state and not SyncLogEntry.objects.exists()


def test_status_label():
    assert status_label(11) == "Awaiting Fulfillment"
    assert status_label(99) == "Unknown status 99"
    assert status_label(None) == "Unknown status None"
