"""month figures stored by the day: how many days of its month a build holds (the month under way is stored up to
its last complete day), blocks of 8 days and of one day, and what runs across each day's end

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-05 13:00:00

As in 0035 and 0036 the tables hold a projection: they are made anew with the block's size before its day in their
keys (what runs across the end of day D is the sum of the changes stored for days 1 to D, size 0: a range of the
key; on SQLite the figures' table has no rowid, its small rows kept in the key's own tree, one to write), the
builds say how many days they hold (``days``), and the months stored before are forgotten (``months.RULES`` moved
on too). Run ``liandong assessment refresh`` after the upgrade.
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
        sqlite_with_rowid=not size_first,
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


def _builds(days: bool) -> None:
    op.create_table(
        "assessment_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("family", sa.String(20), nullable=False),
        sa.Column("basis", sa.String(64), nullable=False),
        *([sa.Column("days", sa.SmallInteger(), nullable=False)] if days else []),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("month", "family"),
    )


def _again(by_day: bool) -> None:
    op.drop_table("assessment_month_times")
    op.drop_table("assessment_month_figures")
    op.drop_table("assessment_months")
    _builds(days=by_day)
    _tables(size_first=by_day)


def upgrade() -> None:
    _again(by_day=True)


def downgrade() -> None:
    _again(by_day=False)
