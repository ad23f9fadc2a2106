"""Drill 3: a worker killed with SIGKILL in the middle of a sync.

The worker is killed while its apply transaction is open (caught by watching PostgreSQL's pg_stat_activity), with
more syncs queued behind it. Outcome: no partial sale (PostgreSQL rolled the batch back), the orders of the killed
batch are found by the sweeper once their claim is older than `LOST_AFTER` (RQ itself only moves the abandoned job
to its failed registry: it has no retry, and a rerun would find nothing to claim), and every order ends in its
expected state with the ledger equal to every level.

The historical-import half of the drill waits for the HistoricalImport job (issue #7), not on main yet.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from rq.registry import FailedJobRegistry, StartedJobRegistry

from integration.choices import OrderSyncState
from integration.jobs import LOST_AFTER, intake_sweep_job
from integration.models import OrderSync
from integration.queueing import QUEUE_WEBHOOKS, get_queue
from pos.models import InventoryMovement, Sale, SaleLine
from tests.drills.support import (
    assert_ledger_equals_levels,
    assert_pos_matches_store,
    request_syncs,
    size,
    time_passes,
    wait_until,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def apply_in_progress() -> bool:
    """Another connection to this database is inside a transaction writing sales (the batch apply)."""
    tables = [Sale._meta.db_table, SaleLine._meta.db_table, InventoryMovement._meta.db_table]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND xact_start IS NOT NULL AND (" + " OR ".join(["query ILIKE %s"] * len(tables)) + ")",
            [f"%{t}%" for t in tables],
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.sandbox(orders=0)
def test_drill_3_a_worker_killed_mid_apply_loses_nothing_and_its_orders_are_recovered(
    sandbox, link, rq_worker_pool, rq_workers, figures
):
    orders = size(150, 1_000)
    order_ids = sandbox.store.place_orders(orders, lines=12, status_id=11)
    request_syncs(link, order_ids)

    rq_worker_pool.start(1)
    waited = wait_until(apply_in_progress, timeout=60, what="a batch apply to start", interval=0.002)
    rq_worker_pool.kill(0)
    killed_at = time.monotonic()

    # No partial sale: what committed is whole, the killed batch left nothing.
    imported = OrderSync.objects.filter(link=link, state=OrderSyncState.IMPORTED).count()
    assert Sale.objects.count() == imported
    assert not InventoryMovement.objects.filter(sale__isnull=True).exists()
    assert not Sale.objects.filter(lines__isnull=True).exists()
    assert_ledger_equals_levels(link)
    done_before = [oid for oid in order_ids if OrderSync.objects.filter(link=link, bc_order_id=oid, state="imported")]
    assert_pos_matches_store(sandbox.store, link, done_before)

    # The rest of the queue runs; the killed batch's orders stay claimed and unfinished.
    rq_workers(2)
    abandoned = OrderSync.objects.filter(link=link, queued_at__isnull=True, updated_at__lt=F("last_attempt_at")).count()
    assert abandoned > 0
    started = StartedJobRegistry(queue=get_queue(QUEUE_WEBHOOKS))
    started.cleanup(timestamp=time.time() + 3600)  # what RQ does once the dead job's timeout has passed
    failed = FailedJobRegistry(queue=get_queue(QUEUE_WEBHOOKS)).count
    assert intake_sweep_job() == 0  # not before LOST_AFTER: a slow batch is not a dead one

    time_passes(LOST_AFTER + timedelta(minutes=1))
    requeued = intake_sweep_job()
    rq_workers(2)
    recovered_in = time.monotonic() - killed_at

    outcome = assert_pos_matches_store(sandbox.store, link, order_ids)
    figures.add("orders (12 lines each)", f"{orders:,}")
    figures.add("killed after / inside the apply transaction", f"{waited:.2f} s / yes")
    figures.add("orders imported before the kill", imported)
    figures.add("orders left claimed by the dead worker", abandoned)
    figures.add("RQ: abandoned job moved to the failed registry", failed)
    figures.add("sweeper re-queued (after LOST_AFTER)", requeued)
    figures.add("POS outcome", dict(outcome))
    figures.add("kill to all imported (test clock; production adds LOST_AFTER)", f"{recovered_in:.1f} s")
    assert requeued == abandoned
    assert failed == 1
