"""The doorbell: Redis and RQ tell a worker that work is due. They are never the record of it.

After a transaction that requested work commits, `ring_on_commit` puts one `work.jobs.drain_job` on the work's
RQ queue (one per queue per transaction, however much was requested). A worker taking it drains the database of
due work. A bell that is lost (Redis flushed, stopped, or refusing) loses nothing: every worker also looks at the
database itself every `WORK_POLL_SECONDS` while it waits (`work.worker.Worker`).

To keep a burst of 20,000 webhooks from queueing 20,000 jobs, a queue holds at most `WORK_BELL_CAP` bells not yet
taken: a counter in Redis, raised by each bell queued and lowered by each bell a worker takes, before it claims
anything. A bell refused because the cap is reached is not needed: those waiting bells' workers claim after this
commit, so they see the new work. The counter expires, so a drift (a bell lost with its counter kept) heals.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cache

import django_rq
import redis
from django.conf import settings
from django.db import transaction
from redis.exceptions import RedisError

logger = logging.getLogger("work.bell")

DRAIN_JOB = "work.jobs.drain_job"
PENDING_TTL_SECONDS = 30

# KEYS[1]: the queue's count of bells not yet taken. ARGV: cap, ttl. Returns 1 when a bell may be queued.
_ADMIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
    redis.call('DECR', KEYS[1])
    return 0
end
return 1
"""


@cache
def _connection(url: str) -> redis.Redis:
    # One pooled client per process (django-rq builds a new one per call); short timeouts so a hung Redis cannot
    # hold a webhook response.
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)


def redis_connection(queue: str = "default") -> redis.Redis:
    """This process's pooled connection to the project's Redis (the one the queues use)."""
    return _connection(settings.RQ_QUEUES[queue]["URL"])


def get_queue(name: str):
    """The named RQ queue on this process's pooled connection (enqueueing at once: callers choose the moment)."""
    return django_rq.get_queue(name, connection=redis_connection(name), commit_mode="auto")


def pending_key(queue: str) -> str:
    return f"work:bells:{queue}"


def ring(queues: Iterable[str]) -> int:
    """Queue a drain job on each queue that has room for one. Returns how many were queued; never raises."""
    queued = 0
    for queue in dict.fromkeys(queues):
        rq_queue = get_queue(queue)
        conn = rq_queue.connection
        try:
            if not conn.eval(_ADMIT, 1, pending_key(queue), settings.WORK_BELL_CAP, PENDING_TTL_SECONDS):
                continue
            with conn.pipeline() as pipe:
                rq_queue.enqueue_call(
                    DRAIN_JOB,
                    args=(queue,),
                    result_ttl=0,
                    failure_ttl=3600,
                    timeout=settings.WORK_DRAIN_SECONDS * 3 + 60,
                    description=f"Run due {queue} work",
                    pipeline=pipe,
                )
                pipe.execute()
            queued += 1
        except RedisError as exc:
            # Nothing is lost: the work is in the database and workers poll it.
            logger.info("bell for %s not rung (%s); workers will find the work by polling", queue, exc)
    return queued


def taken(queue: str) -> None:
    """A worker took a bell of `queue` (call before claiming, so a bell refused meanwhile is covered)."""
    try:
        conn = redis_connection(queue)
        if conn.decr(pending_key(queue)) < 0:
            conn.set(pending_key(queue), 0, ex=PENDING_TTL_SECONDS)
    except RedisError:
        pass


class _Bells:
    """The queues to ring once the transaction commits (one callback per transaction, however many requests)."""

    def __init__(self) -> None:
        self.queues: set[str] = set()

    def __call__(self) -> None:
        ring(sorted(self.queues))


def ring_on_commit(queue: str) -> None:
    """Ring `queue` once the current transaction commits (at once outside a transaction)."""
    conn = transaction.get_connection()
    if not conn.in_atomic_block:
        ring([queue])
        return
    for _, callback, _ in conn.run_on_commit:
        if isinstance(callback, _Bells):
            callback.queues.add(queue)
            return
    bells = _Bells()
    bells.queues.add(queue)
    transaction.on_commit(bells, robust=True)
