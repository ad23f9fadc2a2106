"""Historical import ("Import all orders"): the support switch, the dry-run preview, the run, its progress.

- The switch is off for every retailer. Only support changes it, per retailer, with a reason; every change is an
  AuditEntry (who, when, why) in the same transaction, and disabling it cancels a run in progress.
- The preview reads only: it pages through the range, resolves lines against existing links and SKUs in memory
  and counts; it writes nothing (no sale, no product, no OrderSync row, no invoice number).
- The run is `bc.import` work on the `imports` queue, requested with the run (`integration.kinds`; the lowest
  priority, so live orders always go first). Each step walks the range in id order (keyset on `min_id`, so new
  orders or a restart never shift a page), takes a window of pages (250 a page, line items inlined; up to 16,
  fewer once another page would take its refunded orders past 250) and the refunds of those in one call, then
  applies each page with `orders_apply` (Mode.IMPORT), the same path live syncs use: its OrderSync row locks
  make it exactly once against webhooks and reconciliation. While it applies, a thread of the worker already
  reads the next window (fetch-ahead), which the next step takes, so BigCommerce's latency is not added to the
  wall time. A step that is not the last asks for the next one, so other stores' work is served between steps;
  a step yields to live work (order syncs waiting for a worker: its own store's at once, another store's once it
  has waited `WORK_YIELD_AFTER_SECONDS` and its store is not at its cap of workers) after any page of its window,
  and leaves the pages it did not apply to the next step.
- Progress is the HistoricalImport row. Each page's apply, its counters, its one summary log entry (orders are
  logged one by one only when they fail) and the cursor commit in ONE transaction that first locks the import row
  and checks the cursor is still the one this runner read: a page is counted once even if a stale runner and a
  resumed one overlap, and a crash resumes from the cursor (the work's lease runs out and another worker takes
  it). That transaction does not wait for the WAL flush (see `_commit_without_waiting_for_the_flush`). A
  transient BigCommerce failure is retried by the kind's policy.
- Calls go out as bulk traffic through the shared rate limiter, which keeps a reserve for live syncs.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime

import django
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, reset_queries, transaction
from django.utils import timezone

from config.observability import current_log_context, log_context
from integration.bc_types import Order, bc_dumps, bc_loads
from integration.choices import ImportState, LinkState
from integration.exceptions import ApiError
from integration.models import HistoricalImport, OrderSync, StoreLink
from integration.ratelimit import Priority
from integration.services.catalog_resolve import LineRef, products_known
from integration.services.order_apply import ApplyOptions, FetchedOrder, Kind, Mode, orders_apply
from integration.services.order_sync import deleted_products, order_has_refunds
from integration.services.synclog import Event, sync_log
from integration.status_table import Outcome, UnknownStatusError, status_for
from pos.choices import AuditAction
from pos.models import AuditEntry, Retailer, User
from work import kernel, registry
from work.models import WorkItem
from work.registry import Attempt

logger = logging.getLogger("integration.import")

PAGE_SIZE = 250  # the preview's page; the run's is settings.HISTORICAL_IMPORT_PAGE_SIZE (250 too)
# The preview reads at most this many orders' lines for its product and stock figures (the counts are exact).
PREVIEW_SCAN_LIMIT = 5_000
PREVIEW_TOP_PRODUCTS = 20
IMPORT = "bc.import"

COUNTERS = ("imported", "skipped", "already_imported", "failed")
KIND_COUNTER = {
    Kind.CREATE: "imported",
    Kind.UPDATE: "already_imported",
    Kind.STALE: "already_imported",
    Kind.SKIP_STATUS: "skipped",
    Kind.FROM_POS: "skipped",
    Kind.HISTORICAL: "skipped",
    Kind.ATTENTION: "failed",
}


class ImportRefused(Exception):
    """A request the rules refuse, with a sentence for the person who asked."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ImportUnreadable(Exception):
    """BigCommerce could not be read for a preview; `message` says so, with BigCommerce's own words."""

    def __init__(self, detail: str):
        self.message = f"BigCommerce could not be read: {detail}"
        super().__init__(self.message)


# ---------------------------------------------------------------- the switch (support only)


@transaction.atomic(durable=True)
def historical_import_switch_set(*, retailer: Retailer, enabled: bool, reason: str, acting_user: User) -> bool:
    """Enable or disable "Import all orders" for a retailer. Support only, reason required, audited. Disabling
    cancels a run in progress. Returns True if the switch changed."""
    if not getattr(acting_user, "is_support", False):
        raise PermissionDenied("Only support can enable or disable the historical import.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why: the reason is recorded in the audit log.")
    retailer = Retailer.objects.select_for_update().get(pk=retailer.pk)
    if retailer.historical_import_enabled == enabled:
        return False
    retailer.historical_import_enabled = enabled
    retailer.historical_import_changed_at = timezone.now()
    retailer.historical_import_changed_by = acting_user
    retailer.historical_import_reason = reason
    retailer.save(
        update_fields=[
            "historical_import_enabled",
            "historical_import_changed_at",
            "historical_import_changed_by",
            "historical_import_reason",
        ]
    )
    AuditEntry.objects.create(
        retailer=retailer,
        actor=acting_user,
        action=AuditAction.HISTORICAL_IMPORT_ENABLED if enabled else AuditAction.HISTORICAL_IMPORT_DISABLED,
        reason=reason,
        detail={"historical_import_enabled": enabled},
    )
    if not enabled:
        HistoricalImport.objects.filter(
            link__retailer=retailer, state__in=(ImportState.QUEUED, ImportState.RUNNING)
        ).update(state=ImportState.CANCELLING)
    return True


# ---------------------------------------------------------------- options and the preview (reads only)


@dataclass(frozen=True)
class ImportOptions:
    date_from: datetime | None
    date_to: datetime
    adjust_stock: bool = False

    def filters(self) -> dict:
        return {"min_date_created": self.date_from, "max_date_created": self.date_to}


def import_options(*, link: StoreLink, date_from=None, date_to=None, adjust_stock: bool = False) -> ImportOptions:
    """The options with their defaults: everything placed before the store was linked, stock left alone."""
    date_to = min(date_to, link.linked_at) if date_to else link.linked_at
    if date_from and date_from > date_to:
        raise ImportRefused("The start date is after the end date.")
    return ImportOptions(date_from=date_from, date_to=date_to, adjust_stock=adjust_stock)


def _refused_unless_allowed(link: StoreLink) -> None:
    if not link.retailer.historical_import_enabled:
        raise ImportRefused("Historical import is not enabled for this retailer. Ask support to enable it.")
    if link.state != LinkState.ACTIVE:
        raise ImportRefused("The store link is not active.")


def historical_import_preview(*, link: StoreLink, options: ImportOptions, client=None) -> dict:
    """The dry run: what an import with these options would do, computed from reads only (BigCommerce's order
    count and pages, and the POS rows as they are). Nothing is written anywhere. ImportUnreadable when
    BigCommerce answers with an error."""
    _refused_unless_allowed(link)
    try:
        return _preview(link, options, client or _client(link))
    except ApiError as exc:
        raise ImportUnreadable(exc.detail) from exc


def _preview(link: StoreLink, options: ImportOptions, client) -> dict:
    count = client.count_orders(**options.filters())
    skipped_by_status: Counter = Counter()
    for status_id, n in count.by_status.items():
        try:
            if status_for(status_id).outcome == Outcome.SKIP and n:
                skipped_by_status[status_for(status_id).label] += n
        except UnknownStatusError:
            skipped_by_status[f"Unknown status {status_id}"] += n
    already = _already_imported_count(link, options)
    scanned, would_import = 0, 0
    new_products: dict[tuple[int, int], str] = {}
    stock: dict[tuple, dict] = {}
    orders = client.iter_orders(include_line_items=True, sort="id:asc", **options.filters())
    batch: list[Order] = []
    for order in orders:
        batch.append(order)
        scanned += 1
        if len(batch) == PAGE_SIZE or scanned >= PREVIEW_SCAN_LIMIT:
            would_import += _preview_page(link, options, batch, new_products, stock)
            batch = []
        if scanned >= PREVIEW_SCAN_LIMIT:
            break
    if batch:
        would_import += _preview_page(link, options, batch, new_products, stock)
    skipped = sum(skipped_by_status.values())
    complete = scanned >= count.total
    impact = sorted(stock.values(), key=lambda row: (row["quantity"], row["name"]))
    return {
        "total": count.total,
        "would_import": max(count.total - skipped - already, 0) if not complete else would_import,
        "skipped": skipped,
        "skipped_by_status": dict(skipped_by_status.most_common()),
        "already_imported": already,
        "products_created": len(new_products),
        # One label per BigCommerce product and variant: "Map Case · Size A5 · no SKU", never a bare name twice.
        "products_created_names": sorted(new_products.values())[:PREVIEW_TOP_PRODUCTS],
        "stock_impact": impact[:PREVIEW_TOP_PRODUCTS] if options.adjust_stock else [],
        "stock_products": len(impact) if options.adjust_stock else 0,
        "scanned": scanned,
        "complete": complete,
        "adjust_stock": options.adjust_stock,
        "date_from": options.date_from.isoformat() if options.date_from else None,
        "date_to": options.date_to.isoformat(),
    }


def _already_imported_count(link: StoreLink, options: ImportOptions) -> int:
    rows = OrderSync.objects.filter(link=link, sale__isnull=False, bc_date_created__lte=options.date_to)
    if options.date_from:
        rows = rows.filter(bc_date_created__gte=options.date_from)
    return rows.count()


def line_label(item) -> str:
    """How a page names an order line's product: its name, its variant's options and its SKU, so two variants
    of one product (or two products of one name) read apart."""
    options = ", ".join(f"{o.display_name} {o.display_value}".strip() for o in item.product_options or ())
    sku = f"SKU {item.sku}" if item.sku else "no SKU"
    return " · ".join(part for part in (item.name, options, sku) if part)


def _preview_page(link, options, orders: list[Order], new_products: dict, stock: dict) -> int:
    """Fold one page into the preview's figures; returns how many of its orders would become sales."""
    with_sale = set(
        OrderSync.objects.filter(link=link, bc_order_id__in=[o.id for o in orders], sale__isnull=False).values_list(
            "bc_order_id", flat=True
        )
    )
    importing = []
    for order in orders:
        try:
            outcome = status_for(order.status_id).outcome
        except UnknownStatusError:
            continue
        if order.id in with_sale or outcome == Outcome.SKIP:
            continue
        importing.append((order, outcome))
    refs, labels = {}, {}
    for order, _ in importing:
        for item in order.products:
            ref = LineRef(item.product_id or 0, item.variant_id or 0, item.sku, item.name)
            refs[ref.key] = ref
            labels.setdefault(ref.key, line_label(item))
    known = products_known(link=link, refs=list(refs.values()))
    for key, ref in refs.items():
        if ref.bc_product_id and key not in known:
            new_products.setdefault(key, labels[key])
    if options.adjust_stock:
        for order, outcome in importing:
            if outcome != Outcome.CLOSED:
                continue  # a voided sale moves nothing
            for item in order.products:
                key = (item.product_id or 0, item.variant_id or 0)
                product = known.get(key)
                if product is not None and not product.tracks_inventory:
                    continue
                row_key = ("p", product.pk) if product else ("bc", key)
                name = product.name if product else item.name
                row = stock.setdefault(
                    row_key, {"name": name, "sku": item.sku or "", "quantity": 0, "new": not product}
                )
                row["quantity"] -= int(item.quantity)
    return len(importing)


# ---------------------------------------------------------------- starting, cancelling


@transaction.atomic
def historical_import_start(
    *, link: StoreLink, options: ImportOptions, acting_user: User, preview: dict | None = None
) -> HistoricalImport:
    """Queue a run (merchant admins, once support enabled it). One active run per link."""
    Retailer.objects.select_for_update().filter(pk=link.retailer_id).first()
    link.retailer.refresh_from_db(fields=["historical_import_enabled"])
    _refused_unless_allowed(link)
    if HistoricalImport.objects.filter(link=link, state__in=ImportState.active_states()).exists():
        raise ImportRefused("An import is already running for this store.")
    run = HistoricalImport.objects.create(
        link=link,
        requested_by=acting_user,
        date_from=options.date_from,
        date_to=options.date_to,
        adjust_stock=options.adjust_stock,
        preview=preview or {},
        heartbeat_at=timezone.now(),
    )
    sync_log(link=link, event=Event.IMPORT_STARTED, user=str(acting_user), data={"import": run.pk})
    _request_step(run, link)
    return run


def _request_step(run: HistoricalImport, link: StoreLink) -> None:
    kernel.request(IMPORT, run.pk, shard=link.retailer_id)


@transaction.atomic
def historical_import_cancel(*, run: HistoricalImport, acting_user: User) -> bool:
    """Ask a run to stop after the page it is on (a queued run stops at once). True if it was active."""
    run = HistoricalImport.objects.select_for_update().get(pk=run.pk)
    if run.state not in (ImportState.QUEUED, ImportState.RUNNING):
        return False
    run.state = ImportState.CANCELLING
    run.error = f"Cancelled by {acting_user}"
    run.save(update_fields=["state", "error"])
    return True


# ---------------------------------------------------------------- the run


def _client(link: StoreLink):
    from integration.client import BigCommerceClient

    return BigCommerceClient.for_link(link, priority=Priority.BULK)


def historical_import_run(*, import_id: int, client=None, page_size: int | None = None) -> str:
    """Run an import step after step until it ends (the work runs one step at a time; tests and the benchmark
    call this). Returns the state it left the run in."""
    while True:
        state = historical_import_step(import_id=import_id, client=client, page_size=page_size, request_next=False)
        if state != ImportState.RUNNING:
            return state


def historical_import_steps(items: Sequence[WorkItem], *, client=None) -> None:
    """The `bc.import` handler: one step of each run (an API error fails it; the kind's policy retries it)."""
    for item in items:
        historical_import_step(import_id=int(item.key), client=client)


def historical_import_step(
    *, import_id: int, client=None, page_size: int | None = None, request_next: bool = True
) -> str:
    """One step of a run: resume from the cursor, fetch and apply one window of pages, and (unless it was the
    last) ask for the next step. Returns the state it left the run in; raises a BigCommerce error."""
    page_size = page_size or settings.HISTORICAL_IMPORT_PAGE_SIZE
    run = HistoricalImport.objects.select_related("link__retailer", "link__default_payment_type").get(pk=import_id)
    if run.state not in ImportState.active_states():
        return run.state
    link = run.link
    if run.state == ImportState.CANCELLING:
        return _finish(run, ImportState.CANCELLED)
    if link.state != LinkState.ACTIVE or not link.retailer.historical_import_enabled:
        return _finish(run, ImportState.CANCELLED, error="Historical import was disabled or the store unlinked.")
    # The fetch-ahead runs in a process of its own unless the step was given a client (see `_fetch_ahead`).
    in_process = client is None and settings.HISTORICAL_IMPORT_FETCH_PROCESS
    if in_process:
        with _ahead_lock:
            _process_pool()
    client = client or _client(link)
    options = ImportOptions(run.date_from, run.date_to or link.linked_at, run.adjust_stock)
    if run.state == ImportState.QUEUED:
        total = client.count_orders(**options.filters()).total
        HistoricalImport.objects.filter(pk=run.pk, state=ImportState.QUEUED).update(
            state=ImportState.RUNNING, total=total, started_at=timezone.now(), heartbeat_at=timezone.now(), error=""
        )
        run.refresh_from_db()
    state = _run_window(run, link, client, options, page_size, yield_to_live=request_next, in_process=in_process)
    if state is not None:
        return state
    if request_next:
        _request_step(run, link)
    return ImportState.RUNNING


def historical_import_record_failures(attempts: Sequence[Attempt]) -> None:
    """A step failed talking to BigCommerce: say so on the run (it is retried), or end it as failed."""
    for attempt in attempts:
        run = HistoricalImport.objects.select_related("link").filter(pk=int(attempt.item.key)).first()
        if run is None or run.state not in ImportState.active_states():
            continue
        if attempt.retry_at is not None:
            HistoricalImport.objects.filter(pk=run.pk).update(
                heartbeat_at=timezone.now(),
                error=f"{attempt.failure.message} Retrying at {attempt.retry_at:%H:%M:%S} UTC."[:2000],
            )
        elif attempt.failure.retryable:
            _finish(
                run,
                ImportState.FAILED,
                error=f"{attempt.failure.message} The automatic retries failed too. Start the import again: orders "
                f"already imported are not imported twice.",
            )
        else:
            _finish(run, ImportState.FAILED, error=f"BigCommerce refused: {attempt.failure.message}")


def _live_work_waits(link: StoreLink) -> bool:
    """Whether live work (order syncs, write-backs...) waits for a worker: this store's, due and not taken, or any
    other store's, due for longer than `WORK_YIELD_AFTER_SECONDS` (no idle worker took it) and not at its cap."""
    return kernel.waiting(
        shard=link.retailer_id,
        before_priority=registry.get(IMPORT).priority,
        others_after=settings.WORK_YIELD_AFTER_SECONDS,
    )


@dataclass
class _Window:
    """Up to HISTORICAL_IMPORT_WINDOW_PAGES pages from a cursor, with the refunds of their refunded orders."""

    pages: list[list[Order]]
    refunds: dict[int, list]
    last: bool  # the range ends in this window
    next_min_id: int
    remaining: int  # orders of the run's count after this window
    fetched_at: float


def _fetch_window(
    client, options: ImportOptions, min_id: int, page_size: int, remaining: int, window_pages: int
) -> _Window:
    """Read a window of up to `window_pages` pages in id order from `min_id`, then the refunds of its refunded
    orders (one call per 250 of them). Only HTTP: it runs in the fetch-ahead process (or thread) too, which must
    not touch the database.

    The range ends at a short page, or once the window holds the `remaining` orders the run's count left (when
    it left any): the range is fixed when the run starts (orders placed before the link, counted then), so the
    empty page after a full last one would only confirm what the count said. An order placed since is outside
    the range (webhooks and reconciliation sync it); one the count missed, placed in the range afterwards through
    the API with an earlier date, is left out like one placed after the run ended."""
    pages: list[list[Order]] = []
    refunded: list[int] = []
    last = False
    most = 0  # the most refunded orders one page of this window had
    counted = remaining > 0
    for _ in range(window_pages):
        page = client.list_orders(
            page=1, limit=page_size, include_line_items=True, sort="id:asc", min_id=min_id or None, **options.filters()
        )
        if page:
            pages.append(page)
            min_id = page[-1].id + 1
            on_page = [o.id for o in page if order_has_refunds(o)]
            refunded += on_page
            most = max(most, len(on_page))
            remaining -= len(page)
        if len(page) < page_size or (counted and remaining <= 0):
            last = True
            break
        if len(refunded) + most > client.PAGE_LIMIT:
            break  # one more page would likely need a second refunds call (250 ids per call)
    refunds = client.list_refunds_of_orders(refunded) if refunded else {}
    return _Window(pages, refunds, last, min_id, max(remaining, 0), time.monotonic())


# Fetch-ahead: while a step applies its window, the next one is read elsewhere and the next step (usually claimed
# by the same worker) takes it instead of reading it, so BigCommerce's page latency is not added to the import's
# time. Where: a thread of the worker (`_ahead_pool`), or with HISTORICAL_IMPORT_FETCH_PROCESS on a process of
# the worker's own (`_ahead_process`), so reading the HTTP responses and parsing them into `bc_types` (about a
# third of an import's CPU time) does not compete with the apply for the worker's GIL; it hands the window back
# pickled (`bc_dumps`), which the worker loads in a fraction of the parse's time, but the machine spends more CPU
# in all (the setting says when it pays). Always the thread when the step was given its client (tests that patch
# one; a process cannot use it). Either way the calls go through the store's rate limiter
# (Redis, shared by every process) as bulk traffic, and an error of the read (ApiError, rate limiting,
# BigCommerce down) is raised by the step that takes the window, as if it had read it.
# Keyed by run, cursor and what the pages depend on; a window nobody takes (another worker took the step, the run
# stopped) is dropped after AHEAD_TTL_SECONDS, and its calls are the only loss.
AHEAD_TTL_SECONDS = 120
_ahead_lock = threading.Lock()
_ahead: dict[tuple, tuple[float, Future]] = {}
_ahead_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-fetch-ahead")
_ahead_process: ProcessPoolExecutor | None = None  # started on first use, kept for the worker's life


@dataclass(frozen=True)
class _Reader:
    """What the fetch-ahead process needs to call BigCommerce as the step's client does."""

    store_hash: str
    access_token: str = dataclasses.field(repr=False)
    base_url: str
    timeout: object
    priority: str
    max_wait: float
    bulk_reserve: float

    @classmethod
    def of(cls, client) -> _Reader:
        limiter = client.rate_limiter
        return cls(
            client.store_hash,
            client._token,
            client.base_url,
            client.timeout,
            str(client.priority),
            limiter.max_wait,
            limiter.bulk_reserve,
        )

    def client(self):
        """This process's client for the store (one Session, one limiter), made on first use."""
        from integration.client import BigCommerceClient
        from integration.ratelimit import StoreRateLimiter

        client = _process_clients.get(self)
        if client is None:
            limiter = StoreRateLimiter(self.store_hash, max_wait=self.max_wait, bulk_reserve=self.bulk_reserve)
            client = _process_clients[self] = BigCommerceClient(
                store_hash=self.store_hash,
                access_token=self.access_token,
                base_url=self.base_url,
                timeout=self.timeout,
                rate_limiter=limiter,
                priority=self.priority,
            )
        return client


_process_clients: dict[_Reader, object] = {}  # in the fetch-ahead process


def _window_read_elsewhere(reader: _Reader, log_fields: dict, *args) -> bytes:
    """In the fetch-ahead process: read the window (see `_fetch_window`), with the step's log context."""
    with log_context(**log_fields):
        return bc_dumps(_fetch_window(reader.client(), *args))


def _process_pool() -> ProcessPoolExecutor:
    """The fetch-ahead process; made on first use, and then started at once (in the background: a step calls this
    before reading its own first window, so the process is ready by the time that window is read)."""
    global _ahead_process
    if _ahead_process is None:
        _ahead_process = ProcessPoolExecutor(
            # `spawn`: a fresh interpreter, nothing of the worker's state, connections or locks inherited; Django
            # set up from the worker's environment before the first window (it uses no database).
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=django.setup,
        )
        _ahead_process.submit(int)  # starts the process
    return _ahead_process


def _ahead_key(run: HistoricalImport, options: ImportOptions, min_id: int, page_size: int) -> tuple:
    return (run.pk, run.link_id, options, min_id, page_size, settings.HISTORICAL_IMPORT_WINDOW_PAGES)


def _fetch_ahead(
    key: tuple, client, options: ImportOptions, min_id: int, page_size: int, remaining: int, *, in_process: bool
) -> None:
    """Start reading the window at `key` in the fetch-ahead process or thread (unless it is read or kept
    already)."""
    args = (options, min_id, page_size, remaining, settings.HISTORICAL_IMPORT_WINDOW_PAGES)
    with _ahead_lock:
        _forget_stale()
        if key in _ahead:
            return
        if in_process:
            try:
                reader, log_fields = _Reader.of(client), current_log_context()
                future = _process_pool().submit(_window_read_elsewhere, reader, log_fields, *args)
            except BrokenProcessPool:
                _drop_process_pool()
                return  # the next step reads the window itself
        else:
            context = contextvars.copy_context()  # the log context (job, link) follows the calls into the thread
            future = _ahead_pool.submit(context.run, _fetch_window, client, *args)
        _ahead[key] = (time.monotonic(), future)


def _drop_process_pool() -> None:
    """Forget a fetch-ahead process that died (killed, out of memory): the next use starts another."""
    global _ahead_process
    if _ahead_process is not None:
        _ahead_process.shutdown(wait=False, cancel_futures=True)
        _ahead_process = None


def _keep_ahead(key: tuple, window: _Window) -> None:
    """Keep pages already read for the step that resumes at `key` (a step that gave way to live work)."""
    future: Future = Future()
    future.set_result(window)
    with _ahead_lock:
        _ahead[key] = (time.monotonic(), future)


def _take_ahead(key: tuple) -> _Window | None:
    """The window read ahead for `key` (waiting for it if still in flight), or None. Its error, if the read failed,
    is raised (the step fails as if it had read it); a fetch-ahead process that died is not such an error: the
    step reads the window itself. Windows of the run before this one are dropped."""
    with _ahead_lock:
        _forget_stale()
        _, future = _ahead.pop(key, (0.0, None))
        for other in [k for k in _ahead if k[0] == key[0] and k[3] < key[3]]:
            _ahead.pop(other)[1].cancel()
    if future is None or future.cancelled():
        return None
    try:
        window = future.result()
    except BrokenProcessPool:
        logger.warning("historical import: the fetch-ahead process died; reading the window here")
        with _ahead_lock:
            _drop_process_pool()
        return None
    if isinstance(window, bytes):
        window = bc_loads(window)
    if time.monotonic() - window.fetched_at > AHEAD_TTL_SECONDS:
        return None  # too old to trust: read it again
    return window


def _forget_stale() -> None:
    """Drop windows nobody took in time (another worker took the step, the run stopped). Holds `_ahead_lock`."""
    now = time.monotonic()
    for key in [k for k, (started, _) in _ahead.items() if now - started > AHEAD_TTL_SECONDS]:
        _ahead.pop(key)[1].cancel()


def fetch_ahead_join(timeout: float | None = 60) -> None:
    """Wait until every window being fetched ahead has arrived (tests; a worker never waits for them)."""
    with _ahead_lock:
        futures = [future for _, future in _ahead.values()]
    for future in futures:
        with contextlib.suppress(CancelledError):
            future.exception(timeout=timeout)


def _run_window(
    run: HistoricalImport,
    link: StoreLink,
    client,
    options: ImportOptions,
    page_size: int,
    *,
    yield_to_live: bool,
    in_process: bool,
):
    """Take the window from the cursor (read ahead by the previous step, or now: then one page only, so that its
    apply starts at once and the next window is read meanwhile), start reading the next one, then apply this one
    page by page. With `yield_to_live`, the step ends after any page but the last when live work is waiting for a
    worker (`_live_work_waits`); the pages it did not apply are kept for the next step (from the cursor).
    Every step applies at least one page, so a worker that serves only the imports queue never spins.
    Returns the final state when the run ended, None to go on."""
    cursor = dict(run.cursor)
    min_id = int(cursor.get("min_id", 0))
    window = _take_ahead(_ahead_key(run, options, min_id, page_size)) or _fetch_window(
        client, options, min_id, page_size, run.total - run.seen, 1
    )
    if not window.last:
        next_key = _ahead_key(run, options, window.next_min_id, page_size)
        _fetch_ahead(next_key, client, options, window.next_min_id, page_size, window.remaining, in_process=in_process)
    for page in window.pages:
        deleted = deleted_products(client=client, link=link, items=[i for o in page for i in o.products])
        fetched = [
            FetchedOrder(
                order=o,
                refunds=window.refunds.get(o.id, []) if order_has_refunds(o) else None,
                deleted_product_ids=deleted,
            )
            for o in page
        ]
        state = _apply_page(run, link, fetched, cursor, next_cursor={"min_id": page[-1].id + 1})
        if state is not None:
            return state
        cursor = {"min_id": page[-1].id + 1}
        reset_queries()  # with DEBUG on, Django keeps every statement of a long job in memory
        if yield_to_live and page is not window.pages[-1] and _live_work_waits(link):
            rest = window.pages[window.pages.index(page) + 1 :]
            _keep_ahead(_ahead_key(run, options, page[-1].id + 1, page_size), dataclasses.replace(window, pages=rest))
            return None
    if window.last:
        return _finish(run, ImportState.COMPLETED)
    return None


def _apply_page(run: HistoricalImport, link: StoreLink, fetched, cursor: dict, next_cursor: dict):
    """Apply one page, its counters and the next cursor in one transaction, if this runner still owns the
    cursor. Returns a final state when the run must stop, else None."""
    with transaction.atomic():
        _commit_without_waiting_for_the_flush()
        row = HistoricalImport.objects.select_for_update().get(pk=run.pk)
        if row.state == ImportState.CANCELLING:
            stop = ImportState.CANCELLED
        elif row.state != ImportState.RUNNING or row.cursor != cursor:
            stop = "superseded"
        else:
            stop = None
            try:
                outcomes = orders_apply(
                    link=link, fetched=fetched, options=ApplyOptions(mode=Mode.IMPORT, adjust_stock=row.adjust_stock)
                )
                kinds = Counter(KIND_COUNTER[Kind(o.kind)] for o in outcomes)
            except Exception as exc:  # noqa: BLE001 - an error on our side: isolate it order by order below
                logger.exception("historical import %s: a page failed to apply; applying it order by order", run.pk)
                kinds = _apply_one_by_one(link, fetched, row.adjust_stock, exc)
            counts = {"already" if name == "already_imported" else name: kinds.get(name, 0) for name in COUNTERS}
            first, last = fetched[0].order.id, fetched[-1].order.id
            sync_log(
                link=link,
                event=Event.IMPORT_PAGE,
                data={"import": run.pk, "first": first, "last": last, **counts},
                first=first,
                last=last,
                **counts,
            )
            for name in COUNTERS:
                setattr(row, name, getattr(row, name) + kinds.get(name, 0))
            row.seen += len(fetched)
            row.cursor = next_cursor
            row.heartbeat_at = timezone.now()
            row.save(update_fields=[*COUNTERS, "seen", "cursor", "heartbeat_at"])
            run.__dict__.update({k: getattr(row, k) for k in (*COUNTERS, "seen", "cursor", "heartbeat_at")})
    if stop == ImportState.CANCELLED:
        return _finish(run, ImportState.CANCELLED)
    if stop == "superseded":
        logger.info("historical import %s: another runner moved the cursor; this one stops", run.pk)
        return row.state
    return None


def _commit_without_waiting_for_the_flush() -> None:
    """This transaction's commit returns before its WAL reaches the disk (PostgreSQL: `SET LOCAL
    synchronous_commit = off`), which saves a flush wait per page. Safe here because a page's rows and the run's
    cursor commit in this one transaction: a crash can lose the last pages' commits (a fraction of a second),
    but it loses them whole, cursor included, and the run resumes from the cursor that survived and applies them
    again. Anything else that saw those rows and committed (a webhook's sync) committed after them in the WAL, so
    its own flush makes them durable first. Live syncs never do this: an accepted webhook is on disk first."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def _apply_one_by_one(link: StoreLink, fetched, adjust_stock: bool, first_error: Exception) -> Counter:
    kinds: Counter = Counter()
    for one in fetched:
        try:
            with transaction.atomic():
                outcome = orders_apply(
                    link=link, fetched=[one], options=ApplyOptions(mode=Mode.IMPORT, adjust_stock=adjust_stock)
                )[0]
            kinds[KIND_COUNTER[Kind(outcome.kind)]] += 1
        except Exception as exc:  # noqa: BLE001 - recorded as this order's failure; the run goes on
            kinds["failed"] += 1
            sync_log(
                link=link,
                event=Event.IMPORT_ORDER_FAILED,
                bc_order_id=one.order.id,
                message=f"an error on our side ({exc.__class__.__name__})",
            )
    return kinds


def _finish(run: HistoricalImport, state: str, *, error: str = "") -> str:
    now = timezone.now()
    updated = HistoricalImport.objects.filter(pk=run.pk, state__in=ImportState.active_states()).update(
        state=state, finished_at=now, heartbeat_at=now, **({"error": error[:2000]} if error else {})
    )
    if not updated:
        return HistoricalImport.objects.values_list("state", flat=True).get(pk=run.pk)
    run.refresh_from_db()
    if state == ImportState.COMPLETED:
        sync_log(
            link=run.link,
            event=Event.IMPORT_FINISHED,
            data={"import": run.pk},
            imported=run.imported,
            skipped=run.skipped,
            already=run.already_imported,
            failed=run.failed,
        )
    elif state == ImportState.CANCELLED:
        sync_log(link=run.link, event=Event.IMPORT_CANCELLED, data={"import": run.pk}, detail=run.error or "stopped")
    else:
        sync_log(link=run.link, event=Event.IMPORT_FAILED, data={"import": run.pk}, message=run.error)
    return state


# ---------------------------------------------------------------- reading progress


@dataclass(frozen=True)
class Progress:
    run: HistoricalImport
    percent: int
    rate: float | None  # orders per second
    seconds_left: int | None

    @property
    def done(self) -> bool:
        return self.run.state not in ImportState.active_states()


def import_progress(run: HistoricalImport, *, now=None) -> Progress:
    """Percent done, orders per second since it started, and the time left at that rate."""
    now = now or timezone.now()
    total = max(run.total, run.seen, 1)
    percent = 100 if run.state == ImportState.COMPLETED else min(100, run.seen * 100 // total)
    rate = seconds_left = None
    if run.started_at and run.seen:
        elapsed = ((run.finished_at or now) - run.started_at).total_seconds()
        if elapsed > 0:
            rate = run.seen / elapsed
            if not run.finished_at:
                seconds_left = int(max(run.total - run.seen, 0) / rate)
    return Progress(run=run, percent=percent, rate=rate, seconds_left=seconds_left)
