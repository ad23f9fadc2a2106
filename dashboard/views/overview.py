from __future__ import annotations

from django.views.generic import TemplateView

from pos.selectors import overview_counts
from pos.tenancy import RetailerRequiredMixin


class OverviewView(RetailerRequiredMixin, TemplateView):
    template_name = "dashboard/overview.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(counts=overview_counts(retailer=self.request.retailer), **kwargs)
