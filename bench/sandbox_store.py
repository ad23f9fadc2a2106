"""Sandbox store figures: how fast it serves `GET /v2/orders/{id}` and how much memory its orders take.

    .venv/bin/python bench/sandbox_store.py           # 20,000 orders, 5 s of requests
    .venv/bin/python bench/sandbox_store.py --full    # 100,000 orders (the historical-import benchmark's size)

Memory is measured in this process (tracemalloc, and the resident set before and after generating). The
request rate is measured against `python -m sandbox` in its own process, from client threads here
with keep-alive sessions, the way the product's workers call it; each request asks for the order with its line
items inlined (`include=consignments,consignments.line_items`), as the client does.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def memory(orders: int) -> None:
    from sandbox.store import SandboxStore

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    store = SandboxStore(orders=orders)
    elapsed = time.perf_counter() - started
    traced, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    lines = sum(len(store.order(i).lines) for i in range(100, 100 + min(orders, 5000))) / min(orders, 5000)
    print(f"orders generated:        {orders:,} (~{lines:.1f} lines each) in {elapsed:.1f} s")
    print(f"memory, whole store:     {traced / 2**20:.1f} MiB traced ({traced / orders:.0f} bytes per order)")
    packed = store.memory_estimate()
    print(f"memory, packed orders:   {packed / 2**20:.1f} MiB ({packed / orders:.0f} bytes per order)")
    print(f"resident set growth:     {(rss_after - rss_before) / 1024:.1f} MiB (ru_maxrss; includes tracing overhead)")


def request_rate(orders: int, seconds: float, threads: int) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "sandbox", "--port", "0", "--orders", str(orders)]
    process = subprocess.Popen([*command, "--quota", str(10**9)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        banner = {}
        while "access token" not in banner:
            line = process.stdout.readline()
            if not line:
                raise SystemExit("the sandbox did not start")
            if match := re.match(r"\s+(base URL|store hash|access token):\s+(\S+)", line):
                banner[match.group(1)] = match.group(2)
        url = f"{banner['base URL']}/stores/{banner['store hash']}/v2/orders/{{}}"
        headers = {"X-Auth-Token": banner["access token"], "Accept": "application/json"}
        params = {"include": "consignments,consignments.line_items", "consignment_structure": "object"}
        counts = [0] * threads
        stop = time.perf_counter() + seconds

        def hammer(k: int) -> None:
            session = requests.Session()
            order_id = 100 + k
            while time.perf_counter() < stop:
                response = session.get(url.format(order_id), headers=headers, params=params, timeout=10)
                response.raise_for_status()
                counts[k] += 1
                order_id = 100 + (order_id + threads - 100) % orders

        workers = [threading.Thread(target=hammer, args=(k,)) for k in range(threads)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
        rate = sum(counts) / elapsed
        print(f"GET /v2/orders/{{id}}:     {rate:.0f} requests/s ({threads} client threads, {elapsed:.1f} s)")
    finally:
        process.terminate()
        process.wait(timeout=20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="100,000 orders")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    orders = 100_000 if args.full else 20_000
    memory(orders)
    request_rate(orders=2_000, seconds=args.seconds, threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
