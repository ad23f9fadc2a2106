"""Retailer-wide settings an admin changes in Settings (each change audited)."""

from __future__ import annotations

from django.db import transaction

from pos.choices import AuditAction
from pos.models import AuditEntry, Retailer, User


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
