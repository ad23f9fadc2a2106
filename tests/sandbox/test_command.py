"""`python -m sandbox`: prints what is needed to link to it, serves the API, keeps placing orders, and stops
cleanly on SIGTERM (as `make run` stops it). It runs without Django settings, as the README's command does."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

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


def test_the_command_prints_its_coordinates_serves_places_orders_and_stops_on_sigterm():
    # No Django settings, no SECRET_KEY and DEBUG off: what a fresh clone's shell has.
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG")}
    command = [sys.executable, "-m", "sandbox", "--port", "0", "--orders", "5"]
    process = subprocess.Popen(
        [*command, "--place-every", "0.2", "--quota", "100"],
        cwd=settings.BASE_DIR,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = _read_banner(process)
        client = BigCommerceClient(
            store_hash=banner["store hash"], access_token=banner["access token"], base_url=banner["base URL"]
        )

        assert client.get_store().id == banner["store hash"]
        deadline = time.monotonic() + 10
        while client.count_orders().total < 7 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.count_orders().total >= 7
        assert requests.Session().get(banner["control"], timeout=5).json()["store_hash"] == banner["store hash"]
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)

    assert process.returncode == 0
    assert "placed order 105" in output and "sandbox stopped" in output


def test_with_a_state_file_a_restarted_sandbox_goes_on_where_it_stopped(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG")}
    command = [sys.executable, "-m", "sandbox", "--port", "0", "--orders", "5", "--state", str(tmp_path / "s.state")]

    def run(then) -> str:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, text=True
        )
        try:
            banner = _read_banner(process)
            then(banner)
        finally:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=20)
        assert process.returncode == 0
        return banner["state"]

    def place_two(banner):
        control = banner["control"].rsplit("/", 1)[0]
        assert requests.Session().post(f"{control}/orders", json={"count": 2}, timeout=5).json()["ids"] == [105, 106]

    def count(banner):
        client = BigCommerceClient(
            store_hash=banner["store hash"], access_token=banner["access token"], base_url=banner["base URL"]
        )
        seen.append(client.count_orders().total)
        control = banner["control"].rsplit("/", 1)[0]
        seen.append(requests.Session().post(f"{control}/orders", json={"count": 1}, timeout=5).json()["ids"])

    seen: list = []
    assert "(new)" in run(place_two)
    assert "(resumed)" in run(count)
    assert seen == [7, [107]]


def test_with_stores_one_process_serves_that_many_stores_each_on_its_own_hash():
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG")}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--orders", "3", "--stores", "4", "--quota", "50"],
        cwd=settings.BASE_DIR,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = _read_banner(process)
        stores = requests.Session().get(f"{banner['base URL']}/__sandbox__/stores", timeout=5).json()["stores"]
        assert len({s["store_hash"] for s in stores}) == 4 and stores[0]["store_hash"] == banner["store hash"]
        assert [s["orders"] for s in stores] == [3, 0, 0, 0] and {s["quota"] for s in stores} == {50}
        last = stores[-1]
        client = BigCommerceClient(
            store_hash=last["store_hash"], access_token=last["access_token"], base_url=banner["base URL"]
        )
        assert client.get_store().id == last["store_hash"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    assert process.returncode == 0
