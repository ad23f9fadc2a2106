"""Sign in, sign out, password change, login throttling."""

from __future__ import annotations

import pytest
from django.urls import reverse

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
