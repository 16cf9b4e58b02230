"""Operating experiments: the broken count that requeue resets.

Revision ID: 0004_operating
Revises: 0003_budget_shares

``experiments.broken_baseline``: the broken trials that --max-broken no longer counts,
those left when the experiment's trials were last requeued (0 for every experiment so far).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_operating"
down_revision = "0003_budget_shares"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not batch mode: on SQLite it copies the table and drops the original, and the drop
    # would delete every trial through ON DELETE CASCADE (see 0003_budget_shares).
    op.add_column(
        "experiments",
        sa.Column("broken_baseline", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("experiments", "broken_baseline")
