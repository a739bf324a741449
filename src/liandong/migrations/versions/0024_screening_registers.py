"""screening registers: safety hazards and disputes, each with an append-only event log

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-10 12:00:00
"""

import sqlalchemy as sa
from alembic import op

import liandong.db

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

When = liandong.db.UTCDateTime(timezone=True)
HAZARD_INDEXES = ("area_path", "case_id", "created_at", "grade", "grid_id", "responsible_unit_id", "sector", "state")
DISPUTE_INDEXES = ("area_path", "created_at", "grid_id", "incident_id", "risk", "state", "tier", "type")
LOGS = ("hazard_events", "dispute_events")


def _event_table(name: str, parent: str, column: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(column, sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint([column], [f"{parent}.id"], name=op.f(f"fk_{name}_{column}_{parent}"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint(column, "seq", name=op.f(f"uq_{name}_{column}")),
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        for index in ("action", "at"):
            batch_op.create_index(batch_op.f(f"ix_{name}_{index}"), [index], unique=False)


def upgrade() -> None:
    op.create_table(
        "hazards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("sector", sa.String(length=24), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=True),
        sa.Column("grade", sa.String(length=8), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=200), nullable=False),
        sa.Column("responsible_unit_id", sa.Integer(), nullable=True),
        sa.Column("measures", sa.Text(), nullable=True),
        sa.Column("responsibility", sa.String(length=200), nullable=True),
        sa.Column("funds", sa.String(length=200), nullable=True),
        sa.Column("contingency_plan", sa.Text(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("reporter_kind", sa.String(length=8), nullable=False),
        sa.Column("reporter_name", sa.String(length=100), nullable=True),
        sa.Column("reporter_phone", sa.String(length=32), nullable=True),
        sa.Column("reward_wanted", sa.Boolean(), nullable=False),
        sa.Column("reward_amount", sa.Integer(), nullable=True),
        sa.Column("reward_by", sa.Integer(), nullable=True),
        sa.Column("reward_paid", sa.Boolean(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("closed_at", When, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_hazards_case_id_cases"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["grid_id"], ["areas.id"], name=op.f("fk_hazards_grid_id_areas"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["responsible_unit_id"], ["units.id"],
                                name=op.f("fk_hazards_responsible_unit_id_units"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazards")),
        sa.UniqueConstraint("number", name=op.f("uq_hazards_number")),
    )
    with op.batch_alter_table("hazards", schema=None) as batch_op:
        for column in HAZARD_INDEXES:
            batch_op.create_index(batch_op.f(f"ix_hazards_{column}"), [column], unique=False)
    _event_table("hazard_events", "hazards", "hazard_id")

    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("risk", sa.String(length=8), nullable=False),
        sa.Column("tier", sa.String(length=12), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("parties", sa.JSON(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=200), nullable=False),
        sa.Column("mediator", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("closed_at", When, nullable=True),
        sa.ForeignKeyConstraint(["grid_id"], ["areas.id"], name=op.f("fk_disputes_grid_id_areas"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_disputes_incident_id_incidents"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
        sa.UniqueConstraint("number", name=op.f("uq_disputes_number")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        for column in DISPUTE_INDEXES:
            batch_op.create_index(batch_op.f(f"ix_disputes_{column}"), [column], unique=False)
    _event_table("dispute_events", "disputes", "dispute_id")

    for name in LOGS:  # the logs are append-only: the database refuses UPDATE and DELETE on them
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"CREATE FUNCTION {name}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                       f"BEGIN RAISE EXCEPTION '{name} is append-only'; END $$")
            op.execute(f"CREATE TRIGGER {name}_no_change BEFORE UPDATE OR DELETE ON {name} "
                       f"FOR EACH ROW EXECUTE FUNCTION {name}_append_only()")
        else:
            for verb in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {name}_no_{verb.lower()} BEFORE {verb} ON {name} "
                           f"BEGIN SELECT RAISE(ABORT, '{name} is append-only'); END")


def downgrade() -> None:
    for name in LOGS:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name}_no_change ON {name}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}_append_only()")
    for table, indexes in (("dispute_events", ("action", "at")), ("disputes", DISPUTE_INDEXES),
                           ("hazard_events", ("action", "at")), ("hazards", HAZARD_INDEXES)):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in indexes:
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
        op.drop_table(table)
