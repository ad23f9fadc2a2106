"""Shipping a delivery in parts: staff ship what is packed now, with its tracking, and leave the rest open.

Each shipment is a `FulfillmentShipment` row with its lines. Recording it counts its units as handed over (picked,
packed and fulfilled), moves the fulfilment on (completed once every unit has gone) and, for a BigCommerce sale,
records `pos.events.SHIPMENT_RECORDED` keyed by the shipment in the same transaction: the link sends it to
BigCommerce once (integration/services/fulfillment_writeback.py). Goods BigCommerce already shows shipped are
fulfilled here already (the sync follows them), so they can never be shipped again from the POS.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from pos import events
from pos.choices import FulfillmentAction, FulfillmentState, WritebackState
from pos.models import Fulfillment, FulfillmentLine, FulfillmentShipment, FulfillmentShipmentLine, User
from pos.services.fulfillment import (
    FIELD_MAX_LENGTH,
    FulfillmentError,
    carrier_normalize,
    fulfillment_claim,
    fulfillment_event_record,
    fulfillment_money_blocker,
    fulfillment_move,
    fulfillment_writes_back,
    units_text,
)

Action = FulfillmentAction
State = FulfillmentState


@transaction.atomic
def fulfillment_ship(
    *,
    fulfillment: Fulfillment,
    quantities: Mapping[int, int],
    tracking_number: str = "",
    carrier: str = "",
    expected_version: int,
    acting_user: User,
) -> FulfillmentShipment:
    """Ship some units of a delivery's lines (`quantities`: units to ship now, keyed by FulfillmentLine id).

    At most what is not shipped yet may go; lines left out (or 0) stay as they are. Refused while money is owing
    unless the retailer allows it, as completing is. The tracking defaults to the one saved on the fulfilment.
    """
    fresh = fulfillment_claim(fulfillment=fulfillment, action=Action.SHIP, expected_version=expected_version)
    tracking_number = tracking_number.strip() or fresh.tracking_number
    carrier = carrier_normalize(carrier) or (fresh.carrier if tracking_number == fresh.tracking_number else "")
    if len(tracking_number) > FIELD_MAX_LENGTH or len(carrier) > FIELD_MAX_LENGTH:
        raise FulfillmentError(f"Tracking number and carrier are at most {FIELD_MAX_LENGTH} characters each.")
    lines = {line.pk: line for line in fresh.lines.select_related("sale_line")}
    unknown = sorted(set(quantities) - set(lines))
    if unknown:
        raise FulfillmentError(f"Line {unknown[0]} is not part of this fulfilment.")
    errors, shipping = [], []
    for line_id, quantity in sorted(quantities.items()):
        line = lines[line_id]
        left = line.quantity - line.fulfilled
        if quantity < 0:
            errors.append(f"{line.sale_line.name}: a quantity to ship cannot be negative.")
        elif quantity > left:
            errors.append(f"{line.sale_line.name}: only {left} of {line.quantity} are left to ship.")
        elif quantity:
            shipping.append((line, quantity))
    if errors:
        raise FulfillmentError(" ".join(errors))
    if not shipping:
        raise FulfillmentError("Enter how many of each item go in this shipment.")
    owing = fulfillment_money_blocker(fresh)
    if owing:
        raise FulfillmentError(owing)

    for line, quantity in shipping:
        line.fulfilled += quantity
        line.packed = max(line.packed, line.fulfilled)
        line.picked = max(line.picked, line.packed)
    FulfillmentLine.objects.bulk_update([line for line, _ in shipping], ["picked", "packed", "fulfilled"])
    writes_back = fulfillment_writes_back(fresh)
    now = timezone.now()
    shipment = FulfillmentShipment.objects.create(
        fulfillment=fresh,
        number=(fresh.shipments.aggregate(last=Max("number"))["last"] or 0) + 1,
        tracking_number=tracking_number,
        carrier=carrier,
        created_by=acting_user,
        created_at=now,
        writeback_state=WritebackState.PENDING if writes_back else WritebackState.NONE,
        writeback_at=now if writes_back else None,
    )
    FulfillmentShipmentLine.objects.bulk_create(
        FulfillmentShipmentLine(shipment=shipment, line=line, quantity=quantity) for line, quantity in shipping
    )

    left = sum(line.quantity - line.fulfilled for line in lines.values())
    if not left:
        target = State.COMPLETED
    elif all(line.packed >= line.quantity for line in lines.values()):
        target = State.PACKED
    else:
        target = State.PICKING
    fulfillment_move(fresh, Action.SHIP, target)
    fields = ["state", "updated_at"]
    if target == State.COMPLETED:
        fresh.completed_at = now
        fields.append("completed_at")
    fresh.save(update_fields=fields)

    what = ", ".join(f"{quantity} × {line.sale_line.name}" for line, quantity in shipping)
    tracking = f", tracking {tracking_number}" + (f" ({carrier})" if carrier else "") if tracking_number else ""
    rest = f" {units_text(left)} left to ship." if left else " Everything is shipped."
    sending = " Sending it to BigCommerce." if writes_back else ""
    fulfillment_event_record(
        fulfillment=fresh,
        action=Action.SHIP,
        actor=acting_user,
        message=f"Shipment {shipment.number}: {what}{tracking}.{rest}{sending}",
        data={"shipment": shipment.pk, "lines": {str(line.pk): quantity for line, quantity in shipping}},
    )
    if writes_back:
        events.shipment_recorded(retailer_id=fresh.retailer_id, shipment_id=shipment.pk)
    return shipment


@transaction.atomic
def fulfillment_shipment_retry(
    *, fulfillment: Fulfillment, shipment_id: int, expected_version: int, acting_user: User
) -> FulfillmentShipment:
    """Send a shipment whose write-back failed again (what BigCommerce already has of it is not sent twice)."""
    fresh = fulfillment_claim(fulfillment=fulfillment, action=Action.RETRY_SHIPMENT, expected_version=expected_version)
    shipment = fresh.shipments.select_for_update().filter(pk=shipment_id).first()
    if shipment is None:
        raise FulfillmentError("That shipment is not part of this fulfilment.")
    if shipment.writeback_state != WritebackState.FAILED:
        label = shipment.get_writeback_state_display()
        raise FulfillmentError(f"There is nothing to retry: shipment {shipment.number} is “{label}”.")
    previous = shipment.writeback_error
    shipment.writeback_state, shipment.writeback_error, shipment.writeback_at = (
        WritebackState.PENDING,
        "",
        timezone.now(),
    )
    shipment.save(update_fields=["writeback_state", "writeback_error", "writeback_at"])
    fresh.save(update_fields=["updated_at"])
    fulfillment_event_record(
        fulfillment=fresh,
        action=Action.RETRY_SHIPMENT,
        actor=acting_user,
        message=f"Shipment {shipment.number} queued again for BigCommerce.",
        data={"shipment": shipment.pk, "previous_error": previous},
    )
    events.shipment_recorded(retailer_id=fresh.retailer_id, shipment_id=shipment.pk)
    return shipment
