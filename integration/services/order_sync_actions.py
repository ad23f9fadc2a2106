"""What staff do to order syncs from the Failed orders page: retry them, or mark them resolved with a note.

Kept apart from the sync engine (`order_sync.py`) so the pages depend only on these actions, never on the code
that fetches and applies orders. A retry takes the same path as a webhook: the order is marked for a sync and a
job re-fetches it from BigCommerce; nothing stored is replayed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integration.choices import OrderSyncState
from integration.models import OrderSync
from integration.services.order_sync import ORDER_SYNC, order_sync_key
from integration.services.synclog import Event, sync_log, sync_log_build, sync_log_save
from integration.status_table import STATUS_TABLE
from work import kernel

# "Retry all matching" queues at most this many orders per click; the page says so and shows what is left.
RETRY_ALL_LIMIT = 500


def order_syncs_retry(*, order_syncs: Iterable[OrderSync], acting_user) -> int:
    """Staff asked to retry: every order that is still failing (retrying or needing attention) goes back to
    pending and gets a job that re-fetches it, and its timeline says who asked. Orders that are not failing
    (imported meanwhile, resolved, already pending) are left alone. Returns how many were retried.

    Set-based, so "retry all matching" costs a few statements whatever the count: the rows are locked, updated
    in one statement, logged in one insert, and their syncs requested again in one statement, due now even if a
    retry was scheduled for later (staff want it re-fetched at once), exactly as webhook intake requests them.
    """
    ids = [sync.pk for sync in order_syncs]
    if not ids:
        return 0
    now = timezone.now()
    with transaction.atomic():
        syncs = list(
            OrderSync.objects.filter(pk__in=ids, state__in=OrderSyncState.failed_states())
            .select_related("link")
            .select_for_update(of=("self",))
            .order_by("pk")
        )
        if not syncs:
            return 0
        OrderSync.objects.filter(pk__in=[s.pk for s in syncs]).update(
            state=OrderSyncState.PENDING,
            next_retry_at=None,
            attempts=0,
            refund_requests=F("refund_requests") + 1,  # a retry reads everything again
            transaction_requests=F("transaction_requests") + 1,
            updated_at=now,
        )
        sync_log_save(
            [
                sync_log_build(link=s.link, event=Event.SYNC_RETRY_REQUESTED, order_sync=s, user=str(acting_user))
                for s in syncs
            ]
        )
        kernel.request_many(
            ORDER_SYNC,
            [(order_sync_key(s.link_id, s.bc_order_id), s.link.retailer_id, None) for s in syncs],
            reset=True,
        )
    return len(syncs)


@transaction.atomic
def order_sync_resolve(*, order_sync: OrderSync, acting_user, note: str) -> None:
    """Staff dealt with a failing order by hand: it leaves the Failed orders list, with their note on its
    timeline. Raises ValidationError without a note, or when the order is no longer failing."""
    note = note.strip()
    if not note:
        raise ValidationError("Say how it was resolved: the note goes on the order's timeline.", code="note_required")
    sync = OrderSync.objects.select_for_update(of=("self",)).select_related("link").get(pk=order_sync.pk)
    if sync.state not in OrderSyncState.failed_states():
        raise ValidationError(
            "Order %(order)s is no longer failing (%(state)s); there is nothing to resolve.",
            code="not_failing",
            params={"order": sync.bc_order_id, "state": sync.get_state_display()},
        )
    now = timezone.now()
    OrderSync.objects.filter(pk=sync.pk).update(
        state=OrderSyncState.RESOLVED,
        resolved_at=now,
        resolved_by=acting_user,
        resolution_note=note,
        next_retry_at=None,
        updated_at=now,
    )
    kernel.withdraw(ORDER_SYNC, [order_sync_key(sync.link_id, sync.bc_order_id)])  # a retry still scheduled
    sync_log(link=sync.link, event=Event.SYNC_RESOLVED, order_sync=sync, user=str(acting_user), note=note)


def status_label(status_id: int | None) -> str:
    """BigCommerce's name for a status id (for pages), or the id itself when unknown."""
    row = STATUS_TABLE.get(status_id) if status_id is not None else None
    return row.label if row else f"Unknown status {status_id}"
