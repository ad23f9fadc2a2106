"""The plans PostgreSQL ran for what a block of code did on a connection, the statements run inside functions and
triggers too: auto_explain's JSON (`EXPLAIN ANALYZE` of every statement, nested ones included), sent to this client
as notices. For tests and `bench/claim_cost.py` counting the rows a claim reads, which on PostgreSQL is one call of
a function (`work_claim`): an `EXPLAIN` of the call shows a function scan and nothing of what the function read.

Loading auto_explain needs a superuser (the tests' and benchmarks' `postgres`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

SETTINGS = {
    "log_min_duration": "0",
    "log_analyze": "on",
    "log_buffers": "on",
    "log_timing": "off",
    "log_format": "json",
    "log_level": "notice",
    "log_nested_statements": "on",
}


@contextmanager
def plans(connection) -> Iterator[list[dict]]:
    """Collect the plan (auto_explain's "Plan" with its "Query Text") of every statement run on `connection` (a
    Django connection) inside the block, nested statements before the statement that ran them."""
    found: list[dict] = []

    def notice(diagnostic) -> None:
        text = diagnostic.message_primary or ""
        if "plan:" in text:
            found.append(json.loads(text.split("plan:", 1)[1]))

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        for name, value in SETTINGS.items():
            cursor.execute("SELECT set_config(%s, %s, false)", [f"auto_explain.{name}", value])
    connection.connection.add_notice_handler(notice)
    try:
        yield found
    finally:
        connection.connection.remove_notice_handler(notice)
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('auto_explain.log_min_duration', '-1', false)")


def rows_read(found: list[dict], table: str) -> int:
    """Rows the scans of `table` returned over these plans: every scan's actual rows times its loops."""

    def read(node: dict) -> int:
        own = node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
        own = own if "Scan" in node["Node Type"] and node.get("Relation Name") == table else 0
        return own + sum(read(child) for child in node.get("Plans", []))

    return sum(read(plan["Plan"]) for plan in found)
