"""`/healthz`: is the database reachable, is Redis reachable. 503 when either is not."""

from __future__ import annotations

import django_rq
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


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
