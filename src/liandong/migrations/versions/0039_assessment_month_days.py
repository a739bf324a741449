"""month figures stored by the day: how many days of its month a build holds (the month under way is stored up to
its last complete day), blocks of 8 days and of one day, and what runs across each day's end

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-05 13:00:00

As in 0035 and 0036 the tables hold a projection: they are made anew with the block's size before its day in their
keys (what runs across the end of day D is the sum of the changes stored for days 1 to D, size 0: a range of the
key), and the months stored before are forgotten (``months.RULES`` moved on too). Run ``liandong assessment
refresh`` after the upgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def _tables(size_first: bool) -> None:
    keys = ["size", "day"] if size_first else ["day", "size"]
    block = [sa.Column(k, sa.SmallInteger(), nullable=False) for k in keys]
    op.create_table(
        "assessment_month_figures",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("family", sa.String(20), nullable=False),
        *block,
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("town", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "family", *keys, "key", "town", "owner"),
    )
    block = [sa.Column(k, sa.SmallInteger(), nullable=False) for k in keys]
    op.create_table(
        "assessment_month_times",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("family", sa.String(20), nullable=False),
        *block,
        sa.Column("town", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("minutes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("month", "family", *keys, "town", "owner", "stage"),
    )


def _again(size_first: bool) -> None:
    op.drop_table("assessment_month_times")
    op.drop_table("assessment_month_figures")
    op.execute("DELETE FROM assessment_months")
    _tables(size_first)


def upgrade() -> None:
    _again(size_first=True)
    with op.batch_alter_table("assessment_months") as batch:
        batch.add_column(sa.Column("days", sa.SmallInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("assessment_months") as batch:
        batch.drop_column("days")
    _again(size_first=False)
