"""Stock drift: reading BigCommerce's stock levels back and setting the ones edited there back to the POS's.

The push (`integration.services.push`) tells BigCommerce a level only when it differs from the level last sent, so
a level edited in BigCommerce's control panel stays wrong until the item's next change in the POS. The read-back
is the periodic `bc.stock_drift` work of each active link (every `STOCK_DRIFT_INTERVAL_SECONDS`,
`integration.kinds`): for every location the push writes to (the same outlet → location rule), it reads the
location's items (`GET /v3/inventory/locations/{id}/items`, one call per 250 items) and compares each linked item
with the POS's level, as the push would send it (a negative level is 0).

A difference is a correction, written in one transaction per location: a `StockDriftCorrection` row (what
BigCommerce had, what the POS has, why), a sync log entry, and the item's push state marked dirty with its last
sent level forgotten, so the link's push (asked for now) sends it with the others, 2,000 items per call. Nothing
here writes to BigCommerce itself: one rule for pushing.

Items whose push is pending (dirty) or was sent after the location was read are left alone: the push brings them
to the POS's level anyway, and BigCommerce's answer may predate it. While the link's orders are being synced or
the retailer's stock moves wait to be marked for the push, a difference may be one BigCommerce made itself (it
takes stock when an order is placed) that the POS has not applied yet: the location's differences are then
deferred, and the read-back runs again a minute later rather than set BigCommerce to a level about to change.
An order placed in the seconds before its webhook arrives is the one case it cannot see; the push that follows
its sync sets the item again.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from integration.bc_types import LocationItem
from integration.choices import BcItemKind, DriftReason
from integration.exceptions import ApiError
from integration.models import ProductLink, StockDriftCorrection, StockPushState, StoreLink
from integration.ratelimit import Priority
from integration.services.order_sync import ORDER_SYNC
from integration.services.push import push_locations, pushed_quantity
from integration.services.push_state import push_request, push_target_outlets, stock_push_mark
from integration.services.synclog import Event, sync_log, sync_log_build, sync_log_save
from pos import events
from pos.choices import ProductKind
from pos.models import InventoryLevel, Outlet, Product
from work import kernel
from work.models import WorkItem

logger = logging.getLogger("integration.push")

STOCK_DRIFT = "bc.stock_drift"
# When differences were deferred (orders or stock changes in flight), the read-back runs again this much later.
DEFERRED_RETRY = timedelta(minutes=1)


def stock_drift_interval() -> timedelta:
    """How often the read-back runs (`STOCK_DRIFT_INTERVAL_SECONDS`, at least a minute)."""
    return timedelta(seconds=max(60, int(settings.STOCK_DRIFT_INTERVAL_SECONDS)))


@dataclass
class DriftReport:
    """What one read-back did (tests and the job read it)."""

    locations: int = 0
    checked: int = 0  # linked items compared
    corrected: int = 0
    pending: int = 0  # differences left to a push already on its way
    deferred: int = 0  # differences left for the next run: orders or stock changes were in flight
    calls: int = 0  # BigCommerce API calls made by the read-back (the push's are its own)
    error: str = ""


def stock_drift_run(*, link: StoreLink, client=None) -> DriftReport:
    """Read back every location the link's push writes to and correct the levels that drifted (see module doc).
    A failure talking to BigCommerce ends the run with a sync log entry; locations already read keep their
    corrections, and the next interval tries again."""
    if client is None:
        from integration.client import BigCommerceClient

        client = BigCommerceClient.for_link(link, priority=Priority.BULK)
    report = DriftReport()
    stock_drift_expire(link=link)
    items = _followed_items(link)
    if not items:
        return report
    try:
        locations, calls = push_locations(link=link, client=client, outlet_ids=push_target_outlets(link=link))
        report.calls += calls
        for outlet_id, location_id in sorted(locations.items(), key=lambda pair: pair[1]):
            read_at = timezone.now()
            stock = list(client.iter_location_items(location_id))
            report.calls += max(1, math.ceil(len(stock) / client.PAGE_LIMIT))
            report.locations += 1
            _correct_location(link, outlet_id, location_id, items, stock, read_at, report)
    except ApiError as exc:
        report.error = exc.detail
        sync_log(link=link, event=Event.STOCK_DRIFT_FAILED, message=exc.detail.rstrip(".") + ".")
    if report.corrected:
        push_request(link=link, at=timezone.now())
    if report.deferred:
        kernel.request(STOCK_DRIFT, link.pk, shard=link.retailer_id, due=timezone.now() + DEFERRED_RETRY)
    return report


def _changes_in_flight(link: StoreLink) -> bool:
    """Whether the POS's levels are about to change through the link or be marked for a push: the link's order
    syncs waiting or running, or the retailer's stock moves not yet marked (work that gave up does not count)."""
    orders = Q(kind=ORDER_SYNC, key__startswith=f"{link.pk}:")
    moves = Q(kind=events.STOCK_MOVED.name, shard=link.retailer_id)
    return WorkItem.objects.filter(orders | moves, failed_at__isnull=True).exists()


class _Item(NamedTuple):
    """A linked item the push sends (read as values: a store may have tens of thousands)."""

    pk: int
    product_id: int
    bc_product_id: int
    bc_variant_id: int


def _followed_items(link: StoreLink) -> list[_Item]:
    """The link's items whose stock the push sends, oldest link first (the push tells one BigCommerce item once,
    from the first link naming it; the read-back compares it with that one too)."""
    rows = (
        ProductLink.objects.filter(link=link, product__kind=ProductKind.STANDARD, product__tracks_inventory=True)
        .exclude(bc_item_kind=BcItemKind.GONE)
        .order_by("pk")
        .values_list("pk", "product_id", "bc_product_id", "bc_variant_id")
    )
    return [_Item(*row) for row in rows]


def _bc_levels(items: list[_Item], stock: list[LocationItem]) -> dict[int, int]:
    """Product link id -> BigCommerce's units on hand, for the links found at the location. A link names its
    variant (a product without options: its base variant); a link without a variant id matches a product that
    has a single item there."""
    by_variant = {item.variant_id: item.on_hand for item in stock}
    by_product: dict[int, list[int]] = defaultdict(list)
    for item in stock:
        if item.product_id is not None:
            by_product[item.product_id].append(item.on_hand)
    levels, seen = {}, set()
    for pl in items:
        if pl.bc_variant_id and pl.bc_variant_id in by_variant:
            identity, level = pl.bc_variant_id, by_variant[pl.bc_variant_id]
        elif not pl.bc_variant_id and len(by_product.get(pl.bc_product_id, ())) == 1:
            identity, level = -pl.bc_product_id, by_product[pl.bc_product_id][0]
        else:
            continue
        if identity in seen:
            continue
        seen.add(identity)
        levels[pl.pk] = level
    return levels


def _correct_location(
    link: StoreLink,
    outlet_id: int,
    location_id: int,
    items: list[_Item],
    stock: list[LocationItem],
    read_at: datetime,
    report: DriftReport,
) -> None:
    """Compare one location with the POS (unlocked: most items agree), then correct the items that differ."""
    bc_levels = _bc_levels(items, stock)
    report.checked += len(bc_levels)
    by_pk = {pl.pk: pl for pl in items if pl.pk in bc_levels}
    on_hand = dict(
        InventoryLevel.objects.filter(
            outlet_id=outlet_id, product_id__in=sorted({pl.product_id for pl in by_pk.values()})
        ).values_list("product_id", "on_hand")
    )
    differ = {pk: bc for pk, bc in bc_levels.items() if bc != pushed_quantity(on_hand.get(by_pk[pk].product_id, 0))}
    if differ:
        _correct(link, outlet_id, location_id, [by_pk[pk] for pk in sorted(differ)], differ, read_at, report)


@transaction.atomic
def _correct(
    link: StoreLink,
    outlet_id: int,
    location_id: int,
    items: list[_Item],
    bc_levels: dict[int, int],
    read_at: datetime,
    report: DriftReport,
) -> None:
    """Record and mark the items that differ, now under the locks the push takes, with the POS's levels read
    again: a stock move that lands meanwhile waits for them, then marks its row, and the push sends its level."""
    rows = {
        row.product_link_id: row
        for row in StockPushState.objects.select_for_update()
        .filter(link=link, outlet_id=outlet_id, product_link_id__in=[pl.pk for pl in items])
        .order_by("product_link_id", "outlet_id")
    }
    products = Product.objects.in_bulk([pl.product_id for pl in items])
    on_hand = dict(
        InventoryLevel.objects.filter(outlet_id=outlet_id, product_id__in=list(products)).values_list(
            "product_id", "on_hand"
        )
    )
    corrections = []
    for pl in items:
        row, bc_level = rows.get(pl.pk), bc_levels[pl.pk]
        pos_level = on_hand.get(pl.product_id, 0)
        sent = pushed_quantity(pos_level)
        if bc_level == sent:
            continue
        if row is not None and (row.dirty_since is not None or (row.pushed_at and row.pushed_at >= read_at)):
            report.pending += 1
            continue
        corrections.append(
            StockDriftCorrection(
                link=link,
                product=products[pl.product_id],
                outlet_id=outlet_id,
                location_id=location_id,
                bc_product_id=pl.bc_product_id,
                bc_variant_id=pl.bc_variant_id,
                bc_level=bc_level,
                pos_level=pos_level,
                sent_level=sent,
                last_sent_level=row.last_pushed_level if row is not None else None,
                reason=_reason(row, location_id, sent),
            )
        )
    if not corrections:
        return
    if _changes_in_flight(link):
        report.deferred += len(corrections)
        return
    StockDriftCorrection.objects.bulk_create(corrections)
    stock_push_mark(retailer_id=link.retailer_id, changes=[(c.product.pk, outlet_id) for c in corrections])
    StockPushState.objects.filter(
        link=link, outlet_id=outlet_id, product_link__product_id__in=[c.product.pk for c in corrections]
    ).update(last_pushed_level=None)
    outlet = Outlet.objects.only("name").get(pk=outlet_id)
    sync_log_save([_log_entry(link, outlet, c) for c in corrections])
    report.corrected += len(corrections)


def _reason(row: StockPushState | None, location_id: int, sent: int) -> str:
    if row is None or row.last_pushed_level is None or row.last_location_id != location_id:
        return DriftReason.NEVER_SENT
    if row.last_pushed_level == sent:
        return DriftReason.EDITED
    return DriftReason.NOT_SENT_LATEST


def _log_entry(link: StoreLink, outlet: Outlet, correction: StockDriftCorrection):
    product = correction.product
    return sync_log_build(
        link=link,
        event=Event.STOCK_DRIFT_CORRECTED,
        name=product.name,
        sku=product.sku or "no SKU",
        outlet=outlet.name,
        location=correction.location_id,
        bc_level=correction.bc_level,
        pos_level=correction.pos_level,
        sent_level=correction.sent_level,
        reason=_sentence_part(str(correction.get_reason_display())),
        data={
            "product_id": product.pk,
            "outlet_id": outlet.pk,
            "location_id": correction.location_id,
            "bc_product_id": correction.bc_product_id,
            "bc_variant_id": correction.bc_variant_id,
            "bc_level": correction.bc_level,
            "pos_level": correction.pos_level,
        },
    )


def _sentence_part(text: str) -> str:
    return text[:1].lower() + text[1:]


def stock_drift_expire(*, link: StoreLink, now: datetime | None = None) -> int:
    """Delete corrections older than the sync log keeps its entries (`SYNC_LOG_RETENTION_DAYS`)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SYNC_LOG_RETENTION_DAYS)
    deleted, _ = StockDriftCorrection.objects.filter(link=link, found_at__lt=cutoff).delete()
    return deleted
