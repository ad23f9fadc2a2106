"""The drills' figures reach bench/drill_*.py as JSON lines, whatever the figures' shapes."""

from __future__ import annotations

import json

from tests.drills.support import Figures


def test_figures_with_tuple_and_number_keys_are_written_as_json(tmp_path, monkeypatch):
    out = tmp_path / "figures.jsonl"
    monkeypatch.setenv("DRILL_FIGURES", str(out))
    drill = Figures("test_drill_6")
    drill.add("outcomes (state, reason)", {("imported", ""): 3, ("needs_attention", "unparseable"): 2})
    drill.add("answers", {200: 3, 400: 30})

    drill.emit()

    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["figures"] == [
        ["outcomes (state, reason)", {"imported": 3, "needs_attention unparseable": 2}],
        ["answers", {"200": 3, "400": 30}],
    ]
