"""Webhooks from the sandbox: thin callbacks shaped exactly like BigCommerce's samples, with the hook's custom
headers and a Standard Webhooks signature; retried on a short schedule, the hook deactivated when retries run
out; duplicated and reordered on request."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.bigcommerce_openapi import SHARED

pytestmark = pytest.mark.sandbox(orders=20)
SAMPLES = {p.stem: json.loads(p.read_text()) for p in (SHARED / "webhook-samples").glob("*.json")}


class Receiver:
    """A destination on loopback that records deliveries and answers with the next status of `statuses`."""

    def __init__(self):
        self.deliveries: list[tuple[dict, dict]] = []
        self.statuses: list[int] = []
        self.received = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.received:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.deliveries.append((dict(self.headers), json.loads(body) | {"_raw": body.decode()}))
                    receiver.received.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/bigcommerce"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def bodies(self) -> list[dict]:
        return [body for _, body in self.deliveries]


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def _hook(bc_client, receiver, scope="store/order/*"):
    return bc_client.create_hook(scope=scope, destination=receiver.url, headers={"X-Pos-Secret": "s3cret"})


def test_a_placed_order_posts_a_callback_shaped_like_the_sample_with_the_hook_headers(sandbox, bc_client, receiver):
    _hook(bc_client, receiver)

    order = sandbox.store.place_order()
    assert sandbox.store.webhooks.wait_idle()

    ((headers, body),) = receiver.deliveries
    sample = SAMPLES["store_order_created"]
    assert set(body) - {"_raw"} == set(sample)
    assert body["scope"] == "store/order/created"
    assert body["store_id"] == str(sandbox.store.settings.store_id)
    assert body["data"] == {"type": "order", "id": order.id}
    assert body["producer"] == f"stores/{sandbox.store_hash}"
    assert isinstance(body["created_at"], int) and len(body["hash"]) == 40
    assert headers["X-Pos-Secret"] == "s3cret"
    assert headers["Content-Type"] == "application/json"


def test_deliveries_carry_a_standard_webhooks_signature_with_the_client_secret(sandbox, bc_client, receiver):
    _hook(bc_client, receiver)

    sandbox.store.place_order()
    sandbox.store.webhooks.wait_idle()

    headers, body = receiver.deliveries[0]
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body['_raw']}".encode()
    key = sandbox.store.settings.client_secret.encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"


def test_every_order_event_has_the_data_of_its_sample(sandbox, bc_client, receiver):
    _hook(bc_client, receiver, scope="store/order/*")
    _hook(bc_client, receiver, scope="store/shipment/*")
    store = sandbox.store

    order = store.place_order(status_id=11, lines=2)
    store.edit_order(order.id)
    store.create_shipment(order.id, order_address_id=order.id * 4, items=[(order.lines[0].id, 1)])
    store.refund_order(order.id)
    store.archive_order(order.id)
    assert store.webhooks.wait_idle()

    by_scope = {}
    for body in receiver.bodies():
        by_scope.setdefault(body["scope"], body)
    samples = {sample["scope"]: sample for sample in SAMPLES.values()}
    expected_scopes = {
        "store/order/created",
        "store/order/updated",
        "store/order/statusUpdated",
        "store/order/refund/created",
        "store/order/archived",
        "store/shipment/created",
    }
    assert set(by_scope) == expected_scopes
    for scope, body in by_scope.items():
        assert body["data"].keys() == samples[scope]["data"].keys(), scope
    status = [b["data"]["status"] for b in receiver.bodies() if b["scope"] == "store/order/statusUpdated"]
    assert status[0] == {"previous_status_id": 11, "new_status_id": 3}  # the shipment
    assert by_scope["store/shipment/created"]["data"]["orderId"] == order.id


def test_a_hook_gets_only_its_scope_and_inactive_hooks_get_nothing(sandbox, bc_client, receiver):
    _hook(bc_client, receiver, scope="store/order/statusUpdated")
    inactive = Receiver()
    hook = _hook(bc_client, inactive, scope="store/order/created")
    bc_client.update_hook(hook.id, is_active=False)

    order = sandbox.store.place_order(status_id=11)
    sandbox.store.set_status(order.id, 9)
    sandbox.store.webhooks.wait_idle()

    assert [b["scope"] for b in receiver.bodies()] == ["store/order/statusUpdated"]
    assert inactive.deliveries == []
    inactive.server.shutdown()


def test_a_failed_delivery_is_retried_on_the_schedule_with_the_same_hash(sandbox, bc_client, receiver):
    sandbox.store.webhooks.retry_schedule = (0.05, 0.05, 0.05)
    receiver.statuses = [500, 503]
    _hook(bc_client, receiver)

    sandbox.store.place_order()
    assert sandbox.store.webhooks.wait_idle()

    assert len(receiver.deliveries) == 3
    assert len({body["hash"] for body in receiver.bodies()}) == 1
    attempts = list(sandbox.store.webhooks.attempts)
    assert [(a.attempt, a.status) for a in attempts] == [(1, 500), (2, 503), (3, 200)]


def test_a_hook_whose_retries_run_out_is_deactivated(sandbox, bc_client, receiver):
    sandbox.store.webhooks.retry_schedule = (0.02, 0.02)
    receiver.statuses = [500] * 10
    hook = _hook(bc_client, receiver)

    sandbox.store.place_order()
    assert sandbox.store.webhooks.wait_idle()

    assert len(receiver.deliveries) == 3
    assert [h.is_active for h in bc_client.list_hooks() if h.id == hook.id] == [False]


def test_on_request_deliveries_come_twice_and_out_of_order(sandbox, bc_client, receiver):
    deliverer = sandbox.store.webhooks
    deliverer.duplicates = True
    deliverer.out_of_order = True
    _hook(bc_client, receiver, scope="store/order/created")

    ids = sandbox.store.place_orders(3)
    assert deliverer.wait_idle()

    received = [b["data"]["id"] for b in receiver.bodies()]
    assert sorted(received) == sorted(ids * 2)
    assert received[0] == ids[-1]  # the newest order's callback arrives first
    hashes = [b["hash"] for b in receiver.bodies()]
    assert len(set(hashes)) == 3
