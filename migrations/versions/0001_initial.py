"""Experiments and trials.

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# DOUBLE on MySQL, whose FLOAT is single precision (see storage.tables.FLOAT).
FLOAT = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "experiments",
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
            "parent_id",
            sa.Integer,
            sa.ForeignKey("experiments.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("budget_used", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", FLOAT, nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_experiments_name_version"),
    )
    op.create_table(
        "trials",
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
        sa.Column("change_seq", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("experiment_id", "params_hash", name="uq_trials_experiment_params"),
    )
    op.create_index("ix_trials_experiment_status", "trials", ["experiment_id", "status", "id"])
    op.create_index("ix_trials_experiment_change", "trials", ["experiment_id", "change_seq"])
    op.create_index("ix_trials_change_seq", "trials", ["change_seq"])


def downgrade() -> None:
    op.drop_table("trials")
    op.drop_table("experiments")
