"""The support console: every retailer with its link health, failing orders and historical-import switch, the
audit trail of support actions, switching to a retailer, and moving a linked store to another retailer (both
audited)."""

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

from dashboard.forms import HistoricalImportSwitchForm, StoreMoveForm
from integration.choices import LinkState
from integration.models import StoreLink
from integration.selectors import support_audit_trail, support_retailers_page
from integration.services.historical_import import historical_import_switch_set
from integration.services.link import LinkError, store_link_move
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


class SupportStoreMoveView(SupportRequiredMixin, TemplateView):
    """Move a retailer's linked store to another retailer, with a reason (audited). A store is linked to one
    retailer at a time, so this is how a store changes hands."""

    template_name = "dashboard/support_store_move.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and request.user.is_support:
            self.retailer = get_object_or_404(Retailer, pk=kwargs["pk"])
            live = StoreLink.objects.filter(retailer=self.retailer).exclude(state=LinkState.UNLINKED)
            self.link = get_object_or_404(live)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        kwargs.setdefault("form", StoreMoveForm(source=self.retailer))
        return super().get_context_data(retailer=self.retailer, link=self.link, **kwargs)

    def post(self, request, pk: int):
        form = StoreMoveForm(request.POST, source=self.retailer)
        if form.is_valid():
            target = form.cleaned_data["to_retailer"]
            try:
                store_link_move(
                    link=self.link, to_retailer=target, reason=form.cleaned_data["reason"], acting_user=request.user
                )
            except LinkError as error:
                form.add_error("to_retailer" if error.field == "to_retailer" else None, error.message)
            else:
                store = self.link.store_name or self.link.store_hash
                messages.success(
                    request, f"{store} moved from {self.retailer.name} to {target.name}. Recorded in the audit log."
                )
                return _back_to_row(target)
        return self.render_to_response(self.get_context_data(form=form))
