"""Browser: a merchant admin sets up the shop without a superuser (an outlet, a register, a payment type and a
staff member), the staff member receives the invitation, chooses a password from its link and signs in."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from pos.choices import Role
from pos.models import Membership, Register

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LINK = re.compile(r"https?://[^/\s]+(?P<path>/accounts/password/reset/[^/\s]+/[^/\s]+/)")


@pytest.fixture
def csp_errors(page):
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if "Content Security Policy" in msg.text else None)
    return errors


def test_an_admin_sets_up_the_shop_and_a_new_staff_member_signs_in(page, live_server, login, admin_user, csp_errors):
    login(admin_user)
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Settings").click()

    # An outlet, then a register at it.
    page.get_by_role("link", name=re.compile("Outlets and registers")).click()
    expect(page.get_by_test_id("empty-state")).to_contain_text("No outlet yet.")
    page.get_by_role("link", name="Add your first outlet").click()
    page.get_by_label("Name").fill("Harbour Street")
    page.get_by_label("Address").fill("2 Quay St\nPortsmouth")
    page.get_by_role("button", name="Add outlet").click()
    expect(page.get_by_role("alert")).to_contain_text("Outlet “Harbour Street” added.")
    page.get_by_role("link", name="Add register").click()
    expect(page.get_by_label("Outlet")).to_have_value(re.compile(r"\d+"))
    page.get_by_label("Name").fill("Front counter")
    page.get_by_role("button", name="Add register").click()
    expect(page.get_by_test_id("register")).to_contain_text("Front counter")

    # A payment type.
    nav.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name=re.compile("Payment types")).click()
    page.get_by_role("link", name="Add a payment type").click()
    page.get_by_label("Name").fill("Cash")
    page.get_by_role("button", name="Add payment type").click()
    expect(page.get_by_test_id("payment-type")).to_contain_text("Cash")

    # A staff member, invited by email.
    nav.get_by_role("link", name="Settings").click()
    page.get_by_role("link", name=re.compile("People")).click()
    page.get_by_role("link", name="Add a person").click()
    page.get_by_label("Username").fill("kim")
    page.get_by_label("First name").fill("Kim")
    page.get_by_label("Email", exact=True).fill("kim@example.com")
    page.get_by_label("Role").select_option(Role.STAFF)
    page.get_by_label("Email an invitation to choose a password").check()
    page.get_by_role("button", name="Add person").click()
    expect(page.get_by_role("alert")).to_contain_text("Invitation sent to kim@example.com")
    expect(page.get_by_test_id("people")).to_contain_text("Invited")

    # The admin signs out; Kim follows the emailed link, chooses a password and signs in.
    page.get_by_role("button", name=admin_user.username).click()
    page.get_by_role("button", name="Sign out").click()
    (message,) = mail.outbox
    assert message.to == ["kim@example.com"]
    page.goto(live_server.url + LINK.search(message.body)["path"])
    page.get_by_label("New password", exact=True).fill("Kim-sturdy-42")
    page.get_by_label("New password confirmation").fill("Kim-sturdy-42")
    page.get_by_role("button", name="Save password").click()
    expect(page.get_by_test_id("reset-complete")).to_be_visible()
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("Username").fill("kim")
    page.get_by_label("Password").fill("Kim-sturdy-42")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_test_id("current-retailer")).to_contain_text("Acme Outdoor")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sell").click()
    expect(page.get_by_role("heading", name=re.compile("Sell"))).to_contain_text("Harbour Street / Front counter")
    expect(page.get_by_label("Payment type")).to_have_value(re.compile(r"\d+"))
    member = Membership.objects.get(user__username="kim")
    assert member.role == Role.STAFF and member.user.has_usable_password()
    assert Register.objects.get(name="Front counter").outlet.name == "Harbour Street"
    assert csp_errors == [], csp_errors
