"""`/healthz`: is the database reachable, is Redis reachable (503 when either is not). `/metrics`: Prometheus."""

from __future__ import annotations

import hmac

import django_rq
from django.conf import settings
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from integration.metrics import scrape


def _check(fn) -> str:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the probe reports every failure the same way
        return f"error: {exc.__class__.__name__}"
    return "ok"


@never_cache
@require_GET
def healthz(request):
    checks = {
        "database": _check(connection.ensure_connection),
        "redis": _check(lambda: django_rq.get_connection("default").ping()),
    }
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)


@never_cache
@require_GET
def metrics(request):
    """The Prometheus exposition, for `Authorization: Bearer <METRICS_TOKEN>` only; a 404 while it is unset."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("metrics are off")
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(offered.strip().encode(), token.encode()):
        return HttpResponse("a bearer token is required\n", status=401, headers={"WWW-Authenticate": "Bearer"})
    body, content_type = scrape()
    return HttpResponse(body, content_type=content_type)
