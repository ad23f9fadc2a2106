"""`POST /webhooks/bigcommerce/`: verify, persist, enqueue on commit, answer. No business rule here."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from integration.metrics import webhook_received, webhook_rejected
from integration.services.intake import WebhookRejected, webhook_accept

logger = logging.getLogger("integration.webhooks")

HEADERS_READ = ("X-Pos-Webhook-Auth", "webhook-id", "webhook-timestamp", "webhook-signature")


@csrf_exempt
@require_POST
def bigcommerce_webhook(request: HttpRequest) -> HttpResponse:
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return _reject(request, WebhookRejected(413, "body_too_large"))
    body = _body(request, limit + 1)
    headers = {name: request.headers.get(name, "") for name in HEADERS_READ}
    try:
        accepted = webhook_accept(body=body, headers=headers)
    except WebhookRejected as rejected:
        return _reject(request, rejected)
    webhook_received(accepted.outcome)
    return JsonResponse({"status": accepted.outcome})


def _body(request: HttpRequest, size: int) -> bytes:
    """Up to `size` bytes of the body. A chunked body has no Content-Length, and Django's WSGI request then reads
    nothing (its stream is limited to the declared length, 0): read the server's de-chunked input instead, still
    bounded. Under ASGI the server hands Django the whole body, so `request.read` has it either way."""
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if chunked and not request.META.get("CONTENT_LENGTH") and "wsgi.input" in request.META:
        return request.META["wsgi.input"].read(size)
    return request.read(size)


def _reject(request: HttpRequest, rejected: WebhookRejected) -> HttpResponse:
    # The reason code only: never the body, the auth header or a signature.
    webhook_rejected(rejected.reason)
    logger.warning(
        "webhook rejected: %s (HTTP %s) from %s",
        rejected.reason,
        rejected.status,
        request.META.get("REMOTE_ADDR", "?"),
        extra={"reason": rejected.reason},
    )
    return JsonResponse({"status": "rejected", "reason": rejected.reason}, status=rejected.status)
