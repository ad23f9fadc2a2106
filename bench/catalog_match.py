"""Catalog match report on a large store: N products in a zero-latency sandbox against a POS catalog of N products.

The POS (PostgreSQL) has the demo catalog plus N products whose SKUs are the sandbox's bulk products (`BULK-<id>`):
every 10th at another price, every 7th with stock at the linked outlet, every 50th missing (created on first
sale), every 100th also present in lower case (a collision). The sandbox process serves the catalog with two
inventory locations; the report compares the linked outlet with the default one (first link).

Printed, best of `--rounds` (5, alternating the two): the report's wall time and API calls (from the sandbox's
request log), against a floor measured in the same run: only fetching the same pages (`iter_catalog` consumed,
nothing else). Goals: one call per 250 products (plus the locations), report <= 3x the floor.

    .venv/bin/python bench/catalog_match.py            # 20,000 products (the issue's size)
    .venv/bin/python bench/catalog_match.py --products 5000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal

from _common import sandbox, setup_django, table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="20,000 products (also the default)")
    parser.add_argument("--products", type=int, default=20_000, help="bulk products in the store and the POS")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each, alternating; the best is printed")
    args = parser.parse_args()
    n = args.products

    setup_django()
    from integration.client import BigCommerceClient
    from integration.services.catalog_match import catalog_match
    from pos.models import Outlet, Product
    from pos.services.demo import demo_retailer_ensure
    from pos.services.stock import StockMove, stock_move_many

    retailer = demo_retailer_ensure().retailer
    outlet = Outlet.objects.get(retailer=retailer, name="Downtown")
    with sandbox(quota=10**9) as box:
        added = box.send("POST", "/__sandbox__/products", {"count": n, "price": "10.00"})
        ids, total = added["ids"], added["products"]
        products = []
        for k, product_id in enumerate(ids):
            if k % 50 == 49:
                continue  # not in the POS: created on first sale
            price = Decimal("12.00") if k % 10 == 0 else Decimal("10.00")
            products.append(Product(retailer=retailer, name=f"Bulk {product_id}", sku=f"BULK-{product_id}",
                                    retail_price=price, supply_price=Decimal("5.00")))  # fmt: skip
            if k % 100 == 0:
                products.append(Product(retailer=retailer, name=f"Bulk {product_id} (old)", sku=f"bulk-{product_id}",
                                        retail_price=price, supply_price=Decimal("5.00")))  # fmt: skip
        Product.objects.bulk_create(products, batch_size=5_000)
        stocked = Product.objects.filter(retailer=retailer, sku__startswith="BULK-").values_list("pk", flat=True)
        moves = [
            StockMove(pk, outlet.pk, 3, "received", f"bench:{pk}")
            for k, pk in enumerate(stocked.iterator())
            if k % 7 == 0
        ]
        stock_move_many(retailer_id=retailer.pk, moves=moves)

        def client() -> BigCommerceClient:
            return BigCommerceClient(
                store_hash=box.info["store_hash"], access_token=box.info["access_token"], base_url=box.url
            )

        def once(work) -> tuple[float, int, object]:
            box.send("DELETE", "/__sandbox__/requests")
            started = time.perf_counter()
            result = work()
            elapsed = time.perf_counter() - started
            return elapsed, sum(box.request_counts().values()), result

        def floor():
            return sum(len(p.variants) for p in client().iter_catalog())

        def match():
            return catalog_match(retailer=retailer, store_hash=box.info["store_hash"], outlet=outlet, client=client())

        # Rounds alternate the two, so a busy moment of the shared machine falls on both alike; best of each.
        floors, reports = [], []
        for _ in range(args.rounds):
            floors.append(once(floor))
            reports.append(once(match))
        floor_s, floor_calls, items = min(floors, key=lambda r: r[0])
        report_s, report_calls, report = min(reports, key=lambda r: r[0])
    pages = -(-total // 250)
    ok = report_calls <= pages + 1 and report.items == items
    load = os.getloadavg()
    rows = [
        ("BigCommerce products / items (variants)", f"{total:,} / {items:,}"),
        ("POS products", f"{Product.objects.filter(retailer=retailer).count():,}"),
        ("floor: fetching the pages only", f"{floor_s:.2f} s, {floor_calls} calls"),
        ("catalog match report", f"{report_s:.2f} s, {report_calls} calls (goal <= {pages + 1})"),
        ("report / floor", f"{report_s / floor_s:.2f}x (goal <= 3x)"),
        (
            "matched / created / collisions / price / stock",
            f"{report.matched.count:,} / {report.created.count:,} / {report.collisions.count:,} / "
            f"{report.prices.count:,} / {report.stock.count:,}",
        ),
        ("load average (1, 5, 15 min)", " ".join(f"{x:.2f}" for x in load)),
    ]
    print(f"Catalog match ({time.strftime('%Y-%m-%d')}, PostgreSQL, zero-latency sandbox, best of {args.rounds})")
    print(table(rows))
    if not ok:
        print("FAILED: more calls than one per 250 products plus the locations, or items missing from the report")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
