"""The systemd units of deploy/systemd run what the README says, restart what dies, and leave no orphan."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from work.registry import QUEUES

ROOT = Path(__file__).resolve().parents[1]
UNITS = ROOT / "deploy" / "systemd"
SERVICES = ("pos-web.service", "pos-worker@.service", "pos-prepare.service")


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections, each key with its values in order."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def exec_start(name: str) -> list[str]:
    (command,) = unit(name)["Service"]["ExecStart"]
    return shlex.split(command)


def test_the_worker_runs_every_queue_with_no_scheduler_child():
    argv = exec_start("pos-worker@.service")
    assert argv[:3] == ["/srv/pos/.venv/bin/python", "manage.py", "rqworker"]
    assert set(argv[3:]) == set(QUEUES)
    assert "--with-scheduler" not in argv


def test_the_web_runs_gunicorn_with_the_projects_settings():
    argv = exec_start("pos-web.service")
    assert argv[0] == "/srv/pos/.venv/bin/gunicorn" and argv[1:] == ["-c", "config/gunicorn.conf.py"]
    assert (ROOT / argv[2]).is_file()


@pytest.mark.parametrize("name", ["pos-web.service", "pos-worker@.service"])
def test_a_long_running_process_is_always_restarted_and_leaves_no_child(name):
    sections = unit(name)
    service = sections["Service"]
    assert service["Restart"] == ["always"]
    assert service["KillMode"] == ["mixed"]  # SIGTERM to the main process; SIGKILL for what remains
    assert sections["Unit"]["StartLimitIntervalSec"] == ["0"]  # never given up on
    assert sections["Unit"]["PartOf"] == ["pos.target"]
    assert sections["Install"]["WantedBy"] == ["pos.target"]
    assert service["WorkingDirectory"] == ["/srv/pos"] and service["EnvironmentFile"] == ["/etc/pos/env"]


def test_the_target_starts_the_web_and_workers():
    wanted = unit("pos.target")["Unit"]["Wants"][0].split()
    assert "pos-web.service" in wanted
    assert any(name.startswith("pos-worker@") for name in wanted)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_units(tmp_path):
    """`systemd-analyze verify` on copies pointing at this checkout (it checks that the commands exist)."""
    env = tmp_path / "env"
    env.write_text("")
    names = []
    for path in UNITS.iterdir():
        if path.suffix not in (".service", ".target"):
            continue
        text = path.read_text().replace("/srv/pos", str(ROOT)).replace("/etc/pos/env", str(env))
        text = text.replace("User=pos", "User=root").replace("Group=pos", "Group=root")
        target = tmp_path / path.name.replace("@.service", "@1.service")
        target.write_text(text)
        names.append(str(target))
    assert len(names) == len(SERVICES) + 1
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0 and "nknown" not in result.stderr, result.stderr


def test_every_setting_the_product_reads_is_documented_in_env_example():
    read = set()
    for path in (ROOT / "config").glob("*.py"):
        text = path.read_text()
        read |= set(re.findall(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', text))
        read |= set(re.findall(r'(?:os\.environ\.get|_required_in_production)\(\s*"([A-Z][A-Z0-9_]+)"', text))
    assert {"WORK_POLL_SECONDS", "WORK_DRAIN_SECONDS", "SECRET_KEY", "WEB_CONCURRENCY"} <= read  # the scan works
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert read - documented == set()
