"""A crash between any commit and its follow-up loses nothing: the POS records the link's work in its own
transaction, so whatever instant a process dies at, either nothing happened or the work is due, and it happens.

Each action runs in a child process that is SIGKILLed before its 1st, 2nd, ... statement, before its COMMIT, and
right after the commit (before anything the commit would trigger, the worker's doorbell included): see
`tests.concurrency.crash_at_every_point`. After each crash the test checks what the database holds, then drains
the background work as a worker would and checks that the sandbox store equals the POS.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from integration.models import ProductLink
from pos import events
from pos.choices import FulfillmentState, MovementReason, WritebackState
from pos.models import Fulfillment, InventoryLevel, Product, User
from pos.services.catalog import product_update
from pos.services.fulfillment import fulfillment_complete
from pos.services.stock import StockMove, stock_move_many
from sandbox.records import to_units
from tests.concurrency import Crash, crash_at_every_point
from tests.fixtures_fulfillment import fulfil_everything
from tests.work_helpers import sync_order
from work.models import WorkItem

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.sandbox(locations=1),
]

HEADLAMP = 116  # a sandbox product without options


def _level(product_id: int, outlet_id: int) -> int:
    level = InventoryLevel.objects.filter(product_id=product_id, outlet_id=outlet_id).first()
    return level.on_hand if level else 0


def _due(kind) -> list[WorkItem]:
    return list(WorkItem.objects.filter(kind=kind.name, due_at__isnull=False, failed_at__isnull=True))


def _report(action: str, crashes: list[Crash]) -> None:
    print(f"\n{action}: {len(crashes)} kill points ({len(crashes) - 2} statements, the COMMIT, after the commit)")
    assert [c.committed for c in crashes] == [False] * (len(crashes) - 1) + [True]
    assert crashes[-2].where == "before COMMIT" and len(crashes) >= 3


# ---------------------------------------------------------------- the actions, run in the child process


def receive_three(retailer_id: int, product_id: int, outlet_id: int) -> None:
    move = StockMove(product_id, outlet_id, 3, MovementReason.RECEIVED, "crash-drill:delivery-1")
    stock_move_many(retailer_id=retailer_id, moves=[move])


def reprice(product_id: int) -> None:
    product_update(product=Product.objects.get(pk=product_id), acting_user=None, retail_price=Decimal("27.40"))


def complete(fulfillment_id: int, user_id: int) -> None:
    fulfillment = Fulfillment.objects.get(pk=fulfillment_id)
    user = User.objects.get(pk=user_id)
    fulfillment_complete(fulfillment=fulfillment, expected_version=fulfillment.version, acting_user=user)


# ---------------------------------------------------------------- the tests


@pytest.fixture
def headlamp(push_link, link_item, run_pushes) -> ProductLink:
    """The headlamp, linked, with 12 on hand in the linked outlet and the sandbox store agreeing."""
    pl = link_item(HEADLAMP, retail_price=Decimal("19.99"))
    stock_move_many(
        retailer_id=push_link.retailer_id,
        moves=[StockMove(pl.product_id, push_link.outlet_id, 12, MovementReason.RECEIVED, "crash-drill:opening")],
    )
    run_pushes()
    return pl


def test_a_stock_move_killed_at_any_point_ends_with_the_sandbox_level_equal_to_the_pos(
    sandbox, push_link, headlamp, run_pushes
):
    outlet_id = push_link.outlet_id
    assert sandbox.store.inventory[(1, headlamp.bc_variant_id)] == 12

    def after(crash: Crash) -> None:
        level = _level(headlamp.product_id, outlet_id)
        assert level == (15 if crash.committed else 12), crash
        assert bool(_due(events.STOCK_MOVED)) == crash.committed, crash
        run_pushes()
        assert not _due(events.STOCK_MOVED)
        assert sandbox.store.inventory[(1, headlamp.bc_variant_id)] == level, crash

    crashes = crash_at_every_point(receive_three, (push_link.retailer_id, headlamp.product_id, outlet_id), after)
    _report("stock move", crashes)


def test_a_price_change_killed_at_any_point_ends_with_the_sandbox_price_equal_to_the_pos(sandbox, headlamp, run_pushes):
    assert sandbox.store.products[HEADLAMP].price != to_units("27.40")

    def after(crash: Crash) -> None:
        price = Product.objects.get(pk=headlamp.product_id).retail_price
        assert price == (Decimal("27.40") if crash.committed else Decimal("19.99")), crash
        assert bool(_due(events.PRODUCT_CHANGED)) == crash.committed, crash
        run_pushes()
        assert not _due(events.PRODUCT_CHANGED)
        if crash.committed:
            assert sandbox.store.products[HEADLAMP].price == to_units("27.40")
        else:
            assert sandbox.store.products[HEADLAMP].price != to_units("27.40")

    _report("price change", crash_at_every_point(reprice, (headlamp.product_id,), after))


def test_a_fulfilment_completion_killed_at_any_point_is_written_back_once_it_committed(
    sandbox, push_link, staff_user, run_jobs
):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    fulfillment = sync_order(push_link, order_id).sale.fulfillment
    fulfillment = fulfil_everything(fulfillment, staff_user)

    def after(crash: Crash) -> None:
        fulfillment.refresh_from_db()
        assert (fulfillment.state == FulfillmentState.COMPLETED) == crash.committed, crash
        assert bool(_due(events.FULFILLMENT_COMPLETED)) == crash.committed, crash
        run_jobs()
        fulfillment.refresh_from_db()
        assert not _due(events.FULFILLMENT_COMPLETED)
        shipped = sum(q for s in sandbox.store.shipments.get(order_id, []) for _, _, q in s.items)
        if crash.committed:
            assert fulfillment.writeback_state == WritebackState.SUCCEEDED
            assert shipped == sum(line.quantity for line in fulfillment.lines.all())
            assert sandbox.store.order(order_id).status_id == 2  # Shipped
        else:
            assert shipped == 0 and sandbox.store.order(order_id).status_id == 11

    _report("fulfilment completion", crash_at_every_point(complete, (fulfillment.pk, staff_user.pk), after))
