"""Schema versions: create a new database at head, check others, upgrade with Alembic.

Start-up must stay cheap, so the check reads ``alembic_version`` directly and Alembic
itself is imported only by ``orionlite db upgrade``. A new, empty database is created from
``tables.metadata`` and stamped at head under a lock, because many workers start together.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from orionlite.errors import SchemaVersionError
from orionlite.storage.engine import transaction
from orionlite.storage.tables import metadata

if TYPE_CHECKING:
    from alembic.config import Config

# The newest migration in migrations/versions; a test checks it is Alembic's head.
HEAD_REVISION = "0007_budget_counter"
KNOWN_REVISIONS = (
    "0001_initial",
    "0002_unfinished_index",
    "0003_budget_shares",
    "0004_operating",
    "0005_trial_progress",
    "0006_objectives",
    "0007_budget_counter",
)
# Serialises creations and upgrades of the schema (many workers start together): the
# backend's lock (``Backend.schema_lock``), taken on the connection that changes it.
SchemaLock = Callable[[sa.Connection], AbstractContextManager[None]]

version_table = sa.Table(
    "alembic_version",
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), primary_key=True),
)


def current_revision(connection: sa.Connection) -> str | None:
    """The stamped revision, or None for a database orionlite never touched."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(sa.select(version_table.c.version_num)).scalar()


def ensure_schema(engine: sa.Engine, display_url: str, lock: SchemaLock) -> None:
    """Create an empty database at head, or fail clearly if it is at another revision."""
    with engine.connect() as connection:
        revision = current_revision(connection)
    if revision is None:
        revision = _create_at_head(engine, lock)
    check_revision(revision, display_url)


def check_revision(revision: str | None, display_url: str) -> None:
    if revision == HEAD_REVISION:
        return
    if revision in KNOWN_REVISIONS or revision is None:
        raise SchemaVersionError(
            f"The database {display_url} is at schema revision {revision}, "
            f"this orionlite expects {HEAD_REVISION}.",
            hint=f"Run: orionlite db upgrade --storage {display_url}",
        )
    raise SchemaVersionError(
        f"The database {display_url} is at schema revision {revision}, which this "
        f"orionlite does not know: it was written by a newer orionlite.",
        hint="Upgrade orionlite (pip install -U orionlite) on this machine.",
    )


def _create_at_head(engine: sa.Engine, lock: SchemaLock) -> str | None:
    with (
        engine.connect() as connection,
        transaction(connection, write=True),
        lock(connection),
    ):
        revision = current_revision(connection)
        if revision is not None:  # another worker created it while we waited
            return revision
        if sa.inspect(connection).get_table_names():
            return None  # tables of something else: leave them alone, report below
        metadata.create_all(connection)
        version_table.create(connection)
        connection.execute(version_table.insert().values(version_num=HEAD_REVISION))
        return HEAD_REVISION


def migrations_path() -> Path:
    """Alembic scripts, shipped inside the wheel as ``orionlite/_migrations``.

    An editable install imports the package from its source checkout, where the scripts
    are the top-level ``migrations/`` folder beside the package.
    """
    package = Path(str(resources.files("orionlite")))
    for path in (package / "_migrations", package.parent / "migrations"):
        if (path / "env.py").is_file():
            return path
    raise SchemaVersionError(
        f"The migration scripts are missing from the installed package ({package}).",
        hint="Reinstall orionlite: pip install --force-reinstall orionlite",
    )


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_path()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: sa.Engine, url: str, lock: SchemaLock) -> tuple[str | None, str]:
    """Apply every migration up to head; returns (revision before, revision after)."""
    from alembic import command

    with engine.connect() as connection:
        before = current_revision(connection)
    config = alembic_config(url)
    with engine.begin() as connection, lock(connection):
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with engine.connect() as connection:
        after = current_revision(connection)
    return before, after or HEAD_REVISION
