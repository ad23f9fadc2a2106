"""The drift report page: what the stock read-back set back in BigCommerce, and why (every member; tenant-scoped)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integration.choices import DriftReason
from integration.models import StockDriftCorrection
from tests import factories

pytestmark = pytest.mark.django_db


def _correction(link, name: str, *, minutes_ago: int = 0, **fields) -> StockDriftCorrection:
    product = factories.ProductFactory(retailer=link.retailer, name=name, sku=name.upper().replace(" ", "-"))
    values = {"bc_level": 40, "pos_level": 12, "sent_level": 12, "last_sent_level": 12, "reason": DriftReason.EDITED}
    return StockDriftCorrection.objects.create(
        link=link,
        product=product,
        outlet=link.outlet,
        location_id=1,
        bc_product_id=116,
        bc_variant_id=216,
        found_at=timezone.now() - timedelta(minutes=minutes_ago),
        **{**values, **fields},
    )


def test_the_report_lists_each_correction_with_what_each_side_had_and_why(staff_client, retailer, other_retailer):
    link = factories.StoreLinkFactory(retailer=retailer)
    _correction(link, "Headlamp", minutes_ago=5)
    _correction(link, "Beanie", bc_level=9, pos_level=-4, sent_level=0, last_sent_level=None, reason="never_sent")
    _correction(factories.StoreLinkFactory(retailer=other_retailer), "Someone else's lamp")

    response = staff_client.get(reverse("dashboard:stock_drift"))

    assert response.status_code == 200
    rows = [(c.product.name, c.bc_level, c.pos_level) for c in response.context["page_obj"].object_list]
    assert rows == [("Beanie", 9, -4), ("Headlamp", 40, 12)]
    html = response.content.decode()
    assert "Someone else" not in html
    assert "Changed in BigCommerce after the POS last sent its level (12): set back to 12." in html
    assert "The POS had not sent this level to BigCommerce before: set back to 0." in html
    assert "(sent as 0)" in html


def test_the_report_is_paginated_in_a_fixed_number_of_queries(staff_client, retailer, django_assert_max_num_queries):
    link = factories.StoreLinkFactory(retailer=retailer)
    for n in range(55):
        _correction(link, f"Item {n}", minutes_ago=n)

    with django_assert_max_num_queries(12):
        first = staff_client.get(reverse("dashboard:stock_drift"))
    second = staff_client.get(reverse("dashboard:stock_drift"), {"page": 2})

    assert len(first.context["page_obj"].object_list) == 50
    assert [c.product.name for c in second.context["page_obj"].object_list] == [f"Item {n}" for n in range(50, 55)]
    assert "55 corrections" in first.content.decode()


def test_without_drift_the_report_says_so(staff_client, retailer):
    response = staff_client.get(reverse("dashboard:stock_drift"))

    html = response.content.decode()
    assert 'data-testid="empty-state"' in html
    assert "No drift found." in html


def test_the_report_needs_a_sign_in(client):
    response = client.get(reverse("dashboard:stock_drift"))

    assert response.status_code == 302
