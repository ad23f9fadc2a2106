"""`python -m sandbox`: prints what is needed to link to it, serves the API, keeps placing orders, and stops
cleanly on SIGTERM (as `make run` stops it). It runs without Django settings, as the README's command does."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import requests
from django.conf import settings

from integration.client import BigCommerceClient


def _read_banner(process: subprocess.Popen) -> dict[str, str]:
    banner = {}
    deadline = time.monotonic() + 30
    while "control" not in banner and time.monotonic() < deadline:
        line = process.stdout.readline()
        if match := re.match(r"\s+(base URL|store hash|access token|control|state):\s+(.+)", line):
            banner[match.group(1)] = match.group(2).split()[0] if match.group(1) != "state" else match.group(2)
    return banner


@contextmanager
def _sandbox(*args: str):
    """`python -m sandbox --port 0 *args` run as a fresh clone's shell runs it (no Django settings, no SECRET_KEY,
    DEBUG off). Yields its banner and a dict that gets what it printed once it is stopped (SIGTERM, as `make run`
    stops it); it must then exit cleanly."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG")}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", *args],
        cwd=settings.BASE_DIR,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    printed: dict[str, str] = {}
    try:
        yield _read_banner(process), printed
    finally:
        process.send_signal(signal.SIGTERM)
        printed["output"], _ = process.communicate(timeout=20)
    assert process.returncode == 0


def test_the_command_prints_its_coordinates_serves_places_orders_and_stops_on_sigterm():
    with _sandbox("--orders", "5", "--place-every", "0.2", "--quota", "100") as (banner, printed):
        client = BigCommerceClient(
            store_hash=banner["store hash"], access_token=banner["access token"], base_url=banner["base URL"]
        )

        assert client.get_store().id == banner["store hash"]
        deadline = time.monotonic() + 10
        while client.count_orders().total < 7 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.count_orders().total >= 7
        assert requests.Session().get(banner["control"], timeout=5).json()["store_hash"] == banner["store hash"]

    assert "placed order 105" in printed["output"] and "sandbox stopped" in printed["output"]


def _place(banner: dict[str, str], count: int) -> list[int]:
    control = banner["control"].rsplit("/", 1)[0]
    return requests.Session().post(f"{control}/orders", json={"count": count}, timeout=5).json()["ids"]


def test_with_a_state_file_a_restarted_sandbox_goes_on_where_it_stopped(tmp_path):
    state = str(tmp_path / "s.state")
    with _sandbox("--orders", "5", "--state", state) as (banner, _):
        assert "(new)" in banner["state"]
        assert _place(banner, 2) == [105, 106]

    with _sandbox("--orders", "5", "--state", state) as (banner, _):
        assert "(resumed)" in banner["state"]
        client = BigCommerceClient(
            store_hash=banner["store hash"], access_token=banner["access token"], base_url=banner["base URL"]
        )
        assert client.count_orders().total == 7
        assert _place(banner, 1) == [107]


def test_with_stores_one_process_serves_that_many_stores_each_on_its_own_hash():
    with _sandbox("--orders", "3", "--stores", "4", "--quota", "50") as (banner, _):
        stores = requests.Session().get(f"{banner['base URL']}/__sandbox__/stores", timeout=5).json()["stores"]
        assert len({s["store_hash"] for s in stores}) == 4 and stores[0]["store_hash"] == banner["store hash"]
        assert [s["orders"] for s in stores] == [3, 0, 0, 0] and {s["quota"] for s in stores} == {50}
        last = stores[-1]
        client = BigCommerceClient(
            store_hash=last["store_hash"], access_token=last["access_token"], base_url=banner["base URL"]
        )
        assert client.get_store().id == last["store_hash"]
