"""What the BigCommerce link does when the POS records something (`pos.events`, `pos.signals`).

Stock moved and products changed: the linked items are marked for the next push (`integration.services
.push_state`), in the transaction that finishes the POS's record of the change. A merge: the link's product links
move to the target in the merge's own transaction, so the source product can be deleted safely.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from integration.models import ProductLink
from integration.services.push_state import price_push_mark, stock_push_mark
from pos.models import Outlet
from work.models import WorkItem

# `product_changed` fields that change what BigCommerce must show.
PRICE_FIELDS = frozenset({"retail_price", "links"})
STOCK_FIELDS = frozenset({"tracks_inventory", "links"})


def stock_moved_handler(items: Sequence[WorkItem]) -> None:
    """`pos.stock_moved`: mark the linked items' stock at those outlets for the push (one statement per store)."""
    changes: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for item in items:
        changes[item.shard].update((p, o) for p, o in item.payload.get("changes", ()))
    for retailer_id, pairs in changes.items():
        stock_push_mark(retailer_id=retailer_id, changes=sorted(pairs))


def product_changed_handler(items: Sequence[WorkItem]) -> None:
    """`pos.product_changed`: a price changed, a product started tracking stock, or a merge moved BigCommerce links
    to it: mark what BigCommerce now has to learn about it."""
    prices: dict[int, set[int]] = defaultdict(set)
    stock: dict[int, set[int]] = defaultdict(set)
    for item in items:
        product_id, changed = item.payload.get("product_id"), set(item.payload.get("fields", ()))
        if changed & PRICE_FIELDS:
            prices[item.shard].add(product_id)
        if changed & STOCK_FIELDS:
            stock[item.shard].add(product_id)
    for retailer_id, product_ids in prices.items():
        price_push_mark(retailer_id=retailer_id, product_ids=product_ids)
    for retailer_id, product_ids in stock.items():
        outlets = Outlet.objects.filter(retailer_id=retailer_id).values_list("pk", flat=True)
        stock_push_mark(retailer_id=retailer_id, changes=[(p, o) for p in product_ids for o in outlets])


def product_merging_receiver(sender, *, retailer_id: int, source_id: int, target_id: int, **kwargs) -> int:
    """A merge: the source product's BigCommerce links follow it to the target. Returns how many moved."""
    return ProductLink.objects.filter(product_id=source_id, product__retailer_id=retailer_id).update(
        product_id=target_id
    )
