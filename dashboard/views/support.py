"""The support console: every retailer with its link health, failing orders and historical-import switch, the
audit trail of support actions, and switching to a retailer (audited)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import TemplateView

from integration.selectors import support_audit_trail, support_retailers_page
from pos.models import Retailer
from pos.tenancy import SupportRequiredMixin, support_switch_retailer

AUDIT_PER_PAGE = 25


class SupportConsoleView(SupportRequiredMixin, TemplateView):
    template_name = "dashboard/support.html"
    paginate_by = 50

    def get_context_data(self, **kwargs):
        query = self.request.GET.get("q", "").strip()
        page = support_retailers_page(query=query, page_number=self.request.GET.get("page"), per_page=self.paginate_by)
        audit = Paginator(support_audit_trail(), AUDIT_PER_PAGE).get_page(self.request.GET.get("audit_page"))
        return super().get_context_data(page_obj=page, query=query, audit_page=audit, **kwargs)


class SupportSwitchView(SupportRequiredMixin, View):
    def post(self, request, pk: int):
        retailer = get_object_or_404(Retailer, pk=pk)
        support_switch_retailer(request=request, retailer=retailer, reason=request.POST.get("reason", "").strip())
        messages.info(request, f"You are now acting for {retailer.name}. This switch is recorded in the audit log.")
        return redirect("dashboard:overview")
