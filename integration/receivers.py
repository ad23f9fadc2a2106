"""Receivers of the POS's signals: the BigCommerce link follows stock and price changes without `pos` importing it.

Both signals are sent after the POS's transaction has committed, from wherever the change was made (a sale at the
till, a stock count, an order sync...). A receiver only marks rows in the database and wakes the push job; it
never calls BigCommerce and never raises into the code that sent the signal: that work is done, and a page must
not fail after it. A failure here is logged as an error.
"""

from __future__ import annotations

import logging

from integration.services.push_state import price_push_mark, stock_push_mark
from pos.models import Outlet

logger = logging.getLogger("integration.push")

# `product_changed` fields that change what BigCommerce must show.
PRICE_FIELDS = frozenset({"retail_price", "links"})
STOCK_FIELDS = frozenset({"tracks_inventory", "links"})


def stock_changed_receiver(sender, *, retailer_id: int, changes: list[tuple[int, int]], **kwargs) -> None:
    """Levels moved: mark the linked items' stock at those outlets for the push."""
    try:
        stock_push_mark(retailer_id=retailer_id, changes=changes)
    except Exception:  # noqa: BLE001 - after commit: log, never break the sale or sync that moved the stock
        logger.exception("could not mark %s stock change(s) of retailer %s for a push", len(changes), retailer_id)


def product_changed_receiver(sender, *, retailer_id: int, product_id: int, fields: tuple[str, ...], **kwargs) -> None:
    """A product's price changed, it started tracking stock, or a merge moved BigCommerce links to it: mark what
    BigCommerce now has to learn about it."""
    changed = set(fields)
    try:
        if changed & PRICE_FIELDS:
            price_push_mark(retailer_id=retailer_id, product_ids=[product_id])
        if changed & STOCK_FIELDS:
            outlets = Outlet.objects.filter(retailer_id=retailer_id).values_list("pk", flat=True)
            stock_push_mark(retailer_id=retailer_id, changes=[(product_id, o) for o in outlets])
    except Exception:  # noqa: BLE001 - after commit: log, never break the edit that changed the product
        logger.exception("could not mark product %s of retailer %s for a push", product_id, retailer_id)
