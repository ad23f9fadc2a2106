"""The Sell screen (every member rings up sales) and the printable receipt.

The cart lives in the form itself (hidden product ids and quantity inputs), so the screen keeps no server state
and works the same with htmx (the form region is swapped) and without it (the page is posted). A SKU typed or
scanned into the search box is added at once; other text lists matching products to pick from. "Complete sale"
calls `sale_create_in_store` and shows the receipt. The form carries a one-off token: submitting a completed
sale again (a double click, a resent request) shows the first sale's receipt instead of selling twice.

No control is named `action` or `remove`: such names shadow the form element's own properties, which htmx uses
when it swaps the form.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView
from django_htmx.http import HttpResponseClientRedirect

from dashboard.forms import new_request_key
from integration.selectors import link_in_use
from pos.models import PaymentType, Product, Register
from pos.selectors import products_search, sale_for_receipt, stock_on_hand
from pos.services.retailer import registers_for_counter_sales
from pos.services.sales import InStoreLine, InStorePayment, sale_create_in_store
from pos.tenancy import RetailerRequiredMixin

SESSION_REGISTER = "sell_register_id"
SESSION_DONE = "sell_completed"
DONE_KEPT = 20
MAX_QUANTITY = 9999


@dataclass
class CartLine:
    product: Product
    quantity: int
    # Units on hand at the register's outlet (None: the product does not track stock).
    on_hand: int | None = None

    @property
    def total(self) -> Decimal:
        return self.product.retail_price * self.quantity

    @property
    def below_zero(self) -> bool:
        """Selling this many takes the outlet's stock below zero (allowed: the count may be behind)."""
        return self.on_hand is not None and self.quantity > self.on_hand


def _quantity(raw: str) -> int:
    try:
        return max(0, min(int(raw), MAX_QUANTITY))
    except (TypeError, ValueError):
        return 1


def _amount(raw: str) -> Decimal | None:
    try:
        amount = Decimal(raw.strip())
    except (InvalidOperation, AttributeError):
        return None
    return amount if amount.is_finite() else None


class SellView(RetailerRequiredMixin, View):
    template_name = "dashboard/sell.html"

    def _registers(self):
        """Registers that may sell: active, at an active outlet, never the online register."""
        return registers_for_counter_sales(
            retailer=self.request.retailer, in_use=link_in_use(retailer=self.request.retailer)
        )

    def get(self, request):
        registers = list(self._registers())
        register = self._chosen_register(registers)
        if register is None:
            return render(request, self.template_name, {"registers": registers})
        request.session[SESSION_REGISTER] = register.pk
        return self._render({"register": register, "registers": registers, "lines": [], "token": new_request_key()})

    def post(self, request):
        register = get_object_or_404(self._registers(), pk=_int(request.POST, "register"))
        token = request.POST.get("token") or new_request_key()
        done = request.session.get(SESSION_DONE, {})
        if token in done:
            return self._redirect(reverse("dashboard:sale_receipt", kwargs={"pk": done[token]}))
        lines = self._cart(request.POST)
        query = request.POST.get("q", "").strip()
        context = {"register": register, "token": token, "query": query, "errors": []}
        action = request.POST.get("sell_action", "add")
        if action == "add" and query:
            matches = products_search(retailer=request.retailer, query=query, limit=10)
            exact = [p for p in matches if p.sku == query]
            if exact or len(matches) == 1:
                self._add(lines, (exact or matches)[0])
                context["query"] = ""
            elif matches:
                context["matches"] = matches
            else:
                context["errors"].append(f"No active product matches “{query}”.")
        context["lines"] = lines
        if action == "complete":
            return self._complete(context)
        return self._render(context)

    # ------------------------------------------------------------ helpers

    def _chosen_register(self, registers: list[Register]) -> Register | None:
        by_id = {r.pk: r for r in registers}
        if "change" in self.request.GET:
            return None
        wanted = _int(self.request.GET, "register") or self.request.session.get(SESSION_REGISTER)
        if wanted in by_id:
            return by_id[wanted]
        return registers[0] if len(registers) == 1 else None

    def _cart(self, data) -> list[CartLine]:
        """The posted cart, with the picked product added and the removed one taken out (one query)."""
        ids = [int(x) for x in data.getlist("product") if x.isdigit()]
        quantities = [_quantity(q) for q in data.getlist("quantity")]
        picked = _int(data, "add_product")
        removed = _int(data, "remove_product")
        products = self.scoped(Product).in_bulk([*ids, picked] if picked else ids)
        lines: list[CartLine] = []
        for product_id, quantity in zip(ids, quantities, strict=False):
            if product_id in products and product_id != removed and quantity > 0:
                self._add(lines, products[product_id], quantity)
        if picked in products:
            self._add(lines, products[picked])
        return lines

    @staticmethod
    def _add(lines: list[CartLine], product: Product, quantity: int = 1) -> None:
        for line in lines:
            if line.product.pk == product.pk:
                line.quantity = min(line.quantity + quantity, MAX_QUANTITY)
                return
        lines.append(CartLine(product, quantity))

    def _complete(self, context: dict):
        request = self.request
        lines: list[CartLine] = context["lines"]
        total = sum((line.total for line in lines), Decimal("0"))
        raw_amount = request.POST.get("amount", "")
        amount = total if not raw_amount.strip() else _amount(raw_amount)
        payment_type_id = _int(request.POST, "payment_type")
        if amount is None:
            context["errors"].append("Enter the amount paid as a number, for example 12.50.")
            return self._render(context)
        payments = [InStorePayment(payment_type_id or 0, amount)] if amount > 0 else []
        try:
            sale = sale_create_in_store(
                register=context["register"],
                lines=[InStoreLine(line.product.pk, line.quantity) for line in lines],
                payments=payments,
                user=request.user,
            )
        except ValidationError as error:
            context["errors"].extend(error.messages)
            return self._render(context)
        done = dict(list(request.session.get(SESSION_DONE, {}).items())[-(DONE_KEPT - 1) :])
        done[context["token"]] = sale.pk
        request.session[SESSION_DONE] = done
        messages.success(request, f"Sale #{sale.invoice_number} completed.")
        return self._redirect(reverse("dashboard:sale_receipt", kwargs={"pk": sale.pk}))

    def _redirect(self, url: str):
        if self.request.htmx:
            return HttpResponseClientRedirect(url)
        return redirect(url)

    def _render(self, context: dict):
        lines = context.get("lines", [])
        if lines:
            on_hand = stock_on_hand(outlet=context["register"].outlet, product_ids=[line.product.pk for line in lines])
            for line in lines:
                if line.product.tracks_inventory:
                    line.on_hand = on_hand.get(line.product.pk, 0)
        payment_types = list(self.scoped(PaymentType).filter(active=True).order_by("name"))
        chosen = _int(self.request.POST, "payment_type")
        default = next(
            (t for t in payment_types if t.name.lower() == "cash"), payment_types[0] if payment_types else None
        )
        context.update(
            total=sum((line.total for line in lines), Decimal("0")),
            item_count=sum(line.quantity for line in lines),
            below_zero=[line for line in lines if line.below_zero],
            payment_types=payment_types,
            payment_type_id=chosen or (default.pk if default else None),
            amount=self.request.POST.get("amount", "") if context.get("errors") else "",
        )
        template = self.template_name
        if self.request.htmx and not self.request.htmx.boosted:
            template += "#sell-form"
        return render(self.request, template, context)


def _int(data, key: str) -> int | None:
    value = data.get(key, "")
    return int(value) if isinstance(value, str) and value.isdigit() else None


class SaleReceiptView(RetailerRequiredMixin, TemplateView):
    """A printable receipt: the invoice number, lines, totals and payments of one sale."""

    template_name = "dashboard/sale_receipt.html"

    def get_context_data(self, **kwargs):
        sale = sale_for_receipt(retailer=self.request.retailer, pk=kwargs["pk"])
        if sale is None:
            raise Http404("No such sale.")
        return super().get_context_data(sale=sale, **kwargs)
