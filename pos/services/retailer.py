"""Setting up a shop: the retailer's own settings (name, time zone, currency, the fulfilment balance rule), its
outlets, their registers, and its payment types. Admins change them in Settings; every change is audited.

Nothing here is ever deleted: sales, stock and payments refer to these rows, so an outlet, register or payment type
that is no longer used is deactivated and keeps its history. What the BigCommerce link relies on (its outlet,
its register, the payment types it books online payments as) cannot be deactivated: the link depends on the
POS and not the reverse, so callers pass those ids in as `InUse`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.db import transaction

from pos.choices import AuditAction
from pos.models import AuditEntry, Outlet, PaymentType, Register, Retailer, Sale, User

NAME_REQUIRED = "Enter a name."
TIME_ZONE_UNKNOWN = "“%(value)s” is not a time zone. Pick one from the list, e.g. Europe/London."
CURRENCY_FORMAT = "A currency is its three-letter ISO code, e.g. USD, EUR or AUD."
CURRENCY_LOCKED = (
    "The currency cannot change once the shop has sales: their amounts are in %(currency)s and are never converted."
)
OUTLET_NAME_TAKEN = "An outlet named “%(name)s” already exists."
REGISTER_NAME_TAKEN = "The outlet “%(outlet)s” already has a register named “%(name)s”."
PAYMENT_TYPE_NAME_TAKEN = "A payment type named “%(name)s” already exists."
OUTLET_INACTIVE = "The outlet “%(outlet)s” is inactive. Reactivate it first, or choose another outlet."
IN_USE = "“%(name)s” cannot be deactivated: %(why)s."
OTHER_RETAILER = "That belongs to another retailer."
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class InUse:
    """Rows another part of the product relies on, with the reason in words (the BigCommerce link's outlet,
    register and payment types, as the link's selectors give them). They cannot be deactivated, and the Sell
    screen does not offer the link's register for counter sales."""

    # The link's side: integration/selectors.py, link_in_use.

    outlet_ids: frozenset[int] = frozenset()
    register_ids: frozenset[int] = frozenset()
    payment_type_ids: frozenset[int] = frozenset()
    why: str = ""


NOTHING_IN_USE = InUse()


def _audit(*, retailer_id: int, acting_user: User | None, action: str, **detail) -> None:
    AuditEntry.objects.create(retailer_id=retailer_id, actor=acting_user, action=action, detail=detail)


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": NAME_REQUIRED})
    return name


def _changes(row, values: dict) -> dict:
    """Set `values` on `row`; return {field: [old, new]} for the ones that changed."""
    changed = {}
    for field, value in values.items():
        old = getattr(row, field)
        if old != value:
            changed[field] = [old, value]
            setattr(row, field, value)
    return changed


def _name_free(rows, name: str, message: str, exclude_pk: int | None = None, **params) -> None:
    """Names are unique among `rows` whatever their case ("Cash" and "cash" would confuse everyone)."""
    if rows.filter(name__iexact=name).exclude(pk=exclude_pk).exists():
        raise ValidationError({"name": message % {"name": name, **params}})


def _update(row, values: dict, *, in_use_ids: frozenset[int], in_use: InUse, acting_user: User, action: str) -> bool:
    """Apply an edit of an outlet, register or payment type: refuse to deactivate what is in use, save what
    changed and audit it. Returns True if anything changed."""
    if not values["active"] and row.active and row.pk in in_use_ids:
        raise ValidationError({"active": IN_USE % {"name": row.name, "why": in_use.why}})
    changed = _changes(row, values)
    if changed:
        row.save(update_fields=list(changed))
        _audit(retailer_id=row.retailer_id, acting_user=acting_user, action=action, id=row.pk, changed=changed)
    return bool(changed)


# ---------------------------------------------------------------- the retailer


@transaction.atomic
def retailer_settings_update(
    *, retailer: Retailer, name: str, time_zone: str, currency: str, acting_user: User
) -> list[str]:
    """Rename the retailer, change the time zone its pages, exports and days use, and (until the first sale) its
    currency. Returns the names of the fields that changed (one audit entry lists them all)."""
    retailer = Retailer.objects.select_for_update().get(pk=retailer.pk)
    name = _clean_name(name)
    if time_zone not in available_timezones():
        raise ValidationError({"time_zone": TIME_ZONE_UNKNOWN % {"value": time_zone}})
    currency = (currency or "").strip().upper()
    if not _CURRENCY.fullmatch(currency):
        raise ValidationError({"currency": CURRENCY_FORMAT})
    if currency != retailer.currency and Sale.objects.for_retailer(retailer).exists():
        raise ValidationError({"currency": CURRENCY_LOCKED % {"currency": retailer.currency}})
    changed = _changes(retailer, {"name": name, "time_zone": time_zone, "currency": currency})
    if changed:
        retailer.save(update_fields=list(changed))
        _audit(retailer_id=retailer.pk, acting_user=acting_user, action=AuditAction.SETTINGS_CHANGED, changed=changed)
    return list(changed)


def retailer_currency_locked(*, retailer: Retailer) -> bool:
    """Whether the currency can no longer change (the shop has sales)."""
    return Sale.objects.for_retailer(retailer).exists()


@transaction.atomic
def retailer_unpaid_fulfillment_set(*, retailer: Retailer, allowed: bool, acting_user: User) -> bool:
    """Allow (or forbid) completing a fulfilment while its sale has a balance owing. Returns True if it changed."""
    retailer = Retailer.objects.select_for_update().get(pk=retailer.pk)
    if retailer.allow_unpaid_fulfillment == allowed:
        return False
    retailer.allow_unpaid_fulfillment = allowed
    retailer.save(update_fields=["allow_unpaid_fulfillment"])
    AuditEntry.objects.create(
        retailer=retailer,
        actor=acting_user,
        action=AuditAction.SETTINGS_CHANGED,
        detail={"setting": "allow_unpaid_fulfillment", "value": allowed},
    )
    return True


@transaction.atomic
def retailer_restock_refunds_set(*, retailer: Retailer, restock: bool, acting_user: User) -> bool:
    """Return items named by online refunds to the sale's outlet's stock (or stop doing so; default off). Applies
    to refunds synced from now on. Returns True if it changed."""
    retailer = Retailer.objects.select_for_update().get(pk=retailer.pk)
    if retailer.restock_refunded_items == restock:
        return False
    retailer.restock_refunded_items = restock
    retailer.save(update_fields=["restock_refunded_items"])
    AuditEntry.objects.create(
        retailer=retailer,
        actor=acting_user,
        action=AuditAction.SETTINGS_CHANGED,
        detail={"setting": "restock_refunded_items", "value": restock},
    )
    return True


# ---------------------------------------------------------------- outlets


@transaction.atomic
def outlet_create(*, retailer: Retailer, name: str, address: str = "", acting_user: User) -> Outlet:
    """A new outlet (a shop or a warehouse that holds stock). Give it a register to sell from it."""
    name = _clean_name(name)
    _name_free(Outlet.objects.for_retailer(retailer), name, OUTLET_NAME_TAKEN)
    outlet = Outlet.objects.create(retailer=retailer, name=name, address=(address or "").strip())
    _audit(retailer_id=retailer.pk, acting_user=acting_user, action=AuditAction.OUTLET_CREATED, id=outlet.pk, name=name)
    return outlet


@transaction.atomic
def outlet_update(
    *, outlet: Outlet, name: str, address: str, active: bool, acting_user: User, in_use: InUse = NOTHING_IN_USE
) -> bool:
    """Rename an outlet, change its address, or (de)activate it. An inactive outlet keeps its sales and stock;
    its registers cannot sell. Returns True if anything changed."""
    outlet = Outlet.objects.select_for_update().get(pk=outlet.pk)
    name = _clean_name(name)
    _name_free(Outlet.objects.for_retailer(outlet.retailer_id), name, OUTLET_NAME_TAKEN, exclude_pk=outlet.pk)
    return _update(
        outlet,
        {"name": name, "address": (address or "").strip(), "active": active},
        in_use_ids=in_use.outlet_ids,
        in_use=in_use,
        acting_user=acting_user,
        action=AuditAction.OUTLET_UPDATED,
    )


# ---------------------------------------------------------------- registers


@transaction.atomic
def register_create(*, retailer: Retailer, outlet: Outlet, name: str, acting_user: User) -> Register:
    """A new register (a till) at one of the retailer's active outlets. A register stays at its outlet."""
    if outlet.retailer_id != retailer.pk:
        raise ValidationError({"outlet": OTHER_RETAILER})
    if not outlet.active:
        raise ValidationError({"outlet": OUTLET_INACTIVE % {"outlet": outlet.name}})
    name = _clean_name(name)
    _name_free(Register.objects.filter(outlet=outlet), name, REGISTER_NAME_TAKEN, outlet=outlet.name)
    register = Register.objects.create(retailer=retailer, outlet=outlet, name=name)
    _audit(
        retailer_id=retailer.pk,
        acting_user=acting_user,
        action=AuditAction.REGISTER_CREATED,
        id=register.pk,
        outlet=outlet.pk,
        name=name,
    )
    return register


@transaction.atomic
def register_update(
    *, register: Register, name: str, active: bool, acting_user: User, in_use: InUse = NOTHING_IN_USE
) -> bool:
    """Rename a register or (de)activate it. Inactive registers keep their sales and cannot sell; a register of
    an inactive outlet cannot be reactivated. Returns True if anything changed."""
    register = Register.objects.select_for_update().select_related("outlet").get(pk=register.pk)
    outlet = register.outlet
    name = _clean_name(name)
    siblings = Register.objects.filter(outlet=outlet)
    _name_free(siblings, name, REGISTER_NAME_TAKEN, exclude_pk=register.pk, outlet=outlet.name)
    if active and not register.active and not outlet.active:
        raise ValidationError({"active": OUTLET_INACTIVE % {"outlet": outlet.name}})
    return _update(
        register,
        {"name": name, "active": active},
        in_use_ids=in_use.register_ids,
        in_use=in_use,
        acting_user=acting_user,
        action=AuditAction.REGISTER_UPDATED,
    )


def registers_for_counter_sales(*, retailer: Retailer, in_use: InUse = NOTHING_IN_USE):
    """The registers staff may ring up sales on: active, at an active outlet, and not the online register
    (the one the BigCommerce link books its orders on)."""
    return (
        Register.objects.for_retailer(retailer)
        .filter(active=True, outlet__active=True)
        .exclude(pk__in=in_use.register_ids)
        .select_related("outlet")
        .order_by("outlet__name", "name")
    )


# ---------------------------------------------------------------- payment types


@transaction.atomic
def payment_type_create(*, retailer: Retailer, name: str, acting_user: User) -> PaymentType:
    """A new way to pay ("Cash", "Card", "Gift voucher"), offered on the Sell screen."""
    name = _clean_name(name)
    _name_free(PaymentType.objects.for_retailer(retailer), name, PAYMENT_TYPE_NAME_TAKEN)
    payment_type = PaymentType.objects.create(retailer=retailer, name=name)
    _audit(
        retailer_id=retailer.pk,
        acting_user=acting_user,
        action=AuditAction.PAYMENT_TYPE_CREATED,
        id=payment_type.pk,
        name=name,
    )
    return payment_type


@transaction.atomic
def payment_type_update(
    *, payment_type: PaymentType, name: str, active: bool, acting_user: User, in_use: InUse = NOTHING_IN_USE
) -> bool:
    """Rename a payment type or (de)activate it. Past payments keep it; inactive types are not offered for new
    sales. Returns True if anything changed."""
    payment_type = PaymentType.objects.select_for_update().get(pk=payment_type.pk)
    name = _clean_name(name)
    others = PaymentType.objects.for_retailer(payment_type.retailer_id)
    _name_free(others, name, PAYMENT_TYPE_NAME_TAKEN, exclude_pk=payment_type.pk)
    return _update(
        payment_type,
        {"name": name, "active": active},
        in_use_ids=in_use.payment_type_ids,
        in_use=in_use,
        acting_user=acting_user,
        action=AuditAction.PAYMENT_TYPE_UPDATED,
    )
