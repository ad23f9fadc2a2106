"""Writing fulfilments back to BigCommerce: a completed delivery's shipment, a completed pickup's Completed status,
each shipment staff made from the POS, and a pickup ready for collection (BigCommerce's Awaiting Pickup).

Completing a fulfilment records `pos.events.FULFILLMENT_COMPLETED`, shipping part of it
`pos.events.SHIPMENT_RECORDED` and packing a pickup in full `pos.events.PICKUP_READY`; the link handles them with
`fulfillment_writebacks_run`, `shipment_writebacks_run` and `pickup_ready_run` (`integration.kinds`). A
precondition that fails (sale voided, store unlinked) is recorded at once. An API error is returned to the kernel:
the one classifier tells a transient failure (rate limit, server error, BigCommerce unreachable: tried again with
backoff) from a permanent one (credentials rejected, order not found, a request BigCommerce refuses: staff must
act first), and the kind's `..._record_failures` says so on the fulfilment or the shipment: `writeback_state`,
`writeback_error` in plain words, and an event.

The fulfilment row is locked for the duration of the call, so two workers never send the same write-back twice at
once and a fulfilment's write-backs go one after the other; a run that finds its write-back no longer pending does
nothing. The lock is waited for, not skipped: a run that skipped a row it was asked to send would end with the
work done and the write-back never sent (the row is held only by another write-back's call or a staff action).

Nothing is sent twice. A completed delivery's shipment holds what is fulfilled, less what BigCommerce already shows
shipped and what the POS's own shipments still have to send. A POS shipment carries its `reference` in the comments
of each BigCommerce shipment it becomes, and a retry (after a timeout or a crash that lost our record of the answer)
first looks for them there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Protocol

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from integration.choices import ErrorCode, LinkState
from integration.exceptions import ApiError
from integration.models import StoreLink
from integration.status_table import AWAITING_PICKUP, COMPLETED
from pos.choices import FulfillmentAction, FulfillmentState, ProductKind, SaleStatus, WritebackState
from pos.models import Fulfillment, FulfillmentLine, FulfillmentShipment, FulfillmentShipmentLine, SaleLine
from pos.services.fulfillment import fulfillment_event_record, units_text
from work.models import WorkItem
from work.registry import Attempt

logger = logging.getLogger(__name__)

# BigCommerce's own `shipping_provider` values (orders.v2 `shipping_provider_standard`). Any other carrier is sent as
# `tracking_carrier` (an AfterShip courier code), which BigCommerce also turns into a tracking link.
SHIPPING_PROVIDERS = frozenset(
    {"auspost", "canadapost", "endicia", "usps", "fedex", "ups", "upsready", "upsonline", "shipperhq", "royalmail"}
)
RETRY_HINT = "Retry below; if it keeps failing, check status.bigcommerce.com."


class WritebackOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # a precondition failed: staff retry from the page once it is fixed
    SKIPPED = "skipped"  # nothing to do: not pending any more, or another worker holds the row


class WritebackClient(Protocol):
    """The part of `integration.client.BigCommerceClient` the write-back uses."""

    def create_shipment(
        self,
        order_id: int,
        *,
        order_address_id: int,
        items: list[dict[str, int]],
        tracking_number: str = "",
        tracking_carrier: str = "",
        shipping_provider: str = "",
        comments: str = "",
    ) -> object: ...

    def update_order_status(self, order_id: int, status_id: int) -> object: ...

    def list_order_products(self, order_id: int) -> list: ...

    def list_shipments(self, order_id: int) -> list: ...


class _Precondition(Exception):
    """The write-back cannot be attempted; the message says what to do."""


def fulfillment_writeback_run(*, fulfillment: Fulfillment, client: WritebackClient | None = None) -> WritebackOutcome:
    """Send a pending write-back to BigCommerce and record the outcome; raises the API error of a failed call
    (nothing is recorded then: see `fulfillment_writeback_record_failures`).

    `client` defaults to the BigCommerce client of the retailer's active store link.
    """
    with transaction.atomic():
        locked = _lock(fulfillment.pk)
        if locked is None or locked.writeback_state != WritebackState.PENDING:
            return WritebackOutcome.SKIPPED
        try:
            link, order_id = _check_preconditions(locked)
        except _Precondition as problem:
            return _record_failure(locked, locked, str(problem))
        client = _client(link, client)
        try:
            done = (
                _ship(locked, client, order_id) if not locked.is_pickup else _mark_completed(locked, client, order_id)
            )
        except _Precondition as problem:
            return _record_failure(locked, locked, str(problem))
        return _record_success(locked, locked, done)


def fulfillment_writebacks_run(items: Sequence[WorkItem], *, client=None) -> dict[int, object]:
    """The handler of `pos.fulfillment_completed`: each item's fulfilment written back, or its API error."""
    return _each(items, Fulfillment, lambda row: fulfillment_writeback_run(fulfillment=row, client=client))


def _each(items: Sequence[WorkItem], model, run) -> dict[int, object]:
    """`run(row)` for each item's row of `model` (keyed by its id; a row gone is done), with API errors per item."""
    outcomes: dict[int, object] = {}
    for item in items:
        row = model.objects.filter(pk=int(item.key)).first()
        if row is None:
            continue
        try:
            run(row)
        except ApiError as exc:
            outcomes[item.pk] = exc
    return outcomes


def fulfillment_writeback_record_failures(attempts: Sequence[Attempt]) -> None:
    """Say on each fulfilment how its failed write-back ends: trying again automatically, or failed with what to
    do (staff retry from the page)."""
    for attempt in attempts:
        locked = _lock(int(attempt.item.key))
        if locked is not None:
            _record_attempt(locked, locked, attempt)


def shipment_writeback_run(*, shipment: FulfillmentShipment, client: WritebackClient | None = None) -> WritebackOutcome:
    """Send a shipment staff made from the POS to BigCommerce, once, and record the outcome on it; raises the API
    error of a failed call (see `shipment_writeback_record_failures`)."""
    with transaction.atomic():
        fulfillment = _lock(shipment.fulfillment_id)
        locked = FulfillmentShipment.objects.select_for_update().filter(pk=shipment.pk).first() if fulfillment else None
        if locked is None or locked.writeback_state != WritebackState.PENDING:
            return WritebackOutcome.SKIPPED
        locked.fulfillment = fulfillment
        try:
            link, order_id = _check_preconditions(fulfillment)
            goods = [
                (item.line.sale_line, item.quantity)
                for item in FulfillmentShipmentLine.objects.filter(shipment=locked)
                .exclude(line__sale_line__product__kind__in=ProductKind.service_kinds())
                .select_related("line__sale_line")
            ]
            if not goods:
                raise _Precondition("The shipment holds no goods, so there is nothing to send.")
            _check_line_ids(goods)
        except _Precondition as problem:
            return _record_failure(locked, fulfillment, str(problem))
        client = _client(link, client)
        try:
            done = _ship_pos_shipment(locked, goods, client, order_id)
        except _Precondition as problem:
            return _record_failure(locked, fulfillment, str(problem))
        return _record_success(locked, fulfillment, done)


def shipment_writebacks_run(items: Sequence[WorkItem], *, client=None) -> dict[int, object]:
    """The handler of `pos.shipment_recorded`: each item's shipment sent, or its API error."""
    return _each(items, FulfillmentShipment, lambda row: shipment_writeback_run(shipment=row, client=client))


def shipment_writeback_record_failures(attempts: Sequence[Attempt]) -> None:
    """Say on each shipment how its failed write-back ends (as `fulfillment_writeback_record_failures` does)."""
    for attempt in attempts:
        shipment = FulfillmentShipment.objects.filter(pk=int(attempt.item.key)).first()
        fulfillment = _lock(shipment.fulfillment_id) if shipment else None
        if fulfillment is None:
            continue
        locked = FulfillmentShipment.objects.select_for_update().get(pk=shipment.pk)
        locked.fulfillment = fulfillment
        _record_attempt(locked, fulfillment, attempt)


def pickup_ready_run(items: Sequence[WorkItem], *, client=None) -> dict[int, object]:
    """The handler of `pos.pickup_ready`: set each order to Awaiting Pickup while its pickup is still ready (a
    pickup collected or unpacked meanwhile is left alone: Completed must not go back to Awaiting Pickup)."""
    outcomes: dict[int, object] = {}
    for item in items:
        try:
            with transaction.atomic():
                _pickup_ready(int(item.key), client)
        except ApiError as exc:
            outcomes[item.pk] = exc
    return outcomes


def pickup_ready_record_failures(attempts: Sequence[Attempt]) -> None:
    """Say in each pickup's history that BigCommerce could not be told, when the retries gave up."""
    for attempt in attempts:
        if attempt.retry_at is not None:
            continue
        fulfillment = _lock(int(attempt.item.key))
        if fulfillment is None:
            continue
        reason = _explain(attempt.failure.code, attempt.failure.detail, fulfillment)
        fulfillment_event_record(
            fulfillment=fulfillment,
            action=FulfillmentAction.WRITEBACK_FAILED,
            message=f"BigCommerce was not set to Awaiting Pickup: {reason}. Set it in BigCommerce's control panel "
            f"if the customer should be told.",
            data={"detail": str(attempt.failure.detail)[:500]},
        )


def _pickup_ready(fulfillment_id: int, client: WritebackClient | None) -> None:
    fulfillment = _lock(fulfillment_id)
    if fulfillment is None or not fulfillment.is_pickup or fulfillment.state != FulfillmentState.PACKED:
        return
    if fulfillment.sale.bc_status_id == AWAITING_PICKUP.id:
        return  # BigCommerce says so already
    try:
        link, order_id = _check_preconditions(fulfillment)
    except _Precondition:
        return  # unlinked, voided, not a BigCommerce order: there is nobody to tell
    client = _client(link, client)
    client.update_order_status(order_id, AWAITING_PICKUP.id)
    fulfillment_event_record(
        fulfillment=fulfillment,
        action=FulfillmentAction.READY_SENT,
        message=f"BigCommerce order {order_id} set to {AWAITING_PICKUP.label}.",
    )


def _client(link: StoreLink, client: WritebackClient | None) -> WritebackClient:
    """The client given (tests), else the BigCommerce client of the link."""
    if client is not None:
        return client
    from integration.client import BigCommerceClient

    return BigCommerceClient.for_link(link)


def _lock(fulfillment_id: int) -> Fulfillment | None:
    """The fulfilment, row-locked (waiting for the lock: see the module's docstring)."""
    return (
        Fulfillment.objects.select_for_update(of=("self",))
        .select_related("sale", "retailer")
        .filter(pk=fulfillment_id)
        .first()
    )


def _record_attempt(row: Fulfillment | FulfillmentShipment, fulfillment: Fulfillment, attempt: Attempt) -> None:
    if row.writeback_state != WritebackState.PENDING:
        return
    reason = _explain(attempt.failure.code, attempt.failure.detail, fulfillment)
    if attempt.retry_at is not None:
        _record_retrying(row, fulfillment, reason)
    elif attempt.failure.retryable:
        message = f"{reason}, and the automatic retries failed too. {RETRY_HINT}"
        _record_failure(row, fulfillment, message, detail=attempt.failure.detail)
    else:
        _record_failure(row, fulfillment, reason, detail=attempt.failure.detail)


def _check_preconditions(fulfillment: Fulfillment) -> tuple[StoreLink, int]:
    sale = fulfillment.sale
    if sale.status == SaleStatus.VOIDED:
        raise _Precondition("The sale was voided after completion, so nothing was sent to BigCommerce.")
    link = StoreLink.objects.for_retailer(fulfillment.retailer).filter(state=LinkState.ACTIVE).first()
    if link is None:
        raise _Precondition(
            "The BigCommerce store is not linked (or the link is paused), so the order was not updated. "
            "Relink the store in Settings › BigCommerce, then retry."
        )
    if not sale.external_order_id.isdigit():
        raise _Precondition("This sale has no BigCommerce order number, so there is no order to update.")
    return link, int(sale.external_order_id)


def _check_line_ids(goods: list[tuple[SaleLine, int]]) -> None:
    for sale_line, _ in goods:
        if not sale_line.external_line_id.isdigit():
            raise _Precondition(
                f"“{sale_line.name}” has no BigCommerce order-product id, so it cannot be put in a shipment. "
                f"Create the shipment in BigCommerce's control panel."
            )


def _order_items(client: WritebackClient, order_id: int, goods: list[tuple[SaleLine, int]]) -> dict[int, Any]:
    """BigCommerce's lines of the order by order-product id; each of `goods` must still be there."""
    in_bigcommerce = {item.id: item for item in client.list_order_products(order_id)}
    for sale_line, _ in goods:
        if int(sale_line.external_line_id) not in in_bigcommerce:
            raise _Precondition(
                f"“{sale_line.name}” is no longer on BigCommerce order {order_id} (the order was edited). "
                f"Check the order in BigCommerce's control panel."
            )
    return in_bigcommerce


def _ship(fulfillment: Fulfillment, client: WritebackClient, order_id: int) -> str:
    """One shipment per BigCommerce order address, of what is fulfilled here and not yet shipped there, less what
    the POS's own shipments of this fulfilment still have to send (they send it themselves).

    Reading the order's lines first makes a retry safe: if an earlier attempt's shipment reached BigCommerce but
    our record of it was lost (a timeout, a crash), the lines now show as shipped and nothing is sent twice.
    """
    lines = list(
        FulfillmentLine.objects.filter(fulfillment=fulfillment, fulfilled__gt=0)
        .exclude(sale_line__product__kind__in=ProductKind.service_kinds())
        .select_related("sale_line")
    )
    goods = [(line.sale_line, line.fulfilled) for line in lines]
    _check_line_ids(goods)
    if not goods:
        raise _Precondition("No goods were fulfilled, so there is nothing to ship.")
    in_bigcommerce = _order_items(client, order_id, goods)
    unsent = dict(
        FulfillmentShipmentLine.objects.filter(
            shipment__fulfillment=fulfillment,
            shipment__writeback_state__in=(WritebackState.PENDING, WritebackState.FAILED),
        )
        .values("line__sale_line")
        .annotate(units=Sum("quantity"))
        .values_list("line__sale_line", "units")
    )
    by_address: dict[int, list[dict[str, int]]] = {}
    for sale_line, fulfilled in goods:
        item = in_bigcommerce[int(sale_line.external_line_id)]
        left = item.quantity - item.quantity_shipped
        remaining = min(left, fulfilled - item.quantity_shipped - unsent.get(sale_line.pk, 0))
        if remaining > 0:
            by_address.setdefault(item.order_address_id, []).append(
                {"order_product_id": item.id, "quantity": remaining}
            )
    _send(client, order_id, by_address, fulfillment.tracking_number, fulfillment.carrier)
    units = sum(item["quantity"] for items in by_address.values() for item in items)
    if not units:
        return f"BigCommerce order {order_id} already shows these items shipped; nothing was sent twice."
    tracking = f", tracking {fulfillment.tracking_number}" if fulfillment.tracking_number else ""
    shipments = f"{len(by_address)} shipments" if len(by_address) > 1 else "Shipment"
    return f"{shipments} created in BigCommerce order {order_id}: {units_text(units)}{tracking}."


def _ship_pos_shipment(
    shipment: FulfillmentShipment, goods: list[tuple[SaleLine, int]], client: WritebackClient, order_id: int
) -> str:
    """Send a POS shipment as one BigCommerce shipment per order address, skipping the addresses an earlier
    attempt already reached (found by the shipment's reference in their comments) and units BigCommerce already
    shows shipped (a shipment made in its control panel and not followed yet)."""
    reference = shipment.reference
    reached = {s.order_address_id: s.id for s in client.list_shipments(order_id) if reference in (s.comments or "")}
    in_bigcommerce = _order_items(client, order_id, goods)
    by_address: dict[int, list[dict[str, int]]] = {}
    held_back = 0
    for sale_line, quantity in goods:
        item = in_bigcommerce[int(sale_line.external_line_id)]
        if item.order_address_id in reached:
            continue
        send = max(0, min(quantity, item.quantity - item.quantity_shipped))
        held_back += quantity - send
        if send:
            by_address.setdefault(item.order_address_id, []).append({"order_product_id": item.id, "quantity": send})
    comments = f"Shipped from the POS ({reference})."
    created = _send(client, order_id, by_address, shipment.tracking_number, shipment.carrier, comments=comments)
    shipment.external_ids = sorted({*reached.values(), *created})
    units = sum(item["quantity"] for items in by_address.values() for item in items)
    parts = [f"Shipment {shipment.number}"]
    if units:
        tracking = f", tracking {shipment.tracking_number}" if shipment.tracking_number else ""
        parts.append(f"created in BigCommerce order {order_id}: {units_text(units)}{tracking}.")
    else:
        parts.append(f"is already in BigCommerce order {order_id}; nothing was sent twice.")
    if reached:
        parts.append("An earlier attempt had already created part of it there; that part was not sent again.")
    if held_back:
        parts.append(f"{units_text(held_back)} BigCommerce already showed shipped were not sent again.")
    return " ".join(parts)


def _send(
    client: WritebackClient,
    order_id: int,
    by_address: dict[int, list[dict[str, int]]],
    tracking_number: str,
    carrier: str,
    comments: str = "",
) -> list[int]:
    """Create one BigCommerce shipment per address; returns their ids."""
    provider = carrier if carrier in SHIPPING_PROVIDERS else ""
    created = []
    for address_id, items in sorted(by_address.items()):
        shipment = client.create_shipment(
            order_id,
            order_address_id=address_id,
            items=items,
            tracking_number=tracking_number,
            tracking_carrier="" if provider else carrier,
            shipping_provider=provider,
            comments=comments,
        )
        created.append(int(shipment.id))
    return created


def _mark_completed(fulfillment: Fulfillment, client: WritebackClient, order_id: int) -> str:
    """Mark the order Completed once it is all handed over: a pickup collected while another consignment of the
    order (another pickup, an address) is still open leaves the order's status to the last one."""
    still_open = (
        Fulfillment.objects.filter(sale_id=fulfillment.sale_id, state__in=FulfillmentState.open_states())
        .exclude(pk=fulfillment.pk)
        .count()
    )
    if still_open:
        what = "consignment is" if still_open == 1 else "consignments are"
        return (
            f"Collected. BigCommerce order {order_id} was not marked Completed: {still_open} other {what} still "
            f"to hand over."
        )
    client.update_order_status(order_id, COMPLETED.id)
    return f"BigCommerce order {order_id} marked Completed."


def _explain(code: str, detail: str, fulfillment: Fulfillment) -> str:
    """What happened, in plain words, for a failure's reason code."""
    order = fulfillment.sale.external_order_id
    detail = detail or "no detail"
    if code == ErrorCode.RATE_LIMITED.code:
        return "BigCommerce is rate-limiting this store's API calls"
    if code == ErrorCode.BIGCOMMERCE_ERROR.code:
        return f"BigCommerce answered with a server error ({detail})"
    if code == ErrorCode.UNREACHABLE.code:
        return f"BigCommerce could not be reached ({detail})"
    if code == ErrorCode.CREDENTIALS_REJECTED.code:
        return (
            "BigCommerce rejected the store's API token. Create a new store API account in BigCommerce and update "
            "the token in Settings › BigCommerce, then retry."
        )
    if code == ErrorCode.ORDER_NOT_FOUND.code:
        return (
            f"BigCommerce has no order {order} (it was deleted or archived), or no longer has its shipping address "
            f"or items. Check the order in BigCommerce's control panel and update it there."
        )
    if code == ErrorCode.UNPARSEABLE.code:
        return (
            f"BigCommerce answered something unexpected ({detail}), so it is not known whether order {order} was "
            f"updated. Check the order in BigCommerce's control panel before retrying."
        )
    if code == ErrorCode.REJECTED.code:
        what = "the status change" if fulfillment.is_pickup else "the shipment"
        return (
            f"BigCommerce refused {what} ({detail}). Correct the tracking number or carrier and retry, or update the "
            f"order in BigCommerce's control panel."
        )
    return f"An error on our side stopped the write-back ({detail}). Retry below; if it fails again, contact support"


def _save_writeback(row: Fulfillment | FulfillmentShipment, state: str, error: str) -> None:
    row.writeback_state = state
    row.writeback_error = error
    row.writeback_at = timezone.now()
    fields = ["writeback_state", "writeback_error", "writeback_at"]
    if isinstance(row, FulfillmentShipment):
        fields.append("external_ids")
    else:
        fields.append("updated_at")
    row.save(update_fields=fields)


def _about(row: Fulfillment | FulfillmentShipment, message: str) -> tuple[str, dict[str, Any]]:
    """A history message (and data) naming the shipment when the write-back is one of the POS's shipments."""
    if isinstance(row, FulfillmentShipment):
        prefix = "" if message.startswith(f"Shipment {row.number}") else f"Shipment {row.number}: "
        return prefix + message, {"shipment": row.pk}
    return message, {}


def _record_success(row: Fulfillment | FulfillmentShipment, fulfillment: Fulfillment, message: str) -> WritebackOutcome:
    _save_writeback(row, WritebackState.SUCCEEDED, "")
    message, data = _about(row, message)
    fulfillment_event_record(
        fulfillment=fulfillment, action=FulfillmentAction.WRITEBACK_SUCCEEDED, message=message, data=data
    )
    return WritebackOutcome.SUCCEEDED


def _record_retrying(row: Fulfillment | FulfillmentShipment, fulfillment: Fulfillment, reason: str) -> None:
    message = f"{reason}. Trying again automatically."
    _save_writeback(row, WritebackState.PENDING, message)
    message, data = _about(row, message)
    fulfillment_event_record(
        fulfillment=fulfillment, action=FulfillmentAction.WRITEBACK_RETRYING, message=message, data=data
    )


def _record_failure(
    row: Fulfillment | FulfillmentShipment, fulfillment: Fulfillment, message: str, detail: str = ""
) -> WritebackOutcome:
    logger.warning("%s %s write-back failed: %s", row._meta.model_name, row.pk, detail or message)
    _save_writeback(row, WritebackState.FAILED, message)
    message, data = _about(row, message)
    if detail:
        data["detail"] = str(detail)[:500]
    fulfillment_event_record(
        fulfillment=fulfillment, action=FulfillmentAction.WRITEBACK_FAILED, message=message, data=data or None
    )
    return WritebackOutcome.FAILED
