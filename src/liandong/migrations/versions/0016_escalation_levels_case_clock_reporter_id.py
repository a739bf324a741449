"""escalation levels, the whole-case clock, reporter ID numbers

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-27 08:40:00
"""

import sqlalchemy as sa
from alembic import op

import liandong.db

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("next_escalation_at", liandong.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("paused_at", liandong.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("case_limit_minutes", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("case_escalated_at", liandong.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reporter_id_number", sa.String(length=18), nullable=True))
    # a stage escalated before levels existed has reached the first level
    op.execute("UPDATE cases SET escalation_level = 1 WHERE escalated_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for name in ("reporter_id_number", "case_escalated_at", "case_limit_minutes", "paused_at",
                     "next_escalation_at", "escalation_level"):
            batch_op.drop_column(name)
