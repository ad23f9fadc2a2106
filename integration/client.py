"""The BigCommerce API client: the only code in the project that talks to BigCommerce (ruff bans raw `requests`).

One `requests.Session` per store link and process (connection pooling), `X-Auth-Token` auth, JSON both ways, a
(connect, read) timeout on every call, the store's quota shared with every other worker through
`integration.ratelimit.StoreRateLimiter`, and every failure raised as a typed `integration.exceptions.ApiError`.
Responses are decoded with JSON numbers as Decimal and parsed into the frozen dataclasses of
`integration.bc_types`, so callers never see raw JSON, floats or naive dates.

Each public method names the BigCommerce operation it calls and how many calls it makes. A 429 is waited out
(every worker waits for the announced reset) up to the limiter's `max_wait`, then raised as `ApiRateLimited`.
Other failures are not retried here: the work kernel decides (`integration.choices.ErrorCode.for_exception`).

One log line per response on the `integration.client` logger: method, path (without the query string, which may
hold an email filter), status, duration in ms and requests left; never the token, never a body. The same call is
counted in the Prometheus metrics (`integration.metrics`: by templated endpoint and status, 429s and quota per store).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Self

import msgspec
import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from integration.bc_types import (
    AppToken,
    CatalogProduct,
    Consignments,
    Customer,
    Hook,
    Location,
    LocationItem,
    Order,
    OrderCount,
    OrderProduct,
    PickupConsignment,
    Refund,
    Shipment,
    ShippingAddress,
    ShippingConsignment,
    ShippingDestination,
    StoreInfo,
    Transaction,
    Variant,
    to_count,
)
from integration.exceptions import ApiBadResponse, ApiError, ApiRateLimited, ApiUnavailable
from integration.metrics import bigcommerce_call_observe
from integration.ratelimit import Priority, RateLimitHeaders, StoreRateLimiter

if TYPE_CHECKING:
    from integration.models import StoreLink

logger = logging.getLogger(__name__)

USER_AGENT = "pos-backoffice/0.1 (BigCommerce order link)"
# Inline line items ("include the response returned from /orders/{id}/products in consignments") and the
# order's fees (`fees`, else a `{url, resource}` link): still one call per order.
ORDER_INCLUDE = {"include": "consignments,consignments.line_items,fees", "consignment_structure": "object"}
# The filters GET /v2/orders and /v2/orders/count document (plus `sort` for the list).
ORDER_FILTERS = frozenset(
    {
        "min_id",
        "max_id",
        "min_total",
        "max_total",
        "customer_id",
        "email",
        "status_id",
        "cart_id",
        "payment_method",
        "min_date_created",
        "max_date_created",
        "min_date_modified",
        "max_date_modified",
        "channel_id",
        "external_order_id",
    }
)
HOOK_FIELDS = frozenset({"scope", "destination", "is_active", "headers"})
# JSON numbers with a fraction become Decimal, never float (V3 and consignment money are JSON numbers).
JSON_DECODER = msgspec.json.Decoder(float_hook=Decimal)


class BigCommerceClient:
    """A client for one BigCommerce store. Thread-safe enough for one worker; build it with `for_link`."""

    #: Largest page BigCommerce serves (V2 orders and products, V3 catalog); a larger `limit` is a 413.
    PAGE_LIMIT = 250
    #: Ids or SKUs per `:in` filter, to keep URLs short.
    IN_CHUNK = 50
    #: Items per absolute inventory adjustment (BigCommerce's maximum).
    INVENTORY_BATCH = 2000
    #: Hard stop for any paging loop (250 x 10,000 = 2.5 million rows).
    MAX_PAGES = 10_000
    #: 429s answered in a row before giving up and raising ApiRateLimited.
    RATE_LIMIT_ATTEMPTS = 5

    def __init__(
        self,
        *,
        store_hash: str,
        access_token: str,
        base_url: str | None = None,
        timeout: float | tuple[float, float] | None = None,
        rate_limiter: StoreRateLimiter | None = None,
        priority: Priority | str = Priority.LIVE,
        session: requests.Session | None = None,
    ):
        if not store_hash or not access_token:
            raise ValueError("a BigCommerce client needs a store hash and an access token")
        self.store_hash = store_hash
        self.base_url = (base_url or settings.BIGCOMMERCE_API_URL).rstrip("/")
        self.timeout = timeout if timeout is not None else tuple(settings.BIGCOMMERCE_TIMEOUT)
        self.rate_limiter = rate_limiter or StoreRateLimiter(store_hash)
        self.priority = Priority(priority)
        self._token = access_token
        self.session = session or _new_session(access_token)

    def __repr__(self) -> str:
        return f"<BigCommerceClient store={self.store_hash} base={self.base_url} priority={self.priority}>"

    @classmethod
    def for_link(cls, link: StoreLink, *, priority: Priority | str = Priority.LIVE) -> Self:
        """The process's client for a store link: one Session (connection pool) per link, reused by every job."""
        key = (link.pk, link.store_hash, link.api_url, hashlib.sha256(link.access_token.encode()).hexdigest())
        with _CACHE_LOCK:
            client = _CLIENT_CACHE.get(key)
            if client is None:
                client = cls(store_hash=link.store_hash, access_token=link.access_token, base_url=link.api_url)
                _CLIENT_CACHE[key] = client
                while len(_CLIENT_CACHE) > _CLIENT_CACHE_SIZE:
                    _CLIENT_CACHE.popitem(last=False)
            _CLIENT_CACHE.move_to_end(key)
        return client.with_priority(priority)

    def with_priority(self, priority: Priority | str) -> Self:
        """The same client (same Session and limiter) sending as `live` or `bulk` traffic."""
        if Priority(priority) == self.priority:
            return self
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.priority = Priority(priority)
        return clone

    def reserved(self, calls: int, *, within: float = 0.0):
        """A context in which up to `calls` calls about to be made (concurrently, say) start without asking Redis
        for a ticket each: the limiter grants them in one round trip and says how long until it may grant the rest
        (`StoreRateLimiter.reserved`, which waits for them when that is no longer than `within` seconds)."""
        return self.rate_limiter.reserved(calls, self.priority, within=within)

    # ------------------------------------------------------------ store

    def get_store(self) -> StoreInfo:
        """Store information (`GET /v2/store`): hash, numeric store id, name, currency. 1 call."""
        return self._parse(StoreInfo, self._get("/v2/store"))

    # ------------------------------------------------------------ orders (V2)

    def get_order(self, order_id: int, *, include_line_items: bool = True) -> Order:
        """Get an order (`GET /v2/orders/{id}`), with its consignments and line items inlined by default.

        Calls: 1. BigCommerce inlines at most 50 lines per consignment; when it cut some, the lines are fetched
        from `GET /v2/orders/{id}/products` (250 a page), so the order is always complete: 1 + ceil(lines / 250).
        """
        data = self._get(f"/v2/orders/{int(order_id)}", params=ORDER_INCLUDE if include_line_items else None)
        order = self._parse(Order, data)
        return self._complete(order) if include_line_items else order

    def list_orders(
        self, *, page: int = 1, limit: int = PAGE_LIMIT, include_line_items: bool = False, **filters: Any
    ) -> list[Order]:
        """One page of orders (`GET /v2/orders`), filtered (`status_id`, `min_date_modified`, `sort`...).

        Calls: 1 (plus the products of any order whose inline lines BigCommerce cut, see `get_order`).
        An empty list past the last page (BigCommerce answers 204).
        """
        if not 1 <= limit <= self.PAGE_LIMIT:
            raise ValueError(f"limit must be between 1 and {self.PAGE_LIMIT}")
        params = {**_order_filters(filters, allow_sort=True), "page": page, "limit": limit}
        if include_line_items:
            params.update(ORDER_INCLUDE)
        data = self._get("/v2/orders", params=params, expect=list)
        orders = [self._parse(Order, item) for item in data or ()]
        return [self._complete(o) for o in orders] if include_line_items else orders

    def iter_orders(
        self, *, include_line_items: bool = False, limit: int = PAGE_LIMIT, **filters: Any
    ) -> Iterator[Order]:
        """Every order matching the filters, fetched a page at a time (`GET /v2/orders`); never all in memory.

        Calls: one per page of `limit` (250), plus one after a full last page (BigCommerce's 204 ends it).
        Sort by `date_modified:asc` or `id:asc` for a stable walk.
        """
        for page in range(1, self.MAX_PAGES + 1):
            orders = self.list_orders(page=page, limit=limit, include_line_items=include_line_items, **filters)
            yield from orders
            if len(orders) < limit:
                return
        raise ApiBadResponse(f"orders did not end after {self.MAX_PAGES} pages")

    def count_orders(self, **filters: Any) -> OrderCount:
        """Count orders (`GET /v2/orders/count`), in total and per status, with the list's filters. 1 call."""
        return self._parse(OrderCount, self._get("/v2/orders/count", params=_order_filters(filters)))

    def list_order_products(self, order_id: int) -> list[OrderProduct]:
        """Every line of an order (`GET /v2/orders/{id}/products`). Calls: ceil(lines / 250), at least 1."""
        rows = self._iter_v2(f"/v2/orders/{int(order_id)}/products")
        return [self._parse(OrderProduct, row, order_id=int(order_id)) for row in rows]

    def list_shipping_addresses(self, order_id: int) -> list[ShippingAddress]:
        """An order's shipping addresses with methods and costs (`GET /v2/orders/{id}/shipping_addresses`). 1 call."""
        return [
            self._parse(ShippingAddress, row) for row in self._iter_v2(f"/v2/orders/{int(order_id)}/shipping_addresses")
        ]

    def update_order_status(self, order_id: int, status_id: int) -> Order:
        """Set an order's status (`PUT /v2/orders/{id}` with `status_id`); returns the order. 1 call."""
        data = self._send("PUT", f"/v2/orders/{int(order_id)}", body={"status_id": int(status_id)})
        return self._parse(Order, data)

    def list_shipments(self, order_id: int) -> list[Shipment]:
        """An order's shipments (`GET /v2/orders/{id}/shipments`). Calls: ceil(shipments / 250), at least 1."""
        rows = self._iter_v2(f"/v2/orders/{int(order_id)}/shipments")
        return [self._parse(Shipment, row) for row in rows]

    def create_shipment(
        self,
        order_id: int,
        *,
        order_address_id: int,
        items: Iterable[Mapping[str, int] | tuple[int, int]],
        tracking_number: str = "",
        tracking_carrier: str = "",
        shipping_provider: str = "",
        comments: str = "",
    ) -> Shipment:
        """Create a shipment (`POST /v2/orders/{id}/shipments`) for lines of one address. 1 call.

        `items` are `{"order_product_id": id, "quantity": n}` mappings or `(order_product_id, quantity)` pairs.
        BigCommerce moves the order to Shipped or Partially Shipped itself.
        """
        lines = []
        for item in items:
            product_id, quantity = (
                (item["order_product_id"], item["quantity"]) if isinstance(item, Mapping) else (item[0], item[1])
            )
            lines.append({"order_product_id": int(product_id), "quantity": int(quantity)})
        if not lines:
            raise ValueError("a shipment needs at least one item")
        body = {
            "order_address_id": int(order_address_id),
            "items": lines,
            "tracking_number": tracking_number,
            "tracking_carrier": tracking_carrier,
            "shipping_provider": shipping_provider,
            "comments": comments,
        }
        return self._parse(Shipment, self._send("POST", f"/v2/orders/{int(order_id)}/shipments", body=body))

    # ------------------------------------------------------------ payments (Orders V3)

    def list_transactions(self, order_id: int) -> list[Transaction]:
        """An order's payment transactions (`GET /v3/orders/{id}/transactions`). 1 call; [] on 204."""
        return [
            self._parse(Transaction, row)
            for row in self._iter_v3(f"/v3/orders/{int(order_id)}/transactions", paged=False)
        ]

    def list_refunds(self, order_id: int) -> list[Refund]:
        """An order's refunds (`GET /v3/orders/{id}/payment_actions/refunds`). 1 call."""
        path = f"/v3/orders/{int(order_id)}/payment_actions/refunds"
        return [self._parse(Refund, row) for row in self._iter_v3(path, paged=False)]

    def list_refunds_of_orders(self, order_ids: Iterable[int]) -> dict[int, list[Refund]]:
        """The refunds of many orders at once (`GET /v3/orders/payment_actions/refunds?order_id:in=...`), by order
        id (orders without refunds are absent). Calls: one per 250 distinct ids (and per 250 refunds)."""
        by_order: dict[int, list[Refund]] = defaultdict(list)
        for chunk in _chunks(sorted({int(i) for i in order_ids}), self.PAGE_LIMIT):
            rows = self._iter_v3("/v3/orders/payment_actions/refunds", params={"order_id:in": chunk})
            for row in rows:
                refund = self._parse(Refund, row)
                by_order[refund.order_id].append(refund)
        return dict(by_order)

    # ------------------------------------------------------------ customers (V3)

    def get_customers(self, ids: Iterable[int]) -> list[Customer]:
        """Customers by id (`GET /v3/customers?id:in=...`). Calls: one per 50 distinct ids."""
        customers = []
        for chunk in _chunks(sorted({int(i) for i in ids}), self.IN_CHUNK):
            rows = self._iter_v3("/v3/customers", params={"id:in": chunk}, limit=self.IN_CHUNK)
            customers.extend(self._parse(Customer, row) for row in rows)
        return customers

    # ------------------------------------------------------------ webhooks (V3)

    def list_hooks(self) -> list[Hook]:
        """The hooks this token registered (`GET /v3/hooks`). Calls: one per 250 hooks."""
        return [self._parse(Hook, row) for row in self._iter_v3("/v3/hooks")]

    def create_hook(self, *, scope: str, destination: str, headers: Mapping[str, str], is_active: bool = True) -> Hook:
        """Register a hook (`POST /v3/hooks`); BigCommerce sends `headers` back on every delivery. 1 call."""
        body = {"scope": scope, "destination": destination, "is_active": is_active, "headers": dict(headers)}
        return self._parse(Hook, self._data(self._send("POST", "/v3/hooks", body=body)))

    def update_hook(self, hook_id: int, **fields: Any) -> Hook:
        """Change a hook (`PUT /v3/hooks/{id}`): scope, destination, is_active (reactivation), headers. 1 call."""
        unknown = set(fields) - HOOK_FIELDS
        if unknown:
            raise TypeError(f"update_hook() got unknown fields: {', '.join(sorted(unknown))}")
        return self._parse(Hook, self._data(self._send("PUT", f"/v3/hooks/{int(hook_id)}", body=fields)))

    def delete_hook(self, hook_id: int) -> None:
        """Delete a hook (`DELETE /v3/hooks/{id}`). 1 call; `ApiNotFound` when it is already gone."""
        self._send("DELETE", f"/v3/hooks/{int(hook_id)}")

    # ------------------------------------------------------------ catalog (V3)

    def get_products(
        self, *, ids: Iterable[int] | None = None, skus: Iterable[str] | None = None
    ) -> list[CatalogProduct]:
        """Catalog products by id or by (product-level) SKU (`GET /v3/catalog/products?id:in=` / `sku:in=`).

        Calls: one per 50 ids or SKUs. A variant's SKU is not a product SKU: use `get_variants(skus=...)`.
        """
        key, values = _one_selector(ids=ids, skus=skus)
        name = {"ids": "id:in", "skus": "sku:in"}[key]
        products = []
        for chunk in _chunks(values, self.IN_CHUNK):
            rows = self._iter_v3("/v3/catalog/products", params={name: chunk}, limit=self.IN_CHUNK)
            products.extend(self._parse(CatalogProduct, row) for row in rows)
        return products

    def iter_product_ids(self) -> Iterator[int]:
        """The id of every catalog product (`GET /v3/catalog/products?include_fields=sku`, 250 per call). The id is
        always returned; `id` itself is not an allowed `include_fields` value, so the smallest allowed field is asked
        for."""
        for row in self._iter_v3("/v3/catalog/products", params={"include_fields": "sku"}, limit=self.PAGE_LIMIT):
            if isinstance(row, Mapping) and str(row.get("id", "")).isdigit():
                yield int(row["id"])

    # What the catalog match report needs of a product; its variants come whole with `include=variants`.
    CATALOG_MATCH_FIELDS = "name,sku,price,inventory_tracking"

    def iter_catalog(self) -> Iterator[CatalogProduct]:
        """Every catalog product with its variants, only the fields a catalog match needs
        (`GET /v3/catalog/products?include=variants&include_fields=...`). Calls: one per 250 products."""
        params = {"include": "variants", "include_fields": self.CATALOG_MATCH_FIELDS}
        for row in self._iter_v3("/v3/catalog/products", params=params, limit=self.PAGE_LIMIT):
            yield self._parse(CatalogProduct, row)

    def iter_location_stock(self, location_id: int) -> Iterator[tuple[int, int]]:
        """(variant id, units on hand) of every item at one inventory location
        (`GET /v3/inventory/locations/{id}/items`). Calls: one per 250 items."""
        for item in self.iter_location_items(location_id):
            yield item.variant_id, item.on_hand

    def iter_location_items(self, location_id: int) -> Iterator[LocationItem]:
        """Every item at one inventory location with its product id, variant id and units on hand
        (`GET /v3/inventory/locations/{id}/items`). Calls: one per 250 items."""
        path = f"/v3/inventory/locations/{int(location_id)}/items"
        for row in self._iter_v3(path, limit=self.PAGE_LIMIT):
            identity = row.get("identity") if isinstance(row, Mapping) else None
            if not isinstance(identity, Mapping) or not str(identity.get("variant_id", "")).isdigit():
                raise ApiBadResponse(f"{path}: an item without identity.variant_id")
            product_id = str(identity.get("product_id", ""))
            yield LocationItem(
                product_id=int(product_id) if product_id.isdigit() else None,
                variant_id=int(identity["variant_id"]),
                on_hand=to_count(row.get("total_inventory_onhand") or 0),
            )

    def get_variants(
        self,
        *,
        ids: Iterable[int] | None = None,
        skus: Iterable[str] | None = None,
        product_ids: Iterable[int] | None = None,
    ) -> list[Variant]:
        """Catalog variants by id, SKU or product (`GET /v3/catalog/variants`).

        BigCommerce documents only single-value `id` and `sku` filters on this endpoint, and `product_id:in`:
        calls are one per id or SKU, or one per 50 products (more when they have over 250 variants).
        """
        key, values = _one_selector(ids=ids, skus=skus, product_ids=product_ids)
        if key == "product_ids":
            queries = [{"product_id:in": chunk} for chunk in _chunks(values, self.IN_CHUNK)]
        else:
            queries = [{"id" if key == "ids" else "sku": value} for value in values]
        variants = []
        for params in queries:
            variants.extend(self._parse(Variant, row) for row in self._iter_v3("/v3/catalog/variants", params=params))
        return variants

    def update_product(self, product_id: int, **fields: Any) -> CatalogProduct:
        """Change a product (`PUT /v3/catalog/products/{id}`), e.g. `price=Decimal("12.50")`. 1 call."""
        path = f"/v3/catalog/products/{int(product_id)}"
        return self._parse(CatalogProduct, self._data(self._send("PUT", path, body=fields)))

    def update_variant(self, product_id: int, variant_id: int, **fields: Any) -> Variant:
        """Change a variant (`PUT /v3/catalog/products/{id}/variants/{id}`), e.g. its price. 1 call."""
        path = f"/v3/catalog/products/{int(product_id)}/variants/{int(variant_id)}"
        return self._parse(Variant, self._data(self._send("PUT", path, body=fields)))

    # ------------------------------------------------------------ inventory (V3)

    def list_locations(self) -> list[Location]:
        """The store's inventory locations (`GET /v3/inventory/locations`). Calls: one per 250 locations."""
        return [self._parse(Location, row) for row in self._iter_v3("/v3/inventory/locations")]

    def set_inventory_absolute(self, items: Iterable[Mapping[str, Any]], *, reason: str) -> list[str]:
        """Set stock levels (`PUT /v3/inventory/adjustments/absolute`); returns BigCommerce's transaction ids.

        Each item is `{"location_id", "quantity"}` plus exactly one of `product_id`, `variant_id` or `sku`.
        Items are grouped by location (BigCommerce's advice) and sent 2,000 per call: calls are
        sum over locations of ceil(items / 2000).
        """
        by_location: dict[int, list[dict]] = defaultdict(list)
        for item in items:
            identity = [k for k in ("product_id", "variant_id", "sku") if item.get(k) not in (None, "")]
            if len(identity) != 1 or "location_id" not in item or "quantity" not in item:
                raise ValueError(
                    f"inventory item needs location_id, quantity and one of product_id/variant_id/sku: {item}"
                )
            key = identity[0]
            value = item[key] if key == "sku" else int(item[key])
            location_id = int(item["location_id"])
            by_location[location_id].append({"location_id": location_id, key: value, "quantity": int(item["quantity"])})
        transaction_ids = []
        for location_id in sorted(by_location):
            for chunk in _chunks(by_location[location_id], self.INVENTORY_BATCH):
                data = self._send("PUT", "/v3/inventory/adjustments/absolute", body={"reason": reason, "items": chunk})
                if not isinstance(data, Mapping):
                    raise ApiBadResponse("inventory adjustment: expected a JSON object")
                transaction_ids.append(str(data.get("transaction_id", "")))
        return transaction_ids

    # ------------------------------------------------------------ internals: orders

    def _complete(self, order: Order) -> Order:
        """The order with every line, fetching `/products` when BigCommerce cut the inline lines, or sent no
        consignments with lines at all (the spec's own order example has none): then its consignments are rebuilt
        from the products sub-resource and, when lines are shipped, the shipping addresses one."""
        consignments = order.consignments
        if consignments is None or not consignments.line_items_inlined:
            return self._from_sub_resources(order)
        if not consignments.truncated:
            return order
        lines = self.list_order_products(order.id)
        shipping = tuple(
            replace(c, line_items=tuple(li for li in lines if li.order_address_id == c.id), truncated=False)
            for c in consignments.shipping
        )
        pickups = tuple(
            replace(c, line_items=tuple(li for li in lines if li.order_pickup_method_id == c.id), truncated=False)
            for c in consignments.pickups
        )
        placed = {li.id for c in (*shipping, *pickups) for li in c.line_items or ()}
        other = tuple(li for li in lines if li.id not in placed)
        return replace(
            order,
            consignments=Consignments(shipping=shipping, pickups=pickups, other_line_items=other, truncated=False),
        )

    def _from_sub_resources(self, order: Order) -> Order:
        """The order's consignments as its sub-resources give them: lines (`GET /v2/orders/{id}/products`) grouped
        by their shipping address (`GET /v2/orders/{id}/shipping_addresses`, read only when a line has one) or
        pickup method. Calls: ceil(lines / 250), at least 1, plus 1 with shipping addresses. A pickup's location
        is not in these sub-resources: it reads as unknown."""
        lines = self.list_order_products(order.id)
        addressed = {li.order_address_id for li in lines if li.order_address_id}
        addresses = self.list_shipping_addresses(order.id) if addressed else []
        destination_fields = [f.name for f in dataclass_fields(ShippingDestination)]
        shipping = tuple(
            ShippingConsignment(
                **{name: getattr(a, name) for name in destination_fields},
                line_items=tuple(li for li in lines if li.order_address_id == a.id),
                truncated=False,
            )
            for a in addresses
        )
        missing = addressed - {a.id for a in addresses}
        if missing:
            raise ApiBadResponse(f"order {order.id}: lines ship to address(es) {sorted(missing)} it does not list")
        pickup_ids = sorted({li.order_pickup_method_id for li in lines if li.order_pickup_method_id})
        pickups = tuple(
            PickupConsignment(
                id=pickup_id,
                line_items=tuple(li for li in lines if li.order_pickup_method_id == pickup_id),
                location=None,
            )
            for pickup_id in pickup_ids
        )
        placed = {li.id for c in (*shipping, *pickups) for li in c.line_items or ()}
        other = tuple(li for li in lines if li.id not in placed)
        return replace(
            order,
            consignments=Consignments(shipping=shipping, pickups=pickups, other_line_items=other, truncated=False),
        )

    # ------------------------------------------------------------ internals: paging

    def _iter_v2(self, path: str, params: Mapping | None = None) -> Iterator[Any]:
        """Rows of a V2 list, page after page, until a short page or 204 (V2 has no paging metadata)."""
        for page in range(1, self.MAX_PAGES + 1):
            rows = self._get(path, params={**(params or {}), "page": page, "limit": self.PAGE_LIMIT}, expect=list)
            yield from rows or ()
            if not rows or len(rows) < self.PAGE_LIMIT:
                return
        raise ApiBadResponse(f"{path} did not end after {self.MAX_PAGES} pages")

    def _iter_v3(
        self, path: str, params: Mapping | None = None, *, limit: int = PAGE_LIMIT, paged: bool = True
    ) -> Iterator[Any]:
        """Rows of a V3 collection, following `meta.pagination` (endpoints without paging: one call)."""
        for page in range(1, self.MAX_PAGES + 1):
            query = {**(params or {}), "page": page, "limit": limit} if paged else params
            body = self._get(path, params=query, expect=dict)
            if body is None:  # 204: nothing there
                return
            rows = body.get("data")
            if not isinstance(rows, list):
                raise ApiBadResponse(f"{path}: expected a list under 'data'")
            yield from rows
            pagination = (body.get("meta") or {}).get("pagination") or {}
            if not paged or not rows or int(pagination.get("total_pages") or 1) <= page:
                return
        raise ApiBadResponse(f"{path} did not end after {self.MAX_PAGES} pages")

    # ------------------------------------------------------------ internals: HTTP

    def _get(self, path: str, *, params: Mapping | None = None, expect: type = dict) -> Any:
        return self._send("GET", path, params=params, expect=expect)

    def _send(
        self, method: str, path: str, *, params: Mapping | None = None, body: Any = None, expect: type | None = None
    ) -> Any:
        """One API call (with the quota and 429 handling); the decoded JSON, or None for a 204."""
        response = self._request(method, path, params=params, body=body)
        if response.status_code == 204:
            return None
        if not response.content:
            raise ApiBadResponse(
                f"{method} {path}: empty body with HTTP {response.status_code}", status=response.status_code
            )
        try:
            data = JSON_DECODER.decode(response.content)
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise ApiBadResponse(
                f"{method} {path}: response is not JSON ({kind})", status=response.status_code
            ) from None
        if b"\\u0000" in response.content:
            data = _without_nul(data)
        if expect is not None and not isinstance(data, expect):
            raise ApiBadResponse(
                f"{method} {path}: expected a JSON {expect.__name__}, got {type(data).__name__}",
                status=response.status_code,
            )
        return data

    def _request(self, method: str, path: str, *, params: Mapping | None, body: Any) -> requests.Response:
        url = f"{self.base_url}/stores/{self.store_hash}{path}"
        query = _encode_params(params)
        payload = None if body is None else json.dumps(body, default=_json_default, ensure_ascii=False).encode()
        for attempt in range(1, self.RATE_LIMIT_ATTEMPTS + 1):
            ticket = self.rate_limiter.acquire(self.priority)
            started = time.monotonic()
            try:
                response = self.session.request(method, url, params=query, data=payload, timeout=self.timeout)
            except requests.RequestException as exc:
                self.rate_limiter.observe(ticket, None, status=None)
                self._log(method, path, None, started, None)
                raise self._scrubbed(ApiUnavailable(f"{method} {path}: {_describe_failure(exc)}")) from None
            headers = RateLimitHeaders.from_headers(response.headers)
            self.rate_limiter.observe(ticket, headers, status=response.status_code)
            self._log(method, path, response.status_code, started, headers)
            if response.status_code == 429:
                wait = self.rate_limiter.rate_limited(headers)
                if attempt < self.RATE_LIMIT_ATTEMPTS:
                    continue
                raise self._scrubbed(
                    ApiRateLimited(f"{method} {path}: still rate limited after {attempt} attempts", reset_seconds=wait)
                )
            if response.status_code >= 400:
                raise self._scrubbed(ApiError.from_response(response))
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _log(self, method: str, path: str, status: int | None, started: float, headers: RateLimitHeaders | None):
        seconds = time.monotonic() - started
        duration_ms = round(seconds * 1000)
        left = headers.requests_left if headers else None
        bigcommerce_call_observe(
            store=self.store_hash, method=method, path=path, status=status, seconds=seconds, headers=headers
        )
        logger.info(
            "bigcommerce %s %s %s %d ms left=%s",
            method,
            path,
            status if status is not None else "failed",
            duration_ms,
            left if left is not None else "-",
            extra={
                "bc_store": self.store_hash,
                "bc_method": method,
                "bc_path": path,
                "bc_status": status,
                "bc_duration_ms": duration_ms,
                "bc_requests_left": left,
            },
        )

    def _scrubbed(self, exc: ApiError) -> ApiError:
        """The exception with the access token masked, in case a server or library echoed it."""
        return _masked(exc, self._token)

    def _parse(self, cls, data: Any, **kwargs):
        try:
            return cls.from_api(data, **kwargs)
        except ApiError:
            raise
        except (TypeError, ValueError, AttributeError, KeyError) as exc:
            raise ApiBadResponse(f"{cls.__name__}: unexpected shape ({exc.__class__.__name__})") from None

    @staticmethod
    def _data(body: Any) -> Any:
        """The `data` member of a V3 single-object envelope."""
        if not isinstance(body, Mapping) or not isinstance(body.get("data"), Mapping):
            raise ApiBadResponse("expected a V3 envelope with an object under 'data'")
        return body["data"]


# ---------------------------------------------------------------- the login host (single-click app install)


def oauth_token_exchange(*, code: str, scope: str, context: str, redirect_uri: str) -> AppToken:
    """Exchange an app install's auth code for the store's token (`POST {BIGCOMMERCE_LOGIN_URL}/oauth2/token`).

    One call, form-encoded (as BigCommerce's own Python client sends it), with the client id and secret from
    settings. Failures raise the typed `ApiError`s; the code, the secret and the token are never logged and are
    masked in anything raised.
    """
    url = settings.BIGCOMMERCE_LOGIN_URL.rstrip("/") + "/oauth2/token"
    secret = settings.BIGCOMMERCE_CLIENT_SECRET
    form = {
        "client_id": settings.BIGCOMMERCE_CLIENT_ID,
        "client_secret": secret,
        "code": code,
        "scope": scope,
        "context": context,
        "grant_type": "authorization_code",
        "redirect_uri": redirect_uri,
    }
    started = time.monotonic()
    status = None
    try:
        with requests.Session() as session:
            response = session.post(
                url,
                data=form,
                headers={"Accept": "application/json", "User-Agent": USER_AGENT},
                timeout=tuple(settings.BIGCOMMERCE_TIMEOUT),
                allow_redirects=False,
            )
        status = response.status_code
    except requests.RequestException as exc:
        raise ApiUnavailable(f"POST /oauth2/token: {_describe_failure(exc)}") from None
    finally:
        logger.info(
            "bigcommerce login POST /oauth2/token %s %d ms",
            status if status is not None else "failed",
            round((time.monotonic() - started) * 1000),
        )
    if status >= 400:
        raise _masked(ApiError.from_response(response), code, secret)
    if status != 200:
        raise ApiBadResponse(f"POST /oauth2/token: unexpected HTTP {status}", status=status)
    try:
        data = json.loads(response.content)
    except ValueError:
        raise ApiBadResponse("POST /oauth2/token: response is not JSON", status=status) from None
    try:
        return AppToken.from_api(data)
    except ApiError as exc:
        raise _masked(exc, code, secret) from None


# ---------------------------------------------------------------- helpers


def _masked(exc: ApiError, *secrets: str) -> ApiError:
    """`exc` with each secret masked, in case a server or library echoed it."""
    for secret in filter(None, secrets):
        if secret in exc.detail or any(secret in str(a) for a in exc.args):
            exc.detail = exc.detail.replace(secret, "***")
            exc.args = tuple(str(a).replace(secret, "***") for a in exc.args)
    return exc


_CLIENT_CACHE: OrderedDict[tuple, BigCommerceClient] = OrderedDict()
_CLIENT_CACHE_SIZE = 256
_CACHE_LOCK = threading.Lock()


def _new_session(access_token: str) -> requests.Session:
    session = requests.Session()
    # No urllib3 retries: 429s are handled with the shared limiter, everything else is the job's decision.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=10, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update(
        {
            "X-Auth-Token": access_token,
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
    )
    return session


def _order_filters(filters: Mapping[str, Any], *, allow_sort: bool = False) -> dict[str, Any]:
    allowed = ORDER_FILTERS | ({"sort"} if allow_sort else set())
    unknown = set(filters) - allowed
    if unknown:
        raise TypeError(f"unknown BigCommerce order filter(s): {', '.join(sorted(unknown))}")
    return {k: v for k, v in filters.items() if v is not None}


def _encode_params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Query values as BigCommerce reads them: lists comma-joined, booleans lower-case, dates ISO 8601."""
    if not params:
        return None
    encoded = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            encoded[name] = "true" if value else "false"
        elif isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"{name}: naive datetime; BigCommerce dates need a time zone")
            encoded[name] = value.isoformat(timespec="seconds")
        elif isinstance(value, list | tuple | set | frozenset):
            encoded[name] = ",".join(str(v) for v in value)
        else:
            encoded[name] = str(value)
    return encoded


def _json_default(value: Any) -> Any:
    # JSON numbers in request bodies (prices): a Decimal's shortest float form reads back as the same decimal.
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot send {type(value).__name__} to BigCommerce")


def _without_nul(value: Any) -> Any:
    """`value` with every U+0000 removed from its strings: PostgreSQL text cannot hold one, and a customer's
    message or a product name that carries one must not stop the order from syncing."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    return value


def _describe_failure(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed (refused, dropped or DNS)"
    return exc.__class__.__name__


def _chunks(values: list, size: int) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _one_selector(**selectors: Iterable | None) -> tuple[str, list]:
    given = {k: list(dict.fromkeys(v)) for k, v in selectors.items() if v is not None}
    if len(given) != 1:
        raise TypeError(f"pass exactly one of: {', '.join(selectors)}")
    ((key, values),) = given.items()
    return key, values
