"""max_trials kept as shares that workers claim in parallel.

Revision ID: 0003_budget_shares
Revises: 0002_unfinished_index

Every creation incremented ``experiments.budget_used`` and so locked the experiment's row
until its commit: on PostgreSQL, creations queued one behind the other, each waiting for
its own WAL flush. The budget is now 32 rows per experiment (``budget_shares``), each with
its part of max_trials (``cap``) and the slots taken in it (``used``); the slots already
taken are spread over them as evenly as max_trials is.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_budget_shares"
down_revision = "0002_unfinished_index"
branch_labels = None
depends_on = None

# The values of orionlite.storage.budget when this revision was written: a migration
# must keep doing what it did when later code changes.
_SHARES = 32


def _split(total: int | None) -> list[int | None]:
    if total is None:
        return [None] * _SHARES
    return [total // _SHARES + (1 if k < total % _SHARES else 0) for k in range(_SHARES)]


def upgrade() -> None:
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
    # Not batch mode: on SQLite it copies the table and drops the original, and the drop
    # would delete every trial through ON DELETE CASCADE. SQLite has DROP COLUMN since
    # 3.35, which orionlite requires anyway.
    op.drop_column("experiments", "budget_used")


def downgrade() -> None:
    op.add_column(
        "experiments", sa.Column("budget_used", sa.Integer, nullable=False, server_default="0")
    )
    op.execute(
        "UPDATE experiments SET budget_used = (SELECT COALESCE(SUM(used), 0) "
        "FROM budget_shares WHERE budget_shares.experiment_id = experiments.id)"
    )
    op.drop_table("budget_shares")
