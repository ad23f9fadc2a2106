"""What an operator sees: structured logs with context fields, request ids, and error reports without secrets.

Error reports are recorded by the session's Sentry transport (tests/fixtures_logsafety.py), which also checks
every report of the whole session for secrets and e-mail addresses.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sentry_sdk
from django.urls import reverse

from config.observability import JsonFormatter, current_log_context, log_context, logging_config, request_id_for
from config.sentry import FILTERED, scrub_event
from integration.models import OrderSync, StoreLink
from integration.services.order_sync import order_sync_request
from pos.models import Customer
from sandbox.faults import Fault
from tests import factories
from tests.work_helpers import sync_order

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def json_lines():
    """Every log record of the test, as the LOG_FORMAT=json handler writes it; call it for the parsed lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    formatter = logging_config(level="INFO", log_format="json")["formatters"]["json"]["()"]
    assert formatter == "config.observability.JsonFormatter"
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(previous)


# ---------------------------------------------------------------- context and JSON lines


def test_log_context_adds_fields_for_the_block_and_nested_blocks_override_then_restore():
    with log_context(link=3, order=100, reason=None):
        outer = current_log_context()
        with log_context(order=101, job_kind="demo"):
            inner = current_log_context()
        after = current_log_context()

    assert outer == {"link": 3, "order": 100}
    assert inner == {"link": 3, "order": 101, "job_kind": "demo"}
    assert after == outer
    assert current_log_context() == {}


def test_a_json_line_is_one_object_with_level_logger_message_time_context_extras_and_traceback(json_lines):
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        with log_context(retailer=7, order=250):
            logging.getLogger("integration.demo").error(
                "sync of %s failed", 250, exc_info=True, extra={"reason": "internal", "request": object()}
            )

    [line] = [line for line in json_lines() if line["logger"] == "integration.demo"]
    assert line["level"] == "ERROR" and line["message"] == "sync of 250 failed"
    assert line["timestamp"].endswith("+00:00") and "T" in line["timestamp"]
    assert (line["retailer"], line["order"], line["reason"]) == (7, 250, "internal")
    assert "ValueError: boom" in line["exc_info"]
    assert "request" not in line  # objects passed as extra are not log text


def test_an_order_sync_writes_json_lines_carrying_the_order_link_retailer_and_job(
    sandbox, live_link, run_jobs, json_lines, django_capture_on_commit_callbacks
):
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    order_sync_request(link=live_link, bc_order_id=order_id)

    with django_capture_on_commit_callbacks(execute=True):  # sync log lines are written once their rows commit
        run_jobs("webhooks")

    sync = OrderSync.objects.get(link=live_link, bc_order_id=order_id)
    imported = [line for line in json_lines() if line.get("sync_event") == "order_imported"]
    assert len(imported) == 1
    assert imported[0]["order"] == order_id
    assert (imported[0]["link"], imported[0]["retailer"]) == (live_link.pk, live_link.retailer_id)
    assert (imported[0]["job_kind"], imported[0]["shard"]) == ("bc.order_sync", live_link.retailer_id)
    assert sync.state == "imported"
    calls = [line for line in json_lines() if line["logger"] == "integration.client"]
    assert any(line["bc_path"] == f"/v2/orders/{order_id}" and line["job_kind"] == "bc.order_sync" for line in calls)


def test_a_failed_sync_line_carries_the_reason_code(
    sandbox, live_link, bc_client, json_lines, django_capture_on_commit_callbacks
):
    sandbox.store.faults.add(Fault("error", endpoint="get_order", status=500))
    order_id = sandbox.store.place_order(status_id=11, lines=1).id
    with django_capture_on_commit_callbacks(execute=True):
        sync_order(live_link, order_id)

    [retrying] = [line for line in json_lines() if line.get("sync_event") == "sync_retrying"]
    assert (retrying["order"], retrying["reason"], retrying["level"]) == (order_id, "bigcommerce_error", "WARNING")


# ---------------------------------------------------------------- requests


def test_each_response_carries_a_request_id_and_a_sane_incoming_one_is_kept(client):
    fresh = client.get(reverse("healthz"))
    kept = client.get(reverse("healthz"), headers={"X-Request-ID": "lb-7f3a9c01-req"})
    replaced = client.get(reverse("healthz"), headers={"X-Request-ID": "bad id\nwith a new line"})

    assert len(fresh["X-Request-ID"]) == 32
    assert kept["X-Request-ID"] == "lb-7f3a9c01-req"
    assert replaced["X-Request-ID"] != "bad id\nwith a new line" and len(replaced["X-Request-ID"]) == 32


@pytest.mark.parametrize("incoming", ["", " ", "x" * 129, "id with spaces", "<script>", "-leading-dash"])
def test_an_insane_request_id_is_replaced(incoming):
    assert request_id_for(incoming) != incoming


def test_log_lines_of_a_request_carry_its_request_id_and_the_retailer(admin_client, retailer, json_lines):
    response = admin_client.get(reverse("dashboard:product_detail", args=[987654]))

    assert response.status_code == 404
    [line] = [line for line in json_lines() if line["logger"] == "django.request"]
    assert line["request_id"] == response["X-Request-ID"]
    assert line["retailer"] == retailer.pk
    assert current_log_context() == {}  # nothing left behind for the next request of this thread


# ---------------------------------------------------------------- settings: plain by default, JSON and Sentry on demand

PROBE = (
    "import logging, sentry_sdk\n"
    "from config.observability import log_context\n"
    "with log_context(order=7):\n"
    "    logging.getLogger('integration.sync').warning('hello')\n"
    "client = sentry_sdk.get_client()\n"
    "print('sentry', client.is_active(), client.should_send_default_pii(), client.options['include_local_variables'])\n"
)


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "LOG_", "DJANGO_SETTINGS"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _shell(**env: str) -> subprocess.CompletedProcess:
    return _manage("shell", "--no-imports", "-c", PROBE, **env)


def test_logs_are_plain_text_and_sentry_is_off_by_default():
    result = _shell(PROMETHEUS_MULTIPROC_DIR="")  # as a copied .env.example leaves it: not multiprocess mode

    assert result.returncode == 0, result.stderr
    assert "WARNING integration.sync hello" in result.stderr
    assert "sentry False False" in result.stdout


def test_log_format_json_and_a_sentry_dsn_turn_each_on():
    result = _shell(LOG_FORMAT="json", SENTRY_DSN="https://public@sentry.invalid/1")

    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert (line["logger"], line["message"], line["order"]) == ("integration.sync", "hello", 7)
    assert "sentry True False False" in result.stdout  # on, without personal data or frame variables


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of plain, json"),
        ({"PROMETHEUS_MULTIPROC_DIR": "/nonexistent/pos-metrics"}, "PROMETHEUS_MULTIPROC_DIR is not a directory"),
    ],
)
def test_a_wrong_setting_stops_the_start(env, message):
    result = _manage("check", **env)

    assert result.returncode != 0
    assert message in result.stderr


# ---------------------------------------------------------------- error reports


def leaky_job(link_id: int, customer_id: int) -> None:
    """A job that fails holding a link's secrets and a customer's e-mail, under names no denylist knows."""
    link = StoreLink.objects.get(pk=link_id)
    customer = Customer.objects.get(pk=customer_id)
    held = [link.access_token, link.webhook_secret]  # noqa: F841 - what a report must not show
    contact = customer.email
    raise RuntimeError(f"BigCommerce refused the order of {contact}")


def test_work_that_raises_is_reported_without_the_secrets_and_email_in_scope(
    retailer, run_jobs, sentry_events, monkeypatch
):
    from work import kernel, registry

    link = factories.StoreLinkFactory(
        retailer=retailer, access_token="tok-live-0123456789abcdef", webhook_secret="hook-secret-fedcba9876543210"
    )
    customer = factories.CustomerFactory(retailer=retailer, email="jane.doe@customer-mail.example")
    monkeypatch.setitem(registry._kinds, "t.leaky", registry.Kind("t.leaky"))
    registry.handle("t.leaky", lambda items: leaky_job(link.pk, customer.pk))
    kernel.request("t.leaky", 1, shard=retailer.pk)

    run_jobs("default")

    [event] = [e for e in sentry_events() if e.get("exception")]
    text = json.dumps(event)
    assert "tok-live-0123456789abcdef" not in text
    assert "hook-secret-fedcba9876543210" not in text
    assert "jane.doe" not in text and "customer-mail.example" not in text
    [exception] = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    # Masked by value, whatever the names: the link and the customer in scope hold them.
    assert exception["value"] == f"BigCommerce refused the order of {FILTERED}"
    frame = exception["stacktrace"]["frames"][-1]
    assert frame["function"] == "leaky_job"
    assert (frame["vars"]["held"], frame["vars"]["contact"]) == ([f"'{FILTERED}'"] * 2, f"'{FILTERED}'")
    assert event["tags"]["job_kind"] == "t.leaky"


def test_an_order_sync_that_fails_unexpectedly_is_reported_without_the_links_secrets_or_the_buyers_email(
    sandbox, live_link, run_jobs, sentry_events, monkeypatch, django_capture_on_commit_callbacks
):
    from integration.services import order_apply

    def broken(*args):
        raise RuntimeError("apply broke")

    monkeypatch.setattr(order_apply, "_apply_sales", broken)
    order = sandbox.store.place_order(status_id=11, lines=1)
    buyer = sandbox.store.addresses[order.billing].email
    order_sync_request(link=live_link, bc_order_id=order.id)

    run_jobs("webhooks")

    [event] = [e for e in sentry_events() if e.get("exception")]
    text = json.dumps(event)
    assert event["logger"] == "integration.sync" and event["tags"]["job_kind"] == "bc.order_sync"
    assert "apply broke" in text
    assert sandbox.access_token not in text and live_link.webhook_secret not in text
    assert buyer not in text and buyer.split("@")[0] not in text
    assert OrderSync.objects.get(link=live_link, bc_order_id=order.id).last_error_code == "internal_error"


def test_merchant_facing_failures_of_the_sync_log_are_not_error_reports(sandbox, live_link, bc_client, sentry_events):
    sandbox.store.faults.add(Fault("error", endpoint="get_order", status=404))
    sync = sync_order(live_link, sandbox.store.place_order(status_id=11).id)

    assert sync.last_error_code == "order_not_found"  # logged at ERROR level
    assert sentry_events() == []


def test_the_scrubber_masks_secret_names_secret_pairs_settings_and_email_addresses(settings):
    settings.BIGCOMMERCE_CLIENT_SECRET = "client-secret-for-the-scrubber-test"
    event = {
        "request": {
            "url": "https://pos.example.com/bigcommerce/auth",
            "query_string": "code=abc123456789&scope=store_v2_orders&context=stores/x",
            "headers": {"X-Pos-Webhook-Auth": "4:abcdefgh12345678", "User-Agent": "bc"},
        },
        "extra": {"reason_code": "rate_limited", "note": "secret is client-secret-for-the-scrubber-test"},
        "breadcrumbs": {"values": [{"message": "GET /v2/orders?email=ann%40shop.example&status_id=11"}]},
    }

    scrubbed = scrub_event(event, {})

    assert scrubbed["request"]["query_string"] == f"code={FILTERED}&scope=store_v2_orders&context=stores/x"
    assert scrubbed["request"]["headers"] == {"X-Pos-Webhook-Auth": FILTERED, "User-Agent": "bc"}
    assert scrubbed["extra"] == {"reason_code": "rate_limited", "note": f"secret is {FILTERED}"}
    assert scrubbed["breadcrumbs"]["values"][0]["message"] == f"GET /v2/orders?email={FILTERED}&status_id=11"


def test_a_secret_held_in_scope_is_masked_wherever_it_appears():
    link = StoreLink(access_token="tok-held-in-a-frame-0123456789", webhook_secret="whs-held-in-a-frame-9876543210")

    def fail(row):
        raise ValueError(f"refused with {row.access_token[:12]}")

    try:
        fail(link)
    except ValueError as exc:
        exc_info = (type(exc), exc, exc.__traceback__)
    event = {"message": "token tok-held-in-a-frame-0123456789", "extra": {"v": ["whs-held-in-a-frame-9876543210"]}}

    scrubbed = scrub_event(event, {"exc_info": exc_info})

    assert scrubbed["message"] == f"token {FILTERED}"
    assert scrubbed["extra"] == {"v": [FILTERED]}


def test_sentry_runs_without_personal_data_in_this_session():
    assert sentry_sdk.get_client().is_active()
    assert not sentry_sdk.get_client().should_send_default_pii()
    assert sentry_sdk.get_client().options["max_request_body_size"] == "never"
