"""Forms of the staff pages. List pages have one filter form each: it parses the query string into the
selector's filter dataclass (invalid fields are shown with their error and ignored, the rest still apply)."""

from __future__ import annotations

from django import forms

from integration.choices import ErrorCode, LogLevel, OrderSyncState
from integration.models import OrderSync
from integration.selectors import FailedOrderFilters, SyncLogFilters, code_label
from integration.services.synclog import Event
from integration.status_table import STATUS_TABLE
from pos.choices import Channel, FulfillmentState, PaymentState, SaleStatus
from pos.models import Register
from pos.selectors import NO_FULFILLMENT, SALE_SORTS, SaleFilters

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
