"""Import all orders pages: the support switch in the console, what merchants see while it is off, the dry run
page, starting (admins only), the progress panel and cancel."""

from __future__ import annotations

import pytest
from django.urls import reverse

from integration.choices import ImportState
from integration.models import HistoricalImport
from pos.choices import AuditAction
from pos.models import AuditEntry, Sale
from sandbox.faults import Fault
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def enabled(retailer, support_user):
    from integration.services.historical_import import historical_import_switch_set

    historical_import_switch_set(retailer=retailer, enabled=True, reason="Ticket 7", acting_user=support_user)


def test_support_enables_with_a_reason_and_the_console_shows_the_audit(client, retailer, support_user):
    client.force_login(support_user)
    url = reverse("dashboard:support_historical_import", args=[retailer.pk])

    refused = client.post(url, {"enabled": "on", "reason": ""}, follow=True)
    retailer.refresh_from_db()
    assert not retailer.historical_import_enabled
    assert "reason" in refused.content.decode()

    client.post(url, {"enabled": "on", "reason": "Migrating from Lightspeed"})
    retailer.refresh_from_db()
    assert retailer.historical_import_enabled
    page = client.get(reverse("dashboard:support")).content.decode()
    assert "Migrating from Lightspeed" in page and "Historical import enabled" in page

    client.post(url, {"reason": "Done"})
    retailer.refresh_from_db()
    assert not retailer.historical_import_enabled
    assert AuditEntry.objects.filter(action=AuditAction.HISTORICAL_IMPORT_DISABLED, reason="Done").exists()


def test_a_merchant_admin_cannot_enable_the_switch(admin_client, retailer):
    response = admin_client.post(
        reverse("dashboard:support_historical_import", args=[retailer.pk]), {"enabled": "on", "reason": "me"}
    )
    assert response.status_code == 403
    retailer.refresh_from_db()
    assert not retailer.historical_import_enabled


def test_merchants_see_the_option_off_with_the_stock_impact_and_how_to_ask(admin_client, retailer):
    factories.StoreLinkFactory(retailer=retailer)
    page = admin_client.get(reverse("dashboard:historical_import")).content.decode()
    assert 'data-testid="import-disabled"' in page
    assert "stock levels" in page and "Contact support" in page
    refused = admin_client.post(reverse("dashboard:historical_import_start"), {})
    assert refused.status_code == 409
    assert not HistoricalImport.objects.exists()


def test_staff_cannot_start_a_run(staff_client, retailer, enabled):
    factories.StoreLinkFactory(retailer=retailer)
    assert staff_client.post(reverse("dashboard:historical_import_start"), {}).status_code == 403
    assert staff_client.post(reverse("dashboard:historical_import_preview"), {}).status_code == 403
    assert not HistoricalImport.objects.exists()
    page = staff_client.get(reverse("dashboard:historical_import")).content.decode()
    assert "Only an admin" in page


def test_progress_polls_while_running_and_stops_when_done(admin_client, retailer):
    run = factories.HistoricalImportFactory(
        link=factories.StoreLinkFactory(retailer=retailer),
        state=ImportState.RUNNING,
        total=1000,
        seen=250,
        imported=200,
    )
    url = reverse("dashboard:historical_import_progress", args=[run.pk])
    running = admin_client.get(url, headers={"HX-Request": "true"})
    assert running.status_code == 200 and 'hx-trigger="every 2s"' in running.content.decode()
    assert "25%" in running.content.decode()
    HistoricalImport.objects.filter(pk=run.pk).update(state=ImportState.COMPLETED, seen=1000, imported=900)
    done = admin_client.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 286 and "every 2s" not in done.content.decode()


def test_cancel_from_the_page(admin_client, retailer):
    run = factories.HistoricalImportFactory(
        link=factories.StoreLinkFactory(retailer=retailer), state=ImportState.RUNNING
    )
    admin_client.post(reverse("dashboard:historical_import_cancel", args=[run.pk]))
    run.refresh_from_db()
    assert run.state == ImportState.CANCELLING


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_dry_run_then_start_from_the_page(admin_client, sandbox_link, enabled, run_jobs):
    preview = admin_client.post(reverse("dashboard:historical_import_preview"), {"adjust_stock": "on"})
    body = preview.content.decode()
    assert preview.status_code == 200 and 'data-testid="import-preview"' in body and "Stock impact" in body
    assert not Sale.objects.exists()
    admin_client.post(reverse("dashboard:historical_import_start"), {})
    run_jobs("imports")
    run = HistoricalImport.objects.get()
    assert run.state == ImportState.COMPLETED and run.imported == Sale.objects.count() > 0
    assert not run.adjust_stock
    page = admin_client.get(reverse("dashboard:historical_import")).content.decode()
    assert "Completed" in page


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_dry_run_bigcommerce_refuses_says_so_and_writes_nothing(admin_client, sandbox, sandbox_link, enabled):
    sandbox.store.faults.add(Fault("error", endpoint="count_orders", status=400))
    preview = admin_client.post(reverse("dashboard:historical_import_preview"), {"adjust_stock": "on"})
    assert preview.status_code == 502
    assert "BigCommerce could not be read" in preview.content.decode()
    assert not Sale.objects.exists() and not HistoricalImport.objects.exists()
