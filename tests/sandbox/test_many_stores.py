"""One sandbox process serving many stores: routed by store hash, each with its own token, quota, data, control
endpoints and webhooks; the one-store API (the first store) unchanged."""

from __future__ import annotations

import pytest
import requests

from integration.client import BigCommerceClient
from integration.exceptions import ApiCredentialsRejected, ApiNotFound
from sandbox.server import SandboxServer
from sandbox.store import SandboxStore, StoreSettings
from tests.sandbox.test_webhooks import Receiver

HTTP = requests.Session()


@pytest.fixture
def three_stores():
    server = SandboxServer(stores=[SandboxStore(StoreSettings(seed=seed), orders=5) for seed in (1, 2, 3)]).start()
    yield server
    server.stop()


def _client(server, store, token=None) -> BigCommerceClient:
    s = store.settings
    return BigCommerceClient(
        store_hash=s.store_hash, access_token=token or s.access_token, base_url=server.url, timeout=(2, 5)
    )


def _status(server, store, token=None) -> int:
    return HTTP.get(
        f"{server.url}/stores/{store.settings.store_hash}/v2/orders/count",
        headers={"X-Auth-Token": token or store.settings.access_token, "Accept": "application/json"},
        timeout=5,
    ).status_code


def test_each_store_answers_on_its_own_hash_with_its_own_token_and_data(three_stores):
    first, second, third = three_stores.stores
    assert len({s.settings.store_hash for s in three_stores.stores}) == 3
    second.place_orders(3)
    assert _client(three_stores, first).count_orders().total == 5
    assert _client(three_stores, second).count_orders().total == 8
    assert [o.id for o in _client(three_stores, third).list_orders(limit=50)] == list(range(100, 105))
    with pytest.raises(ApiCredentialsRejected):
        _client(three_stores, second, token=first.settings.access_token).count_orders()
    unknown = SandboxStore(StoreSettings(seed=99))
    with pytest.raises(ApiNotFound):
        _client(three_stores, unknown).count_orders()
    # The one-store API is the first store's.
    assert three_stores.store is first and three_stores.store_hash == first.settings.store_hash


def test_each_store_has_its_own_quota_window(three_stores):
    first, second, _ = three_stores.stores
    first.quota.configure(3, 60_000)
    assert [_status(three_stores, first) for _ in range(4)] == [200, 200, 200, 429]
    assert [_status(three_stores, second) for _ in range(4)] == [200, 200, 200, 200]
    assert first.quota.refused == 1 and second.quota.refused == 0
    assert second.request_log.counts().get("count_orders") == 4 and first.request_log.counts()["count_orders"] == 4


def test_control_endpoints_per_store_place_orders_there_and_fire_that_stores_webhooks(three_stores):
    first, second, _ = three_stores.stores
    receivers = {store.settings.store_hash: Receiver() for store in (first, second)}
    try:
        for store in (first, second):
            url = receivers[store.settings.store_hash].url
            _client(three_stores, store).create_hook(scope="store/order/created", destination=url, headers={})
        base = f"{three_stores.url}/__sandbox__/stores/{second.settings.store_hash}"
        ids = HTTP.post(f"{base}/orders", json={"count": 2}, timeout=5).json()["ids"]
        assert ids == [105, 106] and second.order_count() == 7 and first.order_count() == 5
        assert HTTP.get(f"{base}/info", timeout=5).json()["store_hash"] == second.settings.store_hash
        assert second.webhooks.wait_idle() and first.webhooks.wait_idle()
        delivered = receivers[second.settings.store_hash].bodies()
        assert [(b["producer"], b["data"]["id"]) for b in delivered] == [
            (f"stores/{second.settings.store_hash}", 105),
            (f"stores/{second.settings.store_hash}", 106),
        ]
        assert receivers[first.settings.store_hash].bodies() == []
        missing = HTTP.post(f"{three_stores.url}/__sandbox__/stores/nosuch/orders", json={}, timeout=5)
        assert missing.status_code == 404
    finally:
        for receiver in receivers.values():
            receiver.server.shutdown()
            receiver.server.server_close()


def test_stores_are_added_while_it_runs_and_listed(three_stores):
    added = HTTP.post(f"{three_stores.url}/__sandbox__/stores", json={"count": 2, "quota": 150}, timeout=30).json()
    listed = HTTP.get(f"{three_stores.url}/__sandbox__/stores", timeout=5).json()["stores"]
    assert len(listed) == 5 and listed[3:] == added["stores"]
    assert {s["quota"] for s in added["stores"]} == {150}
    new = three_stores.app.store(added["stores"][0]["store_hash"])
    assert _status(three_stores, new) == 200
    bad = HTTP.post(f"{three_stores.url}/__sandbox__/stores", json={"colour": "red"}, timeout=5)
    assert bad.status_code == 400 and "colour" in bad.json()["error"]


def test_a_busy_stores_webhooks_go_out_several_at_a_time_when_asked(three_stores):
    """`senders`: deliveries in parallel (counted at a receiver that holds each request until released)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = {"now": 0, "most": 0, "seen": 0}
    lock, release = threading.Lock(), threading.Event()

    class Holding(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                state["now"] += 1
                state["seen"] += 1
                state["most"] = max(state["most"], state["now"])
            release.wait(5)
            with lock:
                state["now"] -= 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Holding)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    store = three_stores.stores[1]
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        _client(three_stores, store).create_hook(scope="store/order/created", destination=url, headers={})
        base = f"{three_stores.url}/__sandbox__/stores/{store.settings.store_hash}"
        assert HTTP.put(f"{base}/webhooks", json={"senders": 3}, timeout=5).json()["senders"] == 3
        store.place_orders(6)
        deadline = threading.Event()
        for _ in range(100):  # three deliveries held at once (never more), then released
            with lock:
                if state["now"] == 3:
                    break
            deadline.wait(0.05)
        release.set()
        assert store.webhooks.wait_idle()
        assert state["most"] == 3 and state["seen"] == 6
    finally:
        release.set()
        server.shutdown()
        server.server_close()
