"""Pickups collected at a BigCommerce location mapped to another outlet: the link's setting says whose stock they
take (default: the linked outlet, as every online order; or the outlet mapped to the pickup location)."""

from __future__ import annotations

import pytest

from integration.choices import PickupStock
from integration.models import StoreLink, SyncLogEntry
from integration.services.link import LinkError, store_link_update_settings
from pos.models import InventoryMovement
from tests import factories
from tests.sale_helpers import online_sale, stock_out

pytestmark = [pytest.mark.django_db, pytest.mark.sandbox(locations=2)]


@pytest.fixture
def warehouse(link):
    """A second outlet, mapped to the store's second location ("Warehouse Nord"); the linked outlet to the first."""
    outlet = factories.OutletFactory(retailer=link.retailer, name="Warehouse")
    factories.OutletLocationFactory(link=link, outlet=link.outlet, location_id=1)
    factories.OutletLocationFactory(link=link, outlet=outlet, location_id=2)
    return outlet


def _outlets_moved(sale) -> set[int]:
    return set(InventoryMovement.objects.filter(sale=sale).values_list("outlet_id", flat=True))


def _choose(link, admin_user, pickup_stock: str) -> None:
    store_link_update_settings(
        link=link,
        outlet=link.outlet,
        register=link.register,
        default_payment_type=link.default_payment_type,
        acting_user=admin_user,
        pickup_stock=pickup_stock,
    )


def test_by_default_a_pickup_at_another_location_takes_the_linked_outlets_stock(sandbox, link, warehouse, sync):
    assert StoreLink.objects.get(pk=link.pk).pickup_stock == PickupStock.LINKED_OUTLET
    order_id = sandbox.store.place_order(status_id=8, lines=2, pickup=True, pickup_location=2).id

    sync(order_id)

    sale = online_sale(order_id)
    assert sale.outlet_id == link.outlet_id
    assert _outlets_moved(sale) == {link.outlet_id}
    assert not SyncLogEntry.objects.filter(event="order_pickup_outlet").exists()


def test_with_the_setting_a_pickup_takes_the_stock_of_the_outlet_mapped_to_its_location(
    sandbox, link, warehouse, sync, admin_user
):
    _choose(link, admin_user, PickupStock.PICKUP_OUTLET)
    elsewhere = sandbox.store.place_order(status_id=8, lines=2, pickup=True, pickup_location=2).id
    here = sandbox.store.place_order(status_id=8, lines=1, pickup=True).id
    shipped = sandbox.store.place_order(status_id=11, lines=1).id

    for order_id in (elsewhere, here, shipped):
        sync(order_id)

    sale = online_sale(elsewhere)
    assert sale.outlet_id == warehouse.pk
    assert _outlets_moved(sale) == {warehouse.pk}
    assert stock_out(sale) > 0
    assert _outlets_moved(online_sale(here)) == {link.outlet_id}
    assert _outlets_moved(online_sale(shipped)) == {link.outlet_id}
    [entry] = SyncLogEntry.objects.filter(event="order_pickup_outlet")
    assert entry.message == (
        f"Order {elsewhere} is collected at Warehouse Nord: its stock is taken from Warehouse, the outlet mapped to "
        "that location, as Settings › BigCommerce asks."
    )


def test_a_pickup_at_an_unmapped_location_takes_the_linked_outlets_stock(sandbox, link, sync, admin_user):
    factories.OutletLocationFactory(link=link, outlet=link.outlet, location_id=1)
    _choose(link, admin_user, PickupStock.PICKUP_OUTLET)
    order_id = sandbox.store.place_order(status_id=8, lines=1, pickup=True, pickup_location=2).id

    sync(order_id)

    assert _outlets_moved(online_sale(order_id)) == {link.outlet_id}


def test_an_unknown_choice_is_refused(link, admin_user):
    with pytest.raises(LinkError):
        _choose(link, admin_user, "somewhere")
