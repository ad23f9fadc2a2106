"""POST /webhooks/bigcommerce/: authenticate, store, request the sync durably, ring once, answer; reject clearly."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import OperationalError, connection, connections
from django.urls import reverse
from django.utils import timezone

from integration.choices import LinkState, OrderSyncState
from integration.models import OrderSync, WebhookEvent
from integration.services.order_sync import ORDER_SYNC
from tests import factories
from tests.concurrency import start_until_it_waits_on_a_lock
from work.bell import get_queue
from work.models import WorkItem

pytestmark = pytest.mark.django_db

SAMPLES = Path(settings.BASE_DIR).parent / "shared" / "bigcommerce" / "webhook-samples"
ORDER_SAMPLES = sorted(p.name for p in SAMPLES.glob("store_order_*.json") if "message" not in p.name)
OTHER_SAMPLES = sorted(p.name for p in SAMPLES.glob("*.json") if p.name not in ORDER_SAMPLES)
URL = reverse("integration:webhook")


def _auth(link) -> dict:
    return {"HTTP_X_POS_WEBHOOK_AUTH": f"{link.pk}:{link.webhook_secret}"}


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """POST a delivery. Requests run inside the test's transaction, so what they defer to commit time is run
    right after each one, as a real commit would."""

    def do_post(payload, link=None, **headers):
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        extra = {**(_auth(link) if link else {}), **headers}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, data=body, content_type="application/json", **extra)

    return do_post


def _sample(name: str, **changes) -> dict:
    payload = json.loads((SAMPLES / name).read_text())
    payload.update(changes)
    return payload


def _requested() -> list[tuple[str, int, str]]:
    """Each requested order sync: its key, how many requests it absorbed, and its state."""
    rows = WorkItem.objects.filter(kind=ORDER_SYNC).order_by("key")
    return [(w.key, w.requested, w.state) for w in rows]


def _bells() -> int:
    return len(get_queue("webhooks").get_job_ids())


@pytest.mark.parametrize("name", ORDER_SAMPLES)
def test_each_order_sample_is_stored_its_sync_requested_and_the_bell_rung(post, client, link, name):
    response = post(_sample(name), link)

    assert response.status_code == 200
    assert response.json() == {"status": "queued"}
    event = WebhookEvent.objects.get()
    assert (event.link, event.resource_id, event.scope) == (link, 250, _sample(name)["scope"])
    order_sync = OrderSync.objects.get(link=link, bc_order_id=250)
    assert order_sync.state == OrderSyncState.PENDING
    assert _requested() == [(f"{link.pk}:250", 1, "due")]
    assert WorkItem.objects.get().shard == link.retailer_id
    assert _bells() == 1


@pytest.mark.parametrize("name", OTHER_SAMPLES)
def test_other_scopes_are_acknowledged_and_ignored(post, client, link, name):
    response = post(_sample(name), link)

    assert response.status_code == 200
    assert response.json() == {"status": "ignored_scope"}
    assert not WebhookEvent.objects.exists()
    assert not OrderSync.objects.exists()


def test_a_duplicate_delivery_is_acknowledged_and_dropped(post, client, link):
    payload = _sample("store_order_created.json")
    post(payload, link)

    response = post(payload, link)

    assert response.status_code == 200
    assert response.json() == {"status": "duplicate"}
    assert WebhookEvent.objects.count() == 1
    assert _requested() == [(f"{link.pk}:250", 1, "due")]


def test_a_second_event_for_an_order_waiting_is_one_sync(post, client, link):
    post(_sample("store_order_created.json"), link)

    response = post(_sample("store_order_statusUpdated.json"), link)

    assert response.json() == {"status": "queued"}
    assert WebhookEvent.objects.count() == 2
    assert _requested() == [(f"{link.pk}:250", 2, "due")]


def test_events_while_the_sync_runs_leave_exactly_one_more_sync_due(post, client, link):
    from work import kernel

    post(_sample("store_order_created.json"), link)
    claim = kernel.claim(worker="w1")  # a worker took it and is fetching the order

    accepted = [
        post(_sample(name, hash=f"later-{name}"), link).json()["status"]
        for name in ("store_order_updated.json", "store_order_statusUpdated.json")
    ]
    kernel._delete_unless_requested(claim, claim.items)  # ...and finishes its (older) copy

    assert accepted == ["queued", "queued"]
    assert _requested() == [(f"{link.pk}:250", 3, "due")]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_secret"),
        ({"HTTP_X_POS_WEBHOOK_AUTH": "garbage"}, "missing_secret"),
        ({"HTTP_X_POS_WEBHOOK_AUTH": "999999:s3cret-value-for-tests"}, "unknown_secret"),
    ],
)
def test_missing_or_unknown_secrets_get_401(post, client, link, headers, reason):
    response = post(_sample("store_order_created.json"), **headers)

    assert response.status_code == 401
    assert response.json()["reason"] == reason
    assert not WebhookEvent.objects.exists()


def test_a_forged_secret_gets_401(post, client, link):
    response = post(_sample("store_order_created.json"), HTTP_X_POS_WEBHOOK_AUTH=f"{link.pk}:forged")

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_an_unlinked_store_gets_401(post, client, link):
    link.state = LinkState.UNLINKED
    link.save()

    assert post(_sample("store_order_created.json"), link).status_code == 401


def test_a_body_over_the_limit_gets_413_before_anything_is_read(post, client, link, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    payload = _sample("store_order_created.json", padding="x" * 2000)

    response = post(payload, link)

    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


def _delivery(*, hash: str = "abc", data: dict | None = None) -> str:
    """A delivery's JSON text (lone surrogates written as the escapes a client would send)."""
    payload = {"scope": "store/order/created", "hash": hash, "data": data or {"id": 1}}
    return json.dumps(payload).replace("\\\\ud", "\\ud")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "malformed_json"),
        ("[1, 2]", "malformed_json"),
        (b"\xff\xfe\x00", "malformed_json"),
        (json.dumps({"scope": "store/order/created", "data": {"type": "order", "id": 1}}), "missing_hash"),
        (json.dumps({"hash": "abc", "data": {"id": 1}}), "missing_scope"),
        (json.dumps({"scope": "store/order/created", "hash": "abc"}), "missing_data"),
        (json.dumps({"scope": "store/order/created", "hash": "abc", "data": {"type": "order"}}), "missing_order_id"),
        (json.dumps({"scope": "store/order/created", "hash": "abc", "data": {"id": "x"}}), "missing_order_id"),
        (json.dumps({"scope": "store/order/created", "hash": "abc", "data": {"id": -4}}), "missing_order_id"),
        # Bodies that parse (or nearly) but that Python's recursion or PostgreSQL's jsonb cannot take: 500s once.
        (_delivery(data={"id": 1, "x": "N"}).replace('"N"', "[" * 1000 + "]" * 1000), "nested_too_deep"),
        (_delivery(data={"id": 1, "x": "N"}).replace('"N"', '{"a":' * 1000 + "1" + "}" * 1000), "nested_too_deep"),
        (_delivery(data={"id": 1, "x": "N"}).replace('"N"', "[" * 40 + "]" * 40), "nested_too_deep"),
        (_delivery(data={"id": 1, "total": "N"}).replace('"N"', "1e999999"), "number_out_of_range"),
        (_delivery(data={"id": 1, "total": "N"}).replace('"N"', "-1e999999"), "number_out_of_range"),
        (_delivery(data={"id": 1, "total": "N"}).replace('"N"', "NaN"), "number_out_of_range"),
        (_delivery(data={"id": 1, "total": "N"}).replace('"N"', "Infinity"), "number_out_of_range"),
        (_delivery(hash="abc\ud800def"), "invalid_unicode"),
        (_delivery(data={"id": 1, "note": "x\udfffy"}), "invalid_unicode"),
        (_delivery(data={"id": 1, "\ud800": "key"}), "invalid_unicode"),
    ],
)
def test_malformed_bodies_get_400_with_the_reason(post, client, link, body, reason):
    response = post(body, link)

    assert response.status_code == 400
    assert response.json()["reason"] == reason
    assert not WebhookEvent.objects.exists()


def test_a_delivery_for_another_store_id_gets_400(post, client, link):
    response = post(_sample("store_order_created.json", store_id="42"), link)

    assert response.status_code == 400
    assert response.json()["reason"] == "store_mismatch"


def test_only_post_is_allowed(post, client, link):
    assert client.get(URL, **_auth(link)).status_code == 405


def test_rejections_are_logged_with_the_reason_and_never_the_secret(post, client, link, caplog):
    post(_sample("store_order_created.json"), HTTP_X_POS_WEBHOOK_AUTH=f"{link.pk}:forged-secret-xyz")

    assert "unknown_secret" in caplog.text
    assert "forged-secret-xyz" not in caplog.text
    assert link.webhook_secret not in caplog.text


def test_redis_down_the_delivery_is_still_stored_requested_and_answered_200(post, client, link, settings):
    queues = {name: {**cfg, "URL": "redis://127.0.0.1:1/0"} for name, cfg in settings.RQ_QUEUES.items()}
    settings.RQ_QUEUES = queues

    response = post(_sample("store_order_created.json"), link)

    assert response.status_code == 200
    assert WebhookEvent.objects.count() == 1
    assert _requested() == [(f"{link.pk}:250", 1, "due")]  # a worker's look at the database finds it


def test_a_bell_lost_after_the_commit_loses_nothing(post, link, redis_conn):
    # The process died (or Redis lost its data) after the delivery was stored: the work row is the record.
    post(_sample("store_order_created.json"), link)
    redis_conn.flushdb()

    assert _bells() == 0
    assert _requested() == [(f"{link.pk}:250", 1, "due")]


def test_the_link_records_when_the_last_webhook_arrived(post, client, link):
    post(_sample("store_order_created.json"), link)

    link.refresh_from_db()
    assert link.last_webhook_at is not None


# ---------------------------------------------------------------- Standard Webhooks signatures (app installs)


def _signed_headers(body: bytes, *, secret: str, timestamp: int | None = None, msg_id: str = "msg_1") -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = base64.b64encode(
        hmac.new(secret.encode(), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(timestamp),
        "HTTP_WEBHOOK_SIGNATURE": f"v1,{signature}",
    }


@pytest.fixture
def app_link(db):
    return factories.StoreLinkFactory(kind="app", store_hash="abc123", store_id="1025646", webhook_secret="")


def test_an_app_install_delivery_with_a_valid_signature_is_accepted(post, client, app_link, settings):
    body = json.dumps(_sample("store_order_created.json", producer="stores/abc123")).encode()

    response = client.post(
        URL,
        data=body,
        content_type="application/json",
        **_signed_headers(body, secret=settings.BIGCOMMERCE_CLIENT_SECRET),
    )

    assert response.status_code == 200
    assert WebhookEvent.objects.get().delivery_id == "msg_1"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [({"secret": "wrong-secret"}, "bad_signature"), ({"timestamp": 1_000_000}, "stale_signature")],
)
def test_bad_or_replayed_signatures_get_401(post, client, app_link, settings, kwargs, reason):
    body = json.dumps(_sample("store_order_created.json", producer="stores/abc123")).encode()
    headers = _signed_headers(body, **{"secret": settings.BIGCOMMERCE_CLIENT_SECRET, **kwargs})

    response = client.post(URL, data=body, content_type="application/json", **headers)

    assert response.status_code == 401
    assert response.json()["reason"] == reason


def test_our_header_authenticates_a_delivery_bigcommerce_also_signed_with_a_key_we_do_not_have(post, link):
    # BigCommerce signs store-level API accounts' deliveries with that account's client secret, which the
    # merchant never gives us: the link's own header is what proves the delivery.
    body = json.dumps(_sample("store_order_created.json")).encode()
    signed = _signed_headers(body, secret="the-api-accounts-own-client-secret")

    response = post(body, link, **signed)

    assert response.status_code == 200
    assert WebhookEvent.objects.get().link == link


def test_a_wrong_header_is_refused_even_with_a_valid_signature(post, client, app_link, settings):
    body = json.dumps(_sample("store_order_created.json", producer="stores/abc123")).encode()
    signed = _signed_headers(body, secret=settings.BIGCOMMERCE_CLIENT_SECRET)

    response = post(body, **signed, HTTP_X_POS_WEBHOOK_AUTH=f"{app_link.pk}:not-the-secret")

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_a_new_delivery_is_stored_and_requested_in_one_statement(link, django_capture_on_commit_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integration.services.intake import AUTH_HEADER, webhook_accept

    headers = {AUTH_HEADER: f"{link.pk}:{link.webhook_secret}"}
    body = json.dumps(_sample(ORDER_SAMPLES[0], hash="one-statement")).encode()
    with django_capture_on_commit_callbacks(execute=True):
        webhook_accept(body=body, headers=headers)  # the link's last_webhook_at is now recent: no write for it next
    body = json.dumps(_sample(ORDER_SAMPLES[0], hash="one-statement-2", data={"type": "order", "id": 777})).encode()

    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        accepted = webhook_accept(body=body, headers=headers)

    # Inside the test's transaction the statement gets a savepoint (its deadlock retry needs one); in production
    # it runs in autocommit and has none.
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert accepted.outcome == "queued"
    assert len(statements) == 2, statements  # the link's lookup, then the delivery with its sync's request
    assert WebhookEvent.objects.filter(pk=accepted.event_id, resource_id=777).exists()
    assert OrderSync.objects.filter(link=link, bc_order_id=777, state=OrderSyncState.PENDING).exists()
    assert _requested()[-1][0] == f"{link.pk}:777"
    assert _bells() >= 1


def test_a_refund_delivery_asks_the_sync_to_read_refunds_again_on_either_intake_path(post, link):
    # The one-statement intake (PostgreSQL) and the transaction (SQLite) both count the request, so the sync
    # reads the order's refunds; other scopes leave the count alone.
    post(_sample("store_order_refund_created.json", hash="r1"), link)
    assert OrderSync.objects.get(link=link, bc_order_id=250).refund_requests == 1

    post(_sample("store_order_updated.json", hash="u1"), link)
    post(_sample("store_order_refund_created.json", hash="r2"), link)
    assert OrderSync.objects.get(link=link, bc_order_id=250).refund_requests == 2


def test_a_delivery_sync_waits_the_settle_window(post, link, settings):
    settings.ORDER_SYNC_SETTLE_SECONDS = 600  # a window far past the test: no timing in the assertion
    before = timezone.now()
    post(_sample("store_order_updated.json"), link)

    item = WorkItem.objects.get(kind=ORDER_SYNC)
    assert item.due_at >= before + timedelta(seconds=600)


def test_a_delivery_aborted_by_a_deadlock_is_run_again_and_answered_200(post, link):
    # Two deliveries for one order can deadlock in the one-statement intake (its CTEs lock the OrderSync and work
    # rows in no fixed order); PostgreSQL aborts one. That one is run again, not answered 500.
    aborted = []

    def deadlock_once(execute, sql, params, many, context):
        if not aborted and "INSERT INTO" in sql and "webhookevent" in sql:
            aborted.append(sql)
            raise OperationalError("deadlock detected") from psycopg.errors.DeadlockDetected("deadlock detected")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(deadlock_once):
        response = post(_sample("store_order_updated.json"), link)

    assert aborted and response.status_code == 200
    assert WebhookEvent.objects.filter(link=link).count() == 1
    assert _requested() == [(f"{link.pk}:250", 1, "due")]


def test_an_error_other_than_a_deadlock_is_not_retried(post, link):
    seen = []

    def fail(execute, sql, params, many, context):
        if "INSERT INTO" in sql and "webhookevent" in sql:
            seen.append(sql)
            raise OperationalError("disk full") from psycopg.errors.DiskFull("disk full")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(fail), pytest.raises(OperationalError):
        post(_sample("store_order_updated.json"), link)
    assert len(seen) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="PostgreSQL's locks")
def test_a_refund_delivery_locks_the_order_sync_row_before_the_work_row_as_a_sync_does(link):
    # A sync locks its orders' OrderSync rows, then finishes (deletes) their work rows in the same transaction. A
    # refund delivery counts on the OrderSync row and requests the work row: if it took the work row first, the
    # two would deadlock (seen in drill 1, which aborted the sync's transaction). Here "the sync" holds the
    # OrderSync row; the delivery must then wait for it without holding the work row.
    from integration.services.intake import AUTH_HEADER, webhook_accept
    from integration.services.order_sync import order_sync_request

    order_sync_request(link=link, bc_order_id=250)  # the order's OrderSync and work rows exist (committed)
    work = WorkItem.objects.get(kind=ORDER_SYNC)
    sync = connections.create_connection("default")  # the worker's connection
    sync.set_autocommit(False)
    answers: list = []

    def deliver():
        try:
            body = json.dumps(_sample("store_order_refund_created.json", hash="refund-lock-order")).encode()
            answers.append(webhook_accept(body=body, headers={AUTH_HEADER: f"{link.pk}:{link.webhook_secret}"}))
        finally:
            connection.close()

    with sync.cursor() as cursor:
        cursor.execute("SELECT id FROM integration_ordersync WHERE link_id = %s FOR UPDATE", [link.pk])
        thread = start_until_it_waits_on_a_lock(deliver, cursor)
        assert thread.is_alive(), "the delivery did not wait for the OrderSync row the sync holds"
        # The sync can still finish its work row: the delivery does not hold it.
        cursor.execute("SELECT id FROM work_workitem WHERE id = %s FOR UPDATE NOWAIT", [work.pk])
        sync.commit()
    thread.join(30)
    sync.close()

    assert [a.outcome for a in answers] == ["queued"]
    assert OrderSync.objects.get(link=link, bc_order_id=250).refund_requests == 1
    assert WorkItem.objects.get(pk=work.pk).requested == 2
