"""`make bench`: every benchmark script in bench/ in turn, at a size that takes a few minutes in all.

    .venv/bin/python bench/run_all.py            # the small sizes
    .venv/bin/python bench/run_all.py --full     # the sizes the issues ask for (passed to every script)

Every `bench/*.py` not starting with `_` is a benchmark (the `_` modules are their shared code). A script exits
non-zero when something is wrong (lost webhooks, a query count that grows with the page size...), not when a
figure misses its goal: they print figures and say whether the goal is met; none is a timed test.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "run_all.py" and not p.name.startswith("_"))
    if not scripts:
        print("no benchmarks yet")
        return 0
    summary = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        returncode = subprocess.run([sys.executable, str(script), *sys.argv[1:]], cwd=HERE.parent).returncode
        summary.append((script.name, returncode, time.perf_counter() - started))
    print("\n=== summary ===")
    for name, returncode, seconds in summary:
        print(f"  {name:28} {'ok' if returncode == 0 else f'FAILED (exit {returncode})':18} {seconds:6.0f} s")
    return 1 if any(returncode for _, returncode, _ in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
