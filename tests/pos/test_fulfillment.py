"""pos.services.fulfillment: the rules staff work fulfilments by."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from pos.choices import Channel, FulfillmentAction, FulfillmentState, FulfillmentType, SaleStatus, WritebackState
from pos.models import Fulfillment, FulfillmentEvent, FulfillmentLine, Sale, User
from pos.services.fulfillment import (
    CONFLICT_MESSAGE,
    VOIDED_MESSAGE,
    FulfillmentConflict,
    FulfillmentError,
    LineQuantities,
    fulfillment_allowed_actions,
    fulfillment_cancel,
    fulfillment_complete,
    fulfillment_create_for_sale,
    fulfillment_record_quantities,
    fulfillment_set_tracking,
    fulfillment_start_picking,
    fulfillment_writeback_retry,
)
from tests import factories
from tests.concurrency import run_concurrently
from tests.fixtures_fulfillment import complete, fulfil_everything
from work.models import WorkItem


def _writeback_work(fulfillment) -> list[str]:
    """The states of the fulfilment's write-back work rows (one at most)."""
    return [w.state for w in WorkItem.objects.filter(kind="pos.fulfillment_completed", key=str(fulfillment.pk))]


pytestmark = pytest.mark.django_db

Action = FulfillmentAction
State = FulfillmentState


def _fresh(fulfillment: Fulfillment) -> Fulfillment:
    return Fulfillment.objects.select_related("sale", "retailer").get(pk=fulfillment.pk)


def _lines(fulfillment: Fulfillment) -> dict[str, FulfillmentLine]:
    return {line.sale_line.name: line for line in fulfillment.lines.select_related("sale_line")}


def _record(fulfillment, user, **per_line: tuple[int, int, int]) -> Fulfillment:
    lines = _lines(fulfillment)
    return fulfillment_record_quantities(
        fulfillment=fulfillment,
        quantities={lines[name].pk: LineQuantities(*values) for name, values in per_line.items()},
        expected_version=_fresh(fulfillment).version,
        acting_user=user,
    )


def _actions(fulfillment) -> list[str]:
    return list(FulfillmentEvent.objects.filter(fulfillment=fulfillment).values_list("action", flat=True))


def _last_event(fulfillment) -> tuple:
    event = FulfillmentEvent.objects.filter(fulfillment=fulfillment).last()
    return event.action, event.actor, event.message


def _set_state(fulfillment, state: str) -> Fulfillment:
    Fulfillment.objects.filter(pk=fulfillment.pk).update(state=state)
    return _fresh(fulfillment)


# ---------------------------------------------------------------- creation (the sync engine's call)


def test_creating_makes_one_line_per_goods_line_and_leaves_charges_out(make_fulfillment):
    fulfillment = make_fulfillment(goods=(("Tent", 2), ("Stove", 1)))

    lines = _lines(fulfillment)
    assert {name: line.quantity for name, line in lines.items()} == {"Tent": 2, "Stove": 1}
    assert (fulfillment.state, fulfillment.version, fulfillment.writeback_state) == (
        State.NEW,
        1,
        WritebackState.NONE,
    )
    assert (fulfillment.external_address_id, fulfillment.shipping_method) == ("51", "Flat rate")
    event = FulfillmentEvent.objects.get(fulfillment=fulfillment)
    assert (event.action, event.actor, event.message) == (Action.CREATED, None, "Created for a delivery: 3 items.")


def test_creating_again_returns_the_existing_fulfilment_unchanged(make_fulfillment):
    fulfillment = make_fulfillment()

    again = fulfillment_create_for_sale(sale=fulfillment.sale, type=FulfillmentType.PICKUP)

    assert again.pk == fulfillment.pk
    assert again.type == FulfillmentType.DELIVERY
    assert FulfillmentLine.objects.filter(fulfillment=fulfillment).count() == 2
    assert _actions(fulfillment) == [Action.CREATED]


def test_a_voided_sale_gets_no_fulfilment(register):
    sale = factories.SaleFactory(
        retailer=register.retailer, outlet=register.outlet, register=register, status=SaleStatus.VOIDED
    )

    with pytest.raises(FulfillmentError, match="voided"):
        fulfillment_create_for_sale(sale=sale, type=FulfillmentType.DELIVERY)

    assert not Fulfillment.objects.exists()


def _create_in_own_process(sale_id: int, hold_seconds: float) -> int:
    """Runs in its own process: creates the sale's fulfilment and keeps the transaction open a moment."""
    with transaction.atomic():
        fulfillment = fulfillment_create_for_sale(sale=Sale.objects.get(pk=sale_id), type=FulfillmentType.DELIVERY)
        time.sleep(hold_seconds)
    return fulfillment.pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_processes_creating_the_same_fulfilment_get_the_same_one(register):
    sale = factories.SaleFactory(
        retailer=register.retailer, outlet=register.outlet, register=register, channel=Channel.BIGCOMMERCE
    )
    factories.SaleLineFactory(sale=sale, quantity=2)

    ids = run_concurrently(_create_in_own_process, [(sale.pk, 0.5), (sale.pk, 0.0)])

    fulfillment = Fulfillment.objects.get(sale=sale)
    assert ids == [fulfillment.pk, fulfillment.pk]
    assert fulfillment.lines.count() == 1
    assert _actions(fulfillment) == [Action.CREATED]


# ---------------------------------------------------------------- transitions


def test_start_picking_moves_new_to_picking_bumps_the_version_and_records_who(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()

    result = fulfillment_start_picking(fulfillment=fulfillment, expected_version=1, acting_user=staff_user)

    fresh = _fresh(fulfillment)
    assert (result.state, fresh.state, fresh.version) == (State.PICKING, State.PICKING, 2)
    assert _last_event(fulfillment) == (Action.START_PICKING, staff_user, "")


@pytest.mark.parametrize(
    ("state", "allowed"),
    [
        (State.NEW, {Action.START_PICKING, Action.RECORD_QUANTITIES, Action.SET_TRACKING, Action.SHIP, Action.CANCEL}),
        (State.PICKING, {Action.RECORD_QUANTITIES, Action.SET_TRACKING, Action.SHIP, Action.CANCEL}),
        (State.PACKED, {Action.RECORD_QUANTITIES, Action.SET_TRACKING, Action.SHIP, Action.COMPLETE, Action.CANCEL}),
        (State.COMPLETED, set()),  # write-back not failed: nothing to retry, tracking already handed over
        (State.CANCELLED, set()),
    ],
)
def test_the_actions_allowed_in_each_state(make_fulfillment, state, allowed):
    fulfillment = _set_state(make_fulfillment(), state)

    assert fulfillment_allowed_actions(fulfillment) == allowed


@pytest.mark.parametrize(
    ("state", "action"),
    [
        (State.PICKING, fulfillment_start_picking),
        (State.COMPLETED, fulfillment_start_picking),
        (State.CANCELLED, fulfillment_start_picking),
        (State.NEW, fulfillment_complete),
        (State.PICKING, fulfillment_complete),
        (State.COMPLETED, fulfillment_complete),
        (State.CANCELLED, fulfillment_complete),
    ],
)
def test_illegal_moves_are_refused_and_change_nothing(make_fulfillment, staff_user, state, action):
    fulfillment = _set_state(make_fulfillment(), state)

    with pytest.raises(FulfillmentError):
        action(fulfillment=fulfillment, expected_version=1, acting_user=staff_user)

    fresh = _fresh(fulfillment)
    assert (fresh.state, fresh.version) == (state, 1)
    assert _actions(fulfillment) == [Action.CREATED]


@pytest.mark.parametrize("state", [State.COMPLETED, State.CANCELLED])
def test_quantities_cannot_change_once_a_fulfilment_is_closed(make_fulfillment, staff_user, state):
    fulfillment = _set_state(make_fulfillment(), state)

    with pytest.raises(FulfillmentError, match="You cannot record quantities"):
        _record(fulfillment, staff_user, Tent=(1, 0, 0))

    assert _lines(fulfillment)["Tent"].picked == 0


# ---------------------------------------------------------------- quantities


def test_partial_quantities_are_recorded_and_start_picking(make_fulfillment, staff_user):
    fulfillment = make_fulfillment(goods=(("Tent", 3), ("Stove", 1)))

    result = _record(fulfillment, staff_user, Tent=(2, 1, 1))

    tent = _lines(fulfillment)["Tent"]
    assert (tent.picked, tent.packed, tent.fulfilled) == (2, 1, 1)
    assert result.state == _fresh(fulfillment).state == State.PICKING
    event = FulfillmentEvent.objects.filter(fulfillment=fulfillment).last()
    assert (event.action, event.actor) == (Action.RECORD_QUANTITIES, staff_user)
    assert event.message == "Tent: picked 2, packed 1, fulfilled 1 of 3"
    assert event.data["lines"][0]["before"] == [0, 0, 0]


def test_packing_every_line_in_full_makes_the_fulfilment_packed_and_unpacking_goes_back_to_picking(
    make_fulfillment, staff_user
):
    fulfillment = make_fulfillment(goods=(("Tent", 2), ("Stove", 1)))

    packed = _record(fulfillment, staff_user, Tent=(2, 2, 0), Stove=(1, 1, 0))
    unpacked = _record(fulfillment, staff_user, Stove=(1, 0, 0))

    assert packed.state == State.PACKED
    assert unpacked.state == State.PICKING


def test_a_pickup_packed_in_full_reads_ready_for_pickup(make_fulfillment, staff_user):
    fulfillment = make_fulfillment(type=FulfillmentType.PICKUP, goods=(("Tent", 1),))

    packed = _record(fulfillment, staff_user, Tent=(1, 1, 0))

    assert packed.state_label == "Ready for pickup"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ((3, 0, 0), r"Tent: picked \(3\) cannot be more than ordered \(2\)\."),
        ((1, 2, 0), r"Tent: packed \(2\) cannot be more than picked \(1\)\."),
        ((2, 1, 2), r"Tent: fulfilled \(2\) cannot be more than packed \(1\)\."),
        ((-1, 0, 0), r"Tent: quantities cannot be negative\."),
        ((0, 0, -2), r"Tent: quantities cannot be negative\."),
    ],
)
def test_impossible_quantities_are_refused_and_nothing_changes(make_fulfillment, staff_user, values, message):
    fulfillment = make_fulfillment(goods=(("Tent", 2),))

    with pytest.raises(FulfillmentError, match=message):
        _record(fulfillment, staff_user, Tent=values)

    tent = _lines(fulfillment)["Tent"]
    assert (tent.picked, tent.packed, tent.fulfilled) == (0, 0, 0)
    fresh = _fresh(fulfillment)
    assert (fresh.state, fresh.version) == (State.NEW, 1)


def test_recording_the_same_quantities_again_changes_nothing(make_fulfillment, staff_user):
    fulfillment = make_fulfillment(goods=(("Tent", 2),))
    _record(fulfillment, staff_user, Tent=(1, 0, 0))

    with pytest.raises(FulfillmentError, match="Nothing changed"):
        _record(fulfillment, staff_user, Tent=(1, 0, 0))

    assert _fresh(fulfillment).version == 2


def test_a_line_of_another_fulfilment_is_refused(make_fulfillment, staff_user):
    fulfillment = make_fulfillment(order_id="1")
    other_line = make_fulfillment(order_id="2").lines.first()

    with pytest.raises(FulfillmentError, match="not part of this fulfilment"):
        fulfillment_record_quantities(
            fulfillment=fulfillment,
            quantities={other_line.pk: LineQuantities(1, 0, 0)},
            expected_version=1,
            acting_user=staff_user,
        )


# ---------------------------------------------------------------- tracking


def test_tracking_and_carrier_are_recorded_and_a_carrier_name_becomes_its_code(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()

    fulfillment_set_tracking(
        fulfillment=fulfillment,
        tracking_number=" 1Z999AA10123456784 ",
        carrier="FedEx",
        expected_version=1,
        acting_user=staff_user,
    )

    fresh = _fresh(fulfillment)
    assert (fresh.tracking_number, fresh.carrier, fresh.version) == ("1Z999AA10123456784", "fedex", 2)
    assert _last_event(fulfillment) == (Action.SET_TRACKING, staff_user, "Tracking 1Z999AA10123456784 with fedex")


def test_a_pickup_has_no_tracking(make_fulfillment, staff_user):
    fulfillment = make_fulfillment(type=FulfillmentType.PICKUP)

    with pytest.raises(FulfillmentError, match="A pickup has no tracking number"):
        fulfillment_set_tracking(
            fulfillment=fulfillment, tracking_number="X1", carrier="", expected_version=1, acting_user=staff_user
        )


def test_tracking_is_refused_over_the_length_limit(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()

    with pytest.raises(FulfillmentError, match="at most 100 characters"):
        fulfillment_set_tracking(
            fulfillment=fulfillment, tracking_number="9" * 101, carrier="", expected_version=1, acting_user=staff_user
        )


def test_tracking_can_be_corrected_after_completion_only_while_the_write_back_has_failed(make_fulfillment, staff_user):
    fulfillment = complete(make_fulfillment(), staff_user)

    with pytest.raises(FulfillmentError, match="handed to BigCommerce"):
        fulfillment_set_tracking(
            fulfillment=fulfillment,
            tracking_number="NEW1",
            carrier="ups",
            expected_version=fulfillment.version,
            acting_user=staff_user,
        )
    Fulfillment.objects.filter(pk=fulfillment.pk).update(writeback_state=WritebackState.FAILED)
    fulfillment_set_tracking(
        fulfillment=fulfillment,
        tracking_number="NEW1",
        carrier="ups",
        expected_version=fulfillment.version,
        acting_user=staff_user,
    )

    assert _fresh(fulfillment).tracking_number == "NEW1"


# ---------------------------------------------------------------- completion and the write-back it queues


def test_completion_needs_every_line_fulfilled_in_full(make_fulfillment, staff_user):
    fulfillment = make_fulfillment(goods=(("Tent", 2), ("Stove", 1)))
    packed = _record(fulfillment, staff_user, Tent=(2, 2, 1), Stove=(1, 1, 1))

    with pytest.raises(FulfillmentError, match=r"Not everything is fulfilled yet \(Tent 1 of 2 fulfilled\)"):
        fulfillment_complete(fulfillment=packed, expected_version=packed.version, acting_user=staff_user)

    assert _fresh(fulfillment).state == State.PACKED


def test_a_sale_with_only_charges_has_nothing_to_complete(register, staff_user):
    sale = factories.SaleFactory(retailer=register.retailer, outlet=register.outlet, register=register)
    fulfillment = _set_state(fulfillment_create_for_sale(sale=sale, type=FulfillmentType.PICKUP), State.PACKED)

    with pytest.raises(FulfillmentError, match="There are no goods on this sale to hand over."):
        fulfillment_complete(fulfillment=fulfillment, expected_version=1, acting_user=staff_user)


def test_completing_marks_the_write_back_pending_and_records_it_for_the_link_in_the_same_transaction(
    make_fulfillment, staff_user, django_capture_on_commit_callbacks
):
    fulfillment = fulfil_everything(make_fulfillment(), staff_user)

    with django_capture_on_commit_callbacks(execute=True):
        fulfillment_complete(fulfillment=fulfillment, expected_version=fulfillment.version, acting_user=staff_user)

    fresh = _fresh(fulfillment)
    assert (fresh.state, fresh.writeback_state, fresh.writeback_error) == (
        State.COMPLETED,
        WritebackState.PENDING,
        "",
    )
    assert fresh.completed_at is not None and fresh.writeback_at is not None
    assert _writeback_work(fulfillment) == ["due"]
    assert _last_event(fulfillment) == (
        Action.COMPLETE,
        staff_user,
        "Completed. Sending the shipment to BigCommerce.",
    )


def test_a_balance_owing_blocks_completion(make_fulfillment, staff_user):
    fulfillment = fulfil_everything(make_fulfillment(paid=False), staff_user)

    with pytest.raises(FulfillmentError, match=r"still has USD 44\.00 owing"):
        fulfillment_complete(fulfillment=fulfillment, expected_version=fulfillment.version, acting_user=staff_user)

    fresh = _fresh(fulfillment)
    assert (fresh.state, fresh.writeback_state) == (State.PACKED, WritebackState.NONE)


def test_a_balance_owing_is_no_block_when_the_retailer_allows_unpaid_fulfilment(make_fulfillment, staff_user, retailer):
    retailer.allow_unpaid_fulfillment = True
    retailer.save()
    fulfillment = fulfil_everything(make_fulfillment(paid=False), staff_user)

    done = fulfillment_complete(fulfillment=fulfillment, expected_version=fulfillment.version, acting_user=staff_user)

    assert done.state == State.COMPLETED
    assert (
        FulfillmentEvent.objects.filter(fulfillment=fulfillment)
        .last()
        .message.startswith("Completed with USD 44.00 still owing.")
    )


def test_an_in_store_sale_has_nothing_to_write_back(make_fulfillment, staff_user, django_capture_on_commit_callbacks):
    fulfillment = make_fulfillment()
    Sale.objects.filter(pk=fulfillment.sale_id).update(channel=Channel.IN_STORE, external_order_id="")
    fulfillment = fulfil_everything(_fresh(fulfillment), staff_user)

    with django_capture_on_commit_callbacks(execute=True):
        done = fulfillment_complete(
            fulfillment=fulfillment, expected_version=fulfillment.version, acting_user=staff_user
        )

    assert (done.state, done.writeback_state) == (State.COMPLETED, WritebackState.NONE)
    assert _writeback_work(done) == []


def test_retrying_a_failed_write_back_queues_it_again(make_fulfillment, staff_user, django_capture_on_commit_callbacks):
    fulfillment = complete(make_fulfillment(), staff_user)
    Fulfillment.objects.filter(pk=fulfillment.pk).update(
        writeback_state=WritebackState.FAILED, writeback_error="BigCommerce rejected the store's API token."
    )

    with django_capture_on_commit_callbacks(execute=True):
        fulfillment_writeback_retry(
            fulfillment=fulfillment, expected_version=fulfillment.version, acting_user=staff_user
        )

    fresh = _fresh(fulfillment)
    assert (fresh.writeback_state, fresh.writeback_error) == (WritebackState.PENDING, "")
    assert _writeback_work(fulfillment) == ["due"]
    event = FulfillmentEvent.objects.filter(fulfillment=fulfillment).last()
    assert (event.action, event.data) == (
        Action.RETRY_WRITEBACK,
        {"previous_error": "BigCommerce rejected the store's API token."},
    )


def test_a_write_back_in_progress_cannot_be_retried_it_cannot_be_lost(make_fulfillment, staff_user):
    fulfillment = complete(make_fulfillment(), staff_user)

    for later in (timedelta(0), timedelta(hours=2)):  # a pending write-back is durable work: never "stuck"
        with time_machine.travel(timezone.now() + later), pytest.raises(FulfillmentError, match="still in progress"):
            fulfillment_writeback_retry(
                fulfillment=fulfillment, expected_version=fulfillment.version, acting_user=staff_user
            )
    assert _writeback_work(fulfillment) == ["due"]


def test_a_succeeded_write_back_cannot_be_retried(make_fulfillment, staff_user):
    fulfillment = complete(make_fulfillment(), staff_user)
    Fulfillment.objects.filter(pk=fulfillment.pk).update(writeback_state=WritebackState.SUCCEEDED)

    with pytest.raises(FulfillmentError, match="nothing to retry"):
        fulfillment_writeback_retry(
            fulfillment=fulfillment, expected_version=fulfillment.version, acting_user=staff_user
        )


# ---------------------------------------------------------------- cancelling and voids


def test_staff_cancel_with_a_reason(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()

    fulfillment_cancel(
        fulfillment=fulfillment, reason="Customer changed their mind", expected_version=1, acting_user=staff_user
    )

    fresh = _fresh(fulfillment)
    assert (fresh.state, fresh.version) == (State.CANCELLED, 2)
    assert _last_event(fulfillment) == (
        Action.CANCEL,
        staff_user,
        "Cancelled: Customer changed their mind",
    )


def test_cancelling_needs_a_reason(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()

    with pytest.raises(FulfillmentError, match="Say why"):
        fulfillment_cancel(fulfillment=fulfillment, reason="  ", expected_version=1, acting_user=staff_user)

    assert _fresh(fulfillment).state == State.NEW


def test_a_void_cancels_the_fulfilment_and_staff_holding_the_old_version_get_a_conflict(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()
    fulfillment.sale.status = SaleStatus.VOIDED
    fulfillment.sale.save()

    fulfillment_cancel(fulfillment=fulfillment, reason="Order 250 was cancelled in BigCommerce.")
    again = fulfillment_cancel(fulfillment=fulfillment, reason="Order 250 was cancelled in BigCommerce.")

    assert (again.state, again.version) == (State.CANCELLED, 2)
    assert _actions(fulfillment) == [Action.CREATED, Action.CANCEL]
    with pytest.raises(FulfillmentConflict):
        fulfillment_start_picking(fulfillment=fulfillment, expected_version=1, acting_user=staff_user)


def test_a_voided_sales_fulfilment_can_no_longer_change(make_fulfillment, staff_user):
    fulfillment = make_fulfillment()
    fulfillment.sale.status = SaleStatus.VOIDED
    fulfillment.sale.save()

    with pytest.raises(FulfillmentError) as refused:
        _record(fulfillment, staff_user, Tent=(1, 0, 0))

    assert refused.value.message == VOIDED_MESSAGE
    assert fulfillment_allowed_actions(_fresh(fulfillment)) == {Action.CANCEL}


def test_a_void_after_completion_leaves_it_completed_and_says_so_once(make_fulfillment, staff_user):
    fulfillment = complete(make_fulfillment(), staff_user)
    fulfillment.sale.status = SaleStatus.VOIDED
    fulfillment.sale.save()

    fulfillment_cancel(fulfillment=fulfillment, reason="Order 250 was cancelled in BigCommerce.")
    fulfillment_cancel(fulfillment=fulfillment, reason="Order 250 was cancelled in BigCommerce.")

    assert _fresh(fulfillment).state == State.COMPLETED
    assert _actions(fulfillment).count(Action.SALE_VOIDED_AFTER_COMPLETION) == 1


# ---------------------------------------------------------------- two people at once


def test_a_stale_version_is_a_conflict_with_a_clear_message_and_changes_nothing(
    make_fulfillment, staff_user, admin_user
):
    fulfillment = make_fulfillment(goods=(("Tent", 2),))
    _record(fulfillment, admin_user, Tent=(1, 0, 0))  # version 1 → 2 while staff still look at version 1

    with pytest.raises(FulfillmentConflict) as conflict:
        fulfillment_record_quantities(
            fulfillment=fulfillment,
            quantities={_lines(fulfillment)["Tent"].pk: LineQuantities(2, 2, 2)},
            expected_version=1,
            acting_user=staff_user,
        )

    assert conflict.value.message == CONFLICT_MESSAGE
    assert _lines(fulfillment)["Tent"].picked == 1
    assert _fresh(fulfillment).version == 2


def _complete_in_own_process(fulfillment_id: int, version: int, user_id: int, hold_seconds: float) -> str:
    """Runs in its own process: completes at `version`, keeping the transaction open so the other one must wait."""
    fulfillment = Fulfillment.objects.get(pk=fulfillment_id)
    try:
        with transaction.atomic():
            fulfillment_complete(
                fulfillment=fulfillment, expected_version=version, acting_user=User.objects.get(pk=user_id)
            )
            time.sleep(hold_seconds)
    except FulfillmentConflict:
        return "conflict"
    return "completed"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_people_completing_at_once_complete_it_once(make_fulfillment, staff_user, admin_user):
    fulfillment = fulfil_everything(make_fulfillment(), staff_user)

    outcomes = run_concurrently(
        _complete_in_own_process,
        [(fulfillment.pk, fulfillment.version, user.pk, hold) for user, hold in ((staff_user, 0.5), (admin_user, 0))],
    )

    assert sorted(outcomes) == ["completed", "conflict"]
    assert _actions(fulfillment).count(Action.COMPLETE) == 1
    assert _fresh(fulfillment).version == fulfillment.version + 1
    assert _writeback_work(fulfillment) == ["due"]
