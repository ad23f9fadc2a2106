"""The single-click app install end to end against the sandbox's login side: the auth callback exchanges the code,
load shows the claim button (or the link's status), an admin claims the install, uninstall unlinks; and every
request that cannot be verified is refused."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from integration.choices import LinkKind, LinkState
from integration.models import AppInstall, StoreLink
from integration.services.app_install import CLAIM_MAX_AGE, app_claim_token
from integration.services.link import HOOK_SCOPES
from sandbox.auth import signed_payload_jwt
from sandbox.faults import Fault
from tests import factories

pytestmark = pytest.mark.django_db

AUTH, LOAD, UNINSTALL = (reverse(f"integration:{name}") for name in ("app_auth", "app_load", "app_uninstall"))
CLAIM = reverse("dashboard:settings_bigcommerce_claim")


@pytest.fixture
def install(client, bc_settings, sandbox):
    """Run the auth callback the way BigCommerce would, and return the recorded install."""
    query = sandbox.store.auth.issue_code()
    response = client.get(AUTH, query)
    assert response.status_code == 200, response.content
    return AppInstall.objects.get(store_hash=sandbox.store_hash)


def _jwt(sandbox, **overrides) -> str:
    s = sandbox.store.settings
    options = {"client_id": s.client_id, "client_secret": s.client_secret, "store_hash": s.store_hash, **overrides}
    return signed_payload_jwt(**options)


def _claim_url(response) -> str:
    href = response.context["claim_url"]
    assert href.startswith(CLAIM)
    return href


def _claim(admin_client, places, claim_url, django_capture_on_commit_callbacks, **extra):
    token = parse_qs(urlsplit(claim_url).query)["token"][0]
    data = {
        "token": token,
        "outlet": places["outlet"].pk,
        "register": places["register"].pk,
        "default_payment_type": places["default_payment_type"].pk,
        **extra,
    }
    with django_capture_on_commit_callbacks(execute=True):
        return admin_client.post(CLAIM, data)


# ---------------------------------------------------------------- auth


def test_the_auth_callback_exchanges_the_code_and_keeps_the_token_encrypted(install, sandbox):
    assert install.access_token == sandbox.access_token
    assert install.installer_email == "merchant@example.com"
    assert "store_v2_orders" in install.scopes
    assert install.is_installed and install.claimed_link is None
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM integration_appinstall WHERE id = %s", [install.pk])
        assert sandbox.access_token not in cursor.fetchone()[0]


def test_the_auth_page_can_be_framed_by_the_control_panel_only(client, bc_settings, sandbox):
    response = client.get(AUTH, sandbox.store.auth.issue_code())

    assert "X-Frame-Options" not in response
    assert (
        "frame-ancestors https://*.bigcommerce.com https://*.mybigcommerce.com" in response["Content-Security-Policy"]
    )
    assert "Link to your POS account" in response.content.decode()


def test_the_code_and_token_are_never_logged(client, bc_settings, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    query = sandbox.store.auth.issue_code()

    client.get(AUTH, query)
    client.get(AUTH, query)  # the code is spent: refused

    assert query["code"] not in caplog.text
    assert sandbox.access_token not in caplog.text
    assert sandbox.store.settings.client_secret not in caplog.text


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({}, 400),
        ({"code": "x", "scope": "s"}, 400),
        ({"code": "x", "scope": "s", "context": "store/abc"}, 400),
        ({"code": "x", "scope": "s", "context": "stores/a b"}, 400),
        ({"code": "never-issued", "scope": "s", "context": "stores/{hash}"}, 400),
    ],
)
def test_auth_requests_bigcommerce_did_not_send_are_refused(client, bc_settings, sandbox, query, status):
    query = {k: v.format(hash=sandbox.store_hash) for k, v in query.items()}

    response = client.get(AUTH, query)

    assert response.status_code == status
    assert not AppInstall.objects.exists()


def test_a_code_is_exchanged_once(client, bc_settings, sandbox):
    query = sandbox.store.auth.issue_code()
    client.get(AUTH, query)

    response = client.get(AUTH, query)

    assert response.status_code == 400
    assert "did not accept this install" in response.content.decode()


def test_a_wrong_client_secret_is_refused_by_the_login_host(client, bc_settings, sandbox):
    bc_settings.BIGCOMMERCE_CLIENT_SECRET = "x" * 40

    response = client.get(AUTH, sandbox.store.auth.issue_code())

    assert response.status_code == 400
    assert not AppInstall.objects.exists()


def test_an_unreachable_login_host_is_a_502(client, bc_settings, sandbox):
    bc_settings.BIGCOMMERCE_LOGIN_URL = "http://127.0.0.1:9"

    response = client.get(AUTH, sandbox.store.auth.issue_code())

    assert response.status_code == 502
    assert "could not be reached" in response.content.decode()


def test_without_the_apps_client_id_the_callbacks_say_so(client, settings):
    settings.BIGCOMMERCE_CLIENT_ID = ""

    assert client.get(AUTH, {"code": "x", "context": "stores/abc"}).status_code == 503
    assert client.get(LOAD, {"signed_payload_jwt": "x"}).status_code == 503


def test_a_reinstall_replaces_the_token_also_on_the_link(install, client, sandbox, retailer):
    link = factories.StoreLinkFactory(retailer=retailer, kind=LinkKind.APP, store_hash=sandbox.store_hash)
    AppInstall.objects.filter(pk=install.pk).update(link=link, access_token="old")  # noqa: S106 - a test value
    sandbox.store.auth.access_token = "re-issued-token"

    client.get(AUTH, sandbox.store.auth.issue_code())

    link.refresh_from_db()
    assert link.access_token == "re-issued-token"
    assert AppInstall.objects.get().access_token == "re-issued-token"


# ---------------------------------------------------------------- load


def test_load_offers_the_claim_button_while_unclaimed(install, client, sandbox):
    response = client.get(LOAD, {"signed_payload_jwt": _jwt(sandbox)})

    assert response.status_code == 200
    assert _claim_url(response)
    assert "X-Frame-Options" not in response


def _expired(sandbox):
    return _jwt(sandbox, now=time.time() - 2 * 86_400)


@pytest.mark.parametrize(
    ("token", "status", "words"),
    [
        (lambda sb: "", 400, "no signed payload"),
        (lambda sb: "not-a-jwt", 403, "could not be verified"),
        (_expired, 403, "has expired"),
        (
            lambda sb: _jwt(sb, client_secret="another-secret-that-is-long-enough-for-hs256"),
            403,
            "could not be verified",
        ),
        (lambda sb: _jwt(sb, client_id="another-app"), 403, "could not be verified"),
        (lambda sb: _jwt(sb, store_hash="unknownstore"), 404, "has not installed the app"),
        (
            lambda sb: jwt.encode(
                {"aud": sb.store.settings.client_id, "iss": "someone", "sub": f"stores/{sb.store_hash}"},
                sb.store.settings.client_secret,
                algorithm="HS256",
            ),
            403,
            "could not be verified",
        ),
        (
            lambda sb: jwt.encode(
                {
                    "aud": sb.store.settings.client_id,
                    "iss": "bc",
                    "sub": f"stores/{sb.store_hash}",
                    "iat": int(time.time()),
                    "nbf": int(time.time()),
                    "exp": int(time.time()) + 60,
                },
                None,
                algorithm="none",
            ),
            403,
            "could not be verified",
        ),
        (
            lambda sb: jwt.encode(
                {"aud": sb.store.settings.client_id, "iss": "bc", "sub": f"stores/{sb.store_hash}"},
                sb.store.settings.client_secret,
                algorithm="HS256",
            ),
            403,
            "could not be verified",
        ),
    ],
    ids=[
        "missing",
        "garbage",
        "expired",
        "wrong-secret",
        "wrong-audience",
        "unknown-store",
        "wrong-issuer",
        "alg-none",
        "no-expiry",
    ],
)
def test_load_requests_that_cannot_be_verified_are_refused(install, client, sandbox, token, status, words):
    response = client.get(LOAD, {"signed_payload_jwt": token(sandbox)})

    assert response.status_code == status
    assert words in response.content.decode()
    assert "claim_url" not in response.context


# ---------------------------------------------------------------- claim


def test_an_admin_claims_the_install_and_the_store_is_linked_as_an_app(
    install, client, admin_client, sandbox, places, retailer, django_capture_on_commit_callbacks
):
    claim_url = _claim_url(client.get(LOAD, {"signed_payload_jwt": _jwt(sandbox)}))
    page = admin_client.get(claim_url)
    assert page.status_code == 200
    assert sandbox.store_hash in page.content.decode()

    response = _claim(admin_client, places, claim_url, django_capture_on_commit_callbacks)

    assert response.status_code == 302
    link = StoreLink.objects.get(retailer=retailer)
    assert (link.kind, link.state, link.access_token) == (LinkKind.APP, LinkState.ACTIVE, sandbox.access_token)
    assert link.scopes == install.scopes
    assert len(link.hooks) == len(HOOK_SCOPES) and len(sandbox.store.hooks) == len(HOOK_SCOPES)
    install.refresh_from_db()
    assert install.link == link and install.claimed_at is not None
    loaded = client.get(LOAD, {"signed_payload_jwt": _jwt(sandbox)})
    assert "linked to <strong>Acme Outdoor</strong>" in loaded.content.decode()


def test_a_claimed_install_cannot_be_claimed_again_by_another_retailer(
    install, client, admin_client, sandbox, places, other_retailer, django_capture_on_commit_callbacks
):
    claim_url = _claim_url(client.get(LOAD, {"signed_payload_jwt": _jwt(sandbox)}))
    _claim(admin_client, places, claim_url, django_capture_on_commit_callbacks)
    intruder = factories.UserFactory(username="mallory")
    factories.MembershipFactory(user=intruder, retailer=other_retailer, role="admin")
    other = factories.RegisterFactory(outlet=factories.OutletFactory(retailer=other_retailer))
    admin_client.force_login(intruder)

    response = _claim(
        admin_client,
        {
            "outlet": other.outlet,
            "register": other,
            "default_payment_type": factories.PaymentTypeFactory(retailer=other_retailer),
        },
        claim_url,
        django_capture_on_commit_callbacks,
    )

    assert response.status_code == 200
    assert "already linked to another retailer" in response.content.decode()
    assert not StoreLink.objects.filter(retailer=other_retailer).exists()


def test_a_forged_claim_link_is_refused(install, admin_client):
    token = app_claim_token(install=install)

    response = admin_client.get(CLAIM, {"token": token[:-2] + "xx"})

    assert response.status_code == 400
    assert "not valid" in response.content.decode()


def test_an_expired_claim_link_is_refused(install, admin_client, time_machine):
    time_machine.move_to(timezone.now() - CLAIM_MAX_AGE - timedelta(minutes=1))
    token = app_claim_token(install=install)
    time_machine.move_to(timezone.now() + CLAIM_MAX_AGE + timedelta(minutes=1))

    response = admin_client.get(CLAIM, {"token": token})

    assert response.status_code == 400
    assert "has expired" in response.content.decode()


def test_staff_cannot_claim_an_install(install, staff_client):
    response = staff_client.get(CLAIM, {"token": app_claim_token(install=install)})

    assert response.status_code == 403


def test_signing_in_keeps_the_claim_link(install, client):
    response = client.get(CLAIM, {"token": app_claim_token(install=install)})

    assert response.status_code == 302
    assert "token%3D" in response["Location"] or "token=" in response["Location"]


# ---------------------------------------------------------------- uninstall


def test_uninstall_unlinks_and_keeps_bigcommerces_hooks_to_bigcommerce(
    install, client, admin_client, sandbox, places, retailer, django_capture_on_commit_callbacks
):
    claim_url = _claim_url(client.get(LOAD, {"signed_payload_jwt": _jwt(sandbox)}))
    _claim(admin_client, places, claim_url, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(UNINSTALL, {"signed_payload_jwt": _jwt(sandbox)})

    assert response.status_code == 200
    install.refresh_from_db()
    assert install.uninstalled_at is not None
    assert StoreLink.objects.get(retailer=retailer).state == LinkState.UNLINKED
    # BigCommerce deletes an uninstalled app's hooks itself: no call was made to delete them.
    assert not [r for r in sandbox.store.request_log.records() if r.endpoint == "delete_hook"]
    refused = client.get(LOAD, {"signed_payload_jwt": _jwt(sandbox)})
    assert refused.status_code == 403 and "uninstalled" in refused.content.decode()


def test_a_reinstall_after_an_uninstall_is_claimed_again_without_duplicates(
    install, client, admin_client, sandbox, places, retailer, django_capture_on_commit_callbacks
):
    claim_url = _claim_url(client.get(LOAD, {"signed_payload_jwt": _jwt(sandbox)}))
    _claim(admin_client, places, claim_url, django_capture_on_commit_callbacks)
    client.get(UNINSTALL, {"signed_payload_jwt": _jwt(sandbox)})

    client.get(AUTH, sandbox.store.auth.issue_code())
    claim_url = _claim_url(client.get(LOAD, {"signed_payload_jwt": _jwt(sandbox)}))
    _claim(admin_client, places, claim_url, django_capture_on_commit_callbacks)

    assert StoreLink.objects.filter(retailer=retailer).count() == 1
    assert StoreLink.objects.get().state == LinkState.ACTIVE
    assert AppInstall.objects.count() == 1


@pytest.mark.parametrize(("token", "status"), [("", 400), ("garbage", 403)])
def test_unverified_uninstalls_change_nothing(install, client, token, status):
    response = client.get(UNINSTALL, {"signed_payload_jwt": token})

    assert response.status_code == status
    assert AppInstall.objects.get().uninstalled_at is None


@pytest.mark.parametrize("name", ["app_auth", "app_load", "app_uninstall"])
def test_the_callbacks_answer_get_only(client, name):
    assert client.post(reverse(f"integration:{name}")).status_code == 405


def test_the_install_check_says_what_is_wrong_with_the_token(
    install, client, admin_client, sandbox, places, retailer, django_capture_on_commit_callbacks
):
    claim_url = _claim_url(client.get(LOAD, {"signed_payload_jwt": _jwt(sandbox)}))
    sandbox.store.faults.add(Fault(kind="error", endpoint="list_orders", status=403))

    response = _claim(admin_client, places, claim_url, django_capture_on_commit_callbacks)

    assert response.status_code == 200
    assert "lacks the “Orders” scope" in response.content.decode()
    assert not StoreLink.objects.exists()


def test_the_claim_page_warns_of_a_different_store_only_when_it_is_one(
    install, client, admin_client, sandbox, retailer
):
    claim_url = _claim_url(client.get(LOAD, {"signed_payload_jwt": _jwt(sandbox)}))
    same = factories.StoreLinkFactory(retailer=retailer, state=LinkState.UNLINKED, store_hash=sandbox.store_hash)
    factories.ProductLinkFactory(link=same)

    relink = admin_client.get(claim_url).content.decode()
    other = factories.StoreLinkFactory(
        retailer=retailer,
        state=LinkState.UNLINKED,
        store_hash="another1",
        outlet=same.outlet,
        register=same.register,
        default_payment_type=same.default_payment_type,
    )
    factories.ProductLinkFactory(link=other)
    different = admin_client.get(claim_url).content.decode()

    assert 'data-testid="different-store-warning"' not in relink
    assert 'data-testid="different-store-warning"' in different
