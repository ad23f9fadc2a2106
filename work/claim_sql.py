"""The claim on PostgreSQL, as one function: `work_claim(...)`, called by `work.kernel` in one statement.

This text is the claim's only source: the migrations create the function from it (`CREATE OR REPLACE`). A database
keeps the text it was migrated with, so **a change to this text needs a new migration** that runs it again (and
sets `CLAIM_FUNCTION_SHA256` to the new text's hash: `tests/work/test_kernel.py` checks that the newest migration
was written for this text). A change of the arguments or of the returned columns must also drop the old function
first (`DROP FUNCTION IF EXISTS` with the old `SIGNATURE`): `CREATE OR REPLACE` would add an overload, or refuse.

Why a function: called in autocommit, `SELECT * FROM work_claim(...)` is its own transaction, so the claim costs one
round trip (it took five: BEGIN, the planner settings, the claim, the head's move, COMMIT). What it does, in order:

1. The planner settings are the function's own (`SET` clauses, in force while it runs and restored after): every
   read of the claim is an index range or lookup. The work table churns faster than its statistics follow (and a
   database may run without autovacuum): without them a stale estimate can turn a read of a few running rows or of
   one queue's next batch into a scan of the whole backlog.
2. One statement chooses a queue from the heads and takes a batch of it (see `work.kernel` for the order), records
   the queue's turn, and tries the queue's advisory lock alone (`pg_try_advisory_xact_lock`).
3. If it got the lock, a second statement moves the head to the queue's next due row. In READ COMMITTED a VOLATILE
   function takes a new snapshot for each statement it runs, so this one sees every row written to the queue by a
   transaction that committed before the lock was taken; a transaction writing to the queue from now on waits for
   the lock (held until the claim commits) and lowers the head again after. Without the lock the head stays early.

It returns the rows taken with the kind picked in front; when a queue was picked but nothing taken (its head was
stale, or its rows locked by a writer), one row with that kind and the rest NULL; no row when nothing is due.

Every column is qualified and the arguments are named apart from every column, so PL/pgSQL never takes a column
for a variable (an ambiguous name is an error at the first call: its default `variable_conflict`).
"""

from __future__ import annotations

import hashlib

SIGNATURE = "work_claim(text[], integer[], double precision[], text, timestamptz, integer, integer)"

# What a claim returns after the kind: the columns of the rows taken, in `work.kernel._items`'s order.
CLAIM_FUNCTION = """
CREATE OR REPLACE FUNCTION work_claim(
    kind_names text[], kind_batches integer[], kind_leases double precision[], claimer text, claim_at timestamptz,
    shard_cap integer, lapsed_lookahead integer
) RETURNS TABLE (
    kind text, id bigint, key text, shard bigint, priority smallint, payload jsonb, attempts integer,
    requested integer, claimed integer, lease_until timestamptz, requested_at timestamptz
)
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
DECLARE
    r record;
    picked_kind text;
    picked_shard bigint;
    picked_alone boolean;
    took boolean := FALSE;
BEGIN
    FOR r IN
        WITH kinds AS (
            SELECT k.name, k.batch, k.lease FROM unnest(kind_names, kind_batches, kind_leases) AS k(name, batch, lease)
        ),
        -- The shards with `shard_cap` workers on them (read from the running rows, through the lease index).
        busy AS (
            SELECT COALESCE(b.shard, 0) AS shard FROM work_workitem b WHERE b.lease_until >= claim_at
            GROUP BY 1 HAVING COUNT(DISTINCT b.claimed_by) >= shard_cap
        ),
        -- Of the due queues (one head per store and kind with work due: an index range, however long the queues),
        -- the highest priority, then the one served longest ago (never served first), then the one due first;
        -- locked, so that one claimer at a time takes from a queue (the others go on to the next).
        head AS (
            SELECT h.kind, h.shard, h.priority, h.served_at, h.ready_at AS t, TRUE AS queued FROM work_queuehead h
            WHERE h.ready_at <= claim_at AND h.kind = ANY(kind_names) AND h.shard NOT IN (SELECT busy.shard FROM busy)
            ORDER BY h.priority, h.served_at NULLS FIRST, h.ready_at, h.shard LIMIT 1 FOR UPDATE OF h SKIP LOCKED
        ),
        -- Work whose lease ran out (its worker died) is claimable again: the oldest lapsed leases, through the
        -- lease index (none, as a rule).
        lapsed AS (
            SELECT x.kind, x.shard, MIN(x.priority) AS priority, NULL::timestamptz AS served_at, MIN(x.t) AS t,
                FALSE AS queued
            FROM (
                SELECT w.kind, COALESCE(w.shard, 0) AS shard, w.priority, w.lease_until AS t FROM work_workitem w
                WHERE w.lease_until < claim_at ORDER BY w.lease_until LIMIT lapsed_lookahead
            ) x
            WHERE x.kind = ANY(kind_names) AND x.shard NOT IN (SELECT busy.shard FROM busy) GROUP BY 1, 2
        ),
        pick AS (
            SELECT c.kind, c.shard, c.queued, kinds.batch, kinds.lease
            FROM (SELECT * FROM head UNION ALL SELECT * FROM lapsed) c JOIN kinds ON kinds.name = c.kind
            ORDER BY c.priority, c.served_at NULLS FIRST, c.t, c.shard LIMIT 1
        ),
        -- Its oldest rows, through the queue's index: a batch read, however long the queue.
        due AS (
            SELECT w.id, w.due_at AS t FROM work_workitem w
            WHERE w.kind = (SELECT pick.kind FROM pick) AND COALESCE(w.shard, 0) = (SELECT pick.shard FROM pick)
                AND w.lease_until IS NULL AND w.due_at <= claim_at
            ORDER BY w.due_at, w.id LIMIT (SELECT pick.batch FROM pick) FOR UPDATE OF w SKIP LOCKED
        ),
        lapsed_rows AS (
            SELECT w.id, w.lease_until AS t FROM work_workitem w
            WHERE w.lease_until < claim_at AND w.kind = (SELECT pick.kind FROM pick)
                AND COALESCE(w.shard, 0) = (SELECT pick.shard FROM pick) AND NOT (SELECT pick.queued FROM pick)
            ORDER BY w.lease_until, w.id LIMIT (SELECT pick.batch FROM pick) FOR UPDATE OF w SKIP LOCKED
        ),
        chosen AS (
            SELECT c.id FROM (SELECT * FROM lapsed_rows UNION ALL SELECT * FROM due) c ORDER BY c.t, c.id
            LIMIT (SELECT pick.batch FROM pick)
        ),
        turn AS (
            UPDATE work_queuehead SET served_at = claim_at FROM pick
            WHERE pick.queued AND work_queuehead.kind = pick.kind AND work_queuehead.shard = pick.shard RETURNING 1
        ),
        -- Alone on the queue (no transaction that wrote to it is still open): its head may move later.
        alone AS (
            SELECT pg_try_advisory_xact_lock(work_queue_lock(pick.kind, pick.shard)) AS alone FROM pick
            WHERE pick.queued
        ),
        taken AS (
            UPDATE work_workitem SET lease_until = claim_at + make_interval(secs => pick.lease), claimed_by = claimer,
                claimed = work_workitem.requested, due_at = NULL, attempts = work_workitem.attempts + 1,
                updated_at = claim_at
            FROM chosen, pick WHERE work_workitem.id = chosen.id
            RETURNING work_workitem.id, work_workitem.key, work_workitem.shard, work_workitem.priority,
                work_workitem.payload, work_workitem.attempts, work_workitem.requested, work_workitem.claimed,
                work_workitem.lease_until, work_workitem.requested_at
        )
        SELECT pick.kind AS pick_kind, pick.shard AS pick_shard, (SELECT alone.alone FROM alone) AS pick_alone,
            taken.*
        FROM pick LEFT JOIN taken ON TRUE
    LOOP
        picked_kind := r.pick_kind;
        picked_shard := r.pick_shard;
        picked_alone := r.pick_alone;
        IF r.id IS NOT NULL THEN
            kind := r.pick_kind;
            id := r.id;
            key := r.key;
            shard := r.shard;
            priority := r.priority;
            payload := r.payload;
            attempts := r.attempts;
            requested := r.requested;
            claimed := r.claimed;
            lease_until := r.lease_until;
            requested_at := r.requested_at;
            took := TRUE;
            RETURN NEXT;
        END IF;
    END LOOP;
    IF picked_kind IS NULL THEN  -- nothing due
        RETURN;
    END IF;
    IF picked_alone THEN
        -- A new statement, so a new snapshot: every row written before the lock was taken is visible.
        UPDATE work_queuehead SET ready_at = (
            SELECT MIN(w.due_at) FROM work_workitem w WHERE w.kind = picked_kind AND COALESCE(w.shard, 0) = picked_shard
                AND w.lease_until IS NULL AND w.due_at IS NOT NULL
        )
        WHERE work_queuehead.kind = picked_kind AND work_queuehead.shard = picked_shard;
    END IF;
    IF NOT took THEN  -- a stale head, or its rows locked by a writer: the caller chooses again
        kind := picked_kind;
        RETURN NEXT;
    END IF;
END
$$
"""

CLAIM_FUNCTION_SHA256 = hashlib.sha256(CLAIM_FUNCTION.encode()).hexdigest()

DROP_CLAIM_FUNCTION = f"DROP FUNCTION IF EXISTS {SIGNATURE}"
