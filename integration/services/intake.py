"""Webhook intake: authenticate, store, request the order's sync. In milliseconds.

The endpoint (integration/webhooks.py) only calls `webhook_accept`. In one statement (on PostgreSQL; one
transaction elsewhere) it stores the delivery (a WebhookEvent; a delivery whose hash was stored before is
acknowledged and dropped) and requests the order's sync (`order_sync_request`: its OrderSync row and its
`bc.order_sync` work row, as data-modifying CTEs of that statement). Once that commits the delivery is
safe: the work row is the record, Redis only rings the bell that wakes a worker now rather than at its next look
at the database (a few seconds). So a delivery accepted while Redis is down, or whose bell is lost, is synced all
the same, with no sweeper.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from integration.choices import LinkKind, LinkState
from integration.models import StoreLink, WebhookEvent
from integration.services.order_sync import ORDER_SYNC, order_sync_request, order_sync_request_ctes
from work import bell
from work.registry import get

logger = logging.getLogger("integration.webhooks")

# The custom header our hooks carry: "<link id>:<secret>".
AUTH_HEADER = "X-Pos-Webhook-Auth"
ORDER_SCOPES = frozenset(
    {
        "store/order/created",
        "store/order/updated",
        "store/order/statusUpdated",
        "store/order/archived",
        "store/order/refund/created",
        "store/order/transaction/created",
        "store/order/transaction/updated",
    }
)
REFUND_SCOPE = "store/order/refund/created"
# A payment transaction (authorization, capture, void, refund) was made or changed: its data names the order as
# `order_id` (a string), not `id`.
TRANSACTION_SCOPES = frozenset({"store/order/transaction/created", "store/order/transaction/updated"})
# Standard Webhooks signatures (single-click app installs): deliveries older than this are replays.
SIGNATURE_TOLERANCE = timedelta(minutes=5)
LAST_WEBHOOK_RESOLUTION = timedelta(seconds=5)
MAX_ORDER_ID = 2**63
DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE for "deadlock detected"
DEADLOCK_ATTEMPTS = 3


class WebhookRejected(Exception):
    """A delivery we refuse: `status` is the HTTP answer, `reason` a short code for the log (never a secret)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Accepted:
    outcome: str  # "queued", "duplicate", "ignored_scope"
    event_id: int | None = None


def webhook_accept(*, body: bytes, headers: dict[str, str]) -> Accepted:
    """Authenticate a BigCommerce delivery, store it and request the order's sync. Raises WebhookRejected.

    The hot path of the product (BigCommerce waits for the answer, and retries when it is slow): one read of
    the link, then one statement that is its own transaction (the event, the OrderSync row if new, the work row)
    and, after the commit, at most one Redis round trip (the bell; none while enough bells wait).
    """
    if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
        raise WebhookRejected(413, "body_too_large")
    link = _authenticate(body, headers)
    payload = _parse(body)
    scope = payload["scope"]
    store_id = str(payload.get("store_id", "") or "")
    if store_id and link.store_id and store_id != link.store_id:
        raise WebhookRejected(400, "store_mismatch")
    if scope not in ORDER_SCOPES:
        logger.info("webhook scope %s acknowledged and ignored (link %s)", scope, link.pk)
        return Accepted("ignored_scope")
    order_id = _order_id(payload)
    now = timezone.now()
    if connection.vendor == "postgresql":
        # One statement, its own transaction: the delivery, and its sync's request only if it was new.
        event_id = _event_insert(link=link, payload=payload, order_id=order_id, headers=headers, now=now)
        if event_id is None:
            return Accepted("duplicate")
        bell.ring_on_commit(get(ORDER_SYNC).queue)
        _touch_last_webhook(link, now)
        return Accepted("queued", event_id)
    with transaction.atomic():
        event_id = _event_insert(
            link=link, payload=payload, order_id=order_id, headers=headers, now=now, with_request=False
        )
        if event_id is None:
            return Accepted("duplicate")
        _touch_last_webhook(link, now)
        order_sync_request(
            link=link,
            bc_order_id=order_id,
            refunds=payload["scope"] == REFUND_SCOPE,
            transactions=payload["scope"] in TRANSACTION_SCOPES,
            settle=timedelta(seconds=settings.ORDER_SYNC_SETTLE_SECONDS),
        )
    return Accepted("queued", event_id)


def _event_insert(
    *,
    link: StoreLink,
    payload: dict,
    order_id: int,
    headers: dict[str, str],
    now,
    with_request: bool = True,
) -> int | None:
    """Store the delivery; None when its hash was stored before. `with_request` (PostgreSQL): in the same
    statement, request the order's sync if the delivery is new (`order_sync_request_ctes`)."""
    values = {
        "link_id": link.pk,
        "hash": payload["hash"][:128],
        "scope": payload["scope"],
        "resource_id": order_id,
        "payload": payload,
        "delivery_id": headers.get("webhook-id", "")[:128],
        "received_at": now,
    }
    fields = [WebhookEvent._meta.get_field(name) for name in values]
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values.values(), strict=True)]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(WebhookEvent._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) ON CONFLICT (link_id, hash) DO NOTHING RETURNING id"
    )
    if with_request:
        request_sql, request_params = order_sync_request_ctes(
            link=link,
            bc_order_id=order_id,
            only_if="EXISTS (SELECT 1 FROM event)",
            refunds=payload["scope"] == REFUND_SCOPE,
            transactions=payload["scope"] in TRANSACTION_SCOPES,
            settle=timedelta(seconds=settings.ORDER_SYNC_SETTLE_SECONDS),
        )
        sql, params = f"WITH event AS ({sql}), {request_sql} SELECT id FROM event", [*params, *request_params]
    row = _execute_retrying_deadlocks(sql, params)
    return row[0] if row else None


def _execute_retrying_deadlocks(sql: str, params: list):
    """Run the intake's statement; again when PostgreSQL broke a deadlock by aborting it.

    PostgreSQL runs a statement's data-modifying CTEs in no fixed order, so two deliveries for one order (the
    paired webhooks of one change) can each lock one of its OrderSync and work rows and wait for the other;
    PostgreSQL then aborts one of them ("deadlock detected"). The statement is its own transaction (or, inside
    an outer one, its own savepoint), so nothing of it was kept and running it again is safe: the delivery gets
    its 200 instead of a 500 and a retry from BigCommerce."""
    for attempt in range(1, DEADLOCK_ATTEMPTS + 1):
        try:
            # Outside a transaction the statement is one already (autocommit): no BEGIN/COMMIT round trips.
            with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchone()
        except OperationalError as exc:
            if attempt == DEADLOCK_ATTEMPTS or getattr(exc.__cause__, "sqlstate", None) != DEADLOCK_DETECTED:
                raise
            logger.info(
                "webhook intake: deadlock with a concurrent delivery, attempt %s of %s", attempt, DEADLOCK_ATTEMPTS
            )
    raise AssertionError("unreachable")


def _touch_last_webhook(link: StoreLink, now) -> None:
    # At most one write per few seconds: thousands of deliveries must not queue on the link's row lock (and
    # while the link's value is recent, not even a statement).
    if link.last_webhook_at is not None and link.last_webhook_at >= now - LAST_WEBHOOK_RESOLUTION:
        return
    StoreLink.objects.filter(
        Q(last_webhook_at__isnull=True) | Q(last_webhook_at__lt=now - LAST_WEBHOOK_RESOLUTION), pk=link.pk
    ).update(last_webhook_at=now)


def _authenticate(body: bytes, headers: dict[str, str]) -> StoreLink:
    # Our own header first: every hook we register carries it, and BigCommerce also signs deliveries of
    # store-level API accounts with that account's client secret, which the merchant never gives us. A delivery
    # without it (a hook an app install registered elsewhere) must carry a valid Standard Webhooks signature.
    value = headers.get(AUTH_HEADER, "")
    if not value and headers.get("webhook-signature"):
        return _authenticate_signature(body, headers)
    link_id, _, secret = value.partition(":")
    if not value or not link_id.isdigit() or not secret:
        raise WebhookRejected(401, "missing_secret")
    link = _intake_link("id = %s", int(link_id))
    expected = link.webhook_secret if link else "x" * len(secret)
    # Compare even when the link is unknown, so timing does not tell which link ids exist.
    if not hmac.compare_digest(expected.encode(), secret.encode()) or link is None or not link.webhook_secret:
        raise WebhookRejected(401, "unknown_secret")
    return link


def _intake_link(condition: str, *params) -> StoreLink | None:
    """The active link matching `condition`, with only what the intake uses (not the access token).

    A raw query: on the hot path, building the equivalent ORM query costs twice the CPU of the whole lookup."""
    table = connection.ops.quote_name(StoreLink._meta.db_table)
    query = StoreLink.objects.raw(
        f"SELECT id, retailer_id, store_id, webhook_secret, last_webhook_at FROM {table} "
        f"WHERE {condition} AND state = %s ORDER BY id LIMIT 1",
        [*params, LinkState.ACTIVE],
    )
    return next(iter(query), None)


def _authenticate_signature(body: bytes, headers: dict[str, str]) -> StoreLink:
    """Standard Webhooks (https://www.standardwebhooks.com): HMAC-SHA256 over "id.timestamp.body" keyed with the
    app's client secret, base64-encoded as BigCommerce documents."""
    secret = settings.BIGCOMMERCE_CLIENT_SECRET
    msg_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not secret or not msg_id or not timestamp.isdigit():
        raise WebhookRejected(401, "missing_signature")
    sent_at = int(timestamp)
    if abs(timezone.now().timestamp() - sent_at) > SIGNATURE_TOLERANCE.total_seconds():
        raise WebhookRejected(401, "stale_signature")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    # The Standard Webhooks key is base64(client secret); the HMAC key is what it decodes to: the secret itself.
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    offered = [part.partition(",")[2] for part in headers["webhook-signature"].split() if part.startswith("v1,")]
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise WebhookRejected(401, "bad_signature")
    store_hash = str(_parse(body).get("producer", "")).removeprefix("stores/")
    link = _intake_link("store_hash = %s AND kind = %s", store_hash, LinkKind.APP)
    if link is None:
        raise WebhookRejected(401, "unknown_store")
    return link


# BigCommerce's callbacks nest three levels ({"data": {"status": {...}}}); anything much deeper is not one, and
# ~1,000 levels would overflow the parser's (or the JSON encoder's, at the insert) recursion limit.
MAX_JSON_DEPTH = 32


class _BadNumber(ValueError):
    pass


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e999999: PostgreSQL's jsonb has no Infinity
        raise _BadNumber(text)
    return value


def _no_constant(text: str):
    raise _BadNumber(text)  # NaN, Infinity, -Infinity: Python's extension of JSON, which jsonb refuses


def _parse(body: bytes) -> dict[str, Any]:
    # PostgreSQL text and jsonb cannot hold U+0000: a body carrying one would fail at the insert (a 500, and
    # BigCommerce retrying it for a day). No BigCommerce callback has one.
    if b"\\u0000" in body:
        raise WebhookRejected(400, "nul_character")
    try:
        payload = json.loads(body, parse_float=_finite_float, parse_constant=_no_constant)
    except _BadNumber:
        raise WebhookRejected(400, "number_out_of_range") from None
    except RecursionError:
        raise WebhookRejected(400, "nested_too_deep") from None
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected(400, "malformed_json") from None
    if not isinstance(payload, dict):
        raise WebhookRejected(400, "malformed_json")
    _check_storable(payload)
    for field in ("scope", "hash"):
        if not isinstance(payload.get(field), str) or not payload[field]:
            raise WebhookRejected(400, f"missing_{field}")
    if not isinstance(payload.get("data"), dict):
        raise WebhookRejected(400, "missing_data")
    return payload


def _check_storable(payload: dict[str, Any]) -> None:
    """Refuse what parses but could not be stored: nesting beyond MAX_JSON_DEPTH, and strings PostgreSQL cannot
    hold as UTF-8 (a lone surrogate such as \\ud800, which JSON's escapes allow). One pass, no recursion."""
    stack: list[tuple[object, int]] = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            items = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            items = value
        else:
            if isinstance(value, str) and not value.isascii():
                try:
                    value.encode()
                except UnicodeEncodeError:
                    raise WebhookRejected(400, "invalid_unicode") from None
            continue
        if depth > MAX_JSON_DEPTH:
            raise WebhookRejected(400, "nested_too_deep")
        stack.extend((item, depth + 1) for item in items)


def _order_id(payload: dict[str, Any]) -> int:
    raw = payload["data"].get("order_id" if payload["scope"] in TRANSACTION_SCOPES else "id")
    # An integer, or its decimal string; never a fraction, a bool or a number beyond the 64 bits a row holds.
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 < raw < MAX_ORDER_ID:
        raise WebhookRejected(400, "missing_order_id")
    return raw
