"""Regression: a write-back asked to run while its fulfilment row is held (a staff action committing, another
write-back's call) waits for the row; it used to skip it (`skip_locked`) and end, leaving the write-back pending
with no work left to send it."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection, connections

from integration.services.fulfillment_writeback import WritebackOutcome, fulfillment_writeback_run
from pos.choices import WritebackState
from pos.models import Fulfillment
from tests.concurrency import start_until_it_waits_on_a_lock
from tests.fixtures_fulfillment import FakeBigCommerce, complete

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="PostgreSQL's locks"),
]


def test_a_write_back_waits_for_its_fulfilment_row_instead_of_skipping_it(make_fulfillment, staff_user, link):
    # given a completed delivery whose write-back is pending, and its row held by another transaction
    fulfillment = complete(make_fulfillment(), staff_user)
    bigcommerce = FakeBigCommerce()
    outcomes: list = []

    def write_back():
        try:
            outcomes.append(fulfillment_writeback_run(fulfillment=fulfillment, client=bigcommerce))
        finally:
            connection.close()

    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT id FROM pos_fulfillment WHERE id = %s FOR UPDATE", [fulfillment.pk])
            # when the write-back runs meanwhile
            thread = start_until_it_waits_on_a_lock(write_back, cursor)
            waited = thread.is_alive()
    finally:
        holder.commit()
        holder.close()
    thread.join(30)

    # then it waited for the row rather than ending without sending anything
    assert waited, f"the write-back did not wait for its row: {outcomes}"

    # and once the row is free it sends the shipment
    assert outcomes == [WritebackOutcome.SUCCEEDED]
    assert len(bigcommerce.shipments) == 1
    assert Fulfillment.objects.get(pk=fulfillment.pk).writeback_state == WritebackState.SUCCEEDED
