"""Migration pos 0008: the ledger's line key is filled from the source keys written before it had a column."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from pos.models import InventoryMovement
from tests import factories

pytestmark = pytest.mark.django_db

migration = importlib.import_module("pos.migrations.0008_movement_line_key")


def test_sale_movements_get_their_line_key_and_other_movements_none(retailer, outlet, register):
    sale = factories.SaleFactory(retailer=retailer, outlet=outlet, register=register)
    product = factories.ProductFactory(retailer=retailer)
    keys = {
        "bc:7:101:6501:sale:9": "6501",
        "bc:7:101:shipping:edit:2:9": "shipping",
        "pos:sale:55:2": "2",
        "pos:adjust:abc": "",
    }
    for key in keys:
        factories.InventoryMovementFactory(
            retailer=retailer, product=product, outlet=outlet, source_key=key, sale=None if "adjust" in key else sale
        )

    migration.fill_line_keys(apps, None)

    assert dict(InventoryMovement.objects.values_list("source_key", "line_key")) == keys
