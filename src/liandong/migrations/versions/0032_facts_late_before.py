"""stage facts carry whether an earlier stage of their case ended late (``late_before``), the covering index
of the assessment holds it, and the index of the late stages by case that 按期结案 searched is gone

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-03 18:00:00

按期结案 (closed in time) asked whether any stage of a closed case had ever ended late: a search of every month's
facts for each period's closures, which no partition bound could narrow (a case may stay open for years). The fact
that closes a case now says it itself, carried from stage to stage by the projection (``cases/facts.py``, rules
version 3, which also ends a stage no earlier than it began). ``liandong migrate`` derives the stored facts again
(``cases/upkeep.py``; the upgrade forgets which rules they followed), which fills the column.
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

BEFORE = ("stage", "ended_at", "ended_by", "outcome", "on_time", "actor_id", "lead_unit_id", "used_minutes",
          "extensions", "started_at", "deadline", "case_id", "seq")
AFTER = (*BEFORE[:-2], "late_before", *BEFORE[-2:])


def upgrade() -> None:
    op.add_column("case_stage_facts", sa.Column("late_before", sa.Boolean(), nullable=False,
                                                server_default=sa.false()))
    op.drop_index("ix_case_stage_facts_on_time_case", table_name="case_stage_facts")
    op.drop_index("ix_case_stage_facts_stage_ended", table_name="case_stage_facts")
    op.create_index("ix_case_stage_facts_stage_ended", "case_stage_facts", list(AFTER))
    # whatever rules the stored facts were said to follow, the new column is not filled yet: derive them again
    op.execute("DELETE FROM meta WHERE key = 'stage_facts_rules'")


def downgrade() -> None:
    op.create_index("ix_case_stage_facts_on_time_case", "case_stage_facts", ["on_time", "case_id"])
    op.drop_index("ix_case_stage_facts_stage_ended", table_name="case_stage_facts")
    with op.batch_alter_table("case_stage_facts") as batch:
        batch.drop_column("late_before")
    op.create_index("ix_case_stage_facts_stage_ended", "case_stage_facts", list(BEFORE))
