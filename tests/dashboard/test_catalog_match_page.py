"""The catalog match report before a first link, over HTTP against the sandbox store: shown instead of linking,
the token kept on the server, "Check again" and "Accept and link"; a relink of the same store goes straight on."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from integration.choices import LinkState
from integration.models import StoreLink
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sandbox(orders=0)]

LINK = reverse("dashboard:settings_bigcommerce_link")
PAGE = reverse("dashboard:settings_bigcommerce")


def _data(sandbox, places, **extra) -> dict:
    return {
        "store_hash": sandbox.store_hash,
        "outlet": places["outlet"].pk,
        "register": places["register"].pk,
        "default_payment_type": places["default_payment_type"].pk,
        **extra,
    }


def test_a_first_link_shows_the_match_report_and_links_only_once_accepted(
    admin_client, bc_settings, sandbox, places, retailer
):
    factories.ProductFactory(retailer=retailer, name="Stove", sku="STOVE", retail_price=Decimal("89.00"))
    factories.ProductFactory(retailer=retailer, name="Compass", sku="compass")  # BigCommerce has COMPASS

    report = admin_client.post(LINK, _data(sandbox, places, access_token=sandbox.access_token))

    assert report.status_code == 200
    assert not StoreLink.objects.exists()
    html = report.content.decode()
    assert "catalog match" in html
    assert sandbox.access_token not in html
    match = report.context["report"]
    assert (match.matched.count, match.collisions.count) == (1, 1)
    assert "differs only in case" in html
    assert f"{match.control_panel}/products/" in html

    again = admin_client.post(LINK, _data(sandbox, places))  # "Check again": the kept token, no acceptance
    assert again.status_code == 200 and again.context["report"].collisions.count == 1
    assert not StoreLink.objects.exists()

    linked = admin_client.post(LINK, _data(sandbox, places, catalog_accepted="on"), follow=True)
    assert linked.redirect_chain == [(PAGE, 302)]
    assert StoreLink.objects.get(retailer=retailer).state == LinkState.ACTIVE
    assert "bigcommerce_link_token" not in admin_client.session


def test_relinking_the_same_store_needs_no_report(admin_client, bc_settings, sandbox, places, retailer):
    factories.StoreLinkFactory(
        retailer=retailer, store_hash=sandbox.store_hash, state=LinkState.UNLINKED, outlet=places["outlet"]
    )
    response = admin_client.post(LINK, _data(sandbox, places, access_token=sandbox.access_token), follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    assert StoreLink.objects.get(retailer=retailer).state == LinkState.ACTIVE


def test_a_catalog_that_cannot_be_read_is_said_on_the_form(admin_client, bc_settings, sandbox, places):
    sandbox.store.faults.add(kind="error", path_contains="/v3/catalog/products", status=503, skip=1, times=20)
    response = admin_client.post(LINK, _data(sandbox, places, access_token=sandbox.access_token))
    assert "BigCommerce could not be reached" in response.content.decode()
    assert not StoreLink.objects.exists()
