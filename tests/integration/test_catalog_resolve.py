"""An order's lines find their POS products (`integration/services/catalog_resolve.py`): by link, then unique SKU, then
created and linked; a deleted product becomes a placeholder; large and empty orders."""

from __future__ import annotations

import pytest

from integration.choices import OrderSyncState
from integration.models import ProductLink, SyncLogEntry
from pos.choices import (
    ProductKind,
)
from tests import factories
from tests.sale_helpers import goods_units, online_sale, stock_out

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- lines and products


def test_products_resolve_by_link_then_unique_sku_then_are_created_and_linked(sandbox, link, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=3).id
    items = bc_client.get_order(order_id).products
    known_by_sku = factories.ProductFactory(retailer=link.retailer, sku=items[0].sku, name="Our own name")
    linked = factories.ProductFactory(retailer=link.retailer, sku=None)
    ProductLink.objects.create(
        link=link, product=linked, bc_product_id=items[1].product_id, bc_variant_id=items[1].variant_id
    )

    sync(order_id)

    products = {line.external_line_id: line.product for line in online_sale(order_id).lines.all()}
    assert products[str(items[0].id)] == known_by_sku
    assert products[str(items[1].id)] == linked
    created = products[str(items[2].id)]
    assert (created.created_by_link, created.needs_review, created.sku) == (True, True, items[2].sku or None)
    assert ProductLink.objects.filter(link=link, product=known_by_sku, bc_product_id=items[0].product_id).exists()
    assert ProductLink.objects.filter(link=link, product=created, bc_variant_id=items[2].variant_id).exists()


def test_a_line_whose_product_was_deleted_becomes_a_placeholder_and_the_order_still_syncs(sandbox, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    deleted = bc_client.get_order(order_id).products[0]
    sandbox.store.delete_product(deleted.product_id)

    assert sync(order_id).state == OrderSyncState.IMPORTED

    line = online_sale(order_id).lines.get(external_line_id=str(deleted.id))
    assert line.product.kind == ProductKind.PLACEHOLDER
    assert line.product.tracks_inventory is False
    assert SyncLogEntry.objects.filter(event="placeholder_created", bc_order_id=order_id).exists()


def test_an_order_without_any_linked_product_and_one_without_lines_both_sync(sandbox, sync):
    with_lines = sandbox.store.place_order(status_id=11, lines=4).id
    empty = sandbox.store.place_order(status_id=11, lines=0).id

    assert sync(with_lines).state == OrderSyncState.IMPORTED
    assert sync(empty).state == OrderSyncState.IMPORTED
    assert online_sale(empty).lines.exclude(product__kind__in=ProductKind.service_kinds()).count() == 0


def test_an_order_with_200_lines_is_complete(sandbox, sync, bc_client):
    order_id = sandbox.store.place_order(status_id=11, lines=200).id

    sync(order_id)

    sale = online_sale(order_id)
    assert sale.lines.exclude(product__kind__in=ProductKind.service_kinds()).count() == 200
    assert stock_out(sale) == goods_units(bc_client.get_order(order_id))
