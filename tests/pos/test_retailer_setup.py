"""pos.services.retailer: the retailer's own settings, outlets, registers and payment types (each change audited;
what the BigCommerce link uses cannot be deactivated)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from pos.choices import AuditAction
from pos.models import AuditEntry
from pos.services.retailer import (
    InUse,
    outlet_create,
    outlet_update,
    payment_type_create,
    payment_type_update,
    register_create,
    register_update,
    registers_for_counter_sales,
    retailer_settings_update,
)
from tests import factories

pytestmark = pytest.mark.django_db


def _errors(excinfo) -> dict:
    return excinfo.value.message_dict


def _actions(retailer) -> list[str]:
    return list(AuditEntry.objects.for_retailer(retailer).order_by("pk").values_list("action", flat=True))


# ---------------------------------------------------------------- the retailer


def test_settings_change_name_time_zone_and_currency_with_one_audit_entry(retailer, admin_user):
    changed = retailer_settings_update(
        retailer=retailer,
        name="  Acme   Outdoor Co ",
        time_zone="Europe/London",
        currency="eur",
        acting_user=admin_user,
    )

    retailer.refresh_from_db()
    assert changed == ["name", "time_zone", "currency"]
    assert (retailer.name, retailer.time_zone, retailer.currency) == ("Acme Outdoor Co", "Europe/London", "EUR")
    entry = AuditEntry.objects.for_retailer(retailer).get()
    assert entry.action == AuditAction.SETTINGS_CHANGED and entry.actor == admin_user
    assert entry.detail["changed"]["time_zone"] == ["UTC", "Europe/London"]


def test_saving_the_same_settings_changes_nothing_and_audits_nothing(retailer, admin_user):
    changed = retailer_settings_update(
        retailer=retailer, name=retailer.name, time_zone="UTC", currency="USD", acting_user=admin_user
    )

    assert changed == [] and _actions(retailer) == []


@pytest.mark.parametrize(
    ("field", "values"),
    [("time_zone", {"time_zone": "Mars/Olympus"}), ("currency", {"currency": "dollars"}), ("name", {"name": "  "})],
)
def test_settings_refuse_what_cannot_be_right(retailer, admin_user, field, values):
    data = {"name": retailer.name, "time_zone": "UTC", "currency": "USD", **values}

    with pytest.raises(ValidationError) as excinfo:
        retailer_settings_update(retailer=retailer, acting_user=admin_user, **data)

    assert field in _errors(excinfo)


def test_the_currency_is_fixed_once_the_shop_has_sales(retailer, admin_user):
    factories.SaleFactory(retailer=retailer)

    with pytest.raises(ValidationError) as excinfo:
        retailer_settings_update(
            retailer=retailer, name=retailer.name, time_zone="UTC", currency="EUR", acting_user=admin_user
        )

    assert "never converted" in _errors(excinfo)["currency"][0]
    retailer.refresh_from_db()
    assert retailer.currency == "USD"


# ---------------------------------------------------------------- outlets and registers


def test_an_outlet_is_created_renamed_and_deactivated_with_audit_entries(retailer, admin_user):
    outlet = outlet_create(retailer=retailer, name="High Street", address="1 High St", acting_user=admin_user)

    renamed = outlet_update(outlet=outlet, name="High St", address="1 High St", active=True, acting_user=admin_user)
    deactivated = outlet_update(
        outlet=outlet, name="High St", address="1 High St", active=False, acting_user=admin_user
    )
    unchanged = outlet_update(outlet=outlet, name="High St", address="1 High St", active=False, acting_user=admin_user)

    outlet.refresh_from_db()
    assert (renamed, deactivated, unchanged) == (True, True, False)
    assert (outlet.name, outlet.active) == ("High St", False)
    assert _actions(retailer) == [AuditAction.OUTLET_CREATED, AuditAction.OUTLET_UPDATED, AuditAction.OUTLET_UPDATED]


def test_outlet_names_are_unique_per_retailer_whatever_the_case(retailer, other_retailer, admin_user):
    factories.OutletFactory(retailer=retailer, name="Main Street")
    factories.OutletFactory(retailer=other_retailer, name="Harbour")

    with pytest.raises(ValidationError) as excinfo:
        outlet_create(retailer=retailer, name="main street", acting_user=admin_user)
    harbour = outlet_create(retailer=retailer, name="Harbour", acting_user=admin_user)

    assert "already exists" in _errors(excinfo)["name"][0]
    assert harbour.retailer == retailer


def test_what_the_link_uses_cannot_be_deactivated(retailer, admin_user, outlet, register):
    cash = factories.PaymentTypeFactory(retailer=retailer, name="Cash")
    in_use = InUse(
        outlet_ids=frozenset({outlet.pk}),
        register_ids=frozenset({register.pk}),
        payment_type_ids=frozenset({cash.pk}),
        why="the BigCommerce link uses it",
    )

    with pytest.raises(ValidationError) as outlet_refused:
        outlet_update(outlet=outlet, name=outlet.name, address="", active=False, acting_user=admin_user, in_use=in_use)
    with pytest.raises(ValidationError) as register_refused:
        register_update(register=register, name=register.name, active=False, acting_user=admin_user, in_use=in_use)
    with pytest.raises(ValidationError) as cash_refused:
        payment_type_update(payment_type=cash, name="Cash", active=False, acting_user=admin_user, in_use=in_use)
    renamed = register_update(register=register, name="Web", active=True, acting_user=admin_user, in_use=in_use)

    for refused in (outlet_refused, register_refused, cash_refused):
        assert "the BigCommerce link uses it" in _errors(refused)["active"][0]
    assert renamed is True


def test_a_register_is_created_only_at_an_active_outlet_of_the_retailer(retailer, other_retailer, admin_user, outlet):
    closed = factories.OutletFactory(retailer=retailer, name="Closed", active=False)
    foreign = factories.OutletFactory(retailer=other_retailer)

    till = register_create(retailer=retailer, outlet=outlet, name="Till 1", acting_user=admin_user)
    with pytest.raises(ValidationError) as inactive:
        register_create(retailer=retailer, outlet=closed, name="Till 2", acting_user=admin_user)
    with pytest.raises(ValidationError) as other:
        register_create(retailer=retailer, outlet=foreign, name="Till 3", acting_user=admin_user)
    with pytest.raises(ValidationError) as duplicate:
        register_create(retailer=retailer, outlet=outlet, name="till 1", acting_user=admin_user)

    assert (till.outlet, till.retailer) == (outlet, retailer)
    assert "inactive" in _errors(inactive)["outlet"][0]
    assert "another retailer" in _errors(other)["outlet"][0]
    assert "already has a register" in _errors(duplicate)["name"][0]
    assert AuditEntry.objects.for_retailer(retailer).get().action == AuditAction.REGISTER_CREATED


def test_a_register_of_an_inactive_outlet_is_not_reactivated(retailer, admin_user, outlet):
    till = factories.RegisterFactory(outlet=outlet, name="Till", active=False)
    outlet.active = False
    outlet.save()

    with pytest.raises(ValidationError) as excinfo:
        register_update(register=till, name="Till", active=True, acting_user=admin_user)

    assert "Reactivate it first" in _errors(excinfo)["active"][0]


def test_counter_sales_use_active_registers_of_active_outlets_never_the_online_one(retailer, outlet, register):
    till = factories.RegisterFactory(outlet=outlet, name="Till")
    factories.RegisterFactory(outlet=outlet, name="Retired", active=False)
    closed = factories.OutletFactory(retailer=retailer, name="Closed", active=False)
    factories.RegisterFactory(outlet=closed, name="Closed till")

    registers = registers_for_counter_sales(retailer=retailer, in_use=InUse(register_ids=frozenset({register.pk})))

    assert list(registers) == [till]


# ---------------------------------------------------------------- payment types


def test_a_payment_type_is_created_renamed_and_deactivated(retailer, admin_user):
    card = payment_type_create(retailer=retailer, name="Card", acting_user=admin_user)
    with pytest.raises(ValidationError) as duplicate:
        payment_type_create(retailer=retailer, name="CARD", acting_user=admin_user)

    payment_type_update(payment_type=card, name="Credit card", active=False, acting_user=admin_user)

    card.refresh_from_db()
    assert (card.name, card.active) == ("Credit card", False)
    assert "already exists" in _errors(duplicate)["name"][0]
    assert _actions(retailer) == [AuditAction.PAYMENT_TYPE_CREATED, AuditAction.PAYMENT_TYPE_UPDATED]
