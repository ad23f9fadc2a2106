"""The sync log (filter by level, event, order number and date) and one order's timeline."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from dashboard.forms import SyncLogFilterForm
from dashboard.views.htmx import PartialTemplateMixin
from integration.models import StoreLink
from integration.selectors import order_timeline, sync_log_entries
from pos.keyset import keyset_page
from pos.tenancy import RetailerRequiredMixin


class SyncLogView(RetailerRequiredMixin, PartialTemplateMixin, TemplateView):
    template_name = "dashboard/sync_log.html"

    def get_context_data(self, **kwargs):
        form = SyncLogFilterForm(self.request.GET or None)
        entries = sync_log_entries(retailer=self.request.retailer, filters=form.filters())
        page = keyset_page(
            entries,
            key="created_at",
            after=self.request.GET.get("after"),
            before=self.request.GET.get("before"),
            per_page=form.page_size(),
        )
        return super().get_context_data(form=form, page_obj=page, **kwargs)


class OrderTimelineView(RetailerRequiredMixin, TemplateView):
    template_name = "dashboard/order_timeline.html"

    def get_context_data(self, **kwargs):
        link = get_object_or_404(self.scoped(StoreLink), pk=self.kwargs["link_id"])
        timeline = order_timeline(link=link, bc_order_id=self.kwargs["order_id"])
        return super().get_context_data(
            timeline=timeline,
            order_sync=timeline.order_sync,
            bc_order_url=link.control_panel_order_url(timeline.bc_order_id),
            **kwargs,
        )
