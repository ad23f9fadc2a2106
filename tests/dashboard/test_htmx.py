"""The one partial-template mixin: an htmx region request gets the page's named partial, anything else the page."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.views.generic import TemplateView
from django_htmx.middleware import HtmxDetails

from dashboard.views.htmx import PartialTemplateMixin


class _Page(PartialTemplateMixin, TemplateView):
    template_name = "dashboard/catalog.html"
    partial_name = "products"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, ["dashboard/catalog.html"]),
        ({"HX-Request": "true"}, ["dashboard/catalog.html#products"]),
        ({"HX-Request": "true", "HX-Boosted": "true"}, ["dashboard/catalog.html"]),  # a boosted link: the page
    ],
)
def test_only_an_htmx_region_request_gets_the_partial(headers, expected):
    request = RequestFactory().get("/", headers=headers)
    request.htmx = HtmxDetails(request)
    view = _Page()
    view.setup(request)

    assert view.get_template_names() == expected
