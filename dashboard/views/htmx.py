"""htmx helpers shared by the pages: one template per page, one named partial per refreshable region."""

from __future__ import annotations


def is_partial(request) -> bool:
    """An htmx request for a region (not a boosted navigation, which wants the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


class PartialTemplateMixin:
    """Renders `template_name#partial_name` for htmx region requests, the whole page otherwise."""

    partial_name = "results"

    def get_template_names(self):
        names = super().get_template_names()
        return [f"{name}#{self.partial_name}" for name in names] if is_partial(self.request) else names
