"""Profile a historical import in this process (cProfile): N orders from a zero-latency sandbox, the steps run by
`kernel.drain` here instead of a worker process. Not a benchmark (run_all skips `_` scripts).

    .venv/bin/python bench/_profile_import.py --orders 5000 --out /tmp/import.prof
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time

from _common import linked_retailer, sandbox, setup_django


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5_000)
    parser.add_argument("--out", default="/tmp/import.prof")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--no-profile", action="store_true", help="time only (to run under py-spy)")
    args = parser.parse_args()
    setup_django()
    from django.utils import timezone

    from integration.models import HistoricalImport, StoreLink
    from integration.services.historical_import import historical_import_start, import_options
    from pos.models import Retailer, User
    from work import kernel

    with sandbox(orders=args.orders, quota=10**9) as box:
        link = linked_retailer(box)
        StoreLink.objects.filter(pk=link.pk).update(linked_at=timezone.now())
        Retailer.objects.filter(pk=link.retailer_id).update(historical_import_enabled=True)
        link = StoreLink.objects.select_related("retailer").get(pk=link.pk)
        user = User.objects.create_user("bench-admin")
        run = historical_import_start(link=link, options=import_options(link=link), acting_user=user)
        profile = cProfile.Profile()
        started, cpu = time.perf_counter(), time.process_time()
        if os.environ.get("GC_FREEZE"):
            import gc

            gc.freeze()
        timers = _time_functions() if args.no_profile else {}
        if not args.no_profile:
            profile.enable()
        kernel.drain(budget=10**6)
        profile.disable()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    run = HistoricalImport.objects.get(pk=run.pk)
    print(f"{args.orders} orders in {elapsed:.2f} s (CPU {cpu:.2f} s): state {run.state}, failed {run.failed}")
    if args.no_profile:
        for name, (calls, seconds, cpu_seconds) in sorted(timers.items()):
            print(f"  {name}: {calls} calls, {seconds:.2f} s (CPU {cpu_seconds:.2f} s)")
        return 0
    profile.dump_stats(args.out)
    stats = pstats.Stats(profile)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


def _time_functions() -> dict:
    """Wall time spent in the import's main steps (in this thread): waiting for pages, applying, committing."""
    import functools

    from django.db.backends.base import base as db_base

    from integration.services import historical_import as hi

    timers: dict[str, list] = {}

    def timed(owner, name, label):
        real = getattr(owner, name)
        timers[label] = [0, 0.0, 0.0]

        @functools.wraps(real)
        def wrapper(*args, **kwargs):
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return real(*args, **kwargs)
            finally:
                timers[label][0] += 1
                timers[label][1] += time.perf_counter() - started
                timers[label][2] += time.thread_time() - cpu

        setattr(owner, name, wrapper)

    timed(hi, "_take_ahead", "wait for the window read ahead")
    timed(hi, "_fetch_window", "read a window here")
    timed(hi, "orders_apply", "orders_apply")
    timed(hi, "_apply_page", "apply a page (with its commit)")
    timed(hi, "deleted_products", "deleted_products")
    timed(db_base.BaseDatabaseWrapper, "commit", "commit")
    return timers


if __name__ == "__main__":
    sys.exit(main())
