"""Small pieces the dashboard's page views share (the htmx ones are in `dashboard.views.htmx`)."""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import FormView


def paginate(request, queryset, per_page: int = 50, param: str = "page") -> Page:
    """The requested page of `queryset` (the last page when the number is too high, the first when invalid)."""
    return Paginator(queryset, per_page).get_page(request.GET.get(param))


def call_service(form, service, **kwargs):
    """Call `service` for a valid form. A ValidationError it raises goes on the form (on the field it names, when
    the form has that field) and None is returned, so the view shows the form again."""
    try:
        return service(**kwargs)
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for field, messages in error.message_dict.items():
                form.add_error(field if field in form.fields else None, messages)
        else:
            form.add_error(None, error.messages)
        return None


def redirect_back(request, default: str) -> HttpResponseRedirect:
    """To the page the form came from (its `next` field) when that is on this site, else to `default`: a `next`
    pointing elsewhere would make the site an open redirect."""
    target = request.POST.get("next", "")
    hosts = {request.get_host()}
    if not url_has_allowed_host_and_scheme(target, allowed_hosts=hosts, require_https=request.is_secure()):
        target = default
    return HttpResponseRedirect(target)


class ScopedObjectMixin:
    """`self.object`: the URL's row of `model`, looked up through the current retailer (another retailer's id is
    404). Put it after the access mixin, so sign-in and role are checked before anything is looked up."""

    model = None
    select_related: tuple[str, ...] = ()

    def dispatch(self, request, *args, **kwargs):
        rows = self.model.objects.for_retailer(request.retailer)
        if self.select_related:
            rows = rows.select_related(*self.select_related)
        self.object = get_object_or_404(rows, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)


class ServiceFormView(FormView):
    """A form on its own page: valid, one service call (`perform`, returning the success message; a
    ValidationError it raises goes on the form), the message, and back to `success_url_name`.

    The page is `dashboard/settings_form.html` with `title`, `intro` and `submit_label`."""

    template_name = "dashboard/settings_form.html"
    title = ""
    intro = ""
    submit_label = "Save"
    success_url_name = ""

    def perform(self, form) -> str:
        raise NotImplementedError

    def get_success_url(self) -> str:
        return reverse(self.success_url_name)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            title=self.title,
            intro=self.intro,
            submit_label=self.submit_label,
            cancel_url=self.get_success_url(),
            **kwargs,
        )

    def form_valid(self, form):
        message = call_service(form, partial(self.perform, form))
        if message is None:
            return self.form_invalid(form)
        if message:
            messages.success(self.request, message)
        else:
            messages.info(self.request, "Nothing changed.")
        return HttpResponseRedirect(self.get_success_url())
