"""Settings: the overview (BigCommerce and Fulfilment sections), Settings › BigCommerce (link a store, its status,
where online sales are booked, payment-method and location mappings, webhooks, unlink) and claiming a single-click
app install.

Every member sees the settings; only admins change them: each change is its own admin-only POST view (staff get
403), which makes one service call, adds a message and redirects. A LinkError goes on the form it came from and
the page is shown again.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views import View

from dashboard.forms import (
    AppInstallClaimForm,
    FulfillmentSettingsForm,
    OutletLocationsForm,
    PaymentMethodsForm,
    RetailerSettingsForm,
    StoreLinkForm,
    StoreLinkPlacesForm,
)
from dashboard.views.mixins import call_service
from integration.models import OutletLocation, PaymentMethodMap, StoreLink
from integration.services.app_install import AppAuthError, app_claim_install, app_install_claim
from integration.services.catalog_match import catalog_match_before_link
from integration.services.link import (
    LinkError,
    active_link,
    hooks_register,
    link_status,
    links_archived,
    mappings_of_other_stores,
    outlet_locations_map,
    payment_methods_map,
    public_url_problem,
    store_credentials_check,
    store_link_create,
    store_link_unlink,
    store_link_update_settings,
    store_locations,
    token_seal,
    token_unseal,
)
from pos.models import Outlet, Register
from pos.selectors import retailer_audit_recent, settings_counts
from pos.services.retailer import (
    retailer_currency_locked,
    retailer_restock_refunds_set,
    retailer_settings_update,
    retailer_unpaid_fulfillment_set,
)
from pos.tenancy import AdminRequiredMixin, RetailerRequiredMixin, is_admin

BIGCOMMERCE_TEMPLATE = "dashboard/settings_bigcommerce.html"
MATCH_TEMPLATE = "dashboard/settings_bigcommerce_match.html"
RETAILER_FIELD_LABELS = {"name": "name", "time_zone": "time zone", "currency": "currency"}


def _read_only(*forms) -> None:
    for form in forms:
        for field in form.fields.values():
            field.disabled = True


def _form_error(form, error: LinkError) -> None:
    form.add_error(error.field if error.field in form.fields else None, error.message)


def settings_page(request, *, retailer_form=None, status: int = 200):
    """The Settings overview: the shop's own settings, links to outlets, payment types and people, fulfilment,
    BigCommerce, and (admins) the latest audited changes. A bound form with errors replaces the fresh one."""
    retailer = request.retailer
    admin = is_admin(request)
    retailer_form = retailer_form or RetailerSettingsForm(
        retailer=retailer, currency_locked=retailer_currency_locked(retailer=retailer)
    )
    fulfillment_form = FulfillmentSettingsForm(
        initial={
            "allow_unpaid_fulfillment": retailer.allow_unpaid_fulfillment,
            "restock_refunded_items": retailer.restock_refunded_items,
        }
    )
    if not admin:
        _read_only(retailer_form, fulfillment_form)
    context = {
        "link": active_link(retailer),
        "retailer_form": retailer_form,
        "fulfillment_form": fulfillment_form,
        "audit": retailer_audit_recent(retailer=retailer) if admin else [],
        "counts": settings_counts(retailer=retailer),
    }
    return render(request, "dashboard/settings.html", context, status=status)


class SettingsView(RetailerRequiredMixin, View):
    def get(self, request):
        return settings_page(request)


class RetailerSettingsView(AdminRequiredMixin, View):
    """The Shop card's form: name, time zone and (until the first sale) currency."""

    http_method_names = ["post"]

    def post(self, request):
        retailer = request.retailer
        form = RetailerSettingsForm(
            request.POST, retailer=retailer, currency_locked=retailer_currency_locked(retailer=retailer)
        )
        changed = None
        if form.is_valid():
            changed = call_service(
                form, retailer_settings_update, retailer=retailer, acting_user=request.user, **form.cleaned_data
            )
        if changed is None:
            return settings_page(request, retailer_form=form, status=400)
        if changed:
            messages.success(request, f"Saved the shop's {', '.join(RETAILER_FIELD_LABELS[f] for f in changed)}.")
        else:
            messages.info(request, "Nothing changed.")
        return redirect("dashboard:settings")


class FulfillmentSettingsView(AdminRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request):
        form = FulfillmentSettingsForm(request.POST)
        form.is_valid()  # a checkbox is always valid: unticked is False
        allowed = form.cleaned_data["allow_unpaid_fulfillment"]
        restock = form.cleaned_data["restock_refunded_items"]
        changed = False
        if retailer_unpaid_fulfillment_set(retailer=request.retailer, allowed=allowed, acting_user=request.user):
            changed = True
            messages.success(
                request,
                "Fulfilments can now be completed while a balance is owing."
                if allowed
                else "Fulfilments now need the sale paid before they can be completed.",
            )
        if retailer_restock_refunds_set(retailer=request.retailer, restock=restock, acting_user=request.user):
            changed = True
            messages.success(
                request,
                "Items named by BigCommerce refunds from now on go back into stock."
                if restock
                else "Refunds no longer put items back into stock.",
            )
        if not changed:
            messages.info(request, "Nothing changed.")
        return redirect("dashboard:settings")


# ---------------------------------------------------------------- Settings › BigCommerce


def bigcommerce_page(request, *, status: int = 200, **forms):
    """The whole Settings › BigCommerce page; bound forms with errors replace the fresh ones."""
    retailer = request.retailer
    link = active_link(retailer)
    context: dict = {"link": link, "can_change": is_admin(request)}
    if link is None:
        archived = links_archived(retailer=retailer)
        link_form = forms.get("link_form") or StoreLinkForm(
            retailer=retailer, previous=archived[0] if archived else None, token_kept=kept_token(request) is not None
        )
        context |= {
            "link_form": link_form,
            "archived": archived,
            "public_url_problem": public_url_problem(),
            "has_register": Register.objects.for_retailer(retailer).filter(active=True, outlet__active=True).exists(),
        }
        shown = [context["link_form"]]
    else:
        context |= _linked_context(request, link, forms)
        shown = [context["settings_form"], context["payment_form"], context["locations_form"]]
    if not context["can_change"]:
        _read_only(*shown)
    return render(request, BIGCOMMERCE_TEMPLATE, context, status=status)


def _linked_context(request, link: StoreLink, forms: dict) -> dict:
    retailer = request.retailer
    rows = list(PaymentMethodMap.objects.filter(link=link).select_related("payment_type"))
    outlets = list(Outlet.objects.for_retailer(retailer).order_by("name"))
    mapped = list(OutletLocation.objects.filter(link=link).select_related("outlet").order_by("outlet__name"))
    try:
        locations, locations_error = store_locations(link=link), ""
    except LinkError as error:
        locations, locations_error = [], error.message
    locations_form = forms.get("locations_form") or OutletLocationsForm(
        outlets=outlets, locations=locations, current={row.outlet_id: row.location_id for row in mapped}
    )
    return {
        "status": link_status(link),
        "settings_form": forms.get("settings_form") or StoreLinkPlacesForm(retailer=retailer, link=link),
        "payment_form": forms.get("payment_form") or PaymentMethodsForm(link=link, rows=rows),
        "locations_form": locations_form,
        "locations": locations,
        "locations_error": locations_error,
        "mapped_locations": mapped,
    }


class BigCommerceSettingsView(RetailerRequiredMixin, View):
    """GET: the page; an htmx request gets the status panel alone (it refreshes itself)."""

    def get(self, request):
        if request.htmx and not request.htmx.boosted:
            link = active_link(request.retailer)
            context = {"link": link, "status": link_status(link) if link else None, "can_change": is_admin(request)}
            return render(request, f"{BIGCOMMERCE_TEMPLATE}#status", context)
        return bigcommerce_page(request)


def _live_link_or_404(request) -> StoreLink:
    link = active_link(request.retailer)
    if link is None:
        raise Http404("This retailer has no linked store.")
    return link


class LinkedStoreFormView(AdminRequiredMixin, View):
    """An admin POST of one of the linked page's forms: valid, one service call, a message and back to the page;
    invalid or refused (LinkError), the page again with the form's errors. 404 once the store is unlinked."""

    http_method_names = ["post"]
    form_key = ""  # the page's context name for this form

    def get_form(self, link: StoreLink):
        raise NotImplementedError

    def perform(self, link: StoreLink, form) -> str:
        """Call the service; return the success message."""
        raise NotImplementedError

    def post(self, request):
        link = _live_link_or_404(request)
        form = self.get_form(link)
        if form.is_valid():
            try:
                message = self.perform(link, form)
            except LinkError as error:
                _form_error(form, error)
            else:
                messages.success(request, message)
                return redirect("dashboard:settings_bigcommerce")
        return bigcommerce_page(request, **{self.form_key: form})


# A token pasted into a link attempt that failed for another reason (a register of another outlet, a store
# hash mistyped, BigCommerce unreachable) is kept for the next attempt: in the session, encrypted with the
# FIELD_ENCRYPTION_KEY like stored tokens, for a few minutes, and never rendered back into the page.
KEPT_TOKEN_SESSION_KEY = "bigcommerce_link_token"
KEPT_TOKEN_SECONDS = 15 * 60
# Failures that say the token itself is wrong: it is not kept.
TOKEN_REFUSED_CODES = {"token_missing", "token_rejected"}


def kept_token(request) -> str | None:
    """The token kept from this retailer's last failed link attempt, if not expired."""
    kept = request.session.get(KEPT_TOKEN_SESSION_KEY)
    if not kept or kept.get("retailer") != request.retailer.pk:
        return None
    token = token_unseal(kept["token"], max_age_seconds=KEPT_TOKEN_SECONDS)
    if token is None:
        forget_token(request)
    return token


def keep_token(request, token: str) -> None:
    request.session[KEPT_TOKEN_SESSION_KEY] = {
        "retailer": request.retailer.pk,
        "token": token_seal(token),
    }


def forget_token(request) -> None:
    request.session.pop(KEPT_TOKEN_SESSION_KEY, None)


class BigCommerceLinkView(AdminRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request):
        retailer = request.retailer
        kept = kept_token(request)
        form = StoreLinkForm(request.POST, retailer=retailer, token_kept=kept is not None)
        if active_link(retailer) is not None:
            messages.info(request, "A store is already linked.")
            return redirect("dashboard:settings_bigcommerce")
        token = (request.POST.get("access_token") or "").strip() or kept or ""
        if not form.is_valid():
            return self._failed(request, form, token)
        data = form.cleaned_data
        try:
            check = store_credentials_check(store_hash=data["store_hash"], access_token=token)
            if not data["catalog_accepted"]:
                report = catalog_match_before_link(
                    retailer=retailer, check=check, access_token=token, outlet=data["outlet"]
                )
                if report is not None:
                    keep_token(request, token)  # "Accept and link" and "Check again" post the form without it
                    return render(request, MATCH_TEMPLATE, {"form": form, "report": report, "check": check})
            link = store_link_create(
                retailer=retailer,
                check=check,
                access_token=token,
                acting_user=request.user,
                confirm_different_store=data["confirm_different_store"],
                **form.places(),
            )
        except LinkError as error:
            _form_error(form, error)
            return self._failed(request, form, "" if error.code in TOKEN_REFUSED_CODES else token)
        forget_token(request)
        _linked_messages(request, link)
        return redirect("dashboard:settings_bigcommerce")

    def _failed(self, request, form, token: str):
        if token:
            keep_token(request, token)
        else:
            forget_token(request)
        form.set_token_kept(bool(token))
        return bigcommerce_page(request, link_form=form)


def _linked_messages(request, link: StoreLink) -> None:
    link.refresh_from_db(fields=["hooks"])
    messages.success(request, f"Linked to {link.store_name or link.store_hash}. New orders now become sales.")
    if not link.hooks:
        messages.warning(
            request,
            "BigCommerce did not accept our webhooks (the sync log says why), so orders arrive only through "
            "reconciliation every few minutes. Use “Re-register webhooks” once it is fixed.",
        )
    if link.store_currency and link.store_currency.upper() != request.retailer.currency.upper():
        messages.warning(
            request,
            f"The store sells in {link.store_currency}, but this retailer's sales are in {request.retailer.currency}. "
            "Orders are never converted: they will wait in Failed orders. Contact support before going on.",
        )


class BigCommerceUpdateView(LinkedStoreFormView):
    form_key = "settings_form"

    def get_form(self, link):
        return StoreLinkPlacesForm(self.request.POST, retailer=self.request.retailer, link=link)

    def perform(self, link, form):
        store_link_update_settings(link=link, acting_user=self.request.user, **form.places())
        return "Saved. Orders imported from now on are booked there."


class BigCommercePaymentMethodsView(LinkedStoreFormView):
    form_key = "payment_form"

    def get_form(self, link):
        rows = list(PaymentMethodMap.objects.filter(link=link).select_related("payment_type"))
        return PaymentMethodsForm(self.request.POST, link=link, rows=rows)

    def perform(self, link, form):
        changed = payment_methods_map(link=link, mapping=form.mapping(), acting_user=self.request.user)
        return f"Saved {changed} payment method mapping(s)." if changed else "Nothing changed."


class BigCommerceLocationsView(LinkedStoreFormView):
    form_key = "locations_form"

    def get_form(self, link):
        try:
            self.locations = store_locations(link=link)
        except LinkError:
            self.locations = []  # no location can be chosen; the page says why BigCommerce did not list them
        outlets = list(Outlet.objects.for_retailer(self.request.retailer).order_by("name"))
        return OutletLocationsForm(self.request.POST, outlets=outlets, locations=self.locations, current={})

    def perform(self, link, form):
        outlet_locations_map(link=link, mapping=form.mapping(), locations=self.locations, acting_user=self.request.user)
        return "Saved which BigCommerce location follows each outlet's stock."


class BigCommerceHooksView(AdminRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request):
        if hooks_register(link=_live_link_or_404(request)):
            messages.success(request, "Webhooks registered again at BigCommerce.")
        else:
            messages.error(request, "BigCommerce refused the webhooks; the sync log says why.")
        return redirect("dashboard:settings_bigcommerce")


class BigCommerceUnlinkView(AdminRequiredMixin, View):
    """GET: what unlinking and relinking do, in plain words, with the button. POST: unlink."""

    template_name = "dashboard/settings_bigcommerce_unlink.html"

    def get(self, request):
        return render(request, self.template_name, {"link": active_link(request.retailer)})

    def post(self, request):
        link = active_link(request.retailer)
        if link is None or not store_link_unlink(link=link, acting_user=request.user):
            messages.info(request, "No store was linked.")
        else:
            messages.success(
                request,
                f"Unlinked {link.store_name or link.store_hash}. Syncing stopped; every sale, mapping and log is kept.",
            )
        return redirect("dashboard:settings_bigcommerce")


class AppInstallClaimView(AdminRequiredMixin, View):
    """Claim a single-click app install (the button in the BigCommerce control panel opens this page)."""

    template_name = "dashboard/settings_bigcommerce_claim.html"

    def get(self, request):
        token = request.GET.get("token", "")
        if not token:
            return render(request, self.template_name, {})
        return self._page(request, AppInstallClaimForm(retailer=request.retailer, initial={"token": token}), token)

    def post(self, request):
        form = AppInstallClaimForm(request.POST, retailer=request.retailer)
        token = request.POST.get("token", "")
        if not form.is_valid():
            return self._page(request, form, token)
        try:
            install = app_claim_install(token=token)
            link = app_install_claim(
                install=install,
                retailer=request.retailer,
                acting_user=request.user,
                confirm_different_store=form.cleaned_data["confirm_different_store"],
                **form.places(),
            )
        except AppAuthError as error:
            return render(request, self.template_name, {"error": error.message}, status=error.status)
        except LinkError as error:
            _form_error(form, error)
            return self._page(request, form, token)
        _linked_messages(request, link)
        return redirect("dashboard:settings_bigcommerce")

    def _page(self, request, form, token: str):
        try:
            install = app_claim_install(token=token)
        except AppAuthError as error:
            return render(request, self.template_name, {"error": error.message}, status=error.status)
        context = {
            "install": install,
            "form": form,
            "link": active_link(request.retailer),
            # The install names its store: warn only when mappings of another store would be archived.
            "archived_mappings": bool(
                mappings_of_other_stores(retailer=request.retailer, store_hash=install.store_hash)
            ),
            "public_url_problem": public_url_problem(),
        }
        return render(request, self.template_name, context)
