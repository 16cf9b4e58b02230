"""Progress rows on both backends: written under the fencing token, read per attempt, and
the migration that adds them keeps every trial."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from orionlite.records import TrialRecord, TrialStatus
from orionlite.storage import Storage
from orionlite.storage.admin import upgrade_database
from orionlite.storage.engine import make_engine
from orionlite.storage.schema import HEAD_REVISION, alembic_config
from orionlite.storage.tables import metadata


def _experiment(storage: Storage) -> int:
    record = storage.create_experiment(
        {
            "name": "exp",
            "version": 1,
            "space": {},
            "algorithm": {"random": {}},
            "command": None,
            "max_trials": None,
            "max_broken": 3,
            "working_dir": None,
            "metadata": {},
        }
    )
    assert record is not None
    return record.id


def _reserve(storage: Storage, experiment_id: int, x: int, worker: str = "w1") -> TrialRecord:
    acquired = storage.acquire_trial(experiment_id, {"x": x}, f"h{x}", worker, 60.0)
    assert isinstance(acquired, TrialRecord)
    return acquired


def test_progress_is_stored_and_read_by_trial(storage: Storage) -> None:
    exp = _experiment(storage)
    first, second = _reserve(storage, exp, 1), _reserve(storage, exp, 2)
    assert storage.record_progress(first, [(1, 0.9), (2, 0.7)])
    assert storage.record_progress(first, [(2, 0.7), (3, 0.5)])  # a retried batch: no error
    assert storage.record_progress(second, [(1, 0.8)])
    assert storage.progress(exp) == {
        first.id: [(1, 0.9), (2, 0.7), (3, 0.5)],
        second.id: [(1, 0.8)],
    }
    assert storage.progress(exp, [second.id]) == {second.id: [(1, 0.8)]}
    # The rule's read: every other trial at the steps asked, never the trial itself.
    assert storage.values_at_steps(exp, [1, 3], first.id) == {1: [0.8], 3: []}
    assert storage.values_at_steps(exp, [1, 3], second.id) == {1: [0.9], 3: [0.5]}


def test_a_stale_attempt_cannot_write_and_its_old_values_no_longer_count(
    storage: Storage,
) -> None:
    exp = _experiment(storage)
    trial = _reserve(storage, exp, 1)
    assert storage.record_progress(trial, [(1, 0.9)])
    storage.finish_trial(trial, TrialStatus.INTERRUPTED)
    retaken = storage.reserve_trial(exp, "w2", 60.0)
    assert retaken is not None and retaken.attempt == trial.attempt + 1
    # The first attempt's worker comes back: refused, nothing stored.
    assert not storage.record_progress(trial, [(2, 0.1)])
    # The trial started over: only the current attempt's values are its progress, and
    # its first batch deletes the earlier attempt's.
    assert storage.progress(exp) == {}
    assert storage.record_progress(retaken, [(1, 0.5)])
    assert storage.progress(exp) == {trial.id: [(1, 0.5)]}
    assert storage.values_at_steps(exp, [1, 2], -1) == {1: [0.5], 2: []}
    storage.finish_trial(retaken, TrialStatus.PRUNED, objective=0.5)
    # A finished trial takes no more values, even from its last owner.
    assert not storage.record_progress(retaken, [(2, 0.4)])
    assert storage.progress(exp) == {trial.id: [(1, 0.5)]}


def test_pruned_trials_keep_their_budget_slot(storage: Storage) -> None:
    record = storage.create_experiment(
        {
            "name": "exp",
            "version": 1,
            "space": {},
            "algorithm": {"random": {}},
            "command": None,
            "max_trials": 2,
            "max_broken": 3,
            "working_dir": None,
            "metadata": {},
        }
    )
    assert record is not None
    first = _reserve(storage, record.id, 1)
    storage.finish_trial(first, TrialStatus.PRUNED, objective=0.3)
    second = _reserve(storage, record.id, 2)
    storage.finish_trial(second, TrialStatus.BROKEN, error="boom")
    third = _reserve(storage, record.id, 3)  # the broken trial's slot came back
    storage.finish_trial(third, TrialStatus.COMPLETED, objective=0.1)
    refused = storage.acquire_trial(record.id, {"x": 4}, "h4", "w1", 60.0)
    assert not isinstance(refused, TrialRecord)  # pruned + completed = max_trials
    assert storage.count_by_status(record.id)[TrialStatus.PRUNED] == 1


def _empty_url(db_url: str, tmp_path: Path) -> str:
    """A database without any table (the fixture's PostgreSQL ones come migrated)."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(db_url)
    with engine.begin() as connection:
        metadata.drop_all(connection)
        connection.execute(sa.text("DROP TABLE alembic_version"))
    engine.dispose()
    return db_url


def test_upgrading_from_0003_keeps_every_trial_and_adds_progress(
    db_url: str, tmp_path: Path
) -> None:
    from alembic import command

    url = _empty_url(db_url, tmp_path)
    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003_budget_shares")
        connection.execute(
            sa.text(
                "INSERT INTO experiments (name, version, space, algorithm, max_trials, "
                "max_broken, metadata, created_at) VALUES ('old', 1, '{}', "
                """'{"random": {}}', 3, 3, '{}', 0)"""
            )
        )
        for k, status in enumerate(["completed", "broken", "new", "interrupted"], 1):
            connection.execute(
                sa.text(
                    "INSERT INTO trials (experiment_id, params, params_hash, status, attempt, "
                    "retries, objective, created_at, change_seq) "
                    f"""VALUES (1, '{{"x": {k}}}', 'h{k}', '{status}', 1, 0, {k / 10}, 0, {k})"""
                )
            )
    engine.dispose()
    assert upgrade_database(url) == ("0003_budget_shares", HEAD_REVISION)
    storage = Storage(url)
    (record,) = storage.list_experiments()
    trials = storage.trials(record.id)
    assert [(t.params["x"], t.status.value, t.objective) for t in trials] == [
        (1, "completed", 0.1),
        (2, "broken", 0.2),
        (3, "new", 0.3),
        (4, "interrupted", 0.4),
    ]
    assert storage.progress(record.id) == {}
    storage.close()


def test_downgrading_turns_pruned_trials_into_completed_ones(db_url: str, tmp_path: Path) -> None:
    from alembic import command

    url = _empty_url(db_url, tmp_path)
    upgrade_database(url)
    storage = Storage(url)
    exp = _experiment(storage)
    trial = _reserve(storage, exp, 1)
    storage.record_progress(trial, [(1, 0.5)])
    storage.finish_trial(trial, TrialStatus.PRUNED, objective=0.5)
    storage.close()
    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004_operating")
        rows = connection.execute(sa.text("SELECT status, objective FROM trials")).all()
    engine.dispose()
    assert [tuple(row) for row in rows] == [("completed", 0.5)]
    assert upgrade_database(url) == ("0004_operating", HEAD_REVISION)


@pytest.mark.parametrize("status", list(TrialStatus))
def test_every_status_round_trips(storage: Storage, status: TrialStatus) -> None:
    assert TrialStatus(status.value) is status
    assert status.is_terminal == (
        status in (TrialStatus.COMPLETED, TrialStatus.BROKEN, TrialStatus.PRUNED)
    )
