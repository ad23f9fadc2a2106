"""Sales history (every sale, in store and online), its CSV export, and the sale page."""

from __future__ import annotations

import csv

from django.http import StreamingHttpResponse
from django.utils import timezone
from django.views import View
from django.views.generic import DetailView, TemplateView

from dashboard.forms import SaleFilterForm
from dashboard.views.htmx import PartialTemplateMixin
from integration.selectors import order_timeline
from pos.choices import FulfillmentState
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
            form=form, filters=filters, result=result, page_obj=result.page, sorts=SALE_SORTS, **kwargs
        )


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
            fulfillment=getattr(self.object, "fulfillment", None),
            open_fulfillment_states=FulfillmentState.open_states(),
            timeline_recent=timeline.items[-SALE_DETAIL_TIMELINE:][::-1] if timeline else [],
            **kwargs,
        )
