"""month figures of the assessment: each complete month's counts and working times per object, so that a year is
read as twelve months and not as millions of facts (``assessment/months.py``)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-04 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessment_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("family", sa.String(20), nullable=False),
        sa.Column("basis", sa.String(64), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("month", "family"),
    )
    op.create_table(
        "assessment_month_figures",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("family", sa.String(20), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "family", "key", "owner"),
    )
    op.create_table(
        "assessment_month_times",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("family", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("minutes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("month", "family", "owner", "stage"),
    )


def downgrade() -> None:
    op.drop_table("assessment_month_times")
    op.drop_table("assessment_month_figures")
    op.drop_table("assessment_months")
