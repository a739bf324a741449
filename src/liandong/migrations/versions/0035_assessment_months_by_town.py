"""month figures kept per town too: the rows counted by id (people, departments) also stored for the town their cases
lie in, so that a town's leader reads a year of its people and departments from twelve months, not from the facts

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-04 20:30:00

The tables hold a projection, rebuilt by ``liandong assessment refresh`` (and by the app every
``assessment_refresh_minutes``): they are made anew with the town in their keys, and the months stored before are
forgotten (``months.RULES`` moved on too, so no old build would be read).
"""

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def _tables(town: bool) -> None:
    def extra() -> list[sa.Column]:
        return [sa.Column("town", sa.String(200), nullable=False)] if town else []

    op.create_table(
        "assessment_month_figures",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("family", sa.String(20), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        *extra(),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "family", "key", *(["town"] if town else []), "owner"),
    )
    op.create_table(
        "assessment_month_times",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("family", sa.String(20), nullable=False),
        *extra(),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("minutes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("month", "family", *(["town"] if town else []), "owner", "stage"),
    )


def _again(town: bool) -> None:
    op.drop_table("assessment_month_times")
    op.drop_table("assessment_month_figures")
    op.execute("DELETE FROM assessment_months")
    _tables(town)


def upgrade() -> None:
    _again(town=True)


def downgrade() -> None:
    _again(town=False)
