"""The support console: every retailer, and switching to one (audited)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import TemplateView

from pos.models import AuditEntry, Retailer
from pos.tenancy import SupportRequiredMixin, support_switch_retailer


class SupportConsoleView(SupportRequiredMixin, TemplateView):
    template_name = "dashboard/support.html"
    paginate_by = 50

    def get_context_data(self, **kwargs):
        query = self.request.GET.get("q", "").strip()
        retailers = Retailer.objects.order_by("name")
        if query:
            retailers = retailers.filter(name__icontains=query)
        page = Paginator(retailers, self.paginate_by).get_page(self.request.GET.get("page"))
        audit = AuditEntry.objects.select_related("retailer", "actor")[:20]
        return super().get_context_data(page_obj=page, query=query, audit_entries=audit, **kwargs)


class SupportSwitchView(SupportRequiredMixin, View):
    def post(self, request, pk: int):
        retailer = get_object_or_404(Retailer, pk=pk)
        support_switch_retailer(request=request, retailer=retailer, reason=request.POST.get("reason", "").strip())
        messages.info(request, f"You are now acting for {retailer.name}. This switch is recorded in the audit log.")
        return redirect("dashboard:overview")
