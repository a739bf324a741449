"""simulation runs: a simulated year's scenario, seed, scale and progress (a rerun continues it), and what it reached

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03 11:00:00
"""

import sqlalchemy as sa
from alembic import op

from liandong.db import UTCDateTime

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sim_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("scenario", sa.String(length=100), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("scale", sa.Float(), nullable=False),
        sa.Column("started_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_until", sa.Float(), nullable=False),
        sa.Column("steps_done", sa.Integer(), nullable=False),
        sa.Column("reached", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_sim_runs_year", "sim_runs", ["year"])


def downgrade() -> None:
    op.drop_index("ix_sim_runs_year", table_name="sim_runs")
    op.drop_table("sim_runs")
