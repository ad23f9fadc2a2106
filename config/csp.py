"""A looser Content-Security-Policy for django-rq's pages in the Django admin, and only for them.

django-rq's templates carry inline <script> and style="" that the site's policy (scripts from this site or with
the request's nonce, styles from this site) blocks, so its queue and job pages do not work under it. They are
platform-staff pages inside the admin; the product's pages keep the strict policy (tests/test_csp.py).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.csp import CSP

DJANGO_RQ_URL_PREFIX = "django_rq_"


def django_rq_policy() -> dict:
    """The site's policy, plus inline scripts and styles (still nothing from another origin)."""
    policy = {directive: list(sources) for directive, sources in settings.SECURE_CSP.items()}
    policy["script-src"] = [CSP.SELF, CSP.UNSAFE_INLINE]
    policy["style-src"] = [CSP.SELF, CSP.UNSAFE_INLINE]
    return policy


class DjangoRqPolicyMiddleware:
    """Gives django-rq's admin views (admin URL names starting "django_rq_") `django_rq_policy()`. It sits after
    Django's ContentSecurityPolicyMiddleware, which then uses the response's `_csp_config` (the same attribute
    Django's `csp_override` decorator sets) instead of SECURE_CSP."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match and match.namespace == "admin" and (match.url_name or "").startswith(DJANGO_RQ_URL_PREFIX):
            response._csp_config = django_rq_policy()
        return response
