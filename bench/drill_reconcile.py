"""Drill 5, webhooks never delivered, one reconciliation cycle: 300 orders; --full 3,000.

    .venv/bin/python bench/drill_reconcile.py [--full]

Runs tests/drills/test_drill_reconcile.py (see bench/_drill.py) and prints its figures.
"""

from __future__ import annotations

import sys

from _drill import main

if __name__ == "__main__":
    sys.exit(main("tests/drills/test_drill_reconcile.py", __doc__))
