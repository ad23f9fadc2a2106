"""What one claim costs as stores and backlogs grow (issues 17 and 18): milliseconds, the client's CPU, statements,
rows read and buffers, before vs after a change, in the same run.

For each size (stores, due rows), one noisy store holds the backlog and every other store one order sync, all due;
the tables are vacuumed and their statistics fresh (VACUUM ANALYZE, as autovacuum keeps them). A claim of order
syncs is then made `--claims` times as a worker makes it (in autocommit: committed), each undone after (its rows and
the queue heads put back as they were, and the tables vacuumed, untimed) so that every claim meets the same queues
and indexes; timed (wall and this process's CPU), and the statements one sends counted as Django logs them (BEGIN
and COMMIT included). Then, rolled back: the rows it read from the work table, every statement it ran counted,
nested ones too (auto_explain's plans, `tests/plans.py`: the claim is a function on PostgreSQL), and the buffers it
touched and PostgreSQL's planning + execution time (`EXPLAIN (ANALYZE, BUFFERS)` of the statements it sends; a
function call's execution covers the planning of the statements inside it).

"Before" is the code at `--before` (default: `main`), exported with `git archive` into a temporary directory and
run from there on a database of its own; "after" is this tree. The two run one after the other for each size, so
both see the same load on the machine.

    .venv/bin/python bench/claim_cost.py          # 20 and 1,000 stores x 1,000 and 20,000 due rows
    .venv/bin/python bench/claim_cost.py --full   # the same, and 10,000 stores

The databases are BENCH_DATABASE_URL with `_claim` and `_claim_before` added.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BEFORE = "main"  # `44b8fd3`: main before the queue heads (the claim read every due row)


def measure(stores: int, due: int, claims: int) -> dict:
    """In a tree whose Django is set up: the cost of a claim with `due` order syncs due over `stores` stores."""
    import importlib.util
    from datetime import timedelta

    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext, override_settings
    from django.utils import timezone

    from integration.services.order_sync import ORDER_SYNC
    from work import kernel
    from work.models import WorkItem

    # The plans of nested statements (a function's) from this tree's tests, whichever tree is measured.
    spec = importlib.util.spec_from_file_location("claim_plans", HERE.parent / "tests" / "plans.py")
    claim_plans = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(claim_plans)

    WorkItem.objects.all().delete()
    old = timezone.now() - timedelta(minutes=1)
    with transaction.atomic():
        kernel.request_many(ORDER_SYNC, [(f"noisy:{n}", 1, None) for n in range(due - (stores - 1))], due=old)
        kernel.request_many(ORDER_SYNC, [(f"quiet:{s}", s, None) for s in range(2, stores + 1)], due=old)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        heads = "work_queuehead" in connection.introspection.table_names(cursor)
        cursor.execute("CREATE TEMPORARY TABLE saved_items AS SELECT * FROM work_workitem")
        if heads:
            cursor.execute("CREATE TEMPORARY TABLE saved_heads AS SELECT * FROM work_queuehead")

    def claim() -> list[int]:
        batch = kernel.claim(("webhooks",), worker="claim-cost", only={ORDER_SYNC})
        assert batch is not None and batch.items
        return [item.pk for item in batch.items]

    def restore(ids: list[int]) -> None:
        """Undo a committed claim: its rows and the heads as they were, and vacuum away the row versions the claim
        and its undoing left (so every claim meets the same queues and indexes, not the dead entries of the ones
        before)."""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE work_workitem w SET lease_until = s.lease_until, claimed_by = s.claimed_by, "
                "claimed = s.claimed, due_at = s.due_at, attempts = s.attempts, updated_at = s.updated_at "
                "FROM saved_items s WHERE w.id = s.id AND w.id = ANY(%s)",
                [ids],
            )
            if heads:
                cursor.execute(
                    "UPDATE work_queuehead h SET ready_at = s.ready_at, served_at = s.served_at FROM saved_heads s "
                    "WHERE h.id = s.id AND (h.ready_at, h.served_at) IS DISTINCT FROM (s.ready_at, s.served_at)"
                )
        vacuum()

    def vacuum() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM work_workitem{', work_queuehead' if heads else ''}")

    # Each claim as a worker makes it (autocommit: its own transaction, committed; no debug log of the queries, as
    # in production), undone after.
    taken, cpu = [], []
    with override_settings(DEBUG=False):
        for _ in range(claims):
            started, started_cpu = time.perf_counter(), time.process_time()
            ids = claim()
            taken.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            restore(ids)
    with CaptureQueriesContext(connection) as sent:  # BEGIN and COMMIT included, when Django sends them
        ids = claim()
    restore(ids)

    # Rows read from the work table by every statement of a claim, nested ones too (auto_explain), rolled back.
    with claim_plans.plans(connection) as found, transaction.atomic():
        claim()
        transaction.set_rollback(True)
    read = claim_plans.rows_read(found, WorkItem._meta.db_table)
    vacuum()

    # Buffers and PostgreSQL time: EXPLAIN (ANALYZE, BUFFERS) of the statements the claim sends (a function call's
    # covers what the function ran), rolled back.
    statements: list[tuple[str, object]] = []

    def record(execute, sql, params, many, context):
        if "SAVEPOINT" not in sql:
            statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record), transaction.atomic():
        claim()
        transaction.set_rollback(True)
    buffers = 0
    planning = execution = 0.0
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
            plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]
            buffers += plan["Plan"].get("Shared Hit Blocks", 0) + plan["Plan"].get("Shared Read Blocks", 0)
            planning += plan.get("Planning Time", 0.0)
            execution += plan.get("Execution Time", 0.0)
        transaction.set_rollback(True)
    WorkItem.objects.all().delete()
    taken.sort()
    cpu.sort()
    return {
        "p50": taken[len(taken) // 2],
        "p95": taken[min(len(taken) - 1, round(0.95 * (len(taken) - 1)))],
        "cpu": cpu[len(cpu) // 2],
        "read": read,
        "buffers": buffers,
        "planning": planning,
        "execution": execution,
        "statements": len(sent),
    }


def child(tree: Path, database: str, stores: int, due: int, claims: int) -> dict:
    """Run `measure` with the code of `tree` in a process of its own."""
    env = {**os.environ, "CLAIM_COST_TREE": str(tree)}
    args = ["--measure", database, str(stores), str(due), str(claims)]
    out = subprocess.run(
        [sys.executable, str(HERE / "claim_cost.py"), *args], env=env, cwd=tree, capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(f"the measurement in {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child_main(database: str, stores: int, due: int, claims: int) -> int:
    tree = Path(os.environ["CLAIM_COST_TREE"])
    sys.path.insert(0, str(tree))
    os.chdir(tree)
    os.environ["BENCH_DATABASE_URL"] = database
    sys.path.insert(0, str(tree / "bench"))
    from _common import setup_django

    setup_django(fresh=False, database_url=database)
    print(json.dumps(measure(stores, due, claims)))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help="also 10,000 stores")
    parser.add_argument("--before", default=BEFORE, help=f"the git commit to compare with (default {BEFORE})")
    parser.add_argument("--claims", type=int, default=30, help="claims timed per size (default 30)")
    args = parser.parse_args()
    if args.measure:
        database, stores, due, claims = args.measure
        return child_main(database, int(stores), int(due), int(claims))

    sys.path.insert(0, str(HERE))
    from _common import ROOT, _create_database, sibling_database, table

    sizes = [(20, 1_000), (20, 20_000), (1_000, 1_000), (1_000, 20_000)]
    sizes += [(10_000, 20_000)] if args.full else []
    after_db, before_db = sibling_database("claim"), sibling_database("claim_before")
    for database in (after_db, before_db):
        _create_database(database, drop=True)
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="claim-before-") as before_tree:
        before_commit = subprocess.run(
            ["git", "rev-parse", "--short", args.before], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        archive = subprocess.run(["git", "archive", before_commit], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", before_tree], input=archive, check=True)
        os.symlink(ROOT / ".venv", Path(before_tree) / ".venv")
        for stores, due in sizes:
            print(f"{stores:,} stores, {due:,} due rows...", flush=True)
            before = child(Path(before_tree), before_db, stores, due, args.claims)
            after = child(ROOT, after_db, stores, due, args.claims)
            for name, m in (("before", before), ("after", after)):
                rows.append(
                    (
                        f"{stores:,} stores, {due:,} due: {name}",
                        f"p50 {m['p50']:.1f} ms, p95 {m['p95']:.1f} ms, CPU {m['cpu']:.2f} ms; "
                        f"{m['read']:,} rows read, {m['buffers']:,} buffers, "
                        f"plan {m['planning']:.1f} + run {m['execution']:.1f} ms "
                        f"({m['statements']} statement{'s' if m['statements'] > 1 else ''})",
                    )
                )
            rows.append(
                (
                    f"{stores:,} stores, {due:,} due: after / before",
                    f"p50 {after['p50'] / before['p50']:.2f} x, CPU {after['cpu'] / before['cpu']:.2f} x",
                )
            )
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows.append(("load average at the start / end", f"{load_start} / {load_end}"))
    print(f"\nOne claim of order syncs, before ({args.before}, {before_commit}) vs after, {os.cpu_count()} cores")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
