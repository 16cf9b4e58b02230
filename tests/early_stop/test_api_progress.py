"""Progress and early stopping from Python: ``trial.report``/``trial.should_stop`` and
``report_progress`` in functions run by ``workon``; progress in ``trials()``,
``to_pandas()``; algorithms see pruned trials with their last value."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orionlite import build_experiment
from orionlite.algorithms.common import completed
from orionlite.errors import ConfigError, TrialNotHeldError
from orionlite.records import TrialRecord, TrialStatus
from orionlite.reporting import report_progress


def _curve(x: float, trial) -> float:  # type: ignore[no-untyped-def]
    value = 0.0
    for step in range(1, 5):
        time.sleep(0.21)  # longer than a batch: each value is judged as it comes
        value = x + 1.0 / step
        if trial.report(step, value):
            assert trial.should_stop
            return value  # returns early: recorded pruned
    assert not trial.should_stop
    return value


def test_workon_functions_report_and_stop(db_url: str, tmp_path: Path) -> None:
    exp = build_experiment(
        "api",
        space={"x": "uniform(0, 1)"},
        algorithm={"random": {"seed": 2}},
        storage=db_url,
        working_dir=str(tmp_path / "runs"),
        early_stop={"median": {"min_trials": 2}},
    )
    result = exp.workon(_curve, max_trials=8)
    assert result.reason == "done"
    trials = exp.trials()
    pruned = [t for t in trials if t.status is TrialStatus.PRUNED]
    assert pruned
    assert len(trials) == 8  # pruned trials count toward max_trials
    for t in trials:
        assert t.progress and [s for s, _ in t.progress] == list(range(1, len(t.progress) + 1))
        if t.status is TrialStatus.PRUNED:
            assert t.objective == t.progress[-1][1]
            assert len(t.progress) < 4
        else:
            assert len(t.progress) == 4
    frame = exp.to_pandas()
    assert list(frame["progress"]) == [t.progress for t in trials]
    assert exp.is_done
    # Algorithms see pruned trials with their last value.
    records = [t.record for t in trials if t.record is not None]
    assert {r.id for r in completed(records)} == {r.id for r in records}
    exp.close()


def _reports_with_the_module_function(x: float) -> float:
    for step in range(3):
        assert not report_progress(step, x * step)
    return x


def test_report_progress_reaches_a_workon_worker(db_url: str, tmp_path: Path) -> None:
    exp = build_experiment(
        "api",
        space={"x": "uniform(0, 1)"},
        storage=db_url,
        working_dir=str(tmp_path / "runs"),
    )
    exp.workon(_reports_with_the_module_function, max_trials=2)
    for t in exp.trials():
        assert t.status is TrialStatus.COMPLETED
        assert t.progress == [(0, 0.0), (1, t.params["x"]), (2, 2 * t.params["x"])]
    exp.close()


def test_report_outside_workon_and_bad_rules_are_clear_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    with pytest.raises(ConfigError, match="Unknown early-stop rule 'fast'"):
        build_experiment("api", space={"x": "uniform(0, 1)"}, storage=url, early_stop="fast")
    exp = build_experiment("api", space={"x": "uniform(0, 1)"}, storage=url)
    trial = exp.suggest()
    with pytest.raises(TrialNotHeldError, match="not being run by workon"):
        trial.report(1, 0.5)
    with pytest.raises(ValueError, match="step must be a non-negative integer"):
        trial.report(-1, 0.5)
    assert not trial.should_stop
    exp.release(trial)
    exp.close()


def test_pruned_trials_reach_the_algorithms_with_their_last_value() -> None:
    def record(i: int, status: TrialStatus, objective: float | None) -> TrialRecord:
        return TrialRecord(i, 1, {"x": i}, f"h{i}", status, objective=objective)

    history = [
        record(1, TrialStatus.COMPLETED, 0.5),
        record(2, TrialStatus.PRUNED, 0.9),
        record(3, TrialStatus.PRUNED, None),  # stopped before any finite value
        record(4, TrialStatus.BROKEN, None),
    ]
    assert [t.id for t in completed(history)] == [1, 2]
