"""The worker stays up: Redis down when it starts, the database failing under it (work/worker.py)."""

from __future__ import annotations

import logging
import signal
import socket
import time
from datetime import timedelta

import pytest
from django.db import OperationalError
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.timeouts import JobTimeoutException

from pos import events
from tests import factories
from work import kernel, registry
from work.models import WorkItem
from work.worker import JobOverran, Worker

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


# ---------------------------------------------------------------- a job past its timeout


def _overran(*args, **kwargs):
    """What the worker's job timeout does when its alarm goes off in the middle of the work."""
    Worker.death_penalty_class(120, JobTimeoutException).handle_death_penalty(signal.SIGALRM, None)


def test_a_job_past_its_timeout_ends_instead_of_recording_its_work_as_failed_and_going_on(monkeypatch):
    monkeypatch.setattr(registry, "_kinds", {})
    registry.declare("t.stuck")
    registry.handle("t.stuck", _overran, lease=timedelta(minutes=2))
    kernel.request("t.stuck", 1, shard=1)
    kernel.request("t.stuck", 2, shard=1)

    with pytest.raises(JobOverran):
        kernel.drain(worker="w1")

    # The claim stays as it was: no failure recorded, the second item never run; the lease brings it back.
    rows = list(WorkItem.objects.filter(kind="t.stuck").order_by("key"))
    assert [(r.key, r.claimed_by, r.attempts, r.last_error_code, r.failed_at) for r in rows] == [
        ("1", "w1", 1, "", None),
        ("2", "", 0, "", None),
    ]


def test_the_command_listener_losing_redis_is_logged_once_not_as_an_error_every_retry(caplog):
    """RQ's listener thread for worker commands calls this on every failed reconnect (every 2 s of an outage); RQ
    itself logged an ERROR each time, one error report per worker per retry."""
    worker = Worker(["default"], connection=Redis.from_url(f"redis://127.0.0.1:{_closed_port()}/0"))
    worker.pubsub_retry_seconds = 0
    lost = RedisConnectionError("Error 111 connecting to 127.0.0.1. Connection refused.")
    with caplog.at_level(logging.INFO, logger="rq.worker"):
        for _ in range(3):
            worker._pubsub_exception_handler(lost, None, None)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "Redis unavailable" in caplog.records[0].getMessage()

    with pytest.raises(ValueError):  # anything else still ends the listener, as in RQ (called while handling it)
        try:
            raise ValueError("bad payload")
        except ValueError as exc:
            worker._pubsub_exception_handler(exc, None, None)
