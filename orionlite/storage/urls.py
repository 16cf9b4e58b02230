"""Storage URLs: defaults, normalisation and masking. No SQLAlchemy import, so the CLI can
show and check URLs without loading it."""

from __future__ import annotations

import os
import re

STORAGE_ENV = "ORIONLITE_STORAGE"
DEFAULT_STORAGE = "sqlite:///orionlite.db"

_PASSWORD = re.compile(r"(?P<prefix>[a-z0-9+]+://[^:/@]+:)(?P<password>[^@]*)(?P<at>@)", re.I)


def resolve_url(url: str | None) -> str:
    """The URL given, else ``$ORIONLITE_STORAGE``, else a SQLite file in the current folder."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


# URL schemes as users write them, and the driver each is normalised to.
_DRIVERS = {
    "postgresql://": "postgresql+psycopg://",
    "postgres://": "postgresql+psycopg://",
    "mysql://": "mysql+pymysql://",
    "mariadb://": "mysql+pymysql://",
    "mariadb+pymysql://": "mysql+pymysql://",
}


def normalize_url(url: str) -> str:
    """Choose the driver for URLs as users write them: psycopg 3 for ``postgresql://``,
    PyMySQL for ``mysql://`` and ``mariadb://`` (docs/mysql.md)."""
    for prefix, driver in _DRIVERS.items():
        if url.startswith(prefix):
            return driver + url[len(prefix) :]
    return url


def mask_url(url: str) -> str:
    """Hide the password of a URL so it can appear in messages and logs."""
    return _PASSWORD.sub(r"\g<prefix>***\g<at>", url)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def is_mysql(url: str) -> bool:
    """MySQL or MariaDB, whatever the driver named."""
    return url.startswith(("mysql", "mariadb"))
