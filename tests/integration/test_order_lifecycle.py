"""The whole order lifecycle both ways (issue 14), against the sandbox store over HTTP.

Shipments made in BigCommerce's control panel: the POS fulfilment counts them as sent (quantities, history,
state), a fully shipped order's fulfilment is completed with nothing written back, and what staff ship later is
only what BigCommerce has not shipped yet.
"""

from __future__ import annotations

import pytest

from integration.models import SyncLogEntry
from pos.choices import FulfillmentAction, FulfillmentState, WritebackState
from pos.models import Fulfillment, Sale
from tests.fixtures_fulfillment import complete
from tests.work_helpers import sync_order
from work.models import WorkItem

pytestmark = pytest.mark.django_db


def _fulfillment(order_id: int) -> Fulfillment:
    return Fulfillment.objects.get(sale__external_order_id=str(order_id))


def _progress(fulfillment: Fulfillment) -> list[tuple[str, int, int, int]]:
    return [(li.sale_line.external_line_id, li.quantity, li.packed, li.fulfilled) for li in fulfillment.lines.all()]


@pytest.fixture
def order_lines(sandbox):
    def lines(order_id: int) -> list[tuple[int, int]]:
        return [(li.id, li.quantity) for li in sandbox.store.order(order_id).lines]

    return lines


def test_a_partial_shipment_made_in_bigcommerce_shows_on_the_fulfilment_and_is_never_shipped_again(
    sandbox, live_link, order_lines, staff_user, run_jobs, django_capture_on_commit_callbacks
):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    sync_order(live_link, order_id)
    (first, q1), (second, q2) = order_lines(order_id)

    sandbox.store.ship_in_control_panel(order_id, lines=[(first, q1)], tracking_number="1Z999")
    sync_order(live_link, order_id)

    fulfillment = _fulfillment(order_id)
    assert fulfillment.state == FulfillmentState.PACKED if q2 == 0 else FulfillmentState.PICKING
    assert _progress(fulfillment) == [(str(first), q1, q1, q1), (str(second), q2, 0, 0)]
    event = fulfillment.events.get(action=FulfillmentAction.SHIPPED_IN_BIGCOMMERCE)
    assert event.message.startswith(f"Shipped in BigCommerce: {q1} × ") and event.message.endswith("the rest is to do.")
    log = SyncLogEntry.objects.get(event="order_shipped")
    assert f"Order {order_id}: shipped in BigCommerce ({q1} × " in log.message
    assert "not shipped again" in log.message

    # Staff ship the rest from the POS: only the second line goes to BigCommerce.
    with django_capture_on_commit_callbacks(execute=True):
        complete(_fulfillment(order_id), staff_user)
    run_jobs("default")

    shipments = sandbox.store.shipments[order_id]
    assert [s.items for s in shipments][1:] == [((second, shipments[1].items[0][1], q2),)]
    assert sandbox.store.order(order_id).status_id == 2
    assert _fulfillment(order_id).writeback_state == WritebackState.SUCCEEDED


def test_an_order_shipped_in_full_in_bigcommerce_completes_the_fulfilment_with_nothing_sent_back(
    sandbox, live_link, order_lines
):
    order_id = sandbox.store.place_order(status_id=11, lines=3).id
    sync_order(live_link, order_id)
    line_id, quantity = order_lines(order_id)[0]
    sandbox.store.ship_in_control_panel(order_id, lines=[(line_id, 1)])
    sync_order(live_link, order_id)

    sandbox.store.ship_in_control_panel(order_id)
    sandbox.store.request_log.clear()
    sync_order(live_link, order_id)

    fulfillment = _fulfillment(order_id)
    assert fulfillment.state == FulfillmentState.COMPLETED and fulfillment.completed_at is not None
    assert fulfillment.writeback_state == WritebackState.NONE
    assert all(packed == fulfilled == q for _, q, packed, fulfilled in _progress(fulfillment))
    assert not WorkItem.objects.filter(kind="pos.fulfillment_completed").exists()
    assert set(sandbox.store.request_log.counts()) == {"get_order"}
    assert len(sandbox.store.shipments[order_id]) == 2
    messages = list(
        fulfillment.events.filter(action=FulfillmentAction.SHIPPED_IN_BIGCOMMERCE).values_list("message", flat=True)
    )
    assert len(messages) == 2 and messages[-1].endswith("nothing is left to ship and nothing is sent back.")


def test_an_order_imported_partially_shipped_asks_staff_only_for_the_rest(sandbox, live_link, order_lines):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    (first, q1), (second, q2) = order_lines(order_id)
    sandbox.store.ship_in_control_panel(order_id, lines=[(first, q1)])

    sync_order(live_link, order_id)

    fulfillment = _fulfillment(order_id)
    assert Sale.objects.get(external_order_id=str(order_id)).bc_status_id == 3
    assert fulfillment.state == FulfillmentState.PICKING
    assert _progress(fulfillment) == [(str(first), q1, q1, q1), (str(second), q2, 0, 0)]
    assert fulfillment.events.filter(action=FulfillmentAction.SHIPPED_IN_BIGCOMMERCE).count() == 1
