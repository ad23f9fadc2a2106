"""Setting up a shop over HTTP, without a superuser: the shop's settings, outlets and registers, payment types,
people, password emails and resets. Admins change, staff read (or are refused), and the BigCommerce link's
outlet, register and payment type are marked and kept. Other retailers' ids are 404 (the sweep in
tests/test_url_security.py checks every route)."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from pos.choices import AuditAction, Role
from pos.models import AuditEntry, Membership, Outlet, PaymentType, Register, User
from tests import factories

pytestmark = pytest.mark.django_db

OUTLETS = reverse("dashboard:settings_outlets")
PAYMENT_TYPES = reverse("dashboard:settings_payment_types")
PEOPLE = reverse("dashboard:settings_people")
SETTINGS = reverse("dashboard:settings")
SELL = reverse("dashboard:sell")
LINK = re.compile(r"https?://[^/\s]+(?P<path>/accounts/password/reset/[^/\s]+/[^/\s]+/)")


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def linked(retailer, outlet, register):
    """A live link booking online sales on `register` ("Online") at `outlet`, paid as "BigCommerce"."""
    web = factories.PaymentTypeFactory(retailer=retailer, name="BigCommerce")
    return factories.StoreLinkFactory(retailer=retailer, outlet=outlet, register=register, default_payment_type=web)


# ---------------------------------------------------------------- the shop's own settings


def test_an_admin_sets_the_shops_name_time_zone_and_currency(admin_client, retailer):
    response = admin_client.post(
        reverse("dashboard:settings_retailer"),
        {"name": "Acme Outdoor Ltd", "time_zone": "Europe/London", "currency": "gbp"},
        follow=True,
    )

    retailer.refresh_from_db()
    assert (retailer.name, retailer.time_zone, retailer.currency) == ("Acme Outdoor Ltd", "Europe/London", "GBP")
    assert _messages(response) == ["Saved the shop's name, time zone, currency."]
    assert "Acme Outdoor Ltd" in response.content.decode()  # the recent changes list it


def test_a_refused_setting_shows_the_page_again_with_the_reason(admin_client, retailer):
    response = admin_client.post(
        reverse("dashboard:settings_retailer"), {"name": "Acme", "time_zone": "Mars/Base", "currency": "USD"}
    )

    assert response.status_code == 400
    assert "Mars/Base is not one of the available choices" in response.content.decode().replace("&quot;", "")


def test_the_currency_shows_fixed_once_the_shop_has_sales(admin_client, retailer):
    factories.SaleFactory(retailer=retailer)

    response = admin_client.get(SETTINGS)

    assert response.context["retailer_form"].fields["currency"].disabled
    assert "the shop has sales in this currency" in response.content.decode()


def test_staff_read_the_shop_settings_disabled(staff_client):
    response = staff_client.get(SETTINGS)

    form = response.context["retailer_form"]
    assert all(field.disabled for field in form.fields.values())
    assert response.context["audit"] == []
    assert reverse("dashboard:settings_people") not in response.content.decode()


# ---------------------------------------------------------------- outlets and registers


def test_an_admin_adds_an_outlet_and_a_register_at_it(admin_client, retailer):
    added = admin_client.post(
        reverse("dashboard:settings_outlet_create"), {"name": "Harbour", "address": "2 Quay St"}, follow=True
    )
    harbour = Outlet.objects.for_retailer(retailer).get(name="Harbour")
    form = admin_client.get(reverse("dashboard:settings_register_create"), {"outlet": harbour.pk})
    till = admin_client.post(
        reverse("dashboard:settings_register_create"), {"outlet": harbour.pk, "name": "Till 1"}, follow=True
    )

    assert _messages(added) == ["Outlet “Harbour” added. Add a register to it to sell there."]
    assert form.context["form"].initial["outlet"] == str(harbour.pk)
    assert _messages(till) == ["Register “Till 1” added at Harbour."]
    assert Register.objects.get(outlet=harbour).name == "Till 1"
    assert "Till 1" in till.content.decode()
    actions = AuditEntry.objects.for_retailer(retailer).order_by("pk").values_list("action", flat=True)
    assert list(actions) == [AuditAction.OUTLET_CREATED, AuditAction.REGISTER_CREATED]


def test_a_duplicate_name_comes_back_on_the_form(admin_client, outlet):
    response = admin_client.post(reverse("dashboard:settings_outlet_create"), {"name": "main street"})

    assert response.status_code == 200
    assert response.context["form"].errors["name"] == ["An outlet named “main street” already exists."]


def test_an_admin_renames_and_deactivates_a_register(admin_client, outlet):
    till = factories.RegisterFactory(outlet=outlet, name="Till")
    url = reverse("dashboard:settings_register_edit", args=[till.pk])

    renamed = admin_client.post(url, {"name": "Front till", "active": "on"}, follow=True)
    deactivated = admin_client.post(url, {"name": "Front till"}, follow=True)

    till.refresh_from_db()
    assert _messages(renamed) == ["Saved register “Front till”."]
    assert _messages(deactivated) == ["Register “Front till” deactivated."]
    assert (till.name, till.active) == ("Front till", False)


def test_the_online_register_is_marked_and_kept(admin_client, linked, register, outlet):
    listed = admin_client.get(OUTLETS)
    edit = admin_client.get(reverse("dashboard:settings_register_edit", args=[register.pk]))
    refused = admin_client.post(reverse("dashboard:settings_register_edit", args=[register.pk]), {"name": "Online"})
    outlet_refused = admin_client.post(
        reverse("dashboard:settings_outlet_edit", args=[outlet.pk]), {"name": outlet.name}
    )

    assert 'data-testid="online-register"' in listed.content.decode()
    assert "This is the online register" in edit.content.decode()
    assert "the BigCommerce link uses it" in refused.context["form"].errors["active"][0]
    assert "the BigCommerce link uses it" in outlet_refused.context["form"].errors["active"][0]
    register.refresh_from_db()
    outlet.refresh_from_db()
    assert register.active and outlet.active


def test_staff_read_outlets_and_payment_types_without_edit_links(staff_client, outlet, register, retailer):
    factories.PaymentTypeFactory(retailer=retailer, name="Cash")

    outlets = staff_client.get(OUTLETS).content.decode()
    payment_types = staff_client.get(PAYMENT_TYPES).content.decode()

    assert "Main Street" in outlets and "Online" in outlets and "Only an admin can change them." in outlets
    assert reverse("dashboard:settings_outlet_create") not in outlets
    assert reverse("dashboard:settings_register_edit", args=[register.pk]) not in outlets
    assert "Cash" in payment_types and reverse("dashboard:settings_payment_type_create") not in payment_types


def test_another_retailers_outlets_are_not_listed(admin_client, outlet, other_retailer):
    factories.OutletFactory(retailer=other_retailer, name="Elsewhere")

    assert "Elsewhere" not in admin_client.get(OUTLETS).content.decode()


def test_the_outlets_page_query_count_does_not_grow_with_registers(admin_client, outlet, django_assert_max_num_queries):
    for n in range(3):
        other = factories.OutletFactory(retailer=outlet.retailer, name=f"Shop {n}")
        factories.RegisterFactory.create_batch(3, outlet=other)

    with django_assert_max_num_queries(12):
        admin_client.get(OUTLETS)


def test_empty_states_point_admins_at_the_new_pages(admin_client, retailer):
    stock = admin_client.get(reverse("dashboard:stock")).content.decode()
    sell = admin_client.get(SELL).content.decode()
    link = admin_client.get(reverse("dashboard:settings_bigcommerce")).content.decode()

    assert "your admin" not in stock and OUTLETS in stock
    assert OUTLETS in sell
    assert "Ask support" not in link and OUTLETS in link


def test_empty_states_tell_staff_where_an_admin_sets_things_up(staff_client, retailer):
    assert "An admin adds outlets" in staff_client.get(reverse("dashboard:stock")).content.decode()


# ---------------------------------------------------------------- payment types


def test_an_admin_adds_renames_and_deactivates_a_payment_type(admin_client, retailer, linked):
    added = admin_client.post(reverse("dashboard:settings_payment_type_create"), {"name": "Card"}, follow=True)
    card = PaymentType.objects.for_retailer(retailer).get(name="Card")
    edited = admin_client.post(
        reverse("dashboard:settings_payment_type_edit", args=[card.pk]), {"name": "Credit card"}, follow=True
    )
    web_refused = admin_client.post(
        reverse("dashboard:settings_payment_type_edit", args=[linked.default_payment_type_id]), {"name": "BigCommerce"}
    )

    card.refresh_from_db()
    assert _messages(added) == ["Payment type “Card” added."]
    assert _messages(edited) == ["Payment type “Credit card” deactivated."]
    assert (card.name, card.active) == ("Credit card", False)
    assert "the BigCommerce link uses it" in web_refused.context["form"].errors["active"][0]
    assert "Used by BigCommerce" in admin_client.get(PAYMENT_TYPES).content.decode()


# ---------------------------------------------------------------- the Sell screen and the online register


def test_the_sell_screen_never_offers_the_online_register_or_an_inactive_one(staff_client, linked, outlet, register):
    till = factories.RegisterFactory(outlet=outlet, name="Till")
    factories.RegisterFactory(outlet=outlet, name="Retired", active=False)

    response = staff_client.get(SELL)
    posted = staff_client.post(SELL, {"register": register.pk, "q": "x"})

    assert response.context["register"] == till  # the only one left: the screen opens on it
    assert posted.status_code == 404


def test_the_register_picker_names_each_registers_outlet(staff_client, outlet, retailer):
    factories.RegisterFactory(outlet=outlet, name="Till")
    factories.RegisterFactory(outlet=factories.OutletFactory(retailer=retailer, name="Harbour"), name="Till")

    html = staff_client.get(SELL).content.decode()

    assert ">Main Street / Till</option>" in html and ">Harbour / Till</option>" in html


# ---------------------------------------------------------------- people


def test_an_admin_invites_a_person_who_chooses_a_password_and_signs_in(
    admin_client, retailer, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with_email = admin_client.post(
            reverse("dashboard:settings_person_add"),
            {"username": "kim", "first_name": "Kim", "email": "kim@example.com", "role": Role.STAFF, "how": "invite"},
            follow=True,
        )
    (message,) = mail.outbox
    path = LINK.search(message.body)["path"]
    admin_client.logout()

    choose = client.get(path, follow=True)
    saved = client.post(
        choose.redirect_chain[-1][0], {"new_password1": "Kim-sturdy-42", "new_password2": "Kim-sturdy-42"}, follow=True
    )
    reused = client.get(path)

    assert _messages(with_email) == ["Invitation sent to kim@example.com: Kim chooses a password from its link."]
    assert message.body.startswith("Hello Kim,")
    assert 'data-testid="reset-complete"' in saved.content.decode()
    assert client.login(username="kim", password="Kim-sturdy-42")
    assert 'data-testid="invalid-link"' in reused.content.decode()


def test_an_admin_adds_a_person_with_a_password_and_sees_them_listed(admin_client, retailer):
    response = admin_client.post(
        reverse("dashboard:settings_person_add"),
        {
            "username": "lee",
            "role": Role.ADMIN,
            "how": "password",
            "password1": "Lee-sturdy-42",
            "password2": "Lee-sturdy-42",
        },
        follow=True,
    )

    assert _messages(response) == ["lee can sign in now as “lee”."]
    assert Membership.objects.get(user__username="lee").role == Role.ADMIN
    assert mail.outbox == []
    assert "lee" in admin_client.get(PEOPLE).content.decode()


def test_a_refused_person_comes_back_on_the_form_without_the_password(admin_client, staff_user):
    data = {"username": "SAM", "role": Role.STAFF, "how": "password", "password1": "Pass-word-99"}

    mistyped = admin_client.post(reverse("dashboard:settings_person_add"), {**data, "password2": "x"})
    taken = admin_client.post(reverse("dashboard:settings_person_add"), {**data, "password2": "Pass-word-99"})

    assert mistyped.context["form"].errors["password2"] == ["The two passwords differ."]
    assert taken.context["form"].errors["username"] == ["The username “SAM” is taken. Choose another."]
    assert "Pass-word-99" not in mistyped.content.decode() + taken.content.decode()


def test_an_admin_changes_a_role_deactivates_and_emails_a_password_link(
    admin_client, staff_user, django_capture_on_commit_callbacks
):
    member = Membership.objects.get(user=staff_user)
    page = reverse("dashboard:settings_person", args=[member.pk])

    promoted = admin_client.post(page, {"role": Role.ADMIN}, follow=True)
    with django_capture_on_commit_callbacks(execute=True):
        emailed = admin_client.post(reverse("dashboard:settings_person_password_email", args=[member.pk]), follow=True)
    deactivated = admin_client.post(reverse("dashboard:settings_person_active", args=[member.pk]), follow=True)

    member.refresh_from_db()
    staff_user.refresh_from_db()
    assert _messages(promoted) == ["sam is now admin."]
    assert _messages(emailed)[0].startswith("Sent sam@example.com a link")
    assert _messages(deactivated) == ["sam is deactivated: they can no longer act for this shop."]
    assert member.role == Role.ADMIN and not member.active and not staff_user.is_active
    assert len(mail.outbox) == 1


def test_an_admin_cannot_deactivate_themselves(admin_client, admin_user):
    member = Membership.objects.get(user=admin_user)

    response = admin_client.post(reverse("dashboard:settings_person_active", args=[member.pk]), follow=True)

    assert _messages(response) == ["You cannot deactivate yourself. Ask another admin."]
    admin_user.refresh_from_db()
    assert admin_user.is_active


def test_a_deactivated_member_loses_access_at_once(admin_user, staff_user, staff_client):
    from pos.services.people import person_active_set

    factories.MembershipFactory(user=staff_user, retailer=factories.RetailerFactory(), active=True)
    person_active_set(
        membership=Membership.objects.get(user=staff_user, retailer__slug="acme"), active=False, acting_user=admin_user
    )

    response = staff_client.get(reverse("dashboard:overview"))

    assert response.context["current_retailer"].slug != "acme"


# ---------------------------------------------------------------- password reset and change


def test_the_public_reset_form_emails_a_link_only_to_an_existing_account(client, staff_user):
    unknown = client.post(reverse("password_reset"), {"email": "nobody@example.com"}, follow=True)
    known = client.post(reverse("password_reset"), {"email": "SAM@example.com"}, follow=True)

    assert (
        'data-testid="reset-sent"' in unknown.content.decode() and 'data-testid="reset-sent"' in known.content.decode()
    )
    (message,) = mail.outbox
    assert message.to == ["sam@example.com"] and LINK.search(message.body)


def test_reset_requests_are_throttled(client, staff_user, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 2

    for _ in range(2):
        client.post(reverse("password_reset"), {"email": "sam@example.com"})
    refused = client.post(reverse("password_reset"), {"email": "sam@example.com"})

    assert "Too many password reset requests" in refused.content.decode()
    assert len(mail.outbox) == 2


def test_the_login_page_offers_the_reset(client):
    assert reverse("password_reset") in client.get(reverse("login")).content.decode()


def test_the_password_change_page_has_styled_fields_and_works(staff_client, staff_user):
    page = staff_client.get(reverse("password_change")).content.decode()
    response = staff_client.post(
        reverse("password_change"),
        {"old_password": "pw-correct-horse", "new_password1": "Sam-new-pass-7", "new_password2": "Sam-new-pass-7"},
    )

    assert 'class="form-control' in page and 'name="old_password"' in page
    assert response.status_code == 302
    staff_user.refresh_from_db()
    assert staff_user.check_password("Sam-new-pass-7")
    assert User.objects.filter(username="sam").count() == 1
