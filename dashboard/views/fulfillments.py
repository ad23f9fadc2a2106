"""The Fulfillments pages: the queue by state and type, and one fulfilment with everything staff do to it.

Every action is a POST carrying the version the page showed; it makes one service call and redirects back to
the fulfilment with a message. A stale version shows the conflict message above the fresh data.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.generic import TemplateView
from django_htmx.http import HttpResponseClientRefresh

from dashboard.forms import (
    FulfillmentCancelForm,
    FulfillmentQuantitiesForm,
    FulfillmentShipForm,
    FulfillmentShipmentRetryForm,
    FulfillmentTrackingForm,
    FulfillmentVersionForm,
)
from pos.choices import Carrier, FulfillmentAction, FulfillmentState, FulfillmentType, SaleStatus, WritebackState
from pos.models import Fulfillment, FulfillmentLine, FulfillmentShipmentLine
from pos.selectors import (
    FULFILLMENT_ALL_TAB,
    FULFILLMENT_OPEN_TAB,
    FULFILLMENT_TABS,
    fulfillment_queue,
    fulfillment_tab_counts,
)
from pos.services.fulfillment import (
    VOIDED_MESSAGE,
    FulfillmentConflict,
    FulfillmentError,
    LineQuantities,
    fulfillment_allowed_actions,
    fulfillment_cancel,
    fulfillment_complete,
    fulfillment_completion_blockers,
    fulfillment_record_quantities,
    fulfillment_set_tracking,
    fulfillment_start_picking,
    fulfillment_writeback_retry,
)
from pos.services.shipments import fulfillment_ship, fulfillment_shipment_retry
from pos.tenancy import RetailerRequiredMixin

TAB_LABELS = {FULFILLMENT_OPEN_TAB: "To do", FULFILLMENT_ALL_TAB: "All", **dict(FulfillmentState.choices)}
HISTORY_LIMIT = 100


class FulfillmentListView(RetailerRequiredMixin, TemplateView):
    template_name = "dashboard/fulfillments.html"
    paginate_by = 50

    def get_context_data(self, **kwargs):
        params = self.request.GET
        tab = params.get("state") if params.get("state") in FULFILLMENT_TABS else FULFILLMENT_OPEN_TAB
        type_ = params.get("type") if params.get("type") in FulfillmentType.values else ""
        query = params.get("q", "").strip()[:100]
        retailer = self.request.retailer
        queue = fulfillment_queue(retailer=retailer, tab=tab, type=type_, query=query)
        page = Paginator(queue, self.paginate_by).get_page(params.get("page"))
        counts = fulfillment_tab_counts(retailer=retailer, type=type_, query=query)
        return super().get_context_data(
            page_obj=page,
            tabs=[(key, TAB_LABELS[key], counts[key]) for key in FULFILLMENT_TABS],
            tab=tab,
            type=type_,
            types=FulfillmentType.choices,
            query=query,
            **kwargs,
        )


def _fulfillment_or_404(view: RetailerRequiredMixin, pk: int) -> Fulfillment:
    queryset = view.scoped(Fulfillment).select_related("sale", "sale__customer", "sale__outlet", "retailer")
    return get_object_or_404(queryset, pk=pk)


def _lines(fulfillment: Fulfillment) -> list[FulfillmentLine]:
    return list(fulfillment.lines.select_related("sale_line"))


class FulfillmentDetailView(RetailerRequiredMixin, View):
    template_name = "dashboard/fulfillment_detail.html"

    def get(self, request, pk: int):
        fulfillment = _fulfillment_or_404(self, pk)
        shipments = list(
            fulfillment.shipments.select_related("created_by").prefetch_related(
                Prefetch("lines", queryset=FulfillmentShipmentLine.objects.select_related("line__sale_line"))
            )
        )
        pending = fulfillment.writeback_state == WritebackState.PENDING or any(
            shipment.writeback_state == WritebackState.PENDING for shipment in shipments
        )
        context = {
            "fulfillment": fulfillment,
            "allowed": fulfillment_allowed_actions(fulfillment),
            "pending": pending,
            "shipments": shipments,
        }
        if request.htmx and not request.htmx.boosted:
            # The write-back status polls while anything is on its way to BigCommerce; once it is done the whole
            # page reloads, so the result, the history and the actions it allows (retry, tracking) all show.
            if not pending:
                return HttpResponseClientRefresh()
            return render(request, f"{self.template_name}#writeback", context)
        lines = _lines(fulfillment)
        for line in lines:
            line.left = line.quantity - line.fulfilled
        open_ = fulfillment.state in FulfillmentState.open_states()
        context |= {
            "lines": lines,
            "editable": FulfillmentAction.RECORD_QUANTITIES in context["allowed"],
            "voided_notice": VOIDED_MESSAGE if fulfillment.sale.status == SaleStatus.VOIDED else "",
            "blockers": fulfillment_completion_blockers(fulfillment=fulfillment, lines=lines) if open_ else [],
            "events": fulfillment.events.select_related("actor").order_by("-created_at", "-id")[:HISTORY_LIMIT],
            "units_left": sum(line.quantity - line.fulfilled for line in lines),
            "units_packed": sum(line.packed for line in lines),
            "units": sum(line.quantity for line in lines),
            "carriers": Carrier.choices,
            "actions": FulfillmentAction,
        }
        return render(request, self.template_name, context)


class FulfillmentActionView(RetailerRequiredMixin, View):
    """POST only: parse the form, call one service with the version the page showed, redirect with a message."""

    http_method_names = ["post"]
    form_class = FulfillmentVersionForm
    success_message = ""

    def perform(self, fulfillment: Fulfillment, form, version: int) -> None:
        raise NotImplementedError

    def get_form(self, fulfillment: Fulfillment):
        return self.form_class(self.request.POST)

    def post(self, request, pk: int):
        fulfillment = _fulfillment_or_404(self, pk)
        form = self.get_form(fulfillment)
        if not form.is_valid():
            messages.error(request, next(iter(form.errors.values()))[0])
            return redirect("dashboard:fulfillment_detail", pk=pk)
        try:
            self.perform(fulfillment, form, form.cleaned_data["version"])
        except FulfillmentConflict as conflict:
            messages.warning(request, conflict.message)
        except FulfillmentError as refused:
            messages.error(request, refused.message)
        else:
            messages.success(request, self.success_message)
        return redirect("dashboard:fulfillment_detail", pk=pk)


class FulfillmentStartPickingView(FulfillmentActionView):
    success_message = "Picking started."

    def perform(self, fulfillment, form, version):
        fulfillment_start_picking(fulfillment=fulfillment, expected_version=version, acting_user=self.request.user)


class FulfillmentQuantitiesView(FulfillmentActionView):
    success_message = "Quantities saved."

    def get_form(self, fulfillment):
        return FulfillmentQuantitiesForm(self.request.POST, lines=_lines(fulfillment))

    def perform(self, fulfillment, form, version):
        fulfillment_record_quantities(
            fulfillment=fulfillment,
            quantities=form.quantities(),
            expected_version=version,
            acting_user=self.request.user,
        )


class FulfillmentFulfilAllView(FulfillmentActionView):
    success_message = "Every item is recorded as picked, packed and fulfilled."

    def perform(self, fulfillment, form, version):
        fulfillment_record_quantities(
            fulfillment=fulfillment,
            quantities={line.pk: LineQuantities(*[line.quantity] * 3) for line in _lines(fulfillment)},
            expected_version=version,
            acting_user=self.request.user,
        )


class FulfillmentTrackingView(FulfillmentActionView):
    form_class = FulfillmentTrackingForm
    success_message = "Tracking saved."

    def perform(self, fulfillment, form, version):
        fulfillment_set_tracking(
            fulfillment=fulfillment,
            tracking_number=form.cleaned_data["tracking_number"],
            carrier=form.cleaned_data["carrier"],
            expected_version=version,
            acting_user=self.request.user,
        )


class FulfillmentCompleteView(FulfillmentActionView):
    success_message = "Fulfilment completed."

    def perform(self, fulfillment, form, version):
        done = fulfillment_complete(fulfillment=fulfillment, expected_version=version, acting_user=self.request.user)
        if done.writeback_state == WritebackState.PENDING:
            self.success_message += " BigCommerce is being updated; the result shows below."


class FulfillmentShipView(FulfillmentActionView):
    success_message = "Shipment recorded."

    def get_form(self, fulfillment):
        return FulfillmentShipForm(self.request.POST, lines=_lines(fulfillment))

    def perform(self, fulfillment, form, version):
        shipment = fulfillment_ship(
            fulfillment=fulfillment,
            quantities=form.quantities(),
            tracking_number=form.cleaned_data["tracking_number"],
            carrier=form.cleaned_data["carrier"],
            expected_version=version,
            acting_user=self.request.user,
        )
        self.success_message = f"Shipment {shipment.number} recorded."
        if shipment.writeback_state == WritebackState.PENDING:
            self.success_message += " BigCommerce is being updated; the result shows below."


class FulfillmentShipmentRetryView(FulfillmentActionView):
    form_class = FulfillmentShipmentRetryForm
    success_message = "The shipment is queued again for BigCommerce."

    def perform(self, fulfillment, form, version):
        fulfillment_shipment_retry(
            fulfillment=fulfillment,
            shipment_id=form.cleaned_data["shipment"],
            expected_version=version,
            acting_user=self.request.user,
        )


class FulfillmentCancelView(FulfillmentActionView):
    form_class = FulfillmentCancelForm
    success_message = "Fulfilment cancelled."

    def perform(self, fulfillment, form, version):
        fulfillment_cancel(
            fulfillment=fulfillment,
            reason=form.cleaned_data["reason"],
            expected_version=version,
            acting_user=self.request.user,
        )


class FulfillmentWritebackRetryView(FulfillmentActionView):
    success_message = "The write-back is queued again."

    def perform(self, fulfillment, form, version):
        fulfillment_writeback_retry(fulfillment=fulfillment, expected_version=version, acting_user=self.request.user)
