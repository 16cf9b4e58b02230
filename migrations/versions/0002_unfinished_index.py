"""Partial index on unfinished trials, where every reservation looks.

Revision ID: 0002_unfinished_index
Revises: 0001_initial

Reserving scanned ix_trials_experiment_status with a bitmap scan on PostgreSQL, which
visits the index entries of every trial that was ever reserved until VACUUM removes them:
each reservation cost grew with the history. The partial index holds unfinished trials
only and is read in id order with a plain index scan.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_unfinished_index"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

_WHERE = "status IN ('new', 'reserved', 'interrupted')"


def upgrade() -> None:
    op.create_index(
        "ix_trials_unfinished",
        "trials",
        ["experiment_id", "id"],
        postgresql_where=sa.text(_WHERE),
        sqlite_where=sa.text(_WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_trials_unfinished", table_name="trials")
