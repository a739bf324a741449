"""covering indexes for the assessment: the stage facts by stage and end, the late ones by case, and the events by
action and time, each holding the columns the assessment's counts read, so a year's counts
are read from the index alone

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 08:10:00
"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

FACTS = ("stage", "ended_at", "ended_by", "outcome", "on_time", "actor_id", "lead_unit_id", "used_minutes",
         "extensions", "started_at", "deadline", "case_id", "seq")
EVENTS = ("action", "at", "actor_id", "case_id")
LATE = ("on_time", "case_id")
"""The few stages that ended late, by case."""


def upgrade() -> None:
    op.drop_index("ix_case_stage_facts_stage_ended", table_name="case_stage_facts")
    op.create_index("ix_case_stage_facts_stage_ended", "case_stage_facts", list(FACTS))
    op.drop_index("ix_case_events_action_at", table_name="case_events")
    op.create_index("ix_case_events_action_at", "case_events", list(EVENTS))
    op.create_index("ix_case_stage_facts_on_time_case", "case_stage_facts", list(LATE))


def downgrade() -> None:
    op.drop_index("ix_case_stage_facts_on_time_case", table_name="case_stage_facts")
    op.drop_index("ix_case_stage_facts_stage_ended", table_name="case_stage_facts")
    op.create_index("ix_case_stage_facts_stage_ended", "case_stage_facts", ["stage", "ended_at"])
    op.drop_index("ix_case_events_action_at", table_name="case_events")
    op.create_index("ix_case_events_action_at", "case_events", ["action", "at"])
