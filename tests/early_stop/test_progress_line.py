"""The live line of ``hunt`` counts pruned trials toward the budget, and says so."""

from __future__ import annotations

from orionlite.progress_line import Snapshot, format_line


def test_pruned_trials_count_toward_the_budget_on_the_live_line() -> None:
    counts = {"completed": 7, "pruned": 5, "reserved": 2, "broken": 1}
    snapshot = Snapshot("exp", 1, counts, 50, 0.25, 3, 0, 1000.0)
    line = format_line(snapshot, now=1060.0)
    assert line.startswith("12/50 completed (5 pruned) · 2 running · 1 broken · best 0.25")
    assert "12.0/min" in line  # 12 trials of the budget in a minute
    plain = Snapshot("exp", 1, {"completed": 7}, 50, 0.25, 3, 0, 1000.0)
    assert format_line(plain, now=1060.0).startswith("7/50 completed · 0 running")
