"""Pushing the POS's stock levels and prices to BigCommerce: the body of the push job (one link per run).

The POS is the system of record, so BigCommerce is told absolute values, never differences:

- **Stock.** For every dirty row (a linked item at an outlet BigCommerce follows), the outlet's current level is
  read and sent to the outlet's location with `PUT /v3/inventory/adjustments/absolute`, 2,000 items per call,
  unless it equals the level last pushed there (then nothing is sent). A negative POS level is sent as 0.
  Outlets mapped in `OutletLocation` go to their location; the linked outlet without a mapping goes to the
  store's only location when it has exactly one (the location list is cached per link for an hour), otherwise
  nothing is pushed for it and the sync log says to map it.
- **Prices.** The product's retail price goes to the BigCommerce product (a product without options) or to the
  variant, one call per item, unless it equals the price last pushed.
- **Addressing.** BigCommerce tracks a product without options by product and a product with options by variant
  (an adjustment by the wrong one is refused). Which one a linked item is, is read once from the catalog
  (`GET /v3/catalog/products?id:in=`, 50 products a call) and kept on its `ProductLink`; when BigCommerce later
  says an item is tracked the other way, it is looked up again and retried once.

**Why nothing echoes back.** The link subscribes to order webhooks only (`integration.services.link.HOOK_SCOPES`),
never to inventory or product ones, so our own pushes never come back as changes. A BigCommerce order moves POS
stock once, through the ledger (its movements have unique source keys), and the push then only makes
BigCommerce equal to the POS, whatever BigCommerce did to its own stock for that order. Setting an absolute
level that BigCommerce already has changes nothing there and creates no order.

**Failures.** A run is the link's `bc.push` work (`integration.kinds`). A rate limit, a 5xx, a timeout or an
unreadable answer ends the run with the error: rows not pushed yet stay dirty, the kind's retry policy brings the
run back after a growing delay (30 s up to an hour, never giving up), and `push_record_failures` says so in the
sync log. Rejected credentials (401/403) are retried hourly with the fix in the sync log. A 422 for some items of
a batch (BigCommerce rejects the whole batch and names the item) drops the named items, or splits the batch to
find them, and sends the rest: one bad item never blocks the others; each refused item is logged with its SKU.
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import RedisError

from integration.choices import BcItemKind, ErrorCode, LinkState
from integration.exceptions import ApiNotFound, ApiRejected
from integration.models import OutletLocation, PricePushState, ProductLink, PushState, StockPushState, StoreLink
from integration.ratelimit import Priority
from integration.services.push_state import push_request
from integration.services.synclog import Event, sync_log, sync_log_build, sync_log_save
from pos.choices import ProductKind
from pos.models import InventoryLevel
from work.models import WorkItem
from work.registry import Attempt

logger = logging.getLogger("integration.push")


def _cached(default, operation: str, *args, **kwargs):
    """A cache call (Redis) whose failure is `default`: the cache saves calls and repeated warnings, and a push
    must not wait for Redis to come back (an outage made every push fail with "an error on our side")."""
    try:
        return getattr(cache, operation)(*args, **kwargs)
    except RedisError as exc:
        logger.warning("push cache unavailable (%s); going without it", exc)
        return default


ADJUSTMENT_REASON = "Stock level in the POS (system of record)"
# Rows one run reads at most (a bigger backlog continues in the next window).
MAX_ROWS = 10_000
LOCATIONS_CACHE_SECONDS = 3600
UNMAPPED_WARNING_SECONDS = 3600
MAX_QUANTITY = 2_147_483_647  # BigCommerce's inventory maximum


def pushed_quantity(on_hand: int) -> int:
    """The level the push sends for a POS level: a negative level is 0, and BigCommerce's maximum caps it."""
    return min(max(on_hand, 0), MAX_QUANTITY)


SKUS_IN_MESSAGE = 10
REJECTED_FIX = (
    "Check the item in BigCommerce and the outlet's location in Settings › BigCommerce; the level is sent again "
    "at its next change."
)
PRICE_REJECTED_FIX = "Check the item in BigCommerce; the price is sent again at its next change."
# "[Item with variant_id 106 is tracked by product, please update stock by product id]"
_NAMED_ITEM = re.compile(r"\b(variant_id|product_id)\s+(\d+)")
_NAMED_LOCATION = re.compile(r"\blocation\s+(\d+)", re.IGNORECASE)
_TRACKED_OTHERWISE = "tracked by"


@dataclass
class PushReport:
    """What one run did (the job returns it; tests and the benchmark read it)."""

    stock_pushed: int = 0
    stock_unchanged: int = 0
    stock_rejected: int = 0
    prices_pushed: int = 0
    prices_unchanged: int = 0
    prices_rejected: int = 0
    held: int = 0  # rows left dirty for the next run (an item BigCommerce now tracks the other way)
    calls: int = 0  # BigCommerce API operations made


@dataclass
class _Item:
    """One stock level on its way to one BigCommerce location."""

    row: StockPushState
    location_id: int
    quantity: int

    @property
    def identity(self) -> tuple[str, int]:
        link = self.row.product_link
        if link.bc_item_kind == BcItemKind.PRODUCT:
            return ("product_id", link.bc_product_id)
        return ("variant_id", link.bc_variant_id)

    @property
    def payload(self) -> dict:
        key, value = self.identity
        return {"location_id": self.location_id, key: value, "quantity": self.quantity}


def push_run(*, link_id: int, client=None) -> PushReport:
    """Push the link's dirty stock levels and prices now (the body of the `bc.push` work; the kernel runs one at a
    time per link). Paused and unlinked links push nothing. A failure talking to BigCommerce is raised, with the
    rows not pushed yet still dirty; rows left dirty on purpose (looked up again) ask for the next run now."""
    push = _LinkPush.for_link_id(link_id, client)
    report = push.run()
    if report.held and push.link is not None:
        push_request(link=push.link, at=timezone.now())
    return report


def push_locations(*, link: StoreLink, client, outlet_ids: set[int]) -> tuple[dict[int, int], int]:
    """Outlet id -> BigCommerce location id for these outlets, by the push's own rule (mapped outlets; the linked
    outlet unmapped goes to the store's only location), and the API calls it took. For the drift read-back, which
    must read the locations the push writes."""
    push = _LinkPush(link, client)
    return push._locations(outlet_ids), push.report.calls


def push_runs(items: Sequence[WorkItem], *, client=None) -> None:
    """The `bc.push` handler: one run per link (the work's key); an error fails that link's work."""
    for item in items:
        push_run(link_id=int(item.key), client=client)


def push_record_failures(attempts: Sequence[Attempt]) -> None:
    """Say in the sync log how a failed push ends: the changes wait for the next try, or (never, for pushes, but
    said all the same) for the next change."""
    for attempt in attempts:
        link = StoreLink.objects.filter(pk=int(attempt.item.key)).first()
        if link is None:
            continue
        waiting = sum(
            m.objects.filter(link=link, dirty_since__isnull=False).count() for m in (StockPushState, PricePushState)
        )
        message = attempt.failure.message
        if attempt.failure.code == ErrorCode.CREDENTIALS_REJECTED.code:
            message = f"{message} {ErrorCode.CREDENTIALS_REJECTED.fix}"
        if attempt.retry_at is None:
            sync_log(
                link=link,
                event=Event.STOCK_PUSH_FAILED,
                message=f"{message.rstrip('.')}. {waiting} change(s) wait for the next change.",
            )
        else:
            sync_log(
                link=link,
                event=Event.PUSH_RETRYING,
                message=message.rstrip(".") + ".",
                count=waiting,
                attempt=attempt.item.attempts,
                next_try=f"{attempt.retry_at:%H:%M:%S} UTC",
            )


class _LinkPush:
    """One run for one link: reads the due rows, looks up unknown items, pushes, records every outcome."""

    def __init__(self, link: StoreLink | None, client):
        self.link = link
        self.client = client
        self.report = PushReport()
        self.now = timezone.now()
        self.open: dict[type[PushState], dict[int, PushState]] = {StockPushState: {}, PricePushState: {}}

    @classmethod
    def for_link_id(cls, link_id: int, client) -> _LinkPush:
        link = StoreLink.objects.filter(pk=link_id, state=LinkState.ACTIVE).select_related("outlet").first()
        return cls(link, client)

    def run(self) -> PushReport:
        if self.link is None:
            return self.report
        stock_rows = self._due(StockPushState)
        price_rows = self._due(PricePushState)
        if not stock_rows and not price_rows:
            return self.report
        if self.client is None:
            from integration.client import BigCommerceClient

            self.client = BigCommerceClient.for_link(self.link, priority=Priority.BULK)
        self._resolve_items([*stock_rows, *price_rows])
        self._push_stock(stock_rows)
        self._push_prices(price_rows)
        return self.report

    # ------------------------------------------------------------ rows

    def _due(self, model: type[PushState]) -> list:
        rows = list(
            model.objects.filter(link=self.link, dirty_since__isnull=False)
            .select_related("product_link__product")
            .order_by("product_link_id", *(["outlet_id"] if model is StockPushState else []))[:MAX_ROWS]
        )
        self.open[model] = {row.pk: row for row in rows}
        return rows

    def _finish(
        self, model: type[PushState], rows: Sequence[PushState], row_fields: Sequence[str] = (), **fields
    ) -> None:
        """Record the outcome of rows that are done (pushed, unchanged, or refused for good): they stop being dirty
        unless they changed again since they were read. `fields` are the same for every row; `row_fields` name
        attributes the caller already set on each row."""
        if not rows:
            return
        fields = {"attempts": 0, "last_error": "", **fields}
        for row in rows:
            row.pushed_version = row.version
            for name, value in fields.items():
                setattr(row, name, value)
            self.open[model].pop(row.pk, None)
        ids = [row.pk for row in rows]
        with transaction.atomic():
            _lock_rows(model, ids)
            model.objects.bulk_update(rows, ["pushed_version", *row_fields, *fields])
            model.objects.filter(pk__in=ids, version=F("pushed_version")).update(dirty_since=None)

    def _retry_soon(self, model: type[PushState], rows: Sequence[PushState], message: str) -> None:
        """Leave rows dirty for the next run (BigCommerce changed how it tracks the item: it is looked up again)."""
        _update_rows(model, [r.pk for r in rows], attempts=1, last_error=message[:1000])
        for row in rows:
            self.open[model].pop(row.pk, None)
        self.report.held += len(rows)

    # ------------------------------------------------------------ how BigCommerce addresses each item

    def _resolve_items(self, rows: Sequence[PushState]) -> None:
        """Learn, once per item, whether BigCommerce tracks it by product or by variant (or no longer has it)."""
        unknown = {
            r.product_link_id: r.product_link
            for r in rows
            if r.product_link.bc_item_kind == BcItemKind.UNKNOWN and r.product_link.product.kind == ProductKind.STANDARD
        }
        if not unknown:
            return
        ids = sorted({pl.bc_product_id for pl in unknown.values()})
        self.report.calls += math.ceil(len(ids) / self.client.IN_CHUNK)
        catalog = {p.id: p for p in self.client.get_products(ids=ids)}
        by_kind: dict[str, list[int]] = defaultdict(list)
        gone = []
        for pl in unknown.values():
            product = catalog.get(pl.bc_product_id)
            if product is None:
                pl.bc_item_kind, reason = BcItemKind.GONE, "no longer exists in BigCommerce"
            elif product.base_variant_id is not None:
                pl.bc_item_kind = BcItemKind.PRODUCT
            elif pl.bc_variant_id:
                pl.bc_item_kind = BcItemKind.VARIANT
            else:
                pl.bc_item_kind, reason = BcItemKind.GONE, "has options, and the link names none of them"
            by_kind[pl.bc_item_kind].append(pl.pk)
            if pl.bc_item_kind == BcItemKind.GONE:
                gone.append(self._gone_entry(pl, reason))
        for row in rows:  # rows of one item carry their own copies of its ProductLink
            if row.product_link_id in unknown:
                row.product_link.bc_item_kind = unknown[row.product_link_id].bc_item_kind
        for kind, pks in by_kind.items():
            ProductLink.objects.filter(pk__in=pks).update(bc_item_kind=kind)
        sync_log_save(gone)

    def _gone_entry(self, pl: ProductLink, reason: str):
        return sync_log_build(
            link=self.link,
            event=Event.PUSH_ITEM_GONE,
            name=pl.product.name,
            sku=pl.product.sku or "no SKU",
            bc_product=pl.bc_product_id,
            reason=reason,
            data={"product_id": pl.product_id, "bc_product_id": pl.bc_product_id, "bc_variant_id": pl.bc_variant_id},
        )

    def _mark_gone(self, pl: ProductLink, reason: str) -> None:
        ProductLink.objects.filter(pk=pl.pk).update(bc_item_kind=BcItemKind.GONE)
        pl.bc_item_kind = BcItemKind.GONE
        sync_log_save([self._gone_entry(pl, reason)])

    # ------------------------------------------------------------ stock

    def _push_stock(self, rows: Sequence[StockPushState]) -> None:
        if not rows:
            return
        locations = self._locations({r.outlet_id for r in rows})
        levels = {
            (p, o): on_hand
            for p, o, on_hand in InventoryLevel.objects.filter(
                product_id__in={r.product_link.product_id for r in rows}, outlet_id__in={r.outlet_id for r in rows}
            ).values_list("product_id", "outlet_id", "on_hand")
        }
        unmapped, skipped, unchanged, items, seen = [], [], [], defaultdict(list), set()
        for row in rows:
            product, location = row.product_link.product, locations.get(row.outlet_id)
            if location is None:
                unmapped.append(row)
                continue
            if (
                product.kind != ProductKind.STANDARD
                or not product.tracks_inventory
                or row.product_link.bc_item_kind == BcItemKind.GONE
            ):
                skipped.append(row)
                continue
            quantity = pushed_quantity(levels.get((product.pk, row.outlet_id), 0))
            if row.last_pushed_level == quantity and row.last_location_id == location:
                unchanged.append(row)
                continue
            item = _Item(row, location, quantity)
            if (location, item.identity) in seen:  # two links naming one BigCommerce item: it is told once
                skipped.append(row)
                continue
            seen.add((location, item.identity))
            items[location].append(item)
        self._finish(StockPushState, unmapped, last_error="The outlet is not mapped to a BigCommerce location.")
        self._finish(StockPushState, skipped)
        self._finish(StockPushState, unchanged)
        self.report.stock_unchanged += len(unchanged)
        pushed = 0
        try:
            for location in sorted(items):
                for start in range(0, len(items[location]), self.client.INVENTORY_BATCH):
                    pushed += self._send_batch(items[location][start : start + self.client.INVENTORY_BATCH])
        finally:
            if pushed:
                sync_log(
                    link=self.link,
                    event=Event.STOCK_PUSHED,
                    count=pushed,
                    data={"calls": self.report.calls, "locations": sorted(items)},
                )

    def _send_batch(self, batch: list[_Item]) -> int:
        """Send one batch (≤ 2,000 items of one location); record each part as BigCommerce answers it."""
        pushed = 0
        for part, refusal in self._send_isolating(batch):
            if refusal is None:
                for item in part:
                    item.row.last_pushed_level, item.row.last_location_id = item.quantity, item.location_id
                self._finish(
                    StockPushState,
                    [i.row for i in part],
                    row_fields=("last_pushed_level", "last_location_id"),
                    pushed_at=timezone.now(),
                )
                pushed += len(part)
            else:
                self._refused(part, refusal)
        self.report.stock_pushed += pushed
        return pushed

    def _send_isolating(self, batch: list[_Item]) -> Iterator[tuple[list[_Item], str | None]]:
        """Yield (items, None) for each accepted part and (items, BigCommerce's message) for refused items.

        BigCommerce refuses a whole batch with 422 when one item is wrong and names it: the named items are taken
        out and the rest sent again; when no item is named, the batch is halved until the bad ones are alone.
        Transient failures propagate (the caller holds what is left).
        """
        pending = [batch]
        while pending:
            part = pending.pop(0)
            self.report.calls += 1
            try:
                self.client.set_inventory_absolute([i.payload for i in part], reason=ADJUSTMENT_REASON)
            except ApiRejected as exc:
                bad = _named_items(exc.detail, part)
                if bad:
                    yield bad, exc.detail
                    rest = [i for i in part if i not in bad]
                    if rest:
                        pending.insert(0, rest)
                elif len(part) == 1:
                    yield part, exc.detail
                else:
                    half = len(part) // 2
                    pending[:0] = [part[:half], part[half:]]
                continue
            yield part, None

    def _refused(self, items: list[_Item], message: str) -> None:
        """Items BigCommerce refused. Tracked the other way: look the item up again and retry once. Otherwise the
        refusal is final until the item's next change, and the sync log names the SKUs."""
        relook = [i for i in items if _TRACKED_OTHERWISE in message and i.row.attempts == 0]
        if relook:
            ProductLink.objects.filter(pk__in=[i.row.product_link_id for i in relook]).update(
                bc_item_kind=BcItemKind.UNKNOWN
            )
            self._retry_soon(StockPushState, [i.row for i in relook], message)
        final = [i for i in items if i not in relook]
        if not final:
            return
        self._finish(StockPushState, [i.row for i in final], last_error=message[:1000])
        if _NAMED_LOCATION.search(message) and not _NAMED_ITEM.search(message):
            _cached(None, "delete", _locations_key(self.link.pk))
        self.report.stock_rejected += len(final)
        products = [i.row.product_link.product for i in final]
        skus = ", ".join(p.sku or "no SKU" for p in products[:SKUS_IN_MESSAGE])
        sync_log(
            link=self.link,
            event=Event.STOCK_PUSH_REJECTED,
            name=products[0].name if len(products) == 1 else f"{len(products)} products",
            sku=skus + (", …" if len(products) > SKUS_IN_MESSAGE else ""),
            location=final[0].location_id,
            message=message.rstrip(".") + ".",
            fix=REJECTED_FIX,
            data={"product_ids": [p.pk for p in products[:100]]},
        )

    def _locations(self, outlet_ids: set[int]) -> dict[int, int]:
        """Outlet id -> BigCommerce location id, for the outlets that have one."""
        mapped = dict(
            OutletLocation.objects.filter(link=self.link, outlet_id__in=outlet_ids).values_list(
                "outlet_id", "location_id"
            )
        )
        linked = self.link.outlet_id
        if linked in outlet_ids and linked not in mapped:
            store_locations = self._store_location_ids()
            if len(store_locations) == 1:
                mapped[linked] = store_locations[0]
            elif _cached(True, "add", f"bc-push:unmapped:{self.link.pk}:{linked}", 1, UNMAPPED_WARNING_SECONDS):
                sync_log(
                    link=self.link,
                    event=Event.STOCK_PUSH_UNMAPPED,
                    outlet=self.link.outlet.name,
                    count=len(store_locations),
                )
        return mapped

    def _store_location_ids(self) -> list[int]:
        """The store's enabled inventory locations, cached per link for an hour (`GET /v3/inventory/locations`)."""
        key = _locations_key(self.link.pk)
        ids = _cached(None, "get", key)
        if ids is None:
            self.report.calls += 1
            ids = sorted(location.id for location in self.client.list_locations() if location.enabled)
            _cached(None, "set", key, ids, LOCATIONS_CACHE_SECONDS)
        return ids

    # ------------------------------------------------------------ prices

    def _push_prices(self, rows: Sequence[PricePushState]) -> None:
        seen = set()
        for row in rows:
            pl = row.product_link
            product = pl.product
            identity = (pl.bc_product_id, pl.bc_variant_id if pl.bc_item_kind == BcItemKind.VARIANT else 0)
            if product.kind != ProductKind.STANDARD or pl.bc_item_kind == BcItemKind.GONE or identity in seen:
                self._finish(PricePushState, [row])
                continue
            seen.add(identity)
            price = product.retail_price
            if row.last_pushed_price == price:
                self.report.prices_unchanged += 1
                self._finish(PricePushState, [row])
                continue
            self.report.calls += 1
            try:
                if pl.bc_item_kind == BcItemKind.VARIANT:
                    self.client.update_variant(pl.bc_product_id, pl.bc_variant_id, price=price)
                else:
                    self.client.update_product(pl.bc_product_id, price=price)
            except ApiNotFound:
                self._mark_gone(pl, "no longer exists in BigCommerce")
                self._finish(PricePushState, [row], last_error="not found in BigCommerce")
                continue
            except ApiRejected as exc:
                self.report.prices_rejected += 1
                self._finish(PricePushState, [row], last_error=exc.detail[:1000])
                sync_log(
                    link=self.link,
                    event=Event.PRICE_PUSH_FAILED,
                    name=f"{product.name} ({product.sku or 'no SKU'})",
                    message=f"{exc.detail.rstrip('.')}. {PRICE_REJECTED_FIX}",
                    data={"product_id": product.pk},
                )
                continue
            self._finish(PricePushState, [row], last_pushed_price=price, pushed_at=timezone.now())
            self.report.prices_pushed += 1
            sync_log(
                link=self.link,
                event=Event.PRICE_PUSHED,
                name=f"{product.name} ({product.sku or 'no SKU'})",
                price=_money(price),
                data={"product_id": product.pk, "bc_product_id": pl.bc_product_id, "bc_variant_id": pl.bc_variant_id},
            )


def _lock_rows(model: type[PushState], ids: list[int]) -> None:
    """Lock rows in the order the marking statement takes them in (item, then outlet), so the two never deadlock.
    Call inside a transaction."""
    order = ("product_link_id", "outlet_id") if model is StockPushState else ("product_link_id",)
    list(model.objects.select_for_update().filter(pk__in=ids).order_by(*order).values_list("pk"))


@transaction.atomic
def _update_rows(model: type[PushState], ids: list[int], **values) -> None:
    _lock_rows(model, ids)
    model.objects.filter(pk__in=ids).update(**values)


def _locations_key(link_id: int) -> str:
    return f"bc-push:locations:{link_id}"


def _named_items(message: str, items: list[_Item]) -> list[_Item]:
    """The items a 422 message names: by identity ("variant_id 106"), or all items of a named location."""
    named = {(kind, int(value)) for kind, value in _NAMED_ITEM.findall(message)}
    if named:
        return [i for i in items if i.identity in named]
    location = _NAMED_LOCATION.search(message)
    if location:
        return [i for i in items if i.location_id == int(location.group(1))]
    return []


def _money(value: Decimal) -> str:
    return f"{value:.2f}"
