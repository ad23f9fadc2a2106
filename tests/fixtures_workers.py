"""Real worker processes for tests: `manage.py rqworker` (the product's `work.worker.Worker`) on the test database
and the test Redis.

Workers are separate processes, so they only see committed data: use them from tests marked
`@pytest.mark.django_db(transaction=True)` (and `@pytest.mark.postgres`: an in-memory SQLite test database cannot
be shared with another process).

Timeouts here only bound a hang (a shared CI machine may be slow, never this slow); when a test fails, the tail
of its workers' logs is printed with it (pytest shows a test's captured output when it fails).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def worker_env(**extra: str) -> dict[str, str]:
    """The environment a child process needs to use this test's database and Redis database (plus `extra`)."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": url, **extra}


def _worker_command(queues: tuple[str, ...], *options: str) -> list[str]:
    return [sys.executable, "manage.py", "rqworker", *queues, *options]


class WorkerPool:
    """Long-running worker processes, as in production: started, then stopped warm (SIGTERM: finish the batch in
    hand) or killed (SIGKILL, mid-batch). Their stderr is kept so a
    test can look for what went wrong (`log()`)."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []
        self._logs: list[Path] = []
        self._dir = Path(tempfile.mkdtemp(prefix="rq-workers-"))

    def start(
        self, count: int = 1, queues: tuple[str, ...] = ("webhooks", "default", "imports"), **env: str
    ) -> list[int]:
        started = []
        for _ in range(count):
            log = self._dir / f"worker-{len(self.procs)}.log"
            proc = subprocess.Popen(
                _worker_command(queues),
                cwd=ROOT,
                env=worker_env(**env),
                stdout=subprocess.DEVNULL,
                stderr=log.open("wb"),
            )
            self.procs.append(proc)
            self._logs.append(log)
            started.append(len(self.procs) - 1)
        return started

    def kill(self, index: int) -> None:
        """SIGKILL: the process dies at once, mid-job, with its database transaction open."""
        proc = self.procs[index]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM every live worker (a warm shutdown) and wait; SIGKILL what does not stop in time."""
        live = [p for p in self.procs if p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in live:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def log(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self._logs if path.exists())


@pytest.fixture
def rq_workers(tmp_path):
    """Run `count` worker processes in burst mode until the queues are empty (with `env` added to their
    environment); returns their exit codes.

    Each worker's stderr goes to a file of its own. It went to a pipe, read one worker after the other: a worker
    that logged more than a pipe holds (64 KiB: drill 5 logs 85-95 KB in two of its four workers) stopped in the
    middle of a write until the workers before it had exited, and when it stopped inside an apply transaction
    (holding the store's customer-creation lock), the worker being waited for waited on that lock: a hang until
    RQ's job timeout, which PostgreSQL could not see."""
    started: list[subprocess.Popen] = []

    def run(
        count: int = 1, queues: tuple[str, ...] = ("webhooks", "default", "imports"), timeout: float = 300, **env: str
    ) -> list[int]:
        logs = [tmp_path / f"burst-worker-{len(started) + i}.log" for i in range(count)]
        procs = []
        for log in logs:
            with log.open("wb") as err:
                procs.append(
                    subprocess.Popen(
                        _worker_command(queues, "--burst"),
                        cwd=ROOT,
                        env=worker_env(**env),
                        stdout=subprocess.DEVNULL,
                        stderr=err,
                    )
                )
        started.extend(procs)
        deadline = time.monotonic() + timeout
        codes = []
        for proc, log in zip(procs, logs, strict=True):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for other in procs:
                    other.kill()
                    other.wait(timeout=10)
                tails = "\n".join(path.read_text(errors="replace")[-1500:] for path in logs)
                raise AssertionError(f"a burst worker ran for over {timeout:.0f} s: {tails}") from None
            if proc.returncode != 0:
                raise AssertionError(f"worker exited {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
            codes.append(proc.returncode)
        return codes

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture
def rq_worker_pool():
    """A `WorkerPool` whose workers are stopped (or killed) when the test ends."""
    pool = WorkerPool()
    yield pool
    pool.stop(timeout=10)
    if pool.procs:
        # Shown by pytest only when the test failed (a timeout waiting for the workers, say).
        print(f"\n---- the last 6,000 characters of the workers' logs ----\n{pool.log()[-6000:]}")
