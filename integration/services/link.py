"""Linking a retailer to a BigCommerce store, keeping its webhooks alive, and unlinking.

Linking checks the credentials live and says exactly what is wrong, registers our webhooks with a per-link secret
sent back in a custom header, and records everything in the audit and sync logs. Relinking the same store
reactivates the same StoreLink row, so its product, customer and payment-method mappings (and the stock source
keys built on its id) are reused and nothing is duplicated. Linking a different store while mappings exist needs
an explicit confirmation: the old row and its mappings are kept as an archive, never reused.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from integration.choices import LinkKind, LinkState
from integration.exceptions import (
    ApiCredentialsRejected,
    ApiError,
    ApiNotFound,
    ApiRateLimited,
    ApiServerError,
    ApiUnavailable,
)
from integration.models import CustomerLink, PaymentMethodMap, ProductLink, StoreLink
from integration.queueing import QUEUE_WEBHOOKS, enqueue_on_commit
from integration.selectors import active_link  # noqa: F401 - re-exported: a read, it lives with the selectors
from integration.services.intake import AUTH_HEADER, ORDER_SCOPES
from integration.services.synclog import Event, sync_log
from pos.choices import AuditAction
from pos.models import AuditEntry, Outlet, PaymentType, Register, Retailer

logger = logging.getLogger("integration.link")

HOOK_SCOPES = tuple(sorted(ORDER_SCOPES))


class LinkError(Exception):
    """Something the merchant must fix before the store can be linked; the message says what and how."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


@dataclass(frozen=True)
class StoreCheck:
    """What BigCommerce told us about the store while checking the credentials."""

    store_hash: str
    store_id: str
    name: str
    domain: str
    currency: str


def _client(store_hash: str, access_token: str):
    from integration.client import BigCommerceClient

    return BigCommerceClient(store_hash=store_hash, access_token=access_token)


def _link_client(link: StoreLink):
    from integration.client import BigCommerceClient

    return BigCommerceClient.for_link(link)


def store_credentials_check(*, store_hash: str, access_token: str, client=None) -> StoreCheck:
    """Check a store hash and token live: the store exists, the token is accepted, and it may read orders and
    products. Raises LinkError with the exact problem."""
    store_hash = store_hash.strip()
    if not store_hash or not store_hash.isalnum():
        raise LinkError(
            "A store hash is letters and digits only, like “abc123de” in https://store-abc123de.mybigcommerce.com.",
            field="store_hash",
            code="hash_format",
        )
    client = client or _client(store_hash, access_token.strip())
    try:
        info = client.get_store()
    except ApiNotFound:
        raise LinkError(
            f"BigCommerce has no store with the hash “{store_hash}”. Copy it from your store's API "
            "path (…/stores/<hash>/v3/).",
            field="store_hash",
            code="hash_unknown",
        ) from None
    except ApiCredentialsRejected as exc:
        if exc.status == 403:
            raise LinkError(
                "The token was accepted but cannot read store information. Give the API account "
                "the “Information & settings: read-only” scope.",
                field="access_token",
                code="scope_information",
            ) from None
        raise LinkError(
            "BigCommerce rejected this access token for this store. Check that you copied the "
            "whole token of a store-level API account of this store.",
            field="access_token",
            code="token_rejected",
        ) from None
    except ApiError as exc:
        raise _unreachable(exc) from None
    for scope, call in (
        ("Orders", lambda: client.list_orders(limit=1)),
        ("Products", lambda: client.get_products(ids=[1])),
    ):
        try:
            call()
        except ApiCredentialsRejected:
            raise LinkError(
                f"The token lacks the “{scope}” scope. Edit the API account in BigCommerce "
                f"(Settings › Store-level API accounts) and give it {scope}: modify.",
                field="access_token",
                code=f"scope_{scope.lower()}",
            ) from None
        except ApiNotFound:
            pass
        except ApiError as exc:
            raise _unreachable(exc) from None
    return StoreCheck(
        store_hash=info.id or store_hash,
        store_id=str(info.store_id or ""),
        name=info.name,
        domain=info.domain,
        currency=info.currency,
    )


def _unreachable(exc: ApiError) -> LinkError:
    if isinstance(exc, ApiRateLimited):
        return LinkError(
            "BigCommerce is rate-limiting this store's API right now. Wait a minute and try again.", code="rate_limited"
        )
    if isinstance(exc, ApiServerError | ApiUnavailable):
        return LinkError(
            f"BigCommerce could not be reached ({exc.detail or 'no answer'}). Try again in a few "
            "minutes; if it persists, check status.bigcommerce.com.",
            code="unreachable",
        )
    return LinkError(f"BigCommerce refused the check: {exc.detail}", code="refused")


def webhook_destination() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("integration:webhook")


def public_url_problem() -> str | None:
    """Why BigCommerce could not deliver webhooks to PUBLIC_BASE_URL, or None. Enforced in production only."""
    if settings.DEBUG:
        return None
    parts = urlsplit(settings.PUBLIC_BASE_URL)
    if parts.scheme != "https" or (parts.port not in (None, 443)):
        return (
            f"PUBLIC_BASE_URL is {settings.PUBLIC_BASE_URL}, but BigCommerce only delivers webhooks to HTTPS "
            "on port 443. Set it to this site's public https:// address."
        )
    return None


def mappings_of_other_stores(*, retailer: Retailer, store_hash: str) -> int:
    """How many product and customer mappings the retailer has from stores other than `store_hash`."""
    other = StoreLink.objects.filter(retailer=retailer).exclude(store_hash=store_hash)
    return ProductLink.objects.filter(link__in=other).count() + CustomerLink.objects.filter(link__in=other).count()


@transaction.atomic
def store_link_create(
    *,
    retailer: Retailer,
    check: StoreCheck,
    access_token: str,
    outlet: Outlet,
    register: Register,
    default_payment_type: PaymentType,
    acting_user,
    confirm_different_store: bool = False,
    kind: str = LinkKind.API_ACCOUNT,
    scopes: str = "",
) -> StoreLink:
    """Link (or relink) the retailer to a checked store. Hooks are registered after the commit."""
    if problem := public_url_problem():
        raise LinkError(problem, code="public_url")
    _check_places(retailer, outlet, register, default_payment_type)
    live = StoreLink.objects.select_for_update().filter(retailer=retailer).exclude(state=LinkState.UNLINKED).first()
    if live is not None:
        raise LinkError(
            f"This retailer is already linked to {live.store_name or live.store_hash}. Unlink it first.",
            code="already_linked",
        )
    if mappings_of_other_stores(retailer=retailer, store_hash=check.store_hash) and not confirm_different_store:
        raise LinkError(
            "This is a different store from the one linked before. Confirm to link it: its orders "
            "will create new products and customers, and the previous store's mappings are archived.",
            code="confirm_different_store",
        )
    link = StoreLink.objects.select_for_update().filter(retailer=retailer, store_hash=check.store_hash).first()
    relinked = link is not None
    link = link or StoreLink(retailer=retailer, store_hash=check.store_hash)
    link.kind, link.scopes = kind, scopes
    link.state, link.unlinked_at = LinkState.ACTIVE, None
    link.store_id, link.store_name, link.store_domain = check.store_id, check.name, check.domain
    link.store_currency = check.currency
    link.access_token = access_token.strip()
    link.outlet, link.register, link.default_payment_type = outlet, register, default_payment_type
    link.webhook_secret = secrets.token_urlsafe(32)
    link.linked_by = acting_user
    if not relinked:
        link.linked_at = timezone.now()
    link.full_clean(exclude=["access_token", "webhook_secret"])
    link.save()
    AuditEntry.objects.create(
        retailer=retailer,
        actor=acting_user,
        action=AuditAction.STORE_LINKED,
        detail={"store_hash": link.store_hash, "relinked": relinked},
    )
    sync_log(link=link, event=Event.LINKED, store=link.store_name or link.store_hash, user=str(acting_user))
    transaction.on_commit(lambda: hooks_register(link=StoreLink.objects.get(pk=link.pk)))
    # Learn the store's catalog before the first orders arrive (see integration.services.catalog_ids).
    enqueue_on_commit(
        QUEUE_WEBHOOKS,
        "integration.jobs.catalog_ids_refresh_job",
        link.pk,
        job_id=f"catalog-ids-{link.pk}",
        at_front=True,
    )
    return link


def _check_places(retailer: Retailer, outlet: Outlet, register: Register, payment_type: PaymentType) -> None:
    if (
        outlet.retailer_id != retailer.pk
        or register.retailer_id != retailer.pk
        or payment_type.retailer_id != retailer.pk
    ):
        raise LinkError("Choose an outlet, register and payment type of this retailer.", code="foreign_choice")
    if register.outlet_id != outlet.pk:
        raise LinkError(
            f"The register “{register.name}” is not in the outlet “{outlet.name}”.",
            field="register",
            code="register_outlet",
        )


@transaction.atomic
def store_link_update_settings(
    *, link: StoreLink, outlet: Outlet, register: Register, default_payment_type: PaymentType, acting_user
) -> StoreLink:
    """Change where online sales are booked (applies to orders imported from now on)."""
    _check_places(link.retailer, outlet, register, default_payment_type)
    link.outlet, link.register, link.default_payment_type = outlet, register, default_payment_type
    link.save(update_fields=["outlet", "register", "default_payment_type", "updated_at"])
    return link


@transaction.atomic
def payment_methods_map(*, link: StoreLink, mapping: dict[int, PaymentType | None]) -> None:
    """Map BigCommerce payment methods (by PaymentMethodMap id) to POS payment types (None: the default)."""
    for row in PaymentMethodMap.objects.filter(link=link, pk__in=mapping):
        payment_type = mapping[row.pk]
        if payment_type is not None and payment_type.retailer_id != link.retailer_id:
            raise LinkError("Choose a payment type of this retailer.", code="foreign_choice")
        row.payment_type = payment_type
        row.save(update_fields=["payment_type"])


def hooks_register(*, link: StoreLink, client=None) -> bool:
    """Create (or reactivate and update) our hooks at BigCommerce for every order scope; store their ids.
    Returns False, with the reason in the sync log, when BigCommerce refused."""
    client = client or _link_client(link)
    destination = webhook_destination()
    headers = {AUTH_HEADER: f"{link.pk}:{link.webhook_secret}"}
    try:
        existing = {(h.scope, h.destination): h for h in client.list_hooks()}
        hooks = []
        for scope in HOOK_SCOPES:
            hook = existing.get((scope, destination))
            if hook is None:
                hook = client.create_hook(scope=scope, destination=destination, headers=headers, is_active=True)
            else:
                hook = client.update_hook(hook.id, is_active=True, headers=headers)
            hooks.append({"scope": scope, "id": hook.id, "is_active": hook.is_active})
    except ApiError as exc:
        sync_log(
            link=link,
            event=Event.HOOKS_FAILED,
            message=f"{exc.detail}. Use “Re-register webhooks” once "
            "fixed; reconciliation keeps importing orders meanwhile.",
        )
        return False
    StoreLink.objects.filter(pk=link.pk).update(hooks=hooks, hooks_checked_at=timezone.now())
    sync_log(link=link, event=Event.HOOKS_REGISTERED, scopes=", ".join(HOOK_SCOPES))
    return True


def hooks_check(*, link: StoreLink, client=None) -> int:
    """Re-register hooks BigCommerce deactivated (after failed deliveries or 90 days idle) or deleted.
    Returns how many needed it."""
    client = client or _link_client(link)
    destination = webhook_destination()
    try:
        live = {h.scope: h for h in client.list_hooks() if h.destination == destination}
    except ApiError as exc:
        logger.warning("could not list hooks of link %s: %s", link.pk, exc.detail)
        return 0
    broken = [s for s in HOOK_SCOPES if s not in live or not live[s].is_active]
    if broken and hooks_register(link=link, client=client):
        sync_log(link=link, event=Event.HOOKS_REACTIVATED, count=len(broken))
    else:
        StoreLink.objects.filter(pk=link.pk).update(
            hooks=[{"scope": s, "id": live[s].id, "is_active": live[s].is_active} for s in HOOK_SCOPES if s in live],
            hooks_checked_at=timezone.now(),
        )
    return len(broken)


@transaction.atomic
def store_link_unlink(*, link: StoreLink, acting_user, client=None) -> None:
    """Stop syncing: delete our hooks at BigCommerce (best effort), keep every sale, mapping and log."""
    if link.state == LinkState.UNLINKED:
        return
    link = StoreLink.objects.select_for_update().get(pk=link.pk)
    client = client or _link_client(link)
    for hook in link.hooks:
        try:
            client.delete_hook(hook["id"])
        except ApiNotFound:
            pass
        except ApiError as exc:
            logger.warning("could not delete hook %s of link %s: %s", hook.get("id"), link.pk, exc.detail)
    link.state, link.unlinked_at, link.hooks = LinkState.UNLINKED, timezone.now(), []
    link.save(update_fields=["state", "unlinked_at", "hooks", "updated_at"])
    AuditEntry.objects.create(
        retailer=link.retailer,
        actor=acting_user,
        action=AuditAction.STORE_UNLINKED,
        detail={"store_hash": link.store_hash},
    )
    sync_log(link=link, event=Event.UNLINKED, store=link.store_name or link.store_hash, user=str(acting_user))
