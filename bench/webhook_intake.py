"""Webhook intake under load: gunicorn with production settings, the intake against a bare Django view.

gunicorn as production runs it (`config/gunicorn.conf.py`: 2 ASGI workers), DEBUG off, a real SECRET_KEY and
FIELD_ENCRYPTION_KEY, every middleware of production (SECURE_SSL_REDIRECT off as there is no TLS here), serves the
product on the benchmark database with a linked store, plus two bench-only views (`bench/_intake_urls.py`): the bare
view (read the body, answer 200: what the same Django stack costs with no work at all) and the durable floor (read
the body, one `INSERT` and its commit, one Redis push: the least any intake that keeps its promise, "an accepted
webhook is never lost", can do). A load generator in another process
(wrk with a Lua script when installed, `apt-get install wrk`; otherwise Python threads) POSTs thin order webhooks,
each with a unique hash and order id, to the bare view, the floor, then `/webhooks/bigcommerce/` with the link's auth
header.

Printed: requests/s, p50 / p99 (closed loop: latency includes waiting for a worker), and the check that nothing
accepted was lost: every 2xx answer has its stored WebhookEvent and its requested sync (a work row) (requests still in
flight when the generator stops may be stored without their answer being counted). Goal: intake >= 0.8 x the
durable floor, p99 <= 50 ms, 0 lost (intake / bare view is printed beside it: a bare view does no durable work).

    .venv/bin/python bench/webhook_intake.py            # 10 s per target, 8 connections
    .venv/bin/python bench/webhook_intake.py --full     # 30 s per target
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from _common import SERVING_SETUPS, gunicorn, production_server_setup, table
from _loadgen import LoadResult, have_wrk, load

GOAL_RATIO = 0.8
GOAL_P99_MS = 50
WARMUP_SECONDS = 3


def requested_syncs() -> int:
    """Order syncs requested (`bc.order_sync` work rows): the durable record a worker acts on."""
    from work.models import WorkItem

    return WorkItem.objects.filter(kind="bc.order_sync").count()


def describe(result: LoadResult) -> str:
    latency = f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, max {result.max_ms:.0f} ms"
    return f"{result.rate:,.0f} req/s, {latency}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="30 s per target (default 10 s)")
    parser.add_argument("--seconds", type=float, help="seconds of load per target")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--setup", choices=SERVING_SETUPS, default="production", help="sync: 2 sync workers, as before issue 16"
    )
    args = parser.parse_args()
    seconds = args.seconds or (30 if args.full else 10)

    link, env = production_server_setup()
    from _intake_urls import BARE_PATH, FLOOR_DDL, FLOOR_PATH
    from django.db import connection

    from integration.models import WebhookEvent

    auth = f"{link.pk}:{link.webhook_secret}"
    common = {"connections": args.connections, "store_id": link.store_id, "generator": args.generator}
    env = {**env, "DJANGO_SETTINGS_MODULE": "bench._intake_settings"}
    with connection.cursor() as cursor:
        cursor.execute(FLOOR_DDL)
    load_start = os.getloadavg()
    with gunicorn(env, setup=args.setup) as base:
        bare_url, intake_url = f"{base}/{BARE_PATH}", f"{base}/webhooks/bigcommerce/"
        floor_url = f"{base}/{FLOOR_PATH}"
        load(bare_url, seconds=WARMUP_SECONDS, run=1, **common)
        load(floor_url, seconds=WARMUP_SECONDS, run=5, **common)
        load(intake_url, seconds=WARMUP_SECONDS, run=2, auth=auth, **common)
        bare = load(bare_url, seconds=seconds, run=3, **common)
        floor = load(floor_url, seconds=seconds, run=6, **common)
        # Counted now, long after the warm-up's last requests were answered.
        before, queued_before = WebhookEvent.objects.count(), requested_syncs()
        intake = load(intake_url, seconds=seconds, run=4, auth=auth, **common)
        time.sleep(1)  # let the requests in flight when the generator stopped finish
    stored = WebhookEvent.objects.count() - before
    lost = max(0, intake.ok - stored)
    queued = requested_syncs() - queued_before  # every webhook names a new order: one work row each
    ratio = intake.rate / bare.rate if bare.rate else 0.0
    floor_ratio = intake.rate / floor.rate if floor.rate else 0.0
    load_end = os.getloadavg()
    print(
        f"Webhook intake ({time.strftime('%Y-%m-%d')}, gunicorn set-up: {args.setup}, 2 workers, production settings, "
        f"{args.connections} connections, {seconds:g} s per target, generator: {intake.generator})"
    )
    print(
        table(
            [
                ("bare Django view", describe(bare)),
                ("durable floor (INSERT + commit, Redis push)", describe(floor)),
                ("webhook intake", describe(intake)),
                ("intake / durable floor", f"{floor_ratio:.2f} (goal >= {GOAL_RATIO})"),
                ("intake / bare view", f"{ratio:.2f}"),
                ("accepted (2xx) / other answers", f"{intake.ok:,} / {intake.errors:,}"),
                ("stored WebhookEvents", f"{stored:,} ({stored - intake.ok} more: in flight when the load stopped)"),
                ("lost (accepted, not stored)", f"{lost}"),
                ("order syncs requested for them (work rows)", f"{queued:,}"),
                ("load average (1 min) at start / end", f"{load_start[0]:.2f} / {load_end[0]:.2f}"),
            ]
        )
    )
    sound = lost == 0 and intake.errors == 0 and floor.errors == 0 and queued >= stored
    met = sound and floor_ratio >= GOAL_RATIO and intake.p99_ms <= GOAL_P99_MS
    print("goal met" if met else "goal NOT met")
    if not have_wrk():
        print("(wrk not installed: the Python generator shares the CPU less efficiently; apt-get install wrk)")
    return 0 if sound else 1


if __name__ == "__main__":
    sys.exit(main())
