"""Drill 2: a fifth of the order calls fail (429, 5xx, timeouts), four workers, a tight quota.

200 orders; --full 3,000.

    .venv/bin/python bench/drill_faults.py [--full]

Runs tests/drills/test_drill_faults.py (see bench/_drill.py) and prints its figures.
"""

from __future__ import annotations

import sys

from _drill import main

if __name__ == "__main__":
    sys.exit(main("tests/drills/test_drill_faults.py", __doc__))
