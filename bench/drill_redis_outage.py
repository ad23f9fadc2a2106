"""Drill 4, Redis stopped while webhooks arrive, then started empty: 150 webhooks; --full 1,500.

    .venv/bin/python bench/drill_redis_outage.py [--full]

Runs tests/drills/test_drill_redis_outage.py (see bench/_drill.py) and prints its figures.
"""

from __future__ import annotations

import sys

from _drill import main

if __name__ == "__main__":
    sys.exit(main("tests/drills/test_drill_redis_outage.py", __doc__))
