"""The sandbox's WSGI app: BigCommerce's API for one store, its login host's token endpoint, and the control
endpoints under `/__sandbox__/` (see `control`).

Every API request goes through the same steps, in BigCommerce's order: route (unknown path: 404; wrong method:
405), store hash (404), `X-Auth-Token` (401), injected faults, the quota window (429 with the rate-limit headers
when spent), then the handler. Every API response carries the four rate-limit headers; every one is recorded
in the request log under its endpoint name (the names faults match on).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox import render
from sandbox.auth import TokenExchangeError
from sandbox.control import CONTROL_ROUTES, ControlApi
from sandbox.requestlog import RequestRecord
from sandbox.store import ORDER_FILTERS, SandboxError

if TYPE_CHECKING:
    from sandbox.faults import Fault
    from sandbox.store import SandboxStore

V3_ERROR_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
V2_PAGE_DEFAULT, V3_PAGE_DEFAULT, PAGE_MAX = 50, 50, 250
INVENTORY_BATCH_MAX = 2000
_STORE = "/stores/<store_hash>"
# Endpoints whose errors the spec documents as `application/problem+json`.
PROBLEM_JSON_ENDPOINTS = frozenset({"set_inventory_absolute"})

# (path, endpoint, method): the endpoints the product uses, named as faults and the request log name them.
ROUTES: tuple[tuple[str, str, str], ...] = (
    (f"{_STORE}/v2/store", "get_store", "GET"),
    (f"{_STORE}/v2/orders", "list_orders", "GET"),
    (f"{_STORE}/v2/orders/count", "count_orders", "GET"),
    (f"{_STORE}/v2/orders/<int:order_id>", "get_order", "GET"),
    (f"{_STORE}/v2/orders/<int:order_id>", "update_order", "PUT"),
    (f"{_STORE}/v2/orders/<int:order_id>/products", "list_order_products", "GET"),
    (f"{_STORE}/v2/orders/<int:order_id>/shipping_addresses", "list_shipping_addresses", "GET"),
    (f"{_STORE}/v2/orders/<int:order_id>/shipments", "list_shipments", "GET"),
    (f"{_STORE}/v2/orders/<int:order_id>/shipments", "create_shipment", "POST"),
    (f"{_STORE}/v3/orders/<int:order_id>/transactions", "list_transactions", "GET"),
    (f"{_STORE}/v3/orders/<int:order_id>/payment_actions/refunds", "list_refunds", "GET"),
    (f"{_STORE}/v3/orders/payment_actions/refunds", "list_all_refunds", "GET"),
    (f"{_STORE}/v3/customers", "list_customers", "GET"),
    (f"{_STORE}/v3/hooks", "list_hooks", "GET"),
    (f"{_STORE}/v3/hooks", "create_hook", "POST"),
    (f"{_STORE}/v3/hooks/<int:hook_id>", "get_hook", "GET"),
    (f"{_STORE}/v3/hooks/<int:hook_id>", "update_hook", "PUT"),
    (f"{_STORE}/v3/hooks/<int:hook_id>", "delete_hook", "DELETE"),
    (f"{_STORE}/v3/catalog/products", "list_products", "GET"),
    (f"{_STORE}/v3/catalog/products/<int:product_id>", "update_product", "PUT"),
    (f"{_STORE}/v3/catalog/variants", "list_variants", "GET"),
    (f"{_STORE}/v3/catalog/products/<int:product_id>/variants/<int:variant_id>", "update_variant", "PUT"),
    (f"{_STORE}/v3/inventory/locations", "list_locations", "GET"),
    (f"{_STORE}/v3/inventory/locations/<int:location_id>/items", "list_location_items", "GET"),
    (f"{_STORE}/v3/inventory/adjustments/absolute", "set_inventory_absolute", "PUT"),
    ("/oauth2/token", "oauth_token", "POST"),
)


# `include_fields` of GET /v3/catalog/products: the enum of BigCommerce's catalog OpenAPI file.
PRODUCT_INCLUDE_FIELDS = frozenset(
    [
        "name",
        "type",
        "sku",
        "description",
        "weight",
        "width",
        "depth",
        "height",
        "price",
        "cost_price",
        "retail_price",
        "sale_price",
        "map_price",
        "tax_class_id",
        "product_tax_code",
        "calculated_price",
        "categories",
        "brand_id",
        "option_set_id",
        "option_set_display",
        "inventory_level",
        "inventory_warning_level",
        "inventory_tracking",
        "reviews_rating_sum",
        "reviews_count",
        "total_sold",
        "fixed_cost_shipping_price",
        "is_free_shipping",
        "is_visible",
        "is_featured",
        "related_products",
        "warranty",
        "bin_picking_number",
        "layout_file",
        "upc",
        "mpn",
        "gtin",
        "date_last_imported",
        "search_keywords",
        "availability",
        "availability_description",
        "condition",
        "is_condition_shown",
        "order_quantity_minimum",
        "order_quantity_maximum",
        "page_title",
        "meta_keywords",
        "meta_description",
        "date_created",
        "date_modified",
        "view_count",
        "preorder_release_date",
        "preorder_message",
        "is_preorder_only",
        "is_price_hidden",
        "price_hidden_label",
        "custom_url",
        "base_variant_id",
        "open_graph_type",
        "open_graph_title",
        "open_graph_description",
        "open_graph_use_meta_description",
        "open_graph_use_product_name",
        "open_graph_use_image",
    ]
)


class SandboxApp:
    """The WSGI callable for one `SandboxStore`."""

    def __init__(self, store: SandboxStore):
        self.store = store
        self.control = ControlApi(store)
        rules = [Rule(path, endpoint=endpoint, methods=[method]) for path, endpoint, method in ROUTES]
        rules += [Rule(path, endpoint=f"control:{name}", methods=[method]) for path, name, method in CONTROL_ROUTES]
        self.urls = Map(rules)

    def __call__(self, environ, start_response):
        request = Request(environ)
        return self.dispatch(request)(environ, start_response)

    # ------------------------------------------------------------ dispatch

    def dispatch(self, request: Request) -> Response:
        version = 3 if "/v3/" in request.path else 2
        try:
            endpoint, args = self.urls.bind_to_environ(request.environ).match()
        except NotFound:
            return error_response(404, "The requested resource was not found.", version)
        except MethodNotAllowed:
            return error_response(405, "The requested method is not allowed for this resource.", version)
        if endpoint.startswith("control:"):
            return self.control.dispatch(endpoint.removeprefix("control:"), request, args)
        started = time.monotonic()
        response = self._api(endpoint, request, args, version)
        self.store.request_log.add(
            RequestRecord(
                at=time.time(),
                method=request.method,
                path=request.path,
                query=request.query_string.decode("latin-1"),
                endpoint=endpoint,
                status=response.status_code,
                duration_ms=round((time.monotonic() - started) * 1000, 2),
            )
        )
        return response

    def _api(self, endpoint: str, request: Request, args: dict, version: int) -> Response:
        store = self.store
        if endpoint == "oauth_token":
            return self._oauth_token(request)
        if args.pop("store_hash") != store.settings.store_hash:
            return error_response(404, "The requested store was not found.", version)
        if request.headers.get("X-Auth-Token") != store.settings.access_token or store.token_revoked:
            return error_response(401, "The access token is missing or invalid for this store.", version)
        latency, failure = store.faults.take(endpoint, request.method, request.path)
        if latency is not None:
            time.sleep(latency.latency_ms / 1000)
        if failure is not None and failure.kind == "rate_limit":
            return self._rate_limited(failure, version)
        allowed, left, reset_ms = store.quota.take()
        headers = rate_limit_headers(store, left, reset_ms)
        if not allowed:
            return error_response(429, "You have exceeded your request limit for this window.", version, headers)
        if failure is not None:
            faulted = self._fault(failure, request, version, headers)
            if faulted is not None:
                return faulted
        try:
            status, body = getattr(self, f"_{endpoint}")(request, **args)
        except SandboxError as exc:
            response = error_response(exc.status, exc.message, version, headers, exc.errors)
            if endpoint in PROBLEM_JSON_ENDPOINTS:
                response.content_type = "application/problem+json"
            return response
        return json_response(status, body, headers)

    def _rate_limited(self, fault: Fault, version: int) -> Response:
        headers = {}
        if fault.reset_ms is not None:
            quota = self.store.quota
            headers = {
                "X-Rate-Limit-Requests-Left": "0",
                "X-Rate-Limit-Time-Reset-Ms": str(fault.reset_ms),
                "X-Rate-Limit-Time-Window-Ms": str(quota.window_ms),
                "X-Rate-Limit-Requests-Quota": str(quota.quota),
            }
        return error_response(429, "You have exceeded your request limit for this window.", version, headers)

    def _fault(self, fault: Fault, request: Request, version: int, headers: dict) -> Response | None:
        """The response a failure fault gives, or None to answer normally (after a `timeout` wait)."""
        if fault.kind == "error":
            return error_response(fault.status, "The sandbox was told to fail this request.", version, headers)
        if fault.kind == "timeout":
            time.sleep(fault.seconds)
            return None
        if fault.kind == "drop":
            connection = request.environ.get("werkzeug.socket")
            if connection is not None:
                connection.shutdown(socket.SHUT_RDWR)
            return Response(b"", status=500)
        bodies = {
            "truncated": (b'{"id": 101, "status_id": 11, "total_inc_tax": "12.', "application/json"),
            "html": (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
            "wrong_shape": (b'"an unexpected string"', "application/json"),
            "empty": (b"", "application/json"),
        }
        body, content_type = bodies[fault.body]
        return Response(body, status=200, headers=headers, content_type=content_type)

    # ------------------------------------------------------------ V2

    def _base(self, request: Request) -> str:
        return f"{request.host_url.rstrip('/')}/stores/{self.store.settings.store_hash}/v2"

    def _get_store(self, request: Request):
        return 200, render.store_info(self.store)

    def _list_orders(self, request: Request):
        page, limit = page_and_limit(request, V2_PAGE_DEFAULT)
        filters = {k: v for k, v in request.args.items() if k in ORDER_FILTERS}
        ids = self.store.query_orders(filters, request.args.get("sort"))
        inline, fees = wants_consignments(request), wants(request, "fees")
        base = self._base(request)
        page_ids = ids[(page - 1) * limit : page * limit]
        orders = [
            self.store.patched(i, render.order(self.store, self.store.order(i), base, consignments=inline, fees=fees))
            for i in page_ids
        ]
        return (200, orders) if orders else (204, None)

    def _count_orders(self, request: Request):
        filters = {k: v for k, v in request.args.items() if k in ORDER_FILTERS}
        return 200, render.order_count(self.store, self.store.count_by_status(filters))

    def _get_order(self, request: Request, order_id: int):
        record = self._order(order_id)
        body = render.order(
            self.store,
            record,
            self._base(request),
            consignments=wants_consignments(request),
            fees=wants(request, "fees"),
        )
        return 200, self.store.patched(order_id, body)

    def _update_order(self, request: Request, order_id: int):
        body = json_body(request, dict)
        self._order(order_id)
        if "status_id" in body:
            self.store.set_status(order_id, _as_int(body["status_id"], "status_id"))
        return 200, render.order(self.store, self.store.order(order_id), self._base(request))

    def _list_order_products(self, request: Request, order_id: int):
        page, limit = page_and_limit(request, V2_PAGE_DEFAULT)
        rows = self.store.patched(order_id, render.order_products(self.store, self._order(order_id)), products=True)
        rows = rows[(page - 1) * limit : page * limit]
        return (200, rows) if rows else (204, None)

    def _list_shipping_addresses(self, request: Request, order_id: int):
        page, limit = page_and_limit(request, V2_PAGE_DEFAULT)
        rows = render.shipping_addresses(self.store, self._order(order_id), self._base(request))
        rows = rows[(page - 1) * limit : page * limit]
        return (200, rows) if rows else (204, None)

    def _list_shipments(self, request: Request, order_id: int):
        page, limit = page_and_limit(request, V2_PAGE_DEFAULT)
        record = self._order(order_id)
        rows = [render.shipment(self.store, record, row) for row in self.store.shipments.get(order_id, ())]
        rows = rows[(page - 1) * limit : page * limit]
        return (200, rows) if rows else (204, None)

    def _create_shipment(self, request: Request, order_id: int):
        body = json_body(request, dict)
        self._order(order_id)
        items = body.get("items")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise SandboxError(400, "The field 'items' must be a list of {order_product_id, quantity}.")
        shipment = self.store.create_shipment(
            order_id,
            order_address_id=_as_int(body.get("order_address_id"), "order_address_id"),
            items=[
                (_as_int(i.get("order_product_id"), "order_product_id"), _as_int(i.get("quantity"), "quantity"))
                for i in items
            ],
            tracking_number=str(body.get("tracking_number") or ""),
            tracking_carrier=str(body.get("tracking_carrier") or ""),
            shipping_provider=str(body.get("shipping_provider") or ""),
            comments=str(body.get("comments") or ""),
        )
        return 201, render.shipment(self.store, self.store.order(order_id), shipment)

    def _order(self, order_id: int):
        try:
            return self.store.order(order_id)
        except KeyError:
            raise SandboxError(404, "The requested resource was not found.") from None

    # ------------------------------------------------------------ V3

    def _list_transactions(self, request: Request, order_id: int):
        rows = render.transactions(self.store, self._order(order_id))
        if not rows:
            return 204, None
        return 200, {"data": rows, "meta": {"pagination": render.pagination(len(rows), 1, max(len(rows), 1))}}

    def _list_refunds(self, request: Request, order_id: int):
        self._order(order_id)
        return 200, {"data": [render.refund(r) for r in self.store.refunds.get(order_id, ())], "meta": {}}

    def _list_all_refunds(self, request: Request):
        wanted = id_list(request, "order_id:in")
        rows = [r for order_id in sorted(set(wanted)) for r in self.store.refunds.get(order_id, ())]
        return self._collection(request, rows, render.refund)

    def _list_customers(self, request: Request):
        wanted = set(id_list(request, "id:in"))
        rows = [c for c in self.store.customers.values() if not wanted or c.id in wanted]
        return self._collection(request, rows, lambda c: render.customer(self.store, c))

    def _list_hooks(self, request: Request):
        args = request.args
        rows = [
            h
            for h in self.store.hooks.values()
            if ("is_active" not in args or h.is_active == (args["is_active"] == "true"))
            and ("scope" not in args or h.scope == args["scope"])
            and ("destination" not in args or h.destination == args["destination"])
        ]
        return self._collection(request, rows, lambda h: render.hook(self.store, h))

    def _create_hook(self, request: Request):
        body = json_body(request, dict)
        headers = body.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise SandboxError(422, "JSON data is missing or invalid", {"headers": "error.type.object."})
        hook = self.store.create_hook(
            scope=str(body.get("scope") or ""),
            destination=str(body.get("destination") or ""),
            is_active=bool(body.get("is_active", True)),
            headers=headers,
        )
        return 200, {"data": render.hook(self.store, hook), "meta": {}}

    def _get_hook(self, request: Request, hook_id: int):
        hook = self.store.hooks.get(hook_id)
        if hook is None:
            raise SandboxError(404, f"Webhook with id [{hook_id}] not found")
        return 200, {"data": render.hook(self.store, hook), "meta": {}}

    def _update_hook(self, request: Request, hook_id: int):
        hook = self.store.update_hook(hook_id, json_body(request, dict))
        return 200, {"data": render.hook(self.store, hook), "meta": {}}

    def _delete_hook(self, request: Request, hook_id: int):
        return 200, {"data": render.hook(self.store, self.store.delete_hook(hook_id)), "meta": {}}

    def _list_products(self, request: Request):
        ids = set(id_list(request, "id:in")) | set(id_list(request, "id"))
        skus = set(text_list(request, "sku:in")) | set(text_list(request, "sku"))
        rows = [
            p
            for p in self.store.live_products()
            if (not ids or p.id in ids) and (not skus or (p.sku and p.sku in skus))
        ]
        fields = set(text_list(request, "include_fields"))
        if fields - PRODUCT_INCLUDE_FIELDS:
            # The spec's enum for include_fields (catalog products); `id` is not in it: it is always returned.
            wrong = ", ".join(sorted(fields - PRODUCT_INCLUDE_FIELDS))
            raise SandboxError(422, f"include_fields: not an allowed value: {wrong}", {"include_fields": wrong})
        variants = "variants" in text_list(request, "include")

        def to_json(p):
            body = render.product(self.store, p)
            if fields:
                # BigCommerce returns only the listed fields (and the id) when include_fields is given.
                body = {k: v for k, v in body.items() if k in fields | {"id"}}
            if variants:
                # `include=variants`: every variant of the product, whole (include_fields is about the product).
                body["variants"] = [render.variant(self.store, v) for v in p.variants]
            return body

        return self._collection(request, rows, to_json)

    def _update_product(self, request: Request, product_id: int):
        product = self.store.update_product(product_id, json_body(request, dict))
        return 200, {"data": render.product(self.store, product), "meta": {}}

    def _list_variants(self, request: Request):
        ids = set(id_list(request, "id"))
        skus = set(text_list(request, "sku"))
        products = set(id_list(request, "product_id:in"))
        rows = [
            v
            for p in self.store.live_products()
            for v in p.variants
            if (not ids or v.id in ids) and (not skus or v.sku in skus) and (not products or v.product_id in products)
        ]
        return self._collection(request, rows, lambda v: render.variant(self.store, v))

    def _update_variant(self, request: Request, product_id: int, variant_id: int):
        variant = self.store.update_variant(product_id, variant_id, json_body(request, dict))
        return 200, {"data": render.variant(self.store, variant), "meta": {}}

    def _list_locations(self, request: Request):
        return self._collection(request, list(self.store.locations), render.location)

    def _list_location_items(self, request: Request, location_id: int):
        """`GET /v3/inventory/locations/{id}/items`: every live variant's stock at one location."""
        if location_id not in {location[0] for location in self.store.locations}:
            raise SandboxError(404, f"Location {location_id} does not exist.")
        rows = [v for p in self.store.live_products() for v in p.variants]
        return self._collection(request, rows, lambda v: render.location_item(self.store, location_id, v))

    def _set_inventory_absolute(self, request: Request):
        body = json_body(request, dict)
        items = body.get("items")
        if not isinstance(items, list) or not items:
            raise SandboxError(422, "JSON data is missing or invalid", {"items": "error.path.missing."})
        if len(items) > INVENTORY_BATCH_MAX:
            raise SandboxError(422, f"At most {INVENTORY_BATCH_MAX} items per request", {"items": "too many"})
        for item in items:
            identities = [k for k in ("sku", "variant_id", "product_id") if isinstance(item, dict) and k in item]
            if len(identities) != 1 or "location_id" not in item or "quantity" not in item:
                raise SandboxError(422, "Each item needs location_id, quantity and one of sku/variant_id/product_id")
        return 200, {"transaction_id": self.store.set_inventory_absolute(items)}

    def _collection(self, request: Request, rows: list, to_json: Callable) -> tuple[int, dict]:
        page, limit = page_and_limit(request, V3_PAGE_DEFAULT)
        chosen = rows[(page - 1) * limit : page * limit]
        return 200, {
            "data": [to_json(r) for r in chosen],
            "meta": {"pagination": render.pagination(len(rows), page, limit)},
        }

    # ------------------------------------------------------------ login host

    def _oauth_token(self, request: Request) -> Response:
        """`POST /oauth2/token`: the single-click app's code exchange (JSON or form body)."""
        if request.mimetype == "application/json":
            try:
                form = {k: str(v) for k, v in (request.get_json(force=True) or {}).items()}
            except (ValueError, AttributeError):
                return json_response(400, {"error": "Invalid JSON body"}, {})
        else:
            form = request.form.to_dict()
        try:
            return json_response(200, self.store.auth.exchange(form), {})
        except TokenExchangeError as exc:
            return json_response(exc.status, {"error": str(exc)}, {})


# ---------------------------------------------------------------- helpers


def rate_limit_headers(store: SandboxStore, left: int, reset_ms: int) -> dict[str, str]:
    return {
        "X-Rate-Limit-Requests-Left": str(left),
        "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
        "X-Rate-Limit-Time-Window-Ms": str(store.quota.window_ms),
        "X-Rate-Limit-Requests-Quota": str(store.quota.quota),
    }


def json_response(status: int, body, headers: dict) -> Response:
    if body is None:
        return Response(status=status, headers=headers)
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(data, status=status, headers=headers, content_type="application/json")


def error_response(status: int, message: str, version: int, headers: dict | None = None, errors=None) -> Response:
    """BigCommerce's error bodies: V2 a list of `{status, message}`, V3 an object with a title."""
    if version == 2:
        body = [{"status": status, "message": message}]
    else:
        body = {"status": status, "title": message, "type": V3_ERROR_TYPE, "errors": errors or {}}
    return json_response(status, body, headers or {})


def page_and_limit(request: Request, default: int) -> tuple[int, int]:
    page = _as_int(request.args.get("page", 1), "page")
    limit = _as_int(request.args.get("limit", default), "limit")
    if page < 1 or limit < 1:
        raise SandboxError(400, "page and limit must be positive")
    if limit > PAGE_MAX:
        raise SandboxError(413, f"The limit parameter exceeded the maximum of {PAGE_MAX}.")
    return page, limit


def wants_consignments(request: Request) -> bool:
    return wants(request, "consignments")


def wants(request: Request, include: str) -> bool:
    """Whether `include` (orders.v2's `consignments`, `consignments.line_items` or `fees`) asks for `include`."""
    return include in request.args.get("include", "").replace(".line_items", "").split(",")


def id_list(request: Request, name: str) -> list[int]:
    return [_as_int(v, name) for v in text_list(request, name)]


def text_list(request: Request, name: str) -> list[str]:
    return [v for v in request.args.get(name, "").split(",") if v]


def json_body(request: Request, kind: type):
    try:
        body = json.loads(request.get_data() or b"null")
    except ValueError:
        raise SandboxError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, kind):
        raise SandboxError(400, f"The request body must be a JSON {kind.__name__}.")
    return body


def _as_int(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SandboxError(400, f"The field '{name}' must be an integer.") from None
