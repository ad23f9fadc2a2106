"""The worker stays up: Redis down when it starts, the database failing under it (work/worker.py)."""

from __future__ import annotations

import logging
import signal
import socket
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import OperationalError
from django.utils import timezone
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


def _work_until_stopped(worker: Worker) -> None:
    """Run the worker's loop in this process until it is asked to stop; then give the test its signals back."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.work(burst=False)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


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
    _work_until_stopped(worker)

    assert done == ["after-the-restart"]
    assert polls >= 2
    assert not WorkItem.objects.filter(kind="test.noted").exists()


# ---------------------------------------------------------------- work requested for later


@pytest.fixture
def settling(monkeypatch):
    """A kind of the webhooks queue, like a settling order sync; the keys it ran."""
    monkeypatch.setattr(registry, "_kinds", {})
    ran: list[str] = []
    registry.declare("test.settling", queue=registry.QUEUE_WEBHOOKS)
    registry.handle("test.settling", lambda items: ran.extend(i.key for i in items))
    return ran


def test_an_idle_worker_waits_for_a_bell_only_until_work_requested_for_later_falls_due(settling, redis_conn):
    worker = Worker(["webhooks"], connection=redis_conn)
    queues = worker.queue_names()
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert worker._bell_wait(queues, 2.0) == 2.0  # nothing waits: the poll
        kernel.request("test.settling", "order", shard=1, due=start + timedelta(seconds=0.6))
        assert worker._bell_wait(queues, 2.0) == pytest.approx(0.6)
        assert worker._bell_wait(queues, 0.5) == 0.5  # never longer than the poll
        worker._looked_at = start  # then the worker looks (finding nothing due yet)
    with time_machine.travel(start + timedelta(seconds=0.59), tick=False):
        assert worker._bell_wait(queues, 2.0) == pytest.approx(0.05)  # the floor
    with time_machine.travel(start + timedelta(seconds=1), tick=False):
        assert worker._bell_wait(queues, 2.0) == pytest.approx(0.05)  # fell due since it looked: look at once
        worker._looked_at = start + timedelta(seconds=1)
        assert worker._bell_wait(queues, 2.0) == 2.0  # due when it looked and not taken: a bell's, or the poll's


def test_work_requested_for_later_is_run_when_due_without_a_second_bell_or_a_poll(
    settling, monkeypatch, settings, redis_conn
):
    """A settling order sync rings its bell when it is requested: the worker's drain finds nothing due, and it
    waits for the next bell no longer than until the work falls due (never its poll: one minute here)."""
    settings.WORK_POLL_SECONDS = 60
    redis_conn.flushdb()
    worker = Worker(["webhooks"], connection=redis_conn)
    waits: list[float] = []
    real_wait, real_drain = worker._bell_wait, kernel.drain

    def bell_wait(queues, poll):
        waits.append(real_wait(queues, poll))
        return waits[-1]

    def drain(*args, **kwargs):
        finished = real_drain(*args, **kwargs)
        if settling or len(waits) > 20:
            worker._stop_requested = True
        return finished

    monkeypatch.setattr(worker, "_bell_wait", bell_wait)
    monkeypatch.setattr(kernel, "drain", drain)
    kernel.request("test.settling", "order", shard=1, due=timezone.now() + timedelta(seconds=0.5))  # rings now
    assert redis_conn.llen("rq:queue:webhooks") == 1
    _work_until_stopped(worker)

    assert settling == ["order"]
    assert waits and all(wait < 1 for wait in waits)  # it waited for the work to fall due, not for a poll


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
