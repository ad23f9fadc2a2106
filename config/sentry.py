"""Error reports to Sentry (on when SENTRY_DSN is set), with nothing secret or personal in them.

`sentry_init` is called by the settings module. Django, RQ and logging errors are captured (an RQ job that
raises, and any `logger.exception` / `logger.error` line with its traceback). `send_default_pii` stays False (no
user, cookies or client address), request bodies are never sent, and `scrub_event` runs on every event before
it leaves the process:

- values under a secret-looking name (token, secret, password, auth, signature, cookie, session, jwt, email...)
  anywhere in the event (frame variables, extra data, headers, breadcrumbs) become "[Filtered]", and so do
  secret-looking `name=value` pairs inside strings (query strings, messages);
- every secret the failing code had in scope is masked wherever it appears, whatever it is called there: the
  secret-named values held by the traceback's frames, their objects and the rows those hold (a StoreLink's
  decrypted access token and webhook secret, the API client's token, a Session's auth header);
- the secret settings (SECRET_KEY, FIELD_ENCRYPTION_KEY, BIGCOMMERCE_CLIENT_SECRET, METRICS_TOKEN, passwords in
  DATABASE_URL / EMAIL_URL / REDIS_URL) are masked;
- e-mail addresses (also URL-encoded) become "[email]".

The sync log's own failure lines (an order needing attention, a rejected stock push) are merchant-facing outcomes,
shown on the Failed orders page and counted by the metrics; they are not sent as errors. The event is tagged with
the log context (retailer, link, order, job kind, request id).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from config.observability import current_log_context

FILTERED = "[Filtered]"
EMAIL_MASK = "[email]"
SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|api_?key|auth|credential|signature|cookie|session|jwt|dsn|private|e_?mail",
    re.IGNORECASE,
)
# Names that are secret only as a whole word: an app install's `code` (`reason_code` is not).
SECRET_EXACT_NAMES = frozenset({"code"})
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
NAME_VALUE = re.compile(r"(?P<name>[A-Za-z0-9_.\-]+)=(?P<value>[^&\s\"',;]+)")
MIN_SECRET_LENGTH = 8  # shorter values would mask ordinary words
_SCAN_ITEMS = 50  # items looked at per collection when searching the frames for secrets
_SCAN_NODES = 5000  # objects looked at per event, at most


def sentry_init(
    *,
    dsn: str,
    environment: str,
    release: str = "",
    traces_sample_rate: float = 0.0,
    include_local_variables: bool = False,
    **options,
):
    """Start the Sentry SDK with the Django and RQ integrations and the scrubber (`options`: tests pass a
    recording `transport`). Frame variables are left out unless asked for: an order in scope carries the buyer's
    name, address and phone (the scrubber masks secrets and e-mail addresses there, not those)."""
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.rq import RqIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration(), RqIntegration()],
        # Only these two and the SDK's defaults (logging, threads...): the auto-enabled Redis integration wraps every
        # Redis command for breadcrumbs and costs the sync path a few per cent for nothing an error report needs.
        auto_enabling_integrations=False,
        # send_default_pii stays at its default, False (sentry-sdk 2.76 deprecates passing it): no user, cookies
        # or client address; the SDK's own denylist scrubber runs too.
        max_request_body_size="never",
        include_local_variables=include_local_variables,
        traces_sample_rate=traces_sample_rate or None,
        # No Sentry trace headers on calls to BigCommerce or anything else.
        trace_propagation_targets=[],
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        **options,
    )


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None) -> dict[str, Any] | None:
    """`before_send`: drop the sync log's merchant-facing failure lines, tag the event with the log context, and
    mask every secret and e-mail address in it (see the module docstring)."""
    hint = hint or {}
    record = hint.get("log_record")
    if record is not None and getattr(record, "sync_event", None):
        return None
    tags = event.setdefault("tags", {})
    for name, value in current_log_context().items():
        tags.setdefault(name, str(value))
    secrets = _settings_secrets() | secrets_in_scope(hint.get("exc_info"))
    ordered = sorted((s for s in secrets if len(s) >= MIN_SECRET_LENGTH), key=len, reverse=True)
    return _scrub(event, ordered)


def _is_secret_name(name: str) -> bool:
    return name.lower() in SECRET_EXACT_NAMES or bool(SECRET_NAME.search(name))


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return _scrub_text(value, secrets)
    if isinstance(value, Mapping):
        return {
            key: FILTERED if isinstance(key, str) and _is_secret_name(key) and item else _scrub(item, secrets)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item, secrets) for item in value]
    return value


def _scrub_text(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, FILTERED)
    text = NAME_VALUE.sub(lambda m: f"{m['name']}={FILTERED}" if _is_secret_name(m["name"]) else m[0], text)
    return EMAIL.sub(EMAIL_MASK, text)


def _settings_secrets() -> set[str]:
    from django.conf import settings

    found = {settings.SECRET_KEY, getattr(settings, "BIGCOMMERCE_CLIENT_SECRET", ""), *settings.FIELD_ENCRYPTION_KEYS}
    found.add(getattr(settings, "METRICS_TOKEN", ""))
    found.update(db.get("PASSWORD") or "" for db in settings.DATABASES.values())
    found.update(_url_password(getattr(settings, name, "")) for name in ("REDIS_URL", "EMAIL_URL"))
    for mailer in getattr(settings, "MAILERS", {}).values():
        found.add(str(mailer.get("OPTIONS", {}).get("password") or ""))
    return {s for s in found if isinstance(s, str) and s}


def _url_password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""


def secrets_in_scope(exc_info) -> set[str]:
    """The secrets held by the frames of an exception's traceback (and of the exceptions it chains)."""
    found: set[str] = set()
    exc = exc_info[1] if exc_info and len(exc_info) > 1 else None
    budget = [_SCAN_NODES]
    seen: set[int] = set()
    chained: set[int] = set()
    while exc is not None and id(exc) not in chained:
        chained.add(id(exc))
        tb = exc.__traceback__
        while tb is not None:
            _collect(tb.tb_frame.f_locals, found, 3, seen, budget)
            tb = tb.tb_next
        exc = exc.__cause__ or exc.__context__
    return found


def _collect(value: Any, found: set[str], depth: int, seen: set[int], budget: list[int]) -> None:
    """Add the secrets `value` holds: the secret-named strings of mappings, objects and model rows, looking
    `depth` levels into what they hold."""
    if depth < 0 or budget[0] <= 0 or isinstance(value, str | bytes | int | float | bool | type(None)):
        return
    if id(value) in seen:
        return
    seen.add(id(value))
    budget[0] -= 1
    from django.db import models

    if isinstance(value, models.Model):
        # Its field values (a link's decrypted access token and webhook secret) and the related rows it holds.
        items = {k: v for k, v in vars(value).items() if k != "_state"}
        for related in value._state.fields_cache.values():
            _collect(related, found, depth - 1, seen, budget)
    elif isinstance(value, Mapping):
        items = value
    elif isinstance(value, list | tuple | set | frozenset):
        for item in list(value)[:_SCAN_ITEMS]:
            _collect(item, found, depth - 1, seen, budget)
        return
    else:
        items = getattr(value, "__dict__", None)
        if not isinstance(items, dict):
            return
    for name, item in list(items.items())[:_SCAN_ITEMS]:
        if isinstance(name, str) and isinstance(item, str) and _is_secret_name(name):
            found.add(item)
        else:
            _collect(item, found, depth - 1, seen, budget)
