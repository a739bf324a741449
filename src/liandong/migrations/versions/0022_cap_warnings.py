"""cap warnings: CAP messages issued from incidents, and CAP messages received (uploaded or polled)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-09 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import liandong.db

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

RECEIVED_INDEXES = ("expires", "sent", "source", "state")
ISSUED_INDEXES = ("expires", "incident_id", "sent")


def upgrade() -> None:
    op.create_table(
        "cap_received",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=255), nullable=False),
        sa.Column("identifier", sa.String(length=255), nullable=False),
        sa.Column("sent", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_text", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("msg_type", sa.String(length=8), nullable=False),
        sa.Column("scope", sa.String(length=12), nullable=False),
        sa.Column("references", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
        sa.Column("headline", sa.String(length=500), nullable=True),
        sa.Column("event", sa.String(length=500), nullable=True),
        sa.Column("sender_name", sa.String(length=500), nullable=True),
        sa.Column("severity", sa.String(length=10), nullable=True),
        sa.Column("urgency", sa.String(length=10), nullable=True),
        sa.Column("certainty", sa.String(length=10), nullable=True),
        sa.Column("expires", liandong.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("infos", sa.JSON(), nullable=False),
        sa.Column("areas", sa.JSON(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("received_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cap_received")),
        sa.UniqueConstraint("sender", "identifier", "sent", name=op.f("uq_cap_received_sender")),
    )
    with op.batch_alter_table("cap_received", schema=None) as batch_op:
        for column in RECEIVED_INDEXES:
            batch_op.create_index(batch_op.f(f"ix_cap_received_{column}"), [column], unique=False)

    op.create_table(
        "cap_warnings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=31), nullable=False),
        sa.Column("sender", sa.String(length=120), nullable=False),
        sa.Column("sent", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_text", sa.String(length=25), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("msg_type", sa.String(length=8), nullable=False),
        sa.Column("references", sa.Text(), nullable=True),
        sa.Column("headline", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("instruction", sa.Text(), nullable=True),
        sa.Column("expires", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("areas", sa.JSON(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("superseded_at", liandong.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("exercise", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_cap_warnings_incident_id_incidents"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cap_warnings")),
        sa.UniqueConstraint("identifier", name=op.f("uq_cap_warnings_identifier")),
    )
    with op.batch_alter_table("cap_warnings", schema=None) as batch_op:
        for column in ISSUED_INDEXES:
            batch_op.create_index(batch_op.f(f"ix_cap_warnings_{column}"), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cap_warnings", schema=None) as batch_op:
        for column in ISSUED_INDEXES:
            batch_op.drop_index(batch_op.f(f"ix_cap_warnings_{column}"))
    op.drop_table("cap_warnings")
    with op.batch_alter_table("cap_received", schema=None) as batch_op:
        for column in RECEIVED_INDEXES:
            batch_op.drop_index(batch_op.f(f"ix_cap_received_{column}"))
    op.drop_table("cap_received")
