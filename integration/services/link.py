"""Linking a retailer to a BigCommerce store, keeping its webhooks alive, and unlinking.

Linking checks the credentials live and says exactly what is wrong, registers our webhooks with a per-link secret
sent back in a custom header, and records everything in the audit and sync logs. Relinking the same store
reactivates the same StoreLink row, so its product, customer and payment-method mappings (and the stock source
keys built on its id) are reused and nothing is duplicated; the first reconciliation after a relink picks up
the orders placed while the store was unlinked. Linking a different store while mappings exist needs an explicit
confirmation: the old row and its mappings are kept as an archive, never reused.

Also here: where online sales are booked (outlet, register, default payment type), the payment-method mapping,
and which BigCommerce inventory location follows which outlet's stock.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from urllib.parse import urlsplit

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from integration.bc_types import Location
from integration.choices import LinkKind, LinkState, PickupStock
from integration.exceptions import (
    ApiBadResponse,
    ApiCredentialsRejected,
    ApiError,
    ApiNotFound,
    ApiRateLimited,
    ApiServerError,
    ApiUnavailable,
)
from integration.fields import fernet
from integration.models import CustomerLink, OutletLocation, PaymentMethodMap, ProductLink, StoreLink
from integration.selectors import (
    active_link,  # noqa: F401 - re-exported: a read, it lives with the selectors
    order_syncs_queued,
)
from integration.services.catalog_ids import catalog_ids_request
from integration.services.intake import AUTH_HEADER, ORDER_SCOPES
from integration.services.reconcile import RECONCILE
from integration.services.stock_drift import STOCK_DRIFT, stock_drift_interval
from integration.services.synclog import Event, sync_log
from pos.choices import AuditAction
from pos.models import AuditEntry, Outlet, PaymentType, Register, Retailer
from work import kernel

logger = logging.getLogger("integration.link")

HOOKS = "bc.hooks"
# The hooks are registered right after the link; the periodic check starts this long after.
HOOKS_FIRST_CHECK = timedelta(minutes=5)
HOOK_SCOPES = tuple(sorted(ORDER_SCOPES))
# The payment type online sales are booked as when the admin does not pick one.
DEFAULT_PAYMENT_TYPE_NAME = "BigCommerce"
# The live check answers a person waiting on a form: never wait long for the store's quota.
CHECK_MAX_WAIT_SECONDS = 5.0
# A store hash, or the API path BigCommerce shows beside the token (https://api.bigcommerce.com/stores/<hash>/v3/).
_API_PATH = re.compile(r"/stores/([A-Za-z0-9]+)(?:/|$)")


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
    # The API base URL the check used; blank means BIGCOMMERCE_API_URL.
    api_url: str = ""


def _link_client(link: StoreLink):
    from integration.client import BigCommerceClient

    return BigCommerceClient.for_link(link)


def token_seal(token: str) -> str:
    """A token encrypted as stored ones are (FIELD_ENCRYPTION_KEY), to be kept briefly outside the database (the
    session of a link attempt that failed for another reason than the token)."""
    return fernet().encrypt(token.encode()).decode()


def token_unseal(sealed: str, *, max_age_seconds: int) -> str | None:
    """The token `token_seal` gave, or None when it is older than `max_age_seconds` or not one of ours."""
    try:
        return fernet().decrypt(sealed.encode(), ttl=max_age_seconds).decode()
    except InvalidToken:
        return None


def check_client(store_hash: str, access_token: str, api_url: str):
    from integration.client import BigCommerceClient
    from integration.ratelimit import StoreRateLimiter

    return BigCommerceClient(
        store_hash=store_hash,
        access_token=access_token,
        base_url=api_url or None,
        rate_limiter=StoreRateLimiter(store_hash, max_wait=CHECK_MAX_WAIT_SECONDS),
    )


def store_hash_parse(value: str) -> str:
    """The store hash in what a merchant pasted: the hash itself, or the API path shown with the token."""
    value = value.strip()
    if match := _API_PATH.search(value):
        value = match.group(1)
    if not value or not value.isascii() or not value.isalnum() or len(value) > 64:
        raise LinkError(
            "A store hash is letters and digits only, like “abc123de” in the API path "
            "https://api.bigcommerce.com/stores/abc123de/v3/ shown with your API account.",
            field="store_hash",
            code="hash_format",
        )
    return value


def store_credentials_check(*, store_hash: str, access_token: str, api_url: str = "", client=None) -> StoreCheck:
    """Check a store hash and token live: the store exists, the token is accepted, and it may read orders and
    products. Raises LinkError with the exact problem. Calls: 3 (`GET /v2/store`, one order, one product)."""
    store_hash = store_hash_parse(store_hash)
    access_token = access_token.strip()
    own_url = api_url and api_url.rstrip("/") != settings.BIGCOMMERCE_API_URL.rstrip("/")
    if own_url and not settings.BIGCOMMERCE_LINK_API_URLS:
        raise LinkError(
            f"A link to {api_url} is for development only (a sandbox store); this deployment links to "
            f"{settings.BIGCOMMERCE_API_URL}.",
            code="api_url",
        )
    if not access_token:
        raise LinkError(
            "Paste the access token of the store-level API account.", field="access_token", code="token_missing"
        )
    client = client or check_client(store_hash, access_token, api_url)
    try:
        info = client.get_store()
    except ApiNotFound:
        raise LinkError(
            f"BigCommerce has no store with the hash “{store_hash}”. Copy it from your API account's API "
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
        raise unreachable(exc) from None
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
            raise unreachable(exc) from None
    return StoreCheck(
        store_hash=info.id or store_hash,
        store_id=str(info.store_id or ""),
        name=info.name,
        domain=info.domain,
        currency=info.currency,
        api_url=api_url,
    )


def unreachable(exc: ApiError) -> LinkError:
    if isinstance(exc, ApiRateLimited):
        return LinkError(
            "BigCommerce is rate-limiting this store's API right now. Wait a minute and try again.", code="rate_limited"
        )
    if isinstance(exc, ApiBadResponse):
        return LinkError(
            f"BigCommerce answered something unexpected ({exc.detail or 'no detail'}), so the store could not be "
            "checked. Check the API path and token (they must be the store's own API account), then try again; if "
            "it persists, contact support with this message.",
            code="unexpected_answer",
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
    """Why BigCommerce could not deliver webhooks to PUBLIC_BASE_URL, or None.

    Enforced when BIGCOMMERCE_WEBHOOKS_REQUIRE_HTTPS is on (production's default); the demo and the tests
    receive the sandbox's webhooks over http."""
    if not settings.BIGCOMMERCE_WEBHOOKS_REQUIRE_HTTPS:
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
    default_payment_type: PaymentType | None,
    acting_user,
    confirm_different_store: bool = False,
    kind: str = LinkKind.API_ACCOUNT,
    scopes: str = "",
) -> StoreLink:
    """Link (or relink) the retailer to a checked store.

    No `default_payment_type` books online payments as a “BigCommerce” payment type (created if missing). After
    the commit: hooks are registered, the linked outlet follows the store's only inventory location, and a
    relink reconciles the orders placed while the store was unlinked.
    """
    if problem := public_url_problem():
        raise LinkError(problem, code="public_url")
    # One link change at a time per retailer: two admins linking at once must not both pass the checks below.
    retailer = Retailer.objects.select_for_update().get(pk=retailer.pk)
    if default_payment_type is None:
        default_payment_type, _ = PaymentType.objects.get_or_create(retailer=retailer, name=DEFAULT_PAYMENT_TYPE_NAME)
    _check_places(retailer, outlet, register, default_payment_type)
    live = StoreLink.objects.filter(retailer=retailer).exclude(state=LinkState.UNLINKED).first()
    if live is not None:
        raise LinkError(
            f"This retailer is already linked to {live.store_name or live.store_hash}. Unlink it first.",
            code="already_linked",
        )
    if _store_linked_elsewhere(retailer, check.store_hash):
        raise LinkError(STORE_LINKED_ELSEWHERE, field="store_hash", code="store_linked_elsewhere")
    if mappings_of_other_stores(retailer=retailer, store_hash=check.store_hash) and not confirm_different_store:
        raise LinkError(
            "This is a different store from the one linked before. Confirm to link it: its orders "
            "will create new products and customers, and the previous store's mappings are archived.",
            field="confirm_different_store",
            code="confirm_different_store",
        )
    link = StoreLink.objects.select_for_update().filter(retailer=retailer, store_hash=check.store_hash).first()
    relinked = link is not None
    # BigCommerce dates have whole seconds: an order placed in the second the link was made is not historical.
    since = timezone.now().replace(microsecond=0)
    link = link or StoreLink(retailer=retailer, store_hash=check.store_hash, linked_at=since)
    link.kind, link.scopes = kind, scopes
    link.state, link.unlinked_at = LinkState.ACTIVE, None
    link.store_id, link.store_name, link.store_domain = check.store_id, check.name, check.domain
    link.store_currency = check.currency
    link.api_base_url = check.api_url
    link.access_token = access_token.strip()
    link.outlet, link.register, link.default_payment_type = outlet, register, default_payment_type
    link.webhook_secret = secrets.token_urlsafe(32)
    link.linked_by = acting_user
    link.full_clean(exclude=["access_token", "webhook_secret"])
    try:
        with transaction.atomic():
            link.save()
    except IntegrityError:
        # Another retailer linked the same store in the same instant (storelink_one_live_per_store).
        raise LinkError(STORE_LINKED_ELSEWHERE, field="store_hash", code="store_linked_elsewhere") from None
    AuditEntry.objects.create(
        retailer=retailer,
        actor=acting_user,
        action=AuditAction.STORE_LINKED,
        detail={"store_hash": link.store_hash, "relinked": relinked, "kind": kind},
    )
    sync_log(link=link, event=Event.LINKED, store=link.store_name or link.store_hash, user=str(acting_user))
    transaction.on_commit(partial(_after_link, link.pk))
    # Learn the store's catalog before the first orders arrive (see integration.services.catalog_ids), and keep
    # checking its hooks and reconciling its orders (periodic work, from now on).
    catalog_ids_request(link=link)
    kernel.ensure(HOOKS, [(link.pk, link.retailer_id)], due=timezone.now() + HOOKS_FIRST_CHECK)
    kernel.ensure(RECONCILE, [(link.pk, link.retailer_id)])
    kernel.ensure(STOCK_DRIFT, [(link.pk, link.retailer_id)], due=timezone.now() + stock_drift_interval())
    if relinked:
        # BigCommerce's stock and prices drifted while unlinked: send every linked item's again (unchanged ones
        # cost nothing), and catch up on the orders placed meanwhile.
        from integration.services.push_state import push_request_all

        push_request_all(link=link)
        kernel.request(RECONCILE, link.pk, shard=link.retailer_id)
    return link


STORE_LINKED_ELSEWHERE = (
    "This BigCommerce store is already linked to another retailer. A store can be linked to one retailer at a "
    "time; if it should be linked here, ask support to move it."
)


def _store_linked_elsewhere(retailer: Retailer, store_hash: str) -> bool:
    live = StoreLink.objects.filter(store_hash=store_hash).exclude(state=LinkState.UNLINKED)
    return live.exclude(retailer=retailer).exists()


def _after_link(link_id: int) -> None:
    link = StoreLink.objects.select_related("retailer").get(pk=link_id)
    client = _link_client(link)
    hooks_register(link=link, client=client)
    outlet_location_default(link=link, client=client)


def _check_places(retailer: Retailer, outlet: Outlet, register: Register, payment_type: PaymentType) -> None:
    if (
        outlet.retailer_id != retailer.pk
        or register.retailer_id != retailer.pk
        or payment_type.retailer_id != retailer.pk
    ):
        raise LinkError("Choose an outlet, register and payment type of this retailer.", code="foreign_choice")
    if register.outlet_id != outlet.pk:
        raise LinkError(
            f"The register “{register.name}” is not in the outlet “{outlet.name}”. Choose a register of that outlet.",
            field="register",
            code="register_outlet",
        )


def _live_link(link: StoreLink) -> StoreLink:
    """The link, locked, or LinkError when it was unlinked meanwhile."""
    link = StoreLink.objects.select_for_update(of=("self",)).select_related("retailer").get(pk=link.pk)
    if link.state == LinkState.UNLINKED:
        raise LinkError("This store is no longer linked. Reload the page.", code="unlinked")
    return link


@transaction.atomic
def store_link_update_settings(
    *,
    link: StoreLink,
    outlet: Outlet,
    register: Register,
    default_payment_type: PaymentType,
    acting_user,
    pickup_stock: str | None = None,
) -> StoreLink:
    """Change where online sales are booked and, with `pickup_stock`, which outlet's stock a pickup takes
    (`PickupStock`; None leaves it). Applies to orders imported from now on."""
    link = _live_link(link)
    _check_places(link.retailer, outlet, register, default_payment_type)
    if pickup_stock is not None and pickup_stock not in PickupStock.values:
        raise LinkError("Choose where pickup orders take their stock from.", field="pickup_stock", code="pickup_stock")
    link.outlet, link.register, link.default_payment_type = outlet, register, default_payment_type
    link.pickup_stock = pickup_stock or link.pickup_stock
    link.save(update_fields=["outlet", "register", "default_payment_type", "pickup_stock", "updated_at"])
    AuditEntry.objects.create(
        retailer=link.retailer,
        actor=acting_user,
        action=AuditAction.SETTINGS_CHANGED,
        detail={
            "setting": "bigcommerce_link",
            "outlet": outlet.pk,
            "register": register.pk,
            "default_payment_type": default_payment_type.pk,
            "pickup_stock": link.pickup_stock,
        },
    )
    sync_log(
        link=link,
        event=Event.LINK_SETTINGS_CHANGED,
        user=str(acting_user),
        outlet=outlet.name,
        register=register.name,
        payment_type=default_payment_type.name,
        pickup=PickupStock(link.pickup_stock).label.lower(),
    )
    return link


@transaction.atomic
def payment_methods_map(*, link: StoreLink, mapping: Mapping[int, PaymentType | None], acting_user) -> int:
    """Map BigCommerce payment methods (by PaymentMethodMap id) to POS payment types (None: the link's default).
    Applies to payments imported from now on. Returns how many mappings changed."""
    link = _live_link(link)
    changed = []
    for row in PaymentMethodMap.objects.filter(link=link, pk__in=list(mapping)).select_related("payment_type"):
        payment_type = mapping[row.pk]
        if payment_type is not None and payment_type.retailer_id != link.retailer_id:
            raise LinkError("Choose a payment type of this retailer.", code="foreign_choice")
        if row.payment_type_id != (payment_type.pk if payment_type else None):
            row.payment_type = payment_type
            changed.append(row)
    PaymentMethodMap.objects.bulk_update(changed, ["payment_type"])
    if changed:
        detail = "; ".join(f"{row.method} → {row.payment_type or 'the default payment type'}" for row in changed)
        sync_log(link=link, event=Event.PAYMENT_METHODS_MAPPED, user=str(acting_user), detail=detail)
    return len(changed)


def payment_methods_map_by_name(*, link: StoreLink, mapping: Mapping[str, PaymentType], acting_user) -> int:
    """Map payment methods by the name BigCommerce's orders give them, before their first order (the demo's set-up):
    each is recorded as an order would record it, and mapped unless someone mapped it already. Returns how many
    mappings changed."""
    now = timezone.now()
    PaymentMethodMap.objects.bulk_create(
        [PaymentMethodMap(link=link, method=method, first_seen_at=now, last_seen_at=now) for method in mapping],
        ignore_conflicts=True,
    )
    unmapped = PaymentMethodMap.objects.filter(link=link, method__in=list(mapping), payment_type__isnull=True)
    return payment_methods_map(
        link=link, mapping={row.pk: mapping[row.method] for row in unmapped}, acting_user=acting_user
    )


# ---------------------------------------------------------------- outlets and BigCommerce inventory locations


def store_locations(*, link: StoreLink, client=None) -> list[Location]:
    """The store's inventory locations, read live (1 call). Raises LinkError when BigCommerce cannot say."""
    client = client or _link_client(link)
    try:
        return sorted(client.list_locations(), key=lambda location: location.id)
    except ApiCredentialsRejected:
        raise LinkError(
            "The token cannot read the store's inventory locations. Give the API account the "
            "“Information & settings” or “Inventory” scope (read-only is enough).",
            code="scope_inventory",
        ) from None
    except ApiError as exc:
        raise unreachable(exc) from None


@transaction.atomic
def outlet_locations_map(
    *, link: StoreLink, mapping: Mapping[int, int | None], locations: Sequence[Location], acting_user
) -> list[OutletLocation]:
    """Say which BigCommerce location follows which outlet's stock: `mapping` is outlet id → location id (None:
    the outlet's stock is not pushed). Each outlet and each location appears at most once; `locations` are the
    store's (from `store_locations`), so a location BigCommerce does not have cannot be chosen. Replaces the
    link's whole mapping."""
    link = _live_link(link)
    by_id = {location.id: location for location in locations}
    outlets = {o.pk: o for o in Outlet.objects.for_retailer(link.retailer).filter(pk__in=list(mapping))}
    if set(mapping) - set(outlets):
        raise LinkError("Choose outlets of this retailer.", code="foreign_choice")
    chosen: dict[int, Outlet] = {}
    for outlet_id, location_id in mapping.items():
        if location_id is None:
            continue
        if location_id not in by_id:
            raise LinkError(
                f"BigCommerce has no location {location_id} in this store. Reload the page to see its locations.",
                code="location_unknown",
            )
        if location_id in chosen:
            raise LinkError(
                f"“{by_id[location_id].label}” is chosen for both {chosen[location_id].name} and "
                f"{outlets[outlet_id].name}. A BigCommerce location can follow one outlet only.",
                code="location_twice",
            )
        chosen[location_id] = outlets[outlet_id]
    before = {(row.outlet_id, row.location_id) for row in OutletLocation.objects.filter(link=link)}
    after = {(outlet.pk, location_id) for location_id, outlet in chosen.items()}
    if before == after:
        return list(OutletLocation.objects.filter(link=link))
    OutletLocation.objects.filter(link=link).delete()
    rows = OutletLocation.objects.bulk_create(
        [
            OutletLocation(link=link, outlet=outlet, location_id=location_id, location_label=by_id[location_id].label)
            for location_id, outlet in sorted(chosen.items())
        ]
    )
    detail = "; ".join(f"{r.outlet.name} → {r.location_label or r.location_id}" for r in rows) or "none"
    sync_log(link=link, event=Event.LOCATIONS_MAPPED, user=str(acting_user), detail=detail)
    # An outlet newly following a location (or following another one) has never had its levels sent there.
    _push_levels(link, {outlet_id for outlet_id, _ in after - before})
    return rows


def _push_levels(link: StoreLink, outlet_ids: set[int]) -> None:
    from integration.services.push_state import push_request_all

    if outlet_ids:
        transaction.on_commit(partial(push_request_all, link=link, outlet_ids=sorted(outlet_ids), prices=False))


def outlet_location_default(*, link: StoreLink, client=None) -> OutletLocation | None:
    """When nothing is mapped yet and the store has a single inventory location, the linked outlet follows it.
    Called after linking; a store with several locations waits for the admin to choose."""
    if link.outlet_id is None or OutletLocation.objects.filter(link=link).exists():
        return None
    try:
        locations = store_locations(link=link, client=client)
    except LinkError as error:
        logger.warning("link %s: locations not read (%s); the outlet mapping waits for the admin", link.pk, error)
        return None
    if len(locations) != 1:
        return None
    (location,) = locations
    row, created = OutletLocation.objects.get_or_create(
        link=link, outlet_id=link.outlet_id, defaults={"location_id": location.id, "location_label": location.label}
    )
    if created:
        _push_levels(link, {link.outlet_id})
    sync_log(
        link=link,
        event=Event.LOCATIONS_MAPPED,
        user="The link",
        detail=f"{link.outlet.name} → {location.label or location.id} (the store's only location)",
    )
    return row


# ---------------------------------------------------------------- webhooks


# Which hooks are ours: a hook is owned by the link whose id its auth header carries ("<link id>:<secret>", see
# integration.services.intake), never by its scope and URL alone. Another retailer's live link may have hooks at the
# same address (this deployment's); they are never updated, reused or deleted from here.


def _auth_value(hook) -> str:
    return str(next((v for k, v in (hook.headers or {}).items() if k.lower() == AUTH_HEADER.lower()), ""))


def _hook_owner(hook) -> int | None:
    """The link id in the hook's auth header, or None (no header, or not one of ours)."""
    link_id, _, secret = _auth_value(hook).partition(":")
    return int(link_id) if link_id.isdigit() and secret else None


def _owns(link: StoreLink, hook) -> bool:
    """The hook delivers to this link: its header names the link with the link's current secret."""
    return _auth_value(hook) == f"{link.pk}:{link.webhook_secret}"


def _registered_by(link: StoreLink, hook, hook_ids: Sequence[int] | None = None) -> bool:
    """The hook was registered for this link: it names the link, with the current secret or (a relink changes
    the secret) as one of the hooks the link recorded (`hook_ids`, default the link's stored hooks)."""
    known = {h["id"] for h in link.hooks} if hook_ids is None else set(hook_ids)
    return _owns(link, hook) or (_hook_owner(hook) == link.pk and hook.id in known)


def _live_owners(link: StoreLink, hooks) -> set[int]:
    """Of the links named by `hooks`' headers, the other live ones."""
    owners = {_hook_owner(hook) for hook in hooks} - {None, link.pk}
    return set(StoreLink.objects.filter(pk__in=owners).exclude(state=LinkState.UNLINKED).values_list("pk", flat=True))


def hooks_register(*, link: StoreLink, client=None) -> bool:
    """Create (or reactivate and update) this link's hooks at BigCommerce for every order scope and store their
    ids; delete the hooks it registered earlier for another destination (PUBLIC_BASE_URL changed).

    At our destination, a hook naming this link (even with an older secret) is updated, and so is one naming no
    live link (left behind by an unlink that could not delete it); a hook naming another live link is left
    alone and its scope recorded as delivering elsewhere. Returns False, with the reason in the sync log, when
    BigCommerce refused or a scope could not be registered."""
    client = client or _link_client(link)
    destination = webhook_destination()
    headers = {AUTH_HEADER: f"{link.pk}:{link.webhook_secret}"}
    try:
        existing = client.list_hooks()
        here = [h for h in existing if h.destination == destination and h.scope in HOOK_SCOPES]
        others = _live_owners(link, here)

        def preference(hook) -> int:  # one hook per scope: this link's, else a left-behind one, else another's
            owner = _hook_owner(hook)
            return 2 if owner == link.pk else 0 if owner in others else 1

        by_scope = {h.scope: h for h in sorted(here, key=preference)}
        hooks, elsewhere = [], []
        for scope in HOOK_SCOPES:
            hook = by_scope.get(scope)
            if hook is not None and _hook_owner(hook) in others:
                elsewhere.append(scope)
                hooks.append({"scope": scope, "id": hook.id, "is_active": False, "elsewhere": True})
                continue
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
    moved = [h.id for h in existing if h.destination != destination and _registered_by(link, h)]
    _hooks_delete(link, client, moved)
    if elsewhere:
        sync_log(link=link, event=Event.HOOKS_FAILED, message=_elsewhere_message(elsewhere))
        return False
    sync_log(link=link, event=Event.HOOKS_REGISTERED, scopes=", ".join(HOOK_SCOPES))
    return True


def _elsewhere_message(scopes: Sequence[str]) -> str:
    return (
        f"BigCommerce sends {', '.join(scopes)} for this store to another link of this back office, not to this "
        "one. A store is linked to one retailer at a time: ask support to move it."
    )


def _hooks_delete(link: StoreLink, client, hook_ids: Sequence[int]) -> None:
    """Delete hooks at BigCommerce, best effort (a hook left behind is refused by the intake and deactivated)."""
    for hook_id in hook_ids:
        try:
            client.delete_hook(hook_id)
        except ApiNotFound:
            pass
        except ApiError as exc:
            logger.warning("could not delete hook %s of link %s: %s", hook_id, link.pk, exc.detail)


def _hooks_delete_own(link: StoreLink, hook_ids: Sequence[int]) -> None:
    """After an unlink: delete the hooks this link registered, as BigCommerce lists them now, and no other (a
    hook id the link once had may since belong to another link). Nothing is deleted when the list fails."""
    client = _link_client(link)
    try:
        live = client.list_hooks()
    except ApiError as exc:
        logger.warning("could not list hooks of unlinked link %s (none deleted): %s", link.pk, exc.detail)
        return
    _hooks_delete(link, client, [h.id for h in live if _registered_by(link, h, hook_ids)])


def hooks_check(*, link: StoreLink, client=None) -> int:
    """Re-register hooks BigCommerce deactivated (after failed deliveries or 90 days idle) or deleted, and notice
    hooks that no longer deliver to this link (another link's header, or an old secret). Stores what it saw
    (each scope's hook of this link, or one delivering to another live link) before trying. Returns how many
    scopes needed it."""
    client = client or _link_client(link)
    destination = webhook_destination()
    try:
        here = [h for h in client.list_hooks() if h.destination == destination and h.scope in HOOK_SCOPES]
    except ApiError as exc:
        logger.warning("could not list hooks of link %s: %s", link.pk, exc.detail)
        return 0
    ours = {h.scope: h for h in here if _owns(link, h)}
    others = _live_owners(link, here)
    theirs = {h.scope: h for h in here if _hook_owner(h) in others}
    seen = []
    for scope in HOOK_SCOPES:
        if scope in ours:
            seen.append({"scope": scope, "id": ours[scope].id, "is_active": ours[scope].is_active})
        elif scope in theirs:
            seen.append({"scope": scope, "id": theirs[scope].id, "is_active": False, "elsewhere": True})
    StoreLink.objects.filter(pk=link.pk).update(hooks=seen, hooks_checked_at=timezone.now())
    broken = [s for s in HOOK_SCOPES if s not in ours or not ours[s].is_active]
    if broken and hooks_register(link=link, client=client):
        sync_log(link=link, event=Event.HOOKS_REACTIVATED, count=len(broken))
    return len(broken)


# ---------------------------------------------------------------- unlinking


@transaction.atomic
def store_link_unlink(*, link: StoreLink, acting_user, delete_hooks: bool = True) -> bool:
    """Stop syncing: delete our hooks at BigCommerce (after the commit, best effort) and keep every sale,
    mapping and log. An app uninstall passes `delete_hooks=False`: BigCommerce deletes an app's hooks itself.
    Returns False when the link was already unlinked."""
    link = StoreLink.objects.select_for_update(of=("self",)).select_related("retailer").get(pk=link.pk)
    if link.state == LinkState.UNLINKED:
        return False
    hook_ids = [hook["id"] for hook in link.hooks]
    link.state, link.unlinked_at, link.hooks = LinkState.UNLINKED, timezone.now(), []
    link.save(update_fields=["state", "unlinked_at", "hooks", "updated_at"])
    AuditEntry.objects.create(
        retailer=link.retailer,
        actor=acting_user,
        action=AuditAction.STORE_UNLINKED,
        detail={"store_hash": link.store_hash, "hooks_deleted": delete_hooks},
    )
    who = str(acting_user) if acting_user else "BigCommerce (the app was uninstalled)"
    sync_log(link=link, event=Event.UNLINKED, store=link.store_name or link.store_hash, user=who)
    if delete_hooks:
        transaction.on_commit(partial(_hooks_delete_own, link, hook_ids))
    return True


# ---------------------------------------------------------------- moving a store between retailers


@transaction.atomic
def store_link_move(*, link: StoreLink, to_retailer: Retailer, reason: str, acting_user) -> StoreLink:
    """Support moves a linked store to another retailer: the link is unlinked (its own hooks deleted) and the
    store linked to `to_retailer` with the same credentials, booked to its first register (its admins change
    that in Settings). Support only, with a reason; audited on both retailers. Raises LinkError."""
    if not getattr(acting_user, "is_support", False):
        raise PermissionDenied("Only support can move a store between retailers.")
    reason = (reason or "").strip()
    if not reason:
        raise LinkError("Say why: the reason is recorded in the audit log.", field="reason", code="reason_missing")
    link = _live_link(link)
    source = link.retailer
    if to_retailer.pk == source.pk:
        raise LinkError(f"The store is already linked to {source.name}.", field="to_retailer", code="same_retailer")
    register = Register.objects.filter(retailer=to_retailer).select_related("outlet").order_by("pk").first()
    if register is None:
        raise LinkError(
            f"{to_retailer.name} has no register to book online sales to. Create an outlet with a register first.",
            field="to_retailer",
            code="no_register",
        )
    check = StoreCheck(
        store_hash=link.store_hash,
        store_id=link.store_id,
        name=link.store_name,
        domain=link.store_domain,
        currency=link.store_currency,
        api_url=link.api_base_url,
    )
    store_link_unlink(link=link, acting_user=acting_user)
    moved = store_link_create(
        retailer=to_retailer,
        check=check,
        access_token=link.access_token,
        outlet=register.outlet,
        register=register,
        default_payment_type=None,
        acting_user=acting_user,
        confirm_different_store=True,
        kind=link.kind,
        scopes=link.scopes,
    )
    link.app_installs.update(link=moved)
    detail = {"store_hash": link.store_hash, "from_retailer": source.pk, "to_retailer": to_retailer.pk}
    AuditEntry.objects.bulk_create(
        [
            AuditEntry(
                retailer=retailer, actor=acting_user, action=AuditAction.STORE_MOVED, reason=reason, detail=detail
            )
            for retailer in (source, to_retailer)
        ]
    )
    return moved


@dataclass(frozen=True)
class LinkStatus:
    """What the settings page's status panel shows about a live link."""

    hooks_active: int
    hooks_expected: int
    # Scopes whose hook at our address delivers to another link (as of the last check).
    hooks_elsewhere: int
    hooks_checked_at: datetime | None
    last_webhook_at: datetime | None
    last_order_synced_at: datetime | None
    # Order syncs waiting in the webhooks queue; None when Redis cannot say.
    queue_depth: int | None

    @property
    def hooks_ok(self) -> bool:
        return self.hooks_active == self.hooks_expected


def link_status(link: StoreLink) -> LinkStatus:
    """The link's health as stored (no BigCommerce call), plus the webhooks queue's depth from Redis."""
    return LinkStatus(
        hooks_active=sum(1 for hook in link.hooks if hook.get("is_active") and not hook.get("elsewhere")),
        hooks_expected=len(HOOK_SCOPES),
        hooks_elsewhere=sum(1 for hook in link.hooks if hook.get("elsewhere")),
        hooks_checked_at=link.hooks_checked_at,
        last_webhook_at=link.last_webhook_at,
        last_order_synced_at=link.last_order_synced_at,
        queue_depth=order_syncs_queued(retailer_id=link.retailer_id),
    )


def links_archived(*, retailer: Retailer) -> list[StoreLink]:
    """The retailer's unlinked stores, newest first, with how many products (`product_count`) and customers
    (`customer_count`) each one maps: what relinking reuses, or what linking another store archives."""

    def count(model):
        rows = model.objects.filter(link=OuterRef("pk")).order_by().values("link").annotate(n=Count("pk"))
        return Coalesce(Subquery(rows.values("n")), 0)

    return list(
        StoreLink.objects.for_retailer(retailer)
        .filter(state=LinkState.UNLINKED)
        .annotate(product_count=count(ProductLink), customer_count=count(CustomerLink))
        .order_by("-unlinked_at", "-pk")
    )
