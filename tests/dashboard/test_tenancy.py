"""The request's retailer, support switching, and scoping by construction."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from pos.choices import AuditAction, Channel
from pos.models import AuditEntry
from tests import factories

pytestmark = pytest.mark.django_db


def test_the_overview_counts_only_the_current_retailers_rows(admin_client, retailer, other_retailer, register):
    factories.SaleFactory(
        retailer=retailer,
        outlet=register.outlet,
        register=register,
        total_inc_tax=Decimal("25.0000"),
        channel=Channel.BIGCOMMERCE,
        external_order_id="1",
    )
    factories.SaleFactory(retailer=other_retailer, total_inc_tax=Decimal("999.0000"))
    factories.ProductFactory.create_batch(2, retailer=retailer)
    factories.ProductFactory.create_batch(5, retailer=other_retailer)

    counts = admin_client.get(reverse("dashboard:overview")).context["counts"]

    assert counts.sales_today == 1
    assert counts.sales_today_total == Decimal("25.0000")
    assert counts.online_today == 1
    assert counts.active_products == 2


def test_a_support_user_without_a_retailer_lands_on_the_support_console(client, support_user):
    client.force_login(support_user)

    response = client.get(reverse("dashboard:overview"))

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:support")


def test_support_switching_is_logged_and_takes_effect(client, support_user, retailer):
    client.force_login(support_user)

    response = client.post(reverse("dashboard:support_switch", args=[retailer.pk]), {"reason": "ticket 42"})

    assert response.status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.retailer, entry.action, entry.reason) == (
        support_user,
        retailer,
        AuditAction.SUPPORT_SWITCH,
        "ticket 42",
    )
    page = client.get(reverse("dashboard:overview"))
    assert page.status_code == 200
    assert page.context["current_retailer"] == retailer
    assert "support" in page.content.decode()


def test_the_support_console_lists_retailers_and_the_audit_trail(client, support_user, retailer, other_retailer):
    factories.AuditEntryFactory(retailer=retailer, actor=support_user, reason="checking sync")
    client.force_login(support_user)

    html = client.get(reverse("dashboard:support")).content.decode()

    assert "Acme Outdoor" in html and "Other Shop" in html
    assert "checking sync" in html


def test_a_merchant_never_sees_the_support_entry_in_navigation(admin_client):
    html = admin_client.get(reverse("dashboard:overview")).content.decode()

    assert reverse("dashboard:support") not in html
