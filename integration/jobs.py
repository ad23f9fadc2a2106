"""RQ jobs of the BigCommerce link. Thin: take ids, call one service. State lives in the database rows the
services write (OrderSync, WebhookEvent, HistoricalImport), so a lost job is found again by the sweeper."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from integration.choices import ErrorCode, LinkState, OrderSyncState
from integration.models import OrderSync, StoreLink, WebhookEvent
from integration.queueing import QUEUE_WEBHOOKS, enqueue_now
from integration.services.intake import order_sync_job_id
from pos.models import Retailer

logger = logging.getLogger("integration.jobs")

# A queued sync older than this was lost with Redis (it keeps nothing on disk): queue it again.
LOST_AFTER = timedelta(minutes=5)
SWEEP_BATCH = 500


def order_sync_job(order_sync_id: int) -> None:
    """Sync one order (see integration.services.order_sync)."""
    from integration.services.order_sync import order_sync_fail, order_sync_run

    try:
        order_sync_run(order_sync_id=order_sync_id)
    except Exception as exc:  # noqa: BLE001 - an unexpected error must not lose the order: record it, retry it
        logger.exception("order sync %s failed unexpectedly", order_sync_id)
        sync = OrderSync.objects.filter(pk=order_sync_id).first()
        if sync is not None:
            order_sync_fail(order_sync=sync, reason=ErrorCode.INTERNAL, detail=exc.__class__.__name__)


def intake_sweep_job() -> int:
    """Queue what Redis never got or lost: webhook events never enqueued, syncs queued long ago and never run,
    and retries whose time has passed without a job running them. Duplicates are harmless (the sync is
    idempotent); the sweep only makes sure nothing waits forever."""
    now = timezone.now()
    unqueued_event = WebhookEvent.objects.filter(
        link_id=OuterRef("link_id"),
        resource_id=OuterRef("bc_order_id"),
        enqueued_at__isnull=True,
        received_at__lt=now - timedelta(seconds=30),
    )
    due = OrderSync.objects.filter(link__state=LinkState.ACTIVE).filter(
        Q(Exists(unqueued_event))
        | Q(queued_at__lt=now - LOST_AFTER)
        | Q(state=OrderSyncState.RETRYING, next_retry_at__lt=now - LOST_AFTER)
    )
    queued = 0
    for sync_id, link_id, order_id in due.values_list("pk", "link_id", "bc_order_id")[:SWEEP_BATCH]:
        if not enqueue_now(QUEUE_WEBHOOKS, order_sync_job, sync_id, job_id=order_sync_job_id(sync_id)):
            break  # Redis still unreachable: the next sweep tries again
        OrderSync.objects.filter(pk=sync_id).update(queued_at=timezone.now())
        WebhookEvent.objects.filter(link_id=link_id, resource_id=order_id, enqueued_at__isnull=True).update(
            enqueued_at=timezone.now()
        )
        queued += 1
    if queued:
        logger.warning("sweeper queued %s order sync(s) that Redis had missed or lost", queued)
    return queued


def reconcile_all_job() -> int:
    """Queue one reconciliation per active link (cron)."""
    count = 0
    for link_id in StoreLink.objects.filter(state=LinkState.ACTIVE).values_list("pk", flat=True):
        enqueue_now(
            QUEUE_WEBHOOKS, reconcile_link_job, link_id, job_id=f"reconcile-{link_id}-{timezone.now():%Y%m%d%H%M}"
        )
        count += 1
    return count


def reconcile_link_job(link_id: int) -> None:
    from integration.services.reconcile import reconcile_run

    link = StoreLink.objects.select_related("retailer").filter(pk=link_id, state=LinkState.ACTIVE).first()
    if link is not None:
        reconcile_run(link=link)


def sync_log_expire_job() -> int:
    from integration.services.synclog import sync_log_expire

    return sync_log_expire()


def attention_digest_job() -> int:
    """Send each retailer with orders needing attention its daily digest (cron). Returns how many were sent."""
    from integration.services.alerts import attention_digest_send

    retailer_ids = (
        OrderSync.objects.filter(state=OrderSyncState.NEEDS_ATTENTION)
        .order_by()
        .values_list("link__retailer_id", flat=True)
        .distinct()
    )
    sent = 0
    for retailer in Retailer.objects.filter(pk__in=retailer_ids).order_by("pk"):
        try:
            sent += bool(attention_digest_send(retailer=retailer))
        except Exception:  # noqa: BLE001 - one retailer's mail failure must not cost the others their digest
            logger.exception("attention digest of retailer %s failed", retailer.pk)
    return sent
