"""stage facts, the yellow moment of each clock, indexes on event time and action

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 19:30:00
"""

import sqlalchemy as sa
from alembic import op

import liandong.db

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_yellow_at", liandong.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("case_yellow_at", liandong.db.UTCDateTime(timezone=True), nullable=True))
    op.create_index("ix_case_events_at", "case_events", ["at"])
    op.create_index("ix_case_events_action_at", "case_events", ["action", "at"])
    op.create_table(
        "case_stage_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("lead_unit_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("started_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline", liandong.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", liandong.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("paused_minutes", sa.Float(), nullable=False),
        sa.Column("paused_since", liandong.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pauses", sa.String(length=32), nullable=False),
        sa.Column("used_minutes", sa.Float(), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("ended_by", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("extensions", sa.Integer(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_stage_facts_case_id_cases"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_stage_facts")),
        sa.UniqueConstraint("case_id", "seq", name=op.f("uq_case_stage_facts_case_id")),
    )
    op.create_index("ix_case_stage_facts_stage_ended", "case_stage_facts", ["stage", "ended_at"])
    op.create_index(op.f("ix_case_stage_facts_started_at"), "case_stage_facts", ["started_at"])
    op.create_index(op.f("ix_case_stage_facts_ended_at"), "case_stage_facts", ["ended_at"])
    op.create_index(op.f("ix_case_stage_facts_lead_unit_id"), "case_stage_facts", ["lead_unit_id"])
    # the rows themselves are derived by the code of the day, after migrating (liandong/cases/upkeep.py)


def downgrade() -> None:
    op.drop_table("case_stage_facts")
    op.drop_index("ix_case_events_action_at", table_name="case_events")
    op.drop_index("ix_case_events_at", table_name="case_events")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("case_yellow_at")
        batch_op.drop_column("stage_yellow_at")
