"""Bounds on how a request body arrives, for the ASGI server (`config/asgi.py`).

Served over ASGI, a slow client no longer holds a worker: gunicorn's event loop waits for its bytes while other
requests are answered, and Django reads the whole body before a view runs. What is left to bound is the client
itself: a body must arrive whole within REQUEST_BODY_TIMEOUT_SECONDS of its first wait (408 otherwise; a client
trickling a byte a second would hold its connection for ever) and be at most REQUEST_MAX_BODY_BYTES (413: Django
would otherwise spool any size to a temporary file). gunicorn's own `timeout` bounds each wait for the next
piece, so a silent client is dropped sooner.
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

logger = logging.getLogger("config.request_limits")


class _Refused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class RequestBodyLimits:
    """ASGI middleware: refuse a request whose body is too large or too slow, before Django sees it."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = settings.REQUEST_MAX_BODY_BYTES
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(send, 413, "body_too_large")
            return
        deadline = asyncio.get_running_loop().time() + settings.REQUEST_BODY_TIMEOUT_SECONDS
        state = {"received": 0, "complete": False, "started": False}

        async def limited_receive():
            if state["complete"]:  # after the body, Django only listens for a disconnect: no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _Refused(408, "body_timeout") from None
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    raise _Refused(413, "body_too_large")
                state["complete"] = not message.get("more_body", False)
            return message

        async def tracked_send(message):
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _Refused as refused:
            client = (scope.get("client") or ("?",))[0]
            logger.warning("request refused: %s (HTTP %s) from %s", refused.reason, refused.status, client)
            if not state["started"]:
                await _answer(send, refused.status, refused.reason)


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer(send, status: int, reason: str) -> None:
    body = f'{{"status": "rejected", "reason": "{reason}"}}'.encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
