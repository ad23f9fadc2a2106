"""Settings › Outlets and registers, and Settings › Payment types. Every member reads them (staff see that only
an admin can change them); admins create, rename and deactivate. The BigCommerce link's outlet, register and
payment types are marked and cannot be deactivated (`integration.selectors.link_in_use`)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.views.generic import TemplateView

from dashboard.forms import OutletForm, PaymentTypeForm, RegisterCreateForm, RegisterForm
from dashboard.views.mixins import ScopedObjectMixin, ServiceFormView
from integration.selectors import link_in_use
from pos.models import Outlet, PaymentType, Register
from pos.selectors import retailer_outlets, retailer_payment_types
from pos.services.retailer import (
    outlet_create,
    outlet_update,
    payment_type_create,
    payment_type_update,
    register_create,
    register_update,
)
from pos.tenancy import AdminRequiredMixin, RetailerRequiredMixin

OUTLETS = "dashboard:settings_outlets"
PAYMENT_TYPES = "dashboard:settings_payment_types"


class CreateView(AdminRequiredMixin, ServiceFormView):
    """A new outlet, register or payment type: `create(retailer=, acting_user=, **form data)`; new rows are
    active, so the form's `active` box is left out."""

    create = None  # the service

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        form.fields.pop("active", None)
        return form

    def created_message(self, row) -> str:
        raise NotImplementedError

    def perform(self, form):
        row = type(self).create(retailer=self.request.retailer, acting_user=self.request.user, **form.cleaned_data)
        return self.created_message(row)


class EditView(AdminRequiredMixin, ScopedObjectMixin, ServiceFormView):
    """Rename or (de)activate an outlet, register or payment type of this retailer (another's is 404):
    `update(<object_kwarg>=row, acting_user=, in_use=, **form data)`."""

    kind = ""  # "Outlet"
    object_kwarg = ""  # the service's keyword for the row
    update = None  # the service

    @property
    def title(self) -> str:
        return f"{self.kind} “{self.object.name}”"

    def get_initial(self):
        return {name: getattr(self.object, name) for name in self.get_form_class().base_fields}

    def perform(self, form):
        was_active = self.object.active
        changed = type(self).update(
            **{self.object_kwarg: self.object},
            acting_user=self.request.user,
            in_use=link_in_use(retailer=self.request.retailer),
            **form.cleaned_data,
        )
        if not changed:
            return ""
        subject, active = f"{self.kind} “{form.cleaned_data['name']}”", form.cleaned_data["active"]
        if active != was_active:
            return f"{subject} {'reactivated' if active else 'deactivated'}."
        return f"Saved {subject[0].lower()}{subject[1:]}."


# ---------------------------------------------------------------- outlets and registers


class OutletsView(RetailerRequiredMixin, TemplateView):
    """Every outlet with its registers (inactive ones too), the online register marked."""

    template_name = "dashboard/settings_outlets.html"

    def get_context_data(self, **kwargs):
        retailer = self.request.retailer
        return super().get_context_data(
            outlets=retailer_outlets(retailer=retailer), in_use=link_in_use(retailer=retailer), **kwargs
        )


class OutletCreateView(CreateView):
    form_class = OutletForm
    create = outlet_create
    title = "New outlet"
    intro = "A shop or a warehouse that holds stock. Add a register to it to sell there."
    submit_label = "Add outlet"
    success_url_name = OUTLETS

    def created_message(self, outlet):
        return f"Outlet “{outlet.name}” added. Add a register to it to sell there."


class OutletEditView(EditView):
    model = Outlet
    form_class = OutletForm
    kind, object_kwarg, update = "Outlet", "outlet", outlet_update
    submit_label = "Save outlet"
    success_url_name = OUTLETS


class RegisterCreateView(CreateView):
    form_class = RegisterCreateForm
    create = register_create
    title = "New register"
    intro = "A till staff ring up sales on. It belongs to one outlet and sells that outlet's stock."
    submit_label = "Add register"
    success_url_name = OUTLETS

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "retailer": self.request.retailer}

    def get_initial(self):
        return {"outlet": self.request.GET.get("outlet")}

    def post(self, request, *args, **kwargs):
        # Another retailer's outlet is not a choice to correct: it is a 404, like every other foreign id.
        outlet = request.POST.get("outlet", "")
        if outlet.isdigit():
            get_object_or_404(Outlet.objects.for_retailer(request.retailer), pk=int(outlet))
        return super().post(request, *args, **kwargs)

    def created_message(self, register):
        return f"Register “{register.name}” added at {register.outlet.name}."


class RegisterEditView(EditView):
    model = Register
    select_related = ("outlet",)
    form_class = RegisterForm
    kind, object_kwarg, update = "Register", "register", register_update
    submit_label = "Save register"
    success_url_name = OUTLETS

    @property
    def title(self):
        return f"Register “{self.object.name}” at {self.object.outlet.name}"

    def get_context_data(self, **kwargs):
        note = ""
        if self.object.pk in link_in_use(retailer=self.request.retailer).register_ids:
            note = (
                "This is the online register: BigCommerce orders are booked on it, so it is not offered on the "
                "Sell screen."
            )
        return super().get_context_data(note=note, **kwargs)


# ---------------------------------------------------------------- payment types


class PaymentTypesView(RetailerRequiredMixin, TemplateView):
    template_name = "dashboard/settings_payment_types.html"

    def get_context_data(self, **kwargs):
        retailer = self.request.retailer
        return super().get_context_data(
            payment_types=retailer_payment_types(retailer=retailer), in_use=link_in_use(retailer=retailer), **kwargs
        )


class PaymentTypeCreateView(CreateView):
    form_class = PaymentTypeForm
    create = payment_type_create
    title = "New payment type"
    intro = "A way customers pay, offered on the Sell screen."
    submit_label = "Add payment type"
    success_url_name = PAYMENT_TYPES

    def created_message(self, payment_type):
        return f"Payment type “{payment_type.name}” added."


class PaymentTypeEditView(EditView):
    model = PaymentType
    form_class = PaymentTypeForm
    kind, object_kwarg, update = "Payment type", "payment_type", payment_type_update
    submit_label = "Save payment type"
    success_url_name = PAYMENT_TYPES
