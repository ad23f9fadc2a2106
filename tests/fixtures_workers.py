"""Real RQ worker processes for tests: `manage.py rqworker --burst` on the test database and the test Redis.

Workers are separate processes, so they only see committed data: use them from tests marked
`@pytest.mark.django_db(transaction=True)` (and `@pytest.mark.postgres`: an in-memory SQLite test database cannot
be shared with another process).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def worker_env() -> dict[str, str]:
    """The environment a child process needs to use this test's database and Redis database."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url}


@pytest.fixture
def rq_workers():
    """Run `count` worker processes in burst mode until the queues are empty; returns their exit codes."""
    started: list[subprocess.Popen] = []

    def run(count: int = 1, queues: tuple[str, ...] = ("webhooks", "default"), timeout: float = 300) -> list[int]:
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "rqworker",
                    *queues,
                    "--burst",
                    "--worker-class",
                    "integration.worker.SyncWorker",
                ],
                cwd=ROOT,
                env=worker_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for _ in range(count)
        ]
        started.extend(procs)
        codes = []
        for proc in procs:
            _, err = proc.communicate(timeout=timeout)
            if proc.returncode != 0:
                raise AssertionError(f"worker exited {proc.returncode}: {err.decode()[-2000:]}")
            codes.append(proc.returncode)
        return codes

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()
