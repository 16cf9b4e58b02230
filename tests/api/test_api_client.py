"""The ask/tell side of the Python API (SPEC §4) on both backends: build/join, suggest,
observe, release, the context manager, read-only views and summaries."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import pytest
from api_helpers import SPACE

import orionlite
from orionlite import build_experiment, get_experiment
from orionlite.errors import (
    CompletedExperimentError,
    ExperimentConflictError,
    ExperimentNotFoundError,
    MissingExtraError,
    ReadOnlyExperimentError,
    ResultsError,
    TooManyBrokenTrialsError,
    TrialNotHeldError,
    WaitingForTrialsError,
)
from orionlite.records import TrialStatus


def test_build_creates_joins_and_refuses_another_space(api_db: str, name: str, runs: str) -> None:
    exp = build_experiment(name, space=SPACE, max_trials=3, storage=api_db, working_dir=runs)
    assert (exp.name, exp.version, exp.max_trials, exp.max_broken) == (name, 1, 3, 3)
    assert exp.space == {"x": "uniform(-5, 5)", "n": "choices([1, 2, 3, 4])"}
    assert exp.record.command is None  # commandless: made from Python

    joined = build_experiment(name, storage=api_db, max_trials=5)
    assert (joined.id, joined.max_trials) == (exp.id, 5)  # joining may raise the budget

    with pytest.raises(ExperimentConflictError) as conflict:
        build_experiment(name, space={"x": "uniform(0, 1)"}, storage=api_db)
    assert "uniform(0, 1)" in conflict.value.message  # the difference is shown
    assert f"get_experiment({name!r})" in (conflict.value.hint or "")

    with pytest.raises(ExperimentNotFoundError, match="no space to create it"):
        build_experiment(f"{name}-other", storage=api_db)


def test_suggest_then_observe_completes_the_trial(api_db: str, name: str, runs: str) -> None:
    exp = build_experiment(name, space=SPACE, max_trials=2, storage=api_db, working_dir=runs)
    trial = exp.suggest()
    assert trial.status is TrialStatus.RESERVED
    assert set(trial.params) == {"x", "n"}
    assert str(trial.working_dir) == f"{runs}/{trial.id}"
    assert trial.working_dir.is_dir()

    done = exp.observe(trial, 0.25)
    assert (done.id, done.status, done.objective) == (trial.id, TrialStatus.COMPLETED, 0.25)
    assert exp.best_trial == done
    assert exp.stats.counts["completed"] == 1
    assert exp.stats.best_trial_id == trial.id
    with pytest.raises(TrialNotHeldError, match=f"Trial {trial.id} is not reserved"):
        exp.observe(trial, 0.5)  # once only


def test_observe_takes_a_results_list_and_breaks_on_nan(api_db: str, name: str, runs: str) -> None:
    exp = build_experiment(name, space=SPACE, storage=api_db, working_dir=runs)
    results = [
        {"name": "loss", "type": "objective", "value": 1.5},
        {"name": "accuracy", "type": "statistic", "value": 0.9},
    ]
    first = exp.observe(exp.suggest(), results)
    assert (first.objective, first.results) == (1.5, results)

    held = exp.suggest()
    with pytest.raises(ResultsError):  # not a result at all: the trial stays held
        exp.observe(held, [{"name": "loss", "value": 1}])
    nan = exp.observe(held, math.nan)
    assert nan.status is TrialStatus.BROKEN
    assert "nan" in (nan.error or "").lower()


def test_release_gives_the_trial_back_to_the_pool(api_db: str, name: str, runs: str) -> None:
    exp = build_experiment(name, space=SPACE, storage=api_db, working_dir=runs)
    trial = exp.suggest()
    released = exp.release(trial)
    assert released.status is TrialStatus.INTERRUPTED

    other = build_experiment(name, storage=api_db)  # another worker
    again = other.suggest()
    assert (again.id, again.params) == (trial.id, trial.params)
    assert again.record is not None and again.record.attempt == 2
    with pytest.raises(TrialNotHeldError):
        exp.release(trial)  # exp no longer holds it
    other.release(again, status="broken")
    assert other.get_trial(trial.id).status is TrialStatus.BROKEN  # type: ignore[union-attr]


def test_with_block_releases_without_observe(api_db: str, name: str, runs: str) -> None:
    exp = build_experiment(name, space=SPACE, storage=api_db, working_dir=runs)
    with exp.suggest() as trial:
        pass
    assert exp.get_trial(trial.id).status is TrialStatus.INTERRUPTED  # type: ignore[union-attr]

    with exp.suggest() as trial:
        exp.observe(trial, 1.0)
    assert exp.get_trial(trial.id).status is TrialStatus.COMPLETED  # type: ignore[union-attr]


def test_with_block_marks_broken_on_exception(api_db: str, name: str, runs: str) -> None:
    exp = build_experiment(name, space=SPACE, storage=api_db, working_dir=runs)
    with pytest.raises(ZeroDivisionError), exp.suggest() as trial:
        1 / 0  # noqa: B018
    broken = exp.get_trial(trial.id)
    assert broken is not None and broken.status is TrialStatus.BROKEN
    assert "Traceback" in (broken.error or "")
    assert "ZeroDivisionError: division by zero" in (broken.error or "")


def test_suggest_on_a_done_experiment_raises(api_db: str, name: str, runs: str) -> None:
    exp = build_experiment(name, space=SPACE, max_trials=1, storage=api_db, working_dir=runs)
    held = exp.suggest()
    with pytest.raises(WaitingForTrialsError, match=r"1 held by this client"):
        exp.suggest()  # the only trial is ours, not done yet
    exp.observe(held, 3.0)
    assert exp.is_done
    with pytest.raises(CompletedExperimentError, match="is done: 1 of 1 trials completed"):
        exp.suggest()


def test_too_many_broken_trials_stop_suggest(api_db: str, name: str, runs: str) -> None:
    exp = build_experiment(name, space=SPACE, max_broken=2, storage=api_db, working_dir=runs)
    for _ in range(2):
        exp.release(exp.suggest(), status="broken")
    assert exp.is_broken
    with pytest.raises(TooManyBrokenTrialsError, match=r"2 trials broke \(max_broken=2\)"):
        exp.suggest()


def test_heartbeat_keeps_a_held_trial_past_its_lease(api_db: str, name: str, runs: str) -> None:
    # Lease = 3 heartbeats = 1.2 s; the trial is held for two leases.
    exp = build_experiment(
        name, space=SPACE, max_trials=1, storage=api_db, working_dir=runs, heartbeat=0.4
    )
    trial = exp.suggest()
    time.sleep(2.5)
    rival = build_experiment(name, storage=api_db)
    with pytest.raises(WaitingForTrialsError):
        rival.suggest()  # without heartbeats the lease would have expired: it would get it
    assert exp.observe(trial, 1.0).status is TrialStatus.COMPLETED


def test_get_experiment_is_read_only(api_db: str, name: str, runs: str) -> None:
    exp = build_experiment(name, space=SPACE, storage=api_db, working_dir=runs)
    exp.observe(exp.suggest(), 2.0)
    view = get_experiment(name, storage=api_db)
    assert [t.objective for t in view.trials(status="completed")] == [2.0]
    assert view.trials(status=["new", "reserved"]) == []
    for call in (view.suggest, lambda: view.workon(lambda x, n: 0.0)):
        with pytest.raises(ReadOnlyExperimentError, match="read-only"):
            call()
    with pytest.raises(ExperimentNotFoundError):
        get_experiment(f"{name}-missing", storage=api_db)


def test_to_pandas_has_one_row_per_trial_and_params_as_columns(
    api_db: str, name: str, runs: str
) -> None:
    pd = pytest.importorskip("pandas", reason="to_pandas needs the pandas extra")
    exp = build_experiment(name, space=SPACE, storage=api_db, working_dir=runs)
    first = exp.observe(
        exp.suggest(),
        [
            {"name": "loss", "type": "objective", "value": 0.5},
            {"name": "acc", "type": "statistic", "value": 0.8},
        ],
    )
    exp.suggest()  # still reserved
    frame = exp.to_pandas()
    assert list(frame.columns[:6]) == ["id", "status", "objective", "x", "n", "acc"]
    assert list(frame["status"]) == ["completed", "reserved"]
    row = frame.iloc[0]
    assert (row["id"], row["x"], row["n"], row["acc"]) == (
        first.id,
        first.params["x"],
        first.params["n"],
        0.8,
    )
    assert isinstance(row["ended_at"], pd.Timestamp)


def test_to_pandas_without_pandas_says_how_to_install(
    api_db: str, name: str, runs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = build_experiment(name, space=SPACE, storage=api_db, working_dir=runs)
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if not installed
    with pytest.raises(MissingExtraError) as missing:
        exp.to_pandas()
    assert "orionlite[pandas]" in (missing.value.hint or "")


def test_import_orionlite_stays_light() -> None:
    """Trial scripts import orionlite for report_objective: no SQLAlchemy, no numpy."""
    code = (
        "import sys, orionlite; orionlite.report_objective; "
        "heavy = [m for m in ('sqlalchemy', 'numpy', 'pandas', 'joblib') if m in sys.modules]; "
        "print(heavy); assert not heavy; "
        "orionlite.build_experiment; assert 'sqlalchemy' in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(orionlite.__all__) <= set(dir(orionlite))
