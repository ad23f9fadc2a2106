"""Drill 3, a worker SIGKILLed inside its apply transaction, its orders recovered: 150 orders; --full 1,000.

    .venv/bin/python bench/drill_sigkill.py [--full]

Runs tests/drills/test_drill_sigkill.py (see bench/_drill.py) and prints its figures.
"""

from __future__ import annotations

import sys

from _drill import main

if __name__ == "__main__":
    sys.exit(main("tests/drills/test_drill_sigkill.py", __doc__))
