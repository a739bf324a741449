"""an extension request records whether it paused the clocks; notices are worded by the pages; the stage
facts' index on their end covers the on-time rate

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 22:00:00

A request still waiting gets its flag from its case: the clocks of a case stand still while the request
waits only if the request stopped them (a suspended case's clocks stand still in any case: those requests
are taken as pausing, the shipped setting). Decided requests are never read again and keep none.
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_extensions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused", sa.Boolean(), nullable=True))
    op.execute("UPDATE case_extensions SET paused = (SELECT cases.paused_at IS NOT NULL FROM cases "
               "WHERE cases.id = case_extensions.case_id) WHERE status = 'pending'")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("message", existing_type=sa.String(length=500), nullable=True)
    op.drop_index("ix_case_stage_facts_ended_at", table_name="case_stage_facts")
    op.create_index("ix_case_stage_facts_ended", "case_stage_facts", ["ended_at", "case_id", "on_time"])


def downgrade() -> None:
    op.drop_index("ix_case_stage_facts_ended", table_name="case_stage_facts")
    op.create_index("ix_case_stage_facts_ended_at", "case_stage_facts", ["ended_at"])
    op.execute("UPDATE notifications SET message = kind WHERE message IS NULL")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("message", existing_type=sa.String(length=500), nullable=False)
    with op.batch_alter_table("case_extensions", schema=None) as batch_op:
        batch_op.drop_column("paused")
