"""plans and tasks: plan versions (the library), plan activations on incidents, the tasks they create

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import liandong.db

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("loaded_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("code", "version", name=op.f("uq_plans_code")),
    )
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plans_code"), ["code"], unique=False)

    op.create_table(
        "plan_activations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("plan_code", sa.String(length=40), nullable=False),
        sa.Column("plan_version", sa.String(length=32), nullable=False),
        sa.Column("response_level", sa.Integer(), nullable=False),
        sa.Column("raised_from", sa.Integer(), nullable=True),
        sa.Column("activated_by", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("activated_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("exercise", sa.Boolean(), nullable=False),
        sa.Column("tasks_created", sa.Integer(), nullable=False),
        sa.Column("unresolved", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"],
                                name=op.f("fk_plan_activations_incident_id_incidents"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name=op.f("fk_plan_activations_plan_id_plans"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_activations")),
    )
    with op.batch_alter_table("plan_activations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plan_activations_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_plan_activations_plan_id"), ["plan_id"], unique=False)

    op.create_table(
        "incident_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("activation_id", sa.Integer(), nullable=False),
        sa.Column("plan_code", sa.String(length=40), nullable=False),
        sa.Column("task_key", sa.String(length=40), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("owner_unit_id", sa.Integer(), nullable=False),
        sa.Column("due_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ack_required", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("exercise", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", liandong.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acked_at", liandong.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acked_by", sa.String(length=64), nullable=True),
        sa.Column("acked_unit_id", sa.Integer(), nullable=True),
        sa.Column("acked_on_behalf", sa.Boolean(), nullable=False),
        sa.Column("ack_note", sa.String(length=2000), nullable=True),
        sa.Column("started_at", liandong.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", liandong.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("report", sa.Text(), nullable=True),
        sa.Column("cancelled_at", liandong.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ack_escalated_at", liandong.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("late_escalated_at", liandong.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["activation_id"], ["plan_activations.id"],
                                name=op.f("fk_incident_tasks_activation_id_plan_activations"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], name=op.f("fk_incident_tasks_incident_id_incidents"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["owner_unit_id"], ["units.id"], name=op.f("fk_incident_tasks_owner_unit_id_units"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_tasks")),
        sa.UniqueConstraint("incident_id", "plan_code", "task_key", "owner_unit_id",
                            name=op.f("uq_incident_tasks_incident_id")),
    )
    with op.batch_alter_table("incident_tasks", schema=None) as batch_op:
        for column in ("activation_id", "due_at", "owner_unit_id", "state"):
            batch_op.create_index(batch_op.f(f"ix_incident_tasks_{column}"), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incident_tasks", schema=None) as batch_op:
        for column in ("state", "owner_unit_id", "due_at", "activation_id"):
            batch_op.drop_index(batch_op.f(f"ix_incident_tasks_{column}"))
    op.drop_table("incident_tasks")
    with op.batch_alter_table("plan_activations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plan_activations_plan_id"))
        batch_op.drop_index(batch_op.f("ix_plan_activations_incident_id"))
    op.drop_table("plan_activations")
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_plans_code"))
    op.drop_table("plans")
