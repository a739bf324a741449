"""an index of the stage facts that ended returned or voided: the few rows the assessment's accuracy counts ask
about (准确派遣: a dispatch not returned; 准确立案: a filing never voided)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-04 10:40:00

Those counts look, for each dispatch or filing of a period, for a later stage of its case that was returned or
voided, ended at any time since the period began. A case's later stage may end in any later month, so no partition
bound narrows the search, and without an index of their own PostgreSQL found the few returned stages by reading
every later month's facts: each early month of a 10-million-case history took seconds a count when its figures
were stored (``assessment/months.py``). A partial index holds only those rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

WHERE = "outcome IN ('returned', 'voided')"


def upgrade() -> None:
    op.create_index("ix_case_stage_facts_exceptions", "case_stage_facts",
                    ["outcome", "case_id", "seq", "stage", "ended_at"],
                    postgresql_where=sa.text(WHERE), sqlite_where=sa.text(WHERE))


def downgrade() -> None:
    op.drop_index("ix_case_stage_facts_exceptions", table_name="case_stage_facts")
