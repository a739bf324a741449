"""early warnings: space-time clusters of reports found by the detectors, with their evidence and status

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-10 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import liandong.db

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

INDEXES = ("area_path", "centre_grid_id", "detected_at", "detector", "incident_id", "status")


def upgrade() -> None:
    op.create_table(
        "early_warnings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("detector", sa.String(length=12), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("detected_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_scan_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("scans", sa.Integer(), nullable=False),
        sa.Column("window_start", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("window_end", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("centre_grid_id", sa.Integer(), nullable=False),
        sa.Column("centre_grid_code", sa.String(length=64), nullable=False),
        sa.Column("area_path", sa.String(length=200), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("radius_m", sa.Float(), nullable=False),
        sa.Column("grid_codes", sa.JSON(), nullable=False),
        sa.Column("matter_codes", sa.JSON(), nullable=False),
        sa.Column("case_ids", sa.JSON(), nullable=False),
        sa.Column("observed", sa.Integer(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("relative_risk", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("status_by", sa.Integer(), nullable=True),
        sa.Column("status_at", liandong.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status_note", sa.Text(), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["centre_grid_id"], ["areas.id"],
                                name=op.f("fk_early_warnings_centre_grid_id_areas"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_early_warnings_incident_id_incidents"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_early_warnings")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_early_warnings_dedupe_key")),
    )
    with op.batch_alter_table("early_warnings", schema=None) as batch_op:
        for column in INDEXES:
            batch_op.create_index(batch_op.f(f"ix_early_warnings_{column}"), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("early_warnings", schema=None) as batch_op:
        for column in INDEXES:
            batch_op.drop_index(batch_op.f(f"ix_early_warnings_{column}"))
    op.drop_table("early_warnings")
