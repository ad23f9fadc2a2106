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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, When
from django.utils import timezone
from redis.exceptions import RedisError
from rq.job import Job

from integration.bc_types import Order, Refund
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
from integration.metrics import webhook_to_sale_observe
from integration.models import OrderSync, StoreLink
from integration.queueing import QUEUE_WEBHOOKS, get_queue
from integration.services.catalog_ids import catalog_ids_add, catalog_ids_missing
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
# Orders synced together in one transaction, and BigCommerce calls in flight at once while fetching them.
BATCH_SIZE = 50
FETCH_CONCURRENCY = 8
REFUNDED_PAYMENT_STATUSES = frozenset({"refunded", "partially refunded"})


def orders_fetch(
    *, client, link: StoreLink, syncs: Sequence[OrderSync]
) -> tuple[list[tuple[OrderSync, FetchedOrder]], list[tuple[OrderSync, ApiError]]]:
    """Everything the sync needs from BigCommerce about these orders, in as few calls as the API allows: each
    order with its consignments and line items (one call each, made concurrently), its refunds only when it has
    any, and one catalog call for all products the POS has never seen and the catalog cache does not know (to
    tell a deleted product from a new one). A copy older than the one applied (a late delivery) costs the one
    call only. Returns (fetched, failed) pairs."""
    failed: list[tuple[OrderSync, ApiError]] = []
    orders: dict[int, Order] = {}
    for sync, result in zip(syncs, _concurrently(lambda s: client.get_order(s.bc_order_id), syncs), strict=True):
        if isinstance(result, ApiError):
            failed.append((sync, result))
        else:
            orders[sync.pk] = result
    fresh = [s for s in syncs if s.pk in orders and not _older(orders[s.pk], s)]
    wanting_refunds = [s for s in fresh if _has_refunds(orders[s.pk])]
    refunds: dict[int, list[Refund]] = {}
    for sync, result in zip(
        wanting_refunds, _concurrently(lambda s: client.list_refunds(s.bc_order_id), wanting_refunds), strict=True
    ):
        if isinstance(result, ApiError):
            failed.append((sync, result))
            orders.pop(sync.pk)
        else:
            refunds[sync.pk] = result
    fresh = [s for s in fresh if s.pk in orders]
    try:
        deleted = deleted_products(client=client, link=link, items=[i for s in fresh for i in orders[s.pk].products])
    except ApiError as exc:
        # Without knowing which products still exist, orders with unknown products wait for a retry.
        unknown = {
            r.bc_product_id
            for r in products_unresolved(link=link, refs=[_line_ref(i) for s in fresh for i in orders[s.pk].products])
        }
        waiting = [s for s in fresh if any(i.product_id in unknown for i in orders[s.pk].products)]
        failed += [(s, exc) for s in waiting]
        for s in waiting:
            orders.pop(s.pk)
        deleted = frozenset()
    fetched = [
        (s, FetchedOrder(order=orders[s.pk], refunds=refunds.get(s.pk), deleted_product_ids=deleted))
        for s in syncs
        if s.pk in orders
    ]
    return fetched, failed


def order_fetch(*, client, link: StoreLink, bc_order_id: int) -> FetchedOrder:
    """One order, as `orders_fetch` gets it; raises the API error."""
    sync = OrderSync(link=link, bc_order_id=bc_order_id)
    fetched, failed = orders_fetch(client=client, link=link, syncs=[sync])
    if failed:
        raise failed[0][1]
    return fetched[0][1]


def _older(order: Order, sync: OrderSync) -> bool:
    # Strictly older only: BigCommerce's date_modified has whole seconds, so an equal one may be a newer change.
    return sync.bc_date_modified is not None and order.date_modified < sync.bc_date_modified


def _has_refunds(order: Order) -> bool:
    return order.status_id in REFUNDED_STATUSES or (order.payment_status or "").lower() in REFUNDED_PAYMENT_STATUSES


def _line_ref(item) -> LineRef:
    return LineRef(item.product_id or 0, item.variant_id or 0, item.sku, item.name)


def _concurrently(call: Callable, items: Sequence) -> list:
    """`call(item)` for each item, a few at a time (the client's rate limiter keeps the store's quota); API errors
    are returned in place of results."""

    def safe(item):
        try:
            return call(item)
        except ApiError as exc:
            return exc

    if len(items) <= 1:
        return [safe(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(FETCH_CONCURRENCY, len(items))) as pool:
        return list(pool.map(safe, items))


def deleted_products(*, client, link: StoreLink, items: Iterable) -> frozenset[int]:
    """Ids of products on these lines that the POS does not know and BigCommerce no longer has."""
    unknown = products_unresolved(link=link, refs=[_line_ref(i) for i in items])
    to_ask = catalog_ids_missing(link=link, ids={r.bc_product_id for r in unknown})
    if not to_ask:
        return frozenset()
    existing = {p.id for p in client.get_products(ids=to_ask)}
    catalog_ids_add(link=link, ids=existing)
    return frozenset(set(to_ask) - existing)


def order_syncs_claim(*, order_sync_id: int, limit: int = BATCH_SIZE) -> list[OrderSync]:
    """Take this order, if a sync of it is requested and due, and up to `limit` - 1 more of its store for one
    batch. Clearing `queued_at` is the claim: a webhook arriving from now on requests a follow-up sync. The jobs
    of the other orders taken are withdrawn from the queue (a job left behind finds nothing to claim and ends at
    once). Rows another worker is claiming at the same moment are skipped, not waited for."""
    now = timezone.now()
    link_id = (
        OrderSync.objects.filter(pk=order_sync_id, queued_at__isnull=False, queued_at__lte=now)
        .values_list("link_id", flat=True)
        .first()
    )
    if link_id is None:
        return []
    with transaction.atomic():
        rows = list(
            OrderSync.objects.select_for_update(skip_locked=True)
            .filter(link_id=link_id, queued_at__isnull=False, queued_at__lte=now)
            .order_by(Case(When(pk=order_sync_id, then=0), default=1), "queued_at")
            .values_list("pk", "queued_at")[:limit]
        )
        ids = [pk for pk, _ in rows]
        claimed = OrderSync.objects.filter(pk__in=ids, queued_at__isnull=False).update(
            queued_at=None, last_attempt_at=now
        )
    if not claimed:
        return []
    _withdraw_jobs([(pk, queued_at) for pk, queued_at in rows if pk != order_sync_id])
    return list(
        OrderSync.objects.filter(pk__in=ids, last_attempt_at=now)
        .select_related("link__retailer", "link__default_payment_type", "sale")
        .order_by("pk")
    )


# Remove a job from its queue and delete it, but only if it was still waiting there: a job another worker has
# already taken must keep its hash, or that worker fails to record the job's end (InvalidJobOperation).
_WITHDRAW = """
if redis.call('LREM', KEYS[1], 0, ARGV[1]) > 0 then
    redis.call('DEL', KEYS[2])
end
"""


def _withdraw_jobs(requests: list[tuple[int, object]]) -> None:
    """Remove the queued jobs of requests this batch took over (their ids derive from the request)."""
    if not requests:
        return
    queue = get_queue(QUEUE_WEBHOOKS)
    try:
        withdraw = queue.connection.register_script(_WITHDRAW)
        pipe = queue.connection.pipeline(transaction=False)
        for pk, queued_at in requests:
            job_id = order_sync_job_id(pk, queued_at)
            withdraw(keys=[queue.key, Job.key_for(job_id)], args=[job_id], client=pipe)
        pipe.execute()
    except RedisError as exc:
        logger.warning("could not withdraw %s redundant sync job(s): %s", len(requests), exc)


def order_sync_run(*, order_sync_id: int, client=None) -> OrderOutcome | None:
    """The body of the sync job: sync this order, with whatever else of its store is waiting, as one batch.
    Returns this order's outcome (None when another batch already took it, or nothing was applied)."""
    syncs = order_syncs_claim(order_sync_id=order_sync_id)
    if not syncs:
        return None
    link = syncs[0].link
    if link.state != LinkState.ACTIVE:
        logger.info("%s order(s) not synced: link %s is %s", len(syncs), link.pk, link.state)
        return None
    if client is None:
        from integration.client import BigCommerceClient

        client = BigCommerceClient.for_link(link)
    fetched, failed = orders_fetch(client=client, link=link, syncs=syncs)
    for sync, exc in failed:
        _fail_for(sync, exc)
    outcomes = _apply(link, fetched)
    webhook_to_sale_observe(syncs, outcomes)
    _release(syncs)
    return outcomes.get(order_sync_id)


def _release(syncs: Sequence[OrderSync]) -> None:
    """Mark the batch finished for the rows no outcome was written to (a stale copy, an archived order already
    imported): a claimed row whose `updated_at` is still older than its claim is one the sweeper takes for
    abandoned by a dead worker."""
    claimed_at = syncs[0].last_attempt_at
    OrderSync.objects.filter(pk__in=[s.pk for s in syncs], updated_at__lt=claimed_at).update(updated_at=timezone.now())


def _apply(link: StoreLink, fetched: list[tuple[OrderSync, FetchedOrder]]) -> dict[int, OrderOutcome]:
    """Apply the batch in one transaction; if that fails, order by order so one bad order cannot hold up the rest."""
    if not fetched:
        return {}
    try:
        outcomes = orders_apply(link=link, fetched=[f for _, f in fetched], options=ApplyOptions())
    except Exception:  # noqa: BLE001 - isolated below, then recorded per order
        if len(fetched) == 1:
            raise
        logger.exception("a batch of %s orders failed to apply; applying them one by one", len(fetched))
        result = {}
        for sync, one in fetched:
            try:
                result.update(_apply(link, [(sync, one)]))
            except Exception as exc:  # noqa: BLE001 - an error on our side must not lose the order
                logger.exception("order %s failed to apply", sync.bc_order_id)
                order_sync_fail(order_sync=sync, reason=ErrorCode.INTERNAL, detail=exc.__class__.__name__)
        return result
    by_order = {s.bc_order_id: s.pk for s, _ in fetched}
    return {by_order[o.bc_order_id]: o for o in outcomes}


def _fail_for(sync: OrderSync, exc: ApiError) -> None:
    """Record an API failure of one order with its reason."""
    if isinstance(exc, ApiNotFound):
        _order_gone(sync)
    elif isinstance(exc, ApiCredentialsRejected):
        order_sync_fail(order_sync=sync, reason=ErrorCode.CREDENTIALS_REJECTED, detail=exc.detail)
    elif isinstance(exc, ApiRateLimited):
        order_sync_fail(
            order_sync=sync,
            reason=ErrorCode.RATE_LIMITED,
            detail=exc.detail,
            retry_after=timedelta(seconds=exc.reset_seconds or 0),
        )
    elif isinstance(exc, ApiServerError):
        order_sync_fail(order_sync=sync, reason=ErrorCode.BIGCOMMERCE_ERROR, detail=exc.detail)
    elif isinstance(exc, ApiUnavailable):
        order_sync_fail(order_sync=sync, reason=ErrorCode.UNREACHABLE, detail=exc.detail)
    elif isinstance(exc, ApiBadResponse):
        order_sync_fail(order_sync=sync, reason=ErrorCode.UNPARSEABLE, detail=exc.detail)
    else:
        order_sync_fail(order_sync=sync, reason=ErrorCode.BIGCOMMERCE_ERROR, detail=exc.detail)


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
        return
    order_sync_fail(order_sync=sync, reason=ErrorCode.ORDER_NOT_FOUND, detail="")


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
        sync.state, sync.next_retry_at = OrderSyncState.RETRYING, whole_second_after(now + delay)
        sync.queued_at = sync.next_retry_at  # requested, due then: the scheduled job (or the sweeper) claims it
        sync.save(
            update_fields=[
                "attempts",
                "last_error_code",
                "last_error_message",
                "state",
                "next_retry_at",
                "queued_at",
                "updated_at",
            ]
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
        transaction.on_commit(lambda: _schedule_retry(sync.pk, sync.queued_at))
    else:
        sync.state, sync.next_retry_at = OrderSyncState.NEEDS_ATTENTION, None
        sync.save(
            update_fields=["attempts", "last_error_code", "last_error_message", "state", "next_retry_at", "updated_at"]
        )
        sync_log(
            link=sync.link, event=Event.SYNC_FAILED, order_sync=sync, message=sync.last_error_message, fix=reason.fix
        )
    return


def whole_second_after(moment: datetime) -> datetime:
    """`moment` rounded up to a whole second. RQ's scheduler keeps times in whole seconds (it truncates), so a
    retry due at 12:00:00.4 would be queued at 12:00:00, find its request not yet due and end, leaving the order
    to the sweeper minutes later; and two failures in one second would derive different job ids for what the
    scheduler runs as one moment."""
    if moment.microsecond == 0:
        return moment
    return moment.replace(microsecond=0) + timedelta(seconds=1)


def _schedule_retry(order_sync_id: int, due: datetime) -> None:
    """Schedule the retry's job for the whole second it is due (see `whole_second_after`)."""
    try:
        get_queue(QUEUE_WEBHOOKS).enqueue_at(
            due,
            "integration.jobs.order_sync_job",
            order_sync_id,
            job_id=order_sync_job_id(order_sync_id, due),
            result_ttl=0,
        )
    except Exception:  # noqa: BLE001 - the sweeper re-queues retries whose time has passed
        logger.warning("could not schedule the retry of order sync %s; the sweeper will", order_sync_id)
