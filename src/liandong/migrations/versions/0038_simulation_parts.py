"""the simulated year played by town: each town's progress, and the id of the year's first case

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-05 10:00:00

A simulated year is played by several processes at once, each a share of the towns in transactions of its own
(``sim/run.py``): each town keeps how far its cases are committed, so a rerun — with as many processes or not —
continues each town where it stopped. Each report's case takes the id its ordinal in the year's plan gives it
(``first_case_id`` + ordinal), whichever process plays it, so that the processes' rows never collide and the year's
records are the same however many played it. A run begun before has its towns at its own progress.
"""

import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sim_runs") as batch_op:
        batch_op.add_column(sa.Column("first_case_id", sa.Integer(), nullable=True))
    op.create_table(
        "sim_run_parts",
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("sim_runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("part", sa.Integer(), primary_key=True),
        sa.Column("done_until", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sim_run_parts")
    with op.batch_alter_table("sim_runs") as batch_op:
        batch_op.drop_column("first_case_id")
