"""What MySQL needs beyond the shared storage suite: its URLs, its session settings, full
precision in float columns, and its error codes read as contention, outages and the
connection limit (docs/mysql.md)."""

from __future__ import annotations

from collections.abc import Callable

import pymysql
import pytest
import sqlalchemy as sa

from orionlite.records import TrialRecord, TrialStatus
from orionlite.storage import Storage
from orionlite.storage.retry import is_connection_limit, is_contention, is_outage
from orionlite.storage.urls import normalize_url

mysql_only = pytest.mark.parametrize("backend", ["mysql"], indirect=True)


@pytest.mark.parametrize(
    "given",
    [
        "mysql://u:p@db/tuning",
        "mariadb://u:p@db/tuning",
        "mysql+pymysql://u:p@db/tuning",
        "mariadb+pymysql://u:p@db/tuning",
    ],
)
def test_every_url_form_uses_pymysql(given: str) -> None:
    assert normalize_url(given) == "mysql+pymysql://u:p@db/tuning"


def _error(code: int) -> sa.exc.OperationalError:
    return sa.exc.OperationalError("SELECT 1", {}, pymysql.err.OperationalError(code, "x"))


@pytest.mark.parametrize(
    ("code", "contention", "outage", "limit"),
    [
        (1213, True, False, False),  # deadlock
        (1205, True, False, False),  # lock wait timeout
        (1040, False, True, True),  # too many connections
        (1203, False, True, True),  # max_user_connections
        (1226, False, True, True),  # a user's resource limit
        (2013, False, True, False),  # lost connection during a query
        (2006, False, True, False),  # server has gone away
        (1644, False, False, False),  # an error a trigger raised: a real error
    ],
)
def test_error_codes_are_classified(code: int, contention: bool, outage: bool, limit: bool) -> None:
    error = _error(code)
    assert (is_contention(error), is_outage(error), is_connection_limit(error)) == (
        contention,
        outage,
        limit,
    )


@mysql_only
def test_sessions_read_committed_in_utc(storage: Storage) -> None:
    with storage.engine.connect() as connection:
        isolation, zone = connection.exec_driver_sql("SELECT @@tx_isolation, @@time_zone").one()
    assert (isolation, zone) == ("READ-COMMITTED", "+00:00")


def test_floats_keep_full_precision(storage: Storage, new_experiment: Callable[..., int]) -> None:
    """MySQL's FLOAT is single precision: objectives and times are DOUBLE there."""
    exp = new_experiment(storage)
    trial = storage.acquire_trial(exp, {"x": 1}, "hash-1", "w", 60.0)
    assert isinstance(trial, TrialRecord)
    storage.finish_trial(trial, TrialStatus.COMPLETED, objective=1 / 3)
    stored = storage.get_trial(trial.id)
    assert stored is not None and stored.objective == 1 / 3
    assert stored.started_at is not None and stored.ended_at is not None
    assert stored.started_at != int(stored.started_at) or stored.ended_at != int(stored.ended_at)
