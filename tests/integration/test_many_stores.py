"""Many stores on one deployment: a store with a backlog never holds up a store with one new order (issue 18).
Two retailers linked to two stores of one sandbox process, real PostgreSQL, the kernel's own claim and run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integration.choices import OrderSyncState
from integration.models import OrderSync
from integration.services.historical_import import IMPORT
from integration.services.order_sync import ORDER_SYNC, order_sync_request
from tests import factories
from work import kernel

pytestmark = pytest.mark.django_db


def _link(retailer, sandbox, store):
    return factories.StoreLinkFactory(
        retailer=retailer,
        store_hash=store.settings.store_hash,
        store_id=str(store.settings.store_id),
        access_token=store.settings.access_token,
        api_base_url=sandbox.url,
        linked_at=timezone.now() - timedelta(hours=1),
    )


@pytest.mark.sandbox(orders=0)
def test_the_quiet_stores_order_is_applied_before_the_backlog_drains(sandbox, retailer, other_retailer):
    noisy_store, quiet_store = sandbox.store, sandbox.add_stores(1)[0]
    noisy, quiet = _link(retailer, sandbox, noisy_store), _link(other_retailer, sandbox, quiet_store)
    backlog = noisy_store.place_orders(120, status_id=11)  # a flash sale: 120 webhooks, then one quiet order
    for order_id in backlog:
        order_sync_request(link=noisy, bc_order_id=order_id)
    (quiet_order,) = quiet_store.place_orders(1, status_id=11)
    order_sync_request(link=quiet, bc_order_id=quiet_order)

    noisy_done_when_quiet_was_applied = None
    while (batch := kernel.claim(only={ORDER_SYNC, IMPORT}, worker="the-only-worker")) is not None:
        kernel.run(batch)
        quiet_sync = OrderSync.objects.get(link=quiet, bc_order_id=quiet_order)
        if noisy_done_when_quiet_was_applied is None and quiet_sync.state == OrderSyncState.IMPORTED:
            noisy_done_when_quiet_was_applied = OrderSync.objects.filter(
                link=noisy, state=OrderSyncState.IMPORTED
            ).count()

    assert quiet_sync.sale is not None and quiet_sync.sale.retailer == other_retailer
    assert noisy_done_when_quiet_was_applied <= 50  # at most one batch of the backlog went first
    assert OrderSync.objects.filter(link=noisy, state=OrderSyncState.IMPORTED).count() == 120  # then it drained
    assert sum(quiet_store.request_log.counts().values()) >= 1  # fetched from its own store, on its own quota
