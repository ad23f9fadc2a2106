"""The support console: every retailer with its link health, failing orders and historical-import switch, the
audit trail of support actions, and switching to a retailer (audited)."""

from __future__ import annotations

from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from dashboard.forms import HistoricalImportSwitchForm
from integration.selectors import support_audit_trail, support_retailers_page
from integration.services.historical_import import historical_import_switch_set
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


def _back_to_row(retailer: Retailer) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"{reverse('dashboard:support')}?q={quote(retailer.name)}")


class SupportHistoricalImportView(SupportRequiredMixin, View):
    """Turn "Import all orders" on or off for one retailer, with a reason (audited)."""

    def post(self, request, pk: int):
        retailer = get_object_or_404(Retailer, pk=pk)
        form = HistoricalImportSwitchForm(request.POST)
        if not form.is_valid():
            messages.error(request, "; ".join(e for errors in form.errors.values() for e in errors))
            return _back_to_row(retailer)
        enabled = form.cleaned_data["enabled"]
        try:
            changed = historical_import_switch_set(
                retailer=retailer, enabled=enabled, reason=form.cleaned_data["reason"], acting_user=request.user
            )
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
            return _back_to_row(retailer)
        if changed:
            state = "enabled" if enabled else "disabled"
            messages.success(request, f"Historical import {state} for {retailer.name}. Recorded in the audit log.")
        else:
            messages.info(request, "Nothing changed.")
        return _back_to_row(retailer)
