"""The worker stays up: Redis down when it starts, the database failing under it (work/worker.py)."""

from __future__ import annotations

import signal
import socket
import time

import pytest
from django.db import OperationalError

from pos import events
from tests import factories
from work import kernel, registry
from work.models import WorkItem
from work.worker import Worker

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _closed_port() -> int:
    """A local port nothing listens on (taken from the OS, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_worker_started_while_redis_is_down_runs_due_work_from_the_database(rq_worker_pool):
    retailer = factories.RetailerFactory()
    kernel.request(events.STOCK_MOVED, "redis-down-at-start", shard=retailer.pk, payload={"changes": []})

    rq_worker_pool.start(1, REDIS_URL=f"redis://127.0.0.1:{_closed_port()}/0", WORK_POLL_SECONDS="0.2")
    # Only bounds a hang: the worker's first poll of the database runs the work.
    deadline = time.monotonic() + 120
    while WorkItem.objects.filter(kind=events.STOCK_MOVED.name).exists():
        proc = rq_worker_pool.procs[0]
        assert proc.poll() is None, f"the worker exited ({proc.returncode}):\n{rq_worker_pool.log()[-3000:]}"
        assert time.monotonic() < deadline, f"the work was not run:\n{rq_worker_pool.log()[-3000:]}"
        time.sleep(0.2)
    assert rq_worker_pool.procs[0].poll() is None
    assert "Redis unavailable" in rq_worker_pool.log()


def test_a_database_failure_while_the_worker_polls_is_waited_out(monkeypatch, settings, redis_conn):
    settings.WORK_POLL_SECONDS = 0.1
    monkeypatch.setattr(registry, "_kinds", {})
    done: list[str] = []
    registry.declare("test.noted", queue=registry.QUEUE_DEFAULT)
    registry.handle("test.noted", lambda items: done.extend(i.key for i in items))
    kernel.request("test.noted", "after-the-restart", shard=None)
    redis_conn.flushdb()  # no bell: the worker finds the work by polling the database

    worker = Worker(["default"], connection=redis_conn)
    real_drain = kernel.drain
    polls = 0

    def drain(*args, **kwargs):
        """The database is restarting at the first poll; afterwards the real drain, until it ran something."""
        nonlocal polls
        polls += 1
        if polls == 1:
            raise OperationalError("terminating connection due to administrator command")
        ran = real_drain(*args, **kwargs)
        if ran or polls > 20:
            worker._stop_requested = True
        return ran

    monkeypatch.setattr(kernel, "drain", drain)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.work(burst=False)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    assert done == ["after-the-restart"]
    assert polls >= 2
    assert not WorkItem.objects.filter(kind="test.noted").exists()
