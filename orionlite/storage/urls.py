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


def normalize_url(url: str) -> str:
    """Choose the psycopg 3 driver for plain ``postgresql://`` URLs, as users write them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def mask_url(url: str) -> str:
    """Hide the password of a URL so it can appear in messages and logs."""
    return _PASSWORD.sub(r"\g<prefix>***\g<at>", url)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")
