"""Writing a completed fulfilment back to BigCommerce: a shipment for a delivery, the Completed status for a pickup.

`fulfillment_writeback_run` is called by `integration.jobs.fulfillment_writeback_job`. It decides which failures
are transient (rate limit, server error, BigCommerce unreachable: the job tries again with backoff) and which are
permanent (credentials rejected, order not found, a request BigCommerce refuses: staff must act first), and
records every outcome on the fulfilment: `writeback_state`, `writeback_error` in plain words, and an event.

The fulfilment row is locked (skip-locked) for the duration of the call, so two workers never send the same
write-back twice at once; a run that finds the row taken, or the write-back no longer pending, does nothing.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Protocol

from django.db import transaction
from django.utils import timezone

from integration.choices import LinkState
from integration.models import StoreLink
from pos.choices import FulfillmentAction, ProductKind, SaleStatus, WritebackState
from pos.models import Fulfillment, FulfillmentLine
from pos.services.fulfillment import fulfillment_event_record

logger = logging.getLogger(__name__)

BC_STATUS_COMPLETED = 10
# BigCommerce's own `shipping_provider` values (orders.v2 `shipping_provider_standard`). Any other carrier is sent as
# `tracking_carrier` (an AfterShip courier code), which BigCommerce also turns into a tracking link.
SHIPPING_PROVIDERS = frozenset(
    {"auspost", "canadapost", "endicia", "usps", "fedex", "ups", "upsready", "upsonline", "shipperhq", "royalmail"}
)
RETRY_HINT = "Retry below; if it keeps failing, check status.bigcommerce.com."


class WritebackOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # permanent, or transient on the last attempt: staff retry from the page
    RETRYING = "retrying"  # transient: the job must be tried again
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


def fulfillment_writeback_run(
    *, fulfillment: Fulfillment, client: WritebackClient | None = None, final_attempt: bool = True
) -> WritebackOutcome:
    """Send a pending write-back to BigCommerce and record the outcome.

    `client` defaults to the BigCommerce client of the retailer's active store link. `final_attempt` says whether
    the job has attempts left: a transient failure on the final attempt is recorded as failed (staff can retry),
    otherwise the write-back stays pending and RETRYING tells the job to try again.
    """
    from integration import exceptions as api  # lands with the API client; imported when a write-back runs

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
            if client is None:
                from integration.client import BigCommerceClient

                client = BigCommerceClient.for_link(link)
            done = _ship(locked, client, order_id) if not locked.is_pickup else _mark_completed(client, order_id)
        except _Precondition as problem:
            return _record_failure(locked, str(problem))
        except api.ApiError as exc:
            transient, reason = _explain(exc, api, locked)
            if transient and not final_attempt:
                return _record_retrying(locked, reason)
            if transient:
                reason = f"{reason}, and the automatic retries failed too. {RETRY_HINT}"
            return _record_failure(locked, reason, detail=getattr(exc, "detail", ""))
        return _record_success(locked, done)


@transaction.atomic
def fulfillment_writeback_fail(*, fulfillment: Fulfillment, message: str) -> None:
    """Record a pending write-back as failed for a reason outside BigCommerce (an error on our side)."""
    locked = Fulfillment.objects.select_for_update().filter(pk=fulfillment.pk).first()
    if locked is not None and locked.writeback_state == WritebackState.PENDING:
        _record_failure(locked, message)


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
    client.update_order_status(order_id, BC_STATUS_COMPLETED)
    return f"BigCommerce order {order_id} marked Completed."


def _explain(exc, api, fulfillment: Fulfillment) -> tuple[bool, str]:
    """(transient?, what happened in plain words) for an API error."""
    detail = getattr(exc, "detail", "") or str(exc)
    order = fulfillment.sale.external_order_id
    if isinstance(exc, api.ApiRateLimited):
        return True, "BigCommerce is rate-limiting this store's API calls"
    if isinstance(exc, api.ApiServerError):
        return True, f"BigCommerce answered with a server error ({detail})"
    if isinstance(exc, api.ApiUnavailable):
        return True, f"BigCommerce could not be reached ({detail})"
    if isinstance(exc, api.ApiCredentialsRejected):
        return False, (
            "BigCommerce rejected the store's API token. Create a new store API account in BigCommerce and update "
            "the token in Settings › BigCommerce, then retry."
        )
    if isinstance(exc, api.ApiNotFound):
        return False, (
            f"BigCommerce has no order {order} (it was deleted or archived), or no longer has its shipping address "
            f"or items. Check the order in BigCommerce's control panel and update it there."
        )
    if isinstance(exc, api.ApiBadResponse):
        return False, (
            f"BigCommerce's answer could not be read, so it is not known whether order {order} was updated. "
            f"Check the order in BigCommerce's control panel before retrying."
        )
    what = "the status change" if fulfillment.is_pickup else "the shipment"
    return False, (
        f"BigCommerce refused {what} ({detail}). Correct the tracking number or carrier and retry, or update the "
        f"order in BigCommerce's control panel."
    )


def _save_writeback(fulfillment: Fulfillment, state: str, error: str) -> None:
    fulfillment.writeback_state = state
    fulfillment.writeback_error = error
    fulfillment.writeback_at = timezone.now()
    fulfillment.save(update_fields=["writeback_state", "writeback_error", "writeback_at", "updated_at"])


def _record_success(fulfillment: Fulfillment, message: str) -> WritebackOutcome:
    _save_writeback(fulfillment, WritebackState.SUCCEEDED, "")
    fulfillment_event_record(fulfillment=fulfillment, action=FulfillmentAction.WRITEBACK_SUCCEEDED, message=message)
    return WritebackOutcome.SUCCEEDED


def _record_retrying(fulfillment: Fulfillment, reason: str) -> WritebackOutcome:
    message = f"{reason}. Trying again automatically."
    _save_writeback(fulfillment, WritebackState.PENDING, message)
    fulfillment_event_record(fulfillment=fulfillment, action=FulfillmentAction.WRITEBACK_RETRYING, message=message)
    return WritebackOutcome.RETRYING


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
