"""Constraints and normalisation on the POS records."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from pos.choices import ProductKind
from tests import factories

pytestmark = pytest.mark.django_db


def test_sku_is_unique_per_retailer_when_present(retailer, other_retailer):
    factories.ProductFactory(retailer=retailer, sku="TENT-1")
    factories.ProductFactory(retailer=other_retailer, sku="TENT-1")  # another retailer may reuse it

    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ProductFactory(retailer=retailer, sku="TENT-1")


def test_products_without_sku_do_not_clash(retailer):
    factories.ProductFactory(retailer=retailer, sku=None)
    factories.ProductFactory(retailer=retailer, sku="")
    blank = factories.ProductFactory(retailer=retailer, sku="   ")

    blank.refresh_from_db()
    assert blank.sku is None


def test_service_products_can_never_track_stock(retailer):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ProductFactory(retailer=retailer, kind=ProductKind.SHIPPING, tracks_inventory=True)


def test_customer_email_is_normalised_for_matching(retailer):
    customer = factories.CustomerFactory(retailer=retailer, email="  Jane.Doe@Example.COM ")

    assert customer.email == "Jane.Doe@Example.COM"
    assert customer.email_normalized == "jane.doe@example.com"


def test_every_factory_builds_a_saved_row():
    for name in dir(factories):
        factory = getattr(factories, name)
        if name.endswith("Factory") and hasattr(factory, "_meta") and getattr(factory._meta, "model", None):
            assert factory().pk is not None, name
