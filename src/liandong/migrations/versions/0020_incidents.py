"""incidents: the incident row, affected areas, the append-only incident log, links, cases raised or linked

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import liandong.db

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=False),
        sa.Column("warning_level", sa.Integer(), nullable=True),
        sa.Column("response_level", sa.Integer(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=200), nullable=False),
        sa.Column("commander_id", sa.Integer(), nullable=True),
        sa.Column("exercise", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("occurred_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", liandong.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["commander_id"], ["users.id"], name=op.f("fk_incidents_commander_id_users"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["grid_id"], ["areas.id"], name=op.f("fk_incidents_grid_id_areas"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("number", name=op.f("uq_incidents_number")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        for column in ("area_path", "category", "commander_id", "grid_id", "occurred_at", "state"):
            batch_op.create_index(batch_op.f(f"ix_incidents_{column}"), [column], unique=False)

    op.create_table(
        "incident_areas",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_incident_areas_area_id_areas"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_incident_areas_incident_id_incidents"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("incident_id", "area_id", name=op.f("pk_incident_areas")),
    )
    with op.batch_alter_table("incident_areas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_areas_area_id"), ["area_id"], unique=False)

    op.create_table(
        "incident_cases",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("how", sa.String(length=8), nullable=False),
        sa.Column("created_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_incident_cases_case_id_cases"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_incident_cases_incident_id_incidents"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("incident_id", "case_id", name=op.f("pk_incident_cases")),
    )
    with op.batch_alter_table("incident_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_cases_case_id"), ["case_id"], unique=False)

    op.create_table(
        "incident_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=True),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_incident_events_incident_id_incidents"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
        sa.UniqueConstraint("incident_id", "seq", name=op.f("uq_incident_events_incident_id")),
    )

    op.create_table(
        "incident_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("other_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("created_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_incident_links_incident_id_incidents"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["other_id"], ["incidents.id"], name=op.f("fk_incident_links_other_id_incidents"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_links")),
        sa.UniqueConstraint("incident_id", "other_id", name=op.f("uq_incident_links_incident_id")),
    )
    with op.batch_alter_table("incident_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_links_other_id"), ["other_id"], unique=False)
    _events_append_only()


def _events_append_only() -> None:
    """The incident log is append-only: the database refuses UPDATE and DELETE on it (as on case_events)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE FUNCTION incident_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN RAISE EXCEPTION 'incident_events is append-only'; END $$")
        op.execute("CREATE TRIGGER incident_events_no_change BEFORE UPDATE OR DELETE ON incident_events "
                   "FOR EACH ROW EXECUTE FUNCTION incident_events_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER incident_events_no_{verb.lower()} BEFORE {verb} ON incident_events "
                       "BEGIN SELECT RAISE(ABORT, 'incident_events is append-only'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS incident_events_no_change ON incident_events")
        op.execute("DROP FUNCTION IF EXISTS incident_events_append_only()")
    with op.batch_alter_table("incident_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_links_other_id"))
    op.drop_table("incident_links")
    op.drop_table("incident_events")
    with op.batch_alter_table("incident_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_cases_case_id"))
    op.drop_table("incident_cases")
    with op.batch_alter_table("incident_areas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_areas_area_id"))
    op.drop_table("incident_areas")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        for column in ("state", "occurred_at", "grid_id", "commander_id", "category", "area_path"):
            batch_op.drop_index(batch_op.f(f"ix_incidents_{column}"))
    op.drop_table("incidents")
