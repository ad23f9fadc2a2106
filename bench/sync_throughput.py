"""Order sync throughput: orders per second for ONE worker process against a zero-latency sandbox, on PostgreSQL.

The sandbox store runs in its own process with the generated order mix (every status, guests and customers,
charges, discounts, refunds...). Syncs are requested the way webhooks request them, then one
`rqworker --burst --worker-class integration.worker.SyncWorker` process drains the queue. Two rounds: "cold" (a
newly linked store: products and customers are created as orders arrive) and "warm" (products known, as for
nearly every order of a store linked for a while). Also printed: API calls per order (from the sandbox's request
log) and SQL queries per sync (measured in this process on a sample).

    .venv/bin/python bench/sync_throughput.py            # 2,000 orders per round
    .venv/bin/python bench/sync_throughput.py --full     # 10,000 orders per round
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import linked_retailer, run_workers, sandbox, setup_django, table


def request_syncs(link, order_ids) -> None:
    """Request the syncs the way webhook intake does: mark each order requested, queue its job after commit."""
    from django.db import transaction

    from integration.services.intake import order_sync_request_and_wake

    with transaction.atomic():
        for order_id in order_ids:
            order_sync_request_and_wake(link=link, bc_order_id=order_id)


def queries_per_sync(link, box, sample: int) -> list[int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integration.services.intake import order_sync_request
    from integration.services.order_sync import order_sync_run

    ids = box.send("POST", "/__sandbox__/orders", {"count": sample, "status_id": 11})["ids"]
    counts = []
    for order_id in ids:
        sync_id, _ = order_sync_request(link=link, bc_order_id=order_id)
        with CaptureQueriesContext(connection) as queries:
            order_sync_run(order_sync_id=sync_id)
        counts.append(len(queries))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="10,000 orders per round")
    parser.add_argument("--orders", type=int, help="orders per round")
    args = parser.parse_args()
    n = args.orders or (10_000 if args.full else 2_000)

    setup_django()
    from django.db.models import Max, Min

    from integration.models import OrderSync
    from pos.models import Sale

    with sandbox() as box:
        link = linked_retailer(box)
        rows = []
        for round_name in ("cold", "warm"):
            ids = box.send("POST", "/__sandbox__/orders", {"count": n})["ids"]
            before = box.request_counts()
            request_syncs(link, ids)
            elapsed = run_workers(1)
            after = box.request_counts()
            calls = sum(after.values()) - sum(before.values())
            span = OrderSync.objects.filter(link=link, bc_order_id__in=ids).aggregate(
                first=Min("last_attempt_at"), last=Max("updated_at")
            )
            working = (span["last"] - span["first"]).total_seconds()
            rows += [
                (f"{round_name}: orders", f"{n:,}"),
                (f"{round_name}: wall time incl. worker start-up", f"{elapsed:.1f} s"),
                (f"{round_name}: orders per second, first claim to last write", f"{n / working:.0f}"),
                (f"{round_name}: orders per second, wall time", f"{n / elapsed:.0f}"),
                (f"{round_name}: API calls per order", f"{calls / n:.3f}"),
            ]
        samples = queries_per_sync(link, box, 50)
        rows.append(
            ("SQL queries per sync (warm, 50 orders)", f"median {statistics.median(samples):.0f}, max {max(samples)}")
        )
        rows.append(
            ("sales / order syncs in the database", f"{Sale.objects.count():,} / {OrderSync.objects.count():,}")
        )
    print(f"Sync throughput ({time.strftime('%Y-%m-%d')}, PostgreSQL, zero-latency sandbox)")
    print(table(rows))


if __name__ == "__main__":
    main()
