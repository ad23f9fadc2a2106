"""The durable-work kernel: request work in the cause's transaction, claim it fairly, run it under a lease, finish.

**Request.** `request(kind, key, shard=...)` is one upsert into `WorkItem`, inside the transaction that makes the
change calling for the work (a webhook stored, stock moved, a fulfilment completed), so the work exists exactly
when its cause does. A request for work already waiting changes nothing but its counter (and may make it due
sooner); after the commit the bell rings (`work.bell`) so a worker starts within milliseconds.

**Claim.** Each store's work of a kind is a queue with a head (`QueueHead`: when its earliest due row is due, when a
worker last took from it), so choosing costs the same behind a 20,000-row backlog as behind none. On PostgreSQL a
claim is one statement, a call of the function `work_claim` (`work.claim_sql`), its own transaction: it reads the
due heads (one per store and kind with work due, an index range), takes the highest priority (live orders before
import pages), then the queue served longest ago (never served first), skipping stores with `WORK_SHARD_CONCURRENCY`
workers on them, locks that head (`FOR UPDATE SKIP LOCKED`: the next claimer takes the next queue), takes up to the
kind's batch of its oldest due rows through the queue's index (`SKIP LOCKED`), leases them, empties `due_at`,
records the request counter it saw (`claimed = requested`) and the queue's turn; then, in a statement of its own, it
moves the head to the queue's next due row. So stores are served in rotation: a store with a backlog gets a batch
per turn, and a store with one new order is served by the next claim once it is due, never after the backlog drains.
Work whose lease ran out is found through the lease index.

**The heads stay true.** On PostgreSQL a trigger on the work table lowers a head in the transaction that makes work
due (a request, a retry, a finish that finds the work requested again), so a head is never later than its queue's
earliest due row. Moving a head later is the claim's alone, and only when no transaction that wrote to the queue is
still open: writers hold the queue's advisory lock in shared mode until they commit; the claim tries it alone, and
moves the head in a new statement of the function (a snapshot in which every such write is visible) or else leaves
the head early; the lock is held until the claim commits. A head early is harmless: a claim finding nothing behind
it moves on. (SQLite, for development, reads the rows.)

**No lost wake-up.** A request that lands while its work runs bumps `requested` and sets `due_at`; the run's
finish deletes the row only `WHERE requested = claimed`, so that row stays due and the next claim (the same
worker's, which claims again before it stops) takes it. A request never waits for a run to end: the row is
locked only for the claim statement and the finish statement, never while the work talks to BigCommerce.

**Lease.** One rule for every kind: a claim holds the work for `kind.lease`, extended every third of it while the
run goes on (a thread beside the handler). A worker that dies (SIGKILL, a lost machine) stops extending it; when
the lease runs out the work is claimable again, counted as an attempt, so a poison item cannot loop forever.

**Finish.** A run's outcome per item: done (the row is deleted, or rescheduled for a periodic kind), not run
(`Deferred`: due again at the handler's time, its attempt not counted: a store's quota spent frees the worker
instead of holding it asleep), or failed: the
exception becomes a `Failure` through the one classifier (`work.registry.failure_for`), and the kind's
`RetryPolicy` decides to retry after a backoff or to give up (the row stays, `failed_at` set, until a new request,
such as a staff retry). The kind's `on_failure` records the outcome in its own rows in the same transaction.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from config.observability import log_after_commit, log_context
from work import bell
from work.models import QueueHead, WorkItem
from work.registry import (
    QUEUES,
    Attempt,
    Deferred,
    Failure,
    Kind,
    Result,
    WorkerLost,
    failure_for,
    get,
    kinds,
)

logger = logging.getLogger("work")

# Rows per statement on SQLite (its parameter limit); PostgreSQL passes arrays in one statement.
CHUNK = 300
# Queues a claim may find with nothing to take before it gives up until the next bell or poll.
STALE_PICKS = 50
# Lapsed leases a claim looks at (the oldest first) for work of its kinds.
LAPSED_LOOKAHEAD = 100
MESSAGE_MAX = 2000


def worker_name() -> str:
    """Who holds a lease: host, process and thread, readable in the admin."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def _table() -> str:
    return connection.ops.quote_name(WorkItem._meta.db_table)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _in(values: Sequence) -> tuple[str, list]:
    """`IN (...)` for a list of values, as SQL and parameters (an array on PostgreSQL)."""
    if _postgres():
        return "= ANY(%s)", [list(values)]
    return f"IN ({', '.join(['%s'] * len(values))})", list(values)


# ---------------------------------------------------------------- requesting


def request(
    kind: Kind | str,
    key: str | int,
    *,
    shard: int | None,
    due: datetime | None = None,
    payload: dict | None = None,
    reset: bool = False,
) -> None:
    """Ask for `kind` work on `key` (see `request_many`)."""
    request_many(kind, [(key, shard, payload)], due=due, reset=reset)


def request_many(
    kind: Kind | str,
    rows: Iterable[tuple[str | int, int | None, dict | None]],
    *,
    due: datetime | None = None,
    reset: bool = False,
) -> int:
    """Ask for work on each (key, shard, payload), due at `due` (default now). Call it inside the transaction of
    the change that causes the work. Returns how many rows were written.

    Work already waiting keeps its place and its earliest due time; work backing off after a failure keeps its
    retry time (a burst of webhooks does not hammer a rate-limited store) unless `reset` (a staff retry), which
    also forgets its attempts. Work that gave up is due again with its attempts forgotten. The payload is stored
    when the work is first requested and never changed by later requests.
    """
    kind = get(kind) if isinstance(kind, str) else kind
    rows = [(str(k), s, p) for k, s, p in rows]
    if not rows:
        return 0
    now = timezone.now()
    due = due or now
    written = 0
    with connection.cursor() as cursor:
        if _postgres():
            sql, params = request_statement(kind, rows, due=due, now=now, reset=reset)
            cursor.execute(sql, params)
            written = cursor.rowcount
        else:
            table = _table()
            on_conflict = _request_on_conflict(table, reset=reset)
            for start in range(0, len(rows), CHUNK):
                chunk = rows[start : start + CHUNK]
                values = ", ".join(["(%s, %s, %s, %s, %s, 1, 0, '', 0, '', '', %s, %s, %s)"] * len(chunk))
                params: list = []
                for key, shard, payload in chunk:
                    params += [kind.name, key, shard, kind.priority, due, json.dumps(payload or {}), now, now]
                cursor.execute(f"INSERT INTO {table} ({_REQUEST_COLUMNS}) VALUES {values} {on_conflict}", params)
                written += cursor.rowcount
    bell.ring_on_commit(kind.queue)
    return written


_REQUEST_COLUMNS = (
    "kind, key, shard, priority, due_at, requested, claimed, claimed_by, attempts, last_error_code, "
    "last_error, payload, requested_at, updated_at"
)


def _request_on_conflict(table: str, *, reset: bool) -> str:
    """What a request does to work that exists (see `request_many`)."""
    reset_sql = ("TRUE" if reset else "FALSE") if _postgres() else ("1" if reset else "0")
    least = "LEAST" if _postgres() else "MIN"
    return (
        f"ON CONFLICT (kind, key) DO UPDATE SET requested = {table}.requested + 1, "
        f"due_at = CASE WHEN {reset_sql} OR {table}.failed_at IS NOT NULL OR {table}.attempts = 0 "
        f"OR {table}.lease_until IS NOT NULL "
        f"THEN {least}(COALESCE({table}.due_at, excluded.due_at), excluded.due_at) "
        f"ELSE COALESCE({table}.due_at, excluded.due_at) END, "
        f"attempts = CASE WHEN {reset_sql} OR {table}.failed_at IS NOT NULL THEN 0 ELSE {table}.attempts END, "
        # Waiting since: kept while the work waits; the first request after a claim (or after giving up) starts anew.
        f"requested_at = CASE WHEN {table}.failed_at IS NOT NULL OR ({table}.lease_until IS NOT NULL "
        f"AND {table}.requested = {table}.claimed) THEN excluded.requested_at ELSE {table}.requested_at END, "
        f"failed_at = NULL, updated_at = excluded.updated_at"
    )


def request_statement(
    kind: Kind,
    rows: Sequence[tuple[str, int | None, dict | None]],
    *,
    due: datetime,
    now: datetime,
    reset: bool = False,
    only_if: str = "TRUE",
) -> tuple[str, list]:
    """PostgreSQL: the one statement `request_many` runs, (sql, params), requesting only if the SQL condition
    `only_if` holds, for a caller that folds the request into a statement of its own (a data-modifying CTE: the
    webhook intake stores a delivery and requests its sync in one round trip). The caller rings the bell
    (`bell.ring_on_commit(kind.queue)`)."""
    table = _table()
    sql = (
        f"INSERT INTO {table} ({_REQUEST_COLUMNS}) SELECT %s, k, s, %s, %s, 1, 0, '', 0, '', '', p::jsonb, %s, %s "
        f"FROM unnest(%s::text[], %s::bigint[], %s::text[]) AS t(k, s, p) WHERE {only_if} ORDER BY k "
        f"{_request_on_conflict(table, reset=reset)}"
    )
    params = [
        kind.name,
        kind.priority,
        due,
        now,
        now,
        [str(k) for k, _, _ in rows],
        [s for _, s, _ in rows],
        [json.dumps(p or {}) for _, _, p in rows],
    ]
    return sql, params


def ensure(kind: Kind | str, rows: Iterable[tuple[str | int, int | None]], *, due: datetime | None = None) -> int:
    """Make sure work exists for each (key, shard) without touching work that does (periodic kinds' seeds).
    Returns how many rows were created."""
    kind = get(kind) if isinstance(kind, str) else kind
    rows = [(str(k), s) for k, s in rows]
    if not rows:
        return 0
    now = timezone.now()
    created = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            values = ", ".join(["(%s, %s, %s, %s, %s, 1, 0, '', 0, '', '', '{}', %s, %s)"] * len(chunk))
            params: list = []
            for key, shard in chunk:
                params += [kind.name, key, shard, kind.priority, due or now, now, now]
            cursor.execute(
                f"INSERT INTO {_table()} (kind, key, shard, priority, due_at, requested, claimed, claimed_by, "
                f"attempts, last_error_code, last_error, payload, requested_at, updated_at) VALUES {values} "
                f"ON CONFLICT (kind, key) DO NOTHING",
                params,
            )
            created += cursor.rowcount
    if created:
        bell.ring_on_commit(kind.queue)
    return created


def ensure_periodic() -> int:
    """Create the missing rows of every periodic kind (its `seed()`), due now. Returns how many were created."""
    created = 0
    for kind in kinds():
        if kind.every is not None and kind.seed is not None:
            with transaction.atomic():
                created += ensure(kind, kind.seed(), due=kind.first_run(timezone.now()))
    return created


def withdraw(kind: Kind | str, keys: Iterable[str | int]) -> int:
    """Delete waiting work that is no longer wanted (not running work: its run ends by itself)."""
    kind = get(kind) if isinstance(kind, str) else kind
    keys = [str(k) for k in keys]
    if not keys:
        return 0
    condition, params = _in(keys)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {_table()} WHERE kind = %s AND key {condition} AND lease_until IS NULL",
            [kind.name, *params],
        )
        return cursor.rowcount


# ---------------------------------------------------------------- claiming


@dataclass
class Claim:
    kind: Kind
    items: list[WorkItem]
    worker: str


def _claimable(alias: str = "", now_param: str = "%(now)s") -> str:
    w = f"{alias}." if alias else ""
    return f"(({w}lease_until IS NULL AND {w}due_at <= {now_param}) OR {w}lease_until < {now_param})"


def _queue_sql(alias: str = "") -> str:
    """A work row's queue (kind, shard) as the heads name it: work of no shard is shard 0."""
    w = f"{alias}." if alias else ""
    return f"COALESCE({w}shard, 0)"


def _kinds_sql(kinds_: Sequence[Kind]) -> tuple[str, dict]:
    """`kinds (name, batch, lease)`: the kinds this claim may take, with their batch and lease seconds."""
    values, params = [], {}
    for n, kind in enumerate(kinds_):
        values.append(f"(%(k{n})s, %(b{n})s, %(l{n})s)")
        params |= {f"k{n}": kind.name, f"b{n}": kind.batch, f"l{n}": kind.lease.total_seconds()}
    return f"kinds (name, batch, lease) AS (VALUES {', '.join(values)})", params


def _shard_cap() -> int:
    """How many workers may hold one store's work at once (`WORK_SHARD_CONCURRENCY`, at least one)."""
    return max(1, int(settings.WORK_SHARD_CONCURRENCY))


def _busy_sql() -> str:
    """`busy (shard)`: the shards with `WORK_SHARD_CONCURRENCY` workers on them (read from the running rows, as
    many as the workers' batches, whatever the backlog)."""
    return (
        f"busy AS (SELECT {_queue_sql()} AS shard FROM {_table()} WHERE lease_until >= %(now)s GROUP BY 1 "
        f"HAVING COUNT(DISTINCT claimed_by) >= %(cap)s)"
    )


_RETURNING = "id, key, shard, priority, payload, attempts, requested, claimed, lease_until, requested_at"


def _claim_postgres(kinds_: Sequence[Kind], worker: str, now: datetime) -> tuple[str, list[tuple]] | None:
    """Choose a queue from the heads, take a batch of it and, holding the queue alone, move its head to its next
    due row: one statement, `work_claim` (`work.claim_sql`), its own transaction when called in autocommit (as
    workers do). Returns None when no queue is due, else the kind and the rows claimed (none when the head was
    stale or its rows were locked: the caller chooses again)."""
    params = [
        [k.name for k in kinds_],
        [k.batch for k in kinds_],
        [k.lease.total_seconds() for k in kinds_],
        worker,
        now,
        _shard_cap(),
        LAPSED_LOOKAHEAD,
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM work_claim(%s::text[], %s::integer[], %s::double precision[], %s, %s, %s, %s)", params
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    return rows[0][0], [row[1:] for row in rows if row[1] is not None]


def _claim_sqlite(kinds_: Sequence[Kind], worker: str, now: datetime) -> tuple[str, list[tuple]] | None:
    """SQLite (development, one writer at a time): the same order, read from the rows themselves (a few hundred
    at most there): the highest priority, then the queue served longest ago (never served first), then the
    oldest work; then the claim and the turn as separate statements."""
    table = _table()
    heads = connection.ops.quote_name(QueueHead._meta.db_table)
    kinds_cte, params = _kinds_sql(kinds_)
    params |= {"cap": _shard_cap(), "now": now}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"WITH {kinds_cte}, {_busy_sql()} SELECT w.kind, w.shard FROM {table} w JOIN kinds ON kinds.name = w.kind "
            f"LEFT JOIN {heads} turn ON turn.kind = w.kind AND turn.shard = {_queue_sql('w')} "
            f"WHERE {_claimable('w')} AND {_queue_sql('w')} NOT IN (SELECT shard FROM busy) "
            f"ORDER BY w.priority, turn.served_at IS NOT NULL, turn.served_at, COALESCE(w.due_at, w.lease_until), w.id "
            f"LIMIT 1",
            params,
        )
        found = cursor.fetchone()
        if found is None:
            return None
        name, shard = found
        kind = get(name)
        cursor.execute(
            f"UPDATE {table} SET lease_until = %(lease)s, claimed_by = %(worker)s, claimed = requested, "
            f"due_at = NULL, attempts = attempts + 1, updated_at = %(now)s WHERE id IN ("
            f"SELECT id FROM {table} WHERE kind = %(kind)s AND shard IS %(shard)s AND {_claimable()} "
            f"ORDER BY COALESCE(due_at, lease_until), id LIMIT %(batch)s) RETURNING {_RETURNING}",
            {"lease": now + kind.lease, "worker": worker, "now": now, "kind": name, "shard": shard}
            | {"batch": kind.batch},
        )
        rows = cursor.fetchall()
        QueueHead.objects.update_or_create(
            kind=name,
            shard=shard or 0,
            defaults={"served_at": now},
            create_defaults={"served_at": now} | {"priority": kind.priority},
        )
    return name, rows


def _items(kind: Kind, worker: str, rows: list[tuple]) -> list[WorkItem]:
    payload_field = WorkItem._meta.get_field("payload")
    items = []
    for pk, key, shard_, priority, payload, attempts, requested, claimed, lease_until, requested_at in rows:
        if isinstance(payload, str):
            payload = payload_field.from_db_value(payload, None, connection)
        if isinstance(lease_until, str):  # SQLite's RETURNING skips the converters
            lease_until = WorkItem._meta.get_field("lease_until").to_python(lease_until)
            requested_at = WorkItem._meta.get_field("requested_at").to_python(requested_at)
        items.append(
            WorkItem(
                id=pk,
                kind=kind.name,
                key=key,
                shard=shard_,
                priority=priority,
                payload=payload or {},
                attempts=attempts,
                requested=requested,
                claimed=claimed,
                claimed_by=worker,
                lease_until=lease_until,
                requested_at=requested_at,
            )
        )
    items.sort(key=lambda item: item.pk)
    return items


def claim(
    queues: Iterable[str] = QUEUES, *, worker: str | None = None, only: Iterable[str] | None = None
) -> Claim | None:
    """Take the next batch of due work of these queues (one kind, one shard; of the kinds named in `only`, if
    given), or None when nothing is due."""
    worker = worker or worker_name()
    chosen = [k for k in kinds(queues) if only is None or k.name in only]
    if not chosen:
        return None
    claim_rows = _claim_postgres if _postgres() else _claim_sqlite
    # A head can be due with nothing to take (its rows were withdrawn, or locked by a writer): that queue goes to
    # the back of the line and the claim chooses again.
    for _ in range(STALE_PICKS):
        found = claim_rows(chosen, worker, timezone.now())
        if found is None:  # nothing claimable
            return None
        name, rows = found
        if rows:
            kind = get(name)
            return Claim(kind, _items(kind, worker, rows), worker)
    return None


def waiting(*, shard: int | None, before_priority: int, others_after: float | None = None) -> bool:
    """Whether work with a priority before this one is due and not running (a long step of low-priority work, an
    import page, yields to it): work of this shard; and with `others_after` (seconds), work of any other store
    that has been due for longer than that and is not at its cap of workers (`WORK_SHARD_CONCURRENCY`: a store at
    its cap cannot be served by the yielding worker anyway). The grace lets an idle worker's bell take new work
    first, so a long step gives way only when the workers are all busy."""
    now = timezone.now()
    where, params = [_claimable(now_param="%s"), "priority < %s"], [now, now, before_priority]
    where.append("shard IS NULL" if shard is None else "shard = %s")
    params += [] if shard is None else [shard]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {_table()} WHERE {' AND '.join(where)} LIMIT 1", params)
        if cursor.fetchone() is not None:
            return True
        if others_after is None:
            return False
        names = [k.name for k in kinds() if k.priority < before_priority]
        if not names:
            return False
        cursor.execute(*_waiting_elsewhere(names, now, others_after))
        return cursor.fetchone() is not None


def _waiting_elsewhere(names: list[str], now: datetime, after: float) -> tuple[str, dict]:
    """One row if work of `names` has been due for `after` seconds in a queue whose store is not at its cap.
    PostgreSQL reads the heads (an index range of the queues due that long) and checks the head's queue through its
    index (a head may be early); SQLite reads the due rows."""
    table = _table()
    params = {"since": now - timedelta(seconds=after), "now": now, "cap": _shard_cap()}
    if _postgres():
        heads = connection.ops.quote_name(QueueHead._meta.db_table)
        sql = (
            f"WITH {_busy_sql()} SELECT 1 FROM {heads} h WHERE h.kind = ANY(%(names)s) AND h.ready_at <= %(since)s "
            f"AND h.shard NOT IN (SELECT shard FROM busy) AND EXISTS (SELECT 1 FROM {table} w WHERE w.kind = h.kind "
            f"AND {_queue_sql('w')} = h.shard AND w.lease_until IS NULL AND w.due_at <= %(since)s) LIMIT 1"
        )
        return sql, params | {"names": names}
    sql = (
        f"WITH {_busy_sql()} SELECT 1 FROM {table} w WHERE w.kind IN (SELECT value FROM json_each(%(names)s)) "
        f"AND w.lease_until IS NULL AND w.due_at <= %(since)s AND {_queue_sql('w')} NOT IN (SELECT shard FROM busy) "
        f"LIMIT 1"
    )
    return sql, params | {"names": json.dumps(names)}


# ---------------------------------------------------------------- running and finishing


class _Heartbeat:
    """Extends the lease of a running claim every third of the lease, from a thread with its own connection, so
    work that runs longer than its lease (an import page, a big push) is not taken for abandoned. It never waits
    for a row lock (SKIP LOCKED): the claim's own transaction may hold the rows."""

    def __init__(self, claim: Claim):
        self.claim = claim
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="work-heartbeat", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopped.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        interval = max(self.claim.kind.lease.total_seconds() / 3, 0.05)
        try:
            while not self.stopped.wait(interval):
                try:
                    extend_leases(self.claim)
                except Exception:  # noqa: BLE001 - a missed beat only shortens the lease; the run goes on
                    logger.warning("could not extend the lease of %s work", self.claim.kind.name, exc_info=True)
        finally:
            connections.close_all()


def extend_leases(claim: Claim) -> int:
    """Push the claim's lease forward (rows another worker took after a lapse are left alone)."""
    now = timezone.now()
    ids = [item.pk for item in claim.items]
    condition, params = _in(ids)
    skip_locked = " FOR UPDATE SKIP LOCKED" if _postgres() else ""
    table = _table()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET lease_until = %s WHERE id IN (SELECT id FROM {table} WHERE id {condition} "
            f"AND claimed_by = %s{skip_locked})",
            [now + claim.kind.lease, *params, claim.worker],
        )
        return cursor.rowcount


def run(claim: Claim) -> int:
    """Run a claim's handler and finish every item. Returns how many items it finished (not those it gave back
    unrun: `Deferred`)."""
    kind = claim.kind
    outcomes: dict[int, object] = {}
    lost = [i for i in claim.items if kind.retry.max_attempts is not None and i.attempts > kind.retry.max_attempts]
    if lost:
        # Runs that never finished (the worker died each time) used up the attempts: given up, not run again.
        with transaction.atomic():
            _finish(Claim(kind, lost, claim.worker), {i.pk: WorkerLost() for i in lost})
        claim = Claim(kind, [i for i in claim.items if i not in lost], claim.worker)
        if not claim.items:
            return len(lost)
    if kind.handler is not None:
        with _Heartbeat(claim), log_context(job_kind=kind.name, shard=claim.items[0].shard):
            try:
                if kind.atomic:
                    with transaction.atomic():
                        outcomes = kind.handler(claim.items) or {}
                        _finish(claim, outcomes)
                    return _finished(claim, outcomes) + len(lost)
                outcomes = kind.handler(claim.items) or {}
            except Exception as exc:  # noqa: BLE001 - the whole batch failed: recorded per item below
                logger.exception("%s work failed for %s item(s)", kind.name, len(claim.items))
                outcomes = {item.pk: exc for item in claim.items}
    with transaction.atomic():
        _finish(claim, outcomes)
    return _finished(claim, outcomes) + len(lost)


def _finished(claim: Claim, outcomes: dict[int, object]) -> int:
    return sum(1 for item in claim.items if not isinstance(outcomes.get(item.pk), Deferred))


def _finish(claim: Claim, outcomes: dict[int, object]) -> None:
    kind, now = claim.kind, timezone.now()
    done = [i for i in claim.items if outcomes.get(i.pk, Result.DONE) == Result.DONE]
    stop = [i for i in claim.items if outcomes.get(i.pk) == Result.STOP]
    failed = [(i, outcomes[i.pk]) for i in claim.items if isinstance(outcomes.get(i.pk), BaseException)]
    _defer(claim, {i.pk: outcomes[i.pk] for i in claim.items if isinstance(outcomes.get(i.pk), Deferred)}, now)
    if kind.every is not None:
        _reschedule(claim, done, now)
        _delete_unless_requested(claim, stop)
    else:
        _delete_unless_requested(claim, done + stop)
    attempts = [_fail(claim, item, failure_for(exc), now) for item, exc in failed]
    if attempts and kind.on_failure is not None:
        kind.on_failure(attempts)


def _delete_unless_requested(claim: Claim, items: Sequence[WorkItem]) -> None:
    """Finished work leaves the table, unless it was requested again while it ran: then it stays, due."""
    if not items:
        return
    condition, params = _in([i.pk for i in items])
    table = _table()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE id {condition} AND claimed_by = %s AND requested = claimed",
            [*params, claim.worker],
        )
        if cursor.rowcount < len(items):
            cursor.execute(
                f"UPDATE {table} SET lease_until = NULL, claimed_by = '', attempts = 0, last_error_code = '', "
                f"last_error = '', updated_at = %s WHERE id {condition} AND claimed_by = %s",
                [timezone.now(), *params, claim.worker],
            )


def _defer(claim: Claim, deferred: dict[int, Deferred], now: datetime) -> None:
    """Work the handler did not run goes back to its queue, due at its time, as if never claimed: the claim's
    attempt is taken back and no error is recorded (the trigger lowers the queue's head to it). When one of them
    says its queue waits (`Deferred.queue_waits`), the queue's other due work not running is due then too, so the
    next claim finds the queue not due (and moves its head there) instead of taking its next batch."""
    by_time: dict[datetime, list[int]] = {}
    for pk, outcome in deferred.items():
        by_time.setdefault(outcome.until, []).append(pk)
    table = _table()
    with connection.cursor() as cursor:
        for moment, pks in sorted(by_time.items()):
            condition, params = _in(pks)
            cursor.execute(
                f"UPDATE {table} SET due_at = %s, lease_until = NULL, claimed_by = '', "
                f"attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, updated_at = %s "
                f"WHERE id {condition} AND claimed_by = %s",
                [moment, now, *params, claim.worker],
            )
        waits = [outcome.until for outcome in deferred.values() if outcome.queue_waits]
        if waits:
            # Through the queue's index; rows keep their order among themselves (due time, then id).
            shard = claim.items[0].shard or 0
            cursor.execute(
                f"UPDATE {table} SET due_at = %s, updated_at = %s WHERE kind = %s AND {_queue_sql()} = %s "
                f"AND lease_until IS NULL AND due_at IS NOT NULL AND due_at < %s",
                [min(waits), now, claim.kind.name, shard, min(waits)],
            )


def _reschedule(claim: Claim, items: Sequence[WorkItem], now: datetime) -> None:
    """A periodic kind's next run: `every` from now (or sooner, if requested meanwhile)."""
    if not items:
        return
    condition, params = _in([i.pk for i in items])
    next_run = claim.kind.next_run(now)
    least = "LEAST" if _postgres() else "MIN"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table()} SET due_at = {least}(COALESCE(due_at, %s), %s), lease_until = NULL, "
            f"claimed_by = '', attempts = 0, last_error_code = '', last_error = '', updated_at = %s "
            f"WHERE id {condition} AND claimed_by = %s",
            [next_run, next_run, now, *params, claim.worker],
        )


def _fail(claim: Claim, item: WorkItem, failure: Failure, now: datetime) -> Attempt:
    """Record a failed run: due again after the policy's backoff, or given up."""
    kind = claim.kind
    delay = kind.retry.next_delay(failure, item.attempts)
    message = failure.message[:MESSAGE_MAX]
    table = _table()
    least = "LEAST" if _postgres() else "MIN"
    with connection.cursor() as cursor:
        if delay is not None:
            retry_at = whole_second_after(now + delay)
            cursor.execute(
                f"UPDATE {table} SET due_at = %s, lease_until = NULL, claimed_by = '', last_error_code = %s, "
                f"last_error = %s, updated_at = %s WHERE id = %s AND claimed_by = %s",
                [retry_at, failure.code, message, now, item.pk, claim.worker],
            )
        elif kind.every is not None:
            retry_at = None
            cursor.execute(
                f"UPDATE {table} SET due_at = {least}(COALESCE(due_at, %s), %s), lease_until = NULL, "
                f"claimed_by = '', attempts = 0, last_error_code = %s, last_error = %s, updated_at = %s "
                f"WHERE id = %s AND claimed_by = %s",
                [kind.next_run(now), kind.next_run(now), failure.code, message, now, item.pk, claim.worker],
            )
        else:
            retry_at = None
            # Given up, unless it was requested again while it ran (that request may bring what was missing).
            cursor.execute(
                f"UPDATE {table} SET failed_at = CASE WHEN requested = claimed THEN %s ELSE NULL END, "
                f"attempts = CASE WHEN requested = claimed THEN attempts ELSE 0 END, lease_until = NULL, "
                f"claimed_by = '', last_error_code = %s, last_error = %s, updated_at = %s "
                f"WHERE id = %s AND claimed_by = %s",
                [now, failure.code, message, now, item.pk, claim.worker],
            )
    # Once the failure is committed: never while this transaction holds the work row (and on_failure's rows).
    log_after_commit(
        logger,
        [
            (
                logging.WARNING,
                "%s %s failed (attempt %s, %s): %s; %s",
                (
                    kind.name,
                    item.key,
                    item.attempts,
                    failure.code,
                    failure.message,
                    f"next try at {retry_at:%H:%M:%S} UTC" if retry_at else "given up",
                ),
                {},
            )
        ],
    )
    return Attempt(item=item, failure=failure, retry_at=retry_at)


def whole_second_after(moment: datetime) -> datetime:
    """`moment` rounded up to a whole second (times shown to people, and compared by tests, stay readable)."""
    if moment.microsecond == 0:
        return moment
    return moment.replace(microsecond=0) + timedelta(seconds=1)


# ---------------------------------------------------------------- draining


def drain(
    queues: Iterable[str] = QUEUES,
    *,
    budget: float | None = None,
    worker: str | None = None,
    stop: Callable[[], bool] = lambda: False,
    only: Iterable[str] | None = None,
) -> int:
    """Claim and run due work of these queues (of the kinds in `only`, if given) until none is due, `budget`
    seconds have passed (then the bell rings for whoever continues), or `stop()` says so. Returns how many items
    were finished."""
    queues = tuple(queues)
    only = None if only is None else frozenset(only)
    worker = worker or worker_name()
    budget = settings.WORK_DRAIN_SECONDS if budget is None else budget
    started = time.monotonic()
    finished = 0
    while not stop():
        batch = claim(queues, worker=worker, only=only)
        if batch is None:
            if finished:
                _ring_due_elsewhere(queues)
            break
        if len(batch.items) >= batch.kind.batch:
            bell.ring([batch.kind.queue])  # more may be waiting: wake another worker
        finished += run(batch)
        if time.monotonic() - started >= budget:
            bell.ring(queues)
            break
    return finished


def _ring_due_elsewhere(drained: Sequence[str]) -> None:
    """Ring the other queues that have work due now. A drain that ran work may have freed a store held at its cap
    of workers (`WORK_SHARD_CONCURRENCY`): a bell of another queue that came meanwhile found that store's work not
    takeable and was spent, and nothing else would ring for it before the next poll (with bells only, never)."""
    now = timezone.now()
    others = [kind.name for kind in kinds() if kind.queue not in drained]
    if not others:
        return
    if _postgres():
        # One index lookup per kind (the heads of all kinds at once are a scan of one row per store and kind).
        heads = connection.ops.quote_name(QueueHead._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT k.name FROM unnest(%s::text[]) AS k(name) "
                f"WHERE EXISTS (SELECT 1 FROM {heads} WHERE kind = k.name AND ready_at <= %s)",
                [others, now],
            )
            due = [name for (name,) in cursor.fetchall()]
    else:
        due = WorkItem.objects.filter(due_at__lte=now, lease_until__isnull=True).values_list("kind", flat=True)
    declared = {kind.name: kind.queue for kind in kinds()}
    waiting = {declared[name] for name in set(due) if name in declared} - set(drained)
    if waiting:
        bell.ring(sorted(waiting))


def next_due(queues: Iterable[str] = QUEUES, *, after: datetime | None = None) -> datetime | None:
    """When the earliest work of these queues falls due after `after` (default now; None: no such work), so an
    idle worker wakes for it instead of at its next poll (a settled order sync: its bell rang when it was
    requested). A worker passes the moment it last looked for due work: what fell due since is looked for at once,
    what was due then and not taken (its store at its cap) waits for a bell or the poll. On PostgreSQL an index
    range of the heads (a head is at or before its queue's earliest due row); on SQLite the rows."""
    names = [kind.name for kind in kinds(queues)]
    if not names:
        return None
    after = after or timezone.now()
    if _postgres():
        # The first head of each kind after `after`: one index lookup per kind (a MIN over all the kinds at once
        # reads every later head: a periodic kind has one per store, due tomorrow).
        heads = connection.ops.quote_name(QueueHead._meta.db_table)
        sql = (
            f"SELECT MIN(h.ready_at) FROM unnest(%s::text[]) AS k(name) CROSS JOIN LATERAL (SELECT ready_at "
            f"FROM {heads} WHERE kind = k.name AND ready_at > %s ORDER BY ready_at LIMIT 1) h"
        )
        params = [names, after]
    else:
        condition, params = _in(names)
        sql = f"SELECT MIN(due_at) FROM {_table()} WHERE kind {condition} AND lease_until IS NULL AND due_at > %s"
        params.append(after)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (later,) = cursor.fetchone()
    if isinstance(later, str):  # SQLite's aggregate skips the converters
        later = WorkItem._meta.get_field("due_at").to_python(later)
    return later


def _uuid_key() -> str:
    return uuid.uuid4().hex


def event_key() -> str:
    """A key for work that is one of many (an event each transaction records), never coalesced with another."""
    return _uuid_key()


# ---------------------------------------------------------------- reading


def counts(*, shard: int | None = None) -> list[tuple[str, int, int, int]]:
    """(kind, due, running, failed) per kind, for pages and metrics; one aggregate query."""
    now = timezone.now()
    where, params = ("WHERE shard = %s", [shard]) if shard is not None else ("", [])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT kind, "
            f"SUM(CASE WHEN lease_until IS NULL AND due_at IS NOT NULL THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN lease_until >= %s THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN failed_at IS NOT NULL THEN 1 ELSE 0 END) "
            f"FROM {_table()} {where} GROUP BY kind ORDER BY kind",
            [now, *params],
        )
        return [(kind, int(due or 0), int(running or 0), int(failed or 0)) for kind, due, running, failed in cursor]
