"""The RQ worker class the product runs: `manage.py rqworker ... --worker-class integration.worker.SyncWorker`.

Jobs run in the worker process itself (RQ's SimpleWorker), not in a child forked per job: a fork, a fresh
database connection and a fresh HTTPS session to BigCommerce cost more than the sync of an order, and the warm
connections are what let one worker import well over a hundred orders a second. Isolation is kept where it
matters: every job is idempotent and its state lives in the database, so a worker that dies mid-job (even by
SIGKILL) loses nothing — the sweeper finds the order again. Between jobs, database connections are checked the
way Django checks them between requests, so a restarted PostgreSQL or an expired connection is replaced.
"""

from __future__ import annotations

from django.db import close_old_connections
from rq.worker import SimpleWorker


class SyncWorker(SimpleWorker):
    def perform_job(self, job, queue, execution) -> bool:
        close_old_connections()
        try:
            return super().perform_job(job, queue, execution)
        finally:
            close_old_connections()
