"""Drill 5: webhooks never delivered (no hook reaches us); one reconciliation cycle imports every order.

Test size 300 orders, `DRILL_SCALE=full` 3,000, synced by four worker processes after one `reconcile_run`.
"""

from __future__ import annotations

import time

import pytest

from integration.services.reconcile import reconcile_run
from integration.status_table import Outcome
from tests.drills.support import assert_pos_matches_store, expected_outcome, size

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.sandbox(orders=0)
def test_drill_5_without_webhooks_one_reconciliation_cycle_imports_every_order(sandbox, link, rq_workers, figures):
    orders = size(300, 3_000)
    order_ids = sandbox.store.place_orders(orders)
    for order_id in order_ids[::10]:
        sandbox.store.cancel_order(order_id)
    sandbox.store.request_log.clear()

    started = time.monotonic()
    report = reconcile_run(link=link)
    listed = time.monotonic() - started
    rq_workers(4)
    elapsed = time.monotonic() - started

    outcome = assert_pos_matches_store(sandbox.store, link, order_ids)
    counts = sandbox.store.request_log.counts()
    live = [oid for oid in order_ids if expected_outcome(sandbox.store, oid) != Outcome.SKIP]
    figures.add("orders never delivered by webhook", f"{orders:,}")
    figures.add(
        "reconciliation: checked / requested / error",
        f"{report.checked:,} / {report.requested:,} / {report.error or '-'}",
    )
    figures.add("list calls / GET order calls", f"{counts.get('list_orders', 0)} / {counts.get('get_order', 0):,}")
    figures.add("listing took / all synced after (4 workers)", f"{listed:.1f} s / {elapsed:.1f} s")
    figures.add("POS outcome", dict(outcome))
    assert report.error == ""
    assert set(report.missed) >= set(live)
