"""The sandbox over HTTP: BigCommerce's auth, paging, quota and error behaviour; fault injection turning into the
client's typed errors (never anything else); the request log; the control endpoints; the app OAuth side."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import jwt
import pytest
import requests

from integration.client import BigCommerceClient
from integration.exceptions import (
    ApiBadResponse,
    ApiCredentialsRejected,
    ApiError,
    ApiNotFound,
    ApiRateLimited,
    ApiServerError,
    ApiUnavailable,
)
from integration.ratelimit import StoreRateLimiter
from sandbox.faults import Fault

pytestmark = pytest.mark.sandbox(orders=30)
# Plain HTTP for what is not BigCommerce's API (control endpoints, the login host) or is checked raw.
HTTP = requests.Session()


def _get(sandbox, path: str, token: str | None = None, **params) -> requests.Response:
    return HTTP.get(
        f"{sandbox.url}/stores/{sandbox.store_hash}{path}",
        params=params,
        headers={"X-Auth-Token": token or sandbox.access_token, "Accept": "application/json"},
        timeout=5,
    )


def _control(sandbox, method: str, path: str, body: dict | None = None) -> dict:
    response = HTTP.request(method, f"{sandbox.url}/__sandbox__{path}", json=body or {}, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


# ---------------------------------------------------------------- BigCommerce behaviour


def test_a_wrong_token_is_401_and_a_wrong_store_404_in_the_v2_and_v3_shapes(sandbox):
    assert _get(sandbox, "/v2/orders", token="nope").json() == [
        {"status": 401, "message": "The access token is missing or invalid for this store."}
    ]
    v3 = _get(sandbox, "/v3/hooks", token="nope")
    assert v3.status_code == 401 and v3.json()["status"] == 401 and "title" in v3.json()
    response = HTTP.get(f"{sandbox.url}/stores/other/v2/store", headers={"X-Auth-Token": "x"}, timeout=5)
    assert response.status_code == 404


def test_v2_lists_answer_204_past_the_last_page_and_413_over_250(sandbox):
    assert len(_get(sandbox, "/v2/orders", limit=25, page=1).json()) == 25
    assert len(_get(sandbox, "/v2/orders", limit=25, page=2).json()) == 5
    past = _get(sandbox, "/v2/orders", limit=25, page=3)
    assert past.status_code == 204 and past.content == b""
    assert _get(sandbox, "/v2/orders", limit=251).status_code == 413


def test_v3_collections_carry_meta_pagination(sandbox):
    body = _get(sandbox, "/v3/customers", limit=50, page=2).json()

    pagination = body["meta"]["pagination"]
    assert pagination["total"] == 200 and pagination["total_pages"] == 4 and pagination["current_page"] == 2
    assert pagination["links"]["previous"] == "?page=1&limit=50" and len(body["data"]) == 50


def test_orders_list_filters_and_sorts_like_bigcommerce(sandbox):
    store = sandbox.store
    since = store.order(115).modified

    rfc2822 = format_datetime(dt.datetime.fromtimestamp(since, tz=dt.UTC))
    rows = _get(sandbox, "/v2/orders", min_date_modified=rfc2822, sort="date_modified:desc").json()
    by_status = _get(sandbox, "/v2/orders", status_id=11).json()

    modified = [store.order(r["id"]).modified for r in rows]
    assert modified == sorted(modified, reverse=True) and min(modified) >= since
    assert by_status and {r["status_id"] for r in by_status} == {11}
    count = _get(sandbox, "/v2/orders/count", status_id=11).json()
    assert count["count"] == len(by_status)


@pytest.mark.sandbox(orders=5, quota=3, window_ms=60_000)
def test_every_response_has_the_rate_limit_headers_and_a_spent_quota_is_a_real_429(sandbox):
    answers = [_get(sandbox, "/v2/store") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-Rate-Limit-Requests-Left"] for a in answers] == ["2", "1", "0", "0"]
    for answer in answers:
        assert answer.headers["X-Rate-Limit-Requests-Quota"] == "3"
        assert answer.headers["X-Rate-Limit-Time-Window-Ms"] == "60000"
        assert 0 < int(answer.headers["X-Rate-Limit-Time-Reset-Ms"]) <= 60_000


# ---------------------------------------------------------------- faults become typed errors


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"kind": "error", "status": 500}, ApiServerError),
        ({"kind": "error", "status": 503}, ApiServerError),
        ({"kind": "error", "status": 403}, ApiCredentialsRejected),
        ({"kind": "error", "status": 404}, ApiNotFound),
        ({"kind": "rate_limit", "reset_ms": None}, ApiRateLimited),
        ({"kind": "rate_limit", "reset_ms": 5000}, ApiRateLimited),
        ({"kind": "timeout", "seconds": 2}, ApiUnavailable),
        ({"kind": "drop"}, ApiUnavailable),
        ({"kind": "malformed", "body": "truncated"}, ApiBadResponse),
        ({"kind": "malformed", "body": "html"}, ApiBadResponse),
        ({"kind": "malformed", "body": "wrong_shape"}, ApiBadResponse),
        ({"kind": "malformed", "body": "empty"}, ApiBadResponse),
    ],
    ids=lambda v: v.get("body") or v.get("status") or v.get("kind") if isinstance(v, dict) else v.__name__,
)
def test_each_fault_reaches_the_client_as_its_typed_error(sandbox, fault, error):
    client = BigCommerceClient(
        store_hash=sandbox.store_hash,
        access_token=sandbox.access_token,
        base_url=sandbox.url,
        timeout=(1, 0.5),
        rate_limiter=StoreRateLimiter(sandbox.store_hash, max_wait=0.5),
    )
    sandbox.store.faults.add(Fault(endpoint="get_order", **fault))

    with pytest.raises(error):
        client.get_order(105)
    sandbox.store.faults.clear()
    client.rate_limiter.reset()  # a 429 holds every worker until its reset: not what this test waits for
    # The tight read timeout was for the fault; a loaded CI machine answered a healthy request in 723 ms.
    client.timeout = (5, 10)
    assert client.get_order(106).id == 106  # other requests are unaffected once the fault is gone


def test_faults_target_an_endpoint_a_path_and_a_number_of_requests(sandbox, bc_client):
    sandbox.store.faults.add(Fault("error", endpoint="get_order", path_contains="/orders/107", times=2, status=502))
    sandbox.store.faults.add(Fault("latency", endpoint="list_orders", latency_ms=300, times=1))

    with pytest.raises(ApiServerError):
        bc_client.get_order(107)
    assert bc_client.get_order(108).id == 108
    with pytest.raises(ApiServerError):
        bc_client.get_order(107)
    assert bc_client.get_order(107).id == 107
    bc_client.list_orders(limit=1)
    (listed,) = sandbox.store.request_log.records(endpoint="list_orders")
    assert listed.duration_ms >= 300  # the store held its answer for the injected latency
    assert sandbox.store.faults.active() == []


def _calls(order_id: int):
    return [
        lambda c: c.get_store(),
        lambda c: c.get_order(order_id),
        lambda c: c.list_orders(limit=5),
        lambda c: list(c.iter_orders(limit=5)),
        lambda c: c.count_orders(),
        lambda c: c.list_order_products(order_id),
        lambda c: c.list_shipping_addresses(order_id),
        lambda c: c.update_order_status(order_id, 11),
        lambda c: c.create_shipment(order_id, order_address_id=order_id * 4, items=[(1, 1)]),
        lambda c: c.list_shipments(order_id),
        lambda c: c.list_transactions(order_id),
        lambda c: c.list_refunds(order_id),
        lambda c: c.get_customers([1, 2]),
        lambda c: c.list_hooks(),
        lambda c: c.create_hook(scope="store/order/created", destination="http://127.0.0.1:9/h", headers={}),
        lambda c: c.update_hook(1, is_active=True),
        lambda c: c.get_products(ids=[111]),
        lambda c: c.get_variants(product_ids=[111]),
        lambda c: c.update_product(111, name="x"),
        lambda c: c.update_variant(111, 501, sku="x"),
        lambda c: c.list_locations(),
        lambda c: c.set_inventory_absolute([{"location_id": 1, "variant_id": 501, "quantity": 1}], reason="r"),
    ]


@pytest.mark.parametrize("body", ["truncated", "html", "wrong_shape", "empty", "drop"])
def test_no_client_call_lets_a_garbage_answer_or_a_dropped_connection_escape_untyped(sandbox, bc_client, body):
    fault = Fault("drop") if body == "drop" else Fault("malformed", body=body)
    sandbox.store.faults.add(fault)

    for number, call in enumerate(_calls(105)):
        try:
            call(bc_client)
        except ApiError:
            continue
        except Exception as exc:  # noqa: BLE001 - the point: nothing but ApiError may come out
            pytest.fail(f"call {number} raised {exc.__class__.__name__} on a {body} answer: {exc}")
        pytest.fail(f"call {number} accepted a {body} answer")


# ---------------------------------------------------------------- request log


def test_the_request_log_counts_calls_per_order_and_per_endpoint(sandbox, bc_client):
    big = next(i for i in range(100, 130) if len(sandbox.store.order(i).lines) > 50)

    bc_client.get_order(105)
    bc_client.list_transactions(105)
    bc_client.get_order(big)

    log = sandbox.store.request_log
    assert [r.endpoint for r in log.records(order_id=105)] == ["get_order", "list_transactions"]
    assert [r.endpoint for r in log.records(order_id=big)] == ["get_order", "list_order_products"]
    assert log.counts() == {"get_order": 2, "list_transactions": 1, "list_order_products": 1}
    answer = _control(sandbox, "GET", "/requests?order_id=105")
    assert [r["endpoint"] for r in answer["requests"]] == ["get_order", "list_transactions"]


# ---------------------------------------------------------------- control endpoints


def test_control_endpoints_drive_the_store(sandbox, bc_client):
    info = _control(sandbox, "GET", "/info")
    placed = _control(sandbox, "POST", "/orders", {"count": 2, "status_id": 7, "guest": True, "lines": 2})["ids"]
    first, second = placed
    _control(sandbox, "POST", f"/orders/{first}/status", {"status_id": 11})
    line_id = sandbox.store.order(first).lines[0].id
    _control(sandbox, "POST", f"/orders/{first}/edit", {"line_id": line_id, "quantity": 5})
    refund = _control(sandbox, "POST", f"/orders/{first}/refund", {"lines": [[line_id, 1]]})
    _control(sandbox, "POST", f"/orders/{second}/cancel")
    _control(sandbox, "DELETE", f"/products/{sandbox.store.order(second).lines[0].product_id}")
    _control(sandbox, "POST", "/faults", {"kind": "error", "endpoint": "get_store", "status": 500})
    faults = _control(sandbox, "GET", "/faults")["faults"]

    assert info["store_hash"] == sandbox.store_hash and info["access_token"] == sandbox.access_token
    assert info["orders"] == 30
    order = bc_client.get_order(first)
    assert order.is_guest and order.products[0].quantity == 5 and order.products[0].quantity_refunded == 1
    assert refund["status_id"] == 14 and order.status_id == 14
    assert bc_client.get_order(second).status == "Cancelled"
    assert faults[0]["endpoint"] == "get_store"
    with pytest.raises(ApiServerError):
        bc_client.get_store()

    _control(sandbox, "POST", "/token/revoke")
    with pytest.raises(ApiCredentialsRejected):
        bc_client.get_order(first)
    assert _control(sandbox, "POST", "/reset", {"orders": 3}) == {"orders": 3}
    assert bc_client.count_orders().total == 3  # the token works again, the faults are gone


def test_control_endpoints_reject_what_they_do_not_know(sandbox):
    bad = HTTP.post(f"{sandbox.url}/__sandbox__/orders", json={"colour": "red"}, timeout=5)
    missing = HTTP.post(f"{sandbox.url}/__sandbox__/orders/999/status", json={"status_id": 2}, timeout=5)
    fault = HTTP.post(f"{sandbox.url}/__sandbox__/faults", json={"kind": "meteor"}, timeout=5)

    assert bad.status_code == 400 and "colour" in bad.json()["error"]
    assert missing.status_code == 404
    assert fault.status_code == 400


@pytest.mark.sandbox(orders=5, quota=100)
def test_the_quota_can_be_changed_while_running(sandbox, bc_client):
    _control(sandbox, "PUT", "/quota", {"quota": 1, "window_ms": 60_000})

    _get(sandbox, "/v2/store")
    assert _get(sandbox, "/v2/store").status_code == 429


# ---------------------------------------------------------------- app install (login host)


def test_the_code_exchange_returns_the_token_once(sandbox):
    settings = sandbox.store.settings
    callback = _control(sandbox, "POST", "/app/install", {"redirect_uri": "https://pos.test/bigcommerce/auth"})
    form = {
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
        "code": callback["code"],
        "context": callback["context"],
        "scope": callback["scope"],
        "grant_type": "authorization_code",
        "redirect_uri": "https://pos.test/bigcommerce/auth",
    }

    token = HTTP.post(f"{sandbox.url}/oauth2/token", data=form, timeout=5)
    again = HTTP.post(f"{sandbox.url}/oauth2/token", json=form, timeout=5)
    wrong_secret = HTTP.post(f"{sandbox.url}/oauth2/token", json={**form, "client_secret": "x"}, timeout=5)

    assert token.status_code == 200
    body = token.json()
    assert body["access_token"] == sandbox.access_token
    assert body["context"] == f"stores/{sandbox.store_hash}" and body["scope"] == callback["scope"]
    assert body["user"]["email"] and body["owner"]["id"] and body["account_uuid"]
    assert again.status_code == 400  # a code works once
    assert wrong_secret.status_code == 401


def test_the_code_exchange_accepts_json_and_checks_the_redirect_uri(sandbox):
    settings = sandbox.store.settings
    callback = sandbox.store.auth.issue_code(redirect_uri="https://pos.test/auth")
    form = {
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
        "grant_type": "authorization_code",
        **{k: callback[k] for k in ("code", "context", "scope")},
    }

    wrong = HTTP.post(f"{sandbox.url}/oauth2/token", json={**form, "redirect_uri": "https://evil.test"}, timeout=5)

    assert wrong.status_code == 400
    callback = sandbox.store.auth.issue_code(redirect_uri="https://pos.test/auth")
    right = HTTP.post(
        f"{sandbox.url}/oauth2/token",
        json={**form, "code": callback["code"], "redirect_uri": "https://pos.test/auth"},
        timeout=5,
    )
    assert right.status_code == 200


def test_signed_payload_jwt_verifies_like_bigcommerce_says(sandbox):
    settings = sandbox.store.settings

    token = _control(sandbox, "POST", "/app/signed-payload", {"url": "/"})["signed_payload_jwt"]

    claims = jwt.decode(
        token,
        settings.client_secret,
        algorithms=["HS256"],
        audience=settings.client_id,
        issuer="bc",
        options={"require": ["exp", "iat", "nbf", "aud", "iss", "sub"]},
    )
    assert claims["sub"] == f"stores/{sandbox.store_hash}"
    assert claims["user"]["email"] and claims["owner"]["email"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token, "another-secret-that-is-long-enough-for-hs256", algorithms=["HS256"], audience=settings.client_id
        )


def test_shipping_in_the_control_panel_ships_given_lines_then_what_is_left(sandbox):
    order_id = sandbox.store.place_order(status_id=11, lines=2).id
    first = sandbox.store.order(order_id).lines[0]

    partial = _control(sandbox, "POST", f"/orders/{order_id}/ship", {"lines": [[first.id, 1]]})
    rest = _control(sandbox, "POST", f"/orders/{order_id}/ship", {})

    assert (partial["status_id"], rest["status_id"]) == (3, 2)
    assert all(li.shipped == li.quantity for li in sandbox.store.order(order_id).lines)
    shipments = sandbox.store.shipments[order_id]
    assert len(shipments) == 2 and shipments[0].items[0][2] == 1


def test_an_authorised_order_with_store_credit_reads_as_bigcommerce_shows_it_until_captured(sandbox):
    [order_id] = _control(
        sandbox, "POST", "/orders", {"status_id": 11, "authorized": True, "store_credit": 5_0000, "gift_certificate": 1}
    )["ids"]

    before = _get(sandbox, f"/v2/orders/{order_id}").json()
    _control(sandbox, "POST", f"/orders/{order_id}/capture")
    after = _get(sandbox, f"/v2/orders/{order_id}").json()

    assert (before["payment_status"], after["payment_status"]) == ("authorized", "captured")
    assert (before["store_credit_amount"], before["gift_certificate_amount"]) == ("5.0000", "0.0001")


def test_include_fields_takes_only_the_specs_values_and_the_id_always_comes(sandbox):
    refused = _get(sandbox, "/v3/catalog/products", include_fields="id")
    asked = _get(sandbox, "/v3/catalog/products", include_fields="sku")

    assert refused.status_code == 422 and "id" in refused.json()["title"]
    assert asked.status_code == 200 and set(asked.json()["data"][0]) == {"id", "sku"}


def test_a_level_edited_in_the_control_panel_reads_back_through_the_inventory_api(sandbox, bc_client):
    # given a variant at location 1
    variant = next(iter(sandbox.store.variants.values()))
    sandbox.store.request_log.clear()

    # when the merchant edits its level in the control panel
    edited = _control(sandbox, "PUT", "/inventory", {"location_id": 1, "variant_id": variant.id, "quantity": 7})

    # then the location's items say so, and the edit was no API request
    assert edited == {"location_id": 1, "variant_id": variant.id, "quantity": 7}
    assert dict(bc_client.iter_location_stock(1))[variant.id] == 7
    assert sandbox.store.request_log.counts() == {"list_location_items": 1}
    unknown = HTTP.put(
        f"{sandbox.url}/__sandbox__/inventory",
        json={"location_id": 9, "variant_id": variant.id, "quantity": 1},
        timeout=5,
    )
    assert unknown.status_code == 404
