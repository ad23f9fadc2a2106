"""API calls per order change on the webhook path (issue 14, gap 12), before and after, in one run.

A sandbox store process holds the generated order mix. Orders are placed and synced from their
`store/order/created` webhook; then 28 % of them change the way a live store's orders do: about two in three
move status (BigCommerce sends `store/order/updated` and `store/order/statusUpdated`, ~50 ms apart) and one in
three is refunded (`store/order/refund/created`, then the pair). Each webhook goes through `webhook_accept`
exactly as the endpoint calls it, while a worker thread drains the order syncs as a worker does, so a webhook can
arrive while its order's previous sync runs. Calls are read from the sandbox's request log.

Two rounds on fresh orders of the same store, same seed: "before" reads an order's refunds on every sync of a
refunded order and makes a webhook's sync due at once (as before issue 14); "after" is the code as it is
(refunds read only when a refund webhook, a retry, reconciliation or a status change says so, one call per
batch; a settle window of ORDER_SYNC_SETTLE_SECONDS). Figures: calls per later change, and calls per order change
counting the placing of an order as one (the issue's measure; goal ≤ 1.1).

    BENCH_DATABASE_URL=... BENCH_REDIS_URL=... .venv/bin/python bench/calls_per_change.py [--orders 300] [--full]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time

from _common import linked_retailer, sandbox, setup_django, table

CHANGE_SHARE = 0.28
REFUND_SHARE_OF_CHANGES = 1 / 3
PAIR_GAP_SECONDS = 0.05


class Drainer(threading.Thread):
    """A worker: drains due order syncs until stopped, polling like the worker's database loop."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stopping = threading.Event()

    def run(self):
        from django.db import connection

        from integration.services.order_sync import ORDER_SYNC
        from work import kernel

        try:
            while not self.stopping.is_set():
                if not kernel.drain(only={ORDER_SYNC}, budget=5):
                    time.sleep(0.02)
        finally:
            connection.close()

    def settle(self, link, timeout: float = 600) -> None:
        """Wait until no order sync is waiting or running."""
        from integration.services.order_sync import ORDER_SYNC
        from work.models import WorkItem

        deadline = time.monotonic() + timeout
        while WorkItem.objects.filter(kind=ORDER_SYNC).exists():
            if time.monotonic() > deadline:
                raise RuntimeError("order syncs did not finish")
            time.sleep(0.1)


def deliver(link, scope: str, order_id: int, extra: dict | None = None) -> None:
    from integration.services.intake import AUTH_HEADER, webhook_accept

    body = {
        "scope": scope,
        "store_id": link.store_id,
        "data": {"type": "order", "id": order_id, **(extra or {})},
        "hash": os.urandom(16).hex(),
        "created_at": int(time.time()),
        "producer": f"stores/{link.store_hash}",
    }
    webhook_accept(body=json.dumps(body).encode(), headers={AUTH_HEADER: f"{link.pk}:{link.webhook_secret}"})


def run_round(box, link, n: int, rng: random.Random, *, before: bool) -> dict:
    from django.conf import settings

    from integration.services import order_sync

    original = order_sync.refunds_due
    if before:
        order_sync.refunds_due = lambda order, sync: order_sync.order_has_refunds(order)
        settings.ORDER_SYNC_SETTLE_SECONDS = 0.0
    else:
        settings.ORDER_SYNC_SETTLE_SECONDS = float(os.environ.get("ORDER_SYNC_SETTLE_SECONDS", 1.0))
    drainer = Drainer()
    drainer.start()
    try:
        ids = box.send("POST", "/__sandbox__/orders", {"count": n})["ids"]
        box.send("DELETE", "/__sandbox__/requests")
        for order_id in ids:
            deliver(link, "store/order/created", order_id)
        drainer.settle(link)
        created_calls = sum(box.request_counts().values())

        box.send("DELETE", "/__sandbox__/requests")
        changed = rng.sample(ids, round(n * CHANGE_SHARE))
        changes = refunds = 0
        for order_id in changed:
            if rng.random() < REFUND_SHARE_OF_CHANGES:
                try:
                    answer = box.send("POST", f"/__sandbox__/orders/{order_id}/refund", {})
                except OSError:
                    continue  # nothing left to refund (a cancelled or already refunded order)
                deliver(link, "store/order/refund/created", order_id, {"refund": {"refund_id": answer["refund_id"]}})
                refunds += 1
            else:
                box.send("POST", f"/__sandbox__/orders/{order_id}/status", {"status_id": rng.choice([2, 9, 10, 11])})
            deliver(link, "store/order/updated", order_id)
            time.sleep(PAIR_GAP_SECONDS)
            deliver(link, "store/order/statusUpdated", order_id)
            changes += 1
        drainer.settle(link)
        counts = box.request_counts()
        change_calls = sum(counts.values())
    finally:
        drainer.stopping.set()
        drainer.join()
        order_sync.refunds_due = original
    return {
        "orders": n,
        "created_calls": created_calls,
        "changes": changes,
        "refunds": refunds,
        "change_calls": change_calls,
        "counts": counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="1,000 orders per round")
    parser.add_argument("--orders", type=int, help="orders per round")
    args = parser.parse_args()
    n = args.orders or (1_000 if args.full else 300)

    setup_django()
    with sandbox() as box:
        link = linked_retailer(box)
        results = {
            name: run_round(box, link, n, random.Random(7), before=name == "before") for name in ("before", "after")
        }
    rows = []
    for name, r in results.items():
        rows += [
            (
                f"{name}: orders placed / changed (of which refunded)",
                f"{r['orders']} / {r['changes']} ({r['refunds']})",
            ),
            (f"{name}: API calls per new order", f"{r['created_calls'] / r['orders']:.3f}"),
            (f"{name}: API calls per later change", f"{r['change_calls'] / max(r['changes'], 1):.3f}"),
            (
                f"{name}: API calls per order change, placing an order counted as one",
                f"{(r['created_calls'] + r['change_calls']) / (r['orders'] + r['changes']):.3f}",
            ),
            (f"{name}: calls during the changes", ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items()))),
        ]

    def per_change(r):
        return (r["created_calls"] + r["change_calls"]) / (r["orders"] + r["changes"])

    before, after = per_change(results["before"]), per_change(results["after"])
    rows.append(("after / before (calls per order change)", f"{after / before:.2f}"))
    rows.append(("goal: ≤ 1.1 calls per order change", "met" if after <= 1.1 else "NOT met"))
    rows.append(("load average (1, 5, 15 min)", " ".join(f"{x:.2f}" for x in os.getloadavg())))
    print(f"API calls per order change ({time.strftime('%Y-%m-%d')}, PostgreSQL, sandbox store in its own process)")
    print(table(rows))


if __name__ == "__main__":
    main()
