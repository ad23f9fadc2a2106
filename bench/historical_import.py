"""Historical import: N orders (about 3 lines each) from a zero-latency sandbox into PostgreSQL, by ONE worker
process on the `imports` queue, the way production runs it.

One worker serves production's queues (the store's catalog ids are read first, as linking asks). `--latency-ms
150` adds that much sandbox latency to every API call (BigCommerce's pages are not instant).

Printed: wall time (worker start-up included), orders per second, the worker's CPU time (user + system: on a
shared machine it moves less than the wall time), API calls per 1,000 orders (from the sandbox's request log),
the worker's resident set sampled every 0.5 s (peak and how it grew from the first quarter of the run to the
end: "flat" means it does not grow with the number of orders), and the time a raw PostgreSQL `COPY` of the
same rows (every row the import wrote, into copies of the same tables with the same indexes) takes in the same
run (the median of three timings), with the ratio. Goals (issue #7, 100,000 orders): <= 90 s wall, <= 5 API calls
per 1,000 orders, peak RSS flat and <= 300 MB, within 3x of the COPY.

    .venv/bin/python bench/historical_import.py            # 5,000 orders
    .venv/bin/python bench/historical_import.py --full     # 100,000 orders
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import sys
import time

from _common import linked_retailer, run_workers, sandbox, setup_django, table

# Every table the import writes to.
TABLES = (
    "integration_ordersync",
    "pos_sale",
    "pos_saleline",
    "pos_salepayment",
    "pos_fulfillment",
    "pos_fulfillmentline",
    "pos_fulfillmentevent",
    "pos_customer",
    "integration_customerlink",
    "pos_product",
    "integration_productlink",
    "integration_synclogentry",
    "pos_inventorymovement",
)


COPY_REPEATS = 3  # the floor is timed this many times: one timing moved 2x between runs on a shared machine


def copy_seconds() -> tuple[list[float], int]:
    """Raw COPY of every row the import wrote into same-shaped tables (indexes included), timed COPY_REPEATS
    times (emptied in between); (seconds of each, rows)."""
    from django.db import connection

    buffers = {}
    with connection.cursor() as cursor:
        raw = cursor.connection
        for name in TABLES:
            data = io.BytesIO()
            with raw.cursor().copy(f"COPY {name} TO STDOUT") as copy:
                for chunk in copy:
                    data.write(chunk)
            buffers[name] = data.getvalue()
            cursor.execute(f"DROP TABLE IF EXISTS copy_{name}")
            cursor.execute(f"CREATE TABLE copy_{name} (LIKE {name} INCLUDING ALL)")
        rows = sum(b.count(b"\n") for b in buffers.values())
        timings = []
        for _ in range(COPY_REPEATS):
            cursor.execute(f"TRUNCATE {', '.join(f'copy_{name}' for name in TABLES)}")
            started = time.perf_counter()
            with raw.transaction():
                for name, data in buffers.items():
                    with raw.cursor().copy(f"COPY copy_{name} FROM STDIN") as copy:
                        copy.write(data)
            timings.append(time.perf_counter() - started)
        for name in TABLES:
            cursor.execute(f"DROP TABLE copy_{name}")
    return timings, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="100,000 orders")
    parser.add_argument("--orders", type=int, help="number of orders")
    parser.add_argument("--latency-ms", type=int, default=0, help="sandbox latency added to every API call")
    args = parser.parse_args()
    n = args.orders or (100_000 if args.full else 5_000)

    setup_django()
    from django.utils import timezone

    from integration.choices import ImportState
    from integration.models import HistoricalImport, StoreLink
    from integration.services.historical_import import historical_import_start, import_options
    from pos.models import Retailer, Sale, SaleLine, User

    with sandbox(orders=n, quota=10**9) as box:
        link = linked_retailer(box)
        StoreLink.objects.filter(pk=link.pk).update(linked_at=timezone.now())
        Retailer.objects.filter(pk=link.retailer_id).update(historical_import_enabled=True)
        link = StoreLink.objects.select_related("retailer").get(pk=link.pk)
        user = User.objects.create_user("bench-admin")
        if args.latency_ms:
            box.send("POST", "/__sandbox__/faults", {"kind": "latency", "latency_ms": args.latency_ms})
        load_start = os.getloadavg()
        before = box.request_counts()
        run = historical_import_start(link=link, options=import_options(link=link), acting_user=user)
        samples: list[float] = []
        own_cpu: list[float] = []
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        elapsed = run_workers(1, rss_samples=samples, cpu_samples=own_cpu)
        worker = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = worker.ru_utime - children.ru_utime + worker.ru_stime - children.ru_stime
        after = box.request_counts()
        calls = sum(after.values()) - sum(before.values())
        by_endpoint = {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v - before.get(k, 0)}
    run = HistoricalImport.objects.get(pk=run.pk)
    copy_timings, copy_rows = copy_seconds()
    copy_s = statistics.median(copy_timings)
    lines = SaleLine.objects.count()
    own = max(own_cpu, default=0.0)
    quarter = samples[len(samples) // 4] if samples else 0
    peak = max(samples, default=0)
    ok = run.state == ImportState.COMPLETED and run.seen == n and run.failed == 0
    rows = [
        ("orders (sales / lines written)", f"{n:,} ({Sale.objects.count():,} / {lines:,})"),
        (
            "imported / skipped / already / failed",
            f"{run.imported:,} / {run.skipped:,} / {run.already_imported:,} / {run.failed:,}",
        ),
        ("wall time incl. worker start-up", f"{elapsed:.1f} s (goal <= 90 s at 100k)"),
        ("orders per second", f"{n / elapsed:.0f}"),
        (
            "worker CPU time (user + sys)",
            f"{cpu:.1f} s ({cpu * 1000 / n:.2f} s per 1,000 orders; the load moves it less)",
        ),
        (
            "  of it the worker process itself",
            f"{own:.1f} s (sampled every 0.1 s); its fetch-ahead process and any other child: {cpu - own:.1f} s",
        ),
        ("API calls per 1,000 orders", f"{calls * 1000 / n:.2f} ({calls:,} calls; goal <= 5)"),
        ("API calls by endpoint", ", ".join(f"{k} {v:,}" for k, v in by_endpoint.items())),
        ("worker RSS peak / at 1/4 of the run", f"{peak:.0f} MB / {quarter:.0f} MB (goal flat, <= 300 MB)"),
        (
            "raw COPY of the same rows",
            f"{copy_s:.1f} s, median of {len(copy_timings)} ({min(copy_timings):.1f}–{max(copy_timings):.1f} s; "
            f"{copy_rows:,} rows)",
        ),
        ("import / COPY", f"{elapsed / copy_s:.1f}x (goal <= 3x)" if copy_s else "-"),
        ("load average (1 min) at start / end", f"{load_start[0]:.2f} / {os.getloadavg()[0]:.2f}"),
    ]
    latency = f"{args.latency_ms} ms latency per call" if args.latency_ms else "zero-latency"
    print(f"Historical import ({time.strftime('%Y-%m-%d %H:%M')}, PostgreSQL, {latency} sandbox, 1 worker)")
    print(table(rows))
    if not ok:
        print(f"FAILED: run ended {run.state}, {run.seen:,} seen, {run.failed} failed: {run.error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
