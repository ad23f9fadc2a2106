"""Many stores on one deployment (issue 18): quiet stores' webhook-to-sale latency while one noisy store has a
flash sale and a historical import, and throughput as groups of workers are added.

Everything is real and runs on this machine: one sandbox process serving every store (`python -m sandbox
--stores N`, routed by store hash, each store with its own token and quota), gunicorn with production settings
taking the webhooks the sandbox fires (one `store/order/created` hook per store, the link's auth header), worker
processes (`manage.py rqworker webhooks default imports`), PostgreSQL and Redis.

1. **Calm** (the floor, same run): every quiet store places an order every `--interval` seconds (spread evenly),
   nothing else happens. Webhook-to-sale latency = the sale row's `created_at` minus the moment the order was
   placed at the sandbox.
2. **Noisy**: the same quiet orders, while the noisy store (the first) places a `--burst` of orders at once and
   runs a historical import of its `--import-orders` older orders. The phase lasts until the burst is synced.
   Figures: quiet p50/p95/p99 (and p95 ÷ the calm p95), the noisy store's API requests per second ÷ what its quota
   allows (`--quota` per `--window-ms`), its live orders and import orders per second, and the load on
   PostgreSQL (commits and rows written per second) and Redis (commands per second).
   Goal: quiet p95 <= 2 s and the noisy store at >= 90 % of its quota.
3. **Worker groups**: a backlog spread over many stores (`--scale-orders`), accepted by the webhook with the
   workers stopped, then drained by one group of `--workers/2` workers, then (a new backlog, on as many other
   stores with the same history, so that neither finds what the other made) by two such groups
   started as separate process trees (new sessions), as two machines would run them on the same PostgreSQL and
   Redis. Figure: orders per second from the first sale to the last (worker start-up left out), and two groups ÷
   one group.

What one claim costs as stores and backlogs grow is `bench/claim_cost.py`.

The links' periodic work (catalog ids, hooks check, reconciliation) is postponed by a day: the phases measure
orders. Every store's quota is `--quota` per `--window-ms` (default 15 per 3 s: 5 requests a second, BigCommerce
Standard's rate), so the noisy store is bound by its quota, not by the machine. The noisy store's webhooks go out
8 at a time (the sandbox's `senders`), the others' one at a time.

    .venv/bin/python bench/many_stores.py          # 100 stores, 200-order burst, 2,000-order import (~4 min)
    .venv/bin/python bench/many_stores.py --full   # 1,000 stores, 20,000-order burst, 50,000-order import

The database is BENCH_DATABASE_URL with `_many` added; Redis is BENCH_REDIS_URL (flushed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from _common import (
    REDIS_URL,
    ROOT,
    bench_env,
    free_port,
    gunicorn,
    percentile,
    production_env,
    setup_django,
    sibling_database,
    table,
)

DATABASE = sibling_database("many")
P95_GOAL_S = 2.0
QUOTA_GOAL = 0.90


# ---------------------------------------------------------------- processes


class Sandbox:
    """`python -m sandbox --stores N`: the first store is the noisy one and holds the historical orders."""

    def __init__(self, *, stores: int, orders: int, quota: int, window_ms: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "sandbox", "--port", str(self.port), "--stores", str(stores)]
        command += ["--orders", str(orders), "--quota", str(quota), "--window-ms", str(window_ms)]
        self.proc = subprocess.Popen(command, cwd=ROOT, env=bench_env(DATABASE), stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 600
        while True:
            try:
                self.stores = self.call("GET", "/__sandbox__/stores")["stores"]
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.3)

    def call(self, method: str, path: str, body=None, timeout: float = 600):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")

    def place(self, store_hash: str, count: int = 1) -> list[int]:
        return self.call("POST", f"/__sandbox__/stores/{store_hash}/orders", {"count": count, "status_id": 11})["ids"]

    def request_times(self, store_hash: str) -> list[float]:
        records = self.call("GET", f"/__sandbox__/stores/{store_hash}/requests")["requests"]
        return [r["at"] for r in records if r["status"] != 429]

    def failed_deliveries(self) -> dict[str, int]:
        """Webhook deliveries that did not get a 2xx, by status or error, over every store."""
        failed: dict[str, int] = {}
        for store in self.stores:
            for d in self.call("GET", f"/__sandbox__/stores/{store['store_hash']}/webhooks/deliveries")["deliveries"]:
                if not d["ok"]:
                    reason = str(d["status"] or d["error"][:300])
                    failed[reason] = failed.get(reason, 0) + 1
        return failed

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def start_workers(count: int) -> subprocess.Popen:
    """A group of `count` worker processes under one parent in a session of its own (a machine's process tree)."""
    return subprocess.Popen(
        [sys.executable, __file__, "--group", str(count)],
        cwd=ROOT,
        env=bench_env(DATABASE),  # with PUBLIC_BASE_URL: the hooks check keeps the hooks pointing at gunicorn
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_workers(*groups: subprocess.Popen) -> None:
    for group in groups:
        group.send_signal(signal.SIGTERM)
    for group in groups:
        try:
            group.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(group.pid, signal.SIGKILL)
            group.wait()


def group_main(count: int) -> int:
    """`--group N`: run N workers (`manage.py rqworker webhooks default imports`) until SIGTERM, then stop them."""
    command = [sys.executable, "manage.py", "rqworker", "webhooks", "default", "imports"]
    workers = [subprocess.Popen(command, cwd=ROOT, env=os.environ.copy()) for _ in range(count)]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        if any(w.poll() is not None for w in workers):
            break
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        worker.wait(timeout=120)
    return 0


# ---------------------------------------------------------------- the retailers


def link_everyone(box: Sandbox, webhook_url: str) -> list:
    """One retailer per sandbox store (outlet, register, payment type, link made now), in bulk; a
    `store/order/created` hook per store pointing at the webhook with the link's auth header."""
    from django.utils import timezone

    from integration.client import BigCommerceClient
    from integration.models import StoreLink
    from integration.services.intake import AUTH_HEADER
    from pos.models import Outlet, PaymentType, Register, Retailer

    n = len(box.stores)
    retailers = Retailer.objects.bulk_create(
        [Retailer(name=f"Store {i:04d}", slug=f"store-{i:04d}", currency="USD") for i in range(n)]
    )
    outlets = Outlet.objects.bulk_create([Outlet(retailer=r, name="Online") for r in retailers])
    registers = Register.objects.bulk_create(
        [Register(retailer=r, outlet=o, name="Online") for r, o in zip(retailers, outlets, strict=True)]
    )
    payments = PaymentType.objects.bulk_create([PaymentType(retailer=r, name="BigCommerce") for r in retailers])
    now = timezone.now()
    links = StoreLink.objects.bulk_create(
        [
            StoreLink(
                retailer=r,
                store_hash=s["store_hash"],
                store_id=str(s["store_id"]),
                store_name=r.name,
                store_currency="USD",
                access_token=s["access_token"],
                api_base_url=box.url,
                outlet=o,
                register=g,
                default_payment_type=p,
                webhook_secret=secrets.token_urlsafe(24),
                linked_at=now,
            )
            for r, o, g, p, s in zip(retailers, outlets, registers, payments, box.stores, strict=True)
        ]
    )

    def hook(link) -> None:
        client = BigCommerceClient(store_hash=link.store_hash, access_token=link.access_token, base_url=box.url)
        headers = {AUTH_HEADER: f"{link.pk}:{link.webhook_secret}"}
        client.create_hook(scope="store/order/created", destination=webhook_url, headers=headers, is_active=True)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(hook, links))
    return links


def start_import(link) -> int:
    from integration.services.historical_import import (
        historical_import_start,
        historical_import_switch_set,
        import_options,
    )
    from pos.models import User

    support = User.objects.create_user(username="bench-support", password=secrets.token_urlsafe(16))
    support.is_support = True
    support.save(update_fields=["is_support"])
    admin = User.objects.create_user(username="bench-admin", password=secrets.token_urlsafe(16))
    historical_import_switch_set(retailer=link.retailer, enabled=True, reason="benchmark", acting_user=support)
    return historical_import_start(link=link, options=import_options(link=link), acting_user=admin).pk


# ---------------------------------------------------------------- load and measures


class QuietLoad:
    """Every quiet store places an order every `interval` seconds, the stores spread evenly over the interval
    (random order); each placement is timed (the latency's start)."""

    def __init__(self, box: Sandbox, stores: list[str], interval: float):
        self.box, self.stores, self.interval = box, stores, interval
        self.placed: list[tuple[str, int, float]] = []  # (store hash, order id, placed at)
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._pool = ThreadPoolExecutor(8)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)

    def _run(self) -> None:
        order = self.stores[:]
        random.Random(18).shuffle(order)
        gap = self.interval / len(order)
        start, i = time.monotonic(), 0
        while not self.stop.is_set():
            due = start + i * gap
            if self.stop.wait(max(0.0, due - time.monotonic())):
                break
            self._pool.submit(self._place, order[i % len(order)])
            i += 1

    def _place(self, store_hash: str) -> None:
        at = time.time()
        try:
            (order_id,) = self.box.place(store_hash)
        except OSError:
            return
        self.placed.append((store_hash, order_id, at))


def latencies(placed: list[tuple[str, int, float]], link_of: dict) -> tuple[list[float], int]:
    """Webhook-to-sale seconds of each placed order that has its sale, and how many have none."""
    from pos.models import Sale

    by_retailer: dict[int, dict[str, float]] = {}
    for store_hash, order_id, at in placed:
        by_retailer.setdefault(link_of[store_hash].retailer_id, {})[str(order_id)] = at
    found: list[float] = []
    rows = Sale.objects.filter(retailer_id__in=list(by_retailer), channel="bigcommerce").values_list(
        "retailer_id", "external_order_id", "created_at"
    )
    for retailer_id, order_id, created in rows:
        at = by_retailer.get(retailer_id, {}).get(order_id)
        if at is not None:
            found.append(created.timestamp() - at)
    return found, len(placed) - len(found)


def wait_for_sales(placed, link_of, *, timeout: float) -> tuple[list[float], int]:
    deadline = time.monotonic() + timeout
    while True:
        found, missing = latencies(placed, link_of)
        if not missing or time.monotonic() > deadline:
            return found, missing
        time.sleep(1)


def synced(link, order_ids: list[int]) -> int:
    """How many of these orders of the link's store have their sale."""
    from pos.models import Sale

    return Sale.objects.filter(
        retailer_id=link.retailer_id, channel="bigcommerce", external_order_id__in=[str(i) for i in order_ids]
    ).count()


def postpone_periodic_work() -> None:
    """The links' periodic work (catalog ids, hooks check, reconciliation: ~7 API calls and a few transactions per
    store) is made due tomorrow: with 1,000 stores it would take the loaded machine minutes before any order, and
    the phases measure orders. (Without the catalog id cache a store's first orders ask BigCommerce about their
    products: one more call per batch until the products are linked.)"""
    from datetime import timedelta

    from django.utils import timezone

    from work import kernel
    from work.registry import kinds

    for kind in kinds():
        if kind.every is not None and kind.seed is not None:
            kernel.ensure(kind, kind.seed(), due=timezone.now() + timedelta(days=1))


def warm_up(links: int, workers: int, timeout: float = 1800) -> None:
    """Wait until the workers are up (registered in Redis: on a loaded machine they take seconds to start) and no
    work is due or running."""
    import redis
    from django.utils import timezone
    from rq import Worker

    from integration.services.reconcile import RECONCILE
    from work.models import WorkItem

    connection = redis.Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seeded = WorkItem.objects.filter(kind=RECONCILE).count() >= links
        seeded = seeded and Worker.count(connection=connection) >= workers
        due = WorkItem.objects.filter(due_at__lte=timezone.now()).count()
        running = WorkItem.objects.filter(lease_until__isnull=False).count()
        if seeded and not due and not running:
            return
        time.sleep(1)
    raise RuntimeError("the start-up work did not finish")


def db_counters() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted, tup_returned + tup_fetched "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
        commits, inserted, updated, deleted, read = cursor.fetchone()
    return {"commits": commits, "written": inserted + updated + deleted, "read": read}


def redis_commands() -> int:
    import redis

    return int(redis.Redis.from_url(REDIS_URL).info("stats")["total_commands_processed"])


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---------------------------------------------------------------- the run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--full", action="store_true", help="the issue's size: 1,000 stores, 20,000 + 50,000")
    parser.add_argument("--stores", type=int, help="retailers, each linked to its own sandbox store")
    parser.add_argument("--interval", type=float, help="seconds between two orders of one quiet store")
    parser.add_argument("--burst", type=int, help="orders the noisy store places at once")
    parser.add_argument("--import-orders", type=int, help="the noisy store's historical orders, imported")
    parser.add_argument("--calm", type=float, help="seconds of the calm phase (the floor)")
    parser.add_argument("--workers", type=int, default=4, help="worker processes (default 4)")
    parser.add_argument("--quota", type=int, default=15, help="requests per window of every store (default 15)")
    parser.add_argument(
        "--window-ms", type=int, default=3000, help="quota window (default 3000 ms: 5 a second, as Standard's 150/30 s)"
    )
    parser.add_argument("--scale-orders", type=int, help="the worker-groups phase's backlog")
    parser.add_argument("--skip-groups", action="store_true", help="no worker-groups phase")
    args = parser.parse_args()
    if args.group:
        return group_main(args.group)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout's SIGTERM still stops every process
    full = args.full
    stores = args.stores or (1000 if full else 100)
    interval = args.interval or (100.0 if full else 30.0)
    burst = args.burst if args.burst is not None else (20_000 if full else 200)
    import_orders = args.import_orders if args.import_orders is not None else (50_000 if full else 2_000)
    calm = args.calm or (60.0 if full else 20.0)
    scale_orders = args.scale_orders or (6_000 if full else 400)

    from cryptography.fernet import Fernet

    os.environ["FIELD_ENCRYPTION_KEY"] = Fernet.generate_key().decode()
    setup_django(database_url=DATABASE)
    from django.conf import settings as django_settings

    rows: list[tuple[str, str]] = []
    started_at = datetime.now(UTC)
    load_start = load_average()
    print(f"setting up {stores} stores ({import_orders:,} historical orders in the noisy one)...", flush=True)
    box = Sandbox(stores=stores, orders=import_orders, quota=args.quota, window_ms=args.window_ms)
    env = production_env(encryption_key=os.environ["FIELD_ENCRYPTION_KEY"]) | {"DATABASE_URL": DATABASE}
    groups: list[subprocess.Popen] = []
    ok = True
    try:
        with gunicorn(env, workers=2) as base:
            os.environ["PUBLIC_BASE_URL"] = base
            from django.urls import reverse

            links = link_everyone(box, base + reverse("integration:webhook"))
            link_of = {link.store_hash: link for link in links}
            noisy, quiet = links[0], links[1:]
            quiet_hashes = [link.store_hash for link in quiet]
            postpone_periodic_work()
            groups = [start_workers(args.workers)]
            box.call("PUT", f"/__sandbox__/stores/{noisy.store_hash}/webhooks", {"senders": 8})
            warm_up(len(links), args.workers)

            # 1. Calm: the floor.
            print(f"calm phase: {len(quiet)} quiet stores, an order each every {interval:g} s...", flush=True)
            with QuietLoad(box, quiet_hashes, interval) as calm_load:
                time.sleep(calm)
            calm_found, calm_missing = wait_for_sales(calm_load.placed, link_of, timeout=60)

            # 2. Noisy: burst + import while the quiet orders go on.
            print(f"noisy phase: a {burst:,}-order burst and a {import_orders:,}-order import...", flush=True)
            db0, redis0, t0 = db_counters(), redis_commands(), time.time()
            import_id = start_import(noisy)
            with QuietLoad(box, quiet_hashes, interval) as noisy_load:
                burst_ids = box.place(noisy.store_hash, burst) if burst else []
                deadline = time.monotonic() + max(600, burst / 5)
                while synced(noisy, burst_ids) < len(burst_ids) and time.monotonic() < deadline:
                    time.sleep(1)
                t1 = time.time()
            db1, redis1 = db_counters(), redis_commands()
            burst_synced = synced(noisy, burst_ids)
            from integration.models import HistoricalImport, WebhookEvent

            run = HistoricalImport.objects.get(pk=import_id)
            imported_during = run.seen
            from integration.services.historical_import import historical_import_cancel

            historical_import_cancel(run=run, acting_user=run.requested_by)  # the next phase measures syncs only
            noisy_found, noisy_missing = wait_for_sales(noisy_load.placed, link_of, timeout=120)
            noisy_calls = [t for t in box.request_times(noisy.store_hash) if t0 <= t <= t1]
            webhooks = WebhookEvent.objects.filter(received_at__gte=datetime.fromtimestamp(t0, UTC)).count()
            from pos.models import Sale

            sales = Sale.objects.filter(
                created_at__gte=datetime.fromtimestamp(t0, UTC), created_at__lte=datetime.fromtimestamp(t1, UTC)
            ).count()
            failed_deliveries = box.failed_deliveries()
            load_noisy = load_average()
            stop_workers(*groups)
            groups = []

            elapsed = t1 - t0
            quota_rate = args.quota * 1000 / args.window_ms
            share = len(noisy_calls) / elapsed / quota_rate
            calm_p95 = percentile(calm_found, 95)
            p95 = percentile(noisy_found, 95)
            rows += [
                ("stores (quiet + noisy), workers", f"{len(quiet)} + 1, {args.workers}"),
                ("quiet orders per second (each store every)", f"{len(quiet) / interval:.1f} ({interval:g} s)"),
                (
                    "calm: quiet webhook-to-sale p50 / p95 / p99",
                    f"{percentile(calm_found, 50):.2f} / {calm_p95:.2f} / {percentile(calm_found, 99):.2f} s "
                    f"({len(calm_found)} orders, {calm_missing} without a sale)",
                ),
                (
                    "noisy: quiet webhook-to-sale p50 / p95 / p99",
                    f"{percentile(noisy_found, 50):.2f} / {p95:.2f} / {percentile(noisy_found, 99):.2f} s "
                    f"({len(noisy_found)} orders, {noisy_missing} without a sale)",
                ),
                ("noisy: quiet p95 / calm p95 (floor)", f"{p95 / calm_p95:.2f}" if calm_p95 else "-"),
                ("noisy phase: burst synced, seconds", f"{burst_synced:,} of {burst:,}, {elapsed:.0f} s"),
                ("noisy store: live orders per second", f"{burst_synced / elapsed:.1f}"),
                (
                    "noisy store: import orders seen (per second)",
                    f"{imported_during:,} ({imported_during / elapsed:.1f})",
                ),
                (
                    "noisy store: API requests per second / quota",
                    f"{len(noisy_calls) / elapsed:.1f} / {quota_rate:.1f} = {share:.0%}",
                ),
                (
                    "PostgreSQL: commits, rows written, rows read per s",
                    f"{(db1['commits'] - db0['commits']) / elapsed:.0f}, "
                    f"{(db1['written'] - db0['written']) / elapsed:.0f}, {(db1['read'] - db0['read']) / elapsed:.0f}",
                ),
                ("Redis: commands per second", f"{(redis1 - redis0) / elapsed:.0f}"),
                (
                    "per sale written (all stores): commits, rows written, Redis commands, webhooks",
                    f"{(db1['commits'] - db0['commits']) / max(sales, 1):.1f}, "
                    f"{(db1['written'] - db0['written']) / max(sales, 1):.1f}, "
                    f"{(redis1 - redis0) / max(sales, 1):.1f}, {webhooks / max(sales, 1):.2f} "
                    f"({sales:,} sales, {sales / elapsed:.1f} a second)",
                ),
                ("webhooks accepted per second", f"{webhooks / elapsed:.1f}"),
                ("webhook deliveries not accepted", json.dumps(failed_deliveries) if failed_deliveries else "none"),
                ("WORK_SHARD_CONCURRENCY", str(django_settings.WORK_SHARD_CONCURRENCY)),
            ]
            met = p95 <= P95_GOAL_S and share >= QUOTA_GOAL
            rows.append(
                (
                    "goal: quiet p95 <= 2 s and noisy >= 90 % of quota",
                    f"{'MET' if met else 'NOT MET'} ({p95:.2f} s, {share:.0%})",
                )
            )
            if calm_missing or noisy_missing:
                ok = False

            # 3. Worker groups.
            if not args.skip_groups:
                per_group = max(1, args.workers // 2)
                width = min(len(quiet_hashes) // 2, 100) or 1
                for n_groups in (1, 2):
                    # Each phase on stores of its own, alike before it (quiet stores of the phases above): on the
                    # same stores the second would find their products and customers made by the first, and
                    # measure less work, not more workers.
                    spread = quiet_hashes[(n_groups - 1) * width : n_groups * width] or quiet_hashes[:width]
                    print(f"worker groups: {n_groups} x {per_group} workers, {scale_orders:,} orders...", flush=True)
                    from pos.models import Sale

                    before = Sale.objects.count()
                    placing_at = datetime.now(UTC)
                    per_store = max(1, scale_orders // len(spread))
                    with ThreadPoolExecutor(8) as pool:
                        list(pool.map(box.place, spread, [per_store] * len(spread)))
                    expected = per_store * len(spread)
                    accepted = WebhookEvent.objects.filter(received_at__gte=placing_at)
                    deadline = time.monotonic() + 300
                    while accepted.count() < expected and time.monotonic() < deadline:
                        time.sleep(0.5)  # every webhook accepted before the workers start
                    start = time.monotonic()
                    groups = [start_workers(per_group) for _ in range(n_groups)]
                    while Sale.objects.count() - before < expected and time.monotonic() - start < 900:
                        time.sleep(0.5)
                    took = time.monotonic() - start
                    stop_workers(*groups)
                    groups = []
                    from django.db.models import Max, Min

                    span = Sale.objects.filter(created_at__gte=placing_at).aggregate(
                        a=Min("created_at"), b=Max("created_at")
                    )
                    working = max((span["b"] - span["a"]).total_seconds(), 0.001) if span["a"] else took
                    rate = (Sale.objects.count() - before) / working
                    if n_groups == 1:
                        one_group = rate
                    rows.append(
                        (
                            f"{n_groups} group(s) of {per_group} workers: orders per second",
                            f"{rate:.0f} ({expected:,} orders, {len(spread)} stores, first to last sale {working:.1f} s"
                            f" of {took:.1f} s)" + (f", {rate / one_group:.2f} x one group" if n_groups == 2 else ""),
                        )
                    )
    finally:
        stop_workers(*groups)
        box.stop()
    rows.append(
        ("load average at the start / after the noisy phase / end", f"{load_start} / {load_noisy} / {load_average()}")
    )
    print(f"\nMany stores ({started_at:%Y-%m-%d %H:%M} UTC, PostgreSQL, {os.cpu_count()} cores)")
    print(table(rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
