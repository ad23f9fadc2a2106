"""Syncing orders: request a sync, fetch the orders from BigCommerce, apply them; and what a failure means.

A sync is requested (`order_sync_request`) by webhook intake, reconciliation and staff retries alike: one
`bc.order_sync` work row per order (`integration.kinds`), written in the requester's transaction. The kernel
(`work.kernel`) hands a worker a batch of one store's requested orders; `order_syncs_run` fetches them (never a
stored payload) without holding any lock, then `orders_apply` locks their OrderSync rows and applies them in one
transaction, ignoring a copy older than what was applied. Holding no lock across the HTTP calls keeps webhook
intake fast; correctness comes from the lock at apply time and the ledger's source keys.

A failed fetch is returned to the kernel as the order's exception: its one classifier gives the reason
(`ErrorCode.for_exception`) and the kind's retry policy the next try; `order_syncs_record_failures` then says so
on the OrderSync row ("retrying", or "needs attention" with a sentence the merchant can act on) and in the log.
"""

from __future__ import annotations

import contextvars
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.db import connection
from django.db.models import F
from django.utils import timezone

from config.observability import log_context
from integration.bc_types import Order, Refund, Transaction
from integration.choices import ErrorCode, LinkState, OrderSyncState
from integration.exceptions import ApiError, ApiNotFound
from integration.metrics import webhook_to_sale_observe
from integration.models import OrderSync, StoreLink
from integration.services.catalog_ids import catalog_ids_add, catalog_ids_cover, catalog_ids_missing
from integration.services.catalog_resolve import LineRef, products_unresolved
from integration.services.order_apply import ApplyOptions, FetchedOrder, Kind, OrderOutcome, orders_apply
from integration.services.synclog import Event, sync_log, sync_log_build, sync_log_save
from integration.status_table import AUTHORIZED_PAYMENT_STATUSES, has_refunds
from pos.db import bulk_update_rows
from work import kernel
from work.models import WorkItem
from work.registry import Attempt, Deferred, get

logger = logging.getLogger("integration.sync")

ORDER_SYNC = "bc.order_sync"
# Outcomes that wrote a sale (for the webhook-to-sale latency).
SALE_WRITTEN = frozenset({Kind.CREATE, Kind.UPDATE})
# BigCommerce calls in flight at once while fetching a batch.
FETCH_CONCURRENCY = 8
# The longest a batch waits for its store's quota to refill; the orders it still cannot serve are left for later.
QUOTA_WAIT_SECONDS = 1.0


def order_sync_key(link_id: int, bc_order_id: int) -> str:
    return f"{link_id}:{bc_order_id}"


def _parse_key(key: str) -> tuple[int, int]:
    link_id, _, order_id = key.partition(":")
    return int(link_id), int(order_id)


def order_sync_request(
    *,
    link: StoreLink,
    bc_order_id: int,
    reset: bool = False,
    refunds: bool = False,
    transactions: bool = False,
    settle: timedelta | None = None,
) -> None:
    """Ask for an order's sync (call it inside the transaction that learnt of the change): its OrderSync row
    exists from now on, and a worker fetches and applies the order shortly after the commit (after `settle`, so
    webhooks of one change arriving together make one sync). A request for an order already waiting, or running,
    is one sync (or one more, after the running one). `refunds`: the order's refunds may have changed (a refund
    webhook, reconciliation), so the sync reads them again; `transactions`: so may its payment transactions (a
    transaction webhook)."""
    order_syncs_request(
        link=link,
        bc_order_ids=[bc_order_id],
        reset=reset,
        refunds=refunds,
        transactions=transactions,
        settle=settle,
    )


def order_syncs_request(
    *,
    link: StoreLink,
    bc_order_ids: Iterable[int],
    reset: bool = False,
    refunds: bool = False,
    transactions: bool = False,
    settle: timedelta | None = None,
) -> None:
    """`order_sync_request` for several orders in one transaction (reconciliation's page). The OrderSync rows are
    locked in id order, as a sync's apply locks them, so a request and an apply can never deadlock (requesting
    order by order, reconciliation and a worker each held a row the other waited for)."""
    ids = sorted(set(bc_order_ids))
    if not ids:
        return
    order_syncs_ensure(link=link, bc_order_ids=ids)
    counts = _request_counts(refunds=refunds, transactions=transactions)
    if counts:
        rows = OrderSync.objects.select_for_update().filter(link=link, bc_order_id__in=ids).order_by("pk")
        OrderSync.objects.filter(pk__in=list(rows.values_list("pk", flat=True))).update(
            **{name: F(name) + 1 for name in counts}
        )
    due = timezone.now() + settle if settle else None
    kernel.request_many(
        ORDER_SYNC, [(order_sync_key(link.pk, i), link.retailer_id, None) for i in ids], due=due, reset=reset
    )


def _request_counts(*, refunds: bool, transactions: bool) -> list[str]:
    """The OrderSync counters a request counts up: what may have changed and must be read again."""
    return [name for name, wanted in (("refund_requests", refunds), ("transaction_requests", transactions)) if wanted]


def order_sync_request_ctes(
    *,
    link: StoreLink,
    bc_order_id: int,
    only_if: str,
    refunds: bool = False,
    transactions: bool = False,
    settle: timedelta | None = None,
) -> tuple[str, list]:
    """PostgreSQL: `order_sync_request` as data-modifying CTEs (`os_row AS (...), os_work AS (...)`, to follow a
    `WITH`), each doing its part only if the SQL condition `only_if` holds, with their params: for a caller that
    folds the request into a statement of its own (webhook intake: the delivery and its sync in one round trip).
    The caller rings the bell (`work.bell.ring_on_commit`). `refunds`, `transactions` and `settle` as for
    `order_sync_request`."""
    now = timezone.now()
    table = connection.ops.quote_name(OrderSync._meta.db_table)
    work_if = only_if
    counts = _request_counts(refunds=refunds, transactions=transactions)
    if counts:
        # Counting the request locks the OrderSync row. Locks go OrderSync row first, then work row, as in a sync
        # (its apply locks the OrderSync rows, then finishes the work rows) and in `order_sync_request`; the work
        # CTE reads the row CTE's output, so PostgreSQL cannot run it first. Either order deadlocked under load.
        increments = ", ".join(f"{name} = {table}.{name} + 1" for name in counts)
        on_conflict = f"DO UPDATE SET {increments} RETURNING 1"
        work_if = f"({only_if}) AND EXISTS (SELECT 1 FROM os_row)"
    else:
        on_conflict = "DO NOTHING"  # an existing row is neither changed nor locked
    row_sql = (
        f"INSERT INTO {table} (link_id, bc_order_id, state, attempts, last_error_code, last_error_message, "
        f"resolution_note, refund_requests, transaction_requests, created_at, updated_at) "
        f"SELECT %s, %s, %s, 0, '', '', '', %s, %s, %s, %s WHERE {only_if} "
        f"ON CONFLICT (link_id, bc_order_id) {on_conflict}"
    )
    work_sql, work_params = kernel.request_statement(
        get(ORDER_SYNC),
        [(order_sync_key(link.pk, bc_order_id), link.retailer_id, None)],
        due=now + settle if settle else now,
        now=now,
        only_if=work_if,
    )
    sql = f"os_row AS ({row_sql}), os_work AS ({work_sql})"
    params = [link.pk, bc_order_id, OrderSyncState.PENDING, int(refunds), int(transactions), now, now]
    return sql, [*params, *work_params]


def order_syncs_ensure(*, link: StoreLink, bc_order_ids: Iterable[int]) -> None:
    """Create the missing OrderSync rows (pending) in one statement, without touching existing ones."""
    ids = sorted(set(bc_order_ids))
    if not ids:
        return
    now = timezone.now()
    table = connection.ops.quote_name(OrderSync._meta.db_table)
    values = ", ".join(["(%s, %s, %s, 0, '', '', '', %s, %s)"] * len(ids))
    params: list = []
    for order_id in ids:
        params += [link.pk, order_id, OrderSyncState.PENDING, now, now]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (link_id, bc_order_id, state, attempts, last_error_code, last_error_message, "
            f"resolution_note, created_at, updated_at) VALUES {values} ON CONFLICT (link_id, bc_order_id) DO NOTHING",
            params,
        )


# ---------------------------------------------------------------- the handler


def order_syncs_run(items: Sequence[WorkItem], *, client=None) -> dict[int, object]:
    """Sync a batch of requested orders (the `bc.order_sync` handler): {item id: Result or the order's error}."""
    outcomes: dict[int, object] = {}
    by_link: dict[int, dict[int, WorkItem]] = defaultdict(dict)
    for item in items:
        link_id, order_id = _parse_key(item.key)
        by_link[link_id][order_id] = item
    for link_id, wanted in by_link.items():
        with log_context(link=link_id):
            outcomes.update(_run_link_id(link_id, wanted, client))
    return outcomes


def _run_link_id(link_id: int, wanted: dict[int, WorkItem], client) -> dict[int, object]:
    link = (
        StoreLink.objects.select_related("retailer", "default_payment_type", "outlet", "register")
        .filter(pk=link_id)
        .first()
    )
    if link is None or link.state != LinkState.ACTIVE:
        logger.info("%s order(s) not synced: link %s is not active", len(wanted), link_id)
        return {}  # done: a relink requests what changed meanwhile (reconciliation)
    return _run_link(link, wanted, client)


def _run_link(link: StoreLink, wanted: dict[int, WorkItem], client) -> dict[int, object]:
    if client is None:
        from integration.client import BigCommerceClient

        client = BigCommerceClient.for_link(link)
    syncs = _order_syncs(link, list(wanted))
    outcomes: dict[int, object] = {}
    # The batch's tickets in one Redis round trip, not one each; what the store's quota cannot serve now (or after
    # a short wait) goes back to its queue unrun, due when the quota's window ends, and the rest of the store's
    # order syncs waits with it (no worker claims them in vain meanwhile): the worker never sleeps on the quota.
    with client.reserved(len(syncs), within=QUOTA_WAIT_SECONDS) as granted:
        if granted < len(syncs) and granted.wait > 0:
            syncs.sort(key=lambda s: (wanted[s.bc_order_id].requested_at, s.bc_order_id))  # the longest waiting first
            later = timezone.now() + timedelta(seconds=granted.wait)
            outcomes |= {wanted[s.bc_order_id].pk: Deferred(later, queue_waits=True) for s in syncs[granted:]}
            syncs = syncs[:granted]
        fetched, failed = orders_fetch(client=client, link=link, syncs=syncs)
    for sync, exc in failed:
        if isinstance(exc, ApiNotFound) and sync.sale_id:
            # Archived or deleted after it was imported: the sale stays as it is.
            sync_log(
                link=link,
                event=Event.ORDER_UPDATED,
                order_sync=sync,
                invoice=sync.sale.invoice_number,
                detail="archived or deleted in BigCommerce; the sale is kept",
            )
            continue
        outcomes[wanted[sync.bc_order_id].pk] = exc
    applied, errors = _apply(link, fetched)
    for order_id, error in errors.items():
        outcomes[wanted[order_id].pk] = error
    webhook_to_sale_observe(wanted[o.bc_order_id].requested_at for o in applied if o.kind in SALE_WRITTEN)
    return outcomes


def _order_syncs(link: StoreLink, order_ids: list[int]) -> list[OrderSync]:
    """The OrderSync rows of these orders. Their request created them (`order_sync_request`); work requested
    some other way gets its missing rows here."""
    syncs = list(OrderSync.objects.filter(link=link, bc_order_id__in=order_ids).select_related("sale"))
    if len(syncs) < len(set(order_ids)):
        order_syncs_ensure(link=link, bc_order_ids=order_ids)
        syncs = list(OrderSync.objects.filter(link=link, bc_order_id__in=order_ids).select_related("sale"))
    return syncs


def _apply(
    link: StoreLink, fetched: list[tuple[OrderSync, FetchedOrder]]
) -> tuple[list[OrderOutcome], dict[int, Exception]]:
    """Apply the batch in one transaction; if that fails, order by order so one bad order cannot hold up the rest.
    Returns the outcomes, and the errors of the orders that could not be applied by order id."""
    if not fetched:
        return [], {}
    try:
        return orders_apply(link=link, fetched=[f for _, f in fetched], options=ApplyOptions()), {}
    except Exception as exc:  # noqa: BLE001 - isolated below, then returned per order
        if len(fetched) == 1:
            logger.exception("order %s failed to apply", fetched[0][0].bc_order_id)
            return [], {fetched[0][0].bc_order_id: exc}
        logger.exception("a batch of %s orders failed to apply; applying them one by one", len(fetched))
        outcomes: list[OrderOutcome] = []
        errors: dict[int, Exception] = {}
        for one in fetched:
            done, failed = _apply(link, [one])
            outcomes += done
            errors.update(failed)
        return outcomes, errors


def order_syncs_record_failures(attempts: Sequence[Attempt]) -> None:
    """Say on each OrderSync row and in the log how a failed sync ends: retrying at a time, or needing attention
    with the reason and its fix (the `bc.order_sync` kind's `on_failure`, in the kernel's transaction)."""
    keys = {_parse_key(a.item.key): a for a in attempts}
    rows = (
        OrderSync.objects.select_for_update(of=("self",))
        .select_related("link")
        .filter(link_id__in={k[0] for k in keys}, bc_order_id__in={k[1] for k in keys})
        .order_by("pk")
    )
    now = timezone.now()
    changed, entries = [], []
    for sync in rows:
        attempt = keys.get((sync.link_id, sync.bc_order_id))
        if attempt is None:
            continue
        known = ErrorCode.by_code(attempt.failure.code) or ErrorCode.INTERNAL
        sync.attempts = attempt.item.attempts
        sync.last_attempt_at = now
        sync.last_error_code = attempt.failure.code
        sync.last_error_message = known.describe(attempt.failure.detail)
        sync.updated_at = now
        if attempt.retry_at is not None:
            sync.state, sync.next_retry_at = OrderSyncState.RETRYING, attempt.retry_at
            entries.append(
                sync_log_build(
                    link=sync.link,
                    event=Event.SYNC_RETRYING,
                    order_sync=sync,
                    message=sync.last_error_message,
                    attempt=sync.attempts,
                    max_attempts=get(ORDER_SYNC).retry.max_attempts or "∞",
                    next_try=f"{attempt.retry_at:%H:%M:%S} UTC",
                )
            )
        else:
            sync.state, sync.next_retry_at = OrderSyncState.NEEDS_ATTENTION, None
            entries.append(
                sync_log_build(
                    link=sync.link,
                    event=Event.SYNC_FAILED,
                    order_sync=sync,
                    message=sync.last_error_message,
                    fix=known.fix,
                )
            )
        changed.append(sync)
    bulk_update_rows(
        OrderSync,
        changed,
        [
            "attempts",
            "last_attempt_at",
            "last_error_code",
            "last_error_message",
            "state",
            "next_retry_at",
            "updated_at",
        ],
    )
    sync_log_save(entries)


# ---------------------------------------------------------------- fetching


def orders_fetch(
    *, client, link: StoreLink, syncs: Sequence[OrderSync]
) -> tuple[list[tuple[OrderSync, FetchedOrder]], list[tuple[OrderSync, ApiError]]]:
    """Everything the sync needs from BigCommerce about these orders, in as few calls as the API allows: each
    order with its consignments and line items (one call each, made concurrently), its refunds only when they may
    have changed (`refunds_due`; one call for the whole batch), its payment transactions only when they may have
    changed (`transactions_due`; one call each), and one catalog call for all products the POS has
    never seen and the catalog cache does not know (to tell a deleted product from a new one). A copy older than
    the one applied (a late delivery) costs the one call only. Returns (fetched, failed) pairs."""
    failed: list[tuple[OrderSync, ApiError]] = []
    orders: dict[int, Order] = {}
    got = _concurrently(lambda s: client.get_order(s.bc_order_id), syncs)
    for sync, result in zip(syncs, got, strict=True):
        if isinstance(result, ApiError):
            failed.append((sync, result))
        else:
            orders[sync.pk] = result
    fresh = [s for s in syncs if s.pk in orders and not _older(orders[s.pk], s)]
    wanting_refunds = [s for s in fresh if refunds_due(orders[s.pk], s)]
    if len(wanting_refunds) > 1:  # one call for the whole batch's refunds
        try:
            by_order = client.list_refunds_of_orders([s.bc_order_id for s in wanting_refunds])
        except ApiError as exc:
            by_order = exc
        results = [
            by_order if isinstance(by_order, ApiError) else by_order.get(s.bc_order_id, []) for s in wanting_refunds
        ]
    else:
        results = (
            [_concurrently(lambda s: client.list_refunds(s.bc_order_id), wanting_refunds)[0]] if wanting_refunds else []
        )
    refunds: dict[int, list[Refund]] = _keep_read(wanting_refunds, results, orders, failed)
    fresh = [s for s in fresh if s.pk in orders]
    wanting_transactions = [s for s in fresh if transactions_due(orders[s.pk], s)]
    got = _concurrently(lambda s: client.list_transactions(s.bc_order_id), wanting_transactions)
    transactions: dict[int, list[Transaction]] = _keep_read(wanting_transactions, got, orders, failed)
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
        (
            s,
            FetchedOrder(
                order=orders[s.pk],
                refunds=refunds.get(s.pk),
                deleted_product_ids=deleted,
                refund_requests=s.refund_requests,
                transactions=transactions.get(s.pk),
                transaction_requests=s.transaction_requests,
            ),
        )
        for s in syncs
        if s.pk in orders
    ]
    return fetched, failed


def _keep_read(syncs: Sequence[OrderSync], results: Sequence, orders: dict[int, Order], failed: list) -> dict:
    """{sync pk: what was read} of the orders whose extra read (refunds, transactions) succeeded; an order whose
    read failed leaves `orders` for `failed`, to be retried whole."""
    kept = {}
    for sync, result in zip(syncs, results, strict=True):
        if isinstance(result, ApiError):
            failed.append((sync, result))
            orders.pop(sync.pk)
        else:
            kept[sync.pk] = result
    return kept


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


def order_has_refunds(order: Order) -> bool:
    """Whether the order has refunds to read at all (the status table says when)."""
    return has_refunds(order.status_id, order.payment_status)


def refunds_due(order: Order, sync: OrderSync) -> bool:
    """Whether this sync reads the order's refunds: it has some, and they were never read, or something says they
    changed since (a refund webhook, a retry, reconciliation: `refund_requests`), or its status moved (a refund
    moves it to Refunded or Partially Refunded). BigCommerce's `refunded_amount` cannot tell: it is documented to
    always be 0. A second status change of an order refunded long ago costs no refunds call."""
    if not order_has_refunds(order):
        return False
    if sync.refunds_read is None or sync.refund_requests > sync.refunds_read:
        return True
    return sync.bc_status_id != order.status_id


def transactions_due(order: Order, sync: OrderSync) -> bool:
    """Whether this sync reads the order's payment transactions: a transaction webhook came since the last read
    (`transaction_requests`), or the payment status moved on from an authorisation (captured, voided...). A new
    order, and every change of an order paid at checkout, cost no transactions call: its payment status says it
    all."""
    if sync.transaction_requests > (sync.transactions_read or 0):
        return True
    previous = (sync.bc_payment_status or "").lower()
    return previous in AUTHORIZED_PAYMENT_STATUSES and previous != (order.payment_status or "").lower()


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
    context = contextvars.copy_context()  # the log context (job, link) follows the calls into the pool's threads
    with ThreadPoolExecutor(max_workers=min(FETCH_CONCURRENCY, len(items))) as pool:
        return list(pool.map(lambda item: context.copy().run(safe, item), items))


def deleted_products(*, client, link: StoreLink, items: Iterable) -> frozenset[int]:
    """Ids of products on these lines that the POS does not know and BigCommerce no longer has."""
    items = list(items)
    if catalog_ids_cover(link=link, ids={i.product_id for i in items if i.product_id}):
        return frozenset()  # all in the store's catalog: none deleted (one Redis round trip, no SQL)
    unknown = products_unresolved(link=link, refs=[_line_ref(i) for i in items])
    to_ask = catalog_ids_missing(link=link, ids={r.bc_product_id for r in unknown})
    if not to_ask:
        return frozenset()
    existing = {p.id for p in client.get_products(ids=to_ask)}
    catalog_ids_add(link=link, ids=existing)
    return frozenset(set(to_ask) - existing)
