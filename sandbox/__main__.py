"""`python -m sandbox`: run a sandbox BigCommerce store until Ctrl-C (or SIGTERM). No Django, no settings.

    .venv/bin/python -m sandbox --port 8100 --orders 200 --place-every 20
    .venv/bin/python -m sandbox --place-every 20 --state var/sandbox.state   # goes on where it stopped
    .venv/bin/python -m sandbox --port 8100 --stores 1000 --quota 150   # many stores, routed by store hash

Prints the base URL (for BIGCOMMERCE_API_URL and BIGCOMMERCE_LOGIN_URL), the store hash and the access token
to link it with, and optionally keeps a live store going: `--place-every 20` places an order every 20 seconds
and now and then moves an older order on (status change or refund), each with its webhooks. `--state FILE` keeps
the store across restarts: read at start when it exists (same seed), written after each placed order and at the
end, so a restarted store continues its order numbers and never serves a changed copy of an order it served.
With `--stores N`, one process serves N stores (seeds `--seed` onwards, each with its own hash, token and quota;
`--orders` are the first store's); `GET /__sandbox__/stores` lists them.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading

from sandbox.server import SandboxServer
from sandbox.store import SandboxStore, StoreSettings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Run a sandbox BigCommerce store (API, webhooks, faults, control endpoints) on a local port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8100, help="port (default 8100; 0 picks a free one)")
    parser.add_argument("--seed", type=int, default=1, help="the store and its orders follow from the seed")
    parser.add_argument("--orders", type=int, default=50, help="historical orders to generate (default 50)")
    parser.add_argument("--stores", type=int, default=1, help="stores served, routed by store hash (default 1)")
    parser.add_argument(
        "--place-every", type=float, default=0, metavar="SECONDS", help="place an order every SECONDS (0: never)"
    )
    parser.add_argument(
        "--quota", type=int, default=450, help="requests per window before 429s (default 450; Standard: 150)"
    )
    parser.add_argument("--window-ms", type=int, default=30_000, help="rate-limit window (default 30000 ms)")
    parser.add_argument("--tax-inclusive", action="store_true", help="prices entered including tax")
    parser.add_argument("--access-log", action="store_true", help="log every request on stderr")
    parser.add_argument(
        "--state",
        metavar="FILE",
        help="keep the (first) store in FILE across restarts (read at start, written as it changes)",
    )
    options = parser.parse_args(argv)
    if options.orders < 0 or options.place_every < 0:
        parser.error("--orders and --place-every must not be negative")
    if options.stores < 1:
        parser.error("--stores must be at least 1")
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    settings = StoreSettings(
        seed=options.seed, quota=options.quota, window_ms=options.window_ms, tax_inclusive=options.tax_inclusive
    )
    store = SandboxStore(settings, orders=options.orders)
    resumed = bool(options.state) and store.load(options.state)
    try:
        server = SandboxServer(store, host=options.host, port=options.port, quiet=not options.access_log)
    except OSError as exc:
        print(f"cannot listen on {options.host}:{options.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if options.stores > 1:
        server.add_stores(options.stores - 1)
    server.start()
    state = f"{options.state} ({'resumed' if resumed else 'new'})" if options.state else ""
    print(banner(server, options.place_every, state=state), flush=True)
    if options.state:
        store.save(options.state)
    rng = random.Random(f"{settings.seed}:{store.order_count()}")  # a resumed store does not replay its moves
    try:
        while not stop.wait(options.place_every or None):
            touched = store.simulate_activity(rng)
            if options.state:
                store.save(options.state)
            print(f"placed order {touched[0]}" + (f", updated {touched[1]}" if touched[1:] else ""), flush=True)
    finally:
        server.stop()
        if options.state:
            store.save(options.state)
        print("sandbox stopped", flush=True)
    return 0


def banner(server: SandboxServer, place_every: float, *, state: str = "") -> str:
    s = server.store.settings
    placing = f"an order every {place_every:g} s" if place_every else "no new orders"
    return "\n".join(
        [
            "BigCommerce sandbox store running (Ctrl-C stops it)",
            f"  base URL:      {server.url}   (BIGCOMMERCE_API_URL and BIGCOMMERCE_LOGIN_URL)",
            f"  store hash:    {s.store_hash}",
            f"  access token:  {s.access_token}",
            f"  store id:      {s.store_id}",
            f"  app client id: {s.client_id}  secret: {s.client_secret}",
            *([f"  state:         {state}"] if state else []),
            f"  control:       {server.url}/__sandbox__/info",
            f"  {server.store.order_count()} orders, quota {s.quota} per {s.window_ms} ms, {placing}",
            *([f"  {len(server.stores)} stores: {server.url}/__sandbox__/stores"] if len(server.stores) > 1 else []),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
