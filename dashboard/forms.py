"""Dashboard forms: they read and check input; the services in `pos/services/` and `integration/services/` apply
the rules and save. List pages have one filter form each: it parses the query string into the selector's filter
dataclass (invalid fields are shown with their error and ignored, the rest still apply)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from functools import cache
from zoneinfo import available_timezones

from django import forms
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, SetPasswordForm
from django.core.exceptions import ValidationError

from integration.choices import ErrorCode, LinkState, LogLevel, OrderSyncState, PickupStock
from integration.models import OrderSync, PaymentMethodMap, StoreLink
from integration.selectors import FailedOrderFilters, SyncLogFilters, code_label
from integration.services.link import DEFAULT_PAYMENT_TYPE_NAME
from integration.services.synclog import Event
from integration.status_table import STATUS_TABLE
from pos.choices import Channel, FulfillmentState, MovementReason, PaymentState, ProductKind, Role, SaleStatus
from pos.models import MONEY, FulfillmentLine, Outlet, PaymentType, Product, Register, Retailer
from pos.selectors import CATALOG_SORTS, NO_FULFILLMENT, SALE_SORTS, STOCK_STATES, SaleFilters, products_by_sku
from pos.services.fulfillment import FIELD_MAX_LENGTH, LineQuantities

YES_NO = [("", "Any"), ("yes", "Yes"), ("no", "No")]


class BootstrapMixin:
    """Gives every widget the Bootstrap class its type needs (templates render `{{ field }}` as is). Applied when a
    field is rendered, so fields a form adds in its own `__init__` (one select per payment method...) get it too."""

    def __getitem__(self, name):
        widget = self.fields[name].widget
        if isinstance(widget, forms.CheckboxInput | forms.RadioSelect):
            css = "form-check-input"
        elif isinstance(widget, forms.Select):
            css = "form-select"
        else:
            css = "form-control"
        widget.attrs.setdefault("class", css)
        return super().__getitem__(name)


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def new_request_key() -> str:
    """A one-off key a form carries so that submitting it twice changes stock once."""
    return uuid.uuid4().hex


# ---------------------------------------------------------------- catalog


class CatalogFilterForm(BootstrapMixin, forms.Form):
    """The Catalog page's search, filters and sort (GET)."""

    q = forms.CharField(label="Search name or SKU", required=False, max_length=100)
    kind = forms.ChoiceField(label="Kind", required=False, choices=[("", "Any kind"), *ProductKind.choices])
    active = forms.ChoiceField(label="Active", required=False, choices=YES_NO)
    linked = forms.ChoiceField(label="Linked to BigCommerce", required=False, choices=YES_NO)
    review = forms.ChoiceField(label="Needs review", required=False, choices=YES_NO)
    sort = forms.ChoiceField(required=False, choices=[(k, k) for k in CATALOG_SORTS], widget=forms.HiddenInput)

    def selector_kwargs(self) -> dict:
        """The valid filters as keyword arguments of `pos.selectors.product_catalog` (invalid ones are ignored)."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "query": data.get("q", ""),
            "kind": data.get("kind", ""),
            "active": _yes_no(data.get("active", "")),
            "linked": _yes_no(data.get("linked", "")),
            "needs_review": _yes_no(data.get("review", "")),
            "sort": data.get("sort") or "name",
        }


class ProductForm(BootstrapMixin, forms.Form):
    """A product's editable fields. Placeholder is a kind only the link gives, so it is offered only to keep it."""

    name = forms.CharField(max_length=255)
    sku = forms.CharField(
        label="SKU", max_length=255, required=False, help_text="Unique in your catalog. Leave blank for none."
    )
    kind = forms.ChoiceField(
        choices=ProductKind.choices,
        help_text="Shipping, handling and gift wrapping are charges: they never track stock.",
    )
    retail_price = forms.DecimalField(
        label="Retail price", min_value=0, max_digits=MONEY["max_digits"], decimal_places=MONEY["decimal_places"]
    )
    supply_price = forms.DecimalField(
        label="Supply price", min_value=0, max_digits=MONEY["max_digits"], decimal_places=MONEY["decimal_places"]
    )
    active = forms.BooleanField(required=False, initial=True, help_text="Inactive products cannot be sold.")
    tracks_inventory = forms.BooleanField(label="Tracks stock", required=False, initial=True)

    def __init__(self, *args, current_kind: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if current_kind != ProductKind.PLACEHOLDER:
            self.fields["kind"].choices = [c for c in ProductKind.choices if c[0] != ProductKind.PLACEHOLDER]


# ---------------------------------------------------------------- stock


class StockFilterForm(BootstrapMixin, forms.Form):
    """The Stock page's outlet, search and state filter (GET)."""

    outlet = forms.ModelChoiceField(queryset=Outlet.objects.none(), required=False, empty_label=None)
    q = forms.CharField(label="Search name or SKU", required=False, max_length=100)
    state = forms.ChoiceField(
        label="Show",
        required=False,
        choices=[("", "All products"), ("low", "Low stock"), ("negative", "Negative stock")],
    )
    low_at = forms.IntegerField(label="Low at or below", required=False, min_value=0, initial=5)

    def __init__(self, *args, retailer: Retailer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["outlet"].queryset = Outlet.objects.for_retailer(retailer).order_by("name")

    def values(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        state = data.get("state", "")
        return {
            "outlet": data.get("outlet") or self.fields["outlet"].queryset.first(),
            "query": data.get("q", ""),
            "state": state if state in STOCK_STATES else "",
            "low_at": 5 if data.get("low_at") is None else data["low_at"],
        }


class StockAdjustForm(BootstrapMixin, forms.Form):
    """Add or take out units of one product at one outlet, with a reason and a note."""

    outlet = forms.ModelChoiceField(queryset=Outlet.objects.none(), empty_label=None)
    delta = forms.IntegerField(
        label="Change in units", help_text="Positive adds stock (received), negative takes it out (damaged, lost)."
    )
    reason = forms.ChoiceField(
        choices=[
            (value, label) for value, label in MovementReason.choices if value in MovementReason.adjustment_reasons()
        ]
    )
    note = forms.CharField(max_length=255, required=False, help_text="What happened, for whoever reads the history.")
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, retailer: Retailer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["outlet"].queryset = Outlet.objects.for_retailer(retailer).order_by("name")
        self.fields["request_key"].initial = new_request_key()


COUNT_SEPARATORS = re.compile(r"[,;\t]")
COUNT_ERRORS_SHOWN = 20


@dataclass(frozen=True)
class CountLine:
    product: Product
    counted: int


class StockCountForm(BootstrapMixin, forms.Form):
    """A stock count as pasted lines of `sku,quantity` (a spreadsheet's two columns or a scanner's output).

    Commas, semicolons or tabs separate the columns; a header line `sku,quantity` is skipped; a line with a SKU
    alone counts one unit (one scan); a SKU on several lines is counted once with the quantities added up
    (shelf plus back room). Thousands of lines are fine: the SKUs are resolved in one query.
    """

    outlet = forms.ModelChoiceField(queryset=Outlet.objects.none(), empty_label=None)
    lines = forms.CharField(
        label="Counted stock",
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "autocomplete": "off"}),
        help_text="One product a line: <code>SKU,quantity</code>. Paste two columns from a spreadsheet, or scan "
        "barcodes (a SKU alone counts 1). Products you leave out keep their stock.",
    )
    note = forms.CharField(max_length=255, required=False)
    request_key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, retailer: Retailer, **kwargs):
        super().__init__(*args, **kwargs)
        self.retailer = retailer
        self.fields["outlet"].queryset = Outlet.objects.for_retailer(retailer).order_by("name")
        self.fields["request_key"].initial = new_request_key()

    def clean_lines(self) -> list[CountLine]:
        parsed: dict[str, int] = {}
        errors: list[str] = []
        for number, raw in enumerate(self.cleaned_data["lines"].splitlines(), start=1):
            if not raw.strip():
                continue
            columns = [c.strip() for c in COUNT_SEPARATORS.split(raw)]
            sku, quantity = columns[0], (columns[1] if len(columns) > 1 else "") or "1"
            if number == 1 and sku.lower() == "sku":
                continue
            if not sku:
                errors.append(f"Line {number}: the SKU is missing.")
                continue
            if not quantity.isdigit():
                errors.append(f"Line {number}: “{quantity}” is not a whole number of units (0 or more).")
                continue
            parsed[sku] = parsed.get(sku, 0) + int(quantity)
        products = products_by_sku(retailer=self.retailer, skus=list(parsed))
        unknown = [sku for sku in parsed if sku not in products]
        errors += [f"No product has the SKU “{sku}”." for sku in unknown]
        errors += [
            f"“{p.name}” ({p.sku}) does not track stock: leave it out of the count."
            for p in products.values()
            if not p.tracks_inventory
        ]
        if errors:
            shown = errors[:COUNT_ERRORS_SHOWN]
            if len(errors) > COUNT_ERRORS_SHOWN:
                shown.append(f"…and {len(errors) - COUNT_ERRORS_SHOWN} more problems. Nothing was counted.")
            raise ValidationError(shown)
        if not parsed:
            raise ValidationError("Enter at least one SKU and quantity.")
        return [CountLine(products[sku], quantity) for sku, quantity in parsed.items()]


QUANTITY_KINDS = ("picked", "packed", "fulfilled")


class FulfillmentVersionForm(forms.Form):
    """Every fulfilment action carries the version the page showed (optimistic locking)."""

    version = forms.IntegerField(
        min_value=1,
        widget=forms.HiddenInput,
        error_messages={"required": "This page is out of date. Reload it and try again."},
    )


class FulfillmentQuantitiesForm(FulfillmentVersionForm):
    """Picked, packed and fulfilled so far, one number input each per line (`picked_<line id>`...)."""

    def __init__(self, *args, lines: list[FulfillmentLine], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            for kind in QUANTITY_KINDS:
                self.fields[f"{kind}_{line.pk}"] = forms.IntegerField(
                    label=f"{kind.capitalize()} — {line.sale_line.name}",
                    error_messages={"invalid": f"Enter whole numbers for “{line.sale_line.name}”."},
                )

    def quantities(self) -> dict[int, LineQuantities]:
        return {
            line.pk: LineQuantities(*(self.cleaned_data[f"{kind}_{line.pk}"] for kind in QUANTITY_KINDS))
            for line in self.lines
        }


class FulfillmentTrackingForm(FulfillmentVersionForm):
    tracking_number = forms.CharField(max_length=FIELD_MAX_LENGTH, required=False, strip=True)
    carrier = forms.CharField(max_length=FIELD_MAX_LENGTH, required=False, strip=True)


class FulfillmentShipForm(FulfillmentTrackingForm):
    """A shipment of some goods: how many of each line go now (`ship_<line id>`, blank or 0 for none) and its
    tracking."""

    def __init__(self, *args, lines: list[FulfillmentLine], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lines = lines
        for line in lines:
            self.fields[f"ship_{line.pk}"] = forms.IntegerField(
                label=f"Ship now — {line.sale_line.name}",
                required=False,
                min_value=0,
                error_messages={
                    "invalid": f"Enter a whole number to ship of “{line.sale_line.name}”.",
                    "min_value": f"A quantity to ship of “{line.sale_line.name}” cannot be negative.",
                },
            )

    def quantities(self) -> dict[int, int]:
        return {line.pk: self.cleaned_data.get(f"ship_{line.pk}") or 0 for line in self.lines}


class FulfillmentShipmentRetryForm(FulfillmentVersionForm):
    shipment = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class FulfillmentCancelForm(FulfillmentVersionForm):
    reason = forms.CharField(
        max_length=255, error_messages={"required": "Say why the fulfilment is cancelled."}, strip=True
    )


PER_PAGE_CHOICES = [(25, "25 per page"), (50, "50 per page"), (100, "100 per page"), (200, "200 per page")]
DEFAULT_PER_PAGE = 50
ANY = [("", "Any")]


def _select(**attrs) -> forms.Select:
    return forms.Select(attrs={"class": "form-select form-select-sm", **attrs})


def _date() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date", "class": "form-control form-control-sm"}, format="%Y-%m-%d")


def _order_number() -> forms.IntegerField:
    return forms.IntegerField(
        required=False,
        min_value=1,
        label="Order #",
        widget=forms.NumberInput(attrs={"class": "form-control form-control-sm", "placeholder": "BigCommerce order"}),
    )


class FilterForm(forms.Form):
    """A GET filter form: unbound means "no filter", and `value(name)` reads a field only when it is valid."""

    per_page = forms.TypedChoiceField(
        required=False, label="Rows", coerce=int, choices=PER_PAGE_CHOICES, initial=DEFAULT_PER_PAGE, widget=_select()
    )

    def value(self, name: str, default=None):
        if not self.is_bound:
            return self.fields[name].initial if self.fields[name].initial is not None else default
        self.is_valid()
        value = self.cleaned_data.get(name)
        return default if value in (None, "") else value

    def page_size(self) -> int:
        return self.value("per_page", DEFAULT_PER_PAGE)

    def has_filters(self) -> bool:
        """Whether anything narrows the list (sorting and page size do not)."""
        ignored = {"sort", "per_page"}
        return any(self.value(name) not in (None, "") for name in self.fields if name not in ignored)


class DateRangeMixin(forms.Form):
    date_from = forms.DateField(required=False, label="From", widget=_date())
    date_to = forms.DateField(required=False, label="To", widget=_date())

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned


class SaleFilterForm(DateRangeMixin, FilterForm):
    q = forms.CharField(
        required=False,
        label="Search",
        max_length=200,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "class": "form-control",
                "placeholder": "Invoice #, BigCommerce order #, customer name or email",
                "autocomplete": "off",
            }
        ),
    )
    status = forms.ChoiceField(required=False, choices=ANY + SaleStatus.choices, widget=_select())
    channel = forms.ChoiceField(required=False, choices=ANY + Channel.choices, widget=_select())
    outlet = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, widget=_select())
    register = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, widget=_select())
    payment_state = forms.ChoiceField(
        required=False, label="Payment", choices=ANY + PaymentState.choices, widget=_select()
    )
    fulfillment_state = forms.ChoiceField(
        required=False,
        label="Fulfilment",
        choices=ANY + FulfillmentState.choices + [(NO_FULFILLMENT, "No fulfilment")],
        widget=_select(),
    )
    bc_status = forms.TypedChoiceField(
        required=False,
        label="BigCommerce status",
        coerce=int,
        empty_value=None,
        choices=ANY + [(s.id, s.label) for s in sorted(STATUS_TABLE.values(), key=lambda s: s.label)],
        widget=_select(),
    )
    sort = forms.ChoiceField(required=False, choices=[(k, k) for k in SALE_SORTS], widget=forms.HiddenInput)

    def __init__(self, *args, retailer, **kwargs):
        super().__init__(*args, **kwargs)
        # One query for both lists: every outlet that can have sales has a register.
        registers = list(
            Register.objects.for_retailer(retailer)
            .order_by("outlet__name", "name")
            .values_list("pk", "outlet_id", "outlet__name", "name")
        )
        outlets = {outlet_id: outlet_name for _, outlet_id, outlet_name, _ in registers}
        self.fields["outlet"].choices = ANY + list(outlets.items())
        self.fields["register"].choices = ANY + [(pk, f"{outlet} / {name}") for pk, _, outlet, name in registers]

    def filters(self) -> SaleFilters:
        return SaleFilters(
            date_from=self.value("date_from"),
            date_to=self.value("date_to"),
            status=self.value("status", ""),
            channel=self.value("channel", ""),
            outlet_id=self.value("outlet"),
            register_id=self.value("register"),
            payment_state=self.value("payment_state", ""),
            fulfillment_state=self.value("fulfillment_state", ""),
            bc_status_id=self.value("bc_status"),
            q=self.value("q", ""),
            sort=self.value("sort", "-date"),
        )


class FailedOrderFilterForm(DateRangeMixin, FilterForm):
    state = forms.ChoiceField(
        required=False,
        choices=[("", "All")]
        + [(s, OrderSyncState(s).label) for s in OrderSyncState.failed_states()]
        + [(OrderSyncState.PENDING, "Being retried")],
        widget=_select(),
    )
    reason = forms.ChoiceField(
        required=False, choices=ANY + [(r.code, code_label(r.code)) for r in ErrorCode.all()], widget=_select()
    )
    order = _order_number()

    def filters(self) -> FailedOrderFilters:
        return FailedOrderFilters(
            state=self.value("state", ""),
            reason=self.value("reason", ""),
            order=self.value("order"),
            date_from=self.value("date_from"),
            date_to=self.value("date_to"),
        )


class SyncLogFilterForm(DateRangeMixin, FilterForm):
    level = forms.ChoiceField(required=False, choices=ANY + LogLevel.choices, widget=_select())
    event = forms.ChoiceField(
        required=False,
        choices=ANY + sorted(((e.code, code_label(e.code)) for e in Event.all()), key=lambda c: c[1]),
        widget=_select(),
    )
    order = _order_number()

    def filters(self) -> SyncLogFilters:
        return SyncLogFilters(
            level=self.value("level", ""),
            event=self.value("event", ""),
            order=self.value("order"),
            date_from=self.value("date_from"),
            date_to=self.value("date_to"),
        )


class RetrySelectedForm(forms.Form):
    """The rows ticked on the Failed orders page. Scoped to the retailer: another retailer's id is invalid."""

    ids = forms.ModelMultipleChoiceField(
        queryset=OrderSync.objects.none(), error_messages={"required": "Tick the orders to retry first."}
    )

    def __init__(self, *args, retailer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ids"].queryset = OrderSync.objects.for_retailer(retailer)


class ResolveForm(forms.Form):
    note = forms.CharField(
        label="How was it resolved?",
        max_length=1000,
        widget=forms.Textarea(
            attrs={
                "rows": 2,
                "class": "form-control form-control-sm",
                "placeholder": "e.g. Re-created the sale by hand as #1042",
            }
        ),
        error_messages={"required": "Say how it was resolved: the note goes on the order's timeline."},
    )


# ---------------------------------------------------------------- settings: the shop


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(available_timezones()) if "/" in name or name == "UTC"]


class RetailerSettingsForm(BootstrapMixin, forms.Form):
    """The retailer's name, time zone and currency (the currency only until the first sale)."""

    name = forms.CharField(label="Shop name", max_length=200)
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=time_zone_choices,
        help_text="Every date and time on these pages, in exports and receipts, and the days of the filters.",
    )
    currency = forms.CharField(
        label="Currency",
        max_length=3,
        min_length=3,
        help_text="The three-letter code of your sales' money (USD, EUR, AUD…). A linked BigCommerce store must "
        "sell in it: an order paid in another currency is converted at that order's own exchange rate.",
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "class": "form-control text-uppercase"}),
    )

    def __init__(self, *args, retailer: Retailer, currency_locked: bool, **kwargs):
        kwargs.setdefault(
            "initial", {"name": retailer.name, "time_zone": retailer.time_zone, "currency": retailer.currency}
        )
        super().__init__(*args, **kwargs)
        if currency_locked:
            field = self.fields["currency"]
            field.disabled = True
            field.help_text = "Fixed: the shop has sales in this currency, and amounts are never converted."


class OutletForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=120)
    address = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Printed on receipts.",
    )
    active = forms.BooleanField(
        required=False,
        initial=True,
        help_text="Inactive outlets keep their sales and stock history; their registers cannot sell.",
    )


class RegisterCreateForm(BootstrapMixin, forms.Form):
    outlet = forms.ModelChoiceField(
        queryset=Outlet.objects.none(), empty_label=None, help_text="A register stays at its outlet."
    )
    name = forms.CharField(max_length=120, help_text="e.g. Front counter, Till 2.")

    def __init__(self, *args, retailer: Retailer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["outlet"].queryset = Outlet.objects.for_retailer(retailer).filter(active=True).order_by("name")


class RegisterForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=120)
    active = forms.BooleanField(required=False, help_text="Inactive registers keep their sales and cannot sell.")


class PaymentTypeForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=80, help_text="As staff pick it on the Sell screen: Cash, Card, Gift voucher…")
    active = forms.BooleanField(
        required=False, initial=True, help_text="Inactive payment types are no longer offered; past payments keep it."
    )


ROLE_HELP = "Admins also manage settings, people, the catalog and the BigCommerce link; staff sell and fulfil."


class PersonAddForm(BootstrapMixin, forms.Form):
    """A new person: invited by email (they choose their password) or given a password now."""

    INVITE, PASSWORD = "invite", "password"

    username = forms.CharField(max_length=150, help_text="What they sign in with.")
    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    email = forms.EmailField(required=False, help_text="For the invitation and password resets.")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.STAFF, help_text=ROLE_HELP)
    how = forms.ChoiceField(
        label="How they get in",
        choices=[(INVITE, "Email an invitation to choose a password"), (PASSWORD, "Set a password now")],
        initial=INVITE,
        widget=forms.RadioSelect,
    )
    password1 = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Only when setting a password now. Give it to them in person; they can change it after signing in.",
    )
    password2 = forms.CharField(
        label="Password again",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("how") == self.PASSWORD:
            if not data.get("password1"):
                self.add_error("password1", "Enter the password, or send an invitation instead.")
            elif data.get("password1") != data.get("password2"):
                self.add_error("password2", "The two passwords differ.")
        return data

    def password(self) -> str | None:
        return self.cleaned_data["password1"] if self.cleaned_data["how"] == self.PASSWORD else None


class PersonRoleForm(BootstrapMixin, forms.Form):
    role = forms.ChoiceField(choices=Role.choices, help_text=ROLE_HELP)


class BootstrapPasswordChangeForm(BootstrapMixin, PasswordChangeForm):
    pass


class BootstrapSetPasswordForm(BootstrapMixin, SetPasswordForm):
    pass


class BootstrapPasswordResetForm(BootstrapMixin, PasswordResetForm):
    pass


class FulfillmentSettingsForm(BootstrapMixin, forms.Form):
    allow_unpaid_fulfillment = forms.BooleanField(
        label="Allow completing a fulfilment while the sale still has a balance owing",
        required=False,
        help_text="Off: staff must take the payment before they can complete or mark as collected.",
    )
    restock_refunded_items = forms.BooleanField(
        label="Return refunded items to stock",
        required=False,
        help_text="On: items a BigCommerce refund names go back into the online outlet's stock, once per refund. "
        "Off: stock is left as it is (count returned goods in by hand).",
    )


class RegisterSelect(forms.Select):
    """A select of registers whose options carry their outlet (`data-outlet`): static/js/app.js narrows the list
    to the outlet chosen in the select named by `data-narrowed-by`."""

    def create_option(self, name, value, *args, **kwargs):
        option = super().create_option(name, value, *args, **kwargs)
        instance = getattr(value, "instance", None)
        if instance is not None:
            option["attrs"]["data-outlet"] = str(instance.outlet_id)
        return option


class StoreLinkPlacesForm(BootstrapMixin, forms.Form):
    """Where online sales are booked: an outlet, a register of that outlet, and the default payment type. Only
    active outlets and registers are offered (plus the link's own, which cannot be deactivated anyway)."""

    outlet = forms.ModelChoiceField(
        queryset=Outlet.objects.none(),
        help_text="Online sales take their stock from this outlet.",
        empty_label=None,
    )
    register = forms.ModelChoiceField(
        queryset=Register.objects.none(),
        help_text="A register of that outlet; online sales show on it in Sales history, and it is not offered on "
        "the Sell screen. A register of its own (“Online”) keeps web orders apart from the counter.",
        empty_label=None,
        widget=RegisterSelect(attrs={"data-narrowed-by": "outlet"}),
    )
    default_payment_type = forms.ModelChoiceField(
        label="Default payment type",
        queryset=PaymentType.objects.none(),
        help_text="Payments whose BigCommerce method is not mapped below are booked as this.",
    )

    def __init__(self, *args, retailer: Retailer, link: StoreLink | None = None, **kwargs):
        if link is not None:
            kwargs.setdefault(
                "initial",
                {
                    "outlet": link.outlet_id,
                    "register": link.register_id,
                    "default_payment_type": link.default_payment_type_id,
                    "pickup_stock": link.pickup_stock,
                },
            )
        super().__init__(*args, **kwargs)
        if link is not None:  # a linked store's settings: where pickups take their stock
            self.fields["pickup_stock"] = forms.ChoiceField(
                label="Pickup orders take stock from",
                choices=PickupStock.choices,
                required=False,  # left out: unchanged
                help_text="An order collected at a BigCommerce location mapped to another outlet (Stock locations, "
                "below) can take its stock from that outlet instead of the one above.",
            )
        self.fields["outlet"].queryset = Outlet.objects.for_retailer(retailer).filter(active=True).order_by("name")
        self.fields["register"].queryset = (
            Register.objects.for_retailer(retailer)
            .filter(active=True, outlet__active=True)
            .select_related("outlet")
            .order_by("outlet__name", "name")
        )
        payment_types = PaymentType.objects.for_retailer(retailer).filter(active=True).order_by("name")
        field = self.fields["default_payment_type"]
        field.queryset = payment_types
        if link is None and not any(p.name == DEFAULT_PAYMENT_TYPE_NAME for p in payment_types):
            # No "BigCommerce" payment type yet: the link creates it when this is left as is.
            field.required = False
            field.empty_label = f"{DEFAULT_PAYMENT_TYPE_NAME} (a new payment type)"
        else:
            field.empty_label = None
            if link is None and "default_payment_type" not in self.initial:
                field.initial = next(p.pk for p in payment_types if p.name == DEFAULT_PAYMENT_TYPE_NAME)

    def places(self) -> dict:
        data = self.cleaned_data
        return {
            "outlet": data["outlet"],
            "register": data["register"],
            "default_payment_type": data.get("default_payment_type"),
            **({"pickup_stock": data["pickup_stock"]} if data.get("pickup_stock") else {}),
        }


CONFIRM_DIFFERENT_STORE_LABEL = (
    "I understand: link this different store. Its orders create new products and customers in the POS, and the "
    "previous store's mappings are archived (never reused)."
)


TOKEN_HELP = (
    "The store-level API account's access token (scopes: Orders, Products and Inventory modify, Information "
    "&amp; settings read-only). It is stored encrypted and never shown again."
)
TOKEN_KEPT_HELP = (
    "The token of your last attempt is kept, encrypted, for a few minutes: leave this empty to use it again, or "
    "paste another."
)


class StoreLinkForm(StoreLinkPlacesForm):
    """Link a store with its hash and a store-level API account's token (checked live by the service).

    Relinking: the hash and places of the store linked last are the defaults (relinking the same store reuses
    its mappings). After a failed attempt the token may be kept on the server (`token_kept`): it is then not
    required, and never rendered back."""

    store_hash = forms.CharField(
        label="Store hash",
        max_length=300,
        help_text="Shown with your API account as the API path …/stores/<strong>abc123de</strong>/v3/ "
        "(pasting the whole path works too).",
    )
    access_token = forms.CharField(
        label="Access token",
        max_length=300,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text=TOKEN_HELP,
    )
    confirm_different_store = forms.BooleanField(required=False, label=CONFIRM_DIFFERENT_STORE_LABEL)
    # Set by the catalog match report's "Accept and link": a first link shows the report before linking.
    catalog_accepted = forms.BooleanField(required=False, widget=forms.HiddenInput)

    field_order = ["store_hash", "access_token", "outlet", "register", "default_payment_type"]

    def __init__(
        self, *args, retailer: Retailer, previous: StoreLink | None = None, token_kept: bool = False, **kwargs
    ):
        if previous is not None:
            initial = {"store_hash": previous.store_hash}
            if previous.outlet_id and previous.outlet.active:
                initial["outlet"] = previous.outlet_id
            if previous.register_id and previous.register.active and previous.register.outlet_id == previous.outlet_id:
                initial["register"] = previous.register_id
            if previous.default_payment_type_id and previous.default_payment_type.active:
                initial["default_payment_type"] = previous.default_payment_type_id
            kwargs["initial"] = {**initial, **kwargs.get("initial", {})}
        super().__init__(*args, retailer=retailer, **kwargs)
        self.set_token_kept(token_kept)

    def set_token_kept(self, kept: bool) -> None:
        """Say whether a token from a failed attempt is kept (then the field may stay empty)."""
        self.token_kept = kept
        field = self.fields["access_token"]
        field.required = not kept
        field.help_text = TOKEN_KEPT_HELP if kept else TOKEN_HELP
        self["access_token"].help_text = field.help_text  # a bound field copies the help text when first made


class AppInstallClaimForm(StoreLinkPlacesForm):
    """Claim a single-click app install for this retailer: where its online sales are booked."""

    token = forms.CharField(widget=forms.HiddenInput, max_length=2000)
    confirm_different_store = forms.BooleanField(required=False, label=CONFIRM_DIFFERENT_STORE_LABEL)


def _optional_id_choice(label: str, choices: list[tuple[str, str]], initial: int | None) -> forms.TypedChoiceField:
    """A select of ids (first choice blank) that cleans to an int, or None for the blank choice."""
    return forms.TypedChoiceField(
        label=label, choices=choices, coerce=int, empty_value=None, required=False, initial=initial or ""
    )


class PaymentMethodsForm(BootstrapMixin, forms.Form):
    """One select per BigCommerce payment method seen so far (`method_<map id>`); blank is the default type.
    The payment types are read once for every select."""

    def __init__(self, *args, link: StoreLink, rows: list[PaymentMethodMap], **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = rows
        self.payment_types = {
            p.pk: p for p in PaymentType.objects.for_retailer(link.retailer_id).filter(active=True).order_by("name")
        }
        default = link.default_payment_type.name if link.default_payment_type else "the default"
        choices = [("", f"Default ({default})")] + [(str(pk), p.name) for pk, p in self.payment_types.items()]
        for row in rows:
            self.fields[f"method_{row.pk}"] = _optional_id_choice(row.method, choices, row.payment_type_id)

    def mapping(self) -> dict[int, PaymentType | None]:
        chosen = {row.pk: self.cleaned_data[f"method_{row.pk}"] for row in self.rows}
        return {pk: self.payment_types[value] if value else None for pk, value in chosen.items()}


class OutletLocationsForm(BootstrapMixin, forms.Form):
    """One select per outlet (`outlet_<id>`): the BigCommerce location that follows its stock, or none."""

    def __init__(self, *args, outlets: list[Outlet], locations: list, current: dict[int, int], **kwargs):
        super().__init__(*args, **kwargs)
        self.outlets = outlets
        choices = [("", "None (stock not sent to BigCommerce)")] + [
            (str(location.id), f"{location.label or location.code} (location {location.id})") for location in locations
        ]
        for outlet in outlets:
            self.fields[f"outlet_{outlet.pk}"] = _optional_id_choice(outlet.name, choices, current.get(outlet.pk))

    def mapping(self) -> dict[int, int | None]:
        return {outlet.pk: self.cleaned_data[f"outlet_{outlet.pk}"] for outlet in self.outlets}


class HistoricalImportSwitchForm(BootstrapMixin, forms.Form):
    """Support turns "Import all orders" on or off for a retailer; the reason goes to the audit log."""

    enabled = forms.BooleanField(required=False)
    reason = forms.CharField(
        max_length=1000,
        strip=True,
        error_messages={"required": "Say why: the reason is recorded in the audit log."},
    )


class StoreMoveForm(BootstrapMixin, forms.Form):
    """Support moves a retailer's linked store to another retailer (one without a live link); the reason goes to
    the audit log."""

    to_retailer = forms.ModelChoiceField(queryset=Retailer.objects.none(), label="Move the store to")
    reason = forms.CharField(
        max_length=1000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say why: the reason is recorded in the audit log."},
    )

    def __init__(self, *args, source: Retailer, **kwargs):
        super().__init__(*args, **kwargs)
        linked = StoreLink.objects.exclude(state=LinkState.UNLINKED).values("retailer")
        self.fields["to_retailer"].queryset = (
            Retailer.objects.exclude(pk=source.pk).exclude(pk__in=linked).order_by("name", "pk")
        )


class HistoricalImportForm(BootstrapMixin, forms.Form):
    """The options of a historical import: a date range (default: everything before the link) and whether the
    imported sales move stock (default: no)."""

    date_from = forms.DateField(
        required=False, label="Orders placed from", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False,
        label="Orders placed until",
        help_text="Empty: everything placed before the store was linked.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    adjust_stock = forms.BooleanField(
        required=False,
        label="Adjust stock",
        help_text="Off (recommended): imported sales are history only and your stock levels stay as they are. "
        "On: every imported sale takes its items out of the linked outlet's stock, as if sold today, which "
        "usually makes today's counts wrong because those items already left long ago.",
    )

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ValidationError("The start date is after the end date.")
        return data

    def moments(self) -> tuple:
        """(from, to) as aware datetimes in the current time zone: the start of the first day, the end of the last."""
        import datetime as dt

        from django.utils import timezone

        tz = timezone.get_current_timezone()
        start, end = self.cleaned_data.get("date_from"), self.cleaned_data.get("date_to")
        return (
            dt.datetime.combine(start, dt.time.min, tzinfo=tz) if start else None,
            dt.datetime.combine(end, dt.time.max.replace(microsecond=0), tzinfo=tz) if end else None,
        )
