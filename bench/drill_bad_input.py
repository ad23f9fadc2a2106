"""Drill 6, a bad-input corpus at the webhook endpoint and in the order data (one size).

    .venv/bin/python bench/drill_bad_input.py [--full]

Runs tests/drills/test_drill_bad_input.py (see bench/_drill.py) and prints its figures.
"""

from __future__ import annotations

import sys

from _drill import main

if __name__ == "__main__":
    sys.exit(main("tests/drills/test_drill_bad_input.py", __doc__))
