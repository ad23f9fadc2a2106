"""Many stores on one deployment: a store with a backlog never holds up a store with one new order (issue 18).
Two retailers linked to two stores of one sandbox process, real PostgreSQL, the kernel's own claim and run."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from integration.choices import ImportState, OrderSyncState
from integration.models import HistoricalImport, OrderSync
from integration.services.catalog_ids import catalog_ids_request
from integration.services.historical_import import (
    IMPORT,
    historical_import_start,
    historical_import_step,
    historical_import_switch_set,
    import_options,
)
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


@pytest.mark.sandbox(orders=30)
def test_an_import_step_gives_way_to_another_stores_order_waiting_for_a_worker(
    sandbox, sandbox_link, other_retailer, admin_user, support_user, run_jobs
):
    """Live orders go before import pages, whichever store they belong to: an import step of one store ends after
    its page in hand when another store's order has waited longer than `WORK_YIELD_AFTER_SECONDS` for a worker,
    and that order is applied before the import's next page."""
    quiet_store = sandbox.add_stores(1)[0]
    quiet = _link(other_retailer, sandbox, quiet_store)
    historical_import_switch_set(
        retailer=sandbox_link.retailer, enabled=True, reason="Migrating from another POS", acting_user=support_user
    )
    catalog_ids_request(link=sandbox_link)  # as linking does: the import's pages need no catalog read of their own
    run_jobs("webhooks")
    run = historical_import_start(link=sandbox_link, options=import_options(link=sandbox_link), acting_user=admin_user)
    (quiet_order,) = quiet_store.place_orders(1, status_id=11)
    with time_machine.travel(timezone.now() - timedelta(seconds=1), tick=False):  # no idle worker took it since
        order_sync_request(link=quiet, bc_order_id=quiet_order)

    assert historical_import_step(import_id=run.pk, page_size=10) == ImportState.RUNNING
    assert HistoricalImport.objects.get(pk=run.pk).seen == 10  # one page of its window of three, then it gave way

    following = kernel.claim(only={ORDER_SYNC, IMPORT}, worker="the-only-worker")
    assert following.kind.name == ORDER_SYNC and [i.key for i in following.items] == [f"{quiet.pk}:{quiet_order}"]
    kernel.run(following)
    quiet_sync = OrderSync.objects.get(link=quiet, bc_order_id=quiet_order)
    assert quiet_sync.state == OrderSyncState.IMPORTED and quiet_sync.sale.retailer == other_retailer
    assert HistoricalImport.objects.get(pk=run.pk).seen == 10  # applied before the import's next page

    following = kernel.claim(only={ORDER_SYNC, IMPORT}, worker="the-only-worker")
    assert following.kind.name == IMPORT
    kernel.run(following)
    assert HistoricalImport.objects.get(pk=run.pk).seen == 30  # nothing waiting: the rest of its window
