"""Stock pages: levels per outlet, adjustments (admins) and stock counts (every member).

Staff count stock (they do the counting on the shop floor); only admins adjust it by hand, since an adjustment
changes the books without a count behind it.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.http import urlencode
from django.views.generic import FormView, TemplateView

from dashboard.forms import StockAdjustForm, StockCountForm, StockFilterForm
from dashboard.views.htmx import PartialTemplateMixin
from dashboard.views.mixins import call_service, paginate
from integration.selectors import stock_drift_corrections
from pos.models import Product
from pos.selectors import products_search, stock_levels, stock_on_hand
from pos.services.inventory import stock_adjust, stock_count
from pos.tenancy import AdminRequiredMixin, RetailerRequiredMixin

PAGE_SIZE = 50
PREVIEW_ROWS = 200


class StockView(PartialTemplateMixin, RetailerRequiredMixin, TemplateView):
    """On hand per outlet, with search and the low and negative levels highlighted."""

    template_name = "dashboard/stock.html"

    def get_context_data(self, **kwargs):
        filters = StockFilterForm(self.request.GET or None, retailer=self.request.retailer)
        values = filters.values()
        page = None
        if values["outlet"] is not None:
            page = paginate(self.request, stock_levels(retailer=self.request.retailer, **values), PAGE_SIZE)
        return super().get_context_data(filters=filters, page_obj=page, **values, **kwargs)


class StockDriftView(RetailerRequiredMixin, TemplateView):
    """The drift report: stock levels edited in BigCommerce that the read-back set back to the POS's, and why."""

    template_name = "dashboard/stock_drift.html"

    def get_context_data(self, **kwargs):
        page = paginate(self.request, stock_drift_corrections(retailer=self.request.retailer), PAGE_SIZE)
        return super().get_context_data(page_obj=page, **kwargs)


class StockAdjustView(AdminRequiredMixin, FormView):
    """Adjust one product's stock at an outlet; without `?product=` it first asks which product."""

    template_name = "dashboard/stock_adjust.html"
    form_class = StockAdjustForm

    @cached_property
    def product(self) -> Product | None:
        """The product to adjust (`?product=<id>`, or the posted `product`), looked up through the retailer."""
        product_id = self.request.GET.get("product") or self.request.POST.get("product") or ""
        if not product_id.isdigit():
            return None
        return get_object_or_404(Product.objects.for_retailer(self.request.retailer), pk=int(product_id))

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "retailer": self.request.retailer}

    def get_initial(self):
        return {"outlet": self.request.GET.get("outlet")}

    def get_context_data(self, **kwargs):
        query = self.request.GET.get("q", "").strip()
        candidates = products_search(retailer=self.request.retailer, query=query, limit=20) if query else []
        return super().get_context_data(product=self.product, query=query, candidates=candidates, **kwargs)

    def post(self, request, *args, **kwargs):
        if self.product is None:
            return redirect("dashboard:stock_adjust")
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        data = form.cleaned_data
        result = call_service(form, stock_adjust, product=self.product, acting_user=self.request.user, **data)
        if result is None:
            return self.form_invalid(form)
        if result.moved:
            messages.success(
                self.request, f"Stock of “{self.product.name}” at {data['outlet'].name} changed by {data['delta']:+d}."
            )
        else:
            messages.info(self.request, "This adjustment was already saved; stock was not changed twice.")
        url = reverse("dashboard:product_detail", kwargs={"pk": self.product.pk})
        return redirect(f"{url}?{urlencode({'outlet': data['outlet'].pk})}")


class StockCountView(RetailerRequiredMixin, FormView):
    """A stock count: paste `sku,quantity` lines, check the differences, then record them."""

    template_name = "dashboard/stock_count.html"
    form_class = StockCountForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "retailer": self.request.retailer}

    def get_initial(self):
        return {"outlet": self.request.GET.get("outlet")}

    def form_valid(self, form):
        data = form.cleaned_data
        outlet = data["outlet"]
        if "confirm" not in self.request.POST:
            return self.render_to_response(self.get_context_data(form=form, preview=self._preview(outlet, data)))
        result = call_service(
            form,
            stock_count,
            outlet=outlet,
            counts={line.product.pk: line.counted for line in data["lines"]},
            note=data["note"],
            acting_user=self.request.user,
            request_key=data["request_key"],
        )
        if result is None:
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Count recorded at {outlet.name}: {result.counted} products counted, {result.changed} changed "
            f"(+{result.units_added} / −{result.units_removed} units).",
        )
        return redirect(f"{reverse('dashboard:stock')}?{urlencode({'outlet': outlet.pk})}")

    def _preview(self, outlet, data) -> dict:
        """What recording the count would change, without changing anything."""
        lines = data["lines"]
        on_hand = stock_on_hand(outlet=outlet, product_ids=[line.product.pk for line in lines])
        rows = [
            {"product": line.product, "on_hand": on_hand.get(line.product.pk, 0), "counted": line.counted}
            for line in lines
        ]
        for row in rows:
            row["difference"] = row["counted"] - row["on_hand"]
        changed = [row for row in rows if row["difference"]]
        return {
            "counted": len(rows),
            "changed": len(changed),
            "units_added": sum(r["difference"] for r in changed if r["difference"] > 0),
            "units_removed": -sum(r["difference"] for r in changed if r["difference"] < 0),
            "rows": changed[:PREVIEW_ROWS],
            "rows_hidden": max(len(changed) - PREVIEW_ROWS, 0),
        }
