"""Putting jobs on the RQ queues: after commit, and never losing the request when Redis is unreachable.

The database is the source of truth for what must run (OrderSync.queued_at, WebhookEvent.enqueued_at,
HistoricalImport.state); Redis only carries the wake-up call. So a failed enqueue is logged and left for the
sweeper (`integration.jobs.intake_sweep_job`), never raised into a webhook response or a page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import cache

import django_rq
import redis
from django.conf import settings
from django.db import transaction
from redis.exceptions import RedisError

logger = logging.getLogger("integration.queueing")

QUEUE_WEBHOOKS = "webhooks"
QUEUE_DEFAULT = "default"
QUEUE_IMPORTS = "imports"


@cache
def _connection(url: str) -> redis.Redis:
    # One pooled client per process (django-rq builds a new one per call); short timeouts so a hung Redis
    # cannot hold a webhook response.
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)


def redis_connection() -> redis.Redis:
    """This process's pooled connection to the project's Redis (the one the queues use)."""
    return _connection(settings.RQ_QUEUES[QUEUE_DEFAULT]["URL"])


def get_queue(name: str):
    """The named RQ queue on this process's pooled connection. It enqueues at once: `enqueue_on_commit` is how
    this project defers to the commit (and handles an unreachable Redis), not django-rq's commit mode."""
    return django_rq.get_queue(name, connection=_connection(settings.RQ_QUEUES[name]["URL"]), commit_mode="auto")


def enqueue_now(queue: str, func: Callable | str, *args, job_id: str | None = None, **options) -> bool:
    """Enqueue immediately (one Redis round trip); False (and a warning in the log) when Redis cannot take it."""
    rq_queue = get_queue(queue)
    try:
        with rq_queue.connection.pipeline() as pipe:
            rq_queue.enqueue_call(
                func, args=args, job_id=job_id, result_ttl=options.pop("result_ttl", 0), pipeline=pipe, **options
            )
            pipe.execute()
    except RedisError as exc:
        logger.warning("could not enqueue %s on %s (%s); the sweeper will retry", job_id or func, queue, exc)
        return False
    return True


def enqueue_on_commit(
    queue: str,
    func: Callable | str,
    *args,
    job_id: str | None = None,
    on_success: Callable[[], None] | None = None,
    on_failure: Callable[[], None] | None = None,
    **options,
) -> None:
    """Enqueue once the current transaction commits; then `on_success` runs if Redis accepted the job,
    `on_failure` if it did not."""

    def _enqueue() -> None:
        callback = on_success if enqueue_now(queue, func, *args, job_id=job_id, **options) else on_failure
        if callback is not None:
            callback()

    transaction.on_commit(_enqueue)


def unique_job_id(prefix: str) -> str:
    """A job id that names what it is for and never collides with an earlier run of the same work."""
    return f"{prefix}-{time.time_ns() // 1000}"
