"""What differs between databases, one module per backend behind ``base.Backend``.

``Storage`` asks its backend, never which database it is (docs/design.md, "Backends").
"""

from __future__ import annotations

from orionlite.storage.backends.base import Backend


def backend_for(url: str) -> Backend:
    """The backend of a normalised storage URL (``urls.normalize_url``)."""
    if url.startswith("sqlite"):
        from orionlite.storage.backends.sqlite import SQLITE

        return SQLITE
    if url.startswith("mysql"):
        from orionlite.storage.backends.mysql import MYSQL

        return MYSQL
    from orionlite.storage.backends.postgresql import POSTGRESQL

    return POSTGRESQL


__all__ = ["Backend", "backend_for"]
