"""Drill 1: a flood of webhooks, 30 % duplicated and shuffled, with four worker processes syncing as they arrive.

Test size 1,000 webhooks for 300 orders; `DRILL_SCALE=full` (bench/drill_webhook_flood.py --full) 10,000 for 3,000.
Outcome: no duplicate sale, every order in the state its BigCommerce status calls for, the ledger equal to every
inventory level, no deadlock or error in any worker.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from integration.models import WebhookEvent
from sandbox.store import SandboxError
from tests.drills.support import assert_pos_matches_store, post_webhooks, settle, size, webhook_body
from work.models import WorkItem

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DUPLICATED = 0.30
NEXT_STATUS = {11: 9, 9: 2, 7: 11, 8: 10, 1: 11, 0: 7, 2: 10, 3: 2}


def store_activity(store, order_ids: list[int], unique_events: int, rng: random.Random) -> list[bytes]:
    """Each order's `created` webhook, plus updates until `unique_events`: status moves, cancellations and refunds
    made in the store, and plain `updated` callbacks (BigCommerce sends many that change nothing we keep)."""
    bodies = [webhook_body(store, "store/order/created", oid) for oid in order_ids]
    while len(bodies) < unique_events:
        order_id = rng.choice(order_ids)
        status = store.order(order_id).status_id
        roll = rng.random()
        if roll < 0.10 and status not in (5, 6):
            store.cancel_order(order_id)
            bodies.append(webhook_body(store, "store/order/statusUpdated", order_id))
        elif roll < 0.40 and status in NEXT_STATUS:
            store.set_status(order_id, NEXT_STATUS[status])
            bodies.append(webhook_body(store, "store/order/statusUpdated", order_id))
        elif roll < 0.45 and status in (2, 10) and _refund(store, order_id):
            bodies.append(webhook_body(store, "store/order/refund/created", order_id))
        else:
            bodies.append(webhook_body(store, "store/order/updated", order_id))
    return bodies


def _refund(store, order_id: int) -> bool:
    """Refund one unit in the store; False when the order has nothing left to refund (a free order, say)."""
    try:
        store.refund_order(order_id)
    except SandboxError:
        return False
    return True


def test_drill_1_webhook_flood_with_duplicates_and_four_workers(sandbox, link, live_server, rq_worker_pool, figures):
    orders, webhooks, workers = size(300, 3_000), size(1_000, 10_000), 4
    rng = random.Random(9)
    order_ids = sandbox.store.place_orders(orders)
    unique = round(webhooks * (1 - DUPLICATED))
    bodies = store_activity(sandbox.store, order_ids, unique, rng)
    bodies += [rng.choice(bodies) for _ in range(webhooks - len(bodies))]
    rng.shuffle(bodies)
    sandbox.store.request_log.clear()

    rq_worker_pool.start(workers)
    started = time.monotonic()
    answers = post_webhooks(live_server.url, link, bodies)
    posted = time.monotonic() - started
    settle(link, timeout=size(300, 900))  # raises if it never settles
    elapsed = time.monotonic() - started
    rq_worker_pool.stop()

    statuses = Counter(status for status, _ in answers)
    outcomes = Counter(text.split('"status": "')[-1].split('"')[0] for _, text in answers)
    pos = assert_pos_matches_store(sandbox.store, link, order_ids)
    log = rq_worker_pool.log()
    counts = sandbox.store.request_log.counts()
    figures.add(
        "orders / webhooks (unique + duplicates)",
        f"{orders:,} / {len(bodies):,} ({unique:,} + {len(bodies) - unique:,})",
    )
    figures.add("worker processes", workers)
    figures.add("HTTP answers", dict(statuses))
    figures.add("intake outcomes", dict(outcomes))
    figures.add("webhook events stored", WebhookEvent.objects.filter(link=link).count())
    figures.add("posting took / settled after", f"{posted:.1f} s / {elapsed:.1f} s")
    figures.add("orders synced per second (first post to settled)", f"{orders / elapsed:.0f}")
    figures.add("POS outcome", dict(pos))
    figures.add("API calls (GET order / all)", f"{counts.get('get_order', 0):,} / {sum(counts.values()):,}")
    figures.add("deadlocks / tracebacks in worker logs", f"{log.count('deadlock detected')} / {log.count('Traceback')}")
    assert statuses == {200: len(bodies)}
    assert WebhookEvent.objects.filter(link=link).count() == unique
    assert not WorkItem.objects.filter(failed_at__isnull=False).exists()  # nothing gave up
    assert "deadlock detected" not in log and "Traceback" not in log, log[-3000:]
