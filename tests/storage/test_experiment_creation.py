"""Creating an experiment whose (name, version) another worker took first: None, no error
raised by the database (on PostgreSQL it would be logged; see tests/faults/test_quiet_log.py)."""

from __future__ import annotations

from typing import Any

from orionlite.records import TrialRecord
from orionlite.storage import Storage


def _values(name: str, max_trials: int | None = 5) -> dict[str, Any]:
    return {
        "name": name,
        "version": 1,
        "space": {},
        "algorithm": {"random": {"seed": 1}},
        "command": None,
        "max_trials": max_trials,
        "max_broken": 3,
        "working_dir": None,
        "metadata": {},
    }


def test_a_taken_name_and_version_is_none_and_leaves_the_first_alone(storage: Storage) -> None:
    first = storage.create_experiment(_values("exp"))
    assert first is not None
    assert storage.create_experiment(_values("exp", max_trials=99)) is None
    (only,) = storage.list_experiments()
    assert only.id == first.id and only.max_trials == 5
    # The first one's budget and numbers work as before.
    trial = storage.acquire_trial(first.id, {"x": 1}, "h1", "w", 60.0)
    assert isinstance(trial, TrialRecord) and trial.number == 1


def test_a_taken_branch_is_none_and_copies_nothing(storage: Storage) -> None:
    parent = storage.create_experiment(_values("parent"))
    assert parent is not None
    child = storage.create_branch({**_values("child"), "parent_id": parent.id}, [])
    assert child is not None
    again = storage.create_branch({**_values("child"), "parent_id": parent.id}, [])
    assert again is None
    assert storage.trials(child.id) == []
    assert [e.name for e in storage.list_experiments()] == ["child", "parent"]
