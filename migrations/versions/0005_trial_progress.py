"""Intermediate values reported by trials, and the ``pruned`` status.

Revision ID: 0005_trial_progress
Revises: 0004_operating

A new table only: existing experiments and trials are untouched. ``pruned`` needs no
change to the schema (``trials.status`` is a string), so a database at this revision still
holds every trial of the previous one as it was.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# DOUBLE on MySQL, whose FLOAT is single precision (see storage.tables.FLOAT).
FLOAT = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")

revision = "0005_trial_progress"
down_revision = "0004_operating"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trial_progress",
        sa.Column(
            "trial_id",
            sa.Integer,
            sa.ForeignKey("trials.id", ondelete="CASCADE"),
            primary_key=True,
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
    )
    op.create_index(
        "ix_trial_progress_experiment_step",
        "trial_progress",
        ["experiment_id", "step", "trial_id", "value"],
    )


def downgrade() -> None:
    # A pruned trial has no meaning before this revision: it becomes completed with its
    # last reported value, which is what it holds.
    op.execute("UPDATE trials SET status = 'completed' WHERE status = 'pruned'")
    # The table's indexes go with it (MySQL refuses to drop one its foreign key uses).
    op.drop_table("trial_progress")
