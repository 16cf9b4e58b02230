"""``workon`` (SPEC §4): a Python function run by full masterless workers, here in this
process and in separate ``workon`` processes; exceptions, NaN, and bad signatures."""

from __future__ import annotations

import functools
import math
import os
import signal
import textwrap
from pathlib import Path

import pytest
from api_helpers import (
    SPACE,
    assert_exact,
    distinct_workers,
    fail_once_then_sleep,
    quadratic,
    start_python,
)
from waiting import wait_for

from orionlite import Trial, build_experiment
from orionlite.errors import (
    ConfigError,
    TooManyBrokenTrialsError,
    TrialFailedError,
)
from orionlite.records import TrialStatus


def test_workon_runs_until_exactly_max_trials(api_db: str, name: str, runs: str) -> None:
    exp = build_experiment(name, space=SPACE, storage=api_db, working_dir=runs)
    seen: list[Trial] = []

    def objective(x: float, n: int, trial: Trial) -> list[dict[str, object]]:
        seen.append(trial)
        (trial.working_dir / "model.txt").write_text(f"{x} {n}")
        loss = quadratic(x, n)
        return [
            {"name": "loss", "type": "objective", "value": loss},
            {"name": "n_twice", "type": "statistic", "value": 2 * n},
        ]

    result = exp.workon(objective, max_trials=6)
    assert (result.reason, result.completed, result.broken) == ("done", 6, 0)
    assert exp.max_trials == 6  # the budget is the experiment's, like hunt --max-trials
    assert_exact(exp, 6)
    for trial in exp.trials():
        assert (trial.working_dir / "model.txt").read_text() == (
            f"{trial.params['x']} {trial.params['n']}"
        )
        assert trial.objective == quadratic(**trial.params)
    assert {t.id for t in seen} == {t.id for t in exp.trials()}
    assert exp.workon(objective).trials_run == 0  # done: nothing more to run


def test_a_function_without_trial_gets_no_trial_folders(api_db: str, name: str, runs: str) -> None:
    exp = build_experiment(name, space=SPACE, max_trials=3, storage=api_db, working_dir=runs)
    assert exp.workon(quadratic, n_workers=1).completed == 3
    assert not Path(runs).exists() or list(Path(runs).iterdir()) == []


def test_exception_with_on_error_raise_is_recorded_then_raised(
    api_db: str, name: str, runs: str
) -> None:
    exp = build_experiment(name, space=SPACE, max_trials=5, storage=api_db, working_dir=runs)
    calls = []

    def objective(x: float, n: int) -> float:
        calls.append(x)
        if len(calls) == 2:
            raise ValueError("learning rate too high")
        return quadratic(x, n)

    with pytest.raises(TrialFailedError) as failed:
        exp.workon(objective)
    error = failed.value
    assert isinstance(error.__cause__, ValueError)
    assert "ValueError: learning rate too high" in error.message
    assert isinstance(error.trial, Trial) and error.trial.status is TrialStatus.BROKEN
    broken = exp.trials(status="broken")
    assert [t.id for t in broken] == [error.trial.id]
    assert "Traceback" in (broken[0].error or "")
    assert "in objective" in (broken[0].error or "")  # the user's frame is in it
    assert len(calls) == 2  # the worker stopped at the exception
    assert len(exp.trials(status="completed")) == 1


def test_exceptions_with_on_error_count_stop_at_max_broken(
    api_db: str, name: str, runs: str
) -> None:
    exp = build_experiment(
        name, space=SPACE, max_trials=5, max_broken=2, storage=api_db, working_dir=runs
    )

    def objective(x: float, n: int) -> float:
        if n % 2:
            raise RuntimeError(f"odd n={n}")
        return math.nan if x < 0 else quadratic(x, n)

    with pytest.raises(TooManyBrokenTrialsError) as stopped:
        exp.workon(objective, max_trials=50, on_error="count")
    assert "2 trials broke (max_broken=2)" in stopped.value.message
    broken = exp.trials(status="broken")
    assert len(broken) == 2
    for trial in broken:
        error = trial.error or ""
        if trial.params["n"] % 2:
            assert f"RuntimeError: odd n={trial.params['n']}" in error
        else:
            assert "objective is nan" in error  # NaN is broken, with a message
    with pytest.raises(TooManyBrokenTrialsError):
        exp.workon(objective, on_error="count")  # refuses to start again


def test_a_return_value_that_is_not_a_result_is_an_error(api_db: str, name: str, runs: str) -> None:
    exp = build_experiment(name, space=SPACE, max_trials=3, storage=api_db, working_dir=runs)
    with pytest.raises(TrialFailedError, match="returned None, not an objective"):
        exp.workon(lambda x, n: None)
    assert [t.status for t in exp.trials()] == [TrialStatus.BROKEN]


def test_signature_is_checked_before_any_trial(api_db: str, name: str, runs: str) -> None:
    exp = build_experiment(name, space=SPACE, max_trials=3, storage=api_db, working_dir=runs)
    with pytest.raises(ConfigError, match="does not accept the dimension"):
        exp.workon(lambda x: x)
    with pytest.raises(ConfigError, match="requires 'epochs'"):
        exp.workon(lambda x, n, epochs: x)
    with pytest.raises(ConfigError, match="Unknown executor"):
        exp.workon(quadratic, executor="ray")
    assert exp.trials() == []
    assert exp.workon(lambda **params: params["x"] ** 2).completed == 3  # **kwargs is fine


WORKON_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from orionlite import build_experiment

    name, folder = sys.argv[1], sys.argv[2]

    def objective(x, n):
        # First call: wait until the other process also runs a trial (both really work).
        me = Path(folder, str(os.getpid()))
        if not me.exists():
            me.touch()
            deadline = time.monotonic() + 60
            while len(os.listdir(folder)) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
        time.sleep(0.01)
        return (x - 1) ** 2 + n

    exp = build_experiment(name, space={"x": "uniform(-5, 5)", "n": "choices([1, 2, 3, 4])"},
                           max_trials=16, working_dir=sys.argv[3])
    print(exp.workon(objective))
    """
)


def test_two_workon_processes_share_the_budget_exactly(
    api_db: str, name: str, runs: str, tmp_path: Path
) -> None:
    script = tmp_path / "tune.py"
    script.write_text(WORKON_SCRIPT)
    folder = tmp_path / "rendezvous"
    folder.mkdir()
    workers = [
        start_python(script, api_db, name, str(folder), runs, cwd=tmp_path) for _ in range(2)
    ]
    for worker in workers:
        assert worker.wait() == 0, worker.output
        assert "reason='done'" in worker.output
    exp = build_experiment(name, storage=api_db)
    assert_exact(exp, 16)
    assert distinct_workers(exp) == 2


def test_on_error_raise_stops_the_other_workers(
    sqlite_url: str, name: str, runs: str, tmp_path: Path
) -> None:
    """One worker raises; the other's running call is interrupted (it would otherwise
    sleep 60 s and complete its trial), and its trial goes back to the pool."""
    exp = build_experiment(name, space=SPACE, max_trials=4, storage=sqlite_url, working_dir=runs)
    fn = functools.partial(fail_once_then_sleep, folder=str(tmp_path), sleep_s=60.0)
    with pytest.raises(TrialFailedError) as failed:
        exp.workon(fn, n_workers=2, executor="process")
    assert isinstance(failed.value.__cause__, ValueError)  # carried back from the process
    counts = exp.stats.counts
    assert (counts["broken"], counts["interrupted"], counts["completed"]) == (1, 1, 0), counts
    assert counts["reserved"] == 0


SIGNAL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from orionlite import build_experiment

    def slow(x, n, trial):
        (trial.working_dir / "started").touch()
        time.sleep(60)
        return x

    if __name__ == "__main__":  # spawned workers import this file: build only here
        exp = build_experiment(sys.argv[1], space={"x": "uniform(-5, 5)", "n": "choices([1, 2])"},
                               max_trials=10, working_dir=sys.argv[2])
        try:
            exp.workon(slow, n_workers=int(sys.argv[3]), executor=sys.argv[4])
        except KeyboardInterrupt:
            print("KeyboardInterrupt reached the caller")
            sys.exit(130)
    """
)


@pytest.mark.parametrize(
    ("n_workers", "executor", "signum", "expected_exit"),
    [
        (1, "joblib", signal.SIGINT, 130),  # in this process: KeyboardInterrupt in fn
        (2, "process", signal.SIGTERM, 143),  # to the parent only: the stop channel
    ],
    ids=["ctrl-c-in-process", "sigterm-to-parent-of-processes"],
)
def test_signals_stop_workon_cleanly(
    sqlite_url: str,
    name: str,
    runs: str,
    tmp_path: Path,
    n_workers: int,
    executor: str,
    signum: int,
    expected_exit: int,
) -> None:
    script = tmp_path / "tune.py"
    script.write_text(SIGNAL_SCRIPT)
    tune = start_python(
        script, sqlite_url, name, runs, str(n_workers), executor, cwd=tmp_path, new_session=True
    )
    wait_for(
        lambda: len(list(Path(runs).glob("*/started"))) == n_workers or tune.process.poll(),
        "every worker to be inside its function",
    )
    if signum == signal.SIGINT:
        os.killpg(tune.process.pid, signum)  # Ctrl-C reaches the whole foreground group
    else:
        tune.process.send_signal(signum)
    assert tune.wait() == expected_exit, tune.output
    exp = build_experiment(name, storage=sqlite_url)
    statuses = [t.status for t in exp.trials()]
    assert statuses == [TrialStatus.INTERRUPTED] * n_workers, tune.output
    if signum == signal.SIGINT:
        assert "KeyboardInterrupt reached the caller" in tune.output
