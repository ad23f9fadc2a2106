"""The whole order lifecycle both ways (issue 14), against the sandbox store over HTTP.

Shipments made in BigCommerce's control panel: the POS fulfilment counts them as sent (quantities, history,
state), a fully shipped order's fulfilment is completed with nothing written back, and what staff ship later is
only what BigCommerce has not shipped yet. API calls per order change: refunds are read only when something says
they changed, and the paired webhooks of one change make one fetch.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from integration.models import SyncLogEntry
from integration.services.order_sync import ORDER_SYNC, order_sync_request
from pos.choices import FulfillmentAction, FulfillmentState, MovementReason, WritebackState
from pos.models import Fulfillment, InventoryLevel, InventoryMovement, Sale
from tests.fixtures_fulfillment import complete
from tests.work_helpers import make_due, sync_order
from work import kernel
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


# ---------------------------------------------------------------- API calls per order change


def _calls(sandbox) -> dict[str, int]:
    counts = dict(sandbox.store.request_log.counts())
    sandbox.store.request_log.clear()
    return counts


def test_refunds_are_read_when_a_refund_webhook_or_a_status_change_says_so_and_not_on_every_sync(sandbox, live_link):
    order_id = sandbox.store.place_order(status_id=11, lines=3).id
    sync_order(live_link, order_id)
    first_line = sandbox.store.order(order_id).lines[0].id
    sandbox.store.refund_order(order_id, lines=[(first_line, 1)])
    _calls(sandbox)

    # The refund's webhooks: refund/created (refunds may have changed), then the status change.
    order_sync_request(link=live_link, bc_order_id=order_id, refunds=True)
    sync_order(live_link, order_id)
    assert _calls(sandbox) == {"get_order": 1, "list_refunds": 1}
    assert Sale.objects.get(external_order_id=str(order_id)).amount_refunded > 0

    # An edit of staff notes or another updated webhook: the order only.
    sync_order(live_link, order_id)
    assert _calls(sandbox) == {"get_order": 1}

    # A second partial refund keeps the status; its refund webhook is what says to read them.
    sandbox.store.refund_order(order_id, amount="1.00")
    order_sync_request(link=live_link, bc_order_id=order_id, refunds=True)
    sync_order(live_link, order_id)
    assert _calls(sandbox) == {"get_order": 1, "list_refunds": 1}
    sale = Sale.objects.get(external_order_id=str(order_id))
    assert sale.payments.filter(kind="refund").count() == 2


def test_a_refund_seen_first_by_its_status_change_is_read_once(sandbox, live_link):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    sync_order(live_link, order_id)
    sandbox.store.refund_order(order_id, full=True)  # its refund webhook was lost; reconciliation is not here yet
    _calls(sandbox)

    sync_order(live_link, order_id)
    sync_order(live_link, order_id)

    assert _calls(sandbox) == {"get_order": 2, "list_refunds": 1}
    assert Sale.objects.get(external_order_id=str(order_id)).payment_state == "refunded"


def test_the_paired_webhooks_of_one_change_wait_the_settle_window_and_make_one_fetch(
    sandbox, live_link, client, django_capture_on_commit_callbacks, settings
):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sync_order(live_link, order_id)
    sandbox.store.set_status(order_id, 9, emit=False)
    _calls(sandbox)
    settings.ORDER_SYNC_SETTLE_SECONDS = 600  # far longer than the test: "not due yet" cannot depend on timing
    live_link.webhook_secret = "secret-for-the-settle-test"
    live_link.save(update_fields=["webhook_secret"])

    for n, scope in enumerate(("store/order/updated", "store/order/statusUpdated")):
        body = {
            "scope": scope,
            "store_id": live_link.store_id,
            "data": {"type": "order", "id": order_id},
            "hash": f"h{n}",
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("integration:webhook"),
                data=json.dumps(body),
                content_type="application/json",
                HTTP_X_POS_WEBHOOK_AUTH=f"{live_link.pk}:{live_link.webhook_secret}",
            )
        assert response.status_code == 200
    kernel.drain(only={ORDER_SYNC}, budget=600)
    assert _calls(sandbox) == {}  # still settling

    make_due(ORDER_SYNC)
    kernel.drain(only={ORDER_SYNC}, budget=600)

    assert _calls(sandbox) == {"get_order": 1}
    assert Sale.objects.get(external_order_id=str(order_id)).bc_status_id == 9


def test_a_batch_of_refunded_orders_reads_all_their_refunds_in_one_call(sandbox, live_link):
    orders = [sandbox.store.place_order(status_id=11, lines=2).id for _ in range(3)]
    for order_id in orders:
        sync_order(live_link, order_id)
        sandbox.store.refund_order(order_id, full=True)
    _calls(sandbox)

    for order_id in orders:
        order_sync_request(link=live_link, bc_order_id=order_id, refunds=True)
    kernel.drain(only={ORDER_SYNC}, budget=600)

    calls = _calls(sandbox)
    assert calls["get_order"] == 3 and sum(v for k, v in calls.items() if "refund" in k) == 1
    assert set(Sale.objects.filter(external_order_id__in=map(str, orders)).values_list("payment_state", flat=True)) == {
        "refunded"
    }


# ---------------------------------------------------------------- refunded items back to stock


def _level(sale: Sale, line_id: int) -> int:
    line = sale.lines.get(external_line_id=str(line_id))
    level = InventoryLevel.objects.filter(product=line.product, outlet=sale.outlet).first()
    return level.on_hand if level else 0


def _refund_first_line(sandbox, live_link, order_id: int, quantity: int = 1) -> int:
    line = sandbox.store.order(order_id).lines[0]
    sandbox.store.refund_order(order_id, lines=[(line.id, quantity)])
    order_sync_request(link=live_link, bc_order_id=order_id, refunds=True)
    sync_order(live_link, order_id)
    return line.id


def test_refunded_items_stay_out_of_stock_unless_the_retailer_asks(sandbox, live_link):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    sync_order(live_link, order_id)
    sale = Sale.objects.get(external_order_id=str(order_id))
    line_id = sandbox.store.order(order_id).lines[0].id
    before = _level(sale, line_id)

    _refund_first_line(sandbox, live_link, order_id)

    assert _level(sale, line_id) == before
    assert not InventoryMovement.objects.filter(reason=MovementReason.RETURN).exists()


def test_refunded_items_go_back_to_stock_once_per_refund_item_and_a_void_returns_only_the_rest(
    sandbox, live_link, retailer, staff_client
):
    retailer.restock_refunded_items = True
    retailer.save(update_fields=["restock_refunded_items"])
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    line = sandbox.store.order(order_id).lines[0]
    if line.quantity < 2:
        sandbox.store.edit_order(order_id, line_id=line.id, quantity=3)
    sync_order(live_link, order_id)
    sale = Sale.objects.get(external_order_id=str(order_id))
    sold = _level(sale, line.id)

    _refund_first_line(sandbox, live_link, order_id)
    order_sync_request(link=live_link, bc_order_id=order_id, refunds=True)  # the refunds read again: a replay
    sync_order(live_link, order_id)

    assert _level(sale, line.id) == sold + 1
    returns = InventoryMovement.objects.filter(sale=sale, reason=MovementReason.RETURN)
    assert list(returns.values_list("quantity", "line_key")) == [(1, str(line.id))]
    log = SyncLogEntry.objects.get(event="order_restocked")
    assert f"Order {order_id}: refunded items returned to stock at {sale.outlet.name} (1 × " in log.message
    page = staff_client.get(reverse("dashboard:sale_detail", args=[sale.pk])).content.decode()
    assert f"Returned to stock at {sale.outlet.name}:" in page

    sandbox.store.cancel_order(order_id)
    sync_order(live_link, order_id)

    ordered = sale.lines.get(external_line_id=str(line.id)).quantity
    assert _level(sale, line.id) == sold + ordered  # back where it was before the sale, not one over
