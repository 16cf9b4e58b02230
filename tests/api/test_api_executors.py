"""``workon(n_workers=4)`` with each executor (SPEC §2.1, §2.2, §4): four workers really
run side by side, exactly max_trials trials complete, and no point is run twice."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import SPACE, assert_exact, distinct_workers, rendezvous_quadratic

from orionlite import build_experiment
from orionlite.errors import MissingExtraError

MAX_TRIALS = 12
WORKERS = 4


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """One LocalCluster for the module (starting one takes a while): 2 worker processes
    with 2 threads each, so 4 orionlite workers run at once, 2 per process."""
    distributed = pytest.importorskip("distributed", reason="executor='dask' needs the dask extra")
    # No dashboard, and the scheduler's HTTP server on a free port: parallel test
    # processes would otherwise all ask for 8787, and the warning fails the test.
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"},
    )
    client = distributed.Client(cluster)  # also the current client, as in a user's script
    yield client
    client.close()
    cluster.close()


def _rendezvous(tmp_path: Path) -> Any:
    folder = tmp_path / "rendezvous"
    folder.mkdir()
    return functools.partial(rendezvous_quadratic, folder=str(folder), parties=WORKERS)


@pytest.mark.parametrize("executor", ["joblib", "process"])
def test_local_executors_run_four_workers_exactly(
    api_db: str, name: str, runs: str, tmp_path: Path, executor: str
) -> None:
    exp = build_experiment(name, space=SPACE, storage=api_db, working_dir=runs)
    result = exp.workon(
        _rendezvous(tmp_path), max_trials=MAX_TRIALS, n_workers=WORKERS, executor=executor
    )
    assert (result.reason, result.workers, result.completed) == ("done", WORKERS, MAX_TRIALS)
    assert_exact(exp, MAX_TRIALS)
    assert distinct_workers(exp) == WORKERS
    pids = {t.record.reserved_by.split(":")[1] for t in exp.trials() if t.record}  # type: ignore[union-attr]
    assert str(os.getpid()) not in pids  # they ran in worker processes, not here


def test_dask_cluster_runs_four_workers_exactly(
    api_db: str, name: str, runs: str, tmp_path: Path, dask_client: Any
) -> None:
    exp = build_experiment(name, space=SPACE, storage=api_db, working_dir=runs)
    result = exp.workon(
        _rendezvous(tmp_path),
        max_trials=MAX_TRIALS,
        n_workers=WORKERS,
        executor="dask",
        client=dask_client,
    )
    assert (result.reason, result.completed) == ("done", MAX_TRIALS)
    assert_exact(exp, MAX_TRIALS)
    assert distinct_workers(exp) == WORKERS
    cluster_pids = set(dask_client.run(os.getpid).values())
    pids = {int(t.record.reserved_by.split(":")[1]) for t in exp.trials() if t.record}  # type: ignore[union-attr]
    assert pids == cluster_pids  # two workers in each of the two Dask processes


def test_dask_uses_the_current_client_and_carries_exceptions_back(
    api_db: str, name: str, runs: str, dask_client: Any
) -> None:
    from orionlite.errors import TrialFailedError

    exp = build_experiment(name, space=SPACE, max_trials=3, storage=api_db, working_dir=runs)

    def objective(x: float, n: int) -> float:
        raise KeyError(f"no checkpoint for n={n}")

    with pytest.raises(TrialFailedError) as failed:
        exp.workon(objective, n_workers=1, executor="dask")  # no client=: the current one
    assert isinstance(failed.value.__cause__, KeyError)
    (broken,) = exp.trials(status="broken")
    assert "KeyError" in (broken.error or "")
    worker_pid = int(broken.record.reserved_by.split(":")[1])  # type: ignore[union-attr]
    assert worker_pid in set(dask_client.run(os.getpid).values())


def test_dask_missing_says_which_extra_to_install(
    api_db: str, name: str, runs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    exp = build_experiment(name, space=SPACE, max_trials=2, storage=api_db, working_dir=runs)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(MissingExtraError) as missing:
        exp.workon(lambda x, n: x, n_workers=2, executor="dask")
    assert "orionlite[dask]" in (missing.value.hint or "")
    assert exp.trials() == []


def test_relative_paths_mean_the_callers_folder(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dask_client: Any
) -> None:
    """A relative SQLite file and working_dir are where workon is called, although the
    Dask workers (started by the module fixture) sit in another folder."""
    monkeypatch.chdir(tmp_path)
    exp = build_experiment(name, space=SPACE, max_trials=4, storage="sqlite:///relative.db")

    def where(x: float, n: int, trial: Any) -> float:
        (trial.working_dir / "here").touch()
        return x

    assert exp.workon(where, n_workers=2, executor="dask", client=dask_client).completed == 4
    folders = sorted(p.parent.name for p in tmp_path.glob("orionlite-runs/*/*/here"))
    assert folders == sorted(str(t.id) for t in exp.trials())
    assert (tmp_path / "relative.db").exists()
