"""an extension request records whether it paused the clocks; notices are worded by the pages; the stage
facts' index on their end covers the on-time rate

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 22:00:00

A request still waiting gets its flag from its own event (the "paused" its payload recorded) or, for an event
written before that, from its case: paused clocks mean the request stopped them. Decided requests are never
read again and keep none.
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("case_extensions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused", sa.Boolean(), nullable=True))
    _pending_requests(op.get_bind())
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("message", existing_type=sa.String(length=500), nullable=True)
    # a stage paused before its deadline keeps a moment at least, even where a calendar edit left no working
    # time before that deadline (sla._left): "paused with nothing left" then means "paused after its deadline"
    op.execute("UPDATE cases SET paused_remaining_minutes = 1.0 / 60 WHERE paused_remaining_minutes <= 0 "
               "AND stage_deadline > paused_at")
    op.drop_index("ix_case_stage_facts_ended_at", table_name="case_stage_facts")
    op.create_index("ix_case_stage_facts_ended", "case_stage_facts", ["ended_at", "case_id", "on_time"])


def _pending_requests(bind) -> None:
    pending = bind.execute(sa.text("SELECT x.id, x.case_id, c.paused_at FROM case_extensions x JOIN cases c "
                                   "ON c.id = x.case_id WHERE x.status = 'pending'")).all()
    for request_id, case_id, paused_at in pending:
        payload = bind.execute(sa.text("SELECT payload FROM case_events WHERE case_id = :c AND action = "
                                       "'request_extension' ORDER BY seq DESC LIMIT 1"), {"c": case_id}).scalar()
        payload = json.loads(payload) if isinstance(payload, str) else payload or {}
        bind.execute(sa.text("UPDATE case_extensions SET paused = :p WHERE id = :i"),
                     {"p": bool(payload.get("paused", paused_at is not None)), "i": request_id})


def downgrade() -> None:
    op.drop_index("ix_case_stage_facts_ended", table_name="case_stage_facts")
    op.create_index("ix_case_stage_facts_ended_at", "case_stage_facts", ["ended_at"])
    op.execute("UPDATE notifications SET message = kind WHERE message IS NULL")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.alter_column("message", existing_type=sa.String(length=500), nullable=False)
    with op.batch_alter_table("case_extensions", schema=None) as batch_op:
        batch_op.drop_column("paused")
