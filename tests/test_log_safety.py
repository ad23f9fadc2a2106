"""The session-wide check that no log line or error report holds a secret (tests/fixtures_logsafety.py): it learns
the secrets the tests create, finds them in messages, tracebacks, `extra=` fields and Sentry events (e-mail
addresses too, in events), and fails a session (also under xdist)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from django.urls import reverse

from tests import factories
from tests.fixtures_logsafety import LOG_SAFETY, LogSafety

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def _record(msg: str, *args, exc_info=None, **extra) -> logging.LogRecord:
    # Built directly, not emitted: the session's own check must not see these records.
    record = logging.LogRecord("demo", logging.WARNING, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


def _raised(message: str):
    try:
        raise ValueError(message)
    except ValueError as exc:
        return (type(exc), exc, exc.__traceback__)


# ---------------------------------------------------------------- finding secrets


def test_a_secret_is_found_in_the_message_the_traceback_and_extra_fields_and_masked():
    safety = LogSafety()
    safety.learn("tok-0123456789abcdef", "StoreLink.access_token")
    safety.observe(_record("calling with %s", "tok-0123456789abcdef"))
    safety.observe(_record("failed", exc_info=_raised("token tok-0123456789abcdef refused")))
    safety.observe(_record("sent", bc_token="tok-0123456789abcdef"))
    safety.observe(_record("nothing secret here", bc_store="abc123"))

    leaks = safety.leaks()

    assert len(leaks) == 3
    assert all(leak.kinds == ("StoreLink.access_token",) for leak in leaks)
    assert all("tok-0123456789abcdef" not in leak.text and "<StoreLink.access_token>" in leak.text for leak in leaks)


def test_a_url_encoded_secret_is_found_and_short_values_are_not_secrets():
    safety = LogSafety()
    safety.learn("a/b+c=d&secret-value", "form password")
    safety.learn("bench", "StoreLink.webhook_secret")
    safety.observe(_record("GET /x?p=a%2Fb%2Bc%3Dd%26secret-value"))
    safety.observe(_record("running the bench suite"))

    assert [leak.kinds for leak in safety.leaks()] == [("form password",)]


def test_objects_passed_as_extra_are_not_read_as_log_text():
    # Django's request logger passes the request object; formatters do not print it.
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.payload.signature-1234"

    class Request:
        def __repr__(self):
            return f"<WSGIRequest: GET '/bigcommerce/load?signed_payload_jwt={jwt_like}'>"

    safety = LogSafety()
    safety.learn(jwt_like, "query signed_payload_jwt")
    safety.observe(_record("Forbidden: /bigcommerce/load", request=Request(), status_code=403))

    assert safety.leaks() == []


def test_an_error_report_holding_a_secret_or_an_email_address_is_a_leak_but_a_log_line_naming_a_customer_is_not():
    safety = LogSafety()
    safety.learn("tok-0123456789abcdef", "StoreLink.access_token")
    safety.learn_personal("jane.doe@shop.example", "Customer.email")
    safety.observe_event({"level": "error", "extra": {"held": "tok-0123456789abcdef"}})
    safety.observe_event({"level": "error", "message": "order of jane.doe@shop.example"})
    safety.observe_event({"level": "error", "message": "order of [email]"})
    safety.observe(_record("customer matched: jane.doe@shop.example"))

    leaks = safety.leaks()

    assert sorted(leak.kinds for leak in leaks) == [("Customer.email",), ("StoreLink.access_token",)]
    assert {(leak.logger, leak.level) for leak in leaks} == {("sentry", "ERROR")}
    assert all("<StoreLink.access_token>" in leak.text or "<Customer.email>" in leak.text for leak in leaks)


# ---------------------------------------------------------------- learning the secrets the tests create


def test_tokens_passwords_and_email_addresses_are_learned_as_they_are_saved():
    link = factories.StoreLinkFactory()
    install = factories.AppInstallFactory(installer_email="installer@merchant.example")
    user = factories.UserFactory(email="staff.member@merchant.example")
    user.set_password("a-new-password-42")
    user.save()
    customer = factories.CustomerFactory(email="buyer.one@customer.example")

    assert LOG_SAFETY.knows(link.access_token) and LOG_SAFETY.knows(link.webhook_secret)
    assert LOG_SAFETY.knows(install.access_token)
    assert LOG_SAFETY.knows("pw-correct-horse") and LOG_SAFETY.knows("a-new-password-42")
    # e-mail addresses: checked in error reports only
    assert LOG_SAFETY.knows(customer.email) and LOG_SAFETY.knows(user.email)
    assert LOG_SAFETY.knows(install.installer_email)
    assert customer.email not in LOG_SAFETY.secrets


def test_secret_settings_are_learned_when_a_test_changes_them(settings):
    settings.BIGCOMMERCE_CLIENT_SECRET = "another-client-secret-for-this-test"

    assert LOG_SAFETY.knows("another-client-secret-for-this-test")
    assert LOG_SAFETY.knows(settings.SECRET_KEY)


def test_secrets_arriving_in_requests_are_learned_and_the_request_still_works(client):
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdG9yZXMveiJ9.forged-signature-xyz"

    client.get(reverse("integration:app_load"), {"signed_payload_jwt": jwt_like})
    client.post(reverse("integration:webhook"), b"{}", content_type="application/json", headers={
        "X-Pos-Webhook-Auth": "7:header-secret-123456", "webhook-signature": "v1,c2lnbmF0dXJlLWJhc2U2NA=="
    })  # fmt: skip
    response = client.post(reverse("login"), {"username": "nobody", "password": "typed-password-987"})

    assert response.status_code == 200 and response.context["form"].errors  # the form still read the body
    assert LOG_SAFETY.knows(jwt_like) and LOG_SAFETY.knows("forged-signature-xyz")
    assert LOG_SAFETY.knows("header-secret-123456") and LOG_SAFETY.knows("c2lnbmF0dXJlLWJhc2U2NA==")
    assert LOG_SAFETY.knows("typed-password-987")


def test_the_sandbox_stores_token_and_client_secret_are_learned(sandbox):
    assert LOG_SAFETY.knows(sandbox.access_token)
    assert LOG_SAFETY.knows(sandbox.store.settings.client_secret)


# ---------------------------------------------------------------- a session that logs a secret fails

LEAKING_TESTS = """
import logging

from django.conf import settings


def test_logs_the_client_secret():
    logging.getLogger("demo").warning("configured with %s", settings.BIGCOMMERCE_CLIENT_SECRET)


def test_logs_nothing_secret():
    logging.getLogger("demo").warning("all good")
"""


@pytest.fixture
def inner_session(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pytester.makepyfile(test_leaking=LEAKING_TESTS)

    def run(*args: str):
        return pytester.runpytest_subprocess(
            "-p", "tests.fixtures_logsafety", "--ds", "tests.settings", "-p", "no:cacheprovider", *args
        )

    return run


@pytest.mark.slow
@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["one process", "xdist"])
def test_a_session_whose_logs_hold_a_secret_fails_and_lists_the_records(inner_session, xdist):
    result = inner_session(*xdist)

    output = result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2)
    assert "1 log record(s) hold a token, secret, signature or password" in output
    assert "test_leaking.py::test_logs_the_client_secret: WARNING demo" in output
    assert "configured with <settings.BIGCOMMERCE_CLIENT_SECRET>" in output
    assert "test-client-secret-which-is-long-enough-for-hs256" not in output
