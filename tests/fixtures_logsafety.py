"""No token, secret, signature or password in any log line or error report: a check over the whole test session.

Every log record created in the test process during the session (from any logger, propagating or not, in any
thread: the live server's, the sandbox's) is kept as the text a handler would write: the message, the traceback
and the plain-valued `extra=` fields. Every secret the tests create is learned as it appears:

- StoreLink access tokens and webhook secrets, AppInstall tokens, users' passwords (post_save signals);
- SECRET_KEY, FIELD_ENCRYPTION_KEYS and BIGCOMMERCE_CLIENT_SECRET, at the start and whenever a test changes them;
- what reaches the site from outside (request_started): install codes, `signed_payload_jwt`s and claim tokens in
  query strings, Standard Webhooks signatures and our webhook auth header, passwords and tokens posted in forms;
- the sandbox store's access token and client secret (any fixture that returns a sandbox server).

Error reports are checked the same way: the session runs the Sentry SDK as production does (`config.sentry`, with
its scrubber) with a transport that records every event instead of sending it (`SENTRY_EVENTS`; the
`sentry_events` fixture gives a test the events it caused). An event must hold no secret, nor any customer's,
user's or installer's e-mail address (learned as they are saved).

At the end of the session every record and event is matched against every secret; any match fails the session
with a list of them (secrets masked) and the test that was running. Under xdist each worker checks its own records
and sends what it found to the controller, which reports and fails. Worker processes started by tests (rqworker
subprocesses) log to their own stderr and are outside this check.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import traceback
from dataclasses import asdict, dataclass
from urllib.parse import parse_qsl, quote

import pytest
from sentry_sdk.transport import Transport

MIN_SECRET_LENGTH = 8  # shorter values ("bench", "x") would match ordinary words
SECRET_SETTINGS = ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BIGCOMMERCE_CLIENT_SECRET", "METRICS_TOKEN")
SECRET_PARAMETER = re.compile(r"password|secret|token|^code$|signed_payload_jwt", re.IGNORECASE)
NOT_SECRET_PARAMETERS = {"csrfmiddlewaretoken"}
SECRET_HEADERS = ("HTTP_X_POS_WEBHOOK_AUTH", "HTTP_WEBHOOK_SIGNATURE", "HTTP_X_AUTH_TOKEN", "HTTP_AUTHORIZATION")
PLAIN = (str, int, float, bool, type(None))
STANDARD_RECORD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
REPORTED = 30


@dataclass(frozen=True)
class Leak:
    where: str  # the test running when the record was created
    logger: str
    level: str
    text: str  # the record with every secret it held masked
    kinds: tuple[str, ...]  # what the secrets were


class LogSafety:
    """The secrets learned and the log records and error reports seen; `leaks()` matches them."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.personal: dict[str, str] = {}  # e-mail addresses: never in an error report
        self.records: dict[str, tuple[str, str, str]] = {}  # text -> (where, logger, level), first occurrence
        self.events: dict[str, tuple[str, str, str]] = {}  # error reports, the same way
        self.where = "(outside any test)"
        self._pending: list[logging.LogRecord] = []
        self._lock = threading.Lock()

    def learn(self, value, kind: str) -> None:
        self._learn(self.secrets, value, kind)

    def learn_personal(self, value, kind: str) -> None:
        self._learn(self.personal, value, kind)

    @staticmethod
    def _learn(into: dict[str, str], value, kind: str) -> None:
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            return
        for variant in {value, quote(value, safe=""), quote(value)}:
            into.setdefault(variant, kind)

    def knows(self, value: str) -> bool:
        return value in self.secrets or value in self.personal

    def observe_event(self, event: dict) -> None:
        """An error report as it would leave the process."""
        text = json.dumps(event, default=str, sort_keys=True)
        with self._lock:
            self.events.setdefault(text, (self.where, "sentry", str(event.get("level", "error")).upper()))

    def observe(self, record: logging.LogRecord) -> None:
        # Formatting waits for `drain`: by then `extra=` fields are on the record, and the hot path stays cheap.
        with self._lock:
            self._pending.append(record)

    def drain(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for record in pending:
            self.records.setdefault(record_text(record), (self.where, record.name, record.levelname))

    def leaks(self) -> list[Leak]:
        self.drain()
        return self._matches(self.records, self.secrets) + self._matches(
            dict(self.events), {**self.personal, **self.secrets}
        )

    @staticmethod
    def _matches(texts: dict[str, tuple[str, str, str]], secrets: dict[str, str]) -> list[Leak]:
        by_prefix: dict[str, list[str]] = {}
        for secret in secrets:
            by_prefix.setdefault(secret[:MIN_SECRET_LENGTH], []).append(secret)
        found = []
        for text, (where, logger, level) in texts.items():
            held = {
                secret
                for i in range(len(text) - MIN_SECRET_LENGTH + 1)
                for secret in by_prefix.get(text[i : i + MIN_SECRET_LENGTH], ())
                if text.startswith(secret, i)
            }
            if held:
                masked = text
                for secret in sorted(held, key=len, reverse=True):
                    masked = masked.replace(secret, f"<{secrets[secret]}>")
                found.append(Leak(where, logger, level, masked, tuple(sorted({secrets[s] for s in held}))))
        return found


def record_text(record: logging.LogRecord) -> str:
    """What a handler would write for `record`: the message, its traceback, and its plain `extra=` values."""
    try:
        parts = [record.getMessage()]
    except (TypeError, ValueError):
        parts = [f"{record.msg} {record.args!r}"]
    if record.exc_info and record.exc_info[0] is not None:
        parts.append("".join(traceback.format_exception(*record.exc_info)))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    extras = {k: v for k, v in vars(record).items() if k not in STANDARD_RECORD_ATTRS and isinstance(v, PLAIN)}
    if extras:
        parts.append(repr(extras))
    return "\n".join(parts)


LOG_SAFETY = LogSafety()


class RecordingTransport(Transport):
    """Sentry's transport for the test session: every error report is kept (and checked), none is sent."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict] = []

    def capture_envelope(self, envelope) -> None:
        for item in envelope.items:
            event = item.get_event() or item.get_transaction_event()
            if event is not None:
                self.events.append(event)
                LOG_SAFETY.observe_event(event)


SENTRY_EVENTS = RecordingTransport()


# ---------------------------------------------------------------- learning secrets


def _learn_settings() -> None:
    from django.conf import settings

    for name in SECRET_SETTINGS:
        value = getattr(settings, name, None)
        for item in value if isinstance(value, list | tuple) else [value]:
            LOG_SAFETY.learn(item, f"settings.{name}")


def _on_setting_changed(*, setting, value, **kwargs) -> None:
    if setting in SECRET_SETTINGS:
        for item in value if isinstance(value, list | tuple) else [value]:
            LOG_SAFETY.learn(item, f"settings.{setting}")


def _on_store_link_saved(*, instance, **kwargs) -> None:
    LOG_SAFETY.learn(instance.access_token, "StoreLink.access_token")
    LOG_SAFETY.learn(instance.webhook_secret, "StoreLink.webhook_secret")


def _on_app_install_saved(*, instance, **kwargs) -> None:
    LOG_SAFETY.learn(instance.access_token, "AppInstall.access_token")
    LOG_SAFETY.learn_personal(instance.installer_email, "AppInstall.installer_email")
    LOG_SAFETY.learn_personal(instance.owner_email, "AppInstall.owner_email")


def _on_user_saved(*, instance, **kwargs) -> None:
    # Django keeps the raw password on the instance until save() has told the validators about it.
    LOG_SAFETY.learn(getattr(instance, "_password", None), "password")
    LOG_SAFETY.learn_personal(instance.email, "User.email")


def _on_customer_saved(*, instance, **kwargs) -> None:
    LOG_SAFETY.learn_personal(instance.email, "Customer.email")


def _learn_parameters(pairs, where: str) -> None:
    for name, value in pairs:
        if SECRET_PARAMETER.search(name) and name not in NOT_SECRET_PARAMETERS:
            LOG_SAFETY.learn(value, f"{where} {name}")
            # A JWT is as good as leaked when its signature is.
            if name == "signed_payload_jwt" and value.count(".") == 2:
                LOG_SAFETY.learn(value.rsplit(".", 1)[1], "signed_payload_jwt signature")


def _on_request_started(*, environ, **kwargs) -> None:
    """Learn the secrets a request brings in: query parameters, auth headers, form fields (the body is put back)."""
    _learn_parameters(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True), "query")
    for header in SECRET_HEADERS:
        value = environ.get(header, "")
        LOG_SAFETY.learn(value, header)
        if header == "HTTP_X_POS_WEBHOOK_AUTH":
            LOG_SAFETY.learn(value.partition(":")[2], "webhook auth header secret")
        if header == "HTTP_WEBHOOK_SIGNATURE":
            for part in value.split():
                LOG_SAFETY.learn(part.partition(",")[2], "Standard Webhooks signature")
    content_type = environ.get("CONTENT_TYPE", "")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length and content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        from django.core.handlers.wsgi import WSGIRequest

        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        form = WSGIRequest({**environ, "wsgi.input": io.BytesIO(body)}).POST
        _learn_parameters(((name, value) for name in form for value in form.getlist(name)), "form")


def _connect_signals() -> None:
    from django.contrib.auth import get_user_model
    from django.core.signals import request_started
    from django.db.models.signals import post_save
    from django.test.signals import setting_changed

    from integration.models import AppInstall, StoreLink
    from pos.models import Customer

    setting_changed.connect(_on_setting_changed, weak=False, dispatch_uid="logsafety-settings")
    request_started.connect(_on_request_started, weak=False, dispatch_uid="logsafety-request")
    post_save.connect(_on_store_link_saved, sender=StoreLink, weak=False, dispatch_uid="logsafety-storelink")
    post_save.connect(_on_app_install_saved, sender=AppInstall, weak=False, dispatch_uid="logsafety-appinstall")
    post_save.connect(_on_user_saved, sender=get_user_model(), weak=False, dispatch_uid="logsafety-user")
    post_save.connect(_on_customer_saved, sender=Customer, weak=False, dispatch_uid="logsafety-customer")


# ---------------------------------------------------------------- the session


def pytest_configure(config):
    make_record = logging.getLogRecordFactory()

    def observed_record(*args, **kwargs):
        record = make_record(*args, **kwargs)
        LOG_SAFETY.observe(record)
        return record

    logging.setLogRecordFactory(observed_record)
    config._log_safety = {"leaks": [], "records": 0, "secrets": 0}
    from config.sentry import sentry_init

    # With frame variables, the most an event can carry: the check covers them too.
    sentry_init(
        dsn="https://public@sentry.invalid/1", environment="test", include_local_variables=True, transport=SENTRY_EVENTS
    )


@pytest.fixture
def sentry_events():
    """A function giving the error reports caused since the test started (as they would leave the process)."""
    start = len(SENTRY_EVENTS.events)
    return lambda: SENTRY_EVENTS.events[start:]


def pytest_sessionstart(session):
    _connect_signals()
    _learn_settings()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    from sandbox.server import SandboxServer

    value = yield
    if isinstance(value, SandboxServer):
        LOG_SAFETY.learn(value.access_token, "sandbox access token")
        LOG_SAFETY.learn(value.store.settings.client_secret, "sandbox client secret")
    return value


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    LOG_SAFETY.drain()
    LOG_SAFETY.where = item.nodeid
    try:
        return (yield)
    finally:
        LOG_SAFETY.drain()
        LOG_SAFETY.where = "(between tests)"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """xdist controller: add up what a worker checked and found."""
    found = node.workeroutput.get("log_safety")
    if found:
        leaks = [Leak(**{**leak, "kinds": tuple(leak["kinds"])}) for leak in found["leaks"]]
        _tally(node.config, leaks, records=found["records"], secrets=found["secrets"])


def _tally(config, leaks: list[Leak], *, records: int, secrets: int) -> None:
    tally = config._log_safety
    tally["leaks"].extend(leaks)
    tally["records"] += records
    tally["secrets"] = max(tally["secrets"], secrets)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    leaks = LOG_SAFETY.leaks()
    records, secrets = len(LOG_SAFETY.records) + len(LOG_SAFETY.events), len(LOG_SAFETY.secrets)
    if hasattr(config, "workerinput"):
        config.workeroutput["log_safety"] = {
            "leaks": [asdict(leak) | {"kinds": list(leak.kinds)} for leak in leaks],
            "records": records,
            "secrets": secrets,
        }
        return
    _tally(config, leaks, records=records, secrets=secrets)
    if config._log_safety["leaks"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    tally = getattr(config, "_log_safety", None)
    if tally is None or hasattr(config, "workerinput"):
        return
    terminalreporter.write_line(
        f"log safety: {tally['records']:,} distinct log records and error reports checked against secrets "
        f"(up to {tally['secrets']:,} in one process)"
    )
    leaks = tally["leaks"]
    if not leaks:
        return
    terminalreporter.section("secrets in log records", sep="=", red=True, bold=True)
    terminalreporter.write_line(
        f"{len(leaks)} log record(s) hold a token, secret, signature or password (masked below):", red=True
    )
    for leak in leaks[:REPORTED]:
        terminalreporter.write_line(f"- {leak.where}: {leak.level} {leak.logger} [{', '.join(leak.kinds)}]")
        terminalreporter.write_line("    " + leak.text.replace("\n", "\n    ")[:2000])
    if len(leaks) > REPORTED:
        terminalreporter.write_line(f"... and {len(leaks) - REPORTED} more")
