"""Operating experiments: the broken count that requeue resets, and trial numbers.

Revision ID: 0004_operating
Revises: 0003_budget_shares

``experiments.broken_baseline``: the broken trials that --max-broken no longer counts,
those left when the experiment's trials were last requeued (0 for every experiment so far).

``trials.number``: 1, 2, 3, ... per experiment in creation order; existing trials are
numbered in id order. On PostgreSQL each experiment gets the sequence its numbers come
from, ``orionlite_trial_number_<id>`` (SQLite takes MAX(number) + 1 under its write lock).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_operating"
down_revision = "0003_budget_shares"
branch_labels = None
depends_on = None

# The value of orionlite.storage.numbers when this revision was written.
_SEQUENCE_PREFIX = "orionlite_trial_number_"


def upgrade() -> None:
    # Not batch mode: on SQLite it copies the table and drops the original, and the drop
    # would delete every trial through ON DELETE CASCADE (see 0003_budget_shares).
    op.add_column(
        "experiments",
        sa.Column("broken_baseline", sa.Integer, nullable=False, server_default="0"),
    )
    # NOT NULL needs a default for the rows already there; every insert gives a number.
    op.add_column("trials", sa.Column("number", sa.Integer, nullable=False, server_default="0"))
    numbered = (
        "(SELECT id, row_number() OVER (PARTITION BY experiment_id ORDER BY id) AS n "
        "FROM trials) AS numbered"
    )
    if op.get_bind().dialect.name in ("mysql", "mariadb"):  # no UPDATE ... FROM
        op.execute(
            f"UPDATE trials JOIN {numbered} ON trials.id = numbered.id "
            "SET trials.number = numbered.n"
        )
    else:
        op.execute(
            f"UPDATE trials SET number = numbered.n FROM {numbered} WHERE trials.id = numbered.id"
        )
    op.create_index(
        "uq_trials_experiment_number", "trials", ["experiment_id", "number"], unique=True
    )
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.alter_column("trials", "number", server_default=None)
        last = connection.execute(
            sa.text(
                "SELECT experiments.id, COALESCE(MAX(trials.number), 0) FROM experiments "
                "LEFT JOIN trials ON trials.experiment_id = experiments.id "
                "GROUP BY experiments.id"
            )
        ).all()
        for experiment_id, number in last:
            op.execute(
                f"CREATE SEQUENCE IF NOT EXISTS {_SEQUENCE_PREFIX}{int(experiment_id)} "
                f"MINVALUE 1 START {int(number) + 1}"
            )


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        for (experiment_id,) in connection.execute(sa.text("SELECT id FROM experiments")):
            op.execute(f"DROP SEQUENCE IF EXISTS {_SEQUENCE_PREFIX}{int(experiment_id)}")
    op.drop_index("uq_trials_experiment_number", table_name="trials")
    op.drop_column("trials", "number")
    op.drop_column("experiments", "broken_baseline")
