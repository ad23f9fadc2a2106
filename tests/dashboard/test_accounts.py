"""Sign in, sign out, password change, login throttling."""

from __future__ import annotations

import pytest
import time_machine
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


def test_sign_in_lands_on_the_overview(client, admin_user):
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-correct-horse"})

    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:overview")


def test_a_wrong_password_says_so(client, admin_user):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_repeated_failures_lock_the_username_even_with_the_right_password(client, admin_user, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    for _ in range(3):
        client.post(reverse("login"), {"username": "alice", "password": "wrong"})

    response = client.post(reverse("login"), {"username": "alice", "password": "pw-correct-horse"})

    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_successful_sign_in_clears_the_username_counter(client, admin_user, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    for _ in range(2):
        client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    client.post(reverse("login"), {"username": "alice", "password": "pw-correct-horse"})
    client.post(reverse("logout"))
    client.post(reverse("login"), {"username": "alice", "password": "wrong"})

    response = client.post(reverse("login"), {"username": "alice", "password": "pw-correct-horse"})

    assert response.status_code == 302


def test_sign_out_needs_a_post_and_ends_the_session(admin_client):
    response = admin_client.post(reverse("logout"))

    assert response.status_code == 302
    assert admin_client.get(reverse("dashboard:overview")).status_code == 302


def test_password_change(admin_client, admin_user):
    response = admin_client.post(
        reverse("password_change"),
        {
            "old_password": "pw-correct-horse",
            "new_password1": "a-new-long-passphrase",
            "new_password2": "a-new-long-passphrase",
        },
    )

    assert response.status_code == 302
    admin_user.refresh_from_db()
    assert admin_user.check_password("a-new-long-passphrase")


def _fail(client, username: str, **extra) -> None:
    client.post(reverse("login"), {"username": username, "password": "wrong"}, **extra)


def test_many_usernames_from_one_address_lock_that_address(client, admin_user, settings):
    # Guessing across accounts (credential stuffing) is capped per address, at four times the per-user allowance.
    settings.LOGIN_THROTTLE_ATTEMPTS = 2
    for n in range(8):
        _fail(client, f"someone{n}")

    response = client.post(reverse("login"), {"username": "alice", "password": "pw-correct-horse"})

    assert "Too many failed sign-in attempts" in response.content.decode()
    elsewhere = client.post(
        reverse("login"), {"username": "alice", "password": "pw-correct-horse"}, REMOTE_ADDR="10.0.0.9"
    )
    assert elsewhere.status_code == 302


def test_a_username_is_counted_whatever_its_case_and_spaces(client, admin_user, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    for username in ("ALICE", " alice", "Alice "):
        _fail(client, username, REMOTE_ADDR=f"10.0.1.{len(username)}")

    response = client.post(reverse("login"), {"username": "alice", "password": "pw-correct-horse"})

    assert "Too many failed sign-in attempts" in response.content.decode()


def test_the_lock_ends_with_the_window(client, admin_user, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS, settings.LOGIN_THROTTLE_WINDOW_SECONDS = 1, 60
    with time_machine.travel("2026-03-02 09:00:00Z", tick=False) as clock:
        _fail(client, "alice")
        clock.shift(59)
        locked = client.post(reverse("login"), {"username": "alice", "password": "pw-correct-horse"})
        clock.shift(1)

        response = client.post(reverse("login"), {"username": "alice", "password": "pw-correct-horse"})

    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert response.status_code == 302


def test_a_failure_after_the_window_starts_a_new_count(client, admin_user, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS, settings.LOGIN_THROTTLE_WINDOW_SECONDS = 2, 60
    with time_machine.travel("2026-03-02 09:00:00Z", tick=False) as clock:
        _fail(client, "alice")
        clock.shift(61)
        _fail(client, "alice")

        response = client.post(reverse("login"), {"username": "alice", "password": "pw-correct-horse"})

    assert response.status_code == 302


# Each of these signs in as "a-staff" (Django NFKC-normalises the username): fullwidth, mathematical bold and
# italic, fullwidth s, feminine ordinal, modifier small a, circled a.
LOOK_ALIKES = ("ａ-staff", "𝐚-staff", "𝑎-staff", "a-ｓtaff", "ª-staff", "ᵃ-staff", "ⓐ-staff")


@pytest.mark.parametrize("variant", LOOK_ALIKES)
def test_a_look_alike_username_gets_no_fresh_attempts(client, settings, variant):
    settings.LOGIN_THROTTLE_ATTEMPTS = 5
    factories.UserFactory(username="a-staff")
    for n in range(5):
        _fail(client, "a-staff", REMOTE_ADDR=f"10.0.2.{n}")

    response = client.post(
        reverse("login"), {"username": variant, "password": "pw-correct-horse"}, REMOTE_ADDR="10.0.3.1"
    )

    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_look_alike_failures_add_up_on_the_account_they_reach(client, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = len(LOOK_ALIKES)
    factories.UserFactory(username="a-staff")
    for n, variant in enumerate(LOOK_ALIKES):
        _fail(client, variant, REMOTE_ADDR=f"10.0.4.{n}")

    response = client.post(
        reverse("login"), {"username": "a-staff", "password": "pw-correct-horse"}, REMOTE_ADDR="10.0.5.1"
    )

    assert "Too many failed sign-in attempts" in response.content.decode()


def test_the_django_admin_sign_in_is_throttled_too(client, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS = 3
    factories.UserFactory(username="root", is_staff=True, is_superuser=True)
    for _ in range(3):
        client.post(reverse("admin:login"), {"username": "root", "password": "wrong"})

    response = client.post(reverse("admin:login"), {"username": "root", "password": "pw-correct-horse"})

    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_behind_a_proxy_failures_count_per_client_not_per_proxy(client, admin_user, settings):
    settings.LOGIN_THROTTLE_ATTEMPTS, settings.TRUSTED_PROXIES = 1, 1
    proxy = {"REMOTE_ADDR": "10.9.9.9"}
    for n in range(4):
        _fail(client, f"someone{n}", HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)

    blocked = client.post(
        reverse("login"),
        {"username": "alice", "password": "pw-correct-horse"},
        HTTP_X_FORWARDED_FOR="203.0.113.7",
        **proxy,
    )
    other_client = client.post(
        reverse("login"),
        {"username": "alice", "password": "pw-correct-horse"},
        HTTP_X_FORWARDED_FOR="198.51.100.1",
        **proxy,
    )

    assert "Too many failed sign-in attempts" in blocked.content.decode()
    assert other_client.status_code == 302


def test_a_forged_forwarded_for_does_not_dodge_the_address_limit(client, admin_user, settings):
    # Without a trusted proxy the header is the client's own word: ignored.
    settings.LOGIN_THROTTLE_ATTEMPTS = 1
    for n in range(4):
        _fail(client, f"someone{n}", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")

    response = client.post(
        reverse("login"), {"username": "alice", "password": "pw-correct-horse"}, HTTP_X_FORWARDED_FOR="192.0.2.99"
    )

    assert "Too many failed sign-in attempts" in response.content.decode()
