"""Browser: sign in and see the Overview."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import factories

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sign_in_and_see_the_overview(page, live_server, login, admin_user, retailer):
    factories.ProductFactory.create_batch(3, retailer=retailer)

    login(admin_user)

    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_test_id("current-retailer")).to_contain_text("Acme Outdoor")
    expect(page.get_by_test_id("active-products")).to_have_text("3")
