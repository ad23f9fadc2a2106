"""The product's URLconf plus `POST /__bench__/bare/`: read the body, answer 200, nothing else (bench only)."""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.urls import urlpatterns as product_urlpatterns

BARE_PATH = "__bench__/bare/"


@csrf_exempt
@require_POST
def bare(request):
    request.read(64 * 1024)
    return JsonResponse({"status": "ok"})


urlpatterns = [path(BARE_PATH, bare), *product_urlpatterns]
