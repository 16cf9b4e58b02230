"""Experiment versions and branches (SPEC §6): a child starts with the parent's completed
trials that fit its space; incompatible changes are refused with a clear message."""

from __future__ import annotations

import json
from typing import Any

import pytest
from ux_helpers import add_trial, make_experiment

from orionlite.creation import build_experiment
from orionlite.errors import ExperimentNotFoundError, SpaceError
from orionlite.experiment import Experiment, ExperimentSettings, Wait
from orionlite.records import TrialStatus
from orionlite.space import Space


@pytest.fixture
def parent(storage: Any) -> Experiment:
    return _parent(storage)


@pytest.fixture
def sqlite_parent(sqlite_storage: Any) -> Experiment:
    return _parent(sqlite_storage)


def _parent(storage: Any) -> Experiment:
    experiment = make_experiment(
        storage, "parent", {"x": "uniform(0, 1)", "y": "choices(['a', 'b'])"}, max_trials=10
    )
    add_trial(experiment, {"x": 0.1, "y": "a"}, 1.0)
    add_trial(experiment, {"x": 0.5, "y": "b"}, 0.5)
    add_trial(experiment, {"x": 0.5, "y": "a"}, 0.7)  # same as the previous one without y
    add_trial(experiment, {"x": 0.9, "y": "a"}, 0.2)  # outside the child's narrower x
    add_trial(experiment, {"x": 0.3, "y": "b"}, None, status=TrialStatus.BROKEN)
    add_trial(experiment, {"x": 0.2, "y": "b"}, None, status=TrialStatus.RESERVED)
    return experiment


def branch(storage: Any, space: dict[str, str], **settings: Any) -> Experiment:
    values: dict[str, Any] = {"name": "parent", "branch": "child", **settings}
    return build_experiment(storage, ExperimentSettings(space=Space.from_priors(space), **values))


def test_child_keeps_the_completed_trials_that_fit(storage: Any, parent: Experiment) -> None:
    child = branch(storage, {"x": "uniform(0, 0.6)", "z": "uniform(0, 1, default_value=0.25)"})
    assert child.name == "child" and child.version == 1
    assert child.record.parent_id == parent.id
    trials = storage.trials(child.id)
    # y dropped, z takes its default; x=0.9 is outside; the broken and the running trials
    # are not results; {x: 0.5} is copied once (the first one, objective 0.5).
    assert [(t.params, t.objective, t.status) for t in trials] == [
        ({"x": 0.1, "z": 0.25}, 1.0, TrialStatus.COMPLETED),
        ({"x": 0.5, "z": 0.25}, 0.5, TrialStatus.COMPLETED),
    ]
    source = storage.trials(parent.id)
    assert trials[0].results == source[0].results
    assert (
        trials[0].ended_at == source[0].ended_at and trials[0].reserved_by == source[0].reserved_by
    )
    assert {t.id for t in trials}.isdisjoint(t.id for t in source)
    # Copies count against max_trials; by default the child gets as many new trials as
    # the parent had.
    assert child.max_trials == 10 + 2
    assert len(storage.trials(parent.id)) == 6, "the parent is untouched"


def test_copies_count_against_an_explicit_budget(storage: Any, parent: Experiment) -> None:
    child = branch(storage, {"x": "uniform(0, 1)"}, max_trials=4)  # 3 distinct x values
    assert len(storage.trials(child.id)) == 3
    first = child.acquire("worker-1", 60.0)
    assert not isinstance(first, Wait) and first.params["x"] not in (0.1, 0.5, 0.9)
    # the 4th slot is held by worker-1
    assert child.acquire("worker-2", 60.0) is Wait.FINISHING


def test_new_dimension_without_default_is_refused(
    sqlite_storage: Any, sqlite_parent: Experiment
) -> None:
    with pytest.raises(SpaceError) as caught:
        branch(
            sqlite_storage,
            {"x": "uniform(0, 1)", "y": "choices(['a', 'b'])", "lr": "uniform(0, 1)"},
        )
    assert caught.value.message == (
        "Cannot branch 'parent' v1 into 'child': the new dimension 'lr' has no "
        "default_value, so the parent's trials have no value for it."
    )
    assert caught.value.hint == (
        "Give each new dimension a default_value, e.g. --lr~'uniform(0, 1, default_value=...)'"
    )
    assert sqlite_storage.get_experiment("child") is None, "nothing was created"


def test_the_same_branch_line_joins_the_child(
    sqlite_storage: Any, sqlite_parent: Experiment
) -> None:
    space = {"x": "uniform(0, 1)"}
    first = branch(sqlite_storage, space)
    again = branch(sqlite_storage, space)  # a second worker started with the same command
    assert again.id == first.id and len(sqlite_storage.trials(first.id)) == 3
    with pytest.raises(Exception, match="exists with a different configuration"):
        branch(sqlite_storage, {"x": "uniform(0, 2)"})


def test_branching_into_the_same_name_makes_the_next_version(
    sqlite_storage: Any, sqlite_parent: Experiment
) -> None:
    space = {"x": "uniform(0, 1)", "y": "choices(['a', 'b', 'c'])"}
    second = branch(sqlite_storage, space, branch="parent")
    assert (second.name, second.version, second.record.parent_id) == ("parent", 2, sqlite_parent.id)
    assert len(sqlite_storage.trials(second.id)) == 4
    assert branch(sqlite_storage, space, branch="parent").id == second.id, "joined, not v3"
    newest = build_experiment(sqlite_storage, ExperimentSettings(name="parent"))
    assert newest.version == 2
    first = build_experiment(sqlite_storage, ExperimentSettings(name="parent", version=1))
    assert first.id == sqlite_parent.id


def test_branch_of_a_missing_experiment(sqlite_storage: Any) -> None:
    with pytest.raises(ExperimentNotFoundError, match="Cannot branch from experiment 'nope'"):
        build_experiment(
            sqlite_storage,
            ExperimentSettings(
                name="nope", branch="child", space=Space.from_priors({"x": "uniform(0, 1)"})
            ),
        )


def test_equal_priors_written_differently_join(
    sqlite_storage: Any, sqlite_parent: Experiment
) -> None:
    same = Space.from_priors({"x": "uniform(0.0, 1.0)", "y": "choices(['a', 'b'])"})
    assert (
        build_experiment(sqlite_storage, ExperimentSettings(name="parent", space=same)).id
        == sqlite_parent.id
    )


SCRIPT = "import sys\nfrom orionlite import report_objective\nreport_objective(0.5)\n"


def test_cli_conflict_message_and_list_tree(cli: Any) -> None:
    (cli.cwd / "t.py").write_text(SCRIPT)
    first = cli.run(
        "hunt", "-n", "exp", "--max-trials", "2", "--", cli.python, "t.py", "--x~uniform(0, 1)"
    )
    assert first.returncode == 0, first.stderr
    changed = cli.run(
        "hunt", "-n", "exp", "--", cli.python, "t.py", "--x~uniform(0, 2)", "--y~choices([1, 2])"
    )
    assert changed.returncode == 1
    lines = changed.stderr.splitlines()
    assert lines[0] == "Error: Experiment 'exp' version 1 exists with a different configuration:"
    assert lines[1].split() == ["what", "stored", "(v1)", "given"]
    assert lines[2].split() == ["dimension", "x", "uniform(0,", "1)", "uniform(0,", "2)"]
    assert lines[3].split() == ["dimension", "y", "(none)", "choices([1,", "2])"]
    assert lines[1].index("given") == lines[2].index("uniform(0, 2)"), "columns line up"
    assert "command:" in changed.stderr
    assert lines[-1].startswith("Start a child experiment that keeps the compatible trials with")
    branched = cli.run(
        "hunt",
        "-n",
        "exp",
        "--branch",
        "exp-y",
        "--max-trials",
        "3",
        "--",
        cli.python,
        "t.py",
        "--x~uniform(0, 2)",
        "--y~choices([1, 2], default_value=1)",
    )
    assert branched.returncode == 0, branched.stderr
    assert "'exp-y' v1 is done: 3 of 3 trials completed" in branched.stderr
    listed = cli.run("orionlite", "list")
    rows = [line.split() for line in listed.stdout.splitlines() if line.strip()]
    assert rows[2:] == [["exp", "1", "2", "0.5"], ["└─", "exp-y", "1", "3", "0.5"]]
    as_json = json.loads(cli.run("orionlite", "list", "--json").stdout)
    assert as_json[1]["parent"] == {"name": "exp", "version": 1}
