"""What one claim costs as stores and backlogs grow (issue 18): milliseconds and rows read, before vs after the
queue heads, in the same run.

For each size (stores, due rows), one noisy store holds the backlog and every other store one order sync, all
due; the tables are vacuumed and their statistics fresh (VACUUM ANALYZE, as autovacuum keeps them). A claim of
order syncs is then timed `--claims` times, each rolled back so that every claim sees the same queue, and run
once more under `EXPLAIN (ANALYZE, BUFFERS)` (rolled back too) for the rows it read from the work table and the
buffers it touched, over all its statements.

"Before" is the code at `--before` (default: main before the queue heads), exported with `git archive` into a
temporary directory and run from there on a database of its own; "after" is this tree. The two run one after the
other for each size, so both see the same load on the machine.

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
BEFORE = "44b8fd3"  # main just before the queue heads (the claim read every due row)


def measure(stores: int, due: int, claims: int) -> dict:
    """In a tree whose Django is set up: the cost of a claim with `due` order syncs due over `stores` stores."""
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from integration.services.order_sync import ORDER_SYNC
    from work import kernel
    from work.models import WorkItem

    WorkItem.objects.all().delete()
    old = timezone.now() - timedelta(minutes=1)
    with transaction.atomic():
        kernel.request_many(ORDER_SYNC, [(f"noisy:{n}", 1, None) for n in range(due - (stores - 1))], due=old)
        kernel.request_many(ORDER_SYNC, [(f"quiet:{s}", s, None) for s in range(2, stores + 1)], due=old)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")

    def claim() -> None:
        batch = kernel.claim(("webhooks",), worker="claim-cost", only={ORDER_SYNC})
        assert batch is not None and batch.items

    taken = []
    for _ in range(claims):
        with transaction.atomic():
            started = time.perf_counter()
            claim()
            taken.append((time.perf_counter() - started) * 1000)
            transaction.set_rollback(True)

    statements: list[tuple[str, object]] = []

    def record(execute, sql, params, many, context):
        if "SAVEPOINT" not in sql:
            statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record), transaction.atomic():
        claim()
        transaction.set_rollback(True)
    table = WorkItem._meta.db_table
    read = buffers = 0
    planning = execution = 0.0

    def rows_read(node) -> int:
        own = node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
        own = own if "Scan" in node["Node Type"] and node.get("Relation Name") == table else 0
        return own + sum(rows_read(child) for child in node.get("Plans", []))

    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
            plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]
            read += rows_read(plan["Plan"])
            buffers += plan["Plan"].get("Shared Hit Blocks", 0) + plan["Plan"].get("Shared Read Blocks", 0)
            planning += plan.get("Planning Time", 0.0)
            execution += plan.get("Execution Time", 0.0)
        transaction.set_rollback(True)
    WorkItem.objects.all().delete()
    taken.sort()
    return {
        "p50": taken[len(taken) // 2],
        "p95": taken[min(len(taken) - 1, round(0.95 * (len(taken) - 1)))],
        "read": read,
        "buffers": buffers,
        "planning": planning,
        "execution": execution,
        "statements": len(statements),
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
        archive = subprocess.run(["git", "archive", args.before], cwd=ROOT, capture_output=True, check=True).stdout
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
                        f"p50 {m['p50']:.1f} ms, p95 {m['p95']:.1f} ms; {m['read']:,} rows read, "
                        f"{m['buffers']:,} buffers, plan {m['planning']:.1f} + run {m['execution']:.1f} ms "
                        f"({m['statements']} statement{'s' if m['statements'] > 1 else ''})",
                    )
                )
            rows.append((f"{stores:,} stores, {due:,} due: after / before", f"{after['p50'] / before['p50']:.2f} x"))
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows.append(("load average at the start / end", f"{load_start} / {load_end}"))
    print(f"\nOne claim of order syncs, before ({args.before}) vs after, {os.cpu_count()} cores")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
