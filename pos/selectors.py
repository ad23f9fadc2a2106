"""Read-side queries for the POS records (the pages build on these, never on ad-hoc querysets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Q, Sum
from django.utils import timezone

from pos.choices import Channel, SaleStatus
from pos.models import Customer, Outlet, Product, Retailer, Sale


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
