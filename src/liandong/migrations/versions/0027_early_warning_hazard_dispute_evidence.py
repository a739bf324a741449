"""early warnings: hazards and disputes as evidence beside cases

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-14 10:00:00

The scan reads safety hazards and disputes as well as cases; a warning keeps each source's report ids in its own
list. Existing warnings were found over cases alone: their new lists start empty (the server default fills them,
then goes, as the models set the value). A downgrade drops the two lists: a warning found over hazards or disputes
then keeps no report ids (its figures, area and history stay).
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

COLUMNS = ("hazard_ids", "dispute_ids")


def upgrade() -> None:
    with op.batch_alter_table("early_warnings", schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.add_column(sa.Column(column, sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("early_warnings", schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.alter_column(column, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("early_warnings", schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.drop_column(column)
