"""month figures stored by the day: how many days of its month a build holds (the month under way is stored up to
its last complete day), blocks down to a single day, and what runs across each day's end

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-05 13:00:00

The tables keep their shape: the blocks (``day``, ``size``) take the sizes 32, 8, 2 and 1, and what runs across the
end of day ``day`` is stored with ``size`` 0. ``months.RULES`` moved on, so every month stored before is outdated:
run ``liandong assessment refresh`` after the upgrade. The builds made before hold whole months (``days`` 0 marks
none of them as usable; the refresh replaces them).
"""

import sqlalchemy as sa
from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assessment_months") as batch:
        batch.add_column(sa.Column("days", sa.SmallInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("assessment_months") as batch:
        batch.drop_column("days")
