"""Settings › BigCommerce › Import all orders: the switch's state (merchants see why it is off and how to ask
support), the options, the dry run, the run with its progress bar (htmx polling), cancel and the summary."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django_htmx.http import HttpResponseStopPolling

from dashboard.forms import HistoricalImportForm
from dashboard.views.htmx import is_partial
from integration.models import HistoricalImport
from integration.services.historical_import import (
    ImportRefused,
    ImportUnreadable,
    historical_import_cancel,
    historical_import_preview,
    historical_import_start,
    import_options,
    import_progress,
)
from integration.services.link import active_link
from pos.tenancy import AdminRequiredMixin, RetailerRequiredMixin, is_admin

TEMPLATE = "dashboard/historical_import.html"


def _link_or_404(request):
    link = active_link(request.retailer)
    if link is None:
        raise Http404("This retailer has no linked store.")
    return link


def import_page(request, *, form=None, preview=None, error="", status=200):
    link = active_link(request.retailer)
    runs = list(HistoricalImport.objects.filter(link=link)[:5]) if link else []
    latest = runs[0] if runs else None
    context = {
        "link": link,
        "enabled": request.retailer.historical_import_enabled,
        "can_change": is_admin(request),
        "form": form or HistoricalImportForm(),
        "preview": preview,
        "error": error,
        "progress": import_progress(latest) if latest else None,
        "runs": runs,
    }
    return render(request, TEMPLATE, context, status=status)


class HistoricalImportView(RetailerRequiredMixin, View):
    def get(self, request):
        return import_page(request)


def _options(request, link, form):
    date_from, date_to = form.moments()
    return import_options(
        link=link, date_from=date_from, date_to=date_to, adjust_stock=form.cleaned_data["adjust_stock"]
    )


class _OptionsPostView(AdminRequiredMixin, View):
    """An admin POST of the options form: valid, one service call; invalid or refused, the page with the error."""

    http_method_names = ["post"]

    def perform(self, request, link, options, form):
        raise NotImplementedError

    def post(self, request):
        link = _link_or_404(request)
        form = HistoricalImportForm(request.POST)
        if not form.is_valid():
            return import_page(request, form=form, status=400)
        try:
            return self.perform(request, link, _options(request, link, form), form)
        except ImportRefused as refused:
            return import_page(request, form=form, error=refused.message, status=409)
        except ImportUnreadable as exc:
            return import_page(request, form=form, error=exc.message, status=502)


class HistoricalImportPreviewView(_OptionsPostView):
    """The dry run: figures only, nothing written."""

    def perform(self, request, link, options, form):
        return import_page(request, form=form, preview=historical_import_preview(link=link, options=options))


class HistoricalImportStartView(_OptionsPostView):
    def perform(self, request, link, options, form):
        historical_import_start(link=link, options=options, acting_user=request.user)
        messages.success(request, "Import started. You can leave this page: it goes on in the background.")
        return redirect("dashboard:historical_import")


class HistoricalImportCancelView(AdminRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk: int):
        run = get_object_or_404(HistoricalImport.objects.for_retailer(request.retailer), pk=pk)
        if historical_import_cancel(run=run, acting_user=request.user):
            messages.info(request, "Cancelling: the import stops after the page it is on. Nothing imported is undone.")
        return redirect("dashboard:historical_import")


class HistoricalImportProgressView(RetailerRequiredMixin, View):
    """The progress panel alone (what the bar polls); once the run has ended, htmx is told to stop polling."""

    def get(self, request, pk: int):
        run = get_object_or_404(HistoricalImport.objects.for_retailer(request.retailer), pk=pk)
        progress = import_progress(run)
        context = {"progress": progress, "can_change": is_admin(request)}
        response = render(request, f"{TEMPLATE}#progress", context)
        if progress.done and is_partial(request):
            return HttpResponseStopPolling(response.content)
        return response
