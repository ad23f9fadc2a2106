"""The catalog match report: what a link would do with BigCommerce's catalog, before the first order arrives.

Every BigCommerce item (a variant; a product without options has one base variant) is held against the POS
catalog the way an order line will be resolved (`integration.services.catalog_resolve`: the item's link, then its
exact SKU, else a new product), and lands in one outcome:

- **match**: already linked, or its SKU names exactly one POS product;
- **create**: no SKU, or a SKU the POS does not have: the first sale creates a POS product (for review);
- **collision**: the SKU is on more than one BigCommerce item, or on more than one POS product once case and
  spaces are ignored ("ABC-1" and "abc-1"), or only in another case: the first sale would link the wrong product
  or create a near-duplicate. The admin fixes it (in BigCommerce or on the POS product) and checks again, or
  accepts it.

Matched items are compared too: **price differs** (BigCommerce's price against the POS retail price) and **stock
differs** at each mapped location (the outlet's on-hand against the location's). The POS is the system of record:
once an item is linked, its next stock or price change is pushed, and BigCommerce shows the POS's figures.

Reads only: one call per 250 products (variants included, only the fields needed), one for the locations, and one
per 250 items for each mapped location other than the default one (whose levels come with the variants).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q

from integration.bc_types import CatalogProduct, Location
from integration.exceptions import ApiError
from integration.models import OutletLocation, ProductLink, StoreLink
from integration.services.link import StoreCheck, check_client, unreachable
from pos.models import InventoryLevel, Outlet, Product, Retailer

# Rows kept per outcome for the page (counts are always exact).
ROWS_SHOWN = 50
CENT = Decimal("0.01")
DEFAULT_LOCATION_ID = 1

MATCH, CREATE, COLLISION = "match", "create", "collision"


@dataclass(frozen=True)
class Item:
    """One BigCommerce item: a variant of a product, named with its options, and its default location's stock."""

    product_id: int
    variant_id: int
    name: str
    sku: str
    price: Decimal
    default_stock: int = 0


@dataclass(frozen=True)
class Row:
    """An item and what the POS has for it; `reason` says why it is not a plain match."""

    item: Item
    product: Product | None = None
    reason: str = ""
    products: tuple[Product, ...] = ()  # the POS products of a collision


@dataclass(frozen=True)
class StockRow:
    item: Item
    product: Product
    outlet: str
    location: str
    bigcommerce: int
    pos: int


@dataclass
class Section:
    """An outcome: its exact count and its first ROWS_SHOWN rows."""

    count: int = 0
    rows: list = field(default_factory=list)

    def add(self, row) -> None:
        self.count += 1
        if len(self.rows) < ROWS_SHOWN:
            self.rows.append(row)


@dataclass
class CatalogMatch:
    items: int = 0
    matched: Section = field(default_factory=Section)
    created: Section = field(default_factory=Section)
    collisions: Section = field(default_factory=Section)
    prices: Section = field(default_factory=Section)
    stock: Section = field(default_factory=Section)
    # (outlet name, location label) pairs compared for stock, and the store's locations left out of them.
    locations: list[tuple[str, str]] = field(default_factory=list)
    locations_unmapped: int = 0
    # The store's control panel (links to each BigCommerce product's page).
    control_panel: str = ""

    @property
    def clean(self) -> bool:
        return not self.collisions.count


@dataclass(frozen=True)
class OutletAt:
    """An outlet whose stock is compared with a BigCommerce location's."""

    outlet: Outlet
    location: Location

    @property
    def location_label(self) -> str:
        return self.location.label or f"location {self.location.id}"


def catalog_items(products: Iterable[CatalogProduct]) -> list[Item]:
    """The store's items: every variant of every product (`include=variants`)."""
    items = []
    for product in products:
        for variant in product.variants or ():
            options = ", ".join(f"{o.option_display_name} {o.label}".strip() for o in variant.option_values or ())
            items.append(
                Item(
                    product_id=product.id,
                    variant_id=variant.id,
                    name=f"{product.name} · {options}" if options else product.name,
                    sku=(variant.sku or "").strip(),
                    price=variant.price if variant.price is not None else product.price,
                    default_stock=variant.inventory_level or 0,
                )
            )
    return items


def compared_locations(
    *, retailer: Retailer, store_hash: str, outlet: Outlet, locations: Sequence[Location]
) -> list[OutletAt]:
    """Whose stock is compared where: the mapping of the store's earlier link when there was one, else the
    chosen outlet at the store's default location (linking maps it there when the store has one location; with
    several, the admin maps the others after linking)."""
    by_id = {location.id: location for location in locations}
    earlier = OutletLocation.objects.filter(
        link__retailer=retailer, link__store_hash=store_hash, location_id__in=list(by_id)
    ).select_related("outlet")
    pairs = [OutletAt(row.outlet, by_id[row.location_id]) for row in earlier.order_by("outlet__name")]
    if not pairs and locations:
        pairs = [OutletAt(outlet, by_id.get(DEFAULT_LOCATION_ID) or locations[0])]
    return pairs


def catalog_match(*, retailer: Retailer, store_hash: str, outlet: Outlet, client) -> CatalogMatch:
    """The report for linking `retailer` to the store `client` reads, booking online sales in `outlet`. Reads
    only; raises the client's ApiError when BigCommerce cannot be read."""
    items = catalog_items(client.iter_catalog())
    locations = client.list_locations()
    pairs = compared_locations(retailer=retailer, store_hash=store_hash, outlet=outlet, locations=locations)
    elsewhere = {
        pair.location.id: dict(client.iter_location_stock(pair.location.id))
        for pair in pairs
        if pair.location.id != DEFAULT_LOCATION_ID
    }
    report = CatalogMatch(items=len(items), locations_unmapped=len(locations) - len(pairs))
    report.locations = [(pair.outlet.name, pair.location_label) for pair in pairs]
    _classify(report, retailer=retailer, store_hash=store_hash, items=items, pairs=pairs, elsewhere=elsewhere)
    return report


def _fold(sku: str) -> str:
    return sku.strip().casefold()


def _classify(report, *, retailer, store_hash, items, pairs, elsewhere) -> None:
    linked = {
        (bc_product, bc_variant): product_id
        for bc_product, bc_variant, product_id in ProductLink.objects.filter(
            link__retailer=retailer, link__store_hash=store_hash
        ).values_list("bc_product_id", "bc_variant_id", "product_id")
    }
    products = list(
        Product.objects.for_retailer(retailer)
        .filter(Q(sku__isnull=False) | Q(pk__in=set(linked.values())))
        .only("id", "name", "sku", "retail_price", "tracks_inventory")
    )
    by_id = {p.pk: p for p in products}
    exact = {p.sku: p for p in products if p.sku}
    folded: dict[str, list[Product]] = defaultdict(list)
    for product in products:
        if product.sku:
            folded[_fold(product.sku)].append(product)
    bc_items: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if item.sku:
            bc_items[_fold(item.sku)].append(item)
    levels = {
        (product_id, outlet_id): on_hand
        for product_id, outlet_id, on_hand in InventoryLevel.objects.filter(
            retailer=retailer, outlet__in=[pair.outlet for pair in pairs]
        ).values_list("product_id", "outlet_id", "on_hand")
    }
    for item in items:
        product_id = linked.get((item.product_id, item.variant_id)) or linked.get((item.product_id, 0))
        product = by_id.get(product_id) if product_id else None
        if product is None:
            product = _resolve_by_sku(report, item, exact, folded, bc_items)
            if product is None:
                continue
        report.matched.add(Row(item, product))
        if item.price.quantize(CENT) != product.retail_price.quantize(CENT):
            report.prices.add(Row(item, product))
        if not product.tracks_inventory:
            continue
        for pair in pairs:
            if pair.location.id == DEFAULT_LOCATION_ID:
                theirs = item.default_stock
            else:
                theirs = elsewhere[pair.location.id].get(item.variant_id, 0)
            ours = levels.get((product.pk, pair.outlet.pk), 0)
            if theirs != ours:
                report.stock.add(StockRow(item, product, pair.outlet.name, pair.location_label, theirs, ours))


def _resolve_by_sku(report, item, exact, folded, bc_items) -> Product | None:
    """The POS product an unlinked item's first sale links to by SKU, or None after recording why none."""
    if not item.sku:
        report.created.add(Row(item, reason="No SKU in BigCommerce."))
        return None
    twins = bc_items[_fold(item.sku)]
    if len(twins) > 1:
        report.collisions.add(
            Row(item, reason=f"{len(twins)} BigCommerce items have this SKU: each sale links whichever comes first.")
        )
        return None
    candidates = folded.get(_fold(item.sku), [])
    if len(candidates) > 1:
        skus = ", ".join(p.sku for p in candidates)
        report.collisions.add(
            Row(item, reason=f"POS products share this SKU apart from case ({skus}).", products=tuple(candidates))
        )
        return None
    product = exact.get(item.sku)
    if product is None and candidates:
        report.collisions.add(
            Row(
                item,
                reason=f"The POS has “{candidates[0].sku}”, which differs only in case: the first sale would create "
                "a second product.",
                products=tuple(candidates),
            )
        )
        return None
    if product is None:
        report.created.add(Row(item, reason="Not in the POS."))
    return product


def catalog_match_before_link(
    *, retailer: Retailer, check: StoreCheck, access_token: str, outlet: Outlet
) -> CatalogMatch | None:
    """The report an admin sees before linking a store for the first time (None when this retailer linked the
    store before: its mappings are reused). Raises LinkError when BigCommerce cannot be read."""
    if StoreLink.objects.filter(retailer=retailer, store_hash=check.store_hash).exists():
        return None
    client = check_client(check.store_hash, access_token, check.api_url)
    try:
        report = catalog_match(retailer=retailer, store_hash=check.store_hash, outlet=outlet, client=client)
    except ApiError as exc:
        raise unreachable(exc) from None
    report.control_panel = StoreLink(store_hash=check.store_hash).control_panel_url
    return report
