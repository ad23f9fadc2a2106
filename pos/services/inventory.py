"""Stock adjustments and stock counts: people changing stock, always through the ledger.

Both take a `request_key` that the form generated when it was shown, and build their movements' source keys
from it (`pos:adjust:<key>`, `pos:count:<key>:<product>`): a form submitted twice (a double click, a resent
request) moves stock once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from pos.choices import MovementReason
from pos.models import InventoryLevel, Outlet, Product, User
from pos.services.stock import StockMove, StockMoveResult, stock_move, stock_move_many

NOTE_MAX = 255

ADJUST_ZERO = "Enter how many units to add (positive) or take out (negative); zero changes nothing."
ADJUST_REASON = "Choose why the stock changes."
NOT_TRACKED = "“%(name)s” does not track stock. Turn on “Tracks stock” on the product first."
OTHER_RETAILER = "The product and the outlet must belong to the same retailer."
COUNT_EMPTY = "The count has no products in it."
COUNT_NEGATIVE = "A counted quantity cannot be negative (%(name)s: %(quantity)s)."
COUNT_UNKNOWN = "Some counted products are not in this retailer's catalog."
REQUEST_KEY_MISSING = "This form has expired. Reload the page and enter it again."


@dataclass(frozen=True)
class StockCountResult:
    """What a count changed at an outlet."""

    counted: int  # products in the count
    changed: int  # products whose on-hand changed
    units_added: int
    units_removed: int
    differences: dict[int, int]  # product id -> units moved (counted minus on hand before), non-zero only


def _check_request_key(request_key: str) -> None:
    if not request_key or len(request_key) > 64:
        raise ValidationError(REQUEST_KEY_MISSING)


@transaction.atomic
def stock_adjust(
    *,
    product: Product,
    outlet: Outlet,
    delta: int,
    reason: str,
    note: str = "",
    acting_user: User | None = None,
    request_key: str,
) -> StockMoveResult:
    """Add (`delta` > 0) or take out (`delta` < 0) units of a product at an outlet, with a reason and a note.

    Reasons are `MovementReason.adjustment_reasons()` (received, damaged, lost, adjustment); counts, sales and
    merges have their own services. The movement records the person and the note.
    """
    _check_request_key(request_key)
    if product.retailer_id != outlet.retailer_id:
        raise ValidationError(OTHER_RETAILER)
    errors = {}
    if not delta:
        errors["delta"] = ADJUST_ZERO
    if reason not in MovementReason.adjustment_reasons():
        errors["reason"] = ADJUST_REASON
    if not product.tracks_inventory:
        errors["product"] = NOT_TRACKED % {"name": product.name}
    if errors:
        raise ValidationError(errors)
    return stock_move(
        retailer_id=product.retailer_id,
        move=StockMove(
            product_id=product.pk,
            outlet_id=outlet.pk,
            quantity=delta,
            reason=reason,
            source_key=f"pos:adjust:{request_key}",
            user_id=acting_user.pk if acting_user else None,
            note=note.strip()[:NOTE_MAX],
        ),
    )


@transaction.atomic
def stock_count(
    *,
    outlet: Outlet,
    counts: Mapping[int, int],
    note: str = "",
    acting_user: User | None = None,
    request_key: str,
) -> StockCountResult:
    """Record what was counted at an outlet (product id -> units on the shelf) and move the differences.

    A partial count: products not in `counts` are left alone. The outlet's levels of the counted products are
    locked while the differences are worked out, so a sale at the till cannot slip in between the read and the
    move. All differences go to the ledger in one `stock_move_many` (reason `count`), so a count of ten thousand
    products costs the same handful of queries as a count of ten.
    """
    _check_request_key(request_key)
    if not counts:
        raise ValidationError(COUNT_EMPTY)
    products = {
        p.pk: p
        for p in Product.objects.for_retailer(outlet.retailer_id)
        .filter(pk__in=list(counts))
        .only("pk", "name", "tracks_inventory")
    }
    if len(products) != len(counts):
        raise ValidationError(COUNT_UNKNOWN)
    errors = []
    for product_id, quantity in counts.items():
        product = products[product_id]
        if quantity < 0:
            errors.append(COUNT_NEGATIVE % {"name": product.name, "quantity": quantity})
        if not product.tracks_inventory:
            errors.append(NOT_TRACKED % {"name": product.name})
    if errors:
        raise ValidationError(errors)
    on_hand = dict(
        InventoryLevel.objects.select_for_update()
        .filter(outlet=outlet, product_id__in=list(counts))
        .order_by("product_id")
        .values_list("product_id", "on_hand")
    )
    differences = {pid: qty - on_hand.get(pid, 0) for pid, qty in counts.items() if qty != on_hand.get(pid, 0)}
    moves = [
        StockMove(
            product_id=product_id,
            outlet_id=outlet.pk,
            quantity=difference,
            reason=MovementReason.COUNT,
            source_key=f"pos:count:{request_key}:{product_id}",
            user_id=acting_user.pk if acting_user else None,
            note=note.strip()[:NOTE_MAX],
        )
        for product_id, difference in sorted(differences.items())
    ]
    results = stock_move_many(retailer_id=outlet.retailer_id, moves=moves)
    # A count submitted again finds its source keys taken: report only what this call moved.
    moved = {m.product_id: m.quantity for m, r in zip(moves, results, strict=True) if r.moved}
    return StockCountResult(
        counted=len(counts),
        changed=len(moved),
        units_added=sum(d for d in moved.values() if d > 0),
        units_removed=-sum(d for d in moved.values() if d < 0),
        differences=moved,
    )
