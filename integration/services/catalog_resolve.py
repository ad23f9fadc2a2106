"""Which POS product a BigCommerce order line is: by ProductLink (product id + variant id), then by a unique SKU
match, then a new product created by the link. A line whose BigCommerce product was deleted, or that never had
one (a custom line), is booked on a placeholder product. Shipping, handling, gift wrapping and order fees are one
service product each per retailer.

An order never blocks on a catalog problem. Every step is a fixed number of queries for any number of lines, and
creation happens under a per-retailer lock so two workers meeting the same new product create it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from integration.models import ProductLink, StoreLink
from pos.choices import ProductKind
from pos.models import Product

SERVICE_PRODUCT_NAMES = {
    ProductKind.SHIPPING: "Shipping",
    ProductKind.HANDLING: "Handling",
    ProductKind.WRAPPING: "Gift wrapping",
    ProductKind.FEE: "Order fee",
}
CUSTOM_ITEM_NAME = "Custom or deleted BigCommerce item"
# Namespaces of PostgreSQL advisory locks taken by the sync (the second key is the retailer id).
LOCK_PRODUCT_CREATE = 7301
LOCK_CUSTOMER_CREATE = 7302


def advisory_xact_lock(namespace: int, key: int) -> None:
    """Serialise a rare write path per retailer until the transaction ends (PostgreSQL; SQLite serialises
    writers already)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [namespace, key])


@dataclass(frozen=True)
class LineRef:
    """What an order line tells about its product."""

    bc_product_id: int
    bc_variant_id: int
    sku: str | None
    name: str
    base_price: Decimal = Decimal("0")
    cost_price: Decimal = Decimal("0")

    @property
    def key(self) -> tuple[int, int]:
        return (self.bc_product_id, self.bc_variant_id)


@dataclass
class Resolution:
    """Line key → POS product, and what was created on the way (for the sync log)."""

    products: dict[tuple[int, int], Product] = field(default_factory=dict)
    created: list[Product] = field(default_factory=list)
    placeholders: list[Product] = field(default_factory=list)


def _clean_sku(sku: str | None) -> str | None:
    sku = (sku or "").strip()
    return sku[:255] or None


def _linked(link: StoreLink, refs: Sequence[LineRef]) -> dict[tuple[int, int], Product]:
    ids = {r.bc_product_id for r in refs if r.bc_product_id}
    if not ids:
        return {}
    wanted = {r.key for r in refs}
    rows = ProductLink.objects.filter(link=link, bc_product_id__in=ids).select_related("product")
    return {
        (pl.bc_product_id, pl.bc_variant_id): pl.product
        for pl in rows
        if (pl.bc_product_id, pl.bc_variant_id) in wanted
    }


def _by_sku(link: StoreLink, refs: Sequence[LineRef]) -> dict[str, Product]:
    skus = {s for r in refs if (s := _clean_sku(r.sku))}
    if not skus:
        return {}
    return {p.sku: p for p in Product.objects.filter(retailer_id=link.retailer_id, sku__in=skus)}


def products_known(*, link: StoreLink, refs: Iterable[LineRef]) -> dict[tuple[int, int], Product]:
    """Line key → the POS product a catalog line already resolves to (by link, then unique SKU); read-only."""
    refs = [r for r in refs if r.bc_product_id]
    known = _linked(link, refs)
    skus = _by_sku(link, [r for r in refs if r.key not in known])
    for ref in refs:
        if ref.key not in known and (sku := _clean_sku(ref.sku)) in skus:
            known[ref.key] = skus[sku]
    return known


def products_unresolved(*, link: StoreLink, refs: Iterable[LineRef]) -> list[LineRef]:
    """Catalog lines the POS does not know yet (read-only). The caller asks BigCommerce, outside any
    transaction, which of their products still exist, then calls `products_resolve`."""
    refs = [r for r in refs if r.bc_product_id]
    known = products_known(link=link, refs=refs)
    return [r for r in refs if r.key not in known]


def products_resolve(*, link: StoreLink, refs: Sequence[LineRef], deleted_product_ids: set[int]) -> Resolution:
    """Resolve every line to a POS product, creating what is missing. Call inside the sync's transaction."""
    resolution = Resolution()
    catalog_refs = [r for r in refs if r.bc_product_id]
    resolution.products.update(_linked(link, catalog_refs))
    pending = _match_skus(link, [r for r in catalog_refs if r.key not in resolution.products], resolution)
    custom = [r for r in refs if not r.bc_product_id]
    if pending or custom:
        advisory_xact_lock(LOCK_PRODUCT_CREATE, link.retailer_id)
        # Another worker may have created them while we waited for the lock.
        resolution.products.update(_linked(link, pending))
        pending = _match_skus(link, [r for r in pending if r.key not in resolution.products], resolution)
        _create(link, pending, deleted_product_ids, resolution)
        if custom:
            placeholder = _custom_item_placeholder(link)
            for ref in custom:
                resolution.products[ref.key] = placeholder
    return resolution


def _match_skus(link: StoreLink, refs: Sequence[LineRef], resolution: Resolution) -> list[LineRef]:
    """Link lines whose SKU names exactly one POS product (SKUs are unique per retailer); return the rest."""
    by_sku = _by_sku(link, refs)
    new_links, rest = [], []
    for ref in _unique_keys(refs):
        product = by_sku.get(_clean_sku(ref.sku) or "")
        if product is None:
            rest.append(ref)
            continue
        resolution.products[ref.key] = product
        new_links.append(_product_link(link, ref, product))
    ProductLink.objects.bulk_create(new_links, ignore_conflicts=True)
    return rest


def _create(link: StoreLink, refs: Sequence[LineRef], deleted_product_ids: set[int], resolution: Resolution) -> None:
    refs = _unique_keys(refs)
    if not refs:
        return
    # Lines of different variants can carry the same SKU: they become one product (SKUs are unique per retailer).
    first_by_sku: dict[str, LineRef] = {}
    for ref in refs:
        if (sku := _clean_sku(ref.sku)) and ref.bc_product_id not in deleted_product_ids:
            first_by_sku.setdefault(sku, ref)
    refs_to_create = [
        r
        for r in refs
        if r.bc_product_id in deleted_product_ids or not _clean_sku(r.sku) or first_by_sku[_clean_sku(r.sku)] is r
    ]
    products = []
    for ref in refs_to_create:
        if ref.bc_product_id in deleted_product_ids:
            products.append(
                Product(
                    retailer_id=link.retailer_id,
                    name=f"{ref.name} (deleted in BigCommerce)"[:255],
                    sku=None,
                    kind=ProductKind.PLACEHOLDER,
                    retail_price=ref.base_price,
                    tracks_inventory=False,
                    created_by_link=True,
                    needs_review=True,
                )
            )
        else:
            products.append(
                Product(
                    retailer_id=link.retailer_id,
                    name=ref.name[:255] or f"BigCommerce product {ref.bc_product_id}",
                    sku=_clean_sku(ref.sku),
                    retail_price=ref.base_price,
                    supply_price=ref.cost_price,
                    tracks_inventory=True,
                    created_by_link=True,
                    needs_review=True,
                )
            )
    Product.objects.bulk_create(products)
    by_sku = {}
    for ref, product in zip(refs_to_create, products, strict=True):
        resolution.products[ref.key] = product
        (resolution.placeholders if product.kind == ProductKind.PLACEHOLDER else resolution.created).append(product)
        if product.sku:
            by_sku[product.sku] = product
    for ref in refs:
        if ref.key not in resolution.products:
            resolution.products[ref.key] = by_sku[_clean_sku(ref.sku)]
    ProductLink.objects.bulk_create([_product_link(link, r, resolution.products[r.key]) for r in refs])


def _custom_item_placeholder(link: StoreLink) -> Product:
    product, _ = Product.objects.get_or_create(
        retailer_id=link.retailer_id,
        kind=ProductKind.PLACEHOLDER,
        name=CUSTOM_ITEM_NAME,
        defaults={"tracks_inventory": False, "created_by_link": True, "sku": None},
    )
    return product


def _product_link(link: StoreLink, ref: LineRef, product: Product) -> ProductLink:
    return ProductLink(
        link=link,
        product=product,
        bc_product_id=ref.bc_product_id,
        bc_variant_id=ref.bc_variant_id,
        bc_sku=(ref.sku or "")[:255],
    )


def _unique_keys(refs: Sequence[LineRef]) -> list[LineRef]:
    seen: dict[tuple[int, int], LineRef] = {}
    for ref in refs:
        seen.setdefault(ref.key, ref)
    return list(seen.values())


def service_products_ensure(*, retailer_id: int, kinds: Iterable[str]) -> tuple[dict[str, Product], list[Product]]:
    """The retailer's shipping / handling / wrapping / fee products, created the first time each is needed.

    Returns (kind → product, the ones created now). A unique constraint keeps one per kind per retailer.
    """
    kinds = set(kinds)
    if not kinds:
        return {}, []
    found = {p.kind: p for p in Product.objects.filter(retailer_id=retailer_id, kind__in=kinds)}
    created = []
    for kind in sorted(kinds - found.keys()):
        product, was_created = Product.objects.get_or_create(
            retailer_id=retailer_id,
            kind=kind,
            defaults={"name": SERVICE_PRODUCT_NAMES[kind], "tracks_inventory": False, "sku": None},
        )
        found[kind] = product
        if was_created:
            created.append(product)
    return found, created
