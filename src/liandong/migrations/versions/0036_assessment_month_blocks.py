"""month figures kept in blocks of days too: each complete month also stored in aligned blocks of 16, 8 and 4 days,
so that a period cutting a month (a rolling year, the last 30 days) reads at most three blocks and three days of it
from the facts, not all its days

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-04 23:40:00

As in 0035 the tables hold a projection: they are made anew with the block (``day``, ``size``) in their keys, right
after the month and family (what a read picks its rows by), and the months stored before are forgotten
(``months.RULES`` moved on too). Run ``liandong assessment refresh`` after the upgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def _tables(blocks: bool) -> None:
    def block() -> list[sa.Column]:
        return [sa.Column("day", sa.SmallInteger(), nullable=False),
                sa.Column("size", sa.SmallInteger(), nullable=False)] if blocks else []

    keys = ["day", "size"] if blocks else []
    op.create_table(
        "assessment_month_figures",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("family", sa.String(20), nullable=False),
        *block(),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("town", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "family", *keys, "key", "town", "owner"),
    )
    op.create_table(
        "assessment_month_times",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("family", sa.String(20), nullable=False),
        *block(),
        sa.Column("town", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("minutes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("month", "family", *keys, "town", "owner", "stage"),
    )


def _again(blocks: bool) -> None:
    op.drop_table("assessment_month_times")
    op.drop_table("assessment_month_figures")
    op.execute("DELETE FROM assessment_months")
    _tables(blocks)


def upgrade() -> None:
    _again(blocks=True)


def downgrade() -> None:
    _again(blocks=False)
