"""Per-experiment trial numbers: assigned at creation on both backends, never twice, and
given to existing trials by the migration."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from trials import write_trial

from orionlite.creation import build_experiment
from orionlite.experiment import Experiment, ExperimentSettings
from orionlite.records import TrialRecord, TrialStatus
from orionlite.space import Space, hash_params
from orionlite.storage import Storage
from orionlite.storage.admin import upgrade_database
from orionlite.storage.engine import make_engine
from orionlite.storage.schema import HEAD_REVISION, alembic_config
from orionlite.storage.tables import metadata


def _numbers(storage: Storage, name: str) -> list[tuple[int, int]]:
    record = storage.get_experiment(name)
    assert record is not None
    return [(t.number or 0, t.id) for t in storage.trials(record.id)]


def test_two_experiments_racing_workers_number_their_trials_1_to_n(cli) -> None:
    script = write_trial(cli.cwd)
    command = ["-q", "--max-trials", "12", "--", "python", script, "--x~uniform(0, 1)"]
    procs = [cli.start("hunt", "-n", name, *command) for name in ("a", "b", "a", "b")]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    storage = Storage(cli.storage)
    try:
        for name in ("a", "b"):
            numbers = _numbers(storage, name)
            assert sorted(n for n, _ in numbers) == list(range(1, 13))
            # In creation order: a larger id never has a smaller number.
            assert [n for n, _ in sorted(numbers, key=lambda p: p[1])] == list(range(1, 13))
    finally:
        storage.close()
    status = json.loads(cli.run("orionlite", "status", "--json").stdout)
    assert all(1 <= s["best_trial_number"] <= 12 for s in status)
    export = json.loads(cli.run("orionlite", "export", "-n", "b").stdout)
    assert [r["number"] for r in export] == list(range(1, 13))
    assert all(r["id"] for r in export)  # the id stays available
    closing = cli.run("hunt", "-n", "b", "-q")
    assert "(trial " in closing.stderr and " of 'b')" in closing.stderr


def test_inserted_and_branched_trials_are_numbered(cli) -> None:
    script = write_trial(cli.cwd)
    base = ["--", "python", script, "--x~uniform(0, 1)"]
    assert cli.run("hunt", "-n", "p", "-q", "--max-trials", "3", *base).returncode == 0
    assert cli.run("orionlite", "set", "-n", "p", "--max-trials", "4").returncode == 0
    assert cli.run("orionlite", "insert", "-n", "p", "x=0.5").returncode == 0
    branch = cli.run(
        "hunt", "-n", "p", "-q", "--branch", "c", "--max-trials", "5", *base,
        "--y~uniform(0, 1, default_value=0.5)",
    )  # fmt: skip
    assert branch.returncode == 0, branch.stderr
    storage = Storage(cli.storage)
    try:
        assert sorted(n for n, _ in _numbers(storage, "p")) == [1, 2, 3, 4]
        # The child's copies are 1..3, its own trials go on from there.
        assert sorted(n for n, _ in _numbers(storage, "c")) == [1, 2, 3, 4, 5]
    finally:
        storage.close()


def _empty(db_url: str) -> str:
    if db_url.startswith("sqlite"):
        return db_url
    engine = make_engine(db_url)
    with engine.begin() as connection:
        metadata.drop_all(connection)
        connection.execute(sa.text("DROP TABLE alembic_version"))
    engine.dispose()
    return db_url


def test_the_migration_numbers_existing_trials(db_url: str, tmp_path: Path) -> None:
    from alembic import command

    url = _empty(db_url)
    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003_budget_shares")
        for name in ("one", "two"):
            connection.execute(
                sa.text(
                    "INSERT INTO experiments (name, version, space, algorithm, max_trials, "
                    f"max_broken, metadata, created_at) VALUES ('{name}', 1, '{{}}', "
                    """'{"random": {}}', NULL, 3, '{}', 0)"""
                )
            )
        for experiment in (1, 2):  # no limit: every share without a cap
            for share in range(32):
                connection.execute(
                    sa.text(
                        "INSERT INTO budget_shares (experiment_id, share, used, cap) "
                        f"VALUES ({experiment}, {share}, 0, NULL)"
                    )
                )
        # Interleaved: ids 1..6 alternate between the two experiments.
        for i in range(6):
            connection.execute(
                sa.text(
                    "INSERT INTO trials (experiment_id, params, params_hash, status, attempt, "
                    "retries, objective, created_at, change_seq) "
                    f"""VALUES ({1 + i % 2}, '{{"x": {i}}}', 'h{i}', 'completed', 1, 0, 0.5, """
                    "0, 1)"
                )
            )
    engine.dispose()
    assert upgrade_database(url) == ("0003_budget_shares", HEAD_REVISION)
    storage = Storage(url)
    try:
        assert _numbers(storage, "one") == [(1, 1), (2, 3), (3, 5)]
        assert _numbers(storage, "two") == [(1, 2), (2, 4), (3, 6)]
        record = storage.get_experiment("one")
        assert record is not None and record.broken_baseline == 0
        created = storage.acquire_trial(record.id, {"x": 9}, "h9", "w", 60.0)
        assert getattr(created, "number", None) == 4  # numbering goes on after the migration
    finally:
        storage.close()


def _experiment(storage: Storage, name: str) -> Experiment:
    settings = ExperimentSettings(name=name, space=Space.from_priors({"x": "uniform(0, 1)"}))
    return build_experiment(storage, settings)


def _completed(experiment: Experiment, x: float) -> TrialRecord:
    trial = experiment.storage.acquire_trial(
        experiment.id, {"x": x}, hash_params({"x": x}), "w", 60.0
    )
    assert isinstance(trial, TrialRecord)
    results = [{"name": "loss", "type": "objective", "value": x}]
    experiment.storage.finish_trial(trial, TrialStatus.COMPLETED, objective=x, results=results)
    return trial


def test_plots_and_the_progress_line_name_trials_by_number(storage: Storage) -> None:
    from orionlite.plotting import completed_trials, regret
    from orionlite.progress_line import ExperimentProgress as ProgressMonitor
    from orionlite.progress_line import format_line

    first = _experiment(storage, "first")
    _completed(first, 0.1)
    _completed(first, 0.2)
    second = _experiment(storage, "second")
    _completed(second, 0.9)
    best = _completed(second, 0.3)
    assert (best.id, best.number) == (4, 2)
    assert regret(completed_trials(second)).trial_ids == [1, 2]
    monitor = ProgressMonitor(storage.url, "second")
    try:
        snapshot = monitor.snapshot()
    finally:
        monitor.close()
    assert snapshot is not None and "(trial 2)" in format_line(snapshot)
