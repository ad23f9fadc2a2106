"""The catalog match report against the sandbox store over HTTP: each outcome, the stock of mapped locations, and
the calls it costs (one per 250 products with their variants, only the fields needed)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integration.exceptions import ApiServerError
from integration.services.catalog_match import catalog_match
from pos.models import Product
from tests import factories
from tests.fixtures_catalog import receive

pytestmark = [pytest.mark.django_db, pytest.mark.sandbox(orders=0)]


def _product(sandbox, sku: str):
    return next(p for p in sandbox.store.live_products() if p.sku == sku)


def _bc_stock(sandbox, sku: str, quantity: int, location_id: int = 1) -> None:
    product = _product(sandbox, sku)
    sandbox.store.set_inventory_absolute([{"location_id": location_id, "product_id": product.id, "quantity": quantity}])


def _match(retailer, outlet, sandbox, bc_client):
    return catalog_match(retailer=retailer, store_hash=sandbox.store_hash, outlet=outlet, client=bc_client)


def _skus(section) -> set[str]:
    return {row.item.sku for row in section.rows}


def test_each_item_lands_in_one_outcome_as_its_first_sale_would_resolve_it(retailer, outlet, sandbox, bc_client):
    store = sandbox.store
    sunglasses = _product(sandbox, "SUN")
    store.update_variant(sunglasses.id, sunglasses.variants[0].id, {"sku": "CARA"})  # two items, one SKU
    factories.ProductFactory(retailer=retailer, sku="STOVE", retail_price=Decimal("89.00"))
    factories.ProductFactory(retailer=retailer, sku="COMPASS", retail_price=Decimal("25.00"))
    factories.ProductFactory(retailer=retailer, sku="dj-s")  # differs from BigCommerce's DJ-S only in case
    factories.ProductFactory(retailer=retailer, sku="FLASK-STEEL")
    factories.ProductFactory(retailer=retailer, sku="flask-steel")  # two POS products, one SKU apart from case

    report = _match(retailer, outlet, sandbox, bc_client)

    live_items = sum(len(p.variants) for p in store.live_products())
    assert report.items == live_items
    assert report.matched.count + report.created.count + report.collisions.count == live_items
    assert _skus(report.matched) == {"STOVE", "COMPASS"}
    assert _skus(report.collisions) == {"CARA", "DJ-S", "FLASK-STEEL"}
    reasons = {row.item.sku: row.reason for row in report.collisions.rows}
    assert "2 BigCommerce items have this SKU" in reasons["CARA"]
    assert "differs only in case" in reasons["DJ-S"]
    assert "apart from case" in reasons["FLASK-STEEL"]
    assert not report.clean
    created = {row.item.name: row.reason for row in report.created.rows}
    assert created["Gift Card Envelope"].startswith("No SKU")
    assert created["Down Jacket · Size M"] == "Not in the POS."
    assert [(row.item.sku, row.item.price, row.product.retail_price) for row in report.prices.rows] == [
        ("COMPASS", Decimal("22.00"), Decimal("25.00"))
    ]


def test_an_item_already_linked_matches_by_its_link_whatever_its_sku(
    retailer, outlet, sandbox, bc_client, sandbox_link
):
    tent = _product(sandbox, "TENT-2P")
    pos_tent = factories.ProductFactory(retailer=retailer, sku="TENT-OLD", retail_price=Decimal("329.00"))
    factories.ProductLinkFactory(
        link=sandbox_link, product=pos_tent, bc_product_id=tent.id, bc_variant_id=tent.variants[0].id
    )
    report = _match(retailer, outlet, sandbox, bc_client)
    assert [(row.item.sku, row.product) for row in report.matched.rows] == [("TENT-2P", pos_tent)]
    assert report.clean


def test_stock_is_compared_at_the_default_location_for_a_first_link(retailer, outlet, sandbox, bc_client):
    stove = factories.ProductFactory(retailer=retailer, sku="STOVE", retail_price=Decimal("89.00"))
    compass = factories.ProductFactory(retailer=retailer, sku="COMPASS", retail_price=Decimal("22.00"))
    receive(stove, outlet, 5, "t:stove")
    receive(compass, outlet, 3, "t:compass")
    _bc_stock(sandbox, "STOVE", 5)
    _bc_stock(sandbox, "COMPASS", 7)
    report = _match(retailer, outlet, sandbox, bc_client)
    assert report.locations == [(outlet.name, "Default location")]
    assert report.locations_unmapped == 1  # the sandbox's second location
    assert [(r.item.sku, r.outlet, r.bigcommerce, r.pos) for r in report.stock.rows] == [("COMPASS", outlet.name, 7, 3)]


def test_a_relink_compares_stock_at_every_location_the_store_was_mapped_to(
    retailer, outlet, sandbox, bc_client, sandbox_link
):
    warehouse = factories.OutletFactory(retailer=retailer, name="Warehouse")
    factories.OutletLocationFactory(link=sandbox_link, outlet=outlet, location_id=1)
    factories.OutletLocationFactory(link=sandbox_link, outlet=warehouse, location_id=2)
    stove = factories.ProductFactory(retailer=retailer, sku="STOVE", retail_price=Decimal("89.00"))
    receive(stove, outlet, 4, "t:stove:1")
    receive(stove, warehouse, 9, "t:stove:2")
    _bc_stock(sandbox, "STOVE", 4)
    _bc_stock(sandbox, "STOVE", 2, location_id=2)
    report = _match(retailer, outlet, sandbox, bc_client)
    assert report.locations == [(outlet.name, "Default location"), ("Warehouse", "Warehouse Nord")]
    assert [(r.location, r.bigcommerce, r.pos) for r in report.stock.rows] == [("Warehouse Nord", 2, 9)]


def test_a_large_catalog_costs_one_call_per_250_products_with_only_the_fields_needed(
    retailer, outlet, sandbox, bc_client
):
    sandbox.store.add_products(600)
    factories.ProductFactory(retailer=retailer, sku="STOVE")
    sandbox.store.request_log.clear()
    report = _match(retailer, outlet, sandbox, bc_client)
    products = len(sandbox.store.live_products())
    assert report.items > products  # variants counted one by one
    records = sandbox.store.request_log.records()
    catalog = [r for r in records if r.path.endswith("/v3/catalog/products")]
    assert len(catalog) == -(-products // 250)
    assert all("include_fields=" in r.query and "include=variants" in r.query for r in catalog)
    assert len(records) == len(catalog) + 1  # and the locations
    assert report.created.count == report.items - 1 and len(report.created.rows) == 50


def test_nothing_is_written(retailer, outlet, sandbox, bc_client):
    factories.ProductFactory(retailer=retailer, sku="STOVE")
    before = list(Product.objects.values_list("pk", "sku", "retail_price"))
    _match(retailer, outlet, sandbox, bc_client)
    assert list(Product.objects.values_list("pk", "sku", "retail_price")) == before


def test_a_store_that_cannot_be_read_raises_the_clients_error(retailer, outlet, sandbox, bc_client):
    sandbox.store.faults.add(kind="error", path_contains="/v3/catalog/products", status=500, times=10)
    with pytest.raises(ApiServerError):
        _match(retailer, outlet, sandbox, bc_client)
