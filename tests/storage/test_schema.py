"""Schema creation, migrations and revision checks on both backends."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from orionlite.errors import SchemaVersionError
from orionlite.records import TrialRecord
from orionlite.storage import CreateRefusal, Storage
from orionlite.storage.admin import check_database, upgrade_database
from orionlite.storage.engine import make_engine
from orionlite.storage.schema import HEAD_REVISION, alembic_config, migrations_path
from orionlite.storage.tables import metadata


def _acquire(storage: Storage, experiment_id: int, x: int) -> TrialRecord | CreateRefusal:
    return storage.acquire_trial(experiment_id, {"x": x}, f"hash-{x}", "w", 60.0)


def _empty_url(db_url: str, tmp_path: Path) -> str:
    """A database without any table (the fixture's PostgreSQL ones come migrated)."""
    if db_url.startswith("sqlite"):
        return db_url
    engine = make_engine(db_url)
    with engine.begin() as connection:
        metadata.drop_all(connection)
        connection.execute(sa.text("DROP TABLE alembic_version"))
    engine.dispose()
    return db_url


def test_alembic_head_is_the_revision_orionlite_expects() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite:///unused.db"))
    assert script.get_current_head() == HEAD_REVISION


def test_migrations_produce_exactly_the_declared_tables(db_url: str, tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    url = _empty_url(db_url, tmp_path)
    before, after = upgrade_database(url)
    assert (before, after) == (None, HEAD_REVISION)
    engine = make_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []


def test_alembic_itself_takes_the_urls_orionlite_takes(db_url: str, tmp_path: Path) -> None:
    """Alembic's own commands (no connection handed over) accept what --storage accepts:
    mysql:// without a driver name, and orionlite's ?pgbouncer=true on PostgreSQL."""
    from alembic import command

    url = _empty_url(db_url, tmp_path)
    if url.startswith("postgresql"):
        url += "?pgbouncer=true"
    command.upgrade(alembic_config(url), "head")
    assert check_database(url)[0] == HEAD_REVISION


def test_new_database_is_created_at_head_on_first_use(db_url: str, tmp_path: Path) -> None:
    url = _empty_url(db_url, tmp_path)
    storage = Storage(url)
    assert storage.list_experiments() == []
    storage.close()
    assert check_database(url) == (HEAD_REVISION, HEAD_REVISION)
    assert upgrade_database(url) == (HEAD_REVISION, HEAD_REVISION)


def test_database_at_another_revision_names_the_fixing_command(db_url: str, tmp_path: Path) -> None:
    storage = Storage(db_url)
    storage.list_experiments()
    storage.close()
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(SchemaVersionError, match="written by a newer orionlite") as info:
        Storage(db_url).list_experiments()
    assert info.value.hint is not None and "pip install -U orionlite" in info.value.hint


def test_older_revision_points_to_db_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    storage = Storage(url)
    storage.list_experiments()
    storage.close()
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM alembic_version"))
    engine.dispose()
    with pytest.raises(SchemaVersionError) as info:
        Storage(url).list_experiments()
    assert info.value.hint == f"Run: orionlite db upgrade --storage {url}"


def test_foreign_tables_are_left_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE precious (x INTEGER)"))
        connection.execute(sa.text("INSERT INTO precious VALUES (42)"))
    engine.dispose()
    with pytest.raises(SchemaVersionError, match="revision None"):
        Storage(url).list_experiments()
    engine = make_engine(url)
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT x FROM precious")).scalar() == 42
    engine.dispose()


def test_migration_scripts_are_found() -> None:
    assert (migrations_path() / "versions" / f"{HEAD_REVISION}.py").is_file()


def test_upgrading_from_the_first_revision_keeps_the_data(db_url: str, tmp_path: Path) -> None:
    from alembic import command

    url = _empty_url(db_url, tmp_path)
    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001_initial")
        connection.execute(
            sa.text(
                "INSERT INTO experiments (name, version, space, algorithm, max_trials, "
                "max_broken, metadata, budget_used, created_at) VALUES ('old', 1, '{}', "
                """'{"random": {}}', 3, 3, '{}', 1, 0)"""
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO trials (experiment_id, params, params_hash, status, attempt, "
                "retries, objective, created_at, change_seq) "
                """VALUES (1, '{"x": 1}', 'h', 'completed', 1, 0, 0.5, 0, 1)"""
            )
        )
    engine.dispose()
    with pytest.raises(SchemaVersionError, match="at schema revision 0001_initial") as info:
        Storage(url).list_experiments()
    assert info.value.hint == f"Run: orionlite db upgrade --storage {url}"

    assert upgrade_database(url) == ("0001_initial", HEAD_REVISION)
    storage = Storage(url)
    (record,) = storage.list_experiments()
    (trial,) = storage.trials(record.id)
    assert (record.name, trial.params, trial.objective) == ("old", {"x": 1}, 0.5)
    # The slot the old trial took (budget_used) still counts: two of max_trials=3 are left.
    assert all(isinstance(_acquire(storage, record.id, x), TrialRecord) for x in (2, 3))
    assert _acquire(storage, record.id, 4) is CreateRefusal.BUDGET_SPENT
    storage.close()


def test_the_budget_survives_a_downgrade_and_upgrade(
    db_url: str, tmp_path: Path, new_experiment: Callable[..., int]
) -> None:
    """0003_budget_shares and 0007_budget_counter both ways: the slots taken move from
    ``budget_used`` to the shares and back."""
    from alembic import command

    url = _empty_url(db_url, tmp_path)
    upgrade_database(url)
    storage = Storage(url)
    exp = new_experiment(storage, max_trials=5)
    assert all(isinstance(_acquire(storage, exp, x), TrialRecord) for x in (1, 2))
    storage.close()
    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002_unfinished_index")
        used = connection.execute(sa.text("SELECT budget_used FROM experiments")).scalar()
    engine.dispose()
    assert used == 2
    assert upgrade_database(url) == ("0002_unfinished_index", HEAD_REVISION)
    storage = Storage(url)
    assert all(isinstance(_acquire(storage, exp, x), TrialRecord) for x in (3, 4, 5))
    assert _acquire(storage, exp, 6) is CreateRefusal.BUDGET_SPENT
    storage.close()


def test_experiments_from_before_objectives_are_one_minimised_objective(
    db_url: str, tmp_path: Path, new_experiment: Callable[..., int]
) -> None:
    """0004_objectives: an experiment of 0003 comes back with objectives NULL, which
    means one minimised objective; the downgrade drops the column again."""
    from alembic import command

    from orionlite.experiment import open_experiment
    from orionlite.objectives import Objectives
    from orionlite.space import Space

    url = _empty_url(db_url, tmp_path)
    upgrade_database(url)
    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003_budget_shares")
    engine.dispose()
    assert check_database(url)[0] == "0003_budget_shares"
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO experiments (name, version, space, algorithm, max_broken, "
                "metadata, created_at) VALUES ('old', 1, :space, :algorithm, 3, '{}', 0)"
            ),
            {
                "space": json.dumps(Space.from_priors({"x": "uniform(0, 1)"}).to_json()),
                "algorithm": '{"random": {"seed": null}}',
            },
        )
    engine.dispose()
    assert upgrade_database(url) == ("0003_budget_shares", HEAD_REVISION)
    storage = Storage(url)
    try:
        experiment = open_experiment(storage, "old")
        assert experiment.record.objectives is None
        assert experiment.objectives == Objectives()
    finally:
        storage.close()
