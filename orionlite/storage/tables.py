"""The only source of the schema: SQLAlchemy Core tables shared by every backend.

Alembic migrations in ``migrations/`` must produce exactly this (a test compares them).
Times are float seconds since the epoch taken from the *database's* clock, so lease
expiry never compares the clocks of two machines.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

metadata = sa.MetaData()

# Float columns hold epoch seconds: MySQL's FLOAT is single precision (a second's
# resolution is lost), so there they are DOUBLE, as they are on the other backends.
FLOAT = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")

# Trials that are not finished: the only rows a reservation looks at. Spelled out as SQL
# so that the reservation's WHERE clause can repeat it word for word, which is what
# SQLite needs to use the partial index below.
UNFINISHED_STATUS_SQL = "status IN ('new', 'reserved', 'interrupted')"

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("space", sa.JSON, nullable=False),
    sa.Column("algorithm", sa.JSON, nullable=False),
    sa.Column("command", sa.JSON, nullable=True),
    sa.Column("max_trials", sa.Integer, nullable=True),
    sa.Column("max_broken", sa.Integer, nullable=False),
    sa.Column("working_dir", sa.Text, nullable=True),
    sa.Column(
        "parent_id", sa.Integer, sa.ForeignKey("experiments.id", ondelete="SET NULL"), nullable=True
    ),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created_at", FLOAT, nullable=False),
    # Broken trials that --max-broken no longer counts: those left when the experiment's
    # trials were last requeued (orionlite requeue resets the count).
    sa.Column("broken_baseline", sa.Integer, nullable=False, server_default="0"),
    # Declared objectives, [{"name", "direction"}] (orionlite.objectives); NULL is the
    # default: one objective, minimised, under any name.
    sa.Column("objectives", sa.JSON, nullable=True),
    # Trials that count against max_trials: every status but broken (storage.budget).
    sa.Column("budget_used", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("name", "version", name="uq_experiments_name_version"),
)

trials = sa.Table(
    "trials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("params_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # Fencing token: incremented by every reservation; every write about the trial is
    # conditional on it, so a worker presumed dead cannot overwrite the new owner.
    sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
    sa.Column("reserved_by", sa.String(255), nullable=True),
    sa.Column("lease_expires_at", FLOAT, nullable=True),
    sa.Column("heartbeat_at", FLOAT, nullable=True),
    sa.Column("objective", FLOAT, nullable=True),
    sa.Column("results", sa.JSON, nullable=True),
    sa.Column("exit_code", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column(
        "parent_trial_id",
        sa.Integer,
        sa.ForeignKey("trials.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("retries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", FLOAT, nullable=False),
    sa.Column("started_at", FLOAT, nullable=True),
    sa.Column("ended_at", FLOAT, nullable=True),
    # Monotonic change marker (see storage.sqlfunctions.change_seq): readers fetch only the
    # rows whose marker moved since their last read.
    sa.Column("change_seq", sa.BigInteger, nullable=False),
    # 1, 2, 3, ... per experiment in creation order: what people read (storage.numbers).
    sa.Column("number", sa.Integer, nullable=False),
    sa.UniqueConstraint("experiment_id", "params_hash", name="uq_trials_experiment_params"),
    sa.Index("uq_trials_experiment_number", "experiment_id", "number", unique=True),
    sa.Index("ix_trials_experiment_status", "experiment_id", "status", "id"),
    sa.Index("ix_trials_experiment_change", "experiment_id", "change_seq"),
    sa.Index("ix_trials_change_seq", "change_seq"),
    # Where reservations look, in id order: only unfinished trials, so finding the next
    # one costs the same with ten or ten thousand finished trials. Its plain index scan
    # also lets PostgreSQL mark the entries of finished trials dead as it passes them,
    # which a bitmap scan of ix_trials_experiment_status never does (0002_unfinished).
    sa.Index(
        "ix_trials_unfinished",
        "experiment_id",
        "id",
        postgresql_where=sa.text(UNFINISHED_STATUS_SQL),
        sqlite_where=sa.text(UNFINISHED_STATUS_SQL),
    ),
)

# Intermediate values a trial reported while it ran (orionlite.progress_file). Written
# under the trial's fencing token, which also deletes the values of the trial's earlier
# attempts (storage.progress). ``experiment_id`` is copied from the trial, and the index
# covers what a stop rule reads, so that every trial's value at a step is one index-only
# range scan (decision record 0010).
trial_progress = sa.Table(
    "trial_progress",
    metadata,
    sa.Column(
        "trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column(
        "experiment_id",
        sa.Integer,
        sa.ForeignKey("experiments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("value", FLOAT, nullable=False),
    sa.Column("recorded_at", FLOAT, nullable=False),
    sa.Index("ix_trial_progress_experiment_step", "experiment_id", "step", "trial_id", "value"),
)
