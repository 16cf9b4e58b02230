"""Schema administration for ``orionlite db``: never creates tables behind the user's back."""

from __future__ import annotations

import sqlalchemy as sa

from orionlite.errors import DatabaseUnreachableError
from orionlite.storage.backends import backend_for
from orionlite.storage.engine import make_engine
from orionlite.storage.schema import HEAD_REVISION, current_revision, upgrade
from orionlite.storage.urls import mask_url, normalize_url, resolve_url


def check_database(url: str | None) -> tuple[str | None, str]:
    """(revision of the database, revision this orionlite expects)."""
    resolved = normalize_url(resolve_url(url))
    engine = make_engine(resolved)
    try:
        with engine.connect() as connection:
            return current_revision(connection), HEAD_REVISION
    except sa.exc.OperationalError as exc:
        raise _unreachable(resolved, exc) from exc
    finally:
        engine.dispose()


def upgrade_database(url: str | None) -> tuple[str | None, str]:
    resolved = normalize_url(resolve_url(url))
    engine = make_engine(resolved)
    try:
        return upgrade(engine, resolved, backend_for(resolved).schema_lock)
    except sa.exc.OperationalError as exc:
        raise _unreachable(resolved, exc) from exc
    finally:
        engine.dispose()


def _unreachable(url: str, exc: sa.exc.OperationalError) -> DatabaseUnreachableError:
    return DatabaseUnreachableError(
        f"Cannot reach the database {mask_url(url)}: {str(exc.orig).strip().splitlines()[0]}",
        hint="Check that the database server is running and that the URL is right.",
    )
