"""The contract: every request the client builds, and every response the sandbox gives it, validates against
BigCommerce's OpenAPI files; every example response in those files for the endpoints we use parses."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integration import bc_types
from integration.exceptions import ApiParseError
from tests.integration import bigcommerce_openapi as oas

pytestmark = pytest.mark.django_db

# Examples that leave out a field the product needs (and the schema describes): the field we add to parse them.
KNOWN_EXAMPLE_DEFECTS = {
    ("customers.v3.yml", "/customers", "200 example-1"): {"id": 1},
}


@pytest.fixture
def validated(bc_client):
    """The client, with every exchange checked against the spec as it happens."""
    exchanges = []

    def check(response, *args, **kwargs):
        oas.validate_exchange(response)
        exchanges.append((response.request.method, response.request.path_url.split("?")[0], response.status_code))

    bc_client.session.hooks["response"].append(check)
    bc_client.exchanges = exchanges
    return bc_client


def _operations_called(exchanges) -> set[tuple[str, str, str]]:
    called = set()
    for method, path, _status in exchanges:
        api_path = path.split("/", 3)[3]
        api_path = "/" + api_path
        name = oas.spec_for(api_path)
        template, _, _ = oas.find_operation(name, api_path[3:], method.lower())
        called.add((name, template, method.lower()))
    return called


def test_every_client_call_validates_against_the_spec_both_ways(validated, sandbox):
    # given a store with a truncated order (56 lines), a refunded one, one shipping to two addresses, and one
    # answered without consignments (the spec's own example of an order has none)
    store = sandbox.store
    big_order = next(i for i in range(100, 140) if len(store.order(i).lines) > 50)
    refunded = next(i for i in range(100, 140) if store.refunds.get(i))
    two_addresses = store.place_order(status_id=11, lines=3, two_addresses=True).id
    # ... and one with a fee, paid in another currency than the store's
    abroad = store.place_order(status_id=11, lines=1, fee=2_5000, currency="EUR", exchange_rate="0.92").id
    # ... and authorised payments, one captured since and one voided
    captured, voided = store.place_orders(2, status_id=11, lines=1, authorized=True)
    store.capture_payment(captured)
    store.void_payment(voided)
    bare = store.place_order(status_id=11, lines=3, two_addresses=True, without_consignments=True).id
    since = store.order(110).modified

    # when the client calls every operation it has
    client = validated
    client.get_store()
    order = client.get_order(big_order)
    with_fee = client.get_order(abroad)
    rebuilt = client.get_order(bare)
    client.get_order(refunded, include_line_items=False)
    client.list_orders(page=1, limit=5, include_line_items=True, status_id=11, sort="date_modified:desc")
    list(client.iter_orders(limit=50, min_date_modified=bc_types.to_datetime(since), sort="date_modified:asc"))
    client.count_orders(status_id=11)
    client.list_order_products(big_order)
    addresses = client.list_shipping_addresses(two_addresses)
    client.list_transactions(refunded)
    events = [[t.event for t in client.list_transactions(i)] for i in (captured, voided)]
    client.list_refunds(refunded)
    client.get_customers([1, 2, 3])
    hook = client.create_hook(scope="store/order/*", destination="http://127.0.0.1:9/hooks", headers={"X-A": "b"})
    client.list_hooks()
    client.update_hook(hook.id, is_active=False)
    client.delete_hook(hook.id)
    client.get_products(ids=[111, 112])
    client.get_products(skus=["MUG-350"])
    client.get_variants(product_ids=[111, 112])
    client.get_variants(ids=[501])
    client.get_variants(skus=["MUG-350"])
    client.update_product(113, price=Decimal("13.50"))
    client.update_variant(111, 501, price=Decimal("121.00"))
    client.list_locations()
    list(client.iter_location_items(1))
    client.set_inventory_absolute(
        [{"location_id": 1, "sku": "MUG-350", "quantity": 4}, {"location_id": 1, "product_id": 112, "quantity": 2}],
        reason="POS stock",
    )
    address = addresses[0]
    products = client.get_order(two_addresses).products
    line = next(li for li in products if li.order_address_id == address.id)
    assert client.list_shipments(two_addresses) == []  # 204: none yet
    client.create_shipment(two_addresses, order_address_id=address.id, items=[(line.id, 1)], tracking_number="T-1")
    [shipment] = client.list_shipments(two_addresses)
    assert (shipment.order_address_id, shipment.tracking_number) == (address.id, "T-1")
    client.update_order_status(two_addresses, 2)

    # then every operation of the spec list was exercised, and all validated (the hook raises otherwise)
    assert _operations_called(client.exchanges) == set(oas.OPERATIONS)
    assert len(order.products) == len(store.order(big_order).lines)
    assert [fee.cost_ex_tax > 0 for fee in with_fee.fees] == [True]
    assert events == [["authorization", "capture"], ["authorization", "void"]]
    assert (with_fee.default_currency_code, with_fee.store_default_to_transactional_exchange_rate) == (
        "EUR",
        Decimal("0.92"),
    )
    assert len(rebuilt.products) == len(store.order(bare).lines) and len(rebuilt.consignments.shipping) == 2


@pytest.mark.parametrize(("name", "path", "method"), oas.OPERATIONS, ids=lambda v: str(v))
def test_every_example_response_of_the_spec_parses(name, path, method):
    parser = {
        "/store": bc_types.StoreInfo,
        "/orders/{order_id}": bc_types.Order,
        "/orders": bc_types.Order,
        "/orders/count": bc_types.OrderCount,
        "/orders/{order_id}/products": bc_types.OrderProduct,
        "/orders/{order_id}/shipping_addresses": bc_types.ShippingAddress,
        "/orders/{order_id}/shipments": bc_types.Shipment,
        "/orders/{order_id}/transactions": bc_types.Transaction,
        "/orders/{order_id}/payment_actions/refunds": bc_types.Refund,
        "/customers": bc_types.Customer,
        "/hooks": bc_types.Hook,
        "/hooks/{webhook_id}": bc_types.Hook,
        "/catalog/products": bc_types.CatalogProduct,
        "/catalog/products/{product_id}": bc_types.CatalogProduct,
        "/catalog/variants": bc_types.Variant,
        "/catalog/products/{product_id}/variants/{variant_id}": bc_types.Variant,
        "/inventory/locations": bc_types.Location,
    }.get(path)
    examples = oas.example_responses(name, path, method)

    parsed = 0
    for label, value in examples:
        body = value.get("data", value) if isinstance(value, dict) and "data" in value else value
        items = body if isinstance(body, list) else [body]
        if parser is None:  # absolute inventory adjustments answer {"transaction_id": ...}
            assert all("transaction_id" in item for item in items), label
            continue
        for item in items:
            missing = KNOWN_EXAMPLE_DEFECTS.get((name, path, label), {})
            if missing:
                # the defect is still there, and it is the only thing in the way
                with pytest.raises(ApiParseError) as error:
                    parser.from_api(item)
                assert error.value.field in missing
            assert parser.from_api({**item, **missing}) is not None, label
            parsed += 1

    # every example there is parses; the spec has none for some operations (checked against the sandbox instead)
    assert parsed >= (1 if parser and examples else 0)


def test_the_spec_examples_with_known_typos_still_parse_to_the_documented_values():
    # "Multiple Items" has a stray `currency_code"` key and 2-decimal money strings
    examples = dict(oas.example_responses("orders.v2.oas2.yml", "/orders/{order_id}", "get"))
    order = bc_types.Order.from_api(examples["200 Multiple Items"])

    assert order.default_currency_code == "USD"
    assert order.currency_code == ""
    assert order.subtotal_ex_tax == Decimal("924.47")
    assert order.total_inc_tax == Decimal("1008.74")
    assert order.date_created.isoformat() == "2019-06-20T16:07:08+00:00"


@pytest.mark.sandbox(orders=30)
@pytest.mark.parametrize(
    "path",
    [
        "/v2/orders/999999",
        "/v3/orders/999999/payment_actions/refunds",
        "/v3/hooks/123",
    ],
)
def test_sandbox_error_bodies_have_the_documented_shapes(sandbox, path):
    import requests

    response = requests.Session().get(
        f"{sandbox.url}/stores/{sandbox.store_hash}{path}",
        headers={"X-Auth-Token": sandbox.access_token, "Accept": "application/json"},
        timeout=5,
    )

    assert response.status_code == 404
    body = response.json()
    if path.startswith("/v2/"):
        assert body == [{"status": 404, "message": "The requested resource was not found."}]
    else:
        assert body["status"] == 404 and body["title"] and body["type"].startswith("https://")
    oas.validate_exchange(response)
