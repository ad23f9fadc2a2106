"""pos.services.catalog: create, edit, accept and merge products."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Sum

from integration.models import ProductLink
from pos.choices import AuditAction, MovementReason, ProductKind
from pos.models import AuditEntry, InventoryLevel, InventoryMovement, Product, SaleLine
from pos.services.catalog import product_accept, product_create, product_merge, product_update
from pos.services.stock import StockMove, stock_move_many
from tests import factories

pytestmark = pytest.mark.django_db


def _receive(product, outlet, quantity, key):
    stock_move_many(
        retailer_id=product.retailer_id,
        moves=[StockMove(product.pk, outlet.pk, quantity, MovementReason.RECEIVED, key)],
    )


def _ledger_matches_levels(*products) -> None:
    for product in products:
        for level in InventoryLevel.objects.filter(product=product):
            moved = InventoryMovement.objects.filter(product=product, outlet=level.outlet).aggregate(s=Sum("quantity"))
            assert level.on_hand == (moved["s"] or 0), (product, level.outlet)


# ---------------------------------------------------------------- create and update


def test_create_adds_a_product_and_audits_it(retailer, admin_user):
    product = product_create(
        retailer=retailer,
        name="  Trail Shoe ",
        sku=" TS-1 ",
        retail_price=Decimal("129.00"),
        supply_price=Decimal("58.00"),
        acting_user=admin_user,
    )

    product.refresh_from_db()
    assert (product.name, product.sku, product.retail_price, product.tracks_inventory) == (
        "Trail Shoe",
        "TS-1",
        Decimal("129.0000"),
        True,
    )
    entry = AuditEntry.objects.get(action=AuditAction.PRODUCT_CREATED)
    assert (entry.actor, entry.retailer, entry.detail["sku"]) == (admin_user, retailer, "TS-1")


def test_a_blank_sku_is_stored_as_none_and_many_products_may_have_none(retailer):
    first = product_create(retailer=retailer, name="Gift card", sku="  ")
    second = product_create(retailer=retailer, name="Repair", sku="")

    assert first.sku is None and second.sku is None


def test_a_sku_is_unique_per_retailer_with_a_clear_message(retailer, other_retailer):
    factories.ProductFactory(retailer=retailer, name="Trail Shoe", sku="TS-1")
    factories.ProductFactory(retailer=other_retailer, sku="TS-2")

    with pytest.raises(ValidationError) as error:
        product_create(retailer=retailer, name="Another", sku="TS-1")

    assert error.value.message_dict["sku"] == [
        "SKU “TS-1” is already used by “Trail Shoe”. Each product needs its own SKU."
    ]
    assert product_create(retailer=retailer, name="Fine elsewhere", sku="TS-2").sku == "TS-2"


def test_update_refuses_another_products_sku_but_keeps_its_own(retailer):
    factories.ProductFactory(retailer=retailer, name="Taken", sku="A")
    product = factories.ProductFactory(retailer=retailer, sku="B")

    assert product_update(product=product, sku="B", name="Renamed") == ["name"]
    with pytest.raises(ValidationError) as error:
        product_update(product=product, sku="A")

    assert "already used by “Taken”" in error.value.message_dict["sku"][0]
    product.refresh_from_db()
    assert product.sku == "B"


@pytest.mark.parametrize("field", ["retail_price", "supply_price"])
def test_prices_cannot_be_negative(retailer, field):
    with pytest.raises(ValidationError) as error:
        product_create(retailer=retailer, name="Sock", **{field: Decimal("-0.01")})

    assert error.value.message_dict[field] == ["Prices cannot be negative."]
    assert not Product.objects.exists()


def test_a_name_is_required(retailer):
    with pytest.raises(ValidationError) as error:
        product_create(retailer=retailer, name="   ")

    assert "name" in error.value.message_dict


@pytest.mark.parametrize("kind", ProductKind.service_kinds())
def test_service_kinds_never_track_stock(retailer, kind):
    with pytest.raises(ValidationError) as error:
        product_create(retailer=retailer, name="Shipping", kind=kind, tracks_inventory=True)
    assert "tracks_inventory" in error.value.message_dict

    product = product_create(retailer=retailer, name="Shipping", kind=kind, tracks_inventory=False)
    with pytest.raises(ValidationError):
        product_update(product=product, tracks_inventory=True)


def test_turning_a_standard_product_into_a_charge_requires_turning_off_stock_tracking(retailer):
    product = factories.ProductFactory(retailer=retailer, tracks_inventory=True)

    with pytest.raises(ValidationError):
        product_update(product=product, kind=ProductKind.SHIPPING)
    assert product_update(product=product, kind=ProductKind.SHIPPING, tracks_inventory=False) == [
        "kind",
        "tracks_inventory",
    ]


def test_a_price_change_is_audited_with_before_and_after(retailer, admin_user):
    product = factories.ProductFactory(retailer=retailer, retail_price=Decimal("10.0000"))

    changed = product_update(product=product, retail_price=Decimal("12.50"), acting_user=admin_user)

    assert changed == ["retail_price"]
    product.refresh_from_db()
    assert product.retail_price == Decimal("12.5000")
    entry = AuditEntry.objects.get(action=AuditAction.PRODUCT_UPDATED)
    assert entry.detail["changes"] == {"retail_price": ["10.0000", "12.50"]}
    assert entry.actor == admin_user


def test_an_update_that_changes_nothing_writes_nothing(retailer):
    product = factories.ProductFactory(retailer=retailer, name="Sock")

    assert product_update(product=product, name="Sock ") == []
    assert not AuditEntry.objects.exists()


def test_update_refuses_fields_that_are_not_editable(retailer):
    product = factories.ProductFactory(retailer=retailer)

    with pytest.raises(TypeError):
        product_update(product=product, retailer=None)


# ---------------------------------------------------------------- review queue


def test_accept_clears_needs_review_once(retailer, admin_user):
    product = factories.ProductFactory(retailer=retailer, created_by_link=True, needs_review=True)

    product_accept(product=product, acting_user=admin_user)
    product_accept(product=product, acting_user=admin_user)

    product.refresh_from_db()
    assert product.needs_review is False and product.created_by_link is True
    assert AuditEntry.objects.filter(action=AuditAction.PRODUCT_ACCEPTED).count() == 1


def test_merge_moves_links_sale_lines_and_stock_and_keeps_the_ledger_equal_to_levels(retailer, admin_user):
    main, backroom = factories.OutletFactory.create_batch(2, retailer=retailer)
    link = factories.StoreLinkFactory(retailer=retailer)
    target = factories.ProductFactory(retailer=retailer, name="Trail Shoe", sku="TS-1")
    source = factories.ProductFactory(retailer=retailer, sku="BC-77", created_by_link=True, needs_review=True)
    factories.ProductLinkFactory(link=link, product=source, bc_product_id=77)
    line = factories.SaleLineFactory(sale__retailer=retailer, product=source, quantity=2)
    _receive(target, main, 10, "t:main")
    _receive(source, main, 3, "s:main")
    _receive(source, backroom, -2, "s:back")  # oversold online before anyone noticed

    result = product_merge(source=source, target=target, acting_user=admin_user)

    assert (result.links_moved, result.sale_lines_moved, result.source_deleted) == (1, 1, False)
    assert result.stock_moved == {main.pk: 3, backroom.pk: -2}
    assert ProductLink.objects.get(bc_product_id=77).product == target
    assert SaleLine.objects.get(pk=line.pk).product == target
    levels = dict(InventoryLevel.objects.filter(product=target).values_list("outlet_id", "on_hand"))
    assert levels == {main.pk: 13, backroom.pk: -2}
    assert set(InventoryLevel.objects.filter(product=source).values_list("on_hand", flat=True)) == {0}
    _ledger_matches_levels(source, target)
    merge_moves = InventoryMovement.objects.filter(reason=MovementReason.MERGE)
    assert sorted(merge_moves.values_list("source_key", flat=True)) == sorted(
        f"pos:merge:{source.pk}:{target.pk}:{outlet.pk}:{side}" for outlet in (main, backroom) for side in ("in", "out")
    )
    assert set(merge_moves.values_list("user", flat=True)) == {admin_user.pk}
    source.refresh_from_db()
    assert (source.active, source.needs_review, source.merged_into, source.sku) == (False, False, target, None)
    entry = AuditEntry.objects.get(action=AuditAction.PRODUCT_MERGED)
    assert entry.detail["source_id"] == source.pk and entry.detail["links_moved"] == 1


def test_merging_a_product_without_history_deletes_it(retailer):
    link = factories.StoreLinkFactory(retailer=retailer)
    target = factories.ProductFactory(retailer=retailer)
    source = factories.ProductFactory(retailer=retailer, needs_review=True)
    factories.ProductLinkFactory(link=link, product=source)

    result = product_merge(source=source, target=target)

    assert result.source_deleted is True
    assert not Product.objects.filter(pk=source.pk).exists()
    assert ProductLink.objects.get().product == target


def test_a_product_cannot_be_merged_twice_or_into_itself(retailer):
    outlet = factories.OutletFactory(retailer=retailer)
    target = factories.ProductFactory(retailer=retailer)
    source = factories.ProductFactory(retailer=retailer)
    _receive(source, outlet, 1, "s:1")
    product_merge(source=source, target=target)

    with pytest.raises(ValidationError, match="already been merged"):
        product_merge(source=source, target=target)
    with pytest.raises(ValidationError, match="into itself"):
        product_merge(source=target, target=target)
    assert InventoryLevel.objects.get(product=target).on_hand == 1


def test_merge_refuses_another_retailers_product_an_inactive_target_and_goods_into_charges(retailer, other_retailer):
    source = factories.ProductFactory(retailer=retailer)

    with pytest.raises(ValidationError, match="same retailer"):
        product_merge(source=source, target=factories.ProductFactory(retailer=other_retailer))
    with pytest.raises(ValidationError, match="inactive"):
        product_merge(source=source, target=factories.ProductFactory(retailer=retailer, active=False))
    charge = factories.ProductFactory(retailer=retailer, kind=ProductKind.SHIPPING, tracks_inventory=False)
    with pytest.raises(ValidationError, match="charge"):
        product_merge(source=source, target=charge)
    assert Product.objects.filter(pk=source.pk, merged_into=None).exists()


def test_a_second_shipping_product_is_refused_with_a_clear_message(retailer, admin_user):
    factories.ProductFactory(
        retailer=retailer, name="Shipping", sku=None, kind=ProductKind.SHIPPING, tracks_inventory=False
    )
    product = factories.ProductFactory(retailer=retailer)

    with pytest.raises(ValidationError) as excinfo:
        product_update(product=product, acting_user=admin_user, kind=ProductKind.SHIPPING, tracks_inventory=False)

    assert "already has a shipping product" in str(excinfo.value.message_dict["kind"])
