"""Browser, end to end: support enables "Import all orders" from the support console with a reason, acts for
the retailer, previews the import, starts it, and the progress bar polls until it shows the finished import."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from integration.models import HistoricalImport
from pos.models import Sale

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_support_enables_the_import_and_the_progress_bar_runs_to_the_end(
    page, live_server, login, support_user, retailer, sandbox_link, run_jobs
):
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and "favicon" not in m.text and problems.append(m.text))
    login(support_user)
    page.goto(f"{live_server.url}/support/")
    row = page.get_by_test_id("retailer-row").filter(has_text=retailer.name)
    expect(row.get_by_test_id("historical-import")).to_contain_text("Off")
    row.get_by_label("Reason").fill("Ticket 7: merchant moving from another POS")
    row.get_by_role("button", name="Enable").click()
    expect(page.get_by_test_id("historical-import").first).to_contain_text("Enabled")
    expect(page.get_by_test_id("audit-trail")).to_contain_text("Ticket 7: merchant moving from another POS")

    page.get_by_test_id("retailer-row").filter(has_text=retailer.name).get_by_role(
        "button", name=re.compile("Switch to")
    ).click()
    page.goto(f"{live_server.url}/settings/bigcommerce/import/")
    page.get_by_role("button", name="Preview import").click()
    preview = page.get_by_test_id("import-preview")
    expect(preview).to_contain_text("orders would be imported")
    assert not Sale.objects.exists()  # the dry run wrote nothing
    preview.get_by_role("button", name="Start import").click()
    expect(page.get_by_test_id("import-progress")).to_be_visible()

    run_jobs("imports")

    run = HistoricalImport.objects.get()
    expect(page.get_by_test_id("import-state")).to_have_text("Completed", timeout=10_000)
    expect(page.get_by_test_id("import-percent")).to_have_text("100%")
    expect(page.get_by_test_id("import-counts")).to_contain_text(f"{run.imported} imported")
    assert run.imported == Sale.objects.count() > 0
    assert problems == [], problems
