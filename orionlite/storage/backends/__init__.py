"""What differs between databases, one module per backend behind ``base.Backend``.
Importing this package registers every backend's SQL fragments (``sqlfunctions``).

``Storage`` asks its backend, never which database it is (docs/design.md, "Backends").
"""

from __future__ import annotations

from orionlite.storage.backends.base import Backend
from orionlite.storage.backends.mysql import MYSQL
from orionlite.storage.backends.postgresql import POSTGRESQL
from orionlite.storage.backends.sqlite import SQLITE


def backend_for(url: str) -> Backend:
    """The backend of a normalised storage URL (``urls.normalize_url``)."""
    if url.startswith("sqlite"):
        return SQLITE
    if url.startswith("mysql"):
        return MYSQL
    return POSTGRESQL


__all__ = ["Backend", "backend_for"]
