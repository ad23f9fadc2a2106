"""The BigCommerce client against stubbed HTTP (`responses`): typed errors, 429 handling, paging, call counts,
logging without the token, one Session per store link."""

from __future__ import annotations

import json
import logging
import socket
from decimal import Decimal

import pytest
import requests
import responses

from integration.choices import ErrorCode
from integration.client import BigCommerceClient
from integration.exceptions import (
    ApiBadResponse,
    ApiCredentialsRejected,
    ApiError,
    ApiNotFound,
    ApiParseError,
    ApiRateLimited,
    ApiRejected,
    ApiServerError,
    ApiUnavailable,
)
from integration.ratelimit import StoreRateLimiter
from tests import factories
from tests.integration.bigcommerce_openapi import example_responses
from tests.limiter_clock import let_waits_pass

TOKEN = "tok-VERY-SECRET-0123456789abcdef"
BASE = "https://api.bigcommerce.com/stores/abc123"
RATE_HEADERS = {
    "X-Rate-Limit-Requests-Left": "149",
    "X-Rate-Limit-Time-Reset-Ms": "15000",
    "X-Rate-Limit-Time-Window-Ms": "30000",
    "X-Rate-Limit-Requests-Quota": "150",
}


@pytest.fixture
def client() -> BigCommerceClient:
    limiter = StoreRateLimiter("abc123", max_wait=2.0)
    return BigCommerceClient(
        store_hash="abc123",
        access_token=TOKEN,
        base_url="https://api.bigcommerce.com",
        timeout=(1, 2),
        rate_limiter=limiter,
    )


def _order(order_id: int = 5, **changes) -> dict:
    order = dict(example_responses("orders.v2.oas2.yml", "/orders/{order_id}", "get"))["200 Response"]
    return {**order, "id": order_id, **changes}


def _line(line_id: int, order_id: int = 5, address_id: int = 51) -> dict:
    line = example_responses("orders.v2.oas2.yml", "/orders/{order_id}/products", "get")[0][1][0]
    return {**line, "id": line_id, "order_id": order_id, "order_address_id": address_id}


def _recorded_sleeps(client, *, max_wait: float = 60.0) -> list[float]:
    """The waits the client's limiter asks for; each passes at once (`tests.limiter_clock`)."""
    client.rate_limiter.max_wait = max_wait
    return let_waits_pass(client.rate_limiter)


def _assert_no_token(exc: BaseException, records) -> None:
    assert TOKEN not in str(exc) and TOKEN not in repr(exc.args) and TOKEN not in getattr(exc, "detail", "")
    for record in records:
        assert TOKEN not in record.getMessage()
        assert all(TOKEN not in str(value) for value in vars(record).values())


# ---------------------------------------------------------------- typed errors


@responses.activate
@pytest.mark.parametrize(
    ("status", "body", "error", "detail"),
    [
        (401, [{"status": 401, "message": "Token invalid"}], ApiCredentialsRejected, "Token invalid"),
        (403, [{"status": 403, "message": "Missing scope"}], ApiCredentialsRejected, "store_v2_orders"),
        (404, [{"status": 404, "message": "The requested resource was not found."}], ApiNotFound, "not found"),
        (422, {"status": 422, "title": "Invalid", "errors": {"status_id": "bad"}}, ApiRejected, "status_id: bad"),
        (500, [{"status": 500, "message": "Internal error"}], ApiServerError, "Internal error"),
        (503, "<html>Maintenance</html>", ApiServerError, "Maintenance"),
    ],
)
def test_each_failing_status_raises_its_typed_error(client, caplog, status, body, error, detail):
    responses.get(f"{BASE}/v2/orders/5", body=body if isinstance(body, str) else json.dumps(body), status=status)

    with caplog.at_level(logging.INFO), pytest.raises(error) as raised:
        client.get_order(5)

    assert raised.value.status == status
    assert detail in str(raised.value)
    if status == 403:
        assert raised.value.missing_scope == "store_v2_orders"
    _assert_no_token(raised.value, caplog.records)


@responses.activate
def test_a_429_is_waited_out_for_the_announced_reset_then_retried(client):
    limited = {**RATE_HEADERS, "X-Rate-Limit-Requests-Left": "0", "X-Rate-Limit-Time-Reset-Ms": "15000"}
    responses.get(f"{BASE}/v2/orders/5", status=429, json=[{"status": 429, "message": "slow down"}], headers=limited)
    responses.get(f"{BASE}/v2/orders/5", json=_order(5), headers=RATE_HEADERS)
    sleeps = _recorded_sleeps(client)

    order = client.get_order(5, include_line_items=False)

    assert order.id == 5
    assert len(responses.calls) == 2
    # The announced 15 s, less the moments between the 429 and the ask (plus up to 20 ms of jitter).
    assert len(sleeps) == 1 and 10 < sleeps[0] <= 15.02


@responses.activate
def test_a_reset_beyond_the_wait_bound_raises_rate_limited_with_the_reset(client):
    limited = {**RATE_HEADERS, "X-Rate-Limit-Requests-Left": "0", "X-Rate-Limit-Time-Reset-Ms": "25000"}
    responses.get(f"{BASE}/v2/orders/5", status=429, body="", headers=limited)

    with pytest.raises(ApiRateLimited) as raised:
        client.get_order(5)

    assert 20 <= raised.value.reset_seconds <= 25
    assert len(responses.calls) == 1


@responses.activate
def test_a_429_without_headers_backs_off_and_retries(client):
    responses.get(f"{BASE}/v2/orders/5", status=429, body="")
    responses.get(f"{BASE}/v2/orders/5", status=429, body="")
    responses.get(f"{BASE}/v2/orders/5", json=_order(5))
    sleeps = _recorded_sleeps(client)
    client.rate_limiter.BACKOFF_BASE_MS = 5_000

    assert client.get_order(5, include_line_items=False).id == 5
    assert len(responses.calls) == 3
    # Doubling: 5 s, then 10 s, each less the moments between the 429 and the next ask (plus up to 20 ms of jitter).
    assert len(sleeps) == 2 and 0 < sleeps[0] <= 5.02 and 5 < sleeps[1] <= 10.02


@responses.activate
def test_a_read_timeout_is_unavailable(client, caplog):
    responses.get(f"{BASE}/v2/orders/5", body=requests.exceptions.ReadTimeout(f"read timed out {TOKEN}"))

    with caplog.at_level(logging.INFO), pytest.raises(ApiUnavailable) as raised:
        client.get_order(5)

    assert "timed out" in str(raised.value)
    _assert_no_token(raised.value, caplog.records)


def test_a_refused_connection_is_unavailable(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = BigCommerceClient(store_hash="abc123", access_token=TOKEN, base_url=f"http://127.0.0.1:{port}")

    with caplog.at_level(logging.INFO), pytest.raises(ApiUnavailable) as raised:
        client.get_store()

    reason, _, _ = ErrorCode.for_exception(raised.value)
    assert reason is ErrorCode.UNREACHABLE and reason.retryable
    _assert_no_token(raised.value, caplog.records)


@responses.activate
@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        ("<html><body>Bad gateway</body></html>", "text/html", ApiBadResponse),
        ('{"id": 5, "status_id": 11, "total_inc', "application/json", ApiBadResponse),
        ('["an", "array"]', "application/json", ApiBadResponse),
        (b'{"id": 5, "status": "\xff"}', "application/json", ApiBadResponse),  # not UTF-8
        ('{"id": 5}', "application/json", ApiParseError),
    ],
)
def test_a_body_the_client_cannot_read_is_a_typed_error(client, body, content_type, error):
    responses.get(f"{BASE}/v2/orders/5", body=body, content_type=content_type)

    with pytest.raises(error) as raised:
        client.get_order(5)

    assert isinstance(raised.value, ApiBadResponse)
    if error is ApiParseError:
        assert (raised.value.field, raised.value.resource) == ("status_id", "order 5")


@responses.activate
def test_a_token_echoed_by_the_server_is_masked(client):
    responses.get(f"{BASE}/v2/store", status=401, json=[{"status": 401, "message": f"token {TOKEN} is invalid"}])

    with pytest.raises(ApiCredentialsRejected) as raised:
        client.get_store()

    assert "***" in str(raised.value)
    _assert_no_token(raised.value, [])


# ---------------------------------------------------------------- requests and logs


@responses.activate
def test_every_request_carries_auth_json_headers_and_a_timeout(client):
    responses.get(f"{BASE}/v2/orders/5", json=_order(5))
    seen = {}
    original = client.session.request

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return original(*args, **kwargs)

    client.session.request = spy

    client.get_order(5, include_line_items=False)

    request = responses.calls[0].request
    assert request.headers["X-Auth-Token"] == TOKEN
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert seen["timeout"] == (1, 2)


@responses.activate
def test_one_structured_log_line_per_response_without_query_token_or_body(client, caplog):
    responses.get(f"{BASE}/v2/orders", json=[_order(7)], headers=RATE_HEADERS)

    with caplog.at_level(logging.INFO, logger="integration.client"):
        client.list_orders(email="jane@example.com", limit=10)

    (record,) = [r for r in caplog.records if r.name == "integration.client"]
    assert record.bc_method == "GET" and record.bc_path == "/v2/orders" and record.bc_status == 200
    assert record.bc_requests_left == 149 and record.bc_duration_ms >= 0
    assert "jane@example.com" not in record.getMessage()
    assert "Jane" not in record.getMessage()
    _assert_no_token(ApiError("none"), [record])


# ---------------------------------------------------------------- orders


@responses.activate
def test_get_order_inlines_lines_in_one_call(client):
    consignments = {"shipping": [{"id": 51, "line_items": [_line(1), _line(2)]}], "pickups": []}
    responses.get(f"{BASE}/v2/orders/5", json=_order(5, consignments=consignments))

    order = client.get_order(5)

    assert [li.id for li in order.products] == [1, 2]
    assert len(responses.calls) == 1
    query = responses.calls[0].request.url.split("?", 1)[1]
    assert "include=consignments%2Cconsignments.line_items%2Cfees" in query and "consignment_structure=object" in query


@responses.activate
def test_get_order_fetches_all_products_when_bigcommerce_cut_the_inline_lines(client):
    warning = {"message": "Not all line items of this consignment are returned"}
    shipping = [
        {"id": 51, "line_items": [_line(i) for i in range(1, 51)], "__warning__": warning},
        {"id": 52, "line_items": [_line(300, address_id=52)]},
    ]
    responses.get(f"{BASE}/v2/orders/5", json=_order(5, consignments={"shipping": shipping, "pickups": []}))
    all_lines = [_line(i) for i in range(1, 261)] + [_line(300, address_id=52)]
    responses.get(f"{BASE}/v2/orders/5/products", json=all_lines[:250])
    responses.get(f"{BASE}/v2/orders/5/products", json=all_lines[250:])

    order = client.get_order(5)

    assert len(order.products) == 261
    assert not order.consignments.truncated
    assert [len(c.line_items) for c in order.consignments.shipping] == [260, 1]
    assert len(responses.calls) == 3  # 1 + ceil(261 / 250)


@responses.activate
def test_an_order_without_consignments_is_read_from_its_products_and_shipping_addresses(client):
    # the spec's own example of an order has no `consignments`
    assert "consignments" not in _order(5)
    responses.get(f"{BASE}/v2/orders/5", json=_order(5))
    responses.get(f"{BASE}/v2/orders/5/products", json=[_line(1), _line(2), _line(3, address_id=0)])
    address = {**_shipping_address_example(), "id": 51, "order_id": 5}
    responses.get(f"{BASE}/v2/orders/5/shipping_addresses", json=[address])

    order = client.get_order(5)

    assert [li.id for li in order.products] == [1, 2, 3]
    [shipping] = order.consignments.shipping
    assert shipping.id == 51 and [li.id for li in shipping.line_items] == [1, 2]
    assert shipping.address.city == address["city"]
    assert [li.id for li in order.consignments.other_line_items] == [3]
    assert len(responses.calls) == 3


@responses.activate
def test_an_order_whose_lines_ship_to_an_address_it_does_not_list_is_unreadable(client):
    responses.get(f"{BASE}/v2/orders/5", json=_order(5))
    responses.get(f"{BASE}/v2/orders/5/products", json=[_line(1, address_id=77)])
    responses.get(f"{BASE}/v2/orders/5/shipping_addresses", json=[])

    with pytest.raises(ApiBadResponse, match="77"):
        client.get_order(5)


def _shipping_address_example() -> dict:
    return example_responses("orders.v2.oas2.yml", "/orders/{order_id}/shipping_addresses", "get")[0][1][0]


@responses.activate
def test_iter_orders_streams_pages_until_bigcommerce_answers_204(client):
    responses.get(f"{BASE}/v2/orders", json=[_order(i) for i in range(1, 3)])
    responses.get(f"{BASE}/v2/orders", json=[_order(i) for i in range(3, 5)])
    responses.get(f"{BASE}/v2/orders", status=204)

    ids = [o.id for o in client.iter_orders(limit=2, status_id=11, sort="id:asc")]

    assert ids == [1, 2, 3, 4]
    pages = [c.request.params["page"] for c in responses.calls]
    assert pages == ["1", "2", "3"]
    assert all(c.request.params["status_id"] == "11" for c in responses.calls)


@responses.activate
def test_iter_orders_stops_after_a_short_page(client):
    responses.get(f"{BASE}/v2/orders", json=[_order(1)])

    assert [o.id for o in client.iter_orders(limit=2)] == [1]
    assert len(responses.calls) == 1


def test_order_filters_are_checked_before_any_call(client):
    import datetime as dt

    with pytest.raises(TypeError):
        client.list_orders(modified_since="yesterday")
    with pytest.raises(ValueError):
        client.list_orders(min_date_modified=dt.datetime(2026, 1, 1))  # noqa: DTZ001 - naive on purpose: refused
    with pytest.raises(ValueError):
        client.list_orders(limit=251)


# ---------------------------------------------------------------- V3 and batches


@responses.activate
def test_v3_lists_follow_meta_pagination(client):
    def page(n, total_pages):
        meta = {"pagination": {"total": 3, "count": 1, "per_page": 1, "current_page": n, "total_pages": total_pages}}
        hook = {"id": n, "scope": "store/order/created", "destination": "https://x.test/h", "is_active": True}
        return {"data": [hook], "meta": meta}

    for n in (1, 2, 3):
        responses.get(f"{BASE}/v3/hooks", json=page(n, 3))

    assert [h.id for h in client.list_hooks()] == [1, 2, 3]
    assert len(responses.calls) == 3


@responses.activate
def test_transactions_204_is_an_empty_list_and_amounts_are_exact_decimals(client):
    responses.get(f"{BASE}/v3/orders/5/transactions", status=204)
    responses.get(
        f"{BASE}/v3/orders/6/transactions",
        body='{"data":[{"id":1,"order_id":"6","event":"purchase","method":"credit_card","amount":81.884,'
        '"currency":"USD","gateway":"braintree"}],"meta":{}}',
        content_type="application/json",
    )

    assert client.list_transactions(5) == []
    assert client.list_transactions(6)[0].amount == Decimal("81.884")


@responses.activate
def test_inventory_is_sent_grouped_by_location_at_most_2000_per_call(client):
    responses.put(f"{BASE}/v3/inventory/adjustments/absolute", json={"transaction_id": "t"})
    items = [{"location_id": 1 + i % 2, "variant_id": 1000 + i, "quantity": i % 7} for i in range(4500)]

    ids = client.set_inventory_absolute(items, reason="POS count")

    bodies = [json.loads(c.request.body) for c in responses.calls]
    assert [len(b["items"]) for b in bodies] == [2000, 250, 2000, 250]
    assert all(len({item["location_id"] for item in b["items"]}) == 1 for b in bodies)
    assert all(b["reason"] == "POS count" for b in bodies)
    assert ids == ["t"] * 4
    with pytest.raises(ValueError):
        client.set_inventory_absolute([{"location_id": 1, "quantity": 1, "sku": "A", "variant_id": 2}], reason="x")


@responses.activate
def test_prices_are_sent_as_exact_json_numbers(client):
    responses.put(f"{BASE}/v3/catalog/products/7", json={"data": {"id": 7, "name": "Mug", "price": 12.35}, "meta": {}})

    product = client.update_product(7, price=Decimal("12.35"))

    assert json.loads(responses.calls[0].request.body) == {"price": 12.35}
    assert b'"price": 12.35' in responses.calls[0].request.body
    assert product.price == Decimal("12.35")


# ---------------------------------------------------------------- one Session per link


@pytest.mark.django_db
def test_for_link_reuses_one_session_per_link_and_follows_a_new_token():
    link = factories.StoreLinkFactory(access_token="tok-one", api_base_url="https://api.example.test")
    other = factories.StoreLinkFactory()

    first = BigCommerceClient.for_link(link)
    again = BigCommerceClient.for_link(link)
    bulk = BigCommerceClient.for_link(link, priority="bulk")
    link.access_token = "tok-two"
    rotated = BigCommerceClient.for_link(link)

    assert again is first
    assert bulk.session is first.session and bulk.priority == "bulk" and first.priority == "live"
    assert BigCommerceClient.for_link(other).session is not first.session
    assert rotated.session is not first.session
    assert rotated.session.headers["X-Auth-Token"] == "tok-two"
    assert first.base_url == "https://api.example.test"
