"""The one service that moves stock.

A movement row and the level it changes are written in the same transaction. Every movement has a unique
source key (for example `bc:<link>:<order>:<line>:sale`): a second call with the same key moves nothing and says
so, whichever process makes it and however the two calls interleave. Both statements are single `INSERT ... ON
CONFLICT` statements, so a move costs two queries whether it has one line or five hundred, and concurrent
callers are serialised by PostgreSQL's row locks (levels are upserted in (product, outlet) order, so two
transactions touching the same products cannot deadlock).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

from pos.models import InventoryLevel, InventoryMovement
from pos.signals import stock_changed

# Rows per INSERT: keeps every statement well under SQLite's and PostgreSQL's parameter limits.
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
    stock (in an earlier call, or earlier in this same list). Receivers of `pos.signals.stock_changed` hear about
    the levels that changed once the transaction commits.
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
        for start in range(0, len(rows), CHUNK):
            inserted.update(_insert_movements(retailer_id, rows[start : start + CHUNK], now))
        deltas: dict[tuple[int, int], int] = defaultdict(int)
        for key in inserted:
            move = unique[key]
            deltas[(move.product_id, move.outlet_id)] += move.quantity
        changes = sorted(k for k, v in deltas.items() if v)
        for start in range(0, len(changes), CHUNK):
            _upsert_levels(retailer_id, [(p, o, deltas[(p, o)]) for p, o in changes[start : start + CHUNK]], now)
        if changes:
            transaction.on_commit(
                partial(stock_changed.send, sender=InventoryLevel, retailer_id=retailer_id, changes=changes)
            )
    # A zero-quantity move has nothing to apply; it is reported as not moved.
    return [StockMoveResult(m.source_key, m.source_key in inserted and unique[m.source_key] is m) for m in moves]


def _insert_movements(retailer_id: int, rows: Sequence[StockMove], now) -> list[str]:
    table = connection.ops.quote_name(InventoryMovement._meta.db_table)
    columns = "retailer_id, product_id, outlet_id, quantity, reason, source_key, sale_id, user_id, note, created_at"
    placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    params: list = []
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
    placeholders = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    params: list = []
    for product_id, outlet_id, delta in rows:
        params += [retailer_id, product_id, outlet_id, delta, now]
    sql = (
        f"INSERT INTO {table} (retailer_id, product_id, outlet_id, on_hand, updated_at) VALUES {placeholders} "
        f"ON CONFLICT (product_id, outlet_id) DO UPDATE SET on_hand = {table}.on_hand + EXCLUDED.on_hand, "
        f"updated_at = EXCLUDED.updated_at"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
