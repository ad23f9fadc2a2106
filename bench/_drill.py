"""Running a reliability drill (issue #9) as a benchmark: the drill's test in tests/drills/, at the issue's size
with --full, printing its figures.

The drills are tests (they assert the outcome) that print figures; this runs one in its own pytest process on the
benchmark database and Redis (`BENCH_DATABASE_URL`: pytest-django creates `test_<name>` beside it;
`BENCH_REDIS_URL`: the tests use the database after it), with `DRILL_SCALE=full` for --full.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pos_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def main(test_file: str, doc: str) -> int:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the issue's size")
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as out:
        figures = Path(out.name)
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "DRILL_FIGURES": str(figures),
        "DRILL_SCALE": "full" if args.full else "",
    }
    started = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "--create-db", "-n", "0", "-p", "no:randomly", "-q", test_file]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    for line in figures.read_text().splitlines():
        record = json.loads(line)
        print(f"{record['drill']} ({'full' if record['full'] else 'test'} size)")
        width = max((len(name) for name, _ in record["figures"]), default=0)
        for name, value in record["figures"]:
            print(f"  {name.ljust(width)}  {value}")
    figures.unlink(missing_ok=True)
    print(f"  {'pytest wall time'.ljust(20)}  {elapsed:.0f} s, {'passed' if result.returncode == 0 else 'FAILED'}")
    if result.returncode:
        print(result.stdout[-6000:], result.stderr[-2000:], sep="\n")
    return result.returncode
