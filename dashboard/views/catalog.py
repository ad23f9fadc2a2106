"""Catalog pages: the product list, create and edit (admins), a product's stock and history, the review queue.

Who may do what: every member reads the catalog, a product's stock and its history; only admins create, edit,
accept or merge products (staff get 403 on those routes).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import FormView, TemplateView

from dashboard.forms import CatalogFilterForm, ProductForm
from dashboard.views.htmx import PartialTemplateMixin
from dashboard.views.mixins import call_service, paginate, redirect_back
from integration.choices import LinkState
from integration.models import ProductLink
from integration.selectors import products_with_link_state, products_with_links
from pos.models import Outlet, Product
from pos.selectors import (
    product_catalog,
    product_movements,
    product_review_queue,
    product_stock_by_outlet,
    products_search,
)
from pos.services.catalog import EDITABLE_FIELDS, product_accept, product_create, product_merge, product_update
from pos.tenancy import AdminRequiredMixin, RetailerRequiredMixin

PAGE_SIZE = 50
LIVE_LINK_STATES = (LinkState.ACTIVE, LinkState.PAUSED)


class ProductMixin:
    """`self.product`: the URL's product, looked up through the current retailer (another retailer's id is 404).

    Put it after the access mixin, so sign-in and role are checked before anything is looked up."""

    def dispatch(self, request, *args, **kwargs):
        self.product = get_object_or_404(Product.objects.for_retailer(request.retailer), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)


class CatalogView(PartialTemplateMixin, RetailerRequiredMixin, TemplateView):
    template_name = "dashboard/catalog.html"

    def get_context_data(self, **kwargs):
        filters = CatalogFilterForm(self.request.GET or None)
        selector_kwargs = filters.selector_kwargs()
        linked = selector_kwargs.pop("linked", None)
        products = products_with_link_state(
            product_catalog(retailer=self.request.retailer, **selector_kwargs),
            retailer=self.request.retailer,
            linked=linked,
        )
        review_count = self.scoped(Product).filter(needs_review=True).count()
        return super().get_context_data(
            filters=filters,
            sort=selector_kwargs.get("sort", "name"),
            page_obj=paginate(self.request, products, PAGE_SIZE),
            review_count=review_count,
            **kwargs,
        )


class ProductCreateView(AdminRequiredMixin, FormView):
    template_name = "dashboard/product_form.html"
    form_class = ProductForm

    def form_valid(self, form):
        product = call_service(
            form, product_create, retailer=self.request.retailer, acting_user=self.request.user, **form.cleaned_data
        )
        if product is None:
            return self.form_invalid(form)
        messages.success(self.request, f"“{product.name}” was added to the catalog.")
        return redirect("dashboard:product_detail", pk=product.pk)


class ProductEditView(AdminRequiredMixin, ProductMixin, FormView):
    template_name = "dashboard/product_form.html"
    form_class = ProductForm

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "current_kind": self.product.kind}

    def get_initial(self):
        return {field: getattr(self.product, field) for field in EDITABLE_FIELDS}

    def get_context_data(self, **kwargs):
        return super().get_context_data(product=self.product, **kwargs)

    def form_valid(self, form):
        changed = call_service(
            form, product_update, product=self.product, acting_user=self.request.user, **form.cleaned_data
        )
        if changed is None:
            return self.form_invalid(form)
        if changed:
            labels = ", ".join(str(form.fields[f].label or f.replace("_", " ")).lower() for f in changed)
            messages.success(self.request, f"Saved “{self.product.name}”: changed {labels}.")
        else:
            messages.info(self.request, "Nothing changed.")
        return redirect("dashboard:product_detail", pk=self.product.pk)


class ProductDetailView(PartialTemplateMixin, RetailerRequiredMixin, ProductMixin, TemplateView):
    """A product, its stock at every outlet, and its movement history (filtered by outlet, paginated)."""

    template_name = "dashboard/product_detail.html"
    partial_name = "movements"

    def get_context_data(self, **kwargs):
        product = self.product
        outlets = list(product_stock_by_outlet(product=product))
        try:
            outlet_id = int(self.request.GET.get("outlet") or 0)
        except ValueError:
            outlet_id = 0
        outlet = next((o for o in outlets if o.pk == outlet_id), None)
        movements = product_movements(product=product, outlet_id=outlet.pk if outlet else None)
        return super().get_context_data(
            product=product,
            outlets=outlets,
            on_hand_total=sum(o.on_hand for o in outlets),
            movement_outlet=outlet,
            page_obj=paginate(self.request, movements, PAGE_SIZE),
            links=ProductLink.objects.filter(product=product).select_related("link").order_by("pk"),
            merged_from=product.merged_from.order_by("name"),
            merged_into=product.merged_into,
            **kwargs,
        )


class ProductReviewView(RetailerRequiredMixin, TemplateView):
    """Products the link created, waiting for a person to accept them or merge them into an existing product."""

    template_name = "dashboard/product_review.html"

    def get_context_data(self, **kwargs):
        queue = products_with_links(product_review_queue(retailer=self.request.retailer))
        return super().get_context_data(page_obj=paginate(self.request, queue, PAGE_SIZE), **kwargs)


class ProductAcceptView(AdminRequiredMixin, ProductMixin, View):
    def post(self, request, pk: int):
        product_accept(product=self.product, acting_user=request.user)
        messages.success(request, f"“{self.product.name}” is accepted and stays in the catalog as it is.")
        return redirect_back(request, reverse("dashboard:product_review"))


class ProductMergeView(AdminRequiredMixin, ProductMixin, TemplateView):
    """Choose (by search) the product this one is merged into, then merge."""

    template_name = "dashboard/product_merge.html"

    def get_context_data(self, **kwargs):
        query = self.request.GET.get("q", self.product.sku or self.product.name).strip()
        candidates = products_search(
            retailer=self.request.retailer, query=query, limit=20, exclude_ids=(self.product.pk,)
        )
        linked = ProductLink.objects.filter(product=self.product, link__state__in=LIVE_LINK_STATES).exists()
        return super().get_context_data(
            product=self.product, query=query, candidates=candidates, pushes_price=linked, **kwargs
        )

    def post(self, request, pk: int):
        target_id = request.POST.get("into", "")
        if not target_id.isdigit():
            messages.error(request, "Choose the product to merge into.")
            return redirect("dashboard:product_merge", pk=self.product.pk)
        target = get_object_or_404(Product.objects.for_retailer(request.retailer), pk=int(target_id))
        try:
            result = product_merge(source=self.product, target=target, acting_user=request.user)
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
            return redirect("dashboard:product_merge", pk=self.product.pk)
        outlets = dict(Outlet.objects.for_retailer(request.retailer).values_list("pk", "name"))
        moved = ", ".join(f"{units:+d} at {outlets[o]}" for o, units in result.stock_moved.items()) or "no stock"
        messages.success(
            request,
            f"Merged “{self.product.name}” into “{target.name}”: {result.links_moved} BigCommerce link(s), "
            f"{result.sale_lines_moved} sale line(s) and {moved} moved."
            + (" The merged product had no history and was deleted." if result.source_deleted else ""),
        )
        return redirect("dashboard:product_detail", pk=target.pk)
