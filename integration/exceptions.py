"""Typed errors of the BigCommerce API client: every failure a caller can act on is one `except` clause.

| exception | when | what a caller does |
|---|---|---|
| `ApiCredentialsRejected` | 401 / 403 | stop: the merchant fixes the token (403: see `missing_scope`) |
| `ApiNotFound` | 404 | the resource is gone (order deleted or archived): nothing to retry |
| `ApiRateLimited` | 429 the client could not wait out | reschedule after `reset_seconds` |
| `ApiServerError` | 5xx | retry later with backoff |
| `ApiUnavailable` | timeout, refused or dropped connection, DNS | retry later with backoff |
| `ApiBadResponse` | a body that is not JSON or not the documented shape | needs attention: an unexpected answer |
| `ApiParseError` | a documented field missing or unreadable | needs attention: names the field and the resource |
| `ApiRejected` | any other 4xx (400, 409, 413, 422...) | fix the request: it will fail the same way again |

Which of them are worth retrying is decided in one place, `integration.choices.ErrorCode.for_exception`, and
each kind of background work's retry policy (`integration.kinds`).

Messages carry BigCommerce's own wording, truncated, and never the access token: the client scrubs the token
from anything it raises, and `from_response` only reads the body and the URL path.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import requests

DETAIL_MAX_CHARS = 300

# The OAuth scope each API area needs, for the hint on a 403 (BigCommerce says only "missing scope").
_SCOPE_BY_PATH: tuple[tuple[str, str], ...] = (
    ("/v2/store", "store_v2_information_read_only"),
    ("/v3/orders/payment_actions/refunds", "store_v2_transactions_read_only"),
    ("/v3/orders/", "store_v2_transactions_read_only"),
    ("/v2/orders", "store_v2_orders"),
    ("/v3/customers", "store_v2_customers_read_only"),
    ("/v3/catalog", "store_v2_products"),
    ("/v3/inventory", "store_inventory"),
)


class ApiError(Exception):
    """Base of every BigCommerce API failure. `status` is the HTTP status (None without a response)."""

    def __init__(self, detail: str = "", *, status: int | None = None):
        self.detail = detail[:DETAIL_MAX_CHARS]
        self.status = status
        super().__init__(self.detail if status is None else f"HTTP {status}: {self.detail}")

    def __reduce__(self):
        # Pickled as it is (message, status, every attribute), not rebuilt through `__init__` from its message:
        # a historical import's pages are read in another process, whose errors reach the step this way.
        return _rebuilt, (type(self), self.args, self.__dict__)

    @classmethod
    def from_response(cls, response: requests.Response) -> ApiError:
        """The typed error for a non-2xx response, with BigCommerce's message (V2 list or V3 object shape)."""
        status = response.status_code
        detail = _error_detail(response)
        if status in (401, 403):
            hint = _scope_hint(response) if status == 403 else None
            return ApiCredentialsRejected(detail, status=status, missing_scope=hint)
        if status == 404:
            return ApiNotFound(detail, status=status)
        if status == 429:
            return ApiRateLimited(detail, status=status, reset_seconds=reset_seconds_from_headers(response.headers))
        if status >= 500:
            return ApiServerError(detail, status=status)
        if 400 <= status < 500:
            return ApiRejected(detail, status=status)
        return ApiBadResponse(f"unexpected HTTP status ({detail})", status=status)


class ApiCredentialsRejected(ApiError):
    """401: the token is not valid for this store. 403: it lacks the OAuth scope the call needs."""

    def __init__(self, detail: str = "", *, status: int | None = None, missing_scope: str | None = None):
        self.missing_scope = missing_scope
        if missing_scope:
            detail = f"{detail} (the token probably lacks the {missing_scope} scope)"
        super().__init__(detail, status=status)


class ApiNotFound(ApiError):
    """404: the resource does not exist (or no longer does: a deleted or archived order)."""


class ApiRateLimited(ApiError):
    """429 that could not be waited out within the client's bound; `reset_seconds` says when to try again."""

    def __init__(self, detail: str = "", *, status: int | None = 429, reset_seconds: float | None = None):
        self.reset_seconds = reset_seconds
        super().__init__(detail, status=status)


class ApiServerError(ApiError):
    """5xx: BigCommerce failed (or is in maintenance: 503)."""


class ApiUnavailable(ApiError):
    """No usable HTTP response: connect or read timeout, connection refused or dropped, DNS failure."""


class ApiBadResponse(ApiError):
    """A response the client does not understand: not JSON, or JSON of the wrong shape."""


class ApiParseError(ApiBadResponse):
    """A documented field is missing or unreadable. `field` names it, `resource` says where (e.g. "order 123")."""

    def __init__(self, field: str, resource: str, reason: str = "missing"):
        self.field = field
        self.resource = resource
        super().__init__(f"{resource}: field '{field}' is {reason}")


class ApiRejected(ApiError):
    """Any other 4xx (400, 405, 409, 413, 422...): the request itself is wrong and would fail again."""


def _rebuilt(cls: type[ApiError], args: tuple, state: dict) -> ApiError:
    exc = cls.__new__(cls)
    exc.args = args
    exc.__dict__.update(state)
    return exc


def reset_seconds_from_headers(headers) -> float | None:
    """Seconds until the quota refreshes, from `X-Rate-Limit-Time-Reset-Ms` (or `X-Retry-After`, in seconds)."""
    for name, scale in (("X-Rate-Limit-Time-Reset-Ms", 1000.0), ("X-Retry-After", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            continue
    return None


def _error_detail(response: requests.Response) -> str:
    """BigCommerce's message: V2 errors are `[{"status", "message"}]`, V3 `{"status", "title", "errors"}`."""
    text = response.text or ""
    try:
        body = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:DETAIL_MAX_CHARS] or response.reason or ""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict):
        parts = [str(body.get(k)) for k in ("message", "title", "error") if body.get(k)]
        errors = body.get("errors")
        if isinstance(errors, dict) and errors:
            parts.append("; ".join(f"{k}: {v}" for k, v in errors.items()))
        if parts:
            return " ".join(parts)[:DETAIL_MAX_CHARS]
    return response.reason or ""


def _scope_hint(response: requests.Response) -> str | None:
    path = getattr(response.request, "path_url", "") or ""
    path = "/" + path.split("?", 1)[0].split("/", 3)[-1] if path.startswith("/stores/") else path
    return next((scope for prefix, scope in _SCOPE_BY_PATH if path.startswith(prefix)), None)
