"""Read-side queries for the POS records (the pages build on these, never on ad-hoc querysets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from integration.choices import LinkState
from integration.models import ProductLink
from pos.choices import Channel, FulfillmentState, SaleStatus
from pos.models import (
    Customer,
    Fulfillment,
    InventoryLevel,
    InventoryMovement,
    Outlet,
    Product,
    Retailer,
    Sale,
    SalePayment,
)


def retailer_today_bounds(retailer: Retailer) -> tuple[datetime, datetime]:
    """Start and end (UTC-aware) of "today" in the retailer's time zone."""
    tz = ZoneInfo(retailer.time_zone)
    today = timezone.now().astimezone(tz).date()
    start = datetime.combine(today, time.min, tzinfo=tz)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class OverviewCounts:
    sales_today: int
    sales_today_total: Decimal
    online_today: int
    online_today_total: Decimal
    active_products: int
    outlets: int
    customers: int


def overview_counts(*, retailer: Retailer) -> OverviewCounts:
    """Today's takings (closed sales) in total and online, and the size of the catalog."""
    start, end = retailer_today_bounds(retailer)
    closed_today = Q(status=SaleStatus.CLOSED, sale_date__gte=start, sale_date__lt=end)
    online = Q(channel=Channel.BIGCOMMERCE)
    sales = Sale.objects.for_retailer(retailer).aggregate(
        n=Count("id", filter=closed_today),
        total=Sum("total_inc_tax", filter=closed_today),
        online_n=Count("id", filter=closed_today & online),
        online_total=Sum("total_inc_tax", filter=closed_today & online),
    )
    return OverviewCounts(
        sales_today=sales["n"],
        sales_today_total=sales["total"] or Decimal("0"),
        online_today=sales["online_n"],
        online_today_total=sales["online_total"] or Decimal("0"),
        active_products=Product.objects.for_retailer(retailer).filter(active=True).count(),
        outlets=Outlet.objects.for_retailer(retailer).count(),
        customers=Customer.objects.for_retailer(retailer).count(),
    )


# ---------------------------------------------------------------- catalog

CATALOG_SORTS = {
    "name": ("name", "pk"),
    "-name": ("-name", "-pk"),
    "sku": ("sku", "pk"),
    "-sku": ("-sku", "-pk"),
    "price": ("retail_price", "pk"),
    "-price": ("-retail_price", "-pk"),
    "on_hand": ("on_hand_total", "pk"),
    "-on_hand": ("-on_hand_total", "-pk"),
    "created": ("created_at", "pk"),
    "-created": ("-created_at", "-pk"),
}


def _linked(retailer: Retailer) -> Exists:
    """True for a product with a ProductLink on the retailer's live store link (an unlinked store's don't count)."""
    return Exists(
        ProductLink.objects.filter(product=OuterRef("pk"), link__retailer=retailer).exclude(
            link__state=LinkState.UNLINKED
        )
    )


def _search(queryset: QuerySet[Product], query: str) -> QuerySet[Product]:
    return queryset.filter(Q(name__icontains=query) | Q(sku__icontains=query)) if query else queryset


def product_catalog(
    *,
    retailer: Retailer,
    query: str = "",
    kind: str = "",
    active: bool | None = None,
    linked: bool | None = None,
    needs_review: bool | None = None,
    sort: str = "name",
) -> QuerySet[Product]:
    """The Catalog page: products matching the search (name or SKU) and filters, with on hand over all outlets
    (`on_hand_total`) and `is_linked`, in one query whatever the page size."""
    products = _search(Product.objects.for_retailer(retailer), query.strip())
    if kind:
        products = products.filter(kind=kind)
    if active is not None:
        products = products.filter(active=active)
    if needs_review is not None:
        products = products.filter(needs_review=needs_review)
    products = products.annotate(
        is_linked=_linked(retailer),
        on_hand_total=Coalesce(Sum("inventory_levels__on_hand"), Value(0), output_field=IntegerField()),
    )
    if linked is not None:
        products = products.filter(is_linked=linked)
    return products.order_by(*CATALOG_SORTS.get(sort, CATALOG_SORTS["name"]))


def product_review_queue(*, retailer: Retailer) -> QuerySet[Product]:
    """Products the link created that nobody has reviewed yet, oldest first, with their BigCommerce ids, the
    units sold and the stock they hold."""
    return (
        Product.objects.for_retailer(retailer)
        .filter(needs_review=True)
        .annotate(
            on_hand_total=Coalesce(
                Subquery(
                    InventoryLevel.objects.filter(product=OuterRef("pk"))
                    .values("product")
                    .annotate(total=Sum("on_hand"))
                    .values("total")
                ),
                Value(0),
                output_field=IntegerField(),
            ),
            lines_sold=Count("sale_lines"),
        )
        .prefetch_related(Prefetch("bc_links", queryset=ProductLink.objects.order_by("pk")))
        .order_by("created_at", "pk")
    )


def product_stock_by_outlet(*, product: Product) -> QuerySet[Outlet]:
    """Every outlet of the product's retailer with the product's `on_hand` there (0 where it never moved)."""
    level = InventoryLevel.objects.filter(product=product, outlet=OuterRef("pk")).values("on_hand")[:1]
    return (
        Outlet.objects.for_retailer(product.retailer_id)
        .annotate(on_hand=Coalesce(Subquery(level), Value(0), output_field=IntegerField()))
        .order_by("name")
    )


def product_movements(*, product: Product, outlet_id: int | None = None) -> QuerySet[InventoryMovement]:
    """The product's stock ledger, newest first, optionally at one outlet."""
    movements = InventoryMovement.objects.filter(product=product).select_related("outlet", "user", "sale")
    if outlet_id:
        movements = movements.filter(outlet_id=outlet_id)
    return movements.order_by("-created_at", "-id")


def products_search(
    *, retailer: Retailer, query: str, limit: int = 10, active_only: bool = True, exclude_ids: tuple[int, ...] = ()
) -> list[Product]:
    """Products for a picker (sell screen, merge target, adjustment): an exact SKU first, then name/SKU matches."""
    query = query.strip()
    if not query:
        return []
    products = Product.objects.for_retailer(retailer).exclude(pk__in=exclude_ids)
    if active_only:
        products = products.filter(active=True)
    return list(
        _search(products, query)
        .annotate(exact=Exists(Product.objects.filter(pk=OuterRef("pk"), sku=query)))
        .order_by("-exact", "name", "pk")[:limit]
    )


def products_by_sku(*, retailer: Retailer, skus: list[str]) -> dict[str, Product]:
    """The retailer's products with these SKUs (exact match), by SKU, in one query."""
    return {p.sku: p for p in Product.objects.for_retailer(retailer).filter(sku__in=skus)}


STOCK_STATES = ("low", "negative")


def stock_levels(
    *, retailer: Retailer, outlet: Outlet, query: str = "", state: str = "", low_at: int = 5
) -> QuerySet[Product]:
    """The Stock page: active products that track stock, each with `on_hand` at the outlet (0 where it never
    moved); `state` "low" keeps those at or below `low_at`, "negative" those below zero."""
    level = InventoryLevel.objects.filter(product=OuterRef("pk"), outlet=outlet).values("on_hand")[:1]
    products = (
        _search(Product.objects.for_retailer(retailer).filter(active=True, tracks_inventory=True), query.strip())
        .annotate(on_hand=Coalesce(Subquery(level), Value(0), output_field=IntegerField()))
        .order_by("name", "pk")
    )
    if state == "low":
        products = products.filter(on_hand__lte=low_at)
    elif state == "negative":
        products = products.filter(on_hand__lt=0)
    return products


def stock_on_hand(*, outlet: Outlet, product_ids: list[int]) -> dict[int, int]:
    """On hand at the outlet by product id, for the products that ever moved there, in one query."""
    return dict(
        InventoryLevel.objects.filter(outlet=outlet, product_id__in=product_ids).values_list("product_id", "on_hand")
    )


def sale_for_receipt(*, retailer: Retailer, pk: int) -> Sale | None:
    """One sale with everything its receipt prints, in three queries."""
    return (
        Sale.objects.for_retailer(retailer)
        .select_related("outlet", "register", "user", "customer")
        .prefetch_related("lines", Prefetch("payments", queryset=SalePayment.objects.select_related("payment_type")))
        .filter(pk=pk)
        .first()
    )


# ---------------------------------------------------------------- fulfilments

FULFILLMENT_OPEN_TAB = "open"
FULFILLMENT_ALL_TAB = "all"
FULFILLMENT_TABS = (FULFILLMENT_OPEN_TAB, *FulfillmentState.values, FULFILLMENT_ALL_TAB)


def _fulfillment_search(*, type: str, query: str) -> Q:
    """Type filter and search: an invoice or order number, or words of the customer's name, email or company."""
    condition = Q(type=type) if type else Q()
    query = query.strip()
    if query.isdigit():
        return condition & (Q(sale__invoice_number=int(query)) | Q(sale__external_order_id=query))
    for word in query.split():
        condition &= (
            Q(sale__customer__first_name__icontains=word)
            | Q(sale__customer__last_name__icontains=word)
            | Q(sale__customer__email__icontains=word)
            | Q(sale__customer__company__icontains=word)
        )
    return condition


def fulfillment_queue(*, retailer: Retailer, tab: str = FULFILLMENT_OPEN_TAB, type: str = "", query: str = ""):
    """The Fulfillments list: one tab (open = new, picking and packed), oldest first, with item counts.

    One query for any page size: the sale and customer are joined, the line totals are aggregated.
    """
    fulfillments = (
        Fulfillment.objects.for_retailer(retailer)
        .filter(_fulfillment_search(type=type, query=query))
        .select_related("sale", "sale__customer")
        .defer("shipping_address", "sale__customer_note", "sale__staff_note", "sale__customer__address")
        .annotate(units=Coalesce(Sum("lines__quantity"), 0), units_fulfilled=Coalesce(Sum("lines__fulfilled"), 0))
        .order_by("created_at", "id")
    )
    if tab == FULFILLMENT_OPEN_TAB:
        return fulfillments.filter(state__in=FulfillmentState.open_states())
    if tab in FulfillmentState.values:
        return fulfillments.filter(state=tab)
    return fulfillments


def fulfillment_tab_counts(*, retailer: Retailer, type: str = "", query: str = "") -> dict[str, int]:
    """How many fulfilments each tab holds under the same type filter and search (one query)."""
    counts = (
        Fulfillment.objects.for_retailer(retailer)
        .filter(_fulfillment_search(type=type, query=query))
        .aggregate(
            **{state: Count("id", filter=Q(state=state)) for state in FulfillmentState.values},
            **{FULFILLMENT_ALL_TAB: Count("id")},
        )
    )
    counts[FULFILLMENT_OPEN_TAB] = sum(counts[state] for state in FulfillmentState.open_states())
    return counts
