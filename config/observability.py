"""What an operator sees in the logs: context fields on every line, and one JSON object per line when asked.

Every layer may import this module (it imports nothing of the project), so a service sets the context it knows:

    with log_context(link=link.pk, order=order.id):
        ...   # every log line in here, in this thread, carries link and order

The context lives in a `contextvars.ContextVar`: it follows the code path, not the logger, and a worker thread
starts without it (pass it on with `contextvars.copy_context().run` when that matters). `RequestContextMiddleware`
sets `request_id` (an incoming `X-Request-ID` when it is sane, else a new one; sent back on the response) and
`retailer` for every request; RQ jobs get `job_kind` and `job_id` from the running job without any call.

`LOG_FORMAT=json` (see `logging_config`) writes each record as one JSON object: timestamp, level, logger,
message, the context fields, the record's plain `extra=` values, and the traceback. Plain text stays the default.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from datetime import UTC, datetime
from types import MappingProxyType

from django.core.signals import request_finished
from django.db import transaction

# The fields this project sets; any other name is accepted too.
CONTEXT_FIELDS = ("request_id", "retailer", "link", "order", "order_sync", "job_kind", "job_id", "reason")

_EMPTY: Mapping[str, object] = MappingProxyType({})
_context: ContextVar[Mapping[str, object]] = ContextVar("log_context", default=_EMPTY)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add `fields` (None values are left out) to every log line written inside the block, in this context."""
    token = _context.set(MappingProxyType({**_context.get(), **{k: v for k, v in fields.items() if v is not None}}))
    try:
        yield
    finally:
        _context.reset(token)


def log_context_add(**fields: object) -> None:
    """Add fields to the current context until the enclosing `log_context` block (or the request) ends: for code
    that cannot wrap what follows in a `with`."""
    _context.set(MappingProxyType({**_context.get(), **{k: v for k, v in fields.items() if v is not None}}))


def current_log_context() -> dict[str, object]:
    """The context fields of this point in the code: the running RQ job's kind and id, then `log_context`'s."""
    return {**_job_fields(), **_context.get()}


def _job_fields() -> dict[str, object]:
    from rq import get_current_job  # a ContextVar read; rq is imported by then in any process running jobs

    job = get_current_job()
    if job is None:
        return {}
    kind = (job.func_name or "").rsplit(".", 1)[-1].removesuffix("_job")
    return {"job_kind": kind, "job_id": job.id}


def log_after_commit(logger: logging.Logger, records: list[tuple[int, str, tuple, dict]]) -> None:
    """Write these `(level, msg, args, kwargs)` records once the current transaction commits (at once outside
    one; never if it rolls back), with the log context of this point in the code.

    For lines about what a transaction wrote: writing a line can block (a full stderr pipe, a stalled log
    collector), and inside a transaction holding locks (the sync's customer-creation lock, its OrderSync rows)
    other workers then wait on them for as long, a wait PostgreSQL cannot see. Lines of a rollback would also
    tell of rows that were never written."""
    if not records:
        return
    context = copy_context()

    def write() -> None:
        for level, msg, args, kwargs in records:
            logger.log(level, msg, *args, **kwargs)

    transaction.on_commit(lambda: context.run(write))


# ---------------------------------------------------------------- JSON lines

_PLAIN = (str, int, float, bool, type(None))
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: timestamp (UTC, ISO 8601), level, logger, message, the log context, the
    record's plain `extra=` values (objects such as Django's `request` are left out), exc_info, stack_info."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(current_log_context())
        entry.update((k, v) for k, v in vars(record).items() if k not in _STANDARD_ATTRS and isinstance(v, _PLAIN))
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


LOG_FORMATS = ("plain", "json")


def logging_config(*, level: str, log_format: str) -> dict:
    """The LOGGING setting: everything to stderr, as plain text or as JSON lines."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": "config.observability.JsonFormatter"},
        },
        "filters": {"forbidden_without_traceback": {"()": "config.log_filters.ForbiddenWithoutTraceback"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's default config gives "django" its own console handler in development: with the root's, every
            # record (a 403's traceback...) was printed twice. Records go up to the root's handler alone.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.request": {"filters": ["forbidden_without_traceback"]},
            "django.db.backends": {"level": "INFO"},
            # rq disables propagation on its own loggers: give them the handler explicitly.
            "rq.worker": {"handlers": ["console"], "level": level, "propagate": False},
        },
    }


# ---------------------------------------------------------------- requests

REQUEST_ID_HEADER = "X-Request-ID"
# What a proxy's or a client's request id may look like to be kept: short, and nothing a log reader could trip on.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")


def request_id_for(incoming: str) -> str:
    """The incoming request id when it is sane, else a new one."""
    return incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


class RequestContextMiddleware:
    """Request id (kept from `X-Request-ID` when sane, sent back in it) and retailer on every log line of a request.

    First in MIDDLEWARE, so everything after it logs with the request id; the retailer is added once
    `pos.tenancy.RetailerMiddleware` has set it (process_view runs after every middleware's request phase). The
    context is not taken back when the middleware returns: Django logs a 4xx response after that, and a streamed
    response is written later still. It ends with the request (`request_finished`), and each request starts afresh.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        request_finished.connect(_end_request_context, dispatch_uid="config.observability.request_finished")

    def __call__(self, request):
        request.request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER, ""))
        _context.set(MappingProxyType({"request_id": request.request_id}))
        response = self.get_response(request)
        response.headers.setdefault(REQUEST_ID_HEADER, request.request_id)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        retailer = getattr(request, "retailer", None)
        if retailer is not None:
            log_context_add(retailer=retailer.pk)


def _end_request_context(**kwargs) -> None:
    _context.set(_EMPTY)
