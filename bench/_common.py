"""Shared set-up for the benchmarks: a fresh PostgreSQL database, a sandbox store process, a linked retailer.

Every benchmark runs against PostgreSQL (`BENCH_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/pos_bench,
dropped and recreated each run) and a real Redis (`BENCH_REDIS_URL`, default redis://127.0.0.1:6379/13, flushed).
bench/dashboard.py keeps its generated data (a million sales take a minute to build) in a database of its own
beside it, `<name>_dashboard`, which the other benchmarks never drop.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pos_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def sibling_database(suffix: str) -> str:
    """BENCH_DATABASE_URL with `_<suffix>` added to the database name."""
    parts = urlsplit(DATABASE_URL)
    return parts._replace(path=f"{parts.path}_{suffix}").geturl()


def bench_env(database_url: str = DATABASE_URL) -> dict[str, str]:
    """The environment of every process of a benchmark (this one, workers, the sandbox)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "600",
    }


def setup_django(*, fresh: bool = True, database_url: str = DATABASE_URL) -> None:
    """Point this process at a benchmark database and set Django up. `fresh`: the database is dropped and
    recreated and Redis flushed; otherwise the database is created if missing and its data kept. Either way it
    is migrated."""
    os.environ.update(bench_env(database_url))
    _create_database(database_url, drop=fresh)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if fresh:
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()


def _create_database(url: str, *, drop: bool) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if drop:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sandbox:
    """A `python -m sandbox` process and its control endpoints."""

    def __init__(self, *, orders: int = 0, quota: int = 1_000_000, extra: tuple[str, ...] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sandbox",
                "--port",
                str(self.port),
                "--orders",
                str(orders),
                "--quota",
                str(quota),
                *extra,
            ],
            cwd=ROOT,
            env=bench_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while True:
            try:
                self.info = self.get("/__sandbox__/info")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.2)

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def send(self, method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=300) as response:
            return json.loads(response.read() or b"null")

    def request_counts(self) -> dict[str, int]:
        return self.get("/__sandbox__/requests?endpoint=-")["counts"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


@contextmanager
def sandbox(**kwargs):
    box = Sandbox(**kwargs)
    try:
        yield box
    finally:
        box.stop()


def linked_retailer(box: Sandbox | None):
    """The demo retailer linked to the sandbox store (made directly: no webhooks registered), or, without a
    sandbox, to a store no call can reach (for the webhook intake, which never calls BigCommerce)."""
    from django.utils import timezone

    from integration.models import StoreLink
    from integration.services.catalog_ids import CATALOG_IDS, catalog_ids_request
    from pos.models import PaymentType, Register
    from pos.services.demo import demo_retailer_ensure
    from work import kernel

    retailer = demo_retailer_ensure().retailer
    register = Register.objects.filter(retailer=retailer, name="Online").select_related("outlet").get()
    link = StoreLink.objects.create(
        retailer=retailer,
        store_hash=box.info["store_hash"] if box else "bench1",
        store_id=str(box.info["store_id"]) if box else "1000001",
        store_name="Benchmark store",
        store_currency="USD",
        access_token=box.info["access_token"] if box else secrets.token_urlsafe(32),
        api_base_url=box.url if box else "http://127.0.0.1:9",
        outlet=register.outlet,
        register=register,
        default_payment_type=PaymentType.objects.get(retailer=retailer, name="BigCommerce"),
        webhook_secret=secrets.token_urlsafe(32),
        linked_at=timezone.now() - timedelta(days=1),
    )
    if box:  # as linking does: the store's product ids are read before its orders (not counted as theirs)
        catalog_ids_request(link=link)
        kernel.drain(only={CATALOG_IDS})
    return link


# The queues production's workers serve (README: `manage.py rqworker webhooks default imports`).
ALL_QUEUES = ("webhooks", "default", "imports")


def run_workers(
    count: int = 1,
    queues: tuple[str, ...] = ALL_QUEUES,
    *,
    burst: bool = True,
    rss_samples: list | None = None,
    cpu_samples: list | None = None,
) -> float:
    """Run worker processes (burst: until the queues are empty); returns the wall time in seconds. With
    `rss_samples`, the first worker's resident set (MB) is appended to it every half second; with `cpu_samples`,
    its own CPU time so far (user + system, seconds; its child processes not included)."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "rqworker",
                *queues,
                *(["--burst"] if burst else []),
            ],
            cwd=ROOT,
            env=bench_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    sampler = None
    if rss_samples is not None:
        sampler = threading.Thread(target=_sample_rss, args=(procs[0], rss_samples, cpu_samples), daemon=True)
        sampler.start()
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"worker failed: {err.decode()[-2000:]}")
    if sampler is not None:
        sampler.join()
    return time.perf_counter() - started


def _sample_rss(proc: subprocess.Popen, samples: list, cpu: list | None = None) -> None:
    tick = os.sysconf("SC_CLK_TCK")
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as status:
                samples.extend(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS:"))
            if cpu is not None:
                with open(f"/proc/{proc.pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                cpu.append((int(fields[11]) + int(fields[12])) / tick)  # utime, stime
        except OSError:
            return
        time.sleep(0.5 if cpu is None else 0.1)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)


# ---------------------------------------------------------------- the web server


def production_env(*, encryption_key: str) -> dict[str, str]:
    """The environment of a web server with production settings (DEBUG off, real keys; no TLS here)."""
    return {
        **bench_env(),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": encryption_key,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "PUBLIC_BASE_URL": "https://pos.example.com",
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
    }


def production_server_setup() -> tuple[object, dict[str, str]]:
    """A fresh benchmark database with a linked store (no sandbox: for the webhook intake), and the environment of
    a web server with production settings whose FIELD_ENCRYPTION_KEY reads the link's secrets."""
    from cryptography.fernet import Fernet

    encryption_key = Fernet.generate_key().decode()
    os.environ["FIELD_ENCRYPTION_KEY"] = encryption_key  # the link's secrets are written with the server's key
    setup_django()
    return linked_retailer(None), production_env(encryption_key=encryption_key)


# How the site is served: "production" is the README's command (config/gunicorn.conf.py); "sync" the one before
# issue 16, `gunicorn config.wsgi --workers N` (sync workers).
SERVING_SETUPS = ("production", "sync")


@contextmanager
def gunicorn(env: dict[str, str], *, setup: str = "production", workers: int = 2):
    """A gunicorn serving the product with `env`; yields its base URL once /healthz answers."""
    port = free_port()
    if setup == "production":
        command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"]
    else:
        command = [sys.executable, "-m", "gunicorn", "config.wsgi:application"]
    command += ["--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    command += ["--access-logfile", "/dev/null", "--chdir", str(ROOT)]
    # Its log goes to a file: a pipe nobody reads would fill up and stall the server mid-benchmark.
    log = tempfile.NamedTemporaryFile(prefix="gunicorn-", suffix=".log")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = Path(log.name).read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"gunicorn did not start: {tail}") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def collect_static(env: dict[str, str]) -> None:
    """`manage.py collectstatic` with `env`: pages served with DEBUG off need the static files' manifest."""
    command = [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"]
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
