"""Read-side queries for the POS records (the pages build on these, never on ad-hoc querysets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from pos.choices import Channel, FulfillmentState, SaleStatus
from pos.models import Customer, Fulfillment, Outlet, Product, Retailer, Sale


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
