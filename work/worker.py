"""The worker the product runs: `manage.py rqworker webhooks default imports` (settings.RQ["WORKER_CLASS"]).

An RQ `SimpleWorker` (jobs run in the worker process: a fork, a fresh database connection and a fresh HTTPS session
per job cost more than syncing an order) that treats Redis as the doorbell it is:

- **It polls the database.** While it waits for a bell it looks at the database every `WORK_POLL_SECONDS` and runs
  any due work itself, so a lost bell (Redis flushed, a job lost, a process killed between a commit and its bell)
  delays work by at most that, and scheduled work (retries, debounced pushes, periodic kinds) needs no scheduler
  process: the work row's `due_at` is the schedule. It looks sooner when work falls due before the next poll (a
  settled order sync, whose bell rang when it was requested: `kernel.next_due`). It also creates the periodic
  kinds' missing rows at start and every hour (`work.kernel.ensure_periodic`).
- **It survives Redis.** A Redis outage in the middle of a job, or while it waits, or already at start-up (RQ asks
  Redis for the process's address when the worker is made), is logged and waited out; the worker keeps draining
  the database meanwhile (its work never depended on Redis), and reconnects by itself. RQ's own worker quits on
  such an error ("found an unhandled exception, quitting"), leaving nothing to sync until someone restarts it.
- **It survives the database restarting.** A database error while it looks for due work is logged, the
  connections are dropped, and it looks again at the next poll: the work it was running stays in its rows (the
  transaction rolled back, the lease runs out) and is taken again.
- **A job past its timeout ends.** RQ's timeout (SIGALRM) raises `JobOverran`, which no `except Exception` takes for
  a failure of the work: the transaction in hand rolls back and the claim's rows are taken again once their lease
  lapses (see `JobOverran`).
- **It runs no scheduler child.** Nothing is scheduled in RQ, so `--with-scheduler` is not needed and a SIGKILL
  leaves no orphan holding the scheduler lock.

Between jobs, database connections are checked the way Django checks them between requests.
"""

from __future__ import annotations

import gc
import time
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from rq.exceptions import DequeueTimeout, InvalidJobOperation
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty
from rq.worker import SimpleWorker, WorkerStatus

from work import kernel

SEED_INTERVAL_SECONDS = 3600
# The shortest wait for a bell before the worker looks at the database (work falling due sooner waits this long).
WAIT_FLOOR_SECONDS = 0.05
NEVER = datetime.min.replace(tzinfo=UTC)  # a worker that has not looked yet: whatever is due is news to it

_stopping = False
_frozen = False


def _freeze_start_up_heap() -> None:
    """What the process holds at start (Django, the apps, the URL conf...) lives as long as it does: out of the
    collector's sight, full collections stop walking it again while a job makes rows by the ten thousand (a
    historical import's page). Once per process, after a collection, so no garbage is kept for good."""
    global _frozen
    if not _frozen:
        gc.collect()
        gc.freeze()
        _frozen = True


def stopping() -> bool:
    """True once this process's worker was asked to stop (warm): a long drain ends after its batch in hand."""
    return _stopping


class JobOverran(BaseException):  # noqa: N818 - named for what happened, like KeyboardInterrupt
    """A job ran past its RQ timeout. Not an `Exception`, unlike RQ's `JobTimeoutException`: the handlers that turn
    an error into failed work (`kernel.run`, the order sync applying a failed batch again order by order) took RQ's
    for an error of the work and went on, with no timeout left (the alarm fires once), so one stuck drain ran on
    and on (drill 5: a worker over 300 s, still waiting on the lock it waited on at 120 s). This one ends the job:
    the transaction in hand rolls back, RQ records the job as failed, and the claim's rows are taken again once
    their lease lapses."""


class DeathPenalty(UnixSignalDeathPenalty):
    """RQ's job timeout, raising `JobOverran` instead of `JobTimeoutException`."""

    def __init__(self, timeout, exception=JobTimeoutException, **kwargs):
        super().__init__(timeout, JobOverran if issubclass(exception, JobTimeoutException) else exception, **kwargs)


def _redis_tolerant(method):
    """Wrap an RQ bookkeeping method so that a Redis failure is logged instead of stopping the worker."""

    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except RedisError as exc:
            self._redis_down(exc)
            return None

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class Worker(SimpleWorker):
    death_penalty_class = DeathPenalty
    _redis_failing_since: float | None = None
    _seeded_at: float | None = None
    _looked_at: datetime | None = None  # when this worker last began looking for due work (see `_bell_wait`)

    # ------------------------------------------------------------ Redis is a doorbell

    def _redis_down(self, exc: Exception) -> None:
        if self._redis_failing_since is None:
            self._redis_failing_since = time.monotonic()
            self.log.warning("Worker %s: Redis unavailable (%s); running work from the database", self.name, exc)

    def _redis_up(self) -> None:
        if self._redis_failing_since is not None:
            down = time.monotonic() - self._redis_failing_since
            self.log.warning("Worker %s: Redis is back after %.0f s", self.name, down)
            self._redis_failing_since = None

    def _pubsub_exception_handler(self, exc, pubsub, pubsub_thread) -> None:
        """The thread listening for RQ's commands (stop a job, shut down) lost Redis: note the outage once, as the
        work loop does, and retry at RQ's pace. RQ's own handler logs an ERROR every 2 s for as long as Redis is
        down, one error report per worker per retry."""
        if not isinstance(exc, RedisConnectionError):
            super()._pubsub_exception_handler(exc, pubsub, pubsub_thread)
            return
        self._redis_down(exc)
        time.sleep(self.pubsub_retry_seconds)

    pubsub_retry_seconds = 2.0

    heartbeat = _redis_tolerant(SimpleWorker.heartbeat)
    check_for_suspension = _redis_tolerant(SimpleWorker.check_for_suspension)
    run_maintenance_tasks = _redis_tolerant(SimpleWorker.run_maintenance_tasks)
    set_shutdown_requested_date = _redis_tolerant(SimpleWorker.set_shutdown_requested_date)

    def _set_ip_address(self, connection) -> None:
        # Called while the worker is made: with Redis down at start-up RQ would end the process right there.
        try:
            super()._set_ip_address(connection)
        except RedisError as exc:
            self.ip_address = "unknown"
            self._redis_down(exc)

    def set_state(self, state, pipeline=None):
        # The local state must change even when Redis is down: a SIGTERM reads it to choose a warm shutdown.
        self._state = state
        try:
            super().set_state(state, pipeline)
        except RedisError as exc:
            self._redis_down(exc)

    def work(self, burst: bool = False, **options) -> bool:
        """RQ's work loop, started again whenever Redis fails under it (at start, when RQ registers the worker, or
        at the end): meanwhile due work is run straight from the database."""
        _freeze_start_up_heap()
        worked = False
        while True:
            try:
                return super().work(burst=burst, **options) or worked
            except RedisError as exc:
                self._redis_down(exc)
            worked = bool(self._drain_database(self.queue_names())) or worked
            if burst or self._stop_requested or _stopping:
                return worked
            time.sleep(max(0.1, float(settings.WORK_POLL_SECONDS)))
            self.name = uuid.uuid4().hex  # a fresh registration: the last one may still be in Redis

    def handle_exception(self, job, *exc_info):
        # A bell whose bookkeeping Redis lost (flushed, or restarted empty, while it ran): nothing was lost with it.
        if isinstance(exc_info[1], InvalidJobOperation | RedisError):
            self.log.warning(
                "Worker %s: Redis lost track of job %s (%s); its work is in the database",
                self.name,
                job.id,
                exc_info[1].__class__.__name__,
            )
            return
        super().handle_exception(job, *exc_info)

    def request_stop(self, signum, frame):
        global _stopping
        _stopping = True
        super().request_stop(signum, frame)

    def execute_job(self, job, queue):
        self._looked_at = timezone.now()  # a bell: its job drains the database
        close_old_connections()
        try:
            super().execute_job(job, queue)
        except RedisError as exc:
            # RQ lost track of the job (its bookkeeping is in Redis); its work is in the database, done or due.
            self._redis_down(exc)
        finally:
            close_old_connections()

    # ------------------------------------------------------------ waiting: bells, or the database

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """Wait for a bell at most `WORK_POLL_SECONDS` at a time; between waits, run due work from the database.
        In burst mode (`timeout` None) return None once neither Redis nor the database has anything."""
        poll = max(0.1, float(settings.WORK_POLL_SECONDS))
        queues = self.queue_names()
        while True:
            if timeout is not None:  # a burst worker (tests, one-off runs) only drains what is due
                self._seed_periodic()
            result = None
            try:
                self.heartbeat()
                self.set_state(WorkerStatus.IDLE)
                wait = None if timeout is None else self._bell_wait(queues, poll)
                result = self.queue_class.dequeue_any(
                    self._ordered_queues,
                    wait,
                    connection=self.connection,
                    job_class=self.job_class,
                    serializer=self.serializer,
                    death_penalty_class=self.death_penalty_class,
                )
                self._redis_up()
            except DequeueTimeout:
                self._redis_up()
            except RedisError as exc:
                self._redis_down(exc)
            if result is not None:
                job, queue = result
                self.reorder_queues(reference_queue=queue)
                self.log.info("Worker %s: %s: %s", self.name, queue.name, job.id)
                return result
            ran = self._drain_database(queues)
            if self._stop_requested or (timeout is None and not ran):
                return None
            if not ran and self._redis_failing_since is not None:
                time.sleep(poll)  # Redis cannot wait for us: pace the database polls ourselves

    def _bell_wait(self, queues, poll: float) -> float:
        """How long to wait for a bell: the poll interval, or until the earliest work of these queues that was not
        due when this worker last looked falls due, if sooner (at least `WAIT_FLOOR_SECONDS`). Work requested for
        later (an order sync settling for `ORDER_SYNC_SETTLE_SECONDS`) rang its bell when it was requested: a drain
        then found nothing due, and no bell rings when it falls due."""
        try:
            due = kernel.next_due(queues, after=self._looked_at or NEVER)
        except DatabaseError as exc:
            self._database_failed(exc)
            return poll
        if due is None:
            return poll
        return min(poll, max(WAIT_FLOOR_SECONDS, (due - timezone.now()).total_seconds()))

    def _database_failed(self, exc: DatabaseError) -> None:
        """The database restarting, or a failover: RQ would quit on it. The work is still in the rows; the
        connections are dropped and the worker looks again at the next poll."""
        self.log.warning("Worker %s: the database failed (%s); looking again at the next poll", self.name, exc)
        connections.close_all()

    def _drain_database(self, queues) -> int:
        """Run due work straight from the database (no bell needed); the worker counts as busy meanwhile, so a
        SIGTERM lets the batch in hand finish."""
        self.set_state(WorkerStatus.BUSY)
        self._looked_at = timezone.now()
        try:
            close_old_connections()
            return kernel.drain(queues, worker=self.name, stop=stopping)
        except DatabaseError as exc:
            self._database_failed(exc)
            return 0
        finally:
            close_old_connections()
            self.set_state(WorkerStatus.IDLE)

    def _seed_periodic(self) -> None:
        now = time.monotonic()
        if self._seeded_at is not None and now - self._seeded_at < SEED_INTERVAL_SECONDS:
            return
        self._seeded_at = now
        try:
            kernel.ensure_periodic()
        except Exception:  # noqa: BLE001 - the database may be restarting: try again at the next seed
            self.log.exception("Worker %s: could not create the periodic work rows", self.name)
            self._seeded_at = None
