"""Read-side queries for the POS records (the pages build on these, never on ad-hoc querysets)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from pos.choices import Channel, FulfillmentState, MovementReason, SaleStatus
from pos.keyset import KeysetPage, keyset_page
from pos.models import (
    AuditEntry,
    Customer,
    Fulfillment,
    FulfillmentEvent,
    FulfillmentLine,
    InventoryLevel,
    InventoryMovement,
    Membership,
    Outlet,
    PaymentType,
    Product,
    Register,
    Retailer,
    Sale,
    SalePayment,
)

# ---------------------------------------------------------------- the shop's set-up


def retailer_outlets(*, retailer: Retailer) -> list[Outlet]:
    """Every outlet (active first, then by name) with its registers (by name) prefetched: two queries."""
    registers = Prefetch("registers", queryset=Register.objects.order_by("-active", "name"))
    return list(Outlet.objects.for_retailer(retailer).order_by("-active", "name").prefetch_related(registers))


def retailer_payment_types(*, retailer: Retailer) -> list[PaymentType]:
    return list(PaymentType.objects.for_retailer(retailer).order_by("-active", "name"))


def retailer_people(*, retailer: Retailer) -> list[Membership]:
    """The retailer's people (active first, admins first, then by username), with their user: one query."""
    return list(
        Membership.objects.for_retailer(retailer).select_related("user").order_by("-active", "role", "user__username")
    )


@dataclass(frozen=True)
class SetupCounts:
    """How much of the shop is set up: active outlets, registers that can sell, payment types and people."""

    outlets: int
    registers: int
    payment_types: int
    people: int


def settings_counts(*, retailer: Retailer) -> SetupCounts:
    return SetupCounts(
        outlets=Outlet.objects.for_retailer(retailer).filter(active=True).count(),
        registers=Register.objects.for_retailer(retailer).filter(active=True, outlet__active=True).count(),
        payment_types=PaymentType.objects.for_retailer(retailer).filter(active=True).count(),
        people=Membership.objects.for_retailer(retailer).filter(active=True).count(),
    )


def retailer_audit_recent(*, retailer: Retailer, limit: int = 10) -> list[AuditEntry]:
    """The latest audited changes at the retailer (settings, people, catalog, link), newest first."""
    return list(AuditEntry.objects.for_retailer(retailer).select_related("actor")[:limit])


def retailer_today_bounds(retailer: Retailer) -> tuple[datetime, datetime]:
    """Start and end (UTC-aware) of "today" in the retailer's time zone."""
    today = timezone.now().astimezone(ZoneInfo(retailer.time_zone)).date()
    return local_day_bounds(retailer, today, today)


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


def _search(queryset: QuerySet[Product], query: str) -> QuerySet[Product]:
    return queryset.filter(Q(name__icontains=query) | Q(sku__icontains=query)) if query else queryset


def product_catalog(
    *,
    retailer: Retailer,
    query: str = "",
    kind: str = "",
    active: bool | None = None,
    needs_review: bool | None = None,
    sort: str = "name",
) -> QuerySet[Product]:
    """The Catalog page: products matching the search (name or SKU) and filters, with on hand over all outlets
    (`on_hand_total`), in one query whatever the page size (the link adds `is_linked`
    with its own selector)."""
    # That selector: integration/selectors.py, products_with_link_state.
    products = _search(Product.objects.for_retailer(retailer), query.strip())
    if kind:
        products = products.filter(kind=kind)
    if active is not None:
        products = products.filter(active=active)
    if needs_review is not None:
        products = products.filter(needs_review=needs_review)
    products = products.annotate(
        on_hand_total=Coalesce(Sum("inventory_levels__on_hand"), Value(0), output_field=IntegerField())
    )
    return products.order_by(*CATALOG_SORTS.get(sort, CATALOG_SORTS["name"]))


def product_review_queue(*, retailer: Retailer) -> QuerySet[Product]:
    """Products the link created that nobody has reviewed yet, oldest first, with the units sold and the stock
    they hold (the link adds their BigCommerce ids with its own selector)."""
    # That selector: integration/selectors.py, products_with_links.
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
    """The Fulfillments list: one row per fulfilment (an order shipping to two addresses has two), one tab (open =
    new, picking and packed), oldest first, with item counts and the city it ships to (`ship_city`).

    One query for any page size: the sale and customer are joined, the line totals are aggregated.
    """
    fulfillments = (
        Fulfillment.objects.for_retailer(retailer)
        .filter(_fulfillment_search(type=type, query=query))
        .select_related("sale", "sale__customer")
        .defer("shipping_address", "sale__customer_note", "sale__staff_note", "sale__customer__address")
        .annotate(
            units=Coalesce(Sum("lines__quantity"), 0),
            units_fulfilled=Coalesce(Sum("lines__fulfilled"), 0),
            ship_city=KT("shipping_address__city"),
        )
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


# ---------------------------------------------------------------- sales history

# Sort choices of the Sales history: name -> (field, descending). Each has an index that starts with the retailer.
SALE_SORTS: dict[str, tuple[str, bool]] = {
    "-date": ("sale_date", True),
    "date": ("sale_date", False),
    "-total": ("total_inc_tax", True),
    "total": ("total_inc_tax", False),
    "-invoice": ("invoice_number", True),
    "invoice": ("invoice_number", False),
}
NO_FULFILLMENT = "none"
# The capped count: "1,000+ sales" costs reading at most this many index entries, never the whole set.
SALES_COUNT_CAP = 1000
# A customer search matching at most this many customers filters sales by their ids (see _sale_search).
SEARCH_CUSTOMER_IDS = 10_000
# bigint holds 18 digits safely; a longer number can only be a BigCommerce order number.
_MAX_INVOICE_DIGITS = 18


@dataclass(frozen=True)
class SaleFilters:
    """What the Sales history shows: every field optional ("" / None = any)."""

    date_from: date | None = None
    date_to: date | None = None
    status: str = ""
    channel: str = ""
    outlet_id: int | None = None
    register_id: int | None = None
    payment_state: str = ""
    fulfillment_state: str = ""  # a FulfillmentState, or NO_FULFILLMENT
    bc_status_id: int | None = None
    q: str = ""
    sort: str = "-date"


def local_day_bounds(retailer: Retailer, day_from: date | None, day_to: date | None) -> tuple:
    """UTC-aware [start, end) instants of an inclusive range of the retailer's local days (None: open end)."""
    tz = ZoneInfo(retailer.time_zone)
    start = datetime.combine(day_from, time.min, tzinfo=tz) if day_from else None
    end = datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=tz) if day_to else None
    return start, end


def within_local_days(queryset: QuerySet, field: str, retailer: Retailer, day_from, day_to) -> QuerySet:
    """`queryset` narrowed to rows whose `field` falls in an inclusive range of the retailer's local days."""
    start, end = local_day_bounds(retailer, day_from, day_to)
    if start:
        queryset = queryset.filter(**{f"{field}__gte": start})
    if end:
        queryset = queryset.filter(**{f"{field}__lt": end})
    return queryset


def customers_matching(*, retailer: Retailer, q: str) -> QuerySet[Customer]:
    """Customers whose email, or whose first or last name, starts with what was typed (case-insensitive; every
    word must match). Prefix search, so PostgreSQL answers it from pattern indexes (pos migration 0003); on
    SQLite it scans the retailer's customers, which is fine at the sizes SQLite is used for."""
    customers = Customer.objects.for_retailer(retailer)
    q = q.strip().lower()
    if "@" in q:
        return customers.filter(email_normalized__startswith=q)
    customers = customers.annotate(first_lower=Lower("first_name"), last_lower=Lower("last_name"))
    for word in q.split():
        customers = customers.filter(
            Q(first_lower__startswith=word) | Q(last_lower__startswith=word) | Q(email_normalized__startswith=word)
        )
    return customers


def _sale_search(retailer: Retailer, q: str) -> Q:
    """An invoice number or BigCommerce order number (exact, on indexed columns), else a customer.

    Matching customers are looked up first and passed as literal ids: the database then knows how many sales
    to expect and picks its plan (read those customers' sales, or walk the history by date when matches are
    common), where a subquery it cannot size makes it walk the whole history for a rare name. Beyond
    SEARCH_CUSTOMER_IDS customers (a one- or two-letter search) a subquery is fine: matches are everywhere."""
    q = q.strip().removeprefix("#").strip()
    if q.isdigit():
        by_order = Q(channel=Channel.BIGCOMMERCE, external_order_id=q)
        return by_order | Q(invoice_number=int(q)) if len(q) <= _MAX_INVOICE_DIGITS else by_order
    customers = customers_matching(retailer=retailer, q=q).order_by()
    ids = list(customers.values_list("pk", flat=True)[: SEARCH_CUSTOMER_IDS + 1])
    if len(ids) > SEARCH_CUSTOMER_IDS:
        return Q(customer_id__in=customers.values("pk"))
    if connection.vendor == "postgresql" and len(ids) > 1:
        # `customer_id = ANY(<one array parameter>)` plans exactly like `IN (<every id>)`, without the cost of
        # writing, quoting and parsing a statement with two thousand placeholders (twice: page and count).
        column = f"{connection.ops.quote_name(Sale._meta.db_table)}.{connection.ops.quote_name('customer_id')}"
        return Q(RawSQL(f"{column} = ANY(%s::bigint[])", (ids,), output_field=BooleanField()))
    return Q(customer_id__in=ids)


def sales_history(*, retailer: Retailer, filters: SaleFilters) -> QuerySet[Sale]:
    """Every sale of the retailer, in store and online, that matches the filters, in the chosen order, with what
    a list row shows joined in (one query per page whatever its size)."""
    sales = within_local_days(
        Sale.objects.for_retailer(retailer), "sale_date", retailer, filters.date_from, filters.date_to
    )
    exact = {
        "status": filters.status,
        "channel": filters.channel,
        "outlet_id": filters.outlet_id,
        "register_id": filters.register_id,
        "payment_state": filters.payment_state,
        "bc_status_id": filters.bc_status_id,
    }
    sales = sales.filter(**{name: value for name, value in exact.items() if value not in ("", None)})
    if filters.fulfillment_state == NO_FULFILLMENT:
        # NOT EXISTS, not a LEFT JOIN ... IS NULL: the join is shared with select_related and hides the anti-join.
        sales = sales.filter(~Exists(Fulfillment.objects.filter(sale=OuterRef("pk"))))
    elif filters.fulfillment_state:
        in_state = Fulfillment.objects.filter(sale=OuterRef("pk"), state=filters.fulfillment_state)
        sales = sales.filter(Exists(in_state))  # any of its fulfilments (one per consignment)
    if filters.q.strip():
        sales = sales.filter(_sale_search(retailer, filters.q))
    key, descending = SALE_SORTS.get(filters.sort, SALE_SORTS["-date"])
    return (
        sales.select_related("customer", "outlet", "register")
        .prefetch_related(Prefetch("fulfillments", queryset=Fulfillment.objects.defer("shipping_address")))
        .defer("customer__address", "customer_note", "staff_note")
        .order_by(f"-{key}" if descending else key, "-pk" if descending else "pk")
    )


@dataclass(frozen=True)
class SalesPage:
    page: KeysetPage
    # How many sales match, counted up to SALES_COUNT_CAP; `count_capped` says there are more.
    count: int
    count_capped: bool


def sales_history_page(
    *, retailer: Retailer, filters: SaleFilters, after: str | None = None, before: str | None = None, per_page: int
) -> SalesPage:
    """One page of the Sales history (keyset pagination on the sort key and id) and a capped count."""
    sales = sales_history(retailer=retailer, filters=filters)
    key, descending = SALE_SORTS.get(filters.sort, SALE_SORTS["-date"])
    page = keyset_page(sales, key=key, descending=descending, after=after, before=before, per_page=per_page)
    count = sales.order_by()[: SALES_COUNT_CAP + 1].count()
    return SalesPage(page=page, count=min(count, SALES_COUNT_CAP), count_capped=count > SALES_COUNT_CAP)


def sale_for_detail(*, retailer: Retailer) -> QuerySet[Sale]:
    """The retailer's sales with everything the sale page shows: lines, payments and refunds, refunded items
    returned to stock (`returns`), customer, fulfilment with its lines and events, and the BigCommerce order's sync
    row and link."""
    return (
        Sale.objects.for_retailer(retailer)
        .select_related("customer", "outlet", "register", "user", "order_sync__link")
        .prefetch_related(
            "lines",
            "payments__payment_type",
            Prefetch(
                "movements",
                queryset=InventoryMovement.objects.filter(reason=MovementReason.RETURN).select_related("product"),
                to_attr="returns",
            ),
            "fulfillments",
            Prefetch("fulfillments__lines", queryset=FulfillmentLine.objects.select_related("sale_line")),
            Prefetch("fulfillments__events", queryset=FulfillmentEvent.objects.select_related("actor")),
        )
    )


CENTS = Decimal("0.01")


def _plain(amount: Decimal) -> str:
    """Money for a spreadsheet as the pages show it: two decimals rounded half up (what `floatformat:2` shows;
    53.495 is 53.50), no separator or symbol."""
    return f"{amount.quantize(CENTS, rounding=ROUND_HALF_UP):f}"


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """Text for a spreadsheet cell: a value that a spreadsheet would run as a formula (a customer named
    "=HYPERLINK(...)" arrives from the storefront) is prefixed with a quote, so it stays text."""
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


SALES_CSV_HEADER = [
    "Invoice",
    "Date",
    "Channel",
    "BigCommerce order",
    "Outlet",
    "Register",
    "Customer",
    "Customer email",
    "Status",
    "Payment",
    "BigCommerce status",
    "Fulfilment",
    "Currency",
    "Total ex tax",
    "Tax",
    "Discount",
    "Total",
    "Paid",
    "Refunded",
    "Balance",
    "Paid in",
    "Exchange rate",
    "Total paid in that currency",
]


def sales_csv_rows(*, retailer: Retailer, filters: SaleFilters, chunk_size: int = 2000) -> Iterator[list[str]]:
    """The filtered Sales history as spreadsheet rows (header first): local times (the Date column names the time
    zone), money rounded to cents as the pages show it, text that cannot run as a formula. Streams from a
    server-side cursor in chunks, so a million rows never sit in memory."""
    tz = ZoneInfo(retailer.time_zone)
    yield [f"Date ({retailer.time_zone})" if column == "Date" else column for column in SALES_CSV_HEADER]
    for sale in sales_history(retailer=retailer, filters=filters).iterator(chunk_size=chunk_size):
        customer = sale.customer
        states = ", ".join(f.get_state_display() for f in sale.fulfillments.all())
        yield [
            str(sale.invoice_number),
            sale.sale_date.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
            sale.get_channel_display(),
            _cell(sale.external_order_id),
            _cell(sale.outlet.name),
            _cell(sale.register.name),
            _cell(customer.full_name) if customer else "",
            _cell(customer.email) if customer else "",
            sale.get_status_display(),
            sale.get_payment_state_display(),
            _cell(sale.bc_status_label),
            states,
            sale.currency,
            *(
                _plain(v)
                for v in (
                    sale.total_ex_tax,
                    sale.total_tax,
                    sale.discount_total,
                    sale.total_inc_tax,
                    sale.amount_paid,
                    sale.amount_refunded,
                    sale.balance,
                )
            ),
            sale.original_currency,
            f"{sale.exchange_rate.normalize():f}" if sale.exchange_rate is not None else "",
            _plain(sale.original_total_inc_tax) if sale.original_total_inc_tax is not None else "",
        ]
