"""The Overview: today's takings, the link's health, orders needing attention, and 30 days of syncing."""

from __future__ import annotations

from django.views.generic import TemplateView

from integration.selectors import chart_data, daily_sync_counts, overview_link_health, reconcile_missed_warning
from pos.selectors import overview_counts
from pos.tenancy import RetailerRequiredMixin

CHART_DAYS = 30


class OverviewView(RetailerRequiredMixin, TemplateView):
    template_name = "dashboard/overview.html"

    def get_context_data(self, **kwargs):
        retailer = self.request.retailer
        daily = daily_sync_counts(retailer=retailer, days=CHART_DAYS)
        return super().get_context_data(
            counts=overview_counts(retailer=retailer),
            health=overview_link_health(retailer=retailer),
            missed=reconcile_missed_warning(retailer=retailer),
            chart=chart_data(daily),
            chart_days=CHART_DAYS,
            synced_total=sum(d.synced for d in daily),
            failed_total=sum(d.failed for d in daily),
            **kwargs,
        )
