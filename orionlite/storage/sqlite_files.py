"""Checks of a SQLite database file before connecting, so that a wrong path or a file
that is not a database is named in one sentence instead of a driver traceback.

SQLite's own messages ("unable to open database file", "file is not a database") name
neither the file nor the folder, and a missing database file is silently created, which
read-only commands must never do.
"""

from __future__ import annotations

import os
from pathlib import Path

from orionlite.errors import StorageError

# The first 16 bytes of every SQLite 3 database file.
_HEADER = b"SQLite format 3\x00"
_SLASHES_HINT = (
    "sqlite:///name.db is relative to the current folder; an absolute path takes four "
    "slashes: sqlite:////home/me/runs/name.db."
)


def sqlite_path(database: str | None) -> Path | None:
    """The file of a SQLite URL's database part, or None for an in-memory database."""
    if database in (None, "", ":memory:") or str(database).startswith("file:"):
        return None
    return Path(str(database))


def check_sqlite_file(database: str | None, *, create: bool) -> None:
    """Raise StorageError when the file cannot be the database: its folder is missing or
    not writable, it is not a SQLite file, or (``create=False``) it does not exist."""
    path = sqlite_path(database)
    if path is None:
        return
    shown = path.absolute()
    folder = shown.parent
    if not path.exists():
        if not create:
            raise StorageError(
                f"The SQLite database {shown} does not exist.",
                hint="Check --storage (or ORIONLITE_STORAGE) and the current folder; "
                + _SLASHES_HINT,
            )
        if not folder.is_dir():
            what = "is a file, not a folder" if folder.exists() else "does not exist"
            raise StorageError(
                f"Cannot create the SQLite database {shown}: the folder {folder} {what}.",
                hint=f"Create the folder (mkdir -p {folder}) or fix the path; " + _SLASHES_HINT,
            )
    if path.is_dir():
        raise StorageError(
            f"The SQLite database {shown} is a folder, not a file.",
            hint="Give a file name, e.g. sqlite:///orionlite.db; " + _SLASHES_HINT,
        )
    if path.exists() and path.stat().st_size > 0:
        try:
            with open(path, "rb") as file:
                header = file.read(len(_HEADER))
        except OSError as exc:
            raise StorageError(
                f"Cannot read the SQLite database {shown}: {exc.strerror}.",
                hint="Check the file's permissions.",
            ) from exc
        if header != _HEADER:
            raise StorageError(
                f"The file {shown} is not a SQLite database (it does not start with "
                "SQLite's header); orionlite leaves it untouched.",
                hint="Point --storage (or ORIONLITE_STORAGE) at another file, e.g. "
                "sqlite:///orionlite.db, or move this one away.",
            )
    # WAL mode writes NAME-wal and NAME-shm beside the database, even to read it.
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StorageError(
            f"Cannot use the SQLite database {shown}: the folder {folder} is not writable "
            "(SQLite keeps its write-ahead log beside the database).",
            hint="Make the folder writable, or put the database in a folder you can write "
            "to; " + _SLASHES_HINT,
        )


def sqlite_open_error(database: str | None, cause: Exception) -> StorageError:
    """What SQLite's refusal to open or create the file means, naming file and folder."""
    path = sqlite_path(database)
    shown = path.absolute() if path is not None else database
    reason = str(cause).split(": ", 1)[-1].strip().splitlines()[0] if str(cause) else ""
    folder = f" in the folder {path.absolute().parent}" if path is not None else ""
    return StorageError(
        f"Cannot open the SQLite database {shown}{folder}: {reason}",
        hint="Check that the folder exists and is writable (SQLite keeps its write-ahead "
        "log beside the database); " + _SLASHES_HINT,
    )


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL when it does not exist yet (None otherwise, and for
    other databases): commands that would only read it can stop before creating it."""
    if not url.startswith("sqlite"):
        return None
    path = sqlite_path(url.split("://", 1)[-1][1:] if "://" in url else None)
    return path.absolute() if path is not None and not path.exists() else None
