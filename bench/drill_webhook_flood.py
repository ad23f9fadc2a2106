"""Drill 1: a flood of webhooks (30 % duplicated, shuffled) with four worker processes.

1,000 webhooks for 300 orders; --full 10,000 for 3,000.

    .venv/bin/python bench/drill_webhook_flood.py [--full]

Runs tests/drills/test_drill_webhook_flood.py (see bench/_drill.py) and prints its figures.
"""

from __future__ import annotations

import sys

from _drill import main

if __name__ == "__main__":
    sys.exit(main("tests/drills/test_drill_webhook_flood.py", __doc__))
