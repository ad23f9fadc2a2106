"""The sandbox store's state and every change that can happen to it.

`SandboxStore` holds one BigCommerce store in memory: settings, catalog, customers, inventory, orders (packed,
see `records`), refunds, shipments, hooks, and the machinery around them (request log, faults, quota window,
webhook deliverer, app auth). Changes go through its methods, which take the store's lock, bump `version`
(invalidating cached order queries), and emit the webhooks BigCommerce would send.

Tests arrange data through these methods (the `sandbox.store` handle); the control endpoints under
`/__sandbox__/` call the same methods over HTTP.
"""

from __future__ import annotations

import hashlib
import pickle
import random
import sys
import threading
import time
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from sandbox.amounts import line_unit_inc, order_totals
from sandbox.auth import AppAuth
from sandbox.catalog import (
    COUPONS,
    DELETED_PRODUCT_INDEXES,
    FIRST_PRODUCT_ID,
    LOCATIONS,
    PAYMENT_METHODS,
    STATUSES,
    build_addresses,
    build_catalog,
    build_customers,
)
from sandbox.faults import FaultInjector
from sandbox.generator import OrderGenerator
from sandbox.records import (
    ARCHIVED,
    AUTH_CAPTURED,
    AUTH_HELD,
    AUTH_VOIDED,
    FIELD_AT,
    PICKUP,
    RATE_UNITS,
    HookRecord,
    LineRecord,
    OrderRecord,
    ProductRecord,
    RefundRecord,
    ShipmentRecord,
    VariantRecord,
    split_tax,
    to_rate_units,
    to_units,
)
from sandbox.requestlog import RequestLog
from sandbox.webhooks import WebhookDeliverer

# Statuses in which BigCommerce considers the goods sent (a shipment moves an order there).
SHIPPED, PARTIALLY_SHIPPED, REFUNDED, PARTIALLY_REFUNDED, CANCELLED = 2, 3, 4, 14, 5
# status id -> weight of the orders a live store's checkout places (`simulate_activity`): Awaiting Fulfillment,
# Awaiting Payment, Awaiting Pickup, Pending and Incomplete. Cancellations and refunds come later, if at all.
CHECKOUT_STATUSES = {11: 70, 7: 12, 8: 6, 1: 7, 0: 5}
ORDER_SORT_FIELDS = {"id", "customer_id", "date_created", "date_modified", "status_id", "channel_id", "external_id"}
# The filters BigCommerce documents for GET /v2/orders and /v2/orders/count (others are ignored, as there).
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


class SandboxError(Exception):
    """A request the store refuses: becomes BigCommerce's V2 or V3 error body with `status`."""

    def __init__(self, status: int, message: str, errors: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or {}


@dataclass
class StoreSettings:
    """One sandbox store. Empty identity fields are derived from the seed, so a seed always gives one store."""

    seed: int = 1
    store_hash: str = ""
    access_token: str = ""
    store_id: int = 0
    name: str = "Sandbox Outdoor Store"
    currency: str = "USD"
    tax_rate_bp: int = 1000  # 10 %
    tax_inclusive: bool = False  # prices entered with tax (new orders follow; a few old ones did not)
    client_id: str = ""
    client_secret: str = ""
    quota: int = 10_000  # requests per window (BigCommerce Standard: 150 per 30 s)
    window_ms: int = 30_000
    customers: int = 200
    plan_name: str = "Standard"
    locations: int = 2  # inventory locations (1 to 2): location 1 is the default

    def __post_init__(self):
        digest = hashlib.sha256(f"bigcommerce-sandbox:{self.seed}".encode()).hexdigest()
        self.store_hash = self.store_hash or f"sbx{digest[:7]}"
        self.access_token = self.access_token or f"sandbox-token-{digest[8:40]}"
        self.store_id = self.store_id or 1_000_000 + int(digest[40:46], 16) % 9_000_000
        self.client_id = self.client_id or f"sandbox-client-{digest[46:56]}"
        self.client_secret = self.client_secret or f"sandbox-secret-{digest[:48]}"


class QuotaWindow:
    """The store's request quota in fixed windows: BigCommerce refreshes it every `window_ms`."""

    def __init__(self, quota: int, window_ms: int):
        self._lock = threading.Lock()
        self.configure(quota, window_ms)

    def configure(self, quota: int, window_ms: int) -> None:
        if quota < 1 or window_ms < 1:
            raise SandboxError(400, "quota and window_ms must be positive")
        with self._lock:
            self.quota, self.window_ms = quota, window_ms
            self._origin = time.monotonic()
            self._window, self._used = -1, 0
            self.refused = 0  # requests refused because the window's quota was spent (not injected 429s)

    def take(self) -> tuple[bool, int, int]:
        """(allowed, requests left, ms until the reset) for one request; a refused request is not counted."""
        with self._lock:
            elapsed_ms = (time.monotonic() - self._origin) * 1000
            window = int(elapsed_ms // self.window_ms)
            if window != self._window:
                self._window, self._used = window, 0
            reset_ms = max(1, int((window + 1) * self.window_ms - elapsed_ms))
            if self._used >= self.quota:
                self.refused += 1
                return False, 0, reset_ms
            self._used += 1
            return True, self.quota - self._used, reset_ms


@dataclass
class _QueryCache:
    version: int = -1
    results: dict = field(default_factory=dict)


class SandboxStore:
    """One BigCommerce store in memory. Every public method is thread-safe."""

    FIRST_ORDER_ID = 100
    FIRST_LINE_ID = 1000
    HISTORY_DAYS = 90

    def __init__(self, settings: StoreSettings | None = None, *, orders: int = 0, now: int | None = None):
        self.settings = settings or StoreSettings()
        self.lock = threading.RLock()
        self.request_log = RequestLog()
        self.faults = FaultInjector()
        self.quota = QuotaWindow(self.settings.quota, self.settings.window_ms)
        self.webhooks = WebhookDeliverer(self)
        self.auth = AppAuth(
            store_hash=self.settings.store_hash,
            access_token=self.settings.access_token,
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
        )
        self.token_revoked = False
        self.clock = time.time
        # Bad data BigCommerce could send for an order (drills): order id -> function changing the rendered JSON.
        self.order_patches: dict = {}
        self._build(orders, int(now or self.clock()))

    # ------------------------------------------------------------ building

    def _build(self, orders: int, now: int) -> None:
        rng = random.Random(self.settings.seed)
        catalog_created = now - (self.HISTORY_DAYS + 30) * 86_400
        self.addresses = build_addresses(rng)
        self.products = {p.id: p for p in build_catalog(catalog_created)}
        self.variants = {v.id: v for p in self.products.values() for v in p.variants}
        self.customers = {c.id: c for c in build_customers(rng, self.settings.customers, now)}
        self.locations = LOCATIONS[: self.settings.locations]
        self.inventory = {(1, v.id): rng.randint(0, 60) for v in self.variants.values()}
        self.texts: list[str] = [""]
        self._text_index = {"": 0}
        self._orders: list[array] = []
        self.refunds: dict[int, list[RefundRecord]] = {}
        self.shipments: dict[int, list[ShipmentRecord]] = {}
        self.hooks: dict[int, HookRecord] = {}
        self._line_ids = iter(range(self.FIRST_LINE_ID, 1 << 62))
        self._next = Counter({"refund": 1, "shipment": 1, "hook": 18_048_280})
        self.version = 0
        self._cache = _QueryCache()
        deleted_later = {FIRST_PRODUCT_ID + i for i in DELETED_PRODUCT_INDEXES}
        generator = self._generator(deleted_later)
        start = now - self.HISTORY_DAYS * 86_400
        for index in range(orders):
            created = start + index * (self.HISTORY_DAYS * 86_400 - 3600) // max(orders, 1)
            self._add_generated(generator, index, created, emit=False)
        for product_id in deleted_later:
            self.products[product_id].deleted = True
            self.products[product_id].modified = now - 86_400
        self._generator_now = self._generator(set())

    def _generator(self, deleted_later: set[int]) -> OrderGenerator:
        return OrderGenerator(
            seed=self.settings.seed,
            products=list(self.products.values()),
            deleted_later=deleted_later,
            customer_ids=sorted(self.customers),
            customer_address=lambda cid: self.customers[cid].address,
            address_count=len(self.addresses),
            tax_inclusive=self.settings.tax_inclusive,
        )

    def _add_generated(
        self,
        generator: OrderGenerator,
        index: int,
        created: int,
        *,
        emit: bool,
        currency: str = "",
        exchange_rate=None,
        **overrides,
    ):
        order_id = self.FIRST_ORDER_ID + len(self._orders)
        generated = generator.make(
            index,
            order_id=order_id,
            created=created,
            modified=created,
            next_line_id=lambda: next(self._line_ids),
            **overrides,
        )
        record = generated.record
        if currency:
            record.currency, record.rate = self.intern(str(currency).upper()), to_rate_units(exchange_rate or 0)
        if emit:
            # Placed now: whatever the generator implied happened later did not happen yet.
            record.modified = max(record.modified, created)
        record.message = self.intern(generated.message)
        record.staff_notes = self.intern(generated.staff_notes)
        self._orders.append(record.pack())
        if generated.refund:
            self._refund(record, full=generated.refund == "full", at=record.modified, emit=False)
        self.version += 1
        if emit:
            self.webhooks.emit("store/order/created", {"type": "order", "id": order_id}, resource_id=order_id)
        return record

    def intern(self, text: str) -> int:
        """The index of `text` in the shared text pool (messages, staff notes)."""
        index = self._text_index.get(text)
        if index is None:
            index = self._text_index[text] = len(self.texts)
            self.texts.append(text)
        return index

    # ------------------------------------------------------------ keeping the state across restarts

    STATE_FIELDS = (
        "addresses",
        "products",
        "variants",
        "customers",
        "locations",
        "inventory",
        "texts",
        "_text_index",
        "_orders",
        "refunds",
        "shipments",
        "hooks",
        "_next",
    )

    def save(self, path) -> None:
        """Write the store (catalog, stock, orders, refunds, shipments, hooks, numbering) to `path`, atomically:
        a store started again with `load` goes on where this one stopped, so its order numbers never restart."""
        from pathlib import Path

        path = Path(path)
        with self.lock:
            state = {name: getattr(self, name) for name in self.STATE_FIELDS}
            state |= {"seed": self.settings.seed, "next_line_id": next(self._line_ids)}
            self._line_ids = iter(range(state["next_line_id"], 1 << 62))
            data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        partial = path.with_name(path.name + ".tmp")
        partial.write_bytes(data)
        partial.replace(path)

    def load(self, path) -> bool:
        """Take over the state `save` wrote to `path` (a file this sandbox wrote itself: it is unpickled).
        False, and the store left as it is, when there is no such file or it is of another seed."""
        from pathlib import Path

        path = Path(path)
        if not path.exists():
            return False
        state = pickle.loads(path.read_bytes())  # noqa: S301 - our own file under var/, never received
        if state.get("seed") != self.settings.seed:
            return False
        with self.lock:
            for name in self.STATE_FIELDS:
                setattr(self, name, state[name])
            self._line_ids = iter(range(state["next_line_id"], 1 << 62))
            self.version += 1
            self._generator_now = self._generator(set())
        return True

    def reset(self, *, orders: int = 0) -> None:
        """Back to a fresh store of the same seed: data, hooks, faults, request log, quota."""
        with self.lock:
            self.webhooks.clear()
            self.faults.clear()
            self.request_log.clear()
            self.quota.configure(self.settings.quota, self.settings.window_ms)
            self.token_revoked = False
            self.order_patches.clear()
            self._build(orders, int(self.clock()))

    # ------------------------------------------------------------ reading

    def order(self, order_id: int) -> OrderRecord:
        """The order, unpacked (a copy: change it through the store's methods). KeyError when unknown."""
        index = int(order_id) - self.FIRST_ORDER_ID
        if index < 0 or index >= len(self._orders):
            raise KeyError(order_id)
        return OrderRecord.unpack(self._orders[index])

    def order_count(self) -> int:
        return len(self._orders)

    def totals(self, record: OrderRecord):
        return order_totals(record, self.settings.tax_rate_bp)

    def payment_method(self, record: OrderRecord):
        return PAYMENT_METHODS[record.payment]

    def order_currency(self, record: OrderRecord) -> str:
        """The order's transactional currency: the store's own unless the shopper paid in another."""
        return self.texts[record.currency] if record.currency else self.settings.currency

    def order_rate(self, record: OrderRecord) -> int:
        """Store default → transactional currency rate (RATE_UNITS); 1 for the store's own currency."""
        return record.rate if record.currency else RATE_UNITS

    def coupon_code(self, record: OrderRecord) -> str | None:
        return COUPONS[record.coupon] if record.coupon >= 0 else None

    def cart_id(self, order_id: int) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bigcommerce-sandbox:{self.settings.seed}:{order_id}"))

    def refunded_units(self, order_id: int) -> int:
        return sum(r.amount for r in self.refunds.get(order_id, ()))

    def memory_estimate(self) -> int:
        """Bytes held by the packed orders (arrays and the list holding them)."""
        return sys.getsizeof(self._orders) + sum(sys.getsizeof(a) for a in self._orders)

    def patch_order(self, order_id: int, patch) -> None:
        """Serve order `order_id` changed by `patch(body)` (it edits the rendered JSON in place): for drills
        with data the generator never makes (unknown status ids, odd amounts, negative quantities...). The patch
        sees the order (`GET /v2/orders/{id}`, lists) and, with `products=True`, the list of its products."""
        self.order_patches[int(order_id)] = patch

    def patched(self, order_id: int, body, *, products: bool = False):
        patch = self.order_patches.get(int(order_id))
        if patch is not None:
            patch(body, products=products)
        return body

    # ------------------------------------------------------------ orders: queries

    def query_orders(self, filters: dict[str, str], sort: str | None = None) -> array:
        """Ids of the orders a `GET /v2/orders` matches, sorted; cached until the store changes."""
        key = (tuple(sorted(filters.items())), sort or "id")
        with self.lock:
            if self._cache.version != self.version:
                self._cache = _QueryCache(self.version)
            cached = self._cache.results.get(key)
            if cached is None:
                if len(self._cache.results) > 32:
                    self._cache.results.clear()
                cached = self._cache.results[key] = self._run_query(filters, sort)
            return cached

    def count_by_status(self, filters: dict[str, str]) -> Counter:
        ids = self.query_orders(filters)
        status_at = FIELD_AT["status_id"]
        return Counter(self._orders[i - self.FIRST_ORDER_ID][status_at] for i in ids)

    def _run_query(self, filters: dict[str, str], sort: str | None) -> array:
        checks = [_order_filter(name, value, self) for name, value in filters.items()]
        flags_at = FIELD_AT["flags"]
        matched = [p for p in self._orders if not p[flags_at] & ARCHIVED and all(check(p) for check in checks)]
        field_name, _, direction = (sort or "id").partition(":")
        if field_name not in ORDER_SORT_FIELDS or direction not in ("", "asc", "desc"):
            raise SandboxError(400, f"The field '{sort}' is not a valid sort option.")
        position = FIELD_AT.get({"date_created": "created", "date_modified": "modified"}.get(field_name, field_name))
        if position is not None:
            matched.sort(key=lambda p: (p[position], p[0]), reverse=direction == "desc")
        elif direction == "desc":
            matched.reverse()
        return array("q", (p[0] for p in matched))

    # ------------------------------------------------------------ orders: changes

    def place_order(self, *, created: int | None = None, **overrides) -> OrderRecord:
        """Place one order now (or at `created`), as a shopper would; emits `store/order/created`.

        `overrides` pick the case: `status_id`, `guest`, `customer_id`, `lines` (count), `pickup`, `coupon`,
        `discount`, `wrapping`, `handling`, `shipping` (units), `two_addresses`, `no_sku`, `tax_flip`,
        `store_credit` and `gift_certificate` (units paid that way), `authorized` (payment not captured yet), `fee`
        (units of an order fee), `currency` and `exchange_rate` (the shopper paid in another currency at this rate
        from the store's: "0.92" or 0; amounts are then that currency's), `pickup_location` (2: a pickup collected
        at the second location), `without_consignments` (its answers carry no `consignments`, even when asked).
        """
        with self.lock:
            index = len(self._orders)
            return self._add_generated(self._generator_now, index, int(created or self.clock()), emit=True, **overrides)

    def place_orders(self, count: int, **overrides) -> list[int]:
        return [self.place_order(**overrides).id for _ in range(count)]

    def _save(self, record: OrderRecord) -> None:
        self._orders[record.id - self.FIRST_ORDER_ID] = record.pack()
        self.version += 1

    def _touch(self, record: OrderRecord) -> None:
        record.modified = max(record.modified, int(self.clock()))

    def set_status(self, order_id: int, status_id: int, *, emit: bool = True) -> OrderRecord:
        """Move an order to a status (control panel or `PUT /v2/orders/{id}`); emits updated + statusUpdated."""
        if int(status_id) not in STATUSES:
            raise SandboxError(400, f"The status id {status_id} is not valid.", {"status_id": "invalid"})
        with self.lock:
            record = self._existing(order_id)
            previous = record.status_id
            record.status_id = int(status_id)
            if record.status_id in (SHIPPED, 10) and not record.pickup:
                for line in record.lines:
                    line.shipped = line.quantity
                record.shipped_at = record.shipped_at or int(self.clock())
            self._touch(record)
            self._save(record)
            if emit:
                self._emit_order_change(record, previous)
            return record

    def cancel_order(self, order_id: int) -> OrderRecord:
        return self.set_status(order_id, CANCELLED)

    def edit_order(
        self,
        order_id: int,
        *,
        line_id: int | None = None,
        quantity: int | None = None,
        add_variant_id: int | None = None,
        note: str = "Edited in the control panel",
    ) -> OrderRecord:
        """Edit an order after checkout: set a line's quantity (0 removes it) or add a variant; emits updated.

        Without arguments, the first line's quantity goes up by one (or a line is added to an empty order).
        """
        with self.lock:
            record = self._existing(order_id)
            if add_variant_id is not None or not record.lines:
                live = self.live_products()[0].variants[0].id
                variant = self.variants.get(int(add_variant_id if add_variant_id is not None else live))
                if variant is None or self.products[variant.product_id].deleted:
                    raise SandboxError(400, f"Variant {add_variant_id} is not in the catalog.")
                price = variant.price if variant.price is not None else self.products[variant.product_id].price
                record.lines.append(
                    LineRecord(next(self._line_ids), variant.product_id, variant.id, quantity or 1, price)
                )
            else:
                line = next((li for li in record.lines if line_id in (None, li.id)), None)
                if line is None:
                    raise SandboxError(400, f"Order {order_id} has no line {line_id}.")
                line.quantity = line.quantity + 1 if quantity is None else int(quantity)
                if line.quantity <= 0:
                    record.lines.remove(line)
            record.staff_notes = self.intern(note)
            self._touch(record)
            self._save(record)
            self.webhooks.emit("store/order/updated", {"type": "order", "id": record.id}, resource_id=record.id)
            return record

    def archive_order(self, order_id: int) -> OrderRecord:
        """`DELETE /v2/orders/{id}` (archive): `is_deleted` becomes true; emits `store/order/archived`."""
        with self.lock:
            record = self._existing(order_id)
            record.flags |= ARCHIVED
            self._touch(record)
            self._save(record)
            self.webhooks.emit("store/order/archived", {"type": "order", "id": record.id}, resource_id=record.id)
            return record

    def refund_order(
        self,
        order_id: int,
        *,
        full: bool = False,
        lines: list[tuple[int, int]] | None = None,
        amount=None,
        reason: str = "Customer requested a refund",
    ) -> RefundRecord:
        """Refund an order in full, some lines `[(line_id, quantity)]`, or an `amount`; default one unit of the
        first line. Moves the order to Refunded or Partially Refunded; emits refund/created and the status change.
        """
        with self.lock:
            record = self._existing(order_id)
            previous = record.status_id
            refund = self._refund(
                record, full=full, lines=lines, amount=amount, at=int(self.clock()), reason=reason, emit=True
            )
            self._emit_order_change(record, previous)
            return refund

    def _refund(
        self,
        record: OrderRecord,
        *,
        full: bool = False,
        lines: list[tuple[int, int]] | None = None,
        amount=None,
        at: int,
        reason: str = "Customer requested a refund",
        emit: bool,
    ) -> RefundRecord:
        rate, inclusive = self.settings.tax_rate_bp, record.tax_inclusive
        total = self.totals(record).total.inc
        already = self.refunded_units(record.id)
        items: list[tuple[str, int, int | None, int | None]] = []
        if full:
            value = total - already
            for line in record.lines:
                if line.quantity - line.refunded > 0:
                    items.append(("PRODUCT", line.id, line.quantity - line.refunded, None))
                    line.refunded = line.quantity
        elif amount is not None:
            value = min(to_units(amount), total - already)
            items.append(("ORDER", record.id, None, value))
        else:
            wanted = lines or [(li.id, 1) for li in record.lines if li.quantity > li.refunded][:1]
            value = 0
            for line_id, quantity in wanted:
                line = next((li for li in record.lines if li.id == int(line_id)), None)
                if line is None or int(quantity) < 1 or line.refunded + int(quantity) > line.quantity:
                    raise SandboxError(422, f"Line {line_id} of order {record.id} cannot be refunded {quantity} more.")
                line.refunded += int(quantity)
                value += line_unit_inc(line, inclusive, rate) * int(quantity)
                items.append(("PRODUCT", line.id, int(quantity), None))
            value = min(value, total - already)
        if value <= 0:
            raise SandboxError(422, f"Order {record.id} has nothing left to refund.")
        method = self.payment_method(record)
        refund = RefundRecord(
            id=self._next["refund"],
            order_id=record.id,
            created=at,
            reason=reason,
            amount=value,
            tax=split_tax(value, True, rate)[2],
            items=tuple(items),
            provider_id=method.gateway,
            offline=method.method == "offline",
        )
        self._next["refund"] += 1
        self.refunds.setdefault(record.id, []).append(refund)
        record.status_id = REFUNDED if already + value >= total else PARTIALLY_REFUNDED
        record.modified = max(record.modified, at)
        self._save(record)
        if emit:
            data = {"type": "order", "id": record.id, "refund": {"refund_id": refund.id}}
            self.webhooks.emit("store/order/refund/created", data, resource_id=record.id)
        return refund

    def create_shipment(
        self,
        order_id: int,
        *,
        order_address_id: int,
        items: list[tuple[int, int]],
        tracking_number: str = "",
        tracking_carrier: str = "",
        shipping_provider: str = "",
        comments: str = "",
    ) -> ShipmentRecord:
        """`POST /v2/orders/{id}/shipments`: ship lines of one address; the order becomes (Partially) Shipped."""
        with self.lock:
            record = self._existing(order_id)
            slots = {address_id(record.id, slot): slot for slot in shipping_slots(record)}
            if int(order_address_id) not in slots:
                raise SandboxError(400, f"The order address id {order_address_id} is not valid for this order.")
            shipped = []
            for order_product_id, quantity in items:
                line = next((li for li in record.lines if li.id == int(order_product_id)), None)
                if line is None or line.slot != slots[int(order_address_id)]:
                    raise SandboxError(400, f"The order product id {order_product_id} is not valid for this address.")
                if int(quantity) < 1 or line.shipped + int(quantity) > line.quantity:
                    raise SandboxError(400, f"Quantity {quantity} exceeds what is left to ship of {order_product_id}.")
                line.shipped += int(quantity)
                shipped.append((line.id, line.product_id, int(quantity)))
            if not shipped:
                raise SandboxError(400, "A shipment needs at least one item.")
            previous = record.status_id
            everything = all(li.shipped >= li.quantity for li in record.lines)
            record.status_id = SHIPPED if everything else PARTIALLY_SHIPPED
            if everything:
                record.shipped_at = int(self.clock())
            self._touch(record)
            self._save(record)
            shipment = ShipmentRecord(
                id=self._next["shipment"],
                order_id=record.id,
                order_address_id=int(order_address_id),
                created=int(self.clock()),
                tracking_number=tracking_number,
                tracking_carrier=tracking_carrier,
                shipping_provider=shipping_provider,
                comments=comments,
                items=tuple(shipped),
            )
            self._next["shipment"] += 1
            self.shipments.setdefault(record.id, []).append(shipment)
            data = {"type": "shipment", "id": shipment.id, "orderId": record.id}
            self.webhooks.emit("store/shipment/created", data, resource_id=record.id)
            self._emit_order_change(record, previous)
            return shipment

    def capture_payment(self, order_id: int) -> OrderRecord:
        """The merchant captures an authorised payment (control panel, or the V3 capture endpoint): a capture
        transaction, the order's `payment_status` `captured`; emits `store/order/transaction/created` and
        `store/order/updated`."""
        return self._settle_authorisation(order_id, AUTH_CAPTURED, "capture", "captured")

    def void_payment(self, order_id: int) -> OrderRecord:
        """The merchant voids an authorised payment (the V3 void endpoint): a void transaction, the order's
        `payment_status` `void`, its status unchanged; emits `store/order/transaction/created` and
        `store/order/updated`."""
        return self._settle_authorisation(order_id, AUTH_VOIDED, "void", "voided")

    def _settle_authorisation(self, order_id: int, state: int, kind: str, code: str) -> OrderRecord:
        with self.lock:
            record = self._existing(order_id)
            if record.authorized != AUTH_HELD:
                raise SandboxError(422, f"Order {order_id} has no authorised payment to {kind}.")
            record.authorized = state
            self._touch(record)
            self._save(record)
            transaction = {
                "type": "transaction",
                "order_id": str(record.id),
                "transaction_id": str(record.id * 100 + 2),
                "transaction_status": "complete",
                "transaction_type": kind,
                "result": {"code": code, "message": code.capitalize(), "type": "success"},
            }
            self.webhooks.emit("store/order/transaction/created", transaction, resource_id=record.id)
            self.webhooks.emit("store/order/updated", {"type": "order", "id": record.id}, resource_id=record.id)
            return record

    def ship_in_control_panel(
        self, order_id: int, *, lines: list[tuple[int, int]] | None = None, tracking_number: str = ""
    ) -> list[ShipmentRecord]:
        """A merchant ships from BigCommerce's control panel: the given `[(line_id, quantity)]`, or everything left
        to ship; one shipment per address, as `POST /v2/orders/{id}/shipments` makes them."""
        with self.lock:
            record = self._existing(order_id)
            wanted = lines or [(li.id, li.quantity - li.shipped) for li in record.lines if li.quantity > li.shipped]
            by_slot: dict[int, list[tuple[int, int]]] = {}
            for line_id, quantity in wanted:
                line = next((li for li in record.lines if li.id == int(line_id)), None)
                if line is None:
                    raise SandboxError(400, f"The order product id {line_id} is not valid for this order.")
                by_slot.setdefault(line.slot, []).append((line.id, quantity))
        return [
            self.create_shipment(
                order_id, order_address_id=address_id(order_id, slot), items=items, tracking_number=tracking_number
            )
            for slot, items in sorted(by_slot.items())
        ]

    def _existing(self, order_id: int) -> OrderRecord:
        try:
            return self.order(order_id)
        except (KeyError, ValueError):
            raise SandboxError(404, "The requested resource was not found.") from None

    def _emit_order_change(self, record: OrderRecord, previous_status: int) -> None:
        data = {"type": "order", "id": record.id}
        self.webhooks.emit("store/order/updated", data, resource_id=record.id)
        if record.status_id != previous_status:
            status = {"previous_status_id": previous_status, "new_status_id": record.status_id}
            self.webhooks.emit("store/order/statusUpdated", {**data, "status": status}, resource_id=record.id)

    def simulate_activity(self, rng: random.Random) -> list[int]:
        """A moment of a live store (the demo): a new order, in a status a checkout leaves it in, and now and then
        an older one moves on (paid, packed, shipped, collected, sometimes refunded)."""
        with self.lock:
            status = rng.choices(list(CHECKOUT_STATUSES), weights=list(CHECKOUT_STATUSES.values()))[0]
            touched = [self.place_order(status_id=status).id]
            recent = list(range(max(self.FIRST_ORDER_ID, touched[0] - 20), touched[0]))
            if recent and rng.random() < 0.4:
                order_id = rng.choice(recent)
                status = self.order(order_id).status_id
                following = {11: 9, 9: SHIPPED, 7: 11, 8: 10, 1: 11, 0: 7}.get(status)
                if following is not None:
                    self.set_status(order_id, following)
                    touched.append(order_id)
                elif status in (SHIPPED, 10) and rng.random() < 0.3:
                    self.refund_order(order_id)
                    touched.append(order_id)
            return touched

    # ------------------------------------------------------------ catalog and inventory

    def delete_product(self, product_id: int) -> None:
        """Delete a product from the catalog; order lines that sold it keep its name and SKU."""
        with self.lock:
            product = self.products.get(int(product_id))
            if product is None or product.deleted:
                raise SandboxError(404, f"Product {product_id} not found.")
            product.deleted = True
            product.modified = int(self.clock())

    def live_products(self) -> list:
        return [p for p in self.products.values() if not p.deleted]

    def add_products(self, count: int, *, price: str = "10.00") -> list:
        """Add `count` products without options (SKU `BULK-<id>`, no stock), as a large catalog; later orders may
        sell them too."""
        with self.lock:
            next_product = max(self.products) + 1
            next_variant = max(self.variants) + 1
            now = int(self.clock())
            added = []
            for k in range(count):
                product = ProductRecord(
                    id=next_product + k,
                    name=f"Bulk item {next_product + k}",
                    sku=f"BULK-{next_product + k}",
                    price=to_units(price),
                    cost_price=to_units(price) // 2,
                    brand="Local",
                    created=now,
                    modified=now,
                )
                product.variants.append(VariantRecord(next_variant + k, product.id, product.sku, None))
                self.products[product.id] = product
                self.variants[next_variant + k] = product.variants[0]
                self.inventory[(1, next_variant + k)] = 0
                added.append(product)
            self._generator_now = self._generator(set())
            self.version += 1
            return added

    def update_product(self, product_id: int, fields: dict):
        with self.lock:
            product = self.products.get(int(product_id))
            if product is None or product.deleted:
                raise SandboxError(404, "The requested product was not found.")
            for name, convert in (("price", to_units), ("cost_price", to_units), ("name", str), ("sku", str)):
                if name in fields and fields[name] is not None:
                    setattr(product, name, convert(fields[name]))
            product.modified = int(self.clock())
            return product

    def update_variant(self, product_id: int, variant_id: int, fields: dict):
        with self.lock:
            variant = self.variants.get(int(variant_id))
            if variant is None or variant.product_id != int(product_id) or self.products[variant.product_id].deleted:
                raise SandboxError(404, "The requested variant was not found.")
            if "price" in fields:
                variant.price = None if fields["price"] is None else to_units(fields["price"])
            if fields.get("sku") is not None:
                variant.sku = str(fields["sku"])
            self.products[variant.product_id].modified = int(self.clock())
            return variant

    def set_inventory_absolute(self, items: list[dict]) -> str:
        """`PUT /v3/inventory/adjustments/absolute`: all items or none (422 naming the first bad one)."""
        location_ids = {location[0] for location in self.locations}
        with self.lock:
            changes = []
            for item in items:
                if item.get("location_id") not in location_ids:
                    raise SandboxError(422, f"Location {item.get('location_id')} does not exist.")
                changes.append(((item["location_id"], self._variant_for(item)), int(item["quantity"])))
            for key, quantity in changes:
                self.inventory[key] = quantity
            return str(uuid.uuid4())

    def edit_inventory(self, location_id: int, variant_id: int, quantity: int) -> int:
        """A level edited in the control panel (not through the API: no request is logged, no webhook is sent,
        as the link subscribes to none for inventory)."""
        with self.lock:
            if location_id not in {location[0] for location in self.locations}:
                raise SandboxError(404, f"Location {location_id} does not exist.")
            variant = self.variants.get(variant_id)
            if variant is None or self.products[variant.product_id].deleted:
                raise SandboxError(404, f"Variant {variant_id} does not exist.")
            if quantity < 0:
                raise SandboxError(400, "The quantity cannot be negative.")
            self.inventory[(location_id, variant_id)] = quantity
            return quantity

    def _variant_for(self, item: dict) -> int:
        if "variant_id" in item:
            variant = self.variants.get(item["variant_id"])
            if variant is None or self.products[variant.product_id].deleted:
                raise SandboxError(422, f"[Item with variant_id {item['variant_id']} does not exist]")
            if not variant.options:
                raise SandboxError(
                    422, f"[Item with variant_id {variant.id} is tracked by product, please update stock by product id]"
                )
            return variant.id
        if "product_id" in item:
            product = self.products.get(item["product_id"])
            if product is None or product.deleted:
                raise SandboxError(422, f"[Item with product_id {item['product_id']} does not exist]")
            if product.has_options:
                raise SandboxError(422, f"[Item with product_id {product.id} is tracked by variant]")
            return product.variants[0].id
        sku = item.get("sku")
        for variant in self.variants.values():
            if sku and variant.sku == sku and not self.products[variant.product_id].deleted:
                return variant.id
        raise SandboxError(422, f"[Item with sku {sku} does not exist]")

    # ------------------------------------------------------------ hooks

    def create_hook(self, *, scope: str, destination: str, is_active: bool = True, headers: dict | None = None):
        errors = {
            name: "error.path.missing." for name, value in (("scope", scope), ("destination", destination)) if not value
        }
        if errors:
            raise SandboxError(422, "JSON data is missing or invalid", errors)
        if not scope.startswith("store/"):
            raise SandboxError(422, "JSON data is missing or invalid", {"scope": "error.scope.invalid."})
        with self.lock:
            if any(h.scope == scope and h.destination == destination for h in self.hooks.values()):
                raise SandboxError(422, "Hook already exists for this scope and destination", {"scope": "duplicate"})
            now = int(self.clock())
            hook = HookRecord(self._next["hook"], scope, destination, bool(is_active), dict(headers or {}), now, now)
            self._next["hook"] += 1
            self.hooks[hook.id] = hook
            return hook

    def update_hook(self, hook_id: int, fields: dict) -> HookRecord:
        with self.lock:
            hook = self.hooks.get(int(hook_id))
            if hook is None:
                raise SandboxError(404, f"Webhook with id [{hook_id}] not found")
            for name in ("scope", "destination", "is_active", "headers"):
                if name in fields:
                    setattr(hook, name, dict(fields[name] or {}) if name == "headers" else fields[name])
            hook.updated_at = int(self.clock())
            return hook

    def delete_hook(self, hook_id: int) -> HookRecord:
        with self.lock:
            hook = self.hooks.pop(int(hook_id), None)
            if hook is None:
                raise SandboxError(404, f"Webhook with id [{hook_id}] not found")
            return hook

    def deactivate_hook(self, hook_id: int) -> None:
        """What BigCommerce does after the last failed retry."""
        with self.lock:
            hook = self.hooks.get(hook_id)
            if hook is not None:
                hook.is_active = False
                hook.updated_at = int(self.clock())


# ---------------------------------------------------------------- helpers shared with the renderer


def address_id(order_id: int, slot: int) -> int:
    """The id of an order's shipping address (and shipping consignment) in `slot` (0 or 1)."""
    return order_id * 4 + slot


def pickup_id(order_id: int) -> int:
    return order_id * 4 + 2


def shipping_slots(record: OrderRecord) -> list[int]:
    if record.flags & PICKUP:
        return []
    return [0, 1] if record.ship_address2 >= 0 else [0]


def parse_date(value: str) -> int:
    """A V2 date filter (RFC 2822 or ISO 8601) as UNIX seconds."""
    from datetime import UTC, datetime

    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text) if text[:1].isdigit() else parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError):
        raise SandboxError(400, f"The date '{value}' is not a valid RFC 2822 or ISO 8601 date.") from None
    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp())


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SandboxError(400, f"The filter '{name}' must be an integer.") from None


def _order_filter(name: str, value: str, store: SandboxStore):
    """A predicate on a packed order for one `GET /v2/orders` filter."""
    header = {
        "min_id": "id",
        "max_id": "id",
        "customer_id": "customer_id",
        "status_id": "status_id",
        "channel_id": "channel_id",
    }
    if name in header:
        position, wanted = FIELD_AT[header[name]], _int(name, value)
        if name == "min_id":
            return lambda p: p[position] >= wanted
        if name == "max_id":
            return lambda p: p[position] <= wanted
        return lambda p: p[position] == wanted
    if name.endswith(("_date_created", "_date_modified")):
        position = FIELD_AT["created" if name.endswith("created") else "modified"]
        moment = parse_date(value)
        return (lambda p: p[position] >= moment) if name.startswith("min_") else (lambda p: p[position] <= moment)
    if name in ("min_total", "max_total"):
        limit = to_units(value)
        sign = 1 if name == "min_total" else -1
        return lambda p: sign * (store.totals(OrderRecord.unpack(p)).total.inc - limit) >= 0
    if name == "email":
        wanted_email = value.strip().lower()
        return lambda p: store.addresses[OrderRecord.unpack(p).billing].email.lower() == wanted_email
    if name == "payment_method":
        return lambda p: PAYMENT_METHODS[OrderRecord.unpack(p).payment].label == value
    if name == "cart_id":
        return lambda p: store.cart_id(p[0]) == value
    if name == "external_order_id":
        return lambda p: False
    raise SandboxError(400, f"The filter '{name}' is not supported.")
