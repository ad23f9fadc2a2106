"""Parsing BigCommerce's JSON into the typed values of integration/bc_types.py: orders per second, new vs old.

The corpus is what the sandbox store renders: N orders of 3 lines each with their consignments and lines inlined
(the body of `GET /v2/orders/{id}?include=consignments,consignments.line_items`, what a sync fetches), and for
every 4th order, refunded, its refunds (the V3 `GET /v3/orders/{id}/payment_actions/refunds` envelope). Each
body is parsed the way the client parses it: decode the bytes, then `Order.from_api` or `Refund.from_api` for
each row.

- "new": `integration.client.JSON_DECODER` (msgspec) and the current `integration.bc_types` (msgspec);
- "old": the client's previous `json.loads(parse_float=Decimal)` and `integration/bc_types.py` as of `--old`
  (default: the last commit before msgspec replaced its hand-written `from_api` functions), loaded from git.

Both run in this process, alternately, best of `--rounds` rounds each; the goal is "parsing gets no slower"
(ratio >= 1). It also checks that both read the same values from every order (exit 1 when not).

    .venv/bin/python bench/bc_types_parse.py                  # 10,000 orders
    .venv/bin/python bench/bc_types_parse.py --orders 2000
    .venv/bin/python bench/bc_types_parse.py --full           # 50,000 orders
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
MODULE = "integration/bc_types.py"


def old_revision() -> str:
    """The newest commit whose bc_types.py still has the hand-written `class Fields` reader."""
    commits = git("log", "--format=%H", "-G", "^class Fields", "--", MODULE).split()
    for commit in commits:  # newest first: the one that removed it, then the ones that added or changed it
        if "\nclass Fields" not in git("show", f"{commit}:{MODULE}"):
            return f"{commit}^"
    return "HEAD"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def load_old(revision: str):
    spec = importlib.util.spec_from_loader("bench_old_bc_types", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(git("show", f"{revision}:{MODULE}"), f"{revision}:{MODULE}", "exec"), module.__dict__)  # noqa: S102
    return module


def corpus(orders: int) -> tuple[list[bytes], list[bytes]]:
    from sandbox import render
    from sandbox.store import SandboxStore, StoreSettings

    store = SandboxStore(StoreSettings(seed=3), orders=0)
    ids = [store.place_order(status_id=11, lines=3).id for _ in range(orders)]
    for order_id in ids[::4]:
        store.refund_order(order_id)

    def body(data) -> bytes:  # as the sandbox's app encodes it
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

    base = f"http://127.0.0.1/stores/{store.settings.store_hash}/v2"
    order_bodies = [body(render.order(store, store.order(i), base, consignments=True)) for i in ids]
    refund_bodies = [body({"data": [render.refund(r) for r in store.refunds[i]], "meta": {}}) for i in ids[::4]]
    return order_bodies, refund_bodies


def parse_all(types, decode, orders: list[bytes], refunds: list[bytes]) -> tuple[list, list]:
    parsed_orders = [types.Order.from_api(decode(body)) for body in orders]
    parsed_refunds = [types.Refund.from_api(row) for body in refunds for row in decode(body)["data"]]
    return parsed_orders, parsed_refunds


def facts(parsed: tuple[list, list]) -> list[tuple]:
    """What the sync reads from an order and a refund, to compare old and new."""
    orders, refunds = parsed
    rows = [
        (
            o.id,
            o.status_id,
            o.date_created,
            o.date_modified,
            o.date_shipped,
            o.total_inc_tax,
            o.total_tax,
            o.subtotal_ex_tax,
            o.shipping_cost_inc_tax,
            o.discount_amount,
            o.customer_id,
            o.external_source,
            o.billing_address.email,
            o.consignments.truncated,
            [(c.id, c.address.zip, c.cost_inc_tax) for c in o.consignments.shipping],
            [
                (li.id, li.product_id, li.variant_id, li.sku, li.quantity, li.price_inc_tax, li.total_inc_tax)
                + (li.discount_total, li.order_address_id, li.order_pickup_method_id)
                for li in o.products
            ],
        )
        for o in orders
    ]
    rows += [
        (r.id, r.order_id, r.created, r.total_amount, r.refunded_amount, [(i.item_id, i.quantity) for i in r.items])
        for r in refunds
    ]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--full", action="store_true", help="50,000 orders")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--old", help="the revision of integration/bc_types.py to compare with (default: see above)")
    args = parser.parse_args()
    orders_n = 50_000 if args.full else args.orders

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from integration import bc_types
    from integration.client import JSON_DECODER

    revision = args.old or old_revision()
    old_types = load_old(revision)
    started = time.perf_counter()
    orders, refunds = corpus(orders_n)
    size = sum(map(len, orders)) / len(orders) / 1024
    print(f"corpus: {len(orders):,} orders (3 lines, consignments inlined), {len(refunds):,} refund bodies, ", end="")
    print(f"{size:.1f} KiB per order; built in {time.perf_counter() - started:.1f} s")
    print(f"old: {MODULE} at {git('rev-parse', '--short', revision).strip()} with json.loads(parse_float=Decimal)")
    print(f"new: {MODULE} in the working tree with integration.client.JSON_DECODER")

    def old_decode(body: bytes):
        return json.loads(body, parse_float=Decimal)

    ways = {"old": (old_types, old_decode), "new": (bc_types, JSON_DECODER.decode)}
    same = facts(parse_all(*ways["old"], orders, refunds)) == facts(parse_all(*ways["new"], orders, refunds))
    best = dict.fromkeys(ways, 0.0)
    for _ in range(args.rounds):
        for name, (types, decode) in ways.items():
            started = time.perf_counter()
            parse_all(types, decode, orders, refunds)
            best[name] = max(best[name], len(orders) / (time.perf_counter() - started))

    print(f"\n{'':6}{'orders/s':>10}   (best of {args.rounds} rounds; each order with its refunds)")
    for name, rate in best.items():
        print(f"{name:6}{rate:10,.0f}")
    ratio = best["new"] / best["old"]
    print(f"ratio new/old: {ratio:.2f}   goal >= 1: {'met' if ratio >= 1 else 'NOT met'}")
    print(f"load average (1, 5, 15 min): {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(f"same values from both: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
