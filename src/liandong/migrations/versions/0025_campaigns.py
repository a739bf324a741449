"""screening campaigns (排查行动): campaigns, their assigned teams and grid visits

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-11 12:00:00
"""

import sqlalchemy as sa
from alembic import op

import liandong.db

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

When = liandong.db.UTCDateTime(timezone=True)
CAMPAIGN_INDEXES = ("area_id", "area_path", "created_at", "state", "theme")
VISIT_INDEXES = ("campaign_id", "grid_id", "unit_id", "visited_at")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("theme", sa.String(length=50), nullable=False),
        sa.Column("checklist", sa.JSON(), nullable=False),
        sa.Column("area_id", sa.Integer(), nullable=False),
        sa.Column("area_path", sa.String(length=200), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", When, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", When, nullable=False),
        sa.Column("started_at", When, nullable=True),
        sa.Column("closed_at", When, nullable=True),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_campaigns_area_id_areas"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("code", name=op.f("uq_campaigns_code")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for column in CAMPAIGN_INDEXES:
            batch_op.create_index(batch_op.f(f"ix_campaigns_{column}"), [column], unique=False)

    op.create_table(
        "campaign_teams",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_teams_campaign_id_campaigns"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_campaign_teams_unit_id_units"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("campaign_id", "unit_id", name=op.f("pk_campaign_teams")),
    )
    with op.batch_alter_table("campaign_teams", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_teams_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "campaign_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("visit_key", sa.String(length=64), nullable=True),
        sa.Column("visited_at", When, nullable=False),
        sa.Column("recorded_at", When, nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("hazard_ids", sa.JSON(), nullable=False),
        sa.Column("dispute_ids", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_campaign_visits_campaign_id_campaigns"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["grid_id"], ["areas.id"], name=op.f("fk_campaign_visits_grid_id_areas"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_campaign_visits_unit_id_units"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_visits")),
        sa.UniqueConstraint("campaign_id", "visit_key", name=op.f("uq_campaign_visits_campaign_id")),
    )
    with op.batch_alter_table("campaign_visits", schema=None) as batch_op:
        for column in VISIT_INDEXES:
            batch_op.create_index(batch_op.f(f"ix_campaign_visits_{column}"), [column], unique=False)


def downgrade() -> None:
    for table, indexes in (("campaign_visits", VISIT_INDEXES), ("campaign_teams", ("unit_id",)),
                           ("campaigns", CAMPAIGN_INDEXES)):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in indexes:
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
        op.drop_table(table)
