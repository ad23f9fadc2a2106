"""Run a function in several real processes at once, each with its own connection to the test database; or run
one in a child process killed with SIGKILL at each statement boundary in turn (`crash_at_every_point`).

Processes are spawned (not forked: the test process has threads, and a forked child would share its database
socket). Each child sets Django up with the test settings, points at the test database the parent created, waits
at a barrier so all start together, calls `target(*args)` and sends its return value back.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import queue
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.db import connection, connections


def _child(target_path: str, args: tuple, db_name: str, barrier, results) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    try:
        import django
        from django.conf import settings

        django.setup()
        settings.DATABASES["default"]["NAME"] = db_name
        connections["default"].settings_dict["NAME"] = db_name
        # The target is imported only now: its module may import models, which needs Django set up.
        module_name, _, name = target_path.partition(":")
        target = getattr(importlib.import_module(module_name), name)
        barrier.wait(timeout=60)
        results.put(("ok", target(*args)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put(("error", f"{exc.__class__.__name__}: {exc}"))
    finally:
        connections.close_all()


def run_concurrently(target: Callable, args_list: Sequence[tuple], timeout: float = 120) -> list:
    """Call `target(*args)` for each args tuple, each in its own process, all released at once. Returns results."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(args_list)), ctx.Queue()
    db_name = connection.settings_dict["NAME"]
    target_path = f"{target.__module__}:{target.__qualname__}"
    procs = [ctx.Process(target=_child, args=(target_path, args, db_name, barrier, results)) for args in args_list]
    for proc in procs:
        proc.start()
    outcomes = []
    deadline = time.monotonic() + timeout
    while len(outcomes) < len(procs):
        try:
            outcomes.append(results.get(timeout=0.2))
        except queue.Empty:
            if time.monotonic() > deadline:
                raise AssertionError("concurrent processes did not finish in time") from None
            if all(not p.is_alive() for p in procs) and results.empty():
                codes = [p.exitcode for p in procs]
                raise AssertionError(f"a concurrent process died without reporting (exit codes {codes})") from None
    for proc in procs:
        proc.join(timeout=timeout)
    errors = [value for status, value in outcomes if status == "error"]
    if errors:
        raise AssertionError(f"a concurrent process failed: {errors}")
    return [value for _, value in outcomes]


# ---------------------------------------------------------------- crashes at every statement boundary


@dataclass(frozen=True)
class Crash:
    """Where a child running an action was SIGKILLed: before its `point`-th boundary (statement, then COMMIT),
    or right after its commit (`committed`: the action's transaction is in the database)."""

    point: int
    where: str
    committed: bool


def _crash_child(target_path: str, args: tuple, db_name: str, kill_at: int, marker: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.DATABASES["default"]["NAME"] = db_name
    connections["default"].settings_dict["NAME"] = db_name
    from django.db import transaction

    module_name, _, name = target_path.partition(":")
    target = getattr(importlib.import_module(module_name), name)
    boundaries = 0
    hooked = False

    def die(where: str) -> None:
        Path(marker).write_text(where)
        os.kill(os.getpid(), signal.SIGKILL)

    def boundary(where: str) -> None:
        nonlocal boundaries
        boundaries += 1
        if boundaries == kill_at:
            die(where)

    def before_statement(execute, sql, params, many, context):
        nonlocal hooked
        if not hooked and connection.in_atomic_block:
            # Registered before anything the action registers, so it runs first: nothing after the commit (the
            # doorbell either) happens.
            hooked = True
            transaction.on_commit(lambda: die("after commit"))
        boundary(f"before statement {boundaries + 1}: {sql.split()[0]}")
        return execute(sql, params, many, context)

    commit = connection._commit

    def before_commit():
        boundary("before COMMIT")
        return commit()

    connection._commit = before_commit
    with connection.execute_wrapper(before_statement):
        target(*args)
    Path(marker).write_text("returned")  # never killed: the action had no transaction to commit


def crash_at_every_point(target: Callable, args: tuple, after_each: Callable[[Crash], None], *, limit: int = 200):
    """Run `target(*args)` in a child process once per crash point: SIGKILLed before its 1st, 2nd, ... statement,
    before its COMMIT, and finally right after the commit. `after_each(crash)` runs in the test's process after
    each crash (to check what the crash left and recover from it). Returns the crashes, the last one committed."""
    ctx = multiprocessing.get_context("spawn")
    db_name = connection.settings_dict["NAME"]
    target_path = f"{target.__module__}:{target.__qualname__}"
    crashes: list[Crash] = []
    with tempfile.TemporaryDirectory() as tmp:
        for point in range(1, limit + 1):
            marker = Path(tmp) / f"{point}"
            proc = ctx.Process(target=_crash_child, args=(target_path, args, db_name, point, str(marker)))
            proc.start()
            proc.join(timeout=120)
            if proc.is_alive():
                proc.kill()
                raise AssertionError(f"the action did not finish or crash at point {point}")
            where = marker.read_text() if marker.exists() else f"exit code {proc.exitcode}"
            if proc.exitcode != -signal.SIGKILL:
                raise AssertionError(f"crash point {point}: the child was not killed ({where})")
            crash = Crash(point=point, where=where, committed=where == "after commit")
            crashes.append(crash)
            after_each(crash)
            if crash.committed:
                return crashes
    raise AssertionError(f"the action did not commit within {limit} crash points")


def start_until_it_waits_on_a_lock(target: Callable[[], None], cursor) -> threading.Thread:
    """Start `target` in a thread (with its own database connection) and return once PostgreSQL shows a lock
    request not granted (an event read from `pg_locks` through `cursor`, another connection's, not a time), or
    once the thread ended. The caller checks `is_alive()` to tell which."""
    thread = threading.Thread(target=target)
    thread.start()
    for _ in range(600):
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        if cursor.fetchone()[0] or not thread.is_alive():
            break
        thread.join(0.05)
    return thread
