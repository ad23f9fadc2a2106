"""pos.services.people: adding people (invited by email or with a password), roles, deactivation, password emails."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils.http import urlsafe_base64_decode

from pos.choices import AuditAction, Role
from pos.models import AuditEntry, Membership, User
from pos.services.people import person_active_set, person_add, person_password_email, person_role_set
from tests import factories

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://[^/\s]+(/accounts/password/reset/(?P<uid>[^/]+)/(?P<token>[^/]+)/)")


def _link(message) -> re.Match:
    match = LINK.search(message.body)
    assert match, message.body
    return match


def test_an_invited_person_gets_an_email_with_a_working_link_after_the_commit(
    retailer, admin_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        membership = person_add(
            retailer=retailer,
            username="kim",
            email="kim@example.com",
            first_name="Kim",
            role=Role.STAFF,
            acting_user=admin_user,
        )

    user = membership.user
    assert not user.has_usable_password() and membership.role == Role.STAFF and membership.active
    (message,) = mail.outbox
    assert message.to == ["kim@example.com"] and "Acme Outdoor" in message.subject
    assert "Your username is “kim”" in message.body and "alice added you" in message.body
    link = _link(message)
    assert urlsafe_base64_decode(link["uid"]).decode() == str(user.pk)
    assert default_token_generator.check_token(user, link["token"])
    entry = AuditEntry.objects.for_retailer(retailer).get()
    assert (entry.action, entry.actor, entry.detail["invited"]) == (AuditAction.PERSON_ADDED, admin_user, True)


def test_a_person_given_a_password_can_sign_in_and_gets_no_email(
    retailer, admin_user, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        person_add(
            retailer=retailer,
            username="lee",
            email="",
            role=Role.ADMIN,
            password="Sturdy-pass-8",
            acting_user=admin_user,
        )

    assert mail.outbox == []
    assert client.login(username="lee", password="Sturdy-pass-8")


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"username": "ALICE"}, "username", "is taken"),
        ({"username": "no spaces"}, "username", "letters, digits"),
        ({"email": ""}, "email", "invitation"),
        ({"email": "not-an-email"}, "email", "valid email"),
        ({"password": "123"}, "password", "too short"),
        ({"role": "owner"}, "role", "Choose one of"),
    ],
)
def test_adding_a_person_refuses_what_cannot_work(retailer, admin_user, values, field, words):
    data = {"username": "kim", "email": "kim@example.com", "role": Role.STAFF, "password": None, **values}

    with pytest.raises(ValidationError) as excinfo:
        person_add(retailer=retailer, acting_user=admin_user, **data)

    assert words in " ".join(excinfo.value.message_dict[field])
    assert not User.objects.filter(username="kim").exists()


def test_the_last_active_admin_stays_an_admin(retailer, admin_user):
    mine = Membership.objects.get(user=admin_user, retailer=retailer)
    other = factories.MembershipFactory(retailer=retailer, role=Role.ADMIN)

    assert person_role_set(membership=other, role=Role.STAFF, acting_user=admin_user) is True
    with pytest.raises(ValidationError) as excinfo:
        person_role_set(membership=mine, role=Role.STAFF, acting_user=admin_user)

    assert "at least one active admin" in excinfo.value.message_dict["role"][0]
    roles = AuditEntry.objects.for_retailer(retailer).values_list("action", "detail__changed")
    assert list(roles) == [(AuditAction.PERSON_ROLE_CHANGED, ["admin", "staff"])]


def test_nobody_deactivates_themselves_and_support_cannot_remove_the_last_admin(retailer, admin_user, support_user):
    mine = Membership.objects.get(user=admin_user, retailer=retailer)

    with pytest.raises(ValidationError) as self_refused:
        person_active_set(membership=mine, active=False, acting_user=admin_user)
    with pytest.raises(ValidationError) as last_refused:
        person_active_set(membership=mine, active=False, acting_user=support_user)

    assert "cannot deactivate yourself" in self_refused.value.message_dict["active"][0]
    assert "at least one active admin" in last_refused.value.message_dict["active"][0]


def test_a_deactivated_person_cannot_sign_in_until_reactivated(retailer, admin_user, staff_user, client):
    staff = Membership.objects.get(user=staff_user)

    person_active_set(membership=staff, active=False, acting_user=admin_user)
    refused = client.login(username="sam", password="pw-correct-horse")
    person_active_set(membership=staff, active=True, acting_user=admin_user)
    allowed = client.login(username="sam", password="pw-correct-horse")

    assert (refused, allowed) == (False, True)
    actions = list(AuditEntry.objects.for_retailer(retailer).order_by("pk").values_list("action", flat=True))
    assert actions == [AuditAction.PERSON_DEACTIVATED, AuditAction.PERSON_REACTIVATED]


def test_deactivation_at_one_retailer_keeps_the_sign_in_for_another(retailer, other_retailer, admin_user, staff_user):
    factories.MembershipFactory(user=staff_user, retailer=other_retailer)

    person_active_set(
        membership=Membership.objects.get(user=staff_user, retailer=retailer), active=False, acting_user=admin_user
    )

    staff_user.refresh_from_db()
    assert staff_user.is_active


def test_a_password_email_needs_an_address_and_is_a_reset_for_someone_with_a_password(
    retailer, admin_user, staff_user, django_capture_on_commit_callbacks
):
    staff = Membership.objects.get(user=staff_user)
    nameless = factories.MembershipFactory(retailer=retailer, user__email="")

    with django_capture_on_commit_callbacks(execute=True):
        person_password_email(membership=staff, acting_user=admin_user)
    with pytest.raises(ValidationError):
        person_password_email(membership=nameless, acting_user=admin_user)

    (message,) = mail.outbox
    assert message.to == [staff_user.email] and "reset the password" in message.body
    assert default_token_generator.check_token(staff_user, _link(message)["token"])
