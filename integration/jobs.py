"""RQ jobs of the BigCommerce link. Jobs take ids, are idempotent and thin: the services do the work.

Each job's enqueue function declares its queue, deterministic job id, timeout and retry policy, so every caller
(the first attempt and a staff retry alike) queues it the same way.
"""

from __future__ import annotations

import django_rq
from rq import Retry, get_current_job

from integration.services.fulfillment_writeback import (
    WritebackOutcome,
    fulfillment_writeback_fail,
    fulfillment_writeback_run,
)
from pos.models import Fulfillment

# Seconds before each retry of a transient write-back failure (rate limit, 5xx, unreachable): ~42 minutes in all.
WRITEBACK_RETRY_INTERVALS = [30, 120, 600, 1800]
WRITEBACK_TIMEOUT_SECONDS = 120


class WritebackRetryLater(Exception):
    """Raised by the write-back job on a transient failure so that RQ's Retry schedules the next attempt."""


def fulfillment_writeback_job_id(fulfillment_id: int) -> str:
    return f"fulfillment-writeback-{fulfillment_id}"


def fulfillment_writeback_enqueue(fulfillment_id: int) -> None:
    """Queue the write-back of a completed fulfilment on the `default` queue (call it after commit)."""
    django_rq.get_queue("default").enqueue(
        fulfillment_writeback_job,
        fulfillment_id,
        job_id=fulfillment_writeback_job_id(fulfillment_id),
        job_timeout=WRITEBACK_TIMEOUT_SECONDS,
        retry=Retry(max=len(WRITEBACK_RETRY_INTERVALS), interval=WRITEBACK_RETRY_INTERVALS),
        description=f"Write fulfilment {fulfillment_id} back to BigCommerce",
    )


def fulfillment_writeback_job(fulfillment_id: int) -> str:
    """Send a completed fulfilment's shipment or Completed status to BigCommerce.

    Transient failures raise WritebackRetryLater while attempts remain (RQ retries with backoff); on the last
    attempt they are recorded as failed for staff to retry. An unexpected error on the last attempt is recorded
    too, and re-raised so RQ keeps its traceback.
    """
    fulfillment = Fulfillment.objects.filter(pk=fulfillment_id).first()
    if fulfillment is None:
        return "missing"
    job = get_current_job()
    final_attempt = job is None or not job.retries_left
    try:
        outcome = fulfillment_writeback_run(fulfillment=fulfillment, final_attempt=final_attempt)
    except Exception as exc:
        if final_attempt:
            fulfillment_writeback_fail(
                fulfillment=fulfillment,
                message=(
                    f"An error on our side stopped the write-back ({exc.__class__.__name__}). Retry below; if it "
                    f"fails again, contact support."
                ),
            )
        raise
    if outcome == WritebackOutcome.RETRYING:
        raise WritebackRetryLater(f"fulfilment {fulfillment_id}: transient BigCommerce failure, retrying")
    return str(outcome)
