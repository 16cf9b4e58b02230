"""Declared objectives (names and directions) stored with the experiment.

Revision ID: 0006_objectives
Revises: 0005_trial_progress

Experiments created before have NULL: one objective, minimised, under any name, which is
what they always meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_objectives"
down_revision = "0005_trial_progress"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not batch mode: on SQLite it copies the table and drops the original, and the drop
    # would delete every trial through ON DELETE CASCADE.
    op.add_column("experiments", sa.Column("objectives", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("experiments", "objectives")
