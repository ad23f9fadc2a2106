"""The demo data builder (`pos.services.demo`, `manage.py demo_seed`): a catalog that shares its SKUs and prices
with the demo's sandbox store (but for a few web-only items), logins, opening stock once, restocking what sold low."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from pos.choices import MovementReason
from pos.models import InventoryLevel, InventoryMovement, Outlet, Product, User
from pos.services.demo import CATALOG, OPENING_STOCK, RESTOCK_BELOW, WEB_ONLY_SKUS, demo_retailer_ensure
from pos.services.stock import StockMove, stock_move_many
from sandbox.catalog import DELETED_PRODUCT_INDEXES, FIRST_PRODUCT_ID, build_catalog
from sandbox.records import UNITS

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def _sandbox_items() -> dict[str, Decimal]:
    """SKU -> price of every item the demo's sandbox store sells (its live products' variants)."""
    deleted = {FIRST_PRODUCT_ID + i for i in DELETED_PRODUCT_INDEXES}
    return {
        v.sku: Decimal(v.price if v.price is not None else p.price) / UNITS
        for p in build_catalog(0)
        if p.id not in deleted
        for v in p.variants
    }


def test_the_demo_catalog_sells_what_the_sandbox_store_sells_at_its_prices_but_the_web_only_items():
    items = _sandbox_items()
    demo = {sku: Decimal(price) for _, sku, price, _ in CATALOG}
    shared = set(items) & set(demo)
    assert set(items) - shared == set(WEB_ONLY_SKUS)  # each web-only item creates a product on its first sale
    assert {sku: demo[sku] for sku in shared} == {sku: items[sku] for sku in shared}
    assert len(set(demo) - set(items)) == 2  # sold in the shop only


def test_the_demo_is_built_once_with_opening_stock_and_logins():
    demo_retailer_ensure(now=NOW)
    demo_retailer_ensure(now=NOW + timedelta(hours=1))

    retailer = demo_retailer_ensure(now=NOW + timedelta(hours=2)).retailer
    assert Product.objects.filter(retailer=retailer).count() == len(CATALOG)
    levels = dict(InventoryLevel.objects.filter(retailer=retailer).values_list("outlet__name", "on_hand").distinct())
    assert levels == OPENING_STOCK
    support = User.objects.get(username="demo-support")
    assert support.is_support and support.is_staff and support.is_superuser
    assert User.objects.get(username="demo-admin").check_password("demo-admin-pass")


def test_what_sold_low_is_restocked_to_its_opening_level_once_an_hour():
    retailer = demo_retailer_ensure(now=NOW).retailer
    downtown = Outlet.objects.get(retailer=retailer, name="Downtown")
    tent, stove = Product.objects.get(sku="TENT-2P"), Product.objects.get(sku="STOVE")
    sold = OPENING_STOCK["Downtown"] - RESTOCK_BELOW + 1
    stock_move_many(
        retailer_id=retailer.pk,
        moves=[
            StockMove(tent.pk, downtown.pk, -sold, MovementReason.SALE, "t:tent"),
            StockMove(stove.pk, downtown.pk, -(sold - 2), MovementReason.SALE, "t:stove"),  # not below the line
        ],
    )

    demo_retailer_ensure(now=NOW + timedelta(minutes=5))
    demo_retailer_ensure(now=NOW + timedelta(minutes=10))  # the same hour: nothing more

    on_hand = dict(InventoryLevel.objects.filter(outlet=downtown).values_list("product__sku", "on_hand"))
    assert on_hand["TENT-2P"] == OPENING_STOCK["Downtown"]
    assert on_hand["STOVE"] == OPENING_STOCK["Downtown"] - sold + 2
    deliveries = InventoryMovement.objects.filter(source_key__contains=":restock:")
    assert list(deliveries.values_list("product__sku", "quantity")) == [("TENT-2P", sold)]
