"""Small pieces the dashboard's page views share (the htmx ones are in `dashboard.views.htmx`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.http import HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme


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
