"""Fulfilments: getting an online sale's goods to the customer, and the rules staff work by.

The rules, each enforced here and nowhere else:

- **States.** new → picking → packed → completed, or cancelled from any open state. `TRANSITIONS` is the one
  table of which action may move a fulfilment from which state to which; `fulfillment_action_refusal` adds the
  few guards that depend on more than the state (type, write-back state, a voided sale).
- **Quantities.** Per line, `0 ≤ fulfilled ≤ packed ≤ picked ≤ ordered`: goods are packed from what was picked
  and handed over (shipped or collected) from what was packed. Partial quantities are progress, recorded as often
  as staff like. Recording anything starts picking; once every line is packed in full the fulfilment is packed
  (a pickup is then "Ready for pickup", which BigCommerce is told as its Awaiting Pickup status), and lowering a
  packed quantity puts it back to picking.
- **Shipping in parts** (`pos.services.shipments`): staff ship what is packed as a shipment of its own (with its
  tracking), and the rest stays open; shipping the last goods completes the fulfilment. Each shipment is sent to
  BigCommerce once.
- **Completion** needs every line fulfilled in full and sends one write-back: a shipment of what is fulfilled and
  not in a shipment yet, or the Completed status. Goods that will never go are handled by editing the order in
  BigCommerce first (the sync then adjusts the sale and its lines) or by cancelling.
- **Money.** A sale with a balance owing cannot be completed unless `retailer.allow_unpaid_fulfillment`; a
  payment authorised and not captured yet is not owing (the money is held for the sale; it is captured in the
  channel, usually on shipping).
- **Voids.** A voided sale's fulfilment is cancelled and can no longer change. A fulfilment completed before the
  void stays completed (the goods are gone) and its history says the sale was voided afterwards.
- **Two people at once.** Every staff action carries the version the person saw. It claims the row with one
  `UPDATE ... SET version = version + 1 WHERE id = %s AND version = %s`: whoever commits first wins, the other
  gets `FulfillmentConflict` and fresh data. On PostgreSQL the second UPDATE waits for the first transaction's
  row lock and then finds the version moved on, so the same version can never be used twice.
- **Consignments.** An online sale has one fulfilment per consignment of its order (each shipping address, each
  pickup), each with its own lines, state, history, shipments and write-back; every rule here applies to each.
- **History.** Every action appends a FulfillmentEvent in the same transaction.
- **Write-back.** Completing a BigCommerce sale's fulfilment marks the write-back pending and records
  `pos.events.FULFILLMENT_COMPLETED` in the same transaction; the BigCommerce link writes it back from there.
  A failed write-back can be retried; a pending one cannot be lost, so it is never "stuck".
"""

# The write-back itself: integration/services/fulfillment_writeback.py.

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from pos import events
from pos.choices import (
    Carrier,
    Channel,
    FulfillmentAction,
    FulfillmentState,
    FulfillmentType,
    PaymentState,
    ProductKind,
    SaleStatus,
    WritebackState,
)
from pos.db import inserter, new_row
from pos.models import Fulfillment, FulfillmentEvent, FulfillmentLine, Sale, SaleLine, User

logger = logging.getLogger(__name__)

Action = FulfillmentAction
State = FulfillmentState

CONFLICT_MESSAGE = (
    "Someone else updated this fulfilment a moment ago; the page now shows their changes. Check them and try again."
)
VOIDED_MESSAGE = "The sale was voided, so this fulfilment is cancelled and can no longer change."
FIELD_MAX_LENGTH = 100

# Which action may move a fulfilment from which state to which. Anything not listed is refused.
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    Action.START_PICKING: {State.NEW: frozenset({State.PICKING})},
    Action.RECORD_QUANTITIES: {
        State.NEW: frozenset({State.PICKING, State.PACKED}),
        State.PICKING: frozenset({State.PICKING, State.PACKED}),
        State.PACKED: frozenset({State.PICKING, State.PACKED}),
    },
    Action.SET_TRACKING: {s: frozenset({s}) for s in (State.NEW, State.PICKING, State.PACKED, State.COMPLETED)},
    Action.COMPLETE: {State.PACKED: frozenset({State.COMPLETED})},
    Action.CANCEL: {s: frozenset({State.CANCELLED}) for s in State.open_states()},
    Action.RETRY_WRITEBACK: {State.COMPLETED: frozenset({State.COMPLETED})},
    # A shipment of some goods leaves the rest open; shipping the last of them completes the fulfilment.
    Action.SHIP: {s: frozenset({State.PICKING, State.PACKED, State.COMPLETED}) for s in State.open_states()},
    Action.RETRY_SHIPMENT: {s: frozenset({s}) for s in (*State.open_states(), State.COMPLETED)},
}
# The actions on the fulfilment as a whole (a shipment's retry is offered on the shipment that failed).
STAFF_ACTIONS = tuple(a for a in TRANSITIONS if a != Action.RETRY_SHIPMENT)

_VERBS = {
    Action.START_PICKING: "start picking",
    Action.RECORD_QUANTITIES: "record quantities",
    Action.SET_TRACKING: "change the tracking",
    Action.COMPLETE: "complete it",
    Action.CANCEL: "cancel it",
    Action.RETRY_WRITEBACK: "retry the write-back",
    Action.SHIP: "ship goods",
    Action.RETRY_SHIPMENT: "retry a shipment's write-back",
}


class FulfillmentError(Exception):
    """A rule refused the action. The message is written for the person who tried it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FulfillmentConflict(FulfillmentError):
    """The fulfilment changed since the person loaded it (optimistic locking)."""

    def __init__(self) -> None:
        super().__init__(CONFLICT_MESSAGE)


@dataclass(frozen=True)
class LineQuantities:
    """What staff record for one line: how many are picked, packed and fulfilled so far (not increments)."""

    picked: int
    packed: int
    fulfilled: int


# ---------------------------------------------------------------- reading the rules (also used by the pages)


def fulfillment_action_refusal(fulfillment: Fulfillment, action: str) -> str | None:
    """Why `action` is not possible on `fulfillment` right now, or None when it is. `fulfillment.sale` is read."""
    if fulfillment.sale.status == SaleStatus.VOIDED and action != Action.CANCEL:
        return VOIDED_MESSAGE
    if fulfillment.state not in TRANSITIONS[action]:
        return f"You cannot {_VERBS[action]}: the fulfilment is {fulfillment.state_label.lower()}."
    if action == Action.SHIP and fulfillment.is_pickup:
        return "A pickup is collected at the outlet, not shipped: mark it as collected instead."
    if action == Action.SET_TRACKING:
        if fulfillment.is_pickup:
            return "A pickup has no tracking number."
        if fulfillment.state == State.COMPLETED and fulfillment.writeback_state != WritebackState.FAILED:
            return (
                "The shipment has been handed to BigCommerce; change its tracking in BigCommerce's control panel. "
                "(Tracking can be corrected here only while the write-back has failed.)"
            )
    if action == Action.RETRY_WRITEBACK and fulfillment.writeback_state != WritebackState.FAILED:
        if fulfillment.writeback_state == WritebackState.PENDING:
            return "The write-back is still in progress; it retries by itself."
        return f"There is nothing to retry: the write-back is “{fulfillment.get_writeback_state_display()}”."
    return None


def fulfillment_allowed_actions(fulfillment: Fulfillment) -> frozenset[str]:
    """The staff actions possible now (the page shows a button for each). `fulfillment.sale` is read."""
    return frozenset(a for a in STAFF_ACTIONS if fulfillment_action_refusal(fulfillment, a) is None)


def fulfillment_completion_blockers(*, fulfillment: Fulfillment, lines: list[FulfillmentLine]) -> list[str]:
    """Why the fulfilment cannot be completed yet (empty when it can): unfulfilled lines, then money owing."""
    blockers = []
    if not lines:
        blockers.append("There are no goods on this sale to hand over.")
    short = [line for line in lines if line.fulfilled < line.quantity]
    if short:
        listed = ", ".join(f"{line.sale_line.name} {line.fulfilled} of {line.quantity}" for line in short[:3])
        more = f" and {len(short) - 3} more" if len(short) > 3 else ""
        blockers.append(f"Not everything is fulfilled yet ({listed}{more} fulfilled).")
    owing = fulfillment_money_blocker(fulfillment)
    if owing:
        blockers.append(owing)
    return blockers


def fulfillment_money_blocker(fulfillment: Fulfillment) -> str | None:
    """Why goods may not be handed over (completed, or shipped in part) yet because money is owing, or None."""
    balance = fulfillment.sale.balance
    authorised = fulfillment.sale.payment_state == PaymentState.AUTHORISED  # captured in BigCommerce, not here
    if balance > 0 and not authorised and not fulfillment.retailer.allow_unpaid_fulfillment:
        return (
            f"The sale still has {fulfillment.sale.currency} {balance:.2f} owing. Take the payment first, or ask an "
            f"admin to allow completing unpaid fulfilments in Settings."
        )
    return None


# ---------------------------------------------------------------- the sync engine's entry points


@transaction.atomic
def fulfillment_create_for_sale(
    *,
    sale: Sale,
    type: str,
    shipping_address: Mapping[str, Any] | None = None,
    external_address_id: str | int = "",
    shipping_method: str = "",
) -> Fulfillment:
    """The fulfilment of an online sale that ships or is picked up, with one line per goods line.

    Idempotent: such a sale has one fulfilment (an order's consignments get theirs from the sync), and a second
    call (or a concurrent one) returns it unchanged.
    Shipping, handling and wrapping lines are charges, not goods, and get no line.
    """
    existing = Fulfillment.objects.filter(sale=sale).first()
    if existing is not None:
        return existing
    if sale.status == SaleStatus.VOIDED:
        raise FulfillmentError("A voided sale has nothing to fulfil.")
    if type not in FulfillmentType.values:
        raise FulfillmentError(f"Unknown fulfilment type {type!r}.")
    try:
        # A savepoint: losing a race to another process leaves the caller's transaction usable.
        with transaction.atomic():
            fulfillment = Fulfillment.objects.create(
                retailer_id=sale.retailer_id,
                sale=sale,
                type=type,
                shipping_address=dict(shipping_address or {}),
                external_address_id=str(external_address_id or ""),
                shipping_method=shipping_method[:200],
            )
    except IntegrityError:
        return Fulfillment.objects.get(sale=sale, consignment="")
    goods = sale.lines.exclude(product__kind__in=ProductKind.service_kinds()).filter(quantity__gt=0)
    lines = FulfillmentLine.objects.bulk_create(
        FulfillmentLine(fulfillment=fulfillment, sale_line=line, quantity=line.quantity) for line in goods
    )
    units = sum(line.quantity for line in lines)
    fulfillment_event_record(
        fulfillment=fulfillment,
        action=Action.CREATED,
        message=f"Created for a {fulfillment.get_type_display().lower()}: {units_text(units)}.",
    )
    return fulfillment


@transaction.atomic
def fulfillment_cancel(
    *,
    fulfillment: Fulfillment,
    reason: str,
    expected_version: int | None = None,
    acting_user: User | None = None,
) -> Fulfillment:
    """Cancel an open fulfilment. Cancelled is final.

    Staff pass the version they saw (and themselves). The sync engine, voiding the sale, passes neither: the void
    wins over whatever staff are doing, takes the row lock and bumps the version so their open pages go stale.
    Idempotent for the sync engine: an already cancelled fulfilment is returned unchanged, and a completed one
    stays completed with an event saying the sale was voided afterwards.
    """
    reason = reason.strip()
    if not reason:
        raise FulfillmentError("Say why the fulfilment is cancelled.")
    if expected_version is not None:
        fresh = fulfillment_claim(fulfillment=fulfillment, action=Action.CANCEL, expected_version=expected_version)
    else:
        locked = Fulfillment.objects.select_for_update(of=("self",)).select_related("sale", "retailer")
        fresh = locked.get(pk=fulfillment.pk)
        if fresh.state == State.CANCELLED:
            return fresh
        if fresh.state == State.COMPLETED:
            if fresh.sale.status == SaleStatus.VOIDED:
                already = fresh.events.filter(action=Action.SALE_VOIDED_AFTER_COMPLETION).exists()
                if not already:
                    fulfillment_event_record(
                        fulfillment=fresh,
                        action=Action.SALE_VOIDED_AFTER_COMPLETION,
                        message=f"The sale was voided after this fulfilment was completed: {reason}",
                    )
                return fresh
            raise FulfillmentError("A completed fulfilment cannot be cancelled.")
        fresh.version += 1  # under the row lock: staff holding the old version now get a conflict
    fulfillment_move(fresh, Action.CANCEL, State.CANCELLED)
    fresh.save(update_fields=["state", "version", "updated_at"])
    fulfillment_event_record(
        fulfillment=fresh, action=Action.CANCEL, actor=acting_user, message=f"Cancelled: {reason}"[:500]
    )
    return fresh


@dataclass
class FollowReport:
    """What following the orders did, per sale id (all its fulfilments together), for the caller's log."""

    sent: dict[int, str] = field(default_factory=dict)  # what the channel newly sent: "2 × Tee, 1 × Cap"
    # Edits of an order whose fulfilment was already completed: what changed, and whether goods already handed
    # over changed (someone must look: they may have to be returned or shipped).
    edited_after_completion: dict[int, tuple[str, bool]] = field(default_factory=dict)

    def add_sent(self, sent: Mapping[int, str]) -> None:
        for sale_id, what in sent.items():
            self.sent[sale_id] = f"{self.sent[sale_id]}; {what}" if sale_id in self.sent else what

    def add_edited(self, edited: Mapping[int, tuple[str, bool]]) -> None:
        for sale_id, (detail, shipped_changed) in edited.items():
            if sale_id in self.edited_after_completion:
                before, changed_before = self.edited_after_completion[sale_id]
                detail, shipped_changed = f"{before}; {detail}", changed_before or shipped_changed
            self.edited_after_completion[sale_id] = (detail, shipped_changed)


@dataclass(frozen=True)
class OnlineFulfillmentSpec:
    """How one consignment of an online order wants to be fulfilled, as the order sync reads it. An order with
    several consignments (shipping addresses, pickups) has one spec, and one fulfilment, per consignment."""

    sale: Sale
    pickup: bool
    shipping_address: Mapping[str, Any]
    external_address_id: str
    shipping_method: str
    # BigCommerce already shows the order shipped or completed: nothing is left for staff to do.
    already_shipped: bool = False
    # The sale was written in this same transaction: it has no fulfilment yet, so none is looked for, and these
    # are its lines (products loaded), so they are not read back either.
    new_sale: bool = False
    lines: Sequence[SaleLine] = ()
    # Units the channel has already sent, per sale line key (`SaleLine.external_line_id`): shipments made in
    # BigCommerce's control panel (or by an earlier write-back).
    sent: Mapping[str, int] | None = None
    # The consignment within its order (`Fulfillment.consignment`): blank for an order fulfilled as a whole.
    consignment: str = ""
    # The keys (`SaleLine.external_line_id`) of the lines this consignment holds; None: every goods line.
    line_keys: frozenset[str] | None = None
    # The order's first consignment: it takes over the sale's fulfilment from before consignments were told apart.
    first: bool = True

    def goods_of(self, lines: Sequence[SaleLine]) -> list[SaleLine]:
        """Those of the sale's goods lines this consignment holds."""
        if self.line_keys is None:
            return list(lines)
        return [line for line in lines if line.external_line_id in self.line_keys]

    def sent_of(self, sale_line: SaleLine) -> int:
        if self.already_shipped:
            return sale_line.quantity
        return max(0, min((self.sent or {}).get(sale_line.external_line_id, 0), sale_line.quantity))


def fulfillments_follow_online_sales(*, specs: Sequence[OnlineFulfillmentSpec], as_set: bool = False) -> FollowReport:
    """Keep online sales' fulfilments in step with their orders, for a whole batch of orders at once.

    Each consignment of an order (a shipping address, a pickup; `spec.consignment`) has its own fulfilment with the
    lines it holds: a closed sale's consignment without one gets one (a sale line is only ever one fulfilment's, and
    a fulfilment from before consignments were told apart is the order's first consignment's); an open fulfilment
    gains lines its consignment gained and follows changed quantities (progress is clamped, never lost silently: the
    history says what changed); a voided sale's fulfilments are cancelled. Goods the channel already sent
    (`spec.sent`, or everything when `already_shipped`) count as picked, packed and fulfilled, so staff are never
    asked to ship them again; a fulfilment whose every unit was sent there is completed with nothing to write back.
    A completed fulfilment is never rewritten by an edit of its order: the edit is recorded in its history, and
    reported (`FollowReport.edited_after_completion`), flagged when goods already handed over changed. A fixed
    number of queries whatever the number of sales (voids, which are rare, go one by one through
    `fulfillment_cancel`).

    `as_set`: new rows go in as sets (`pos.db.insert_rows`), for big batches (a historical import's page).
    """
    report = FollowReport()
    if not specs:
        return report
    older = {s.sale.pk: s.sale for s in specs if not s.new_sale}
    existing: dict[tuple[int, str], Fulfillment] = {}
    for fulfillment in Fulfillment.objects.filter(sale__in=list(older.values())) if older else ():
        existing[(fulfillment.sale_id, fulfillment.consignment)] = fulfillment
        sale = older[fulfillment.sale_id]
        if sale.status == SaleStatus.VOIDED:
            fulfillment_cancel(
                fulfillment=fulfillment,
                reason=f"the order is {sale.bc_status_label} in BigCommerce and the sale was voided",
            )
    live = [s for s in specs if s.sale.status == SaleStatus.CLOSED]
    if not live:
        return report
    goods: dict[int, list[SaleLine]] = {}
    services = ProductKind.service_kinds()
    for spec in live:
        if spec.new_sale:
            goods[spec.sale.pk] = sorted(
                (line for line in spec.lines if line.product.kind not in services), key=lambda x: (x.position, x.pk)
            )
    unread = list({s.sale.pk: s.sale for s in live if not s.new_sale}.values())
    if unread:
        for line in (
            SaleLine.objects.filter(sale__in=unread).exclude(product__kind__in=services).order_by("position", "id")
        ):
            goods.setdefault(line.sale_id, []).append(line)
    # Each sale line is one consignment's: a line some fulfilment of the sale holds already stays there.
    held = (
        {line.sale_line_id: line for line in FulfillmentLine.objects.filter(fulfillment__sale__in=unread)}
        if unread
        else {}
    )
    new, following, completed = [], [], []
    adopted = []
    for spec in live:
        fulfillment = existing.get((spec.sale.pk, spec.consignment))
        if fulfillment is None and spec.first and spec.consignment:
            fulfillment = existing.pop((spec.sale.pk, ""), None)
            if fulfillment is not None:
                fulfillment.consignment = spec.consignment
                existing[(spec.sale.pk, spec.consignment)] = fulfillment
                adopted.append(fulfillment)
        mine = spec.goods_of(goods.get(spec.sale.pk, []))
        if fulfillment is None:
            new.append((spec, [line for line in mine if line.pk not in held]))
        elif fulfillment.state in State.open_states():
            following.append((fulfillment, spec, mine))
        elif fulfillment.state == State.COMPLETED:
            completed.append((fulfillment, mine))
    if adopted:
        Fulfillment.objects.bulk_update(adopted, ["consignment"])
    insert = inserter(as_set=as_set)
    report.add_sent(_create_online(new, insert))
    report.add_sent(_follow_lines(following, held))
    report.add_edited(_record_late_edits(completed, held))
    return report


def _record_late_edits(
    pairs: list[tuple[Fulfillment, list[SaleLine]]], held: dict[int, FulfillmentLine]
) -> dict[int, tuple[str, bool]]:
    """Compare completed fulfilments with their consignment's lines now; record any difference in their history
    (once per difference: the fulfilment's lines are left as handed over, so the history says what the order
    became). `held`: the fulfilment lines of their sales, by sale line id."""
    if not pairs:
        return {}
    fulfillments = [f for f, _ in pairs]
    noted = {
        (e.fulfillment_id, e.data.get("signature"))
        for e in FulfillmentEvent.objects.filter(fulfillment__in=fulfillments, action=Action.ORDER_EDITED)
    }
    events, edited = [], {}
    for fulfillment, goods in pairs:
        changes, shipped_changed = [], False
        for sale_line in goods:
            line = held.get(sale_line.pk)
            if line is not None and line.fulfillment_id != fulfillment.pk:
                continue  # another consignment's
            if line is None:
                if sale_line.quantity > 0:
                    changes.append(f"added {sale_line.quantity} × {sale_line.name} (not handed over)")
            elif line.quantity != sale_line.quantity:
                changes.append(
                    f"{sale_line.name}: {line.quantity} → {sale_line.quantity} ({line.fulfilled} handed over)"
                )
                shipped_changed |= line.fulfilled > 0
        if not changes:
            continue
        detail = "; ".join(changes)
        if (fulfillment.pk, detail) in noted:
            continue
        edited[fulfillment.sale_id] = (detail, shipped_changed)
        what = "Goods already handed over changed: check with the customer." if shipped_changed else ""
        events.append(
            FulfillmentEvent(
                fulfillment=fulfillment,
                action=Action.ORDER_EDITED,
                message=f"Order edited after this fulfilment was completed: {detail}. {what}".strip()[:500],
                data={"signature": detail, "after_completion": True, "shipped_changed": shipped_changed},
            )
        )
    FulfillmentEvent.objects.bulk_create(events)
    return edited


def units_text(count: int) -> str:
    """ "1 item", "3 items"."""
    return f"{count} item{'s' if count != 1 else ''}"


# "delivery", "pickup": built once (get_type_display() builds its choices dict on every call).
_TYPE_WORDS = {value: str(label).lower() for value, label in FulfillmentType.choices}


def _create_online(pairs: list[tuple[OnlineFulfillmentSpec, list[SaleLine]]], insert) -> dict[int, str]:
    """New fulfilments, one per spec with goods to hand over (`pairs`: each spec and its goods lines)."""
    now = timezone.now()
    pairs = [(spec, goods) for spec, goods in pairs if any(line.quantity > 0 for line in goods)]
    specs = [spec for spec, _ in pairs]
    fulfillments, lines_of, sent = [], [], {}
    for spec, goods in pairs:
        fulfillment = new_row(
            Fulfillment,
            retailer_id=spec.sale.retailer_id,
            sale=spec.sale,
            consignment=spec.consignment[:80],
            type=FulfillmentType.PICKUP if spec.pickup else FulfillmentType.DELIVERY,
            shipping_address=dict(spec.shipping_address),
            external_address_id=spec.external_address_id[:64],
            shipping_method=spec.shipping_method[:200],
        )
        mine = []
        for sale_line in goods:
            if sale_line.quantity > 0:
                q = spec.sent_of(sale_line)
                mine.append(
                    new_row(
                        FulfillmentLine,
                        sale_line=sale_line,
                        quantity=sale_line.quantity,
                        picked=q,
                        packed=q,
                        fulfilled=q,
                    )
                )
        fulfillment.state = _state_after_sent(mine, State.NEW)
        fulfillment.completed_at = now if fulfillment.state == State.COMPLETED else None
        fulfillments.append(fulfillment)
        lines_of.append(mine)
    insert(Fulfillment, fulfillments)
    events = []
    for spec, fulfillment, mine in zip(specs, fulfillments, lines_of, strict=True):
        for line in mine:
            line.fulfillment_id = fulfillment.pk  # the id only: nothing reads the fulfilment through its lines here
        kind = _TYPE_WORDS[fulfillment.type]
        events.append(
            new_row(
                FulfillmentEvent,
                fulfillment=fulfillment,
                action=Action.CREATED,
                message=f"Created for a {kind}: {units_text(sum(line.quantity for line in mine))}.",
            )
        )
        shipped = _describe_sent([(line.sale_line, line.fulfilled) for line in mine if line.fulfilled])
        if not shipped:
            continue
        _add(sent, spec.sale.pk, shipped)
        if fulfillment.state == State.COMPLETED:
            message = f"The order was already {spec.sale.bc_status_label} in BigCommerce when it was imported."
        else:
            message = f"Already shipped in BigCommerce when the order was imported: {shipped}. The rest is to do."
        events.append(
            new_row(FulfillmentEvent, fulfillment=fulfillment, action=Action.SHIPPED_IN_BIGCOMMERCE, message=message)
        )
    insert(FulfillmentLine, [line for mine in lines_of for line in mine])
    insert(FulfillmentEvent, events)
    return sent


def _describe_sent(pairs: list[tuple[SaleLine, int]]) -> str:
    return ", ".join(f"{quantity} × {sale_line.name}" for sale_line, quantity in pairs)


def _state_after_sent(lines: list[FulfillmentLine], state: str) -> str:
    """The state of an open fulfilment once the channel's shipments are counted: completed when every unit was
    sent, picking when some progress exists, packed when everything is packed."""
    goods = [line for line in lines if line.quantity > 0]
    if goods and all(line.fulfilled >= line.quantity for line in goods):
        return State.COMPLETED
    if goods and all(line.packed >= line.quantity for line in goods):
        return State.PACKED
    if state == State.PACKED or any(line.picked for line in goods):
        return State.PICKING
    return state


def _add(texts: dict[int, str], key: int, text: str) -> None:
    texts[key] = f"{texts[key]}; {text}" if key in texts else text


def _follow_lines(
    triples: list[tuple[Fulfillment, OnlineFulfillmentSpec, list[SaleLine]]], current: dict[int, FulfillmentLine]
) -> dict[int, str]:
    """Open fulfilments follow their consignment's lines (`triples`: each with its spec and goods lines) and what
    the channel sent. `current`: the fulfilment lines of their sales, by sale line id (lines created join it)."""
    if not triples:
        return {}
    fulfillments = [f for f, _, _ in triples]
    to_create, to_update, events, touched, sent = [], {}, [], [], {}
    now = timezone.now()
    for fulfillment, spec, goods in triples:
        changes, shipped = [], []
        for sale_line in goods:
            line = current.get(sale_line.pk)
            if line is not None and line.fulfillment_id != fulfillment.pk:
                continue  # another consignment's
            if line is None:
                if sale_line.quantity > 0:
                    line = FulfillmentLine(fulfillment=fulfillment, sale_line=sale_line, quantity=sale_line.quantity)
                    to_create.append(line)
                    current[sale_line.pk] = line
                    changes.append(f"added {sale_line.quantity} × {sale_line.name}")
                else:
                    continue
            elif line.quantity != sale_line.quantity:
                changes.append(f"{sale_line.name}: {line.quantity} → {sale_line.quantity}")
                line.quantity = sale_line.quantity
                line.picked = min(line.picked, line.quantity)
                line.packed = min(line.packed, line.picked)
                line.fulfilled = min(line.fulfilled, line.packed)
                to_update[line.pk] = line
            q = spec.sent_of(sale_line)
            if q > line.fulfilled:
                shipped.append((sale_line, q - line.fulfilled))
                line.fulfilled = q
                line.packed = max(line.packed, q)
                line.picked = max(line.picked, line.packed)
                if line.pk:
                    to_update[line.pk] = line
        if changes:
            events.append(
                FulfillmentEvent(
                    fulfillment=fulfillment,
                    action=Action.ORDER_EDITED,
                    message=("Order edited: " + "; ".join(changes))[:500],
                )
            )
        if shipped:
            _add(sent, fulfillment.sale_id, _describe_sent(shipped))
        if changes or shipped:
            touched.append(fulfillment.pk)
            mine = [line for line in current.values() if line.fulfillment_id == fulfillment.pk]
            before = fulfillment.state
            fulfillment.state = _state_after_sent(mine, before) if shipped else before
            if changes and not shipped and before == State.PACKED:
                fulfillment.state = State.PICKING  # a packed fulfilment that gained goods is picking again
            if shipped:
                done = fulfillment.state == State.COMPLETED
                rest = "; nothing is left to ship and nothing is sent back." if done else "; the rest is to do."
                events.append(
                    FulfillmentEvent(
                        fulfillment=fulfillment,
                        action=Action.SHIPPED_IN_BIGCOMMERCE,
                        message=f"Shipped in BigCommerce: {_describe_sent(shipped)}{rest}"[:500],
                        data={"lines": {str(sl.pk): q for sl, q in shipped}},
                    )
                )
            if fulfillment.state == State.COMPLETED:
                fulfillment.completed_at = now
            fulfillment.updated_at = now
    FulfillmentLine.objects.bulk_create(to_create)
    FulfillmentLine.objects.bulk_update(list(to_update.values()), ["quantity", "picked", "packed", "fulfilled"])
    FulfillmentEvent.objects.bulk_create(events)
    changed = [f for f in fulfillments if f.pk in touched]
    if changed:
        Fulfillment.objects.bulk_update(changed, ["state", "completed_at", "updated_at"])
        # Staff pages open on the old lines are now stale.
        Fulfillment.objects.filter(pk__in=touched).update(version=F("version") + 1)
    return sent


# ---------------------------------------------------------------- staff actions


@transaction.atomic
def fulfillment_start_picking(*, fulfillment: Fulfillment, expected_version: int, acting_user: User) -> Fulfillment:
    """Say someone is picking the order's goods (new → picking)."""
    fresh = fulfillment_claim(fulfillment=fulfillment, action=Action.START_PICKING, expected_version=expected_version)
    fulfillment_move(fresh, Action.START_PICKING, State.PICKING)
    fresh.save(update_fields=["state", "updated_at"])
    fulfillment_event_record(fulfillment=fresh, action=Action.START_PICKING, actor=acting_user, message="")
    return fresh


@transaction.atomic
def fulfillment_record_quantities(
    *,
    fulfillment: Fulfillment,
    quantities: Mapping[int, LineQuantities],
    expected_version: int,
    acting_user: User,
) -> Fulfillment:
    """Record picked / packed / fulfilled quantities for some lines (keyed by FulfillmentLine id).

    Values are totals so far, not increments, so a repeated submit changes nothing. The state follows: picking
    while anything is short of packed, packed once every line is packed in full.
    """
    fresh = fulfillment_claim(
        fulfillment=fulfillment, action=Action.RECORD_QUANTITIES, expected_version=expected_version
    )
    lines = {line.pk: line for line in fresh.lines.select_related("sale_line")}
    unknown = sorted(set(quantities) - set(lines))
    if unknown:
        raise FulfillmentError(f"Line {unknown[0]} is not part of this fulfilment.")
    errors: list[str] = []
    changes: list[dict[str, Any]] = []
    for line_id, wanted in quantities.items():
        line = lines[line_id]
        errors += _quantity_errors(line, wanted)
        before = (line.picked, line.packed, line.fulfilled)
        after = (wanted.picked, wanted.packed, wanted.fulfilled)
        if before != after:
            changes.append({"line": line_id, "name": line.sale_line.name, "before": before, "after": after})
            line.picked, line.packed, line.fulfilled = after
    if errors:
        raise FulfillmentError(" ".join(errors))
    if not changes:
        raise FulfillmentError("Nothing changed: these are the quantities already recorded.")
    FulfillmentLine.objects.bulk_update(
        [lines[c["line"]] for c in changes], ["picked", "packed", "fulfilled"], batch_size=500
    )
    all_packed = all(line.packed == line.quantity for line in lines.values())
    before = fresh.state
    fulfillment_move(fresh, Action.RECORD_QUANTITIES, State.PACKED if all_packed else State.PICKING)
    fresh.save(update_fields=["state", "updated_at"])
    if fresh.is_pickup and fresh.state == State.PACKED and before != State.PACKED and fulfillment_writes_back(fresh):
        events.pickup_ready(retailer_id=fresh.retailer_id, fulfillment_id=fresh.pk)
    summary = "; ".join(
        f"{c['name']}: picked {c['after'][0]}, packed {c['after'][1]}, fulfilled {c['after'][2]} "
        f"of {lines[c['line']].quantity}"
        for c in changes
    )
    fulfillment_event_record(
        fulfillment=fresh,
        action=Action.RECORD_QUANTITIES,
        actor=acting_user,
        message=summary[:500],
        data={"lines": changes, "state": fresh.state},
    )
    return fresh


@transaction.atomic
def fulfillment_set_tracking(
    *,
    fulfillment: Fulfillment,
    tracking_number: str,
    carrier: str,
    expected_version: int,
    acting_user: User,
) -> Fulfillment:
    """Set a delivery's tracking number and carrier (sent with the shipment when the fulfilment is completed).

    A carrier typed as one of the suggested names ("FedEx") is stored as its code ("fedex").
    """
    fresh = fulfillment_claim(fulfillment=fulfillment, action=Action.SET_TRACKING, expected_version=expected_version)
    tracking_number, carrier = tracking_number.strip(), carrier_normalize(carrier)
    if len(tracking_number) > FIELD_MAX_LENGTH or len(carrier) > FIELD_MAX_LENGTH:
        raise FulfillmentError(f"Tracking number and carrier are at most {FIELD_MAX_LENGTH} characters each.")
    before = {"tracking_number": fresh.tracking_number, "carrier": fresh.carrier}
    after = {"tracking_number": tracking_number, "carrier": carrier}
    if before == after:
        raise FulfillmentError("Nothing changed: this is the tracking already recorded.")
    fresh.tracking_number, fresh.carrier = tracking_number, carrier
    fulfillment_move(fresh, Action.SET_TRACKING, fresh.state)
    fresh.save(update_fields=["tracking_number", "carrier", "updated_at"])
    message = f"Tracking {tracking_number or '(none)'}" + (f" with {carrier}" if carrier else "")
    fulfillment_event_record(
        fulfillment=fresh,
        action=Action.SET_TRACKING,
        actor=acting_user,
        message=message,
        data={"before": before, "after": after},
    )
    return fresh


@transaction.atomic
def fulfillment_complete(*, fulfillment: Fulfillment, expected_version: int, acting_user: User) -> Fulfillment:
    """Complete a packed fulfilment whose every line is fulfilled, and queue its write-back to BigCommerce.

    Refused while money is owing unless the retailer allows it. The write-back (a shipment for a delivery, the
    Completed status for a pickup) is recorded with the completion and sent by the link's worker; an in-store sale
    has nothing to write back.
    """
    fresh = fulfillment_claim(fulfillment=fulfillment, action=Action.COMPLETE, expected_version=expected_version)
    blockers = fulfillment_completion_blockers(fulfillment=fresh, lines=list(fresh.lines.select_related("sale_line")))
    if blockers:
        raise FulfillmentError(" ".join(blockers))
    fulfillment_move(fresh, Action.COMPLETE, State.COMPLETED)
    now = timezone.now()
    fresh.completed_at = now
    fields = ["state", "completed_at", "updated_at"]
    balance = fresh.sale.balance
    message = f"Completed with {fresh.sale.currency} {balance:.2f} still owing." if balance > 0 else "Completed."
    writes_back = fulfillment_writes_back(fresh)
    if writes_back:
        _queue_writeback(fresh, now)
        fields += ["writeback_state", "writeback_error", "writeback_at"]
        what = "the Completed status" if fresh.is_pickup else "the shipment"
        message += f" Sending {what} to BigCommerce."
    fresh.save(update_fields=fields)
    fulfillment_event_record(
        fulfillment=fresh,
        action=Action.COMPLETE,
        actor=acting_user,
        message=message,
        data={"balance": f"{balance:.2f}", "writeback": writes_back},
    )
    return fresh


@transaction.atomic
def fulfillment_writeback_retry(*, fulfillment: Fulfillment, expected_version: int, acting_user: User) -> Fulfillment:
    """Send a failed write-back again, the same way as the first attempt."""
    fresh = fulfillment_claim(fulfillment=fulfillment, action=Action.RETRY_WRITEBACK, expected_version=expected_version)
    previous = fresh.writeback_error
    fulfillment_move(fresh, Action.RETRY_WRITEBACK, State.COMPLETED)
    _queue_writeback(fresh, timezone.now())
    fresh.save(update_fields=["writeback_state", "writeback_error", "writeback_at", "updated_at"])
    fulfillment_event_record(
        fulfillment=fresh,
        action=Action.RETRY_WRITEBACK,
        actor=acting_user,
        message="Write-back queued again.",
        data={"previous_error": previous},
    )
    return fresh


# ---------------------------------------------------------------- history


def fulfillment_event_record(
    *,
    fulfillment: Fulfillment,
    action: str,
    message: str,
    actor: User | None = None,
    data: dict[str, Any] | None = None,
) -> FulfillmentEvent:
    """Append one entry to a fulfilment's history (call it inside the transaction that made the change)."""
    return FulfillmentEvent.objects.create(
        fulfillment=fulfillment, actor=actor, action=action, message=message[:500], data=data or {}
    )


def carrier_normalize(value: str) -> str:
    """A carrier as BigCommerce wants it: a suggested carrier's code whether its code or its name was typed."""
    value = value.strip()
    for code, label in Carrier.choices:
        if value.lower() in (code, str(label).lower()):
            return code
    return value


# ---------------------------------------------------------------- steps of the actions (the public ones: shipments too)


def fulfillment_claim(*, fulfillment: Fulfillment, action: str, expected_version: int) -> Fulfillment:
    """Take the row at the version the person saw (bumping it), reload it, and check `action` is allowed now.

    Must run inside the action's transaction: a refusal raised after the claim rolls the version back.
    """
    claimed = Fulfillment.objects.filter(pk=fulfillment.pk, version=expected_version).update(
        version=F("version") + 1, updated_at=timezone.now()
    )
    if not claimed:
        raise FulfillmentConflict()
    fresh = Fulfillment.objects.select_related("sale", "retailer").get(pk=fulfillment.pk)
    refusal = fulfillment_action_refusal(fresh, action)
    if refusal:
        raise FulfillmentError(refusal)
    return fresh


def fulfillment_move(fulfillment: Fulfillment, action: str, target: str) -> None:
    """Apply a state change after checking it against the transition table."""
    if target not in TRANSITIONS[action].get(fulfillment.state, frozenset()):
        label = FulfillmentState.label_for(target, fulfillment.type).lower()
        raise FulfillmentError(f"A fulfilment that is {fulfillment.state_label.lower()} cannot become {label}.")
    fulfillment.state = target


def _quantity_errors(line: FulfillmentLine, wanted: LineQuantities) -> list[str]:
    name = line.sale_line.name
    if min(wanted.picked, wanted.packed, wanted.fulfilled) < 0:
        return [f"{name}: quantities cannot be negative."]
    errors = []
    if wanted.picked > line.quantity:
        errors.append(f"{name}: picked ({wanted.picked}) cannot be more than ordered ({line.quantity}).")
    if wanted.packed > wanted.picked:
        errors.append(f"{name}: packed ({wanted.packed}) cannot be more than picked ({wanted.picked}).")
    if wanted.fulfilled > wanted.packed:
        errors.append(f"{name}: fulfilled ({wanted.fulfilled}) cannot be more than packed ({wanted.packed}).")
    return errors


def fulfillment_writes_back(fulfillment: Fulfillment) -> bool:
    """Whether what happens to this fulfilment is sent to BigCommerce (its sale is a BigCommerce order)."""
    return fulfillment.sale.channel == Channel.BIGCOMMERCE and bool(fulfillment.sale.external_order_id)


def _queue_writeback(fulfillment: Fulfillment, now) -> None:
    """Mark the write-back pending and record the completion for the link, in the same transaction."""
    fulfillment.writeback_state = WritebackState.PENDING
    fulfillment.writeback_error = ""
    fulfillment.writeback_at = now
    events.fulfillment_completed(retailer_id=fulfillment.retailer_id, fulfillment_id=fulfillment.pk)
