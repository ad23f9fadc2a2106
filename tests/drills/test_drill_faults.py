"""Drill 2: the sandbox fails a fifth of the order calls (429s, 500/502/503, read timeouts) while four worker
processes sync, and the store's quota is tight.

Retries wait 30 s and more in production; the drill moves the clock columns instead (`time_passes`), round after
round, until nothing is retrying. Outcome: every order imported in the end, none twice, the ledger equal to every
level, and the store's quota never exceeded (the sandbox counts requests it refused for a spent window apart from
the 429s it was told to inject). The quota is 60 requests a second, counted over 5-second windows: a one-second
window let a loaded machine's scheduling jitter decide the figure.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest

from integration.choices import OrderSyncState
from integration.models import OrderSync, SyncLogEntry
from tests.drills.support import assert_pos_matches_store, request_syncs, size, time_passes

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WORKER_ENV = {"BIGCOMMERCE_READ_TIMEOUT": "1"}


@pytest.mark.sandbox(orders=0, quota=300, window_ms=5000)
def test_drill_2_a_fifth_of_the_calls_fail_and_every_order_still_imports_once(sandbox, link, rq_workers, figures):
    orders = size(200, 3_000)
    order_ids = sandbox.store.place_orders(orders, status_id=11)
    store = sandbox.store
    # 429s for platform load carry no rate-limit headers (one with a reset shorter than the real window would tell
    # the limiter a fresh window had begun, which BigCommerce never does).
    store.faults.add(kind="rate_limit", endpoint="get_order", probability=0.07)
    for status in (500, 502, 503):
        store.faults.add(kind="error", endpoint="get_order", status=status, probability=0.025)
    store.faults.add(kind="timeout", endpoint="get_order", seconds=1.5, probability=0.06)
    store.request_log.clear()

    started = time.monotonic()
    request_syncs(link, order_ids)
    rounds = 0
    while True:
        rounds += 1
        rq_workers(4, **WORKER_ENV)
        if not OrderSync.objects.filter(link=link, state=OrderSyncState.RETRYING).exists() or rounds > 8:
            break
        time_passes(timedelta(hours=2))  # every retry's time has come
    elapsed = time.monotonic() - started

    outcome = assert_pos_matches_store(store, link, order_ids)
    records = store.request_log.records(endpoint="get_order")
    statuses = Counter(r.status for r in records)
    slow = sum(1 for r in records if r.duration_ms >= 1400)
    retries = Counter(SyncLogEntry.objects.filter(link=link, event="sync_retrying").values_list("message", flat=True))
    reasons = Counter(m.split(": ", 1)[1].split(" (")[0].split(".")[0] for m in retries.elements())
    figures.add(
        "orders / worker processes / quota", f"{orders:,} / 4 / {store.quota.quota} per {store.quota.window_ms} ms"
    )
    figures.add("GET order calls (answers)", f"{len(records):,} ({dict(sorted(statuses.items()))})")
    figures.add("held past the 1 s read timeout", slow)
    failed = sum(statuses.values()) - statuses[200] + slow
    figures.add("failed calls (injected 429 + 5xx + timeouts)", f"{failed:,} ({failed / len(records):.0%})")
    figures.add("retries scheduled, by reason", dict(reasons))
    figures.add("rounds (retries due, run)", rounds)
    figures.add("requests refused for a spent quota", store.quota.refused)
    figures.add("POS outcome", dict(outcome))
    figures.add("wall time (retry waits skipped)", f"{elapsed:.1f} s")
    assert outcome["closed"] == orders
    assert store.quota.refused == 0
