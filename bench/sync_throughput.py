"""Order sync throughput: orders per second for ONE worker process against a zero-latency sandbox, on PostgreSQL.

The sandbox store runs in its own process with the generated order mix (every status, guests and customers,
charges, discounts, refunds...). Syncs are requested the way webhook intake requests them (`order_sync_request`:
the OrderSync row and the `bc.order_sync` work row), then one `rqworker --burst` process (the product's worker,
`work.worker.Worker`, on production's queues) drains them. Two rounds: "cold" (a newly linked store: products and
customers are created as orders arrive) and "warm" (products known, as for nearly every order of a store linked for
a while).

Also printed:

- API calls per order **from the webhook path**: a third round of orders whose syncs are requested by the
  deliveries BigCommerce sends for a new order (created, statusUpdated, updated; each delivered twice), accepted
  by `webhook_accept` while a worker syncs, so a delivery arriving after its order was synced costs a new fetch as
  it does in production;
- SQL statements per new-order sync: the run (fetch, apply and the kernel's finish) plus the kernel's claim (BEGIN
  and COMMIT counted, as Django logs them), for one order with 1 line and one with 100 lines, and per batch of 50
  new orders (Django's debug query log is emptied before each count: it keeps only its last 9,000 statements, and
  a full one counts nothing). The goal (<= 30, the same for 1 and 100 lines) is on the sum.

    .venv/bin/python bench/sync_throughput.py            # 2,000 orders per round
    .venv/bin/python bench/sync_throughput.py --full     # 10,000 orders per round
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid

from _common import ALL_QUEUES, ROOT, bench_env, linked_retailer, run_workers, sandbox, setup_django, table

GOAL_RATE = 150
GOAL_SQL = 30
# The deliveries BigCommerce sends for a new order.
NEW_ORDER_SCOPES = ("store/order/created", "store/order/statusUpdated", "store/order/updated")


def request_syncs(link, order_ids) -> None:
    """Request the syncs the way webhook intake does, in one transaction."""
    from django.db import transaction

    from integration.services.order_sync import order_sync_request

    with transaction.atomic():
        for order_id in order_ids:
            order_sync_request(link=link, bc_order_id=order_id)


def deliver_webhooks(link, order_ids) -> int:
    """Each new order's deliveries, each twice (BigCommerce retries and duplicates), through `webhook_accept`."""
    from integration.services.intake import AUTH_HEADER, webhook_accept

    headers = {AUTH_HEADER: f"{link.pk}:{link.webhook_secret}"}
    accepted = 0
    for order_id in order_ids:
        for scope in NEW_ORDER_SCOPES:
            body = json.dumps(
                {
                    "scope": scope,
                    "store_id": link.store_id,
                    "hash": uuid.uuid4().hex,
                    "data": {"type": "order", "id": order_id},
                    "created_at": int(time.time()),
                    "producer": f"stores/{link.store_hash}",
                }
            ).encode()
            for _ in range(2):
                accepted += webhook_accept(body=body, headers=headers).outcome == "queued"
    return accepted


def webhook_path_calls(link, box, n: int) -> tuple[float, int]:
    """API calls per order when the syncs come from webhooks delivered while a worker runs; (calls per order,
    deliveries accepted)."""
    ids = box.send("POST", "/__sandbox__/orders", {"count": n})["ids"]
    before = box.request_counts()
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", *ALL_QUEUES],
        cwd=ROOT,
        env=bench_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        accepted = deliver_webhooks(link, ids)
        _wait_idle()
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    run_workers(1)  # whatever the stopped worker left
    calls = sum(box.request_counts().values()) - sum(before.values())
    return calls / n, accepted


def _wait_idle(timeout: float = 600) -> None:
    from work.models import WorkItem

    deadline = time.monotonic() + timeout
    while WorkItem.objects.filter(kind="bc.order_sync").exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def queries_per_sync(link, box, *, lines: int, orders: int = 1, samples: int = 5) -> list[tuple[int, int]]:
    """SQL statements of a worker's turn for `orders` new orders of `lines` lines each, `samples` times: (the
    kernel's claim, the run: fetch, apply and the kernel's finish)."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from integration.services.order_sync import ORDER_SYNC
    from work import kernel

    counts = []
    for _ in range(samples):
        ids = box.send("POST", "/__sandbox__/orders", {"count": orders, "status_id": 11, "lines": lines})["ids"]
        request_syncs(link, ids)
        reset_queries()  # the debug log keeps only 9,000 statements: a full one would count nothing
        with CaptureQueriesContext(connection) as claiming:
            claim = kernel.claim(only={ORDER_SYNC})
        reset_queries()
        with CaptureQueriesContext(connection) as running:
            kernel.run(claim)
        assert len(claim.items) == orders, "another worker took some of the orders"
        counts.append((len(claiming), len(running)))
    return counts


def fetch_floor(link, ids) -> float:
    """The floor: the same orders only fetched (no database), in batches of 50 with the sync's 8 calls at a time,
    by this process's client; orders per second."""
    from integration.client import BigCommerceClient
    from integration.services.order_sync import _concurrently

    client = BigCommerceClient.for_link(link)
    started = time.perf_counter()
    for start in range(0, len(ids), 50):
        batch = ids[start : start + 50]
        with client.reserved(len(batch)):
            _concurrently(client.get_order, batch)
    return len(ids) / (time.perf_counter() - started)


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

    load_start = os.getloadavg()
    with sandbox() as box:
        link = linked_retailer(box)
        rows = []
        rates = []
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
            rates.append(n / working)
            floor = fetch_floor(link, ids)
            rows += [
                (f"{round_name}: orders", f"{n:,}"),
                (f"{round_name}: wall time incl. worker start-up", f"{elapsed:.1f} s"),
                (f"{round_name}: orders per second, first claim to last write", f"{n / working:.0f}"),
                (
                    f"{round_name}: floor, the same orders only fetched (no database)",
                    f"{floor:.0f} per second (sync / floor {n / working / floor:.2f})",
                ),
                (f"{round_name}: orders per second, wall time", f"{n / elapsed:.0f}"),
                (f"{round_name}: API calls per order (one request each)", f"{calls / n:.3f}"),
            ]
        per_order, accepted = webhook_path_calls(link, box, max(200, n // 5))
        rows.append(
            (
                "API calls per order, webhook path",
                f"{per_order:.3f} ({max(200, n // 5):,} new orders, {accepted:,} deliveries queued a sync)",
            )
        )
        sql = {lines: queries_per_sync(link, box, lines=lines) for lines in (1, 100)}
        batch = queries_per_sync(link, box, lines=3, orders=50, samples=2)
        for lines, counts in sql.items():
            rows.append(
                (
                    f"SQL per new-order sync, {lines} line(s): run + claim",
                    f"max {max(r for _, r in counts)} + {max(c for c, _ in counts)} = "
                    f"{max(r + c for c, r in counts)} (goal <= {GOAL_SQL})",
                )
            )
        batch_figure = f"max {max(r for _, r in batch)} + {max(c for c, _ in batch)} = {max(r + c for c, r in batch)}"
        rows.append(("SQL per batch of 50 new orders: run + claim", batch_figure))
        rows.append(
            ("sales / order syncs in the database", f"{Sale.objects.count():,} / {OrderSync.objects.count():,}")
        )
    load_end = os.getloadavg()
    rows.append(("load average (1 min) at start / end", f"{load_start[0]:.2f} / {load_end[0]:.2f}"))
    print(f"Sync throughput ({time.strftime('%Y-%m-%d %H:%M')}, PostgreSQL, zero-latency sandbox, 1 worker)")
    print(table(rows))
    runs = {max(r + c for c, r in counts) for counts in sql.values()}
    met = min(rates) >= GOAL_RATE and max(runs) <= GOAL_SQL and len(runs) == 1
    print("goal met" if met else "goal NOT met")


if __name__ == "__main__":
    main()
