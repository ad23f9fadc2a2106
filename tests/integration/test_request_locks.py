"""Requests for many orders lock their OrderSync rows in id order, as a sync's apply does, so the two never
deadlock. Drill 1 saw reconciliation (requesting order by order) and a worker's apply each hold a row the other
waited for; PostgreSQL aborted the apply."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from integration.models import OrderSync
from integration.services.order_sync import order_syncs_ensure
from integration.services.reconcile import ReconcileReport, _request_page
from tests.concurrency import start_until_it_waits_on_a_lock

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="PostgreSQL's locks"),
]


def test_reconciliation_locks_a_pages_order_syncs_in_id_order_as_an_apply_does(link):
    order_syncs_ensure(link=link, bc_order_ids=[301, 302])  # 301 gets the lower id
    low, high = OrderSync.objects.filter(link=link).order_by("pk")
    later = timezone.now() + timedelta(days=1)
    # BigCommerce lists the page newest first: the higher id comes first.
    page = [SimpleNamespace(id=o.bc_order_id, date_created=later, date_modified=later) for o in (high, low)]
    apply = connections.create_connection("default")  # a worker's apply, holding the lowest row of its batch
    apply.set_autocommit(False)
    done: list = []

    def reconcile():
        try:
            _request_page(link, page, ReconcileReport())
            done.append(True)
        finally:
            connection.close()

    with apply.cursor() as cursor:
        cursor.execute("SELECT id FROM integration_ordersync WHERE id = %s FOR UPDATE", [low.pk])
        thread = start_until_it_waits_on_a_lock(reconcile, cursor)
        assert thread.is_alive(), "reconciliation did not wait for the row the apply holds"
        # The apply goes on to the next row of its batch: reconciliation must not be holding it.
        cursor.execute("SELECT id FROM integration_ordersync WHERE id = %s FOR UPDATE NOWAIT", [high.pk])
        apply.commit()
    thread.join(30)
    apply.close()

    assert done == [True]
    assert sorted(OrderSync.objects.filter(link=link).values_list("refund_requests", flat=True)) == [1, 1]
