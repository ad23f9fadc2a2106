"""The status table: what each BigCommerce order status means for the POS sale. The one place this rule lives.

| BigCommerce status (id)                                  | POS                                  |
|----------------------------------------------------------|--------------------------------------|
| Incomplete (0), Pending (1)                              | not imported (skipped until it moves) |
| Awaiting Payment (7) ... Partially Refunded (14), see below | closed sale                        |
| Cancelled (5), Declined (6)                              | voided sale (stock returns)          |

An id not in the table is never guessed at: the order needs attention with the id in the message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    SKIP = "skip"
    CLOSED = "closed"
    VOIDED = "voided"


@dataclass(frozen=True)
class BcStatus:
    id: int
    label: str
    outcome: Outcome
    # Payment is not yet confirmed: a closed sale with a balance owing and no payment.
    unpaid: bool = False
    # The customer collects the order (Awaiting Pickup): the fulfilment is a pickup.
    pickup: bool = False
    # Every item left the store (Shipped, Completed): the fulfilment is complete, nothing is shipped from the POS.
    shipped: bool = False
    # Money went back (Refunded, Partially Refunded): the refunds are read from BigCommerce.
    refunded: bool = False


STATUS_TABLE: dict[int, BcStatus] = {
    s.id: s
    for s in (
        BcStatus(0, "Incomplete", Outcome.SKIP),
        BcStatus(1, "Pending", Outcome.SKIP),
        BcStatus(2, "Shipped", Outcome.CLOSED, shipped=True),
        BcStatus(3, "Partially Shipped", Outcome.CLOSED),
        BcStatus(4, "Refunded", Outcome.CLOSED, refunded=True),
        BcStatus(5, "Cancelled", Outcome.VOIDED),
        BcStatus(6, "Declined", Outcome.VOIDED),
        BcStatus(7, "Awaiting Payment", Outcome.CLOSED, unpaid=True),
        BcStatus(8, "Awaiting Pickup", Outcome.CLOSED, pickup=True),
        BcStatus(9, "Awaiting Shipment", Outcome.CLOSED),
        BcStatus(10, "Completed", Outcome.CLOSED, shipped=True),
        BcStatus(11, "Awaiting Fulfillment", Outcome.CLOSED),
        BcStatus(12, "Manual Verification Required", Outcome.CLOSED),
        BcStatus(13, "Disputed", Outcome.CLOSED),
        BcStatus(14, "Partially Refunded", Outcome.CLOSED, refunded=True),
    )
}


class UnknownStatusError(Exception):
    """BigCommerce sent a status id that is not in the table."""

    def __init__(self, status_id: int):
        super().__init__(f"unknown BigCommerce status id {status_id}")
        self.status_id = status_id


COMPLETED = STATUS_TABLE[10]
AWAITING_PICKUP = STATUS_TABLE[8]
# BigCommerce's payment statuses (orders.v2 `payment_status`): money taken, and money that went back.
PAID_PAYMENT_STATUSES = frozenset({"captured", "paid", "partially refunded", "refunded"})
REFUNDED_PAYMENT_STATUSES = frozenset({"refunded", "partially refunded"})
# The gateway holds the money but has not taken it yet (captured later in BigCommerce, usually on shipping), or
# holds it while its fraud screening is reviewed: either way the customer owes nothing, and whether to ship before
# the review ends is the merchant's call (the sale page shows BigCommerce's payment status beside the sale's).
AUTHORIZED_PAYMENT_STATUSES = frozenset({"authorized", "capture pending", "held for review"})


def has_refunds(status_id: int, payment_status: str | None) -> bool:
    """Whether an order's refunds must be read: its status or its payment status says money went back."""
    row = STATUS_TABLE.get(status_id)
    return bool(row and row.refunded) or (payment_status or "").lower() in REFUNDED_PAYMENT_STATUSES


def status_for(status_id: int) -> BcStatus:
    """The table row for a BigCommerce status id; raises UnknownStatusError for any other id."""
    try:
        return STATUS_TABLE[int(status_id)]
    except (KeyError, TypeError, ValueError):
        raise UnknownStatusError(status_id) from None
