"""Stock drift read-back on a large store: N linked items at one location, D of them edited in BigCommerce.

A `python -m sandbox` process with N bulk products (no options), all linked to POS products at the linked outlet
(mapped to location 1) and pushed; before each round D levels are edited through the sandbox's control API (as in
the control panel). A round is the read-back (`stock_drift_run`) and the push it asks for (`push_run`).

Printed, best of `--rounds` (5, alternating the two): wall time and API calls by endpoint (from the sandbox's
request log), against a floor measured in the same run: only fetching the location's pages
(`iter_location_items` consumed, nothing else). Goals: one read per 250 items, corrections in ceil(D / 2000)
pushes, read-back + push <= 3x the floor.

    .venv/bin/python bench/stock_drift.py                  # 20,000 items, 500 edited
    .venv/bin/python bench/stock_drift.py --items 5000 --drifted 100
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal

from _common import linked_retailer, sandbox, setup_django, table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="20,000 items (also the default)")
    parser.add_argument("--items", type=int, default=20_000, help="bulk products in the store, all linked")
    parser.add_argument("--drifted", type=int, default=500, help="levels edited in BigCommerce before each round")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each, alternating; the best is printed")
    args = parser.parse_args()

    setup_django()
    from django.db import connection

    from integration.choices import BcItemKind
    from integration.client import BigCommerceClient
    from integration.models import OutletLocation, ProductLink, StockDriftCorrection
    from integration.services.push import push_run
    from integration.services.stock_drift import stock_drift_run
    from pos import events
    from pos.models import Product
    from pos.services.stock import StockMove, stock_move_many
    from work import kernel

    with sandbox(quota=10**9) as box:
        added = set(box.send("POST", "/__sandbox__/products", {"count": args.items, "price": "10.00"})["ids"])
        link = linked_retailer(box)
        retailer, outlet = link.retailer, link.outlet
        OutletLocation.objects.create(link=link, outlet=outlet, location_id=1, location_label="Default location")

        def client() -> BigCommerceClient:
            return BigCommerceClient(
                store_hash=box.info["store_hash"], access_token=box.info["access_token"], base_url=box.url
            )

        bulk = [i for i in client().iter_location_items(1) if i.product_id in added]
        products = Product.objects.bulk_create(
            [
                Product(
                    retailer=retailer,
                    name=f"Bulk {i.product_id}",
                    sku=f"BULK-{i.product_id}",
                    retail_price=Decimal("10.00"),
                    supply_price=Decimal("5.00"),
                )  # fmt: skip
                for i in bulk
            ],
            batch_size=5_000,
        )
        ProductLink.objects.bulk_create(
            [
                ProductLink(
                    link=link,
                    product=p,
                    bc_product_id=i.product_id,
                    bc_variant_id=i.variant_id,
                    bc_sku=p.sku,
                    bc_item_kind=BcItemKind.PRODUCT,
                )  # fmt: skip
                for p, i in zip(products, bulk, strict=True)
            ],
            batch_size=5_000,
        )
        stock_move_many(
            retailer_id=retailer.pk,
            moves=[StockMove(p.pk, outlet.pk, 5, "received", f"bench:{p.pk}") for p in products],
        )
        kernel.drain(only={events.STOCK_MOVED.name})
        while push_run(link_id=link.pk, client=client()).stock_pushed:  # BigCommerce starts equal to the POS
            pass

        with connection.cursor() as cursor:  # statistics, as autovacuum keeps them on a live database
            cursor.execute("ANALYZE")
        step = max(1, len(bulk) // args.drifted)
        edited = bulk[::step][: args.drifted]

        def drift() -> None:
            for k, item in enumerate(edited):
                box.send("PUT", "/__sandbox__/inventory", {"location_id": 1, "variant_id": item.variant_id,
                                                           "quantity": 40 + k % 7})  # fmt: skip

        def once(work) -> tuple[float, dict[str, int], object]:
            box.send("DELETE", "/__sandbox__/requests")
            started = time.perf_counter()
            result = work()
            elapsed = time.perf_counter() - started
            return elapsed, box.request_counts(), result

        def floor():
            return sum(1 for _ in client().iter_location_items(1))

        def read_back():
            report = stock_drift_run(link=link, client=client())
            push_run(link_id=link.pk, client=client())
            return report

        floors, rounds = [], []
        for _ in range(args.rounds):
            floors.append(once(floor))
            drift()
            rounds.append(once(read_back))
        floor_s, floor_calls, items = min(floors, key=lambda r: r[0])
        drift_s, drift_calls, report = min(rounds, key=lambda r: r[0])
    pages = -(-items // 250)
    pushes = -(-args.drifted // 2000)
    reads = drift_calls.get("list_location_items", 0)
    writes = drift_calls.get("set_inventory_absolute", 0)
    ok = (
        reads == pages
        and writes == pushes
        and report.corrected == args.drifted
        and StockDriftCorrection.objects.filter(link=link).count() == args.drifted * args.rounds
    )
    load = os.getloadavg()
    rows = [
        ("items at the location / linked", f"{items:,} / {len(bulk):,}"),
        ("levels edited in BigCommerce per round", f"{args.drifted:,}"),
        ("floor: fetching the location's pages only", f"{floor_s:.2f} s, {sum(floor_calls.values())} calls"),
        (
            "read-back + push",
            f"{drift_s:.2f} s, {reads} reads (goal {pages}) + {writes} pushes (goal {pushes}), "
            f"other calls {sum(drift_calls.values()) - reads - writes}",
        ),
        ("read-back + push / floor", f"{drift_s / floor_s:.2f}x (goal <= 3x)"),
        ("checked / corrected", f"{report.checked:,} / {report.corrected:,}"),
        ("load average (1, 5, 15 min)", " ".join(f"{x:.2f}" for x in load)),
    ]
    print(f"Stock drift ({time.strftime('%Y-%m-%d')}, PostgreSQL, zero-latency sandbox, best of {args.rounds})")
    print(table(rows))
    if not ok:
        print("FAILED: calls other than one read per 250 items and the batched pushes, or corrections missing")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
