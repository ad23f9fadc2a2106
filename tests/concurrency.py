"""Run a function in several real processes at once, each with its own connection to the test database.

Processes are spawned (not forked: the test process has threads, and a forked child would share its database
socket). Each child sets Django up with the test settings, points at the test database the parent created, waits
at a barrier so all start together, calls `target(*args)` and sends its return value back.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Sequence

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
