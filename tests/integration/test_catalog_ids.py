"""The per-store cache of catalog product ids: a deleted product is told from a new one without an API call."""

from __future__ import annotations

import pytest

from integration.services.catalog_ids import CATALOG_IDS, catalog_ids_add, catalog_ids_missing, catalog_ids_refresh
from integration.services.order_sync import deleted_products
from work import registry
from work.models import WorkItem

pytestmark = pytest.mark.django_db


def test_a_refresh_reads_every_product_id_of_the_store(sandbox, sandbox_link, bc_client):
    count = catalog_ids_refresh(link=sandbox_link, client=bc_client)

    live = {p.id for p in sandbox.store.live_products()}
    assert count == len(live)
    assert catalog_ids_missing(link=sandbox_link, ids=[*live, 999_999]) == [999_999]


def test_without_a_list_every_id_is_asked_about_and_a_refresh_is_requested_first(sandbox_link):
    assert catalog_ids_missing(link=sandbox_link, ids=[5, 3]) == [3, 5]

    [work] = WorkItem.objects.filter(kind=CATALOG_IDS)
    assert (work.key, work.state) == (str(sandbox_link.pk), "due")
    assert work.priority < registry.get("bc.order_sync").priority  # before the orders that need it


def test_products_seen_to_exist_are_added_only_to_a_complete_list(sandbox_link, sandbox, bc_client):
    catalog_ids_add(link=sandbox_link, ids=[424242])
    assert catalog_ids_missing(link=sandbox_link, ids=[424242]) == [424242]  # no list yet: nothing was kept

    catalog_ids_refresh(link=sandbox_link, client=bc_client)
    catalog_ids_add(link=sandbox_link, ids=[424242])

    assert catalog_ids_missing(link=sandbox_link, ids=[424242]) == []


def test_with_the_list_a_deleted_product_costs_one_call_and_a_new_one_none(sandbox, sandbox_link, bc_client):
    order = bc_client.get_order(sandbox.store.place_order(status_id=11, lines=2).id)
    gone, kept = order.products[0], order.products[1]
    catalog_ids_refresh(link=sandbox_link, client=bc_client)
    sandbox.store.delete_product(gone.product_id)
    sandbox.store.request_log.clear()

    deleted = deleted_products(client=bc_client, link=sandbox_link, items=[kept])
    assert deleted == frozenset() and sandbox.store.request_log.counts() == {}

    catalog_ids_refresh(link=sandbox_link, client=bc_client)  # the daily refresh sees the deletion
    sandbox.store.request_log.clear()
    assert deleted_products(client=bc_client, link=sandbox_link, items=[gone]) == {gone.product_id}
    assert sandbox.store.request_log.counts() == {"list_products": 1}
