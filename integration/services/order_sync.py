"""Syncing one order: claim it, re-fetch it from BigCommerce, apply it; and what happens when that fails.

The job claims the OrderSync (clearing `queued_at`, so a webhook arriving from now on queues a follow-up), fetches
the order (never a stored payload) without holding any lock, then `orders_apply` locks the row and applies it in
one transaction, ignoring the copy if a newer one was applied meanwhile. Holding no lock across the HTTP call keeps
webhook intake fast; correctness comes from the lock at apply time and the ledger's source keys.

Transient failures (rate limit, BigCommerce 5xx, timeouts) are retried with backoff and the order shows as
"retrying"; after the last attempt, or at once for a permanent problem (order gone, credentials revoked, unknown
status, unreadable data), it needs attention with a reason code and a sentence the merchant can act on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from integration.choices import ErrorCode, LinkState, OrderSyncState, Reason
from integration.exceptions import (
    ApiBadResponse,
    ApiCredentialsRejected,
    ApiError,
    ApiNotFound,
    ApiRateLimited,
    ApiServerError,
    ApiUnavailable,
)
from integration.models import OrderSync, StoreLink
from integration.queueing import QUEUE_WEBHOOKS, get_queue
from integration.services.catalog_resolve import LineRef, products_unresolved
from integration.services.intake import order_sync_job_id
from integration.services.order_apply import ApplyOptions, FetchedOrder, OrderOutcome, orders_apply
from integration.services.order_sync_actions import (  # noqa: F401 - re-exported: staff actions live there
    order_sync_resolve,
    order_syncs_retry,
    status_label,
)
from integration.services.synclog import Event, sync_log

logger = logging.getLogger("integration.sync")

# Attempts before an order with a transient failure needs attention, and the waits between them.
MAX_ATTEMPTS = 6
BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
)
REFUNDED_STATUSES = frozenset({4, 14})
REFUNDED_PAYMENT_STATUSES = frozenset({"refunded", "partially refunded"})


def order_fetch(*, client, link: StoreLink, bc_order_id: int) -> FetchedOrder:
    """Everything the sync needs from BigCommerce about one order, in as few calls as the API allows: the order
    with its consignments and line items (one call), its refunds only when it has any, and the catalog only for
    products the POS has never seen (to tell a deleted product from a new one)."""
    order = client.get_order(bc_order_id)
    refunds = None
    if order.status_id in REFUNDED_STATUSES or (order.payment_status or "").lower() in REFUNDED_PAYMENT_STATUSES:
        refunds = client.list_refunds(bc_order_id)
    return FetchedOrder(
        order=order,
        refunds=refunds,
        deleted_product_ids=deleted_products(client=client, link=link, items=order.products),
    )


def deleted_products(*, client, link: StoreLink, items: Iterable) -> frozenset[int]:
    """Ids of products on these lines that the POS does not know and BigCommerce no longer has."""
    unknown = products_unresolved(
        link=link, refs=[LineRef(i.product_id or 0, i.variant_id or 0, i.sku, i.name) for i in items]
    )
    ids = sorted({r.bc_product_id for r in unknown})
    if not ids:
        return frozenset()
    existing = {p.id for p in client.get_products(ids=ids)}
    return frozenset(set(ids) - existing)


def order_sync_run(*, order_sync_id: int, client=None) -> OrderOutcome | None:
    """Sync one order now (the body of the sync job). Returns the outcome, or None if nothing was applied."""
    now = timezone.now()
    if not OrderSync.objects.filter(pk=order_sync_id).update(queued_at=None, last_attempt_at=now):
        return None
    sync = OrderSync.objects.select_related("link__retailer", "link__default_payment_type").get(pk=order_sync_id)
    link = sync.link
    if link.state != LinkState.ACTIVE:
        logger.info("order %s not synced: link %s is %s", sync.bc_order_id, link.pk, link.state)
        return None
    if client is None:
        from integration.client import BigCommerceClient

        client = BigCommerceClient.for_link(link)
    try:
        fetched = order_fetch(client=client, link=link, bc_order_id=sync.bc_order_id)
    except ApiNotFound:
        return _order_gone(sync)
    except ApiCredentialsRejected as exc:
        return order_sync_fail(order_sync=sync, reason=ErrorCode.CREDENTIALS_REJECTED, detail=exc.detail)
    except ApiRateLimited as exc:
        return order_sync_fail(
            order_sync=sync,
            reason=ErrorCode.RATE_LIMITED,
            detail=exc.detail,
            retry_after=timedelta(seconds=exc.reset_seconds or 0),
        )
    except ApiServerError as exc:
        return order_sync_fail(order_sync=sync, reason=ErrorCode.BIGCOMMERCE_ERROR, detail=exc.detail)
    except ApiUnavailable as exc:
        return order_sync_fail(order_sync=sync, reason=ErrorCode.UNREACHABLE, detail=exc.detail)
    except ApiBadResponse as exc:
        return order_sync_fail(order_sync=sync, reason=ErrorCode.UNPARSEABLE, detail=exc.detail)
    except ApiError as exc:
        return order_sync_fail(order_sync=sync, reason=ErrorCode.BIGCOMMERCE_ERROR, detail=exc.detail)
    return orders_apply(link=link, fetched=[fetched], options=ApplyOptions())[0]


def _order_gone(sync: OrderSync) -> None:
    if sync.sale_id:
        # Archived or deleted after it was imported: the sale stays as it is.
        sync_log(
            link=sync.link,
            event=Event.ORDER_UPDATED,
            order_sync=sync,
            invoice=sync.sale.invoice_number,
            detail="archived or deleted in BigCommerce; the sale is kept",
        )
        return None
    return order_sync_fail(order_sync=sync, reason=ErrorCode.ORDER_NOT_FOUND, detail="")


@transaction.atomic
def order_sync_fail(*, order_sync: OrderSync, reason: Reason, detail: str, retry_after: timedelta | None = None):
    """Record a failed attempt: schedule a retry for a transient reason, else the order needs attention."""
    sync = OrderSync.objects.select_for_update().select_related("link").get(pk=order_sync.pk)
    now = timezone.now()
    sync.attempts += 1
    sync.last_error_code = reason.code
    sync.last_error_message = reason.message.format(order=sync.bc_order_id, detail=detail or "no detail")
    if reason.retryable and sync.attempts < MAX_ATTEMPTS:
        delay = max(BACKOFF[min(sync.attempts - 1, len(BACKOFF) - 1)], retry_after or timedelta(0))
        sync.state, sync.next_retry_at = OrderSyncState.RETRYING, now + delay
        sync.save(
            update_fields=["attempts", "last_error_code", "last_error_message", "state", "next_retry_at", "updated_at"]
        )
        sync_log(
            link=sync.link,
            event=Event.SYNC_RETRYING,
            order_sync=sync,
            message=sync.last_error_message,
            attempt=sync.attempts,
            max_attempts=MAX_ATTEMPTS,
            next_try=f"{sync.next_retry_at:%H:%M:%S} UTC",
        )
        transaction.on_commit(lambda: _schedule_retry(sync.pk, delay))
    else:
        sync.state, sync.next_retry_at = OrderSyncState.NEEDS_ATTENTION, None
        sync.save(
            update_fields=["attempts", "last_error_code", "last_error_message", "state", "next_retry_at", "updated_at"]
        )
        sync_log(
            link=sync.link, event=Event.SYNC_FAILED, order_sync=sync, message=sync.last_error_message, fix=reason.fix
        )
    return


def _schedule_retry(order_sync_id: int, delay: timedelta) -> None:
    try:
        get_queue(QUEUE_WEBHOOKS).enqueue_in(
            delay,
            "integration.jobs.order_sync_job",
            order_sync_id,
            job_id=order_sync_job_id(order_sync_id),
            result_ttl=0,
        )
    except Exception:  # noqa: BLE001 - the sweeper re-queues retries whose time has passed
        logger.warning("could not schedule the retry of order sync %s; the sweeper will", order_sync_id)
