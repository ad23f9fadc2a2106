"""Sales history (every sale, in store and online), its CSV export, and the sale page."""

from __future__ import annotations

import csv
from dataclasses import dataclass

from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views import View
from django.views.generic import DetailView, TemplateView

from dashboard.forms import SaleFilterForm
from dashboard.templatetags.dashboard_extras import Moments, badge, choice_label, money, rate
from dashboard.views.htmx import PartialTemplateMixin
from integration.selectors import order_timeline
from pos.choices import Channel, FulfillmentState
from pos.selectors import SALE_SORTS, sale_for_detail, sales_csv_rows, sales_history_page
from pos.tenancy import RetailerRequiredMixin

SALE_DETAIL_TIMELINE = 8


class SalesHistoryView(RetailerRequiredMixin, PartialTemplateMixin, TemplateView):
    template_name = "dashboard/sales.html"

    def get_context_data(self, **kwargs):
        form = SaleFilterForm(self.request.GET or None, retailer=self.request.retailer)
        filters = form.filters()
        result = sales_history_page(
            retailer=self.request.retailer,
            filters=filters,
            after=self.request.GET.get("after"),
            before=self.request.GET.get("before"),
            per_page=form.page_size(),
        )
        return super().get_context_data(
            form=form,
            filters=filters,
            result=result,
            page_obj=result.page,
            rows=sale_rows(result.page.object_list),
            sorts=SALE_SORTS,
            **kwargs,
        )


@dataclass(frozen=True, slots=True)
class SaleRow:
    """One row of the Sales history, every value ready to print: a 200-row page spent most of its time in the
    template's per-row lookups, filters and tags (dates, badges, money), which are computed here once each."""

    url: str
    invoice: int
    order: str
    when: SafeString
    online: bool
    channel: str
    customer: str
    customer_email: str
    outlet: str
    register: str
    badges: SafeString
    bc_status: str
    fulfillment: SafeString
    total: str
    owes: str
    original: str  # an order paid in another currency: "EUR 17.59 at 0.9"; else ""


def sale_rows(sales) -> list[SaleRow]:
    # One reverse for the page, not one per row: the detail URL with a placeholder id, filled in per row.
    url = reverse("dashboard:sale_detail", args=[987654321]).replace("987654321", "{}")
    moment = Moments()
    rows = []
    for sale in sales:
        customer = sale.customer
        name = customer.full_name if customer else ""
        balance = sale.balance
        rows.append(
            SaleRow(
                url=url.format(sale.pk),
                invoice=sale.invoice_number,
                order=sale.external_order_id,
                when=moment(sale.sale_date),
                online=sale.channel == Channel.BIGCOMMERCE,
                channel=choice_label(sale.channel, "channel"),
                customer=(name or customer.email) if customer else "",
                customer_email=customer.email if customer and name else "",
                outlet=sale.outlet.name,
                register=sale.register.name,
                badges=badge(sale.status, "sale") + badge(sale.payment_state, "payment"),
                bc_status=sale.bc_status_label or "—",
                # One badge per fulfilment (an order shipping to two addresses has two).
                fulfillment=SafeString(" ".join(badge(f.state, "fulfillment") for f in sale.fulfillments.all())),
                total=f"{sale.currency} {money(sale.total_inc_tax)}",
                owes=money(balance) if balance else "",
                original=(
                    f"{sale.original_currency} {money(sale.original_total_inc_tax)} at {rate(sale.exchange_rate)}"
                    if sale.original_currency
                    else ""
                ),
            )
        )
    return rows


class _Echo:
    """A file-like object whose write() returns the line, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


class SalesExportView(RetailerRequiredMixin, View):
    """The filtered Sales history as CSV, streamed row by row (a million rows never sit in memory)."""

    def get(self, request):
        form = SaleFilterForm(request.GET or None, retailer=request.retailer)
        writer = csv.writer(_Echo())
        rows = sales_csv_rows(retailer=request.retailer, filters=form.filters())
        response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="sales-{request.retailer.slug}-{stamp}.csv"'
        return response


class SaleDetailView(RetailerRequiredMixin, DetailView):
    template_name = "dashboard/sale_detail.html"
    context_object_name = "sale"

    def get_queryset(self):
        return sale_for_detail(retailer=self.request.retailer)

    def get_context_data(self, **kwargs):
        sync = getattr(self.object, "order_sync", None)
        timeline = order_timeline(link=sync.link, bc_order_id=sync.bc_order_id) if sync else None
        return super().get_context_data(
            order_sync=sync,
            bc_order_url=sync.link.control_panel_order_url(sync.bc_order_id) if sync else "",
            fulfillments=list(self.object.fulfillments.all()),
            open_fulfillment_states=FulfillmentState.open_states(),
            timeline_recent=timeline.items[-SALE_DETAIL_TIMELINE:][::-1] if timeline else [],
            **kwargs,
        )
