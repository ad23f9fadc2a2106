"""Which linked items BigCommerce must hear about again, and asking for the push that tells it.

A stock or price change marks rows of `StockPushState` / `PricePushState` dirty in one statement (whatever the
number of changes) and requests the link's `bc.push` work, due at the end of a debounce window: a burst of
changes in one window is one push, and a change that lands while a push runs keeps its rows dirty and its work
due (see `work.kernel`), so it is pushed by the next run. Both happen in one transaction, with the POS's record
of the change (`pos.events`) finished in the same one: nothing between a stock move and its push can be lost.

Only live links mark anything: an unlinked store has no live link, and a paused link marks its rows without asking
for a push, so BigCommerce catches up once the link is active again (`push_request_all`). Only standard products
that track stock are marked for stock; service products and placeholders never are.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from integration.choices import LinkState
from integration.models import OutletLocation, PricePushState, ProductLink, StockPushState, StoreLink
from pos.choices import ProductKind
from pos.models import Product
from work import kernel

logger = logging.getLogger("integration.push")

PUSH = "bc.push"
# Pairs per statement on SQLite (parameter limit); PostgreSQL passes arrays in one statement.
CHUNK = 500

_ON_CONFLICT = (
    "DO UPDATE SET version = {table}.version + 1, dirty_since = COALESCE({table}.dirty_since, EXCLUDED.dirty_since)"
)


def push_debounce_seconds() -> int:
    """The debounce window (`STOCK_PUSH_DEBOUNCE_SECONDS`, at least one second)."""
    return max(1, int(settings.STOCK_PUSH_DEBOUNCE_SECONDS))


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
        push_request(link=link)
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
        push_request(link=link)
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


def push_request(*, link: StoreLink, at: datetime | None = None) -> None:
    """Ask for the link's push at the end of the debounce window (or at `at`); a push already waiting for an
    earlier moment is the one that runs, and it reads every row dirty by then."""
    when = at or timezone.now() + timedelta(seconds=push_debounce_seconds())
    kernel.request(PUSH, link.pk, shard=link.retailer_id, due=when)


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
