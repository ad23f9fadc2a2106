"""Writing a completed fulfilment back to BigCommerce: a shipment for a delivery, the Completed status for a pickup.

Completing a fulfilment records `pos.events.FULFILLMENT_COMPLETED`; the link handles it with
`fulfillment_writebacks_run` (`integration.kinds`). A precondition that fails (sale voided, store unlinked) is
recorded at once. An API error is returned to the kernel: the one classifier tells a transient failure (rate
limit, server error, BigCommerce unreachable: tried again with backoff) from a permanent one (credentials
rejected, order not found, a request BigCommerce refuses: staff must act first), and
`fulfillment_writeback_record_failures` says so on the fulfilment: `writeback_state`, `writeback_error` in plain
words, and an event.

The fulfilment row is locked (skip-locked) for the duration of the call, so two workers never send the same
write-back twice at once; a run that finds the row taken, or the write-back no longer pending, does nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol

from django.db import transaction
from django.utils import timezone

from integration.choices import ErrorCode, LinkState
from integration.exceptions import ApiError
from integration.models import StoreLink
from integration.status_table import COMPLETED
from pos.choices import FulfillmentAction, ProductKind, SaleStatus, WritebackState
from pos.models import Fulfillment, FulfillmentLine
from pos.services.fulfillment import fulfillment_event_record
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


class _Precondition(Exception):
    """The write-back cannot be attempted; the message says what to do."""


def fulfillment_writeback_run(*, fulfillment: Fulfillment, client: WritebackClient | None = None) -> WritebackOutcome:
    """Send a pending write-back to BigCommerce and record the outcome; raises the API error of a failed call
    (nothing is recorded then: see `fulfillment_writeback_record_failures`).

    `client` defaults to the BigCommerce client of the retailer's active store link.
    """
    with transaction.atomic():
        locked = (
            Fulfillment.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("sale", "retailer")
            .filter(pk=fulfillment.pk)
            .first()
        )
        if locked is None or locked.writeback_state != WritebackState.PENDING:
            return WritebackOutcome.SKIPPED
        try:
            link, order_id = _check_preconditions(locked)
        except _Precondition as problem:
            return _record_failure(locked, str(problem))
        if client is None:
            from integration.client import BigCommerceClient

            client = BigCommerceClient.for_link(link)
        done = _ship(locked, client, order_id) if not locked.is_pickup else _mark_completed(client, order_id)
        return _record_success(locked, done)


def fulfillment_writebacks_run(items: Sequence[WorkItem], *, client=None) -> dict[int, object]:
    """The handler of `pos.fulfillment_completed`: each item's fulfilment written back, or its API error."""
    outcomes: dict[int, object] = {}
    for item in items:
        fulfillment = Fulfillment.objects.filter(pk=int(item.key)).first()
        if fulfillment is None:
            continue
        try:
            fulfillment_writeback_run(fulfillment=fulfillment, client=client)
        except ApiError as exc:
            outcomes[item.pk] = exc
    return outcomes


def fulfillment_writeback_record_failures(attempts: Sequence[Attempt]) -> None:
    """Say on each fulfilment how its failed write-back ends: trying again automatically, or failed with what to
    do (staff retry from the page)."""
    for attempt in attempts:
        locked = (
            Fulfillment.objects.select_for_update(of=("self",))
            .select_related("sale")
            .filter(pk=int(attempt.item.key))
            .first()
        )
        if locked is None or locked.writeback_state != WritebackState.PENDING:
            continue
        reason = _explain(attempt.failure.code, attempt.failure.detail, locked)
        if attempt.retry_at is not None:
            _record_retrying(locked, reason)
        elif attempt.failure.retryable:
            _record_failure(
                locked, f"{reason}, and the automatic retries failed too. {RETRY_HINT}", detail=attempt.failure.detail
            )
        else:
            _record_failure(locked, reason, detail=attempt.failure.detail)


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


def _ship(fulfillment: Fulfillment, client: WritebackClient, order_id: int) -> str:
    """One shipment per BigCommerce order address, of what is fulfilled here and not yet shipped there.

    Reading the order's lines first makes a retry safe: if an earlier attempt's shipment reached BigCommerce but
    our record of it was lost (a timeout, a crash), the lines now show as shipped and nothing is sent twice.
    """
    lines = list(
        FulfillmentLine.objects.filter(fulfillment=fulfillment, fulfilled__gt=0)
        .exclude(sale_line__product__kind__in=ProductKind.service_kinds())
        .select_related("sale_line")
    )
    for line in lines:
        if not line.sale_line.external_line_id.isdigit():
            raise _Precondition(
                f"“{line.sale_line.name}” has no BigCommerce order-product id, so it cannot be put in a shipment. "
                f"Create the shipment in BigCommerce's control panel."
            )
    if not lines:
        raise _Precondition("No goods were fulfilled, so there is nothing to ship.")
    in_bigcommerce = {item.id: item for item in client.list_order_products(order_id)}
    by_address: dict[int, list[dict[str, int]]] = {}
    for line in lines:
        item = in_bigcommerce.get(int(line.sale_line.external_line_id))
        if item is None:
            raise _Precondition(
                f"“{line.sale_line.name}” is no longer on BigCommerce order {order_id} (the order was edited). "
                f"Check the order in BigCommerce's control panel."
            )
        remaining = min(line.fulfilled, item.quantity - item.quantity_shipped)
        if remaining > 0:
            by_address.setdefault(item.order_address_id, []).append(
                {"order_product_id": item.id, "quantity": remaining}
            )
    carrier = fulfillment.carrier
    provider = carrier if carrier in SHIPPING_PROVIDERS else ""
    for address_id, items in sorted(by_address.items()):
        client.create_shipment(
            order_id,
            order_address_id=address_id,
            items=items,
            tracking_number=fulfillment.tracking_number,
            tracking_carrier="" if provider else carrier,
            shipping_provider=provider,
        )
    units = sum(item["quantity"] for items in by_address.values() for item in items)
    if not units:
        return f"BigCommerce order {order_id} already shows these items shipped; nothing was sent twice."
    tracking = f", tracking {fulfillment.tracking_number}" if fulfillment.tracking_number else ""
    shipments = f"{len(by_address)} shipments" if len(by_address) > 1 else "Shipment"
    return f"{shipments} created in BigCommerce order {order_id}: {units} item{'s' if units != 1 else ''}{tracking}."


def _mark_completed(client: WritebackClient, order_id: int) -> str:
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


def _save_writeback(fulfillment: Fulfillment, state: str, error: str) -> None:
    fulfillment.writeback_state = state
    fulfillment.writeback_error = error
    fulfillment.writeback_at = timezone.now()
    fulfillment.save(update_fields=["writeback_state", "writeback_error", "writeback_at", "updated_at"])


def _record_success(fulfillment: Fulfillment, message: str) -> WritebackOutcome:
    _save_writeback(fulfillment, WritebackState.SUCCEEDED, "")
    fulfillment_event_record(fulfillment=fulfillment, action=FulfillmentAction.WRITEBACK_SUCCEEDED, message=message)
    return WritebackOutcome.SUCCEEDED


def _record_retrying(fulfillment: Fulfillment, reason: str) -> None:
    message = f"{reason}. Trying again automatically."
    _save_writeback(fulfillment, WritebackState.PENDING, message)
    fulfillment_event_record(fulfillment=fulfillment, action=FulfillmentAction.WRITEBACK_RETRYING, message=message)


def _record_failure(fulfillment: Fulfillment, message: str, detail: str = "") -> WritebackOutcome:
    logger.warning("fulfillment %s write-back failed: %s", fulfillment.pk, detail or message)
    _save_writeback(fulfillment, WritebackState.FAILED, message)
    fulfillment_event_record(
        fulfillment=fulfillment,
        action=FulfillmentAction.WRITEBACK_FAILED,
        message=message,
        data={"detail": str(detail)[:500]} if detail else None,
    )
    return WritebackOutcome.FAILED
