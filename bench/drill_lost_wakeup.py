"""Drill 7: every change applied with paired webhooks, four workers, no scheduler or cron: bells only, then Redis
flushed mid-run.

200 orders changed three times; --full 2,000 (the issue's "Done when").

    .venv/bin/python bench/drill_lost_wakeup.py [--full]

Runs tests/drills/test_drill_lost_wakeup.py (see bench/_drill.py) and prints its figures: for each round, how long
after its webhooks the last change was applied, against the floor of one change on the idle pipeline.
"""

from __future__ import annotations

import sys

from _drill import main

if __name__ == "__main__":
    sys.exit(main("tests/drills/test_drill_lost_wakeup.py", __doc__))
