"""SQL expressions whose text differs between SQLite, PostgreSQL and MySQL.

Statements elsewhere are written once with these; each backend module
(``storage.backends``) says how its database writes them (:func:`spell`), and importing
``storage.backends`` registers all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class db_now(FunctionElement[float]):
    """The database server's clock in float seconds since the epoch.

    Leases are judged by this clock only, so workers on machines with skewed clocks agree.
    """

    type = sa.Float()
    inherit_cache = True
    name = "db_now"


class change_seq(FunctionElement[int]):
    """A value for ``trials.change_seq`` that lets readers fetch only what changed.

    SQLite serialises writers (``BEGIN IMMEDIATE``), so ``MAX + 1`` is taken in commit
    order and a reader may keep the largest value it saw as its watermark.

    PostgreSQL commits concurrently, so a counter can become visible out of order. There
    the marker is the writing transaction's id, and a reader keeps two things from the
    snapshot it read with: its ``xmax`` (every transaction from there on started later)
    and its in-progress list (``xip``: the transactions below xmax it could not see yet).
    Next time it reads the rows marked at or above that xmax or by one of those
    transactions: exactly what it has not seen. (Keeping only the snapshot's ``xmin`` is
    simpler, but any long transaction on the server, in any database, holds xmin back,
    and every read then fetches again everything changed since it began: 50 ms per trial
    after 3,000 trials in docs/benchmarks.md's test.)

    MySQL shows no snapshot to a reader, so there writers of an experiment's trials take
    turns (``backends.mysql.lock_experiment``, which sets the session variable read
    here to the experiment's ``MAX + 1``), and readers keep that experiment's ``MAX + 1``.
    """

    type = sa.BigInteger()
    inherit_cache = True
    name = "change_seq"


class read_horizon(FunctionElement[int]):
    """The watermark a reader keeps after reading (see :class:`change_seq`): on
    PostgreSQL the reading snapshot's xmax. Takes the experiment's id, which MySQL's
    per-experiment markers need."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "read_horizon"


class read_in_progress(FunctionElement[list[int]]):
    """PostgreSQL: the transactions in progress in the reading snapshot, as an array
    (see :class:`change_seq`). SQLite has none: its writers are serialised."""

    type = postgresql.ARRAY(sa.BigInteger())  # type: ignore[assignment]
    inherit_cache = True
    name = "read_in_progress"


class nulls_last(FunctionElement[Any]):
    """An ORDER BY key, ``column.asc()`` or ``column.desc()``, with NULLs after the values."""

    inherit_cache = True
    name = "nulls_last"


@compiles(nulls_last)
def _nulls_last(element: nulls_last, compiler: Any, **kw: Any) -> str:
    (ordered,) = element.clauses
    return str(compiler.process(ordered.nulls_last(), **kw))


# How a dialect writes an expression: SQL text, or a function of the element and the
# compiler for text that embeds the element's arguments.
Spelling = str | Callable[..., str]


def spell(dialects: tuple[str, ...], spellings: dict[type[FunctionElement[Any]], Spelling]) -> None:
    """Register how ``dialects`` write each expression of ``spellings``."""
    for element, spelling in spellings.items():

        def written(element: Any, compiler: Any, spelling: Spelling = spelling, **kw: Any) -> str:
            return spelling if isinstance(spelling, str) else spelling(element, compiler, **kw)

        for dialect in dialects:
            compiles(element, dialect)(written)
