"""The one service that moves stock.

A movement row and the level it changes are written in the same transaction. Every movement has a unique
source key (for example `bc:<link>:<order>:<line>:sale`): a second call with the same key moves nothing and says
so, whichever process makes it and however the two calls interleave. Both statements are single `INSERT ... ON
CONFLICT` statements. On PostgreSQL the rows travel as arrays (`unnest`), so a move costs two queries whether it
has one line or ten thousand (a stock count of a whole shop); on SQLite they go in chunks of `CHUNK` rows.
Concurrent callers are serialised by PostgreSQL's row locks (levels are upserted in (product, outlet) order, so
two transactions touching the same products cannot deadlock).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from pos import events
from pos.models import InventoryLevel, InventoryMovement

# Rows per INSERT on SQLite: keeps every statement well under its parameter limit. PostgreSQL passes arrays instead.
CHUNK = 500


@dataclass(frozen=True)
class StockMove:
    """One requested change of stock."""

    product_id: int
    outlet_id: int
    quantity: int
    reason: str
    source_key: str
    sale_id: int | None = None
    user_id: int | None = None
    note: str = ""
    line_key: str = ""  # the sale line it belongs to (see InventoryMovement.line_key)


@dataclass(frozen=True)
class StockMoveResult:
    source_key: str
    moved: bool  # False: a movement with this source key already exists, so nothing changed.


def stock_move(*, retailer_id: int, move: StockMove) -> StockMoveResult:
    """Move stock for one product at one outlet. See `stock_move_many`."""
    return stock_move_many(retailer_id=retailer_id, moves=[move])[0]


def stock_move_many(*, retailer_id: int, moves: Sequence[StockMove]) -> list[StockMoveResult]:
    """Record each movement once and apply it to its InventoryLevel, atomically.

    Returns one result per requested move, in order; `moved` is False for a source key that had already moved
    stock (in an earlier call, or earlier in this same list). The levels that changed are recorded as
    `pos.events.STOCK_MOVED` in the same transaction, for whoever follows them (the BigCommerce link).
    """
    if not moves:
        return []
    now = timezone.now()
    unique: dict[str, StockMove] = {}
    for move in moves:
        unique.setdefault(move.source_key, move)
    inserted: set[str] = set()
    # No savepoint: a failure here must roll back the caller's whole transaction anyway.
    with transaction.atomic(savepoint=False):
        rows = [m for m in unique.values() if m.quantity != 0]
        for chunk in _chunks(rows):
            inserted.update(_insert_movements(retailer_id, chunk, now))
        deltas: dict[tuple[int, int], int] = defaultdict(int)
        for key in inserted:
            move = unique[key]
            deltas[(move.product_id, move.outlet_id)] += move.quantity
        changes = sorted(k for k, v in deltas.items() if v)
        for chunk in _chunks(changes):
            _upsert_levels(retailer_id, [(p, o, deltas[(p, o)]) for p, o in chunk], now)
        events.stock_moved(retailer_id=retailer_id, changes=changes)
    # A zero-quantity move has nothing to apply; it is reported as not moved.
    return [StockMoveResult(m.source_key, m.source_key in inserted and unique[m.source_key] is m) for m in moves]


def _chunks(rows: list) -> list[list]:
    if connection.vendor == "postgresql":
        return [rows] if rows else []
    return [rows[start : start + CHUNK] for start in range(0, len(rows), CHUNK)]


def _insert_movements(retailer_id: int, rows: Sequence[StockMove], now) -> list[str]:
    table = connection.ops.quote_name(InventoryMovement._meta.db_table)
    columns = (
        "retailer_id, product_id, outlet_id, quantity, reason, source_key, sale_id, user_id, note, line_key, created_at"
    )
    if connection.vendor == "postgresql":
        sql = (
            f"INSERT INTO {table} ({columns}) SELECT %s, p, o, q, r, k, s, u, n, l, %s FROM unnest("
            f"%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::bigint[], "
            f"%s::text[], %s::text[]) AS t(p, o, q, r, k, s, u, n, l) "
            f"ON CONFLICT (source_key) DO NOTHING RETURNING source_key"
        )
        params: list = [
            retailer_id,
            now,
            [m.product_id for m in rows],
            [m.outlet_id for m in rows],
            [m.quantity for m in rows],
            [m.reason for m in rows],
            [m.source_key for m in rows],
            [m.sale_id for m in rows],
            [m.user_id for m in rows],
            [m.note[:255] for m in rows],
            [m.line_key[:64] for m in rows],
        ]
    else:
        placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
        params = []
        for m in rows:
            params += [
                retailer_id,
                m.product_id,
                m.outlet_id,
                m.quantity,
                m.reason,
                m.source_key,
                m.sale_id,
                m.user_id,
                m.note[:255],
                m.line_key[:64],
                now,
            ]
        sql = (
            f"INSERT INTO {table} ({columns}) VALUES {placeholders} "
            f"ON CONFLICT (source_key) DO NOTHING RETURNING source_key"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _upsert_levels(retailer_id: int, rows: Sequence[tuple[int, int, int]], now) -> None:
    table = connection.ops.quote_name(InventoryLevel._meta.db_table)
    on_conflict = (
        f"ON CONFLICT (product_id, outlet_id) DO UPDATE SET on_hand = {table}.on_hand + EXCLUDED.on_hand, "
        f"updated_at = EXCLUDED.updated_at"
    )
    columns = "retailer_id, product_id, outlet_id, on_hand, updated_at"
    if connection.vendor == "postgresql":
        # ORDER BY keeps the (product, outlet) lock order that prevents deadlocks between concurrent moves.
        sql = (
            f"INSERT INTO {table} ({columns}) SELECT %s, p, o, d, %s "
            f"FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS t(p, o, d) ORDER BY p, o {on_conflict}"
        )
        params: list = [retailer_id, now, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]]
    else:
        sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join(['(%s, %s, %s, %s, %s)'] * len(rows))} {on_conflict}"
        params = []
        for product_id, outlet_id, delta in rows:
            params += [retailer_id, product_id, outlet_id, delta, now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
