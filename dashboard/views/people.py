"""Settings › People (admins only): who works at the retailer, adding staff and admins (invited by email or with a
password), changing a role, deactivating and reactivating, and emailing a password link. The rules (one active
admin at least, nobody deactivates themselves) are in `pos.services.people`."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views import View
from django.views.generic import FormView, TemplateView

from dashboard.forms import PersonAddForm, PersonRoleForm
from dashboard.views.mixins import ScopedObjectMixin, ServiceFormView, call_service
from pos.models import Membership
from pos.selectors import retailer_people
from pos.services.people import person_active_set, person_add, person_password_email, person_role_set
from pos.tenancy import AdminRequiredMixin


def _name(membership: Membership) -> str:
    return membership.user.get_full_name() or membership.user.get_username()


class PeopleView(AdminRequiredMixin, TemplateView):
    template_name = "dashboard/settings_people.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(people=retailer_people(retailer=self.request.retailer), **kwargs)


class PersonAddView(AdminRequiredMixin, ServiceFormView):
    form_class = PersonAddForm
    title = "Add a person"
    intro = (
        "Invited people get an email with a link to choose their password (valid for a few days); or set a "
        "password now and give it to them in person."
    )
    submit_label = "Add person"
    success_url_name = "dashboard:settings_people"

    def perform(self, form):
        data = form.cleaned_data
        membership = person_add(
            retailer=self.request.retailer,
            username=data["username"],
            email=data["email"],
            first_name=data["first_name"],
            last_name=data["last_name"],
            role=data["role"],
            password=form.password(),
            acting_user=self.request.user,
        )
        if form.password():
            return f"{_name(membership)} can sign in now as “{membership.user.username}”."
        return f"Invitation sent to {membership.user.email}: {_name(membership)} chooses a password from its link."


class PersonView(AdminRequiredMixin, ScopedObjectMixin, FormView):
    """One person: their role (the form), and the buttons to deactivate or reactivate and to email a password link."""

    model = Membership
    select_related = ("user",)
    form_class = PersonRoleForm
    template_name = "dashboard/settings_person.html"

    def get_initial(self):
        return {"role": self.object.role}

    def get_context_data(self, **kwargs):
        is_self = self.object.user_id == self.request.user.pk
        return super().get_context_data(member=self.object, is_self=is_self, **kwargs)

    def form_valid(self, form):
        changed = call_service(
            form, person_role_set, membership=self.object, role=form.cleaned_data["role"], acting_user=self.request.user
        )
        if changed is None:
            return self.form_invalid(form)
        if changed:
            role = dict(form.fields["role"].choices)[form.cleaned_data["role"]]
            messages.success(self.request, f"{_name(self.object)} is now {role.lower()}.")
        else:
            messages.info(self.request, "Nothing changed.")
        return redirect("dashboard:settings_person", pk=self.object.pk)


class PersonActionView(AdminRequiredMixin, ScopedObjectMixin, View):
    """A button on a person's page: one service call (`act`, returning the message), then back to the page; a
    refusal (ValidationError) is shown as an error."""

    model = Membership
    select_related = ("user",)
    http_method_names = ["post"]

    def act(self, request) -> str:
        raise NotImplementedError

    def post(self, request, pk: int):
        try:
            message = self.act(request)
        except ValidationError as error:
            for text in error.messages:
                messages.error(request, text)
        else:
            if message:
                messages.success(request, message)
            else:
                messages.info(request, "Nothing changed.")
        return redirect("dashboard:settings_person", pk=self.object.pk)


class PersonActiveView(PersonActionView):
    def act(self, request):
        active = request.POST.get("active") == "on"
        if not person_active_set(membership=self.object, active=active, acting_user=request.user):
            return ""
        if active:
            return f"{_name(self.object)} is active again and can sign in."
        return f"{_name(self.object)} is deactivated: they can no longer act for this shop."


class PersonPasswordEmailView(PersonActionView):
    def act(self, request):
        person_password_email(membership=self.object, acting_user=request.user)
        return f"Sent {self.object.user.email} a link to choose a password (valid for a few days)."
