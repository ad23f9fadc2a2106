"""The one RQ job of the kernel: a bell. Its worker drains the due work of the bell's queue from the database."""

from __future__ import annotations

from work import bell, kernel
from work.worker import stopping


def drain_job(queue: str) -> int:
    """Run due work of `queue` for up to `WORK_DRAIN_SECONDS` (the bell rings again if some is left)."""
    bell.taken(queue)
    return kernel.drain((queue,), stop=stopping)
