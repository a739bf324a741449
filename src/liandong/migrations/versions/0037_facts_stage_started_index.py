"""an index of the stage facts by stage and start: the stages running at a moment long past

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-05 03:00:00

A period's figures count the stages running at its end (应结案, 超期: begun before the cut, ended after it or not
yet). For a cut a year back, the facts ended after it are a year of them, and the index by (stage, end) had
PostgreSQL read every one of them to find the few that began before the cut (the previous period of a rolling
year, at 10 M cases). By (stage, start) each month's partition of the facts ended after the cut gives just
those: a stage that ended months after the cut seldom began before it.
"""

from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_case_stage_facts_stage_started", "case_stage_facts", ["stage", "started_at", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_case_stage_facts_stage_started", table_name="case_stage_facts")
