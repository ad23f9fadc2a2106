"""Drill 3: a worker killed with SIGKILL in the middle of a sync.

The worker is killed while its apply transaction is open (caught by watching PostgreSQL's pg_stat_activity), with
more syncs requested behind it. Outcome: no partial sale (PostgreSQL rolled the batch back), the orders of the
killed batch are claimed again once their lease runs out (nothing extends it: its worker is dead), and every order
ends in its expected state with the ledger equal to every level. The historical-import half is
tests/integration/test_historical_import.py (a worker killed mid-run resumes from its cursor).
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection

from integration.choices import OrderSyncState
from integration.models import OrderSync
from integration.services.order_sync import ORDER_SYNC
from pos.models import InventoryMovement, Sale, SaleLine
from tests.drills.support import (
    assert_ledger_equals_levels,
    assert_pos_matches_store,
    request_syncs,
    size,
    time_passes,
    wait_until,
)
from work.models import WorkItem
from work.registry import get as work_kind

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
    waited = wait_until(apply_in_progress, timeout=120, what="a batch apply to start", interval=0.002)
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

    # The rest runs; the killed batch's orders stay leased to the dead worker, claimed by nobody else.
    rq_workers(2)
    abandoned = WorkItem.objects.filter(kind=ORDER_SYNC, lease_until__isnull=False).count()
    assert abandoned > 0
    assert OrderSync.objects.filter(link=link, state=OrderSyncState.IMPORTED).count() != orders

    time_passes(work_kind(ORDER_SYNC).lease + timedelta(seconds=1))  # the lease runs out
    rq_workers(2)
    recovered_in = time.monotonic() - killed_at

    outcome = assert_pos_matches_store(sandbox.store, link, order_ids)
    figures.add("orders (12 lines each)", f"{orders:,}")
    figures.add("killed after / inside the apply transaction", f"{waited:.2f} s / yes")
    figures.add("orders imported before the kill", imported)
    figures.add("orders left leased to the dead worker", abandoned)
    figures.add("POS outcome", dict(outcome))
    lease = work_kind(ORDER_SYNC).lease.total_seconds()
    figures.add(f"kill to all imported (test clock; production adds the {lease:.0f} s lease)", f"{recovered_in:.1f} s")
    assert not WorkItem.objects.filter(kind=ORDER_SYNC).exists()
