"""Read-side queries of the BigCommerce link: what the Overview, Failed orders, Sync log, order timeline and
support console show. Each returns what a page needs in a fixed number of queries, whatever the page size."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.timesince import timesince

from integration.choices import ErrorCode, LinkState, OrderSyncState, Reason
from integration.models import (
    OrderSync,
    PaymentMethodMap,
    ProductLink,
    StockDriftCorrection,
    StoreLink,
    SyncLogEntry,
    WebhookEvent,
)
from integration.services.order_sync import ORDER_SYNC
from integration.services.synclog import Event
from pos.models import AuditEntry, Retailer
from pos.selectors import local_day_bounds, within_local_days
from pos.services.retailer import NOTHING_IN_USE, InUse
from work import kernel

logger = logging.getLogger("integration.selectors")

# Log events that mean "this order synced" / "this order failed", for the Overview's charts.
SYNCED_EVENTS = tuple(
    e.code
    for e in (Event.ORDER_IMPORTED, Event.ORDER_UPDATED, Event.ORDER_EDITED, Event.ORDER_VOIDED, Event.ORDER_REFUNDED)
)
FAILED_EVENTS = (Event.SYNC_FAILED.code, Event.SYNC_RETRYING.code)
# How recent a "reconciliation found orders webhooks never delivered" entry must be to warn on the Overview.
MISSED_WARNING_WINDOW = timedelta(days=7)
# Reconciliation is late when it has not completed for this many of its intervals.
RECONCILE_LATE_INTERVALS = 3
TIMELINE_LIMIT = 500


def active_link(retailer: Retailer) -> StoreLink | None:
    """The retailer's live link (active or paused), if any."""
    return (
        StoreLink.objects.for_retailer(retailer)
        .exclude(state=LinkState.UNLINKED)
        .select_related("outlet", "register", "default_payment_type")
        .first()
    )


LINK_IN_USE_WHY = "the BigCommerce link uses it (Settings › BigCommerce); choose another there first"


def link_in_use(*, retailer: Retailer, link: StoreLink | None = None) -> InUse:
    """What the live link relies on: its outlet, its register (the online register, never offered for counter
    sales) and the payment types it books online payments as (the default and every mapped one)."""
    link = link or active_link(retailer)
    if link is None:
        return NOTHING_IN_USE
    mapped = PaymentMethodMap.objects.filter(link=link, payment_type__isnull=False).values_list(
        "payment_type_id", flat=True
    )
    return InUse(
        outlet_ids=frozenset(filter(None, [link.outlet_id])),
        register_ids=frozenset(filter(None, [link.register_id])),
        payment_type_ids=frozenset(filter(None, [link.default_payment_type_id, *mapped])),
        why=LINK_IN_USE_WHY,
    )


def attention_count(*, retailer: Retailer) -> int:
    """How many of the retailer's orders need attention (the navigation badge): one indexed count."""
    return OrderSync.objects.for_retailer(retailer).filter(state=OrderSyncState.NEEDS_ATTENTION).count()


# ---------------------------------------------------------------- Overview


@dataclass(frozen=True)
class LinkHealth:
    """How the store link is doing, with the problems a merchant should know about, worst first."""

    link: StoreLink | None
    hooks_total: int = 0
    hooks_active: int = 0
    orders_waiting: int = 0
    retrying: int = 0
    needs_attention: int = 0
    # This store's order syncs waiting or running (the durable-work rows: known even when Redis is down).
    queue_depth: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def colour(self) -> str:
        if self.link is None:
            return "secondary"
        return "warning" if self.problems else "success"

    @property
    def summary(self) -> str:
        if self.link is None:
            return "Not linked"
        if self.link.state == LinkState.PAUSED:
            return "Paused"
        return "Needs a look" if self.problems else "Healthy"


def order_syncs_queued(*, retailer_id: int) -> int:
    """The store's order syncs waiting or running (failed ones are on the Failed orders page)."""
    return sum(due + running for kind, due, running, _ in kernel.counts(shard=retailer_id) if kind == ORDER_SYNC)


def _reconcile_every() -> timedelta:
    return timedelta(seconds=settings.RECONCILE_INTERVAL_SECONDS)


def reconcile_overdue(link: StoreLink) -> timedelta | None:
    """How long ago reconciliation last ran when that is late (None when it is not): several intervals since its
    last run, or since the store was last linked (a link, or a relink, gets the same grace as a run)."""
    if link.state != LinkState.ACTIVE:
        return None
    now = timezone.now()
    late = now - _reconcile_every() * RECONCILE_LATE_INTERVALS
    if link.last_reconciled_at and link.last_reconciled_at >= late:
        return None
    linked = (
        SyncLogEntry.objects.filter(link=link, event=Event.LINKED.code)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    since = max(moment for moment in (link.last_reconciled_at, linked, link.linked_at) if moment)
    return None if since >= late else now - since


def overview_link_health(*, retailer: Retailer) -> LinkHealth:
    """The live link's hooks, last webhook / sync / reconciliation, orders waiting and failing, and the queue."""
    link = active_link(retailer)
    if link is None:
        return LinkHealth(link=None)
    counts = OrderSync.objects.filter(
        link=link,
        state__in=(OrderSyncState.PENDING, OrderSyncState.RETRYING, OrderSyncState.NEEDS_ATTENTION),
    ).aggregate(
        waiting=Count("pk", filter=Q(state=OrderSyncState.PENDING)),
        retrying=Count("pk", filter=Q(state=OrderSyncState.RETRYING)),
        attention=Count("pk", filter=Q(state=OrderSyncState.NEEDS_ATTENTION)),
    )
    hooks = link.hooks or []
    active = sum(1 for h in hooks if h.get("is_active"))
    problems = []
    if link.state == LinkState.PAUSED:
        problems.append("The link is paused: orders are not being synced.")
    if not hooks:
        problems.append("No webhooks are registered: new orders arrive only through reconciliation.")
    elif active < len(hooks):
        problems.append(
            f"{len(hooks) - active} of {len(hooks)} webhooks are inactive at BigCommerce; "
            "reconciliation re-registers them."
        )
    if overdue := reconcile_overdue(link):
        problems.append(
            f"The regular check for orders that webhooks missed last ran {timesince(timezone.now() - overdue)} ago "
            f"(it runs every {timesince(timezone.now() - _reconcile_every())}). New orders still arrive by webhook; "
            "one a webhook misses waits until the check runs again. If this lasts over an hour, contact support."
        )
    if counts["attention"]:
        problems.append(f"{counts['attention']} order(s) need attention.")
    return LinkHealth(
        link=link,
        hooks_total=len(hooks),
        hooks_active=active,
        orders_waiting=counts["waiting"],
        retrying=counts["retrying"],
        needs_attention=counts["attention"],
        queue_depth=order_syncs_queued(retailer_id=retailer.pk),
        problems=problems,
    )


@dataclass(frozen=True)
class DayCount:
    day: date
    synced: int
    failed: int


def daily_sync_counts(*, retailer: Retailer, days: int = 30) -> list[DayCount]:
    """Orders synced and orders that failed, per local day, for the last `days` days (today included; days
    without activity count zero). Counted from the sync log: distinct orders per day, in one grouped query."""
    tz = ZoneInfo(retailer.time_zone)
    today = timezone.now().astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    start, _ = local_day_bounds(retailer, first, None)
    rows = (
        SyncLogEntry.objects.for_retailer(retailer)
        .filter(created_at__gte=start, event__in=SYNCED_EVENTS + FAILED_EVENTS)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("day")
        .annotate(
            synced=Count("bc_order_id", distinct=True, filter=Q(event__in=SYNCED_EVENTS)),
            failed=Count("bc_order_id", distinct=True, filter=Q(event__in=FAILED_EVENTS)),
        )
        .order_by()
    )
    by_day = {row["day"]: row for row in rows}
    return [
        DayCount(d, by_day.get(d, {}).get("synced", 0), by_day.get(d, {}).get("failed", 0))
        for d in (first + timedelta(days=i) for i in range(days))
    ]


def chart_data(counts: list[DayCount]) -> dict:
    """The daily counts shaped for Chart.js (labels and one list per series)."""
    return {
        "labels": [f"{c.day:%b} {c.day.day}" for c in counts],
        "synced": [c.synced for c in counts],
        "failed": [c.failed for c in counts],
    }


def reconcile_missed_warning(*, retailer: Retailer) -> SyncLogEntry | None:
    """The latest "reconciliation found orders webhooks never delivered" entry of the past week, if any."""
    return (
        SyncLogEntry.objects.for_retailer(retailer)
        .filter(event=Event.RECONCILE_MISSED.code, created_at__gte=timezone.now() - MISSED_WARNING_WINDOW)
        .order_by("-created_at", "-pk")
        .first()
    )


# ---------------------------------------------------------------- Failed orders


@dataclass(frozen=True)
class FailedOrderFilters:
    state: str = ""  # "" = everything on the list; or one OrderSyncState
    reason: str = ""  # an ErrorCode reason code
    order: int | None = None
    date_from: date | None = None  # of the last attempt, in local days
    date_to: date | None = None


def order_syncs_failed(*, retailer: Retailer, filters: FailedOrderFilters) -> QuerySet[OrderSync]:
    """Orders failing now (retrying or needing attention) and those whose retry is still running, most recently
    changed first, with their sale joined in."""
    # The retailer's link ids as literals (one small query): with `link_id = X` the partial index
    # ordersync_failed_idx returns the page already in order; a join on the link would sort every failing row.
    link_ids = list(StoreLink.objects.for_retailer(retailer).values_list("pk", flat=True))
    syncs = OrderSync.objects.filter(link_id__in=link_ids).on_failed_list()
    if filters.state:
        syncs = syncs.filter(state=filters.state)
    if filters.reason:
        syncs = syncs.filter(last_error_code=filters.reason)
    if filters.order is not None:
        syncs = syncs.filter(bc_order_id=filters.order)
    syncs = within_local_days(syncs, "last_attempt_at", retailer, filters.date_from, filters.date_to)
    return syncs.select_related("sale").order_by("-updated_at", "-pk")


def order_syncs_retryable(*, retailer: Retailer, filters: FailedOrderFilters) -> QuerySet[OrderSync]:
    """The orders of the Failed orders list that a retry applies to (failing, not already being retried)."""
    return order_syncs_failed(retailer=retailer, filters=filters).filter(state__in=OrderSyncState.failed_states())


def reason_for(code: str) -> Reason | None:
    """The failure reason behind a stored code (None for a code this version does not know)."""
    return ErrorCode.by_code(code) if code else None


def code_label(code: str) -> str:
    """A short name for a reason or event code, for filters and badges: "order_not_found" -> "Order not found"."""
    return code.replace("_", " ").capitalize().replace("Bigcommerce", "BigCommerce")


# ---------------------------------------------------------------- Sync log and timelines


@dataclass(frozen=True)
class SyncLogFilters:
    level: str = ""
    event: str = ""
    order: int | None = None
    date_from: date | None = None
    date_to: date | None = None


def sync_log_entries(*, retailer: Retailer, filters: SyncLogFilters) -> QuerySet[SyncLogEntry]:
    """The retailer's sync log, newest first, filtered; each filter has an index that starts with the retailer."""
    entries = SyncLogEntry.objects.for_retailer(retailer)
    if filters.level:
        entries = entries.filter(level=filters.level)
    if filters.event:
        entries = entries.filter(event=filters.event)
    if filters.order is not None:
        entries = entries.filter(bc_order_id=filters.order)
    entries = within_local_days(entries, "created_at", retailer, filters.date_from, filters.date_to)
    return entries.defer("data").order_by("-created_at", "-pk")


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # "log" or "webhook"
    level: str
    title: str
    message: str
    event: str = ""  # the log event's code ("" for a webhook)
    # The same entry repeated back to back (a failure retried four times) is one item: how many, since when.
    count: int = 1
    first_at: datetime | None = None


@dataclass(frozen=True)
class OrderTimeline:
    """Everything that happened to one BigCommerce order here: deliveries received and sync log entries, oldest
    first, with where the order stands now and the sale it became."""

    link: StoreLink
    bc_order_id: int
    order_sync: OrderSync | None
    items: list[TimelineItem]
    truncated: bool

    @property
    def failed_attempts(self) -> int:
        """How many times syncing this order failed: the row's counter, or the failures its log records when
        more (the counter restarts at a retry by staff, and a permanent failure found while applying an order
        does not add to it)."""
        logged = sum(item.count for item in self.items if item.event in FAILED_EVENTS)
        return max(self.order_sync.attempts if self.order_sync else 0, logged)


# What each webhook BigCommerce sends for an order says, in words.
WEBHOOK_WORDS = {
    "store/order/created": "BigCommerce: order placed.",
    "store/order/updated": "BigCommerce: order changed.",
    "store/order/statusUpdated": "BigCommerce: status changed.",
    "store/order/archived": "BigCommerce: order archived.",
    "store/order/refund/created": "BigCommerce: refund made.",
    "store/order/transaction/created": "BigCommerce: payment transaction made.",
    "store/order/transaction/updated": "BigCommerce: payment transaction changed.",
}


def _without_order_prefix(message: str, bc_order_id: int) -> str:
    """A log sentence on its order's own timeline: "Order 160: Order 160 was cancelled…" and "Order 160: created
    product…" say the order once, or not at all."""
    prefix = f"Order {bc_order_id}: "
    if not message.startswith(prefix):
        return message
    rest = message[len(prefix) :]
    return rest if rest.startswith(f"Order {bc_order_id}") else rest[:1].upper() + rest[1:]


def _collapse_repeats(items: list[TimelineItem]) -> list[TimelineItem]:
    """Back-to-back items saying the same thing become one, with how many times and since when."""
    collapsed: list[TimelineItem] = []
    for item in items:
        last = collapsed[-1] if collapsed else None
        if last and (last.kind, last.level, last.title, last.message) == (
            item.kind,
            item.level,
            item.title,
            item.message,
        ):
            collapsed[-1] = replace(last, at=item.at, count=last.count + 1, first_at=last.first_at or last.at)
        else:
            collapsed.append(item)
    return collapsed


def order_timeline(*, link: StoreLink, bc_order_id: int) -> OrderTimeline:
    """The timeline of `bc_order_id` on `link` (the caller scopes the link to the retailer). Four queries."""
    sync = OrderSync.objects.select_related("sale", "resolved_by").filter(link=link, bc_order_id=bc_order_id).first()
    entries = list(
        SyncLogEntry.objects.filter(retailer_id=link.retailer_id, link=link, bc_order_id=bc_order_id)
        .defer("data")
        .order_by("-created_at", "-pk")[: TIMELINE_LIMIT + 1]
    )
    hooks = list(
        WebhookEvent.objects.filter(link=link, resource_id=bc_order_id)
        .only("scope", "received_at")
        .order_by("-received_at")[: TIMELINE_LIMIT + 1]
    )
    items = [
        TimelineItem(
            e.created_at, "log", e.level, code_label(e.event), _without_order_prefix(e.message, bc_order_id), e.event
        )
        for e in entries
    ] + [
        TimelineItem(h.received_at, "webhook", "info", "Webhook received", WEBHOOK_WORDS.get(h.scope, h.scope))
        for h in hooks
    ]
    items.sort(key=lambda item: item.at)
    return OrderTimeline(
        link=link,
        bc_order_id=bc_order_id,
        order_sync=sync,
        items=_collapse_repeats(items[-TIMELINE_LIMIT:]),
        truncated=len(items) > TIMELINE_LIMIT,
    )


# ---------------------------------------------------------------- support console


def support_retailers(*, query: str = "") -> QuerySet[Retailer]:
    """Every retailer (filtered by name) with its live link's state, store and last webhook, and its failing
    orders count, annotated in one query: the console never runs a query per retailer."""
    live = StoreLink.objects.filter(retailer=OuterRef("pk")).exclude(state=LinkState.UNLINKED).order_by("-pk")
    failing = (
        OrderSync.objects.filter(link__retailer=OuterRef("pk"), state__in=OrderSyncState.failed_states())
        .order_by()
        .values("link__retailer")
        .annotate(n=Count("pk"))
        .values("n")
    )
    retailers = Retailer.objects.order_by("name", "pk")
    if query.strip():
        retailers = retailers.filter(name__icontains=query.strip())
    return retailers.annotate(
        link_state=Subquery(live.values("state")[:1]),
        link_store=Subquery(live.values("store_name")[:1]),
        link_store_hash=Subquery(live.values("store_hash")[:1]),
        link_hooks=Subquery(live.values("hooks")[:1]),
        last_webhook_at=Subquery(live.values("last_webhook_at")[:1]),
        last_order_synced_at=Subquery(live.values("last_order_synced_at")[:1]),
        failing_orders=Subquery(failing, output_field=IntegerField()),
    )


def support_retailers_page(*, query: str = "", page_number: str | int | None = None, per_page: int = 50) -> Page:
    """A page of `support_retailers`, each row also carrying `hooks_active` and `hooks_total`."""
    page = Paginator(support_retailers(query=query), per_page).get_page(page_number)
    page.object_list = list(page.object_list)
    for retailer in page.object_list:
        hooks = retailer.link_hooks or []
        retailer.hooks_total = len(hooks)
        retailer.hooks_active = sum(1 for h in hooks if h.get("is_active"))
    return page


def support_audit_trail() -> QuerySet[AuditEntry]:
    """What support users did (switches, historical-import changes, anything else audited), newest first."""
    return AuditEntry.objects.filter(actor__is_support=True).select_related("retailer", "actor")


# ---------------------------------------------------------------- the catalog's links to BigCommerce


def products_with_link_state(products: QuerySet, *, retailer: Retailer, linked: bool | None = None) -> QuerySet:
    """Annotate `is_linked` (a ProductLink on the retailer's live store link; an unlinked store's do not count),
    and keep only linked or unlinked products when `linked` says so."""
    products = products.annotate(
        is_linked=Exists(
            ProductLink.objects.filter(product=OuterRef("pk"), link__retailer=retailer).exclude(
                link__state=LinkState.UNLINKED
            )
        )
    )
    return products if linked is None else products.filter(is_linked=linked)


def products_with_links(products: QuerySet) -> QuerySet:
    """Prefetch each product's BigCommerce links (`bc_links`), oldest first."""
    return products.prefetch_related(Prefetch("bc_links", queryset=ProductLink.objects.order_by("pk")))


def stock_drift_corrections(*, retailer: Retailer) -> QuerySet[StockDriftCorrection]:
    """The drift report: levels BigCommerce had wrong and the read-back set back, newest first, with the product
    and outlet each row names (one query per page)."""
    return (
        StockDriftCorrection.objects.for_retailer(retailer)
        .select_related("product", "outlet")
        .order_by("-found_at", "-id")
    )
