"""RQ jobs of the BigCommerce link. Thin: take ids, call one service. State lives in the database rows the
services write (OrderSync, WebhookEvent, Fulfillment, HistoricalImport, Stock/PricePushState), so a lost job is
found again by a sweeper or retried from its page. Each job's enqueue function declares its queue, job id,
timeout and retry policy, so every caller (the first attempt and a staff retry alike) queues it the same way.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import django_rq
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from rq import Retry, get_current_job

from config.observability import log_context
from integration.choices import ErrorCode, LinkState, OrderSyncState
from integration.models import OrderSync, StoreLink, WebhookEvent
from integration.queueing import QUEUE_DEFAULT, QUEUE_WEBHOOKS, enqueue_now
from integration.services.fulfillment_writeback import (
    WritebackOutcome,
    fulfillment_writeback_fail,
    fulfillment_writeback_run,
)
from integration.services.intake import order_sync_job_id
from pos.models import Fulfillment, Retailer

logger = logging.getLogger("integration.jobs")

# A queued sync older than this was lost with Redis (it keeps nothing on disk): queue it again.
LOST_AFTER = timedelta(minutes=5)
SWEEP_BATCH = 500


def order_sync_job(order_sync_id: int) -> None:
    """Sync one order (see integration.services.order_sync)."""
    from integration.services.order_sync import order_sync_fail, order_sync_run

    with log_context(order_sync=order_sync_id):
        try:
            order_sync_run(order_sync_id=order_sync_id)
        except Exception as exc:  # noqa: BLE001 - an unexpected error must not lose the order: record it, retry it
            logger.exception("order sync %s failed unexpectedly", order_sync_id)
            sync = OrderSync.objects.filter(pk=order_sync_id).first()
            if sync is not None:
                order_sync_fail(order_sync=sync, reason=ErrorCode.INTERNAL, detail=exc.__class__.__name__)


def intake_sweep_job() -> int:
    """Queue what Redis never got or lost: webhook events never enqueued, syncs queued long ago and never run,
    retries whose time has passed without a job running them, and syncs a worker claimed but never finished
    (a worker killed mid-batch: RQ only moves its job to the failed registry). Duplicates are harmless (the sync is
    idempotent); the sweep only makes sure nothing waits forever."""
    now = timezone.now()
    unqueued_event = WebhookEvent.objects.filter(
        link_id=OuterRef("link_id"),
        resource_id=OuterRef("bc_order_id"),
        enqueued_at__isnull=True,
        received_at__lt=now - timedelta(seconds=30),
    )
    # Claimed by a worker that never finished (killed mid-sync, or the batch raised): `queued_at` was cleared by
    # the claim and nothing recorded an outcome since (every ending touches `updated_at`; see order_sync_run).
    abandoned = Q(queued_at__isnull=True, last_attempt_at__lt=now - LOST_AFTER, updated_at__lt=F("last_attempt_at"))
    due = OrderSync.objects.filter(link__state=LinkState.ACTIVE).filter(
        Q(Exists(unqueued_event))
        | Q(queued_at__lt=now - LOST_AFTER)
        | Q(state=OrderSyncState.RETRYING, next_retry_at__lt=now - LOST_AFTER)
        | abandoned
    )
    queued = 0
    for sync_id, link_id, order_id in due.values_list("pk", "link_id", "bc_order_id")[:SWEEP_BATCH]:
        # Requested first, then woken: a job that starts at once must find the request.
        requested = timezone.now()
        OrderSync.objects.filter(pk=sync_id).update(queued_at=requested)
        if not enqueue_now(QUEUE_WEBHOOKS, order_sync_job, sync_id, job_id=order_sync_job_id(sync_id, requested)):
            break  # Redis still unreachable: the next sweep tries again
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


def catalog_ids_refresh_job(link_id: int) -> int:
    """Refresh the cache of the store's catalog product ids (see integration.services.catalog_ids)."""
    from integration.client import BigCommerceClient
    from integration.services.catalog_ids import catalog_ids_refresh

    link = StoreLink.objects.filter(pk=link_id, state=LinkState.ACTIVE).first()
    if link is None:
        return 0
    return catalog_ids_refresh(link=link, client=BigCommerceClient.for_link(link, priority="bulk"))


def catalog_ids_refresh_all_job() -> int:
    """Queue a catalog id refresh per active link (daily cron)."""
    links = list(StoreLink.objects.filter(state=LinkState.ACTIVE).values_list("pk", flat=True))
    for link_id in links:
        enqueue_now(QUEUE_DEFAULT, catalog_ids_refresh_job, link_id, job_id=f"catalog-ids-{link_id}")
    return len(links)


def sync_log_expire_job() -> int:
    from integration.services.synclog import sync_log_expire

    return sync_log_expire()


# ---------------------------------------------------------------- fulfilment write-back

# Seconds before each retry of a transient write-back failure (rate limit, 5xx, unreachable): ~42 minutes in all.
WRITEBACK_RETRY_INTERVALS = [30, 120, 600, 1800]
WRITEBACK_TIMEOUT_SECONDS = 120


class WritebackRetryLater(Exception):
    """Raised by the write-back job on a transient failure so that RQ's Retry schedules the next attempt."""


def fulfillment_writeback_job_id(fulfillment_id: int) -> str:
    return f"fulfillment-writeback-{fulfillment_id}"


def fulfillment_writeback_enqueue(fulfillment_id: int) -> None:
    """Queue the write-back of a completed fulfilment on the `default` queue (call it after commit)."""
    django_rq.get_queue("default").enqueue(
        fulfillment_writeback_job,
        fulfillment_id,
        job_id=fulfillment_writeback_job_id(fulfillment_id),
        job_timeout=WRITEBACK_TIMEOUT_SECONDS,
        retry=Retry(max=len(WRITEBACK_RETRY_INTERVALS), interval=WRITEBACK_RETRY_INTERVALS),
        description=f"Write fulfilment {fulfillment_id} back to BigCommerce",
    )


def fulfillment_writeback_job(fulfillment_id: int) -> str:
    """Send a completed fulfilment's shipment or Completed status to BigCommerce.

    Transient failures raise WritebackRetryLater while attempts remain (RQ retries with backoff); on the last
    attempt they are recorded as failed for staff to retry. An unexpected error on the last attempt is recorded
    too, and re-raised so RQ keeps its traceback.
    """
    fulfillment = Fulfillment.objects.filter(pk=fulfillment_id).first()
    if fulfillment is None:
        return "missing"
    job = get_current_job()
    final_attempt = job is None or not job.retries_left
    try:
        outcome = fulfillment_writeback_run(fulfillment=fulfillment, final_attempt=final_attempt)
    except Exception as exc:
        if final_attempt:
            fulfillment_writeback_fail(
                fulfillment=fulfillment,
                message=(
                    f"An error on our side stopped the write-back ({exc.__class__.__name__}). Retry below; if it "
                    f"fails again, contact support."
                ),
            )
        raise
    if outcome == WritebackOutcome.RETRYING:
        raise WritebackRetryLater(f"fulfilment {fulfillment_id}: transient BigCommerce failure, retrying")
    return str(outcome)


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


# ---------------------------------------------------------------- stock and price pushes


def bigcommerce_push_job(link_id: int) -> str:
    """Push a link's changed stock levels and prices to BigCommerce (scheduled by `push_schedule`, debounced).

    Failures talking to BigCommerce are handled by the service (rows held back and rescheduled, the sync log
    says so). An unexpected error is recorded there too, then re-raised so RQ keeps its traceback.
    """
    from integration.services.push import push_run

    return str(push_run(link_id=link_id))


def stock_push_sweep_job() -> int:
    """Schedule the push of every active link whose stock or price changes have waited longer than they should
    (Redis lost or never got the push job). Register it with the cron every minute."""
    from integration.services.push_state import push_sweep

    return push_sweep()


# ---------------------------------------------------------------- historical import


def historical_import_job(import_id: int) -> str:
    """Run (or resume from its cursor) a historical import on the `imports` queue."""
    from integration.services.historical_import import historical_import_run

    return str(historical_import_run(import_id=import_id))


def historical_import_sweep_job() -> int:
    """Queue again every historical import whose heartbeat stopped (cron, every minute): it resumes."""
    from integration.services.historical_import import historical_imports_sweep

    return historical_imports_sweep()
