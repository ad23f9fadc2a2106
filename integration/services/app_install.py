"""The single-click app install: BigCommerce's auth, load and uninstall callbacks, and claiming an install.

The design (BigCommerce knows stores, we know retailers, so an install is matched to a retailer by a person):

1. `/bigcommerce/auth?code&scope&context`: BigCommerce sends the installing user's browser here, inside the
   control panel's iframe. `app_install_record` exchanges the code at `BIGCOMMERCE_LOGIN_URL/oauth2/token` and
   keeps the token in an `AppInstall` row (one per store hash, encrypted), pending until it is claimed.
2. `/bigcommerce/load?signed_payload_jwt=...`: each time a user opens the app. `app_payload_verify` checks the
   JWT (HS256 with the client secret, audience the client id, issuer "bc", not expired, `sub` a store with an
   install). The page shows the link's status, or, while unclaimed, a button that opens this site in a new tab
   (the iframe has no session cookie) with a claim token signed by `django.core.signing` and valid 15 minutes.
3. A signed-in merchant admin opens that URL, picks outlet, register and payment type, and `app_install_claim`
   links the store for their retailer: a link of kind `app`, with the install's token and webhooks registered
   like a store-level link's.
4. `/bigcommerce/uninstall?signed_payload_jwt=...`: `app_install_uninstall` marks the install uninstalled and
   unlinks (BigCommerce deletes an app's hooks itself). Every sale, mapping and log stays; reinstalling and
   claiming again relinks the same store without duplicates.

The three callbacks need no sign-in, but nothing is done without a code BigCommerce accepts or a valid JWT.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import jwt
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from integration.choices import LinkKind
from integration.exceptions import ApiError, ApiUnavailable
from integration.models import AppInstall, StoreLink
from integration.services.link import (
    LinkError,
    store_credentials_check,
    store_hash_parse,
    store_link_create,
    store_link_unlink,
)
from pos.models import Outlet, PaymentType, Register, Retailer

logger = logging.getLogger("integration.app_install")

CLAIM_SALT = "integration.app_install.claim"
CLAIM_MAX_AGE = timedelta(minutes=15)
# Clock skew tolerated on the JWT's exp / nbf / iat.
JWT_LEEWAY_SECONDS = 30
JWT_REQUIRED_CLAIMS = ["exp", "iat", "nbf", "aud", "iss", "sub"]


class AppAuthError(Exception):
    """A callback or claim we refuse: `status` is the HTTP answer, `message` what the person reads, `reason` a
    short code for the log (never a secret)."""

    def __init__(self, message: str, *, status: int = 403, reason: str = "unverified"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason


def app_configured() -> bool:
    return bool(settings.BIGCOMMERCE_CLIENT_ID and settings.BIGCOMMERCE_CLIENT_SECRET)


def _require_configured() -> None:
    if not app_configured():
        raise AppAuthError(
            "The BigCommerce app is not configured on this site (BIGCOMMERCE_CLIENT_ID and "
            "BIGCOMMERCE_CLIENT_SECRET). Link the store with a store-level API account instead.",
            status=503,
            reason="not_configured",
        )


def app_auth_callback_url() -> str:
    """The auth callback URL registered for the app; BigCommerce wants it again as `redirect_uri`."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("integration:app_auth")


def app_install_record(*, code: str, scope: str, context: str) -> AppInstall:
    """The auth callback: exchange the code for the store's token and keep it until the install is claimed.

    A reinstall or a re-authorisation (BigCommerce re-issues the token when the app's scopes change) replaces
    the token, also on the link already using it.
    """
    from integration.client import oauth_token_exchange

    _require_configured()
    if not code or not context:
        raise AppAuthError("The install request is missing its code or context.", status=400, reason="missing")
    if not context.startswith("stores/"):
        raise AppAuthError("The install request names no store.", status=400, reason="bad_context")
    try:
        store_hash_parse(context.removeprefix("stores/"))
    except LinkError:
        raise AppAuthError("The install request names no store.", status=400, reason="bad_context") from None
    try:
        token = oauth_token_exchange(code=code, scope=scope, context=context, redirect_uri=app_auth_callback_url())
    except ApiUnavailable as exc:
        raise AppAuthError(
            f"BigCommerce's login service could not be reached ({exc.detail}). Try installing again in a minute.",
            status=502,
            reason="login_unreachable",
        ) from None
    except ApiError as exc:
        raise AppAuthError(
            f"BigCommerce did not accept this install ({exc.detail or 'no reason given'}). Start the install "
            "again from the control panel.",
            status=400,
            reason="exchange_refused",
        ) from None
    if f"stores/{token.store_hash}" != context:
        raise AppAuthError("BigCommerce answered for another store.", status=400, reason="context_mismatch")
    return _install_save(token)


@transaction.atomic
def _install_save(token) -> AppInstall:
    now = timezone.now()
    install = AppInstall.objects.select_for_update().filter(store_hash=token.store_hash).first()
    if install is None or install.uninstalled_at is not None:
        install = install or AppInstall(store_hash=token.store_hash)
        install.installed_at, install.uninstalled_at = now, None
    install.access_token = token.access_token
    install.scopes = token.scope
    install.installer_email, install.installer_bc_user_id = token.user_email, token.user_id
    install.owner_email = token.owner_email
    install.save()
    if link := install.claimed_link:
        link.access_token, link.scopes = token.access_token, token.scope
        link.save(update_fields=["access_token", "scopes", "updated_at"])
    logger.info("app installed or re-authorised for store %s", install.store_hash)
    return install


def app_payload_verify(*, signed_payload_jwt: str) -> AppInstall:
    """The install a `/load` or `/uninstall` callback is for, after verifying its `signed_payload_jwt`."""
    _require_configured()
    if not signed_payload_jwt:
        raise AppAuthError("The request carries no signed payload.", status=400, reason="missing")
    try:
        claims = jwt.decode(
            signed_payload_jwt,
            settings.BIGCOMMERCE_CLIENT_SECRET,
            algorithms=["HS256"],
            audience=settings.BIGCOMMERCE_CLIENT_ID,
            issuer="bc",
            leeway=JWT_LEEWAY_SECONDS,
            options={"require": JWT_REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise AppAuthError(
            "This request has expired. Open the app again from your BigCommerce control panel.", reason="expired"
        ) from None
    except jwt.InvalidTokenError as exc:
        raise AppAuthError(
            "This request could not be verified as coming from BigCommerce.", reason=type(exc).__name__
        ) from None
    subject = str(claims.get("sub", ""))
    store_hash = subject.removeprefix("stores/")
    install = AppInstall.objects.select_related("link__retailer").filter(store_hash=store_hash).first()
    if not subject.startswith("stores/") or install is None:
        raise AppAuthError(
            "This store has not installed the app here. Install it again from the BigCommerce marketplace.",
            status=404,
            reason="unknown_store",
        )
    return install


def app_claim_token(*, install: AppInstall) -> str:
    """A token that lets a signed-in merchant admin claim `install` for their retailer (valid 15 minutes)."""
    return signing.dumps({"install": install.pk, "store": install.store_hash}, salt=CLAIM_SALT, compress=True)


def app_claim_install(*, token: str) -> AppInstall:
    """The install a claim token names, if the token is genuine, fresh, and the install still unclaimed."""
    try:
        data = signing.loads(token, salt=CLAIM_SALT, max_age=CLAIM_MAX_AGE)
    except signing.SignatureExpired:
        raise AppAuthError(
            "This link has expired (it is valid 15 minutes). Open the app again in your BigCommerce control "
            "panel and use its button again.",
            status=400,
            reason="claim_expired",
        ) from None
    except signing.BadSignature:
        raise AppAuthError(
            "This link is not valid. Open the app in your BigCommerce control panel and use its button.",
            status=400,
            reason="claim_invalid",
        ) from None
    install = (
        AppInstall.objects.select_related("link__retailer")
        .filter(pk=data.get("install"), store_hash=data.get("store"))
        .first()
    )
    if install is None or not install.is_installed:
        raise AppAuthError(
            "The app is no longer installed on this store. Install it again from BigCommerce.",
            status=400,
            reason="claim_uninstalled",
        )
    return install


def app_install_claim(
    *,
    install: AppInstall,
    retailer: Retailer,
    outlet: Outlet,
    register: Register,
    default_payment_type: PaymentType | None,
    acting_user,
    confirm_different_store: bool = False,
    client=None,
) -> StoreLink:
    """Link the install's store to the admin's retailer (a link of kind `app`). The token is checked live first,
    like a store-level account's; LinkError says what is wrong."""
    check = store_credentials_check(store_hash=install.store_hash, access_token=install.access_token, client=client)
    with transaction.atomic():
        install = AppInstall.objects.select_for_update(of=("self",)).select_related("link").get(pk=install.pk)
        if not install.is_installed:
            raise LinkError("The app is no longer installed on this store.", code="uninstalled")
        if (claimed := install.claimed_link) is not None:
            whose = "your retailer" if claimed.retailer_id == retailer.pk else "another retailer"
            raise LinkError(f"This install is already linked to {whose}.", code="already_claimed")
        link = store_link_create(
            retailer=retailer,
            check=check,
            access_token=install.access_token,
            outlet=outlet,
            register=register,
            default_payment_type=default_payment_type,
            acting_user=acting_user,
            confirm_different_store=confirm_different_store,
            kind=LinkKind.APP,
            scopes=install.scopes,
        )
        install.link, install.claimed_at, install.claimed_by = link, timezone.now(), acting_user
        install.save(update_fields=["link", "claimed_at", "claimed_by", "updated_at"])
    return link


@transaction.atomic
def app_install_uninstall(*, install: AppInstall) -> None:
    """The uninstall callback: the install ends and its link is unlinked (BigCommerce deleted the hooks)."""
    install = AppInstall.objects.select_for_update(of=("self",)).select_related("link").get(pk=install.pk)
    if install.uninstalled_at is None:
        install.uninstalled_at = timezone.now()
        install.save(update_fields=["uninstalled_at", "updated_at"])
    if (link := install.claimed_link) is not None and link.kind == LinkKind.APP:
        store_link_unlink(link=link, acting_user=None, delete_hooks=False)
    logger.info("app uninstalled from store %s", install.store_hash)
