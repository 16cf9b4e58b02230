"""``orionlite plot --kind curves``: every trial's reported values, pruned ones marked."""

from __future__ import annotations

import textwrap

from orionlite.experiment import open_experiment
from orionlite.plot_curves import curves
from orionlite.records import TrialStatus
from orionlite.storage import Storage


def test_curves_are_drawn_with_pruned_trials_marked(sqlite_cli) -> None:
    trial = sqlite_cli.cwd / "trial.sh"
    trial.write_text(
        textwrap.dedent(
            """\
            #!/bin/bash
            x="${1#--x=}"
            for step in 1 2 3; do
              echo "{\\"step\\": $step, \\"value\\": $x}" >> "$ORIONLITE_PROGRESS_PATH"
              sleep 0.25
            done
            echo "[{\\"name\\": \\"l\\", \\"type\\": \\"objective\\", \\"value\\": $x}]" \\
              > "$ORIONLITE_RESULTS_PATH"
            """
        )
    )
    trial.chmod(0o755)
    empty = sqlite_cli.run(
        "hunt", "-n", "none", "--max-trials", "1", "--", "true", "--x~uniform(0, 1)"
    )
    assert empty.returncode == 1  # true writes no results: broken, but the experiment exists
    refused = sqlite_cli.run("orionlite", "plot", "-n", "none", "--kind", "curves", "-o", "c.png")
    assert refused.returncode == 1
    assert "has no trial that reported progress yet" in refused.stderr
    result = sqlite_cli.run(
        "hunt", "-n", "exp", "--max-trials", "4",
        "--early-stop", "threshold", "--early-stop-config", '{"upper": 0.5}',
        "--stop-grace", "0.2", "--", str(trial), "--x~uniform(0, 1)",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    storage = Storage(sqlite_cli.storage)
    found = curves(open_experiment(storage, "exp"))
    trials = {t.id: t for t in storage.trials(open_experiment(storage, "exp").id)}
    storage.close()
    assert len(found) == 4
    for curve in found:
        x = trials[curve.trial_id].params["x"]
        assert curve.pruned == (x > 0.5) == (trials[curve.trial_id].status is TrialStatus.PRUNED)
        assert curve.values[0] == x
    for name in ("curves.png", "curves.html"):
        drawn = sqlite_cli.run("orionlite", "plot", "-n", "exp", "--kind", "curves", "-o", name)
        assert drawn.returncode == 0, drawn.stderr
    assert (sqlite_cli.cwd / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (sqlite_cli.cwd / "curves.html").read_text()
    assert "Learning curves: exp v1 (4 trials" in page
    assert any(f"trial {c.trial_id} (pruned)" in page for c in found if c.pruned) or not any(
        c.pruned for c in found
    )
