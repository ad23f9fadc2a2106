"""Catalog services: create, edit, accept and merge products.

The POS is the system of record for the catalog, so every change of a product's fields goes through
`product_update`: it is the one place where a later price or stock push to BigCommerce hooks in. Each action
writes an audit row (who, what, before and after) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from pos import events
from pos.choices import AuditAction, MovementReason, ProductKind
from pos.models import AuditEntry, InventoryLevel, InventoryMovement, Product, Retailer, SaleLine, User
from pos.services.stock import StockMove, stock_move_many
from pos.signals import product_merging

EDITABLE_FIELDS = ("name", "sku", "kind", "retail_price", "supply_price", "active", "tracks_inventory")

SKU_TAKEN = "SKU “%(sku)s” is already used by “%(other)s”. Each product needs its own SKU."
SERVICE_KIND_TAKEN = (
    "This retailer already has a %(kind)s product (“%(other)s”): shipping, handling and gift wrapping are one "
    "product each. Edit that one instead."
)
NEGATIVE_PRICE = "Prices cannot be negative."
SERVICE_TRACKS_STOCK = "Shipping, handling and gift-wrapping charges never track stock."
NAME_REQUIRED = "Give the product a name."
MERGE_SELF = "A product cannot be merged into itself."
MERGE_OTHER_RETAILER = "Both products must belong to the same retailer."
MERGE_ALREADY_MERGED = "“%(name)s” has already been merged into another product."
MERGE_TARGET_INACTIVE = "Merge into an active product: “%(name)s” is inactive."
MERGE_KIND_MISMATCH = "A charge (shipping, handling, gift wrapping) can only be merged into another charge."


@dataclass(frozen=True)
class MergeResult:
    """What `product_merge` did: the target, whether the source was deleted, and what moved."""

    target: Product
    source_deleted: bool
    links_moved: int
    sale_lines_moved: int
    stock_moved: dict[int, int]  # outlet id -> units moved from the source to the target


def _clean_fields(*, retailer: Retailer, fields: dict[str, Any], product_id: int | None) -> dict[str, Any]:
    """Normalise and check a product's editable fields; raise ValidationError with one message per field."""
    fields = dict(fields)
    fields["name"] = (fields.get("name") or "").strip()
    fields["sku"] = (fields.get("sku") or "").strip() or None
    errors: dict[str, str] = {}
    if not fields["name"]:
        errors["name"] = NAME_REQUIRED
    for price in ("retail_price", "supply_price"):
        if Decimal(fields.get(price) or 0) < 0:
            errors[price] = NEGATIVE_PRICE
    if fields.get("kind") in ProductKind.service_kinds() and fields.get("tracks_inventory"):
        errors["tracks_inventory"] = SERVICE_TRACKS_STOCK
    if fields.get("kind") in ProductKind.service_kinds():
        other = (
            Product.objects.for_retailer(retailer)
            .filter(kind=fields["kind"])
            .exclude(pk=product_id)
            .only("name")
            .first()
        )
        if other is not None:
            errors["kind"] = SERVICE_KIND_TAKEN % {
                "kind": ProductKind(fields["kind"]).label.lower(),
                "other": other.name,
            }
    if fields["sku"]:
        other = (
            Product.objects.for_retailer(retailer).filter(sku=fields["sku"]).exclude(pk=product_id).only("name").first()
        )
        if other is not None:
            errors["sku"] = SKU_TAKEN % {"sku": fields["sku"], "other": other.name}
    if errors:
        raise ValidationError(errors)
    return fields


def _save(product: Product) -> None:
    """full_clean, then save; a SKU taken by a concurrent transaction gives the same message as a checked one."""
    product.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            product.save()
    except IntegrityError as exc:
        if "product_unique_sku_when_present" not in str(exc):
            raise
        raise ValidationError({"sku": SKU_TAKEN % {"sku": product.sku, "other": "another product"}}) from exc


def _audit(*, product: Product, action: str, acting_user: User | None, detail: dict) -> None:
    AuditEntry.objects.create(
        retailer_id=product.retailer_id,
        actor=acting_user,
        action=action,
        detail={"product_id": product.pk, "product": str(product), **detail},
    )


def _announce(product: Product, fields: list[str]) -> None:
    """Record that these fields of the product changed, in the change's transaction (`pos.events`)."""
    events.product_changed(retailer_id=product.retailer_id, product_id=product.pk, fields=fields)


def _jsonable(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


@transaction.atomic
def product_create(
    *,
    retailer: Retailer,
    name: str,
    sku: str | None = None,
    kind: str = ProductKind.STANDARD,
    retail_price: Decimal = Decimal("0"),
    supply_price: Decimal = Decimal("0"),
    active: bool = True,
    tracks_inventory: bool = True,
    acting_user: User | None = None,
) -> Product:
    """Add a product to the retailer's catalog (SKU unique per retailer, prices not negative, charges untracked)."""
    fields = _clean_fields(
        retailer=retailer,
        fields={
            "name": name,
            "sku": sku,
            "kind": kind,
            "retail_price": retail_price,
            "supply_price": supply_price,
            "active": active,
            "tracks_inventory": tracks_inventory,
        },
        product_id=None,
    )
    product = Product(retailer=retailer, **fields)
    _save(product)
    _audit(
        product=product,
        action=AuditAction.PRODUCT_CREATED,
        acting_user=acting_user,
        detail={k: _jsonable(v) for k, v in fields.items()},
    )
    return product


@transaction.atomic
def product_update(*, product: Product, acting_user: User | None = None, **changes: Any) -> list[str]:
    """Change a product's editable fields (`EDITABLE_FIELDS`); returns the names of the fields that changed.

    Every price, SKU and stock-tracking change of a product passes here, with the same rules as `product_create`;
    the audit row keeps each changed field's value before and after, and `pos.events.PRODUCT_CHANGED` records the
    changed fields in the same transaction (the BigCommerce link pushes a new price from it).
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"product_update cannot change {sorted(unknown)}")
    locked = Product.objects.select_for_update().get(pk=product.pk)
    current = {field: getattr(locked, field) for field in EDITABLE_FIELDS}
    fields = _clean_fields(retailer=locked.retailer, fields={**current, **changes}, product_id=locked.pk)
    changed = [field for field in EDITABLE_FIELDS if fields[field] != current[field]]
    if not changed:
        return []
    for field in changed:
        setattr(locked, field, fields[field])
    _save(locked)
    for field in (*changed, "updated_at"):
        setattr(product, field, getattr(locked, field))
    _audit(
        product=locked,
        action=AuditAction.PRODUCT_UPDATED,
        acting_user=acting_user,
        detail={"changes": {f: [_jsonable(current[f]), _jsonable(fields[f])] for f in changed}},
    )
    _announce(locked, changed)
    return changed


@transaction.atomic
def product_accept(*, product: Product, acting_user: User | None = None) -> Product:
    """Keep a product the link created as it is: it leaves the review queue."""
    updated = Product.objects.filter(pk=product.pk, needs_review=True).update(needs_review=False)
    product.needs_review = False
    if updated:
        _audit(product=product, action=AuditAction.PRODUCT_ACCEPTED, acting_user=acting_user, detail={})
    return product


@transaction.atomic
def product_merge(*, source: Product, target: Product, acting_user: User | None = None) -> MergeResult:
    """Fold `source` (typically a product the link created) into `target`, losing nothing and counting nothing twice.

    - Whatever other parts of the product keep about the source moves to the target (`pos.signals.product_merging`:
      the BigCommerce link moves its product links, so future orders for that BigCommerce product sell the target),
      and `pos.events.PRODUCT_CHANGED` with `"links"` records it, so stock and price pushes follow the target.
    - Its sale lines move to the target (each line keeps the name and SKU it was sold under), so sales history,
      voids and order edits act on the target from now on.
    - Whatever stock it holds at each outlet moves to the target through the ledger (reason `merge`, one pair of
      movements per outlet with source keys `pos:merge:<source>:<target>:<outlet>:out|in`), so every level stays
      equal to the sum of its movements and the units on hand are counted exactly once.
    - The source's own movements stay where they are (the ledger is append-only). If it has none it is deleted;
      otherwise it stays as an inactive, reviewed product without a SKU (so SKU matching finds the target), marked
      `merged_into` the target, and its page keeps its history.
    """
    if source.pk == target.pk:
        raise ValidationError(MERGE_SELF)
    if source.retailer_id != target.retailer_id:
        raise ValidationError(MERGE_OTHER_RETAILER)
    # Lock both rows in primary-key order so two merges touching the same products cannot deadlock.
    locked = {p.pk: p for p in Product.objects.select_for_update().filter(pk__in=[source.pk, target.pk]).order_by("pk")}
    source, target = locked[source.pk], locked[target.pk]
    if source.merged_into_id:
        raise ValidationError(MERGE_ALREADY_MERGED % {"name": source.name})
    if not target.active:
        raise ValidationError(MERGE_TARGET_INACTIVE % {"name": target.name})
    service_kinds = ProductKind.service_kinds()
    if (source.kind in service_kinds) != (target.kind in service_kinds):
        raise ValidationError(MERGE_KIND_MISMATCH)

    responses = product_merging.send(
        sender=Product, retailer_id=source.retailer_id, source_id=source.pk, target_id=target.pk
    )
    links_moved = sum(moved or 0 for _, moved in responses)
    sale_lines_moved = SaleLine.objects.filter(product=source).update(product=target)
    stock = dict(
        InventoryLevel.objects.filter(product=source)
        .exclude(on_hand=0)
        .order_by("outlet_id")
        .values_list("outlet_id", "on_hand")
    )
    common = {
        "reason": MovementReason.MERGE,
        "user_id": acting_user.pk if acting_user else None,
        "note": f"Merged “{source.name}” (#{source.pk}) into “{target.name}” (#{target.pk})",
    }
    moves = []
    for outlet_id, units in stock.items():
        key = f"pos:merge:{source.pk}:{target.pk}:{outlet_id}"
        moves.append(
            StockMove(product_id=source.pk, outlet_id=outlet_id, quantity=-units, source_key=f"{key}:out", **common)
        )
        moves.append(
            StockMove(product_id=target.pk, outlet_id=outlet_id, quantity=units, source_key=f"{key}:in", **common)
        )
    stock_move_many(retailer_id=source.retailer_id, moves=moves)

    detail = {
        "source_id": source.pk,
        "source": str(source),
        "links_moved": links_moved,
        "sale_lines_moved": sale_lines_moved,
        "stock_moved": {str(k): v for k, v in stock.items()},
    }
    if links_moved:
        _announce(target, ["links"])
    source_deleted = not InventoryMovement.objects.filter(product=source).exists()
    if source_deleted:
        source.delete()
    else:
        source.merged_into = target
        source.active = False
        source.needs_review = False
        source.sku = None
        source.save(update_fields=["merged_into", "active", "needs_review", "sku", "updated_at"])
    _audit(
        product=target,
        action=AuditAction.PRODUCT_MERGED,
        acting_user=acting_user,
        detail={**detail, "source_deleted": source_deleted},
    )
    return MergeResult(
        target=target,
        source_deleted=source_deleted,
        links_moved=links_moved,
        sale_lines_moved=sale_lines_moved,
        stock_moved=stock,
    )
