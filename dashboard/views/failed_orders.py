"""Failed orders: what could not sync, why, and what to do; retry one, the ticked ones or all matching; resolve
with a note. A row whose retry is running polls itself (htmx) until the sync is done."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from dashboard.forms import FailedOrderFilterForm, ResolveForm, RetrySelectedForm
from dashboard.views.htmx import PartialTemplateMixin, is_partial
from dashboard.views.mixins import redirect_back
from integration.models import OrderSync
from integration.selectors import order_syncs_failed, order_syncs_retryable
from integration.services.order_sync_actions import RETRY_ALL_LIMIT, order_sync_resolve, order_syncs_retry
from pos.tenancy import RetailerRequiredMixin

ROW_TEMPLATE = "dashboard/failed_orders.html#row"


def _back(request) -> HttpResponseRedirect:
    """To the list the action came from (its filters and page), or the plain list."""
    return redirect_back(request, reverse("dashboard:failed_orders"))


def _retried_message(request, count: int, asked: int) -> None:
    if count:
        messages.success(
            request, f"Retrying {count} order{'s' if count != 1 else ''}: each is fetched again from BigCommerce."
        )
    if asked > count:
        skipped = asked - count
        messages.info(
            request, f"{skipped} order{'s were' if skipped != 1 else ' was'} no longer failing and left as is."
        )


class FailedOrdersView(RetailerRequiredMixin, PartialTemplateMixin, TemplateView):
    template_name = "dashboard/failed_orders.html"

    def get_context_data(self, **kwargs):
        form = FailedOrderFilterForm(self.request.GET or None)
        syncs = order_syncs_failed(retailer=self.request.retailer, filters=form.filters())
        page = Paginator(syncs, form.page_size()).get_page(self.request.GET.get("page"))
        return super().get_context_data(form=form, page_obj=page, retry_all_limit=RETRY_ALL_LIMIT, **kwargs)


class FailedOrderRowView(RetailerRequiredMixin, View):
    """One row of the list, as it stands now: what a running retry polls."""

    def get(self, request, pk: int):
        sync = get_object_or_404(self.scoped(OrderSync).select_related("link", "sale"), pk=pk)
        return _row(request, sync)


def _row(request, sync, **context):
    """One row, for htmx; the navigation's attention badge comes along out of band, as the row's change (a
    resolve, a retry that succeeded) may have changed the count."""
    return render(request, ROW_TEMPLATE, {"sync": sync, "badge_oob": True, **context})


class FailedOrderRetryView(RetailerRequiredMixin, View):
    def post(self, request, pk: int):
        sync = get_object_or_404(self.scoped(OrderSync), pk=pk)
        count = order_syncs_retry(order_syncs=[sync], acting_user=request.user)
        if is_partial(request):
            sync = self.scoped(OrderSync).select_related("link", "sale").get(pk=pk)
            return _row(request, sync)
        _retried_message(request, count, 1)
        return _back(request)


class FailedOrdersRetryView(RetailerRequiredMixin, View):
    """Retry the ticked rows, or every order matching the list's filters (at most RETRY_ALL_LIMIT at a time)."""

    def post(self, request):
        if request.POST.get("scope") == "all":
            return self.retry_all(request)
        form = RetrySelectedForm(request.POST, retailer=request.retailer)
        if not form.is_valid():
            for error in form.errors.get("ids", []):
                messages.error(request, error)
            return _back(request)
        syncs = list(form.cleaned_data["ids"])
        _retried_message(request, order_syncs_retry(order_syncs=syncs, acting_user=request.user), len(syncs))
        return _back(request)

    def retry_all(self, request):
        form = FailedOrderFilterForm(request.POST)
        matching = order_syncs_retryable(retailer=request.retailer, filters=form.filters())
        syncs = list(matching[:RETRY_ALL_LIMIT])
        _retried_message(request, order_syncs_retry(order_syncs=syncs, acting_user=request.user), len(syncs))
        if left := matching.count():
            messages.info(
                request, f"{left} more matching order{'s' if left != 1 else ''} to retry: use Retry all again."
            )
        return _back(request)


class FailedOrderResolveView(RetailerRequiredMixin, View):
    """Mark a failing order resolved with a note: inline in the row (htmx) or on its own page."""

    def _render(self, request, sync, form):
        if is_partial(request):
            return _row(request, sync, resolve_form=form)
        return render(request, "dashboard/failed_order_resolve.html", {"sync": sync, "resolve_form": form})

    def _sync(self, pk: int) -> OrderSync:
        return get_object_or_404(self.scoped(OrderSync).select_related("link", "sale"), pk=pk)

    def get(self, request, pk: int):
        return self._render(request, self._sync(pk), ResolveForm())

    def post(self, request, pk: int):
        sync = self._sync(pk)
        form = ResolveForm(request.POST)
        if form.is_valid():
            try:
                order_sync_resolve(order_sync=sync, acting_user=request.user, note=form.cleaned_data["note"])
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                if is_partial(request):
                    return _row(request, self._sync(pk))
                messages.success(request, f"Order {sync.bc_order_id} marked resolved.")
                return _back(request)
        return self._render(request, sync, form)
