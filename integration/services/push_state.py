"""Which linked items BigCommerce must hear about again, and waking the push job that tells it.

The database is the source of truth: a stock or price change marks rows of `StockPushState` / `PricePushState`
dirty in one statement (whatever the number of changes), and Redis only carries the wake-up call. The call is
one delayed job per link and debounce window: its job id names the link and the end of the window
(`bc-push-<link>-<unix seconds>`) and is scheduled with RQ's `unique`, so a burst of changes in one window
schedules one job, and a change that arrives while that job runs falls in a later window and gets its own. If
Redis loses or never gets the job, `push_sweep` (run every minute) finds the rows still dirty and schedules it.

Only live links mark anything: an unlinked store has no live link, and a paused link marks its rows without
waking the job, so BigCommerce catches up once the link is active again (the sweeper picks them up). Only
standard products that track stock are marked for stock; service products and placeholders never are.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, Q
from django.utils import timezone
from redis.exceptions import RedisError
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from integration.choices import LinkState
from integration.models import OutletLocation, PricePushState, ProductLink, StockPushState, StoreLink
from integration.queueing import QUEUE_DEFAULT, get_queue
from pos.choices import ProductKind
from pos.models import Product

logger = logging.getLogger("integration.push")

PUSH_JOB = "integration.jobs.bigcommerce_push_job"
PUSH_JOB_TIMEOUT = 600
# Dirty rows this old with no push on the way were lost with Redis: the sweeper schedules their push.
SWEEP_AFTER = timedelta(minutes=2)
# Pairs per statement on SQLite (parameter limit); PostgreSQL passes arrays in one statement.
CHUNK = 500

_ON_CONFLICT = (
    "DO UPDATE SET version = {table}.version + 1, dirty_since = COALESCE({table}.dirty_since, EXCLUDED.dirty_since)"
)


def push_debounce_seconds() -> int:
    """The debounce window (`STOCK_PUSH_DEBOUNCE_SECONDS`, at least one second)."""
    return max(1, int(settings.STOCK_PUSH_DEBOUNCE_SECONDS))


def push_job_id(link_id: int, slot: int) -> str:
    return f"bc-push-{link_id}-{slot}"


def _live_link(retailer_id: int) -> StoreLink | None:
    """The retailer's live link (active or paused; at most one by constraint), or None."""
    return (
        StoreLink.objects.filter(retailer_id=retailer_id, state__in=(LinkState.ACTIVE, LinkState.PAUSED))
        .only("pk", "state", "outlet_id", "retailer_id")
        .first()
    )


def push_target_outlets(*, link: StoreLink) -> set[int]:
    """Outlets whose stock BigCommerce follows: every mapped outlet, and the linked outlet (location 1 by default
    when the store has a single location; the push job decides, since only it may call BigCommerce)."""
    outlets = set(OutletLocation.objects.filter(link=link).values_list("outlet_id", flat=True))
    if link.outlet_id:
        outlets.add(link.outlet_id)
    return outlets


@transaction.atomic
def stock_push_mark(*, retailer_id: int, changes: Sequence[tuple[int, int]]) -> int:
    """Mark the stock of linked items dirty for these (product id, outlet id) changes; wake the push after commit.

    Returns how many rows were marked. Changes at outlets BigCommerce does not follow, and products that are not
    linked, not standard or not tracking stock, mark nothing.
    """
    link = _live_link(retailer_id)
    if link is None:
        return 0
    outlets = push_target_outlets(link=link)
    pairs = sorted({(p, o) for p, o in changes if o in outlets})
    marked = sum(_mark_stock(link.pk, chunk, timezone.now()) for chunk in _chunks(pairs))
    if marked and link.state == LinkState.ACTIVE:
        transaction.on_commit(partial(push_schedule, link_id=link.pk))
    return marked


@transaction.atomic
def price_push_mark(*, retailer_id: int, product_ids: Iterable[int]) -> int:
    """Mark the prices of the linked items of these products dirty; wake the push after commit. Returns the count."""
    link = _live_link(retailer_id)
    product_ids = sorted(set(product_ids))
    if link is None or not product_ids:
        return 0
    marked = sum(_mark_prices(link.pk, chunk, timezone.now()) for chunk in _chunks(product_ids))
    if marked and link.state == LinkState.ACTIVE:
        transaction.on_commit(partial(push_schedule, link_id=link.pk))
    return marked


def push_request_all(*, link: StoreLink, outlet_ids: Iterable[int] | None = None, prices: bool = True) -> int:
    """Mark every linked item of a link for a push: its stock at `outlet_ids` (default: every outlet BigCommerce
    follows) and, with `prices`, its price. For a relinked store, and for an outlet newly mapped to a location
    (its levels were never pushed there). Items already equal to what was last pushed cost no API call."""
    product_ids = list(ProductLink.objects.filter(link=link).values_list("product_id", flat=True).distinct())
    outlets = push_target_outlets(link=link) if outlet_ids is None else set(outlet_ids)
    marked = stock_push_mark(retailer_id=link.retailer_id, changes=[(p, o) for p in product_ids for o in outlets])
    if prices:
        marked += price_push_mark(retailer_id=link.retailer_id, product_ids=product_ids)
    return marked


def push_schedule(*, link_id: int, at: datetime | None = None) -> bool:
    """Schedule the link's push at the end of the debounce window that holds `at` (default: one window from now).

    A push already waiting for that window is the one that runs (RQ `unique`): it reads every row dirty by then.
    False when Redis cannot take it; the rows stay dirty and the sweeper schedules them.
    """
    debounce = push_debounce_seconds()
    when = at or timezone.now() + timedelta(seconds=debounce)
    slot = math.ceil(when.timestamp() / debounce) * debounce
    queue = get_queue(QUEUE_DEFAULT)
    try:
        for _ in range(3):
            job_id = push_job_id(link_id, slot)
            try:
                queue.enqueue_at(
                    datetime.fromtimestamp(slot, tz=UTC),
                    PUSH_JOB,
                    link_id,
                    job_id=job_id,
                    unique=True,
                    result_ttl=0,
                    job_timeout=PUSH_JOB_TIMEOUT,
                    description=f"Push stock and prices of store link {link_id} to BigCommerce",
                )
                return True
            except DuplicateJobError:
                # That window's push is waiting and will read this change, unless it is running already (a clock
                # ran early, or this is its own follow-up): then the change goes in the next window.
                try:
                    if Job.fetch(job_id, connection=queue.connection).get_status() != JobStatus.STARTED:
                        return True
                except NoSuchJobError:
                    continue  # it finished meanwhile: schedule this window again
                slot += debounce
    except RedisError as exc:
        logger.warning("could not schedule the push of link %s (%s); the sweeper will", link_id, exc)
    return False


def push_schedule_next(*, link_id: int) -> bool:
    """After a push: schedule the next one if rows are still dirty (changed meanwhile, or held back after a
    failure until their retry time). False when nothing waits."""
    if not StoreLink.objects.filter(pk=link_id, state=LinkState.ACTIVE).exists():
        return False
    now = timezone.now()
    earliest = None
    for model in (StockPushState, PricePushState):
        dirty = model.objects.filter(link_id=link_id, dirty_since__isnull=False)
        if dirty.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)).exists():
            return push_schedule(link_id=link_id)
        held = dirty.aggregate(at=Min("next_attempt_at"))["at"]
        earliest = held if earliest is None or (held is not None and held < earliest) else earliest
    return push_schedule(link_id=link_id, at=earliest) if earliest is not None else False


def push_sweep(*, now: datetime | None = None) -> int:
    """Schedule the push of every active link with rows dirty for longer than `SWEEP_AFTER` and no retry pending
    (Redis lost or never got its job). Returns how many links were scheduled."""
    now = now or timezone.now()
    cutoff = now - SWEEP_AFTER
    due = Q(link__state=LinkState.ACTIVE, dirty_since__lt=cutoff) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=cutoff)
    )
    link_ids = set()
    for model in (StockPushState, PricePushState):
        link_ids.update(model.objects.filter(due).values_list("link_id", flat=True).distinct())
    scheduled = sum(push_schedule(link_id=link_id, at=now) for link_id in sorted(link_ids))
    if scheduled:
        logger.warning("push sweeper scheduled %s link(s) whose push Redis had lost", scheduled)
    return scheduled


# ---------------------------------------------------------------- the marking statements


def _chunks(rows: list) -> list[list]:
    if connection.vendor == "postgresql":
        return [rows] if rows else []
    return [rows[start : start + CHUNK] for start in range(0, len(rows), CHUNK)]


def _tables() -> tuple[str, str, str, str]:
    quote = connection.ops.quote_name
    return (
        quote(StockPushState._meta.db_table),
        quote(PricePushState._meta.db_table),
        quote(ProductLink._meta.db_table),
        quote(Product._meta.db_table),
    )


def _mark_stock(link_id: int, pairs: Sequence[tuple[int, int]], now: datetime) -> int:
    """One upsert for these (product, outlet) pairs, in (item, outlet) order (the order the push job locks in)."""
    stock, _, links, products = _tables()
    if connection.vendor == "postgresql":
        changes = "unnest(%s::bigint[], %s::bigint[]) AS c(p, o)"
        params: list = [[p for p, _ in pairs], [o for _, o in pairs]]
    else:  # SQLite names VALUES columns column1, column2 (and counts rows only for a statement starting INSERT)
        values = ", ".join(["(%s, %s)"] * len(pairs))
        changes = f"(SELECT column1 AS p, column2 AS o FROM (VALUES {values})) AS c"
        params = [value for pair in pairs for value in pair]
    sql = (
        f"INSERT INTO {stock} (link_id, product_link_id, outlet_id, version, pushed_version, dirty_since, "
        f"attempts, last_error) "
        f"SELECT pl.link_id, pl.id, c.o, 1, 0, %s, 0, '' FROM {changes}, {links} pl, {products} p "
        f"WHERE pl.link_id = %s AND pl.product_id = c.p AND p.id = pl.product_id AND p.kind = %s "
        f"AND p.tracks_inventory ORDER BY pl.id, c.o "
        f"ON CONFLICT (product_link_id, outlet_id) {_ON_CONFLICT.format(table=stock)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, *params, link_id, ProductKind.STANDARD])
        return cursor.rowcount


def _mark_prices(link_id: int, product_ids: Sequence[int], now: datetime) -> int:
    _, price, links, products = _tables()
    sql = (
        f"INSERT INTO {price} (link_id, product_link_id, version, pushed_version, dirty_since, attempts, last_error) "
        f"SELECT pl.link_id, pl.id, 1, 0, %s, 0, '' FROM {links} pl, {products} p "
        f"WHERE pl.link_id = %s AND pl.product_id IN ({', '.join(['%s'] * len(product_ids))}) "
        f"AND p.id = pl.product_id AND p.kind = %s ORDER BY pl.id "
        f"ON CONFLICT (product_link_id) {_ON_CONFLICT.format(table=price)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [now, link_id, *product_ids, ProductKind.STANDARD])
        return cursor.rowcount
