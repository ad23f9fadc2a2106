"""Nothing waits outside PostgreSQL while the sync holds its locks: the log lines of the sync log (and the kernel's
failure lines) are written to the Python log after the transaction that wrote them commits.

Writing a log line can block (a full stderr pipe, a stalled log collector). Written inside the apply transaction it
blocked while holding the store's customer-creation lock and the batch's OrderSync rows, and another worker waited
on that lock for as long as the write did, a wait PostgreSQL could not see (drill 5 hung until RQ's 120 s job
timeout). Each test records, from inside the log handler, what another connection can lock at that moment.
"""

from __future__ import annotations

import logging
import threading

import pytest
from django.db import connection, connections

from integration.models import OrderSync
from integration.services.catalog_resolve import LOCK_CUSTOMER_CREATE
from sandbox.faults import Fault
from tests.sale_helpers import online_sale

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _from_another_connection(sql: str, params: list) -> object:
    """The first column of `sql`'s first row, run by another thread on its own connection (another worker)."""
    result: list = []

    def run():
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
                result.append(row[0] if row else None)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return result[0]


class _Probe(logging.Handler):
    """Runs `probe(record)` for each record whose message contains `marker`, keeping the answers."""

    def __init__(self, marker: str, probe):
        super().__init__()
        self.marker, self.probe, self.answers = marker, probe, []

    def emit(self, record: logging.LogRecord) -> None:
        if self.marker in record.getMessage():
            self.answers.append(self.probe(record))


@pytest.fixture
def probe_log():
    added: list[tuple[logging.Logger, _Probe]] = []

    def install(logger_name: str, marker: str, probe) -> _Probe:
        handler = _Probe(marker, probe)
        logger = logging.getLogger(logger_name)
        logger.addHandler(handler)
        added.append((logger, handler))
        return handler

    yield install
    for logger, handler in added:
        logger.removeHandler(handler)


def test_while_a_new_customers_log_line_is_written_another_worker_can_create_customers(sandbox, link, sync, probe_log):
    order_id = sandbox.store.place_order(status_id=11, lines=1, guest=True).id

    def customer_lock_free(record) -> bool:
        sql = "SELECT pg_try_advisory_lock(%s, %s) AND pg_advisory_unlock(%s, %s)"
        return _from_another_connection(sql, [LOCK_CUSTOMER_CREATE, link.retailer_id] * 2)

    handler = probe_log("integration.sync", "customer_created", customer_lock_free)

    sync(order_id)

    assert online_sale(order_id).customer.created_by_link is True
    assert handler.answers == [True]


def test_while_a_failed_syncs_log_lines_are_written_its_rows_are_not_locked(sandbox, link, sync, probe_log):
    sandbox.store.faults.add(Fault("error", endpoint="get_order", status=500))
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sync_id = OrderSync.objects.create(link=link, bc_order_id=order_id).pk

    def rows_free(record) -> bool:
        # The OrderSync row (on_failure locks it) and the work row (the kernel updates it) are free to lock.
        sync_free = _from_another_connection(
            "SELECT count(*) FROM (SELECT 1 FROM integration_ordersync WHERE id = %s FOR UPDATE SKIP LOCKED) free",
            [sync_id],
        )
        work_free = _from_another_connection(
            "SELECT count(*) FROM (SELECT 1 FROM work_workitem WHERE key = %s FOR UPDATE SKIP LOCKED) free",
            [f"{link.pk}:{order_id}"],
        )
        return (sync_free, work_free) == (1, 1)

    kernel_lines = probe_log("work", f"{link.pk}:{order_id} failed", rows_free)
    sync_lines = probe_log("integration.sync", "sync_retrying", rows_free)

    sync(order_id)

    assert OrderSync.objects.get(pk=sync_id).state == "retrying"
    assert kernel_lines.answers == [True]
    assert sync_lines.answers == [True]
