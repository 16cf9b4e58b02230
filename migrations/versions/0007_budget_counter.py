"""max_trials counted in one row per experiment again: ``experiments.budget_used``.

Revision ID: 0007_budget_counter
Revises: 0006_objectives

The 32 shares of 0003 let creations take slots in parallel, which bought about 1.3x at 8
workers for trials that do nothing, and cost a lock-and-retry scheme that the server
logged at the end of every run (decision record 0073). The slots in use are summed back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_budget_counter"
down_revision = "0006_objectives"
branch_labels = None
depends_on = None

# 0003's split, for the downgrade: a migration keeps doing what it did when written.
_SHARES = 32


def _split(total: int | None) -> list[int | None]:
    if total is None:
        return [None] * _SHARES
    return [total // _SHARES + (1 if k < total % _SHARES else 0) for k in range(_SHARES)]


def upgrade() -> None:
    # Not batch mode: on SQLite it copies the table and drops the original, and the drop
    # would delete every trial through ON DELETE CASCADE.
    op.add_column(
        "experiments", sa.Column("budget_used", sa.Integer, nullable=False, server_default="0")
    )
    op.execute(
        "UPDATE experiments SET budget_used = (SELECT COALESCE(SUM(used), 0) "
        "FROM budget_shares WHERE budget_shares.experiment_id = experiments.id)"
    )
    op.drop_table("budget_shares")


def downgrade() -> None:
    shares = op.create_table(
        "budget_shares",
        sa.Column(
            "experiment_id",
            sa.Integer,
            sa.ForeignKey("experiments.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("share", sa.Integer, primary_key=True),
        sa.Column("used", sa.Integer, nullable=False),
        sa.Column("cap", sa.Integer, nullable=True),
    )
    connection = op.get_bind()
    experiments = connection.execute(
        sa.text("SELECT id, max_trials, budget_used FROM experiments")
    ).all()
    rows = [
        {"experiment_id": row.id, "share": k, "used": used, "cap": cap}
        for row in experiments
        for k, (used, cap) in enumerate(
            zip(_split(row.budget_used), _split(row.max_trials), strict=True)
        )
    ]
    if rows:
        op.bulk_insert(shares, rows)
    op.drop_column("experiments", "budget_used")
