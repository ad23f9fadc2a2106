"""BigCommerce's OpenAPI files as a test oracle: validate a real HTTP exchange (request and response) with
openapi-core, and list the example responses of the operations the product uses.

The files live beside the checkout (`../shared/bigcommerce/openapi/`, also in CI). One known schema bug is
patched, exactly as the README there says: the Orders V2 `sort` enum lists bare field names while the API (and
the parameter's own description) take `field:asc` / `field:desc`; those two forms of each listed field are
added, nothing else.

openapi-core leaves two things unchecked that the contract needs, so `validate_exchange` checks them itself:
query parameters the operation does not declare (openapi-core ignores unknown ones), and the `Accept` and
`Content-Type` headers (OpenAPI says to ignore header parameters with those names).
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path

import requests
import yaml
from django.conf import settings
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

SHARED = Path(settings.BASE_DIR).parent / "shared" / "bigcommerce"
OPENAPI_DIR = SHARED / "openapi"
SPEC_SERVER = "https://api.bigcommerce.com"

# (path prefix after /stores/{hash}, spec file), first match wins.
_SPEC_BY_PREFIX = (
    ("/v2/store", "store_information.v2.yml"),
    ("/v2/orders", "orders.v2.oas2.yml"),
    ("/v3/orders", "orders.v3.yml"),
    ("/v3/customers", "customers.v3.yml"),
    ("/v3/hooks", "webhooks.v3.yml"),
    ("/v3/catalog/variants", "catalog/product-variants_catalog.v3.yml"),
    ("/v3/catalog/products/{}/variants", "catalog/product-variants_catalog.v3.yml"),
    ("/v3/catalog/products", "catalog/products_catalog.v3.yml"),
    ("/v3/inventory/locations/{}/items", "inventory.v3.yml"),
    ("/v3/inventory/locations", "locations.v3.yml"),
    ("/v3/inventory/adjustments", "inventory.v3.yml"),
)

# (spec file, path, method) of every operation the client calls.
OPERATIONS = (
    ("store_information.v2.yml", "/store", "get"),
    ("orders.v2.oas2.yml", "/orders/{order_id}", "get"),
    ("orders.v2.oas2.yml", "/orders/{order_id}", "put"),
    ("orders.v2.oas2.yml", "/orders", "get"),
    ("orders.v2.oas2.yml", "/orders/count", "get"),
    ("orders.v2.oas2.yml", "/orders/{order_id}/products", "get"),
    ("orders.v2.oas2.yml", "/orders/{order_id}/shipping_addresses", "get"),
    ("orders.v2.oas2.yml", "/orders/{order_id}/shipments", "get"),
    ("orders.v2.oas2.yml", "/orders/{order_id}/shipments", "post"),
    ("orders.v3.yml", "/orders/{order_id}/transactions", "get"),
    ("orders.v3.yml", "/orders/{order_id}/payment_actions/refunds", "get"),
    ("customers.v3.yml", "/customers", "get"),
    ("webhooks.v3.yml", "/hooks", "get"),
    ("webhooks.v3.yml", "/hooks", "post"),
    ("webhooks.v3.yml", "/hooks/{webhook_id}", "put"),
    ("webhooks.v3.yml", "/hooks/{webhook_id}", "delete"),
    ("catalog/products_catalog.v3.yml", "/catalog/products", "get"),
    ("catalog/products_catalog.v3.yml", "/catalog/products/{product_id}", "put"),
    ("catalog/product-variants_catalog.v3.yml", "/catalog/variants", "get"),
    ("catalog/product-variants_catalog.v3.yml", "/catalog/products/{product_id}/variants/{variant_id}", "put"),
    ("locations.v3.yml", "/inventory/locations", "get"),
    ("inventory.v3.yml", "/inventory/adjustments/absolute", "put"),
    ("inventory.v3.yml", "/inventory/locations/{location_id}/items", "get"),
)


@cache
def spec_dict(name: str) -> dict:
    with open(OPENAPI_DIR / name, encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    if name == "orders.v2.oas2.yml":
        sort = spec["components"]["parameters"]["sort"]["schema"]
        sort["enum"] = [*sort["enum"], *(f"{f}:{d}" for f in sort["enum"] for d in ("asc", "desc"))]
    return spec


@cache
def openapi(name: str) -> OpenAPI:
    return OpenAPI.from_dict(copy.deepcopy(spec_dict(name)))


def spec_for(api_path: str) -> str:
    """The spec file for a path like `/v2/orders/5` (the part after `/stores/{hash}`)."""
    generic = re.sub(r"/\d+", "/{}", api_path)
    for prefix, name in _SPEC_BY_PREFIX:
        if generic.startswith(prefix):
            return name
    raise AssertionError(f"no BigCommerce spec covers {api_path}")


def deref(spec: dict, node):
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def find_operation(name: str, spec_path: str, method: str) -> tuple[str, dict, list[dict]]:
    """(path template, operation, parameters) of the spec operation matching a concrete path."""
    spec = spec_dict(name)
    # Literal paths first: `/orders/count` is not `/orders/{order_id}`.
    for template, item in sorted(spec["paths"].items(), key=lambda entry: entry[0].count("{")):
        pattern = "^" + re.sub(r"\\{[^}]+\\}", r"[^/]+", re.escape(template)) + "$"
        if re.match(pattern, spec_path) and method in item:
            operation = item[method]
            params = [deref(spec, p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]]
            return template, operation, params
    raise AssertionError(f"{method.upper()} {spec_path} is not an operation of {name}")


def _split(url: str) -> tuple[str, str]:
    """(store hash, API path) from a client or sandbox URL."""
    match = re.search(r"/stores/([^/]+)(/v[23]/[^?]*)", url)
    assert match, f"not a BigCommerce store API URL: {url}"
    return match.group(1), match.group(2)


def validate_exchange(response: requests.Response, *, check_response: bool = True) -> None:
    """Check one exchange against BigCommerce's spec; raises AssertionError / openapi-core errors."""
    prepared = response.request
    store_hash, api_path = _split(prepared.url)
    name = spec_for(api_path)
    version, spec_path = api_path[1:3], api_path[3:]
    _, operation, params = find_operation(name, spec_path, prepared.method.lower())

    declared = {p["name"] for p in params if p.get("in") == "query"}
    query = prepared.path_url.partition("?")[2]
    sent = {requests.utils.unquote(pair.split("=", 1)[0]) for pair in query.split("&") if pair}
    assert sent <= declared, f"{prepared.method} {api_path}: undeclared query parameters {sorted(sent - declared)}"
    headers = prepared.headers
    assert headers.get("Accept") == "application/json", f"{api_path}: Accept must be application/json"
    needs_content_type = any(
        p.get("in") == "header" and p["name"] == "Content-Type" and p.get("required") for p in params
    )
    if prepared.body or needs_content_type:
        assert headers.get("Content-Type") == "application/json", f"{api_path}: Content-Type must be application/json"

    spec_request = prepared.copy()
    spec_request.url = f"{SPEC_SERVER}/stores/{store_hash}/{version}{spec_path}" + (f"?{query}" if query else "")
    api = openapi(name)
    api.validate_request(RequestsOpenAPIRequest(spec_request))
    documented = str(response.status_code) in operation.get("responses", {})
    if check_response and response.content and documented:
        api.validate_response(RequestsOpenAPIRequest(spec_request), RequestsOpenAPIResponse(response))


def example_responses(name: str, path: str, method: str) -> list[tuple[str, object]]:
    """(label, value) of every example of the 2xx JSON responses of an operation (copies: change them freely)."""
    spec = spec_dict(name)
    operation = spec["paths"][path][method]
    found = []
    for code, response in operation.get("responses", {}).items():
        if not code.startswith("2"):
            continue
        for content_type, content in (deref(spec, response).get("content") or {}).items():
            if "json" not in content_type:
                continue
            for label, example in (content.get("examples") or {}).items():
                found.append((f"{code} {label}", deref(spec, example).get("value")))
            if "example" in content:
                found.append((f"{code} example", content["example"]))
    return copy.deepcopy(found)
