"""The dashboard's read-only storage on both backends: it cannot write, and its trials
table, samples and change reads give what the pages promise."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from orionlite.creation import ExperimentSettings, build_experiment
from orionlite.records import TrialRecord, TrialStatus
from orionlite.space import Space, hash_params
from orionlite.storage import Storage, browse
from orionlite.storage.browse import ReadOnlyStorage, TrialQuery

OPTIONS = ("relu", "tanh", "gelu")


def _add(storage: Storage, experiment_id: int, i: int, status: TrialStatus) -> TrialRecord:
    params = {"x": round((i * 0.37) % 1.0, 4), "opt": OPTIONS[i % 3]}
    worker = f"node{i % 2}:{100 + i}:abcd"
    created = storage.acquire_trial(experiment_id, params, hash_params(params), worker, 600.0)
    assert isinstance(created, TrialRecord)
    if status is not TrialStatus.RESERVED:
        objective = (params["x"] - 0.5) ** 2 if status is TrialStatus.COMPLETED else None
        results = [{"name": "loss", "type": "objective", "value": objective}] if objective else None
        storage.finish_trial(
            created,
            status,
            objective=objective,
            results=results,
            error="boom" if objective is None else None,
        )
    found = storage.get_trial(created.id)
    assert found is not None
    return found


@pytest.fixture
def filled(storage: Storage) -> tuple[Storage, int, list[TrialRecord]]:
    """25 trials: 21 completed, 3 broken, 1 reserved by a live worker."""
    space = Space.from_priors({"x": "uniform(0, 1)", "opt": "choices(['relu', 'tanh', 'gelu'])"})
    experiment = build_experiment(storage, ExperimentSettings(name="exp", space=space))
    trials = []
    for i in range(25):
        status = TrialStatus.BROKEN if i in (3, 9, 15) else TrialStatus.COMPLETED
        trials.append(_add(storage, experiment.id, i, TrialStatus.RESERVED if i == 24 else status))
    return storage, experiment.id, trials


def test_the_readonly_engine_cannot_write(storage: Storage, db_url: str) -> None:
    storage.list_experiments()  # a database at head
    reader = ReadOnlyStorage(db_url)
    reader.check()
    with reader.engine.connect() as connection:
        for statement in (
            "CREATE TABLE intruder (x integer)",
            "DELETE FROM experiments",
            "UPDATE alembic_version SET version_num = 'x'",
        ):
            with pytest.raises(sa.exc.DBAPIError, match=r"(?i)read[- ]?only"):
                connection.execute(sa.text(statement))
        if reader.backend.name == "postgresql":
            setting = connection.execute(sa.text("SHOW default_transaction_read_only")).scalar()
            assert setting == "on"
    reader.close()


def test_trials_table_is_sorted_filtered_and_paged_by_the_database(
    filled: tuple[Storage, int, list[TrialRecord]], db_url: str
) -> None:
    _, experiment_id, trials = filled
    reader = ReadOnlyStorage(db_url)
    page = reader.trials_page(experiment_id, TrialQuery(sort="objective", per_page=10))
    completed = sorted(
        (t for t in trials if t.objective is not None), key=lambda t: (t.objective, t.id)
    )
    assert page.total == 25 and page.pages == 3
    assert [t.id for t in page.trials] == [t.id for t in completed[:10]]
    last = reader.trials_page(experiment_id, TrialQuery(sort="objective", per_page=10, page=3))
    assert len(last.trials) == 5 and all(t.objective is None for t in last.trials[1:])

    by_x = reader.trials_page(
        experiment_id, TrialQuery(sort="param:x", descending=True, per_page=100)
    )
    assert [t.params["x"] for t in by_x.trials] == sorted(
        (t.params["x"] for t in trials), reverse=True
    )
    by_opt = reader.trials_page(
        experiment_id, TrialQuery(sort="param:opt", sort_numeric=False, per_page=100)
    )
    assert [t.params["opt"] for t in by_opt.trials] == sorted(t.params["opt"] for t in trials)

    ranged = reader.trials_page(
        experiment_id, TrialQuery(param="x", low=0.2, high=0.6, statuses=("completed",))
    )
    expected = {
        t.id for t in trials if 0.2 <= t.params["x"] <= 0.6 and t.status is TrialStatus.COMPLETED
    }
    assert {t.id for t in ranged.trials} == expected and ranged.total == len(expected)

    text = reader.trials_page(experiment_id, TrialQuery(text="TANH", per_page=100))
    assert {t.id for t in text.trials} == {t.id for t in trials if t.params["opt"] == "tanh"}
    worker = reader.trials_page(experiment_id, TrialQuery(text="node1:", per_page=100))
    assert {t.id for t in worker.trials} == {
        t.id for t in trials if t.reserved_by.startswith("node1:")
    }
    assert reader.trials_page(experiment_id, TrialQuery(text="50%_x")).total == 0
    one = reader.trials_page(experiment_id, TrialQuery(text=str(trials[4].id)))
    assert trials[4].id in {t.id for t in one.trials}
    reader.close()


def test_overview_sample_and_changes(
    filled: tuple[Storage, int, list[TrialRecord]], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage, experiment_id, trials = filled
    reader = ReadOnlyStorage(db_url)
    (overview,) = reader.overview()
    assert overview.counts == {
        **{status.value: 0 for status in TrialStatus},
        "completed": 21,
        "broken": 3,
        "reserved": 1,
    }
    best = min(t.objective for t in trials if t.objective is not None)
    assert overview.best_objective == pytest.approx(best)
    assert overview.live_workers == 1
    assert overview.last_activity is not None

    sample = reader.completed_sample(experiment_id, limit=6, best=2)
    assert len(sample) <= 6
    ranked = sorted((t for t in trials if t.objective is not None), key=lambda t: t.objective)
    assert {ranked[0].id, ranked[1].id} <= {t.id for t in sample}

    changed, mark = reader.changed("")
    assert changed
    # The mark may move (PostgreSQL's is the server's transaction horizon, which other
    # databases advance too); nothing changed here.
    assert reader.changed(mark)[0] is False
    since = reader.watermark(experiment_id)
    assert reader.changes(experiment_id, since).trials == []
    added = _add(storage, experiment_id, 99, TrialStatus.COMPLETED)
    changes = reader.changes(experiment_id, since)
    assert [t.id for t in changes.trials] == [added.id]
    assert changes.counts["completed"] == 22
    assert reader.changes(experiment_id, changes.watermark).trials == []
    assert reader.changed(mark)[0]

    # Past MAX_CHANGES changed rows, nothing is read but the counts and a new watermark.
    monkeypatch.setattr(browse, "MAX_CHANGES", 1)
    since = changes.watermark
    for i in (100, 101):
        _add(storage, experiment_id, i, TrialStatus.COMPLETED)
    overflow = reader.changes(experiment_id, since)
    assert overflow.overflow and overflow.trials == []
    assert overflow.counts["completed"] == 24
    assert reader.changes(experiment_id, overflow.watermark).trials == []
    reader.close()


def test_plots_draw_a_bounded_sample_of_a_large_history() -> None:
    import types

    from orionlite import plotting, sampling

    space = Space.from_priors({"x": "uniform(0, 1)"})
    trials = [
        TrialRecord(i, 1, {"x": (i * 0.618) % 1}, str(i), TrialStatus.COMPLETED, objective=float(i))
        for i in range(1, 2501)
    ]
    experiment: Any = types.SimpleNamespace(space=space, name="big")
    figure = plotting._PLOTLY["parallel"](experiment, trials, "big")
    shown = figure.data[0].dimensions[-1]["values"]
    assert len(shown) == sampling.MAX_LINES
    assert set(range(1, sampling.BEST_LINES + 1)) <= set(shown)  # the best are all drawn
    assert plotting.drawn(len(shown), len(trials)).startswith("1000 of 2500 completed trials")
    assert len(sampling.for_fit(trials)) == min(len(trials), sampling.MAX_FIT)
    assert sampling.evenly(list(range(10)), 5) == [0, 2, 4, 6, 8]
