"""Reading what an order sync wrote: the online sale of an order, the stock it moved, the ledger against the levels."""

from __future__ import annotations

from django.db.models import Sum

from pos.choices import Channel
from pos.models import InventoryLevel, InventoryMovement, Sale


def online_sale(order_id) -> Sale:
    return Sale.objects.get(channel=Channel.BIGCOMMERCE, external_order_id=str(order_id))


def stock_out(sale: Sale) -> int:
    """Units the sale took out of stock (net of its movements)."""
    return -(InventoryMovement.objects.filter(sale=sale).aggregate(n=Sum("quantity"))["n"] or 0)


def goods_units(order) -> int:
    return sum(item.quantity for item in order.products)


def ledger_matches_levels() -> None:
    for level in InventoryLevel.objects.all():
        moved = InventoryMovement.objects.filter(product=level.product, outlet=level.outlet).aggregate(
            n=Sum("quantity")
        )["n"]
        assert level.on_hand == (moved or 0), level
