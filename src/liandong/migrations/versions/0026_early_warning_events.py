"""early-warning events (append-only history: scans and decisions) and scan runs; the side counter and the
overwritten decision columns dropped

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-12 10:00:00

Existing warnings get their history back-filled as far as the old columns tell: a ``found`` event at
``detected_at`` with the stored figures, a ``rescanned`` event at ``last_scan_at`` when more than one scan found it
(the scans in between are not known), and the decision (``watch``/``dismiss``/``promote``) at ``status_at``.
"""

import sqlalchemy as sa
from alembic import op

import liandong.db

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

When = liandong.db.UTCDateTime(timezone=True)
LOGS = ("early_warning_events", "early_warning_scans")
DECISIONS = {"watching": "watch", "dismissed": "dismiss", "promoted": "promote"}


def upgrade() -> None:
    history = _history()  # read before the columns it comes from are dropped
    with op.batch_alter_table("early_warnings", schema=None) as batch_op:
        for column in ("scans", "status_by", "status_at", "status_note"):
            batch_op.drop_column(column)

    events = op.create_table(
        "early_warning_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("warning_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["warning_id"], ["early_warnings.id"],
                                name=op.f("fk_early_warning_events_warning_id_early_warnings"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_early_warning_events")),
        sa.UniqueConstraint("warning_id", "seq", name=op.f("uq_early_warning_events_warning_id")),
    )
    with op.batch_alter_table("early_warning_events", schema=None) as batch_op:
        for index in ("at", "kind"):
            batch_op.create_index(batch_op.f(f"ix_early_warning_events_{index}"), [index], unique=False)
    op.create_table(
        "early_warning_scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", When, nullable=False),
        sa.Column("trigger", sa.String(length=12), nullable=False),
        sa.Column("recorded_at", When, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_early_warning_scans")),
    )
    with op.batch_alter_table("early_warning_scans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_early_warning_scans_at"), ["at"], unique=False)
    if history:
        op.bulk_insert(events, history)

    for name in LOGS:  # append-only: the database refuses UPDATE and DELETE on them
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"CREATE FUNCTION {name}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                       f"BEGIN RAISE EXCEPTION '{name} is append-only'; END $$")
            op.execute(f"CREATE TRIGGER {name}_no_change BEFORE UPDATE OR DELETE ON {name} "
                       f"FOR EACH ROW EXECUTE FUNCTION {name}_append_only()")
        else:
            for verb in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {name}_no_{verb.lower()} BEFORE {verb} ON {name} "
                           f"BEGIN SELECT RAISE(ABORT, '{name} is append-only'); END")


def _history() -> list[dict]:
    times = ("detected_at", "last_scan_at", "window_start", "window_end", "status_at")
    lists = ("grid_codes", "matter_codes", "case_ids")
    warnings = sa.table("early_warnings", *(sa.column(c, When) for c in times),
                        *(sa.column(c, sa.JSON()) for c in lists),
                        *(sa.column(c) for c in ("id", "scans", "radius_m", "observed", "expected", "relative_risk",
                                                 "score", "p_value", "status", "status_by", "status_note")))
    names = dict(op.get_bind().execute(sa.text("SELECT id, username FROM users")).all())
    out = []
    for w in op.get_bind().execute(sa.select(warnings).order_by(warnings.c.id)).mappings():
        figures = {k: w[k] for k in ("radius_m", *lists, "observed", "expected", "relative_risk", "score",
                                     "p_value")}
        figures.update(window_start=w["window_start"].isoformat(), window_end=w["window_end"].isoformat(),
                       backfilled=True)
        rows = [(w["detected_at"], "found", None, "scan", None, figures)]
        if (w["scans"] or 1) > 1 and w["last_scan_at"] != w["detected_at"]:
            rows.append((w["last_scan_at"], "rescanned", None, "scan", None,
                         {**figures, "scans_before_0026": w["scans"]}))
        if w["status"] in DECISIONS and w["status_at"] is not None:
            rows.append((w["status_at"], DECISIONS[w["status"]], w["status_by"],
                         str(names.get(w["status_by"], w["status_by"] or ""))[:64],
                         w["status_note"], {"to": w["status"], "backfilled": True}))
        out += [{"warning_id": w["id"], "seq": seq, "at": at, "kind": kind, "actor_id": actor_id, "actor": actor,
                 "note": note, "payload": payload}
                for seq, (at, kind, actor_id, actor, note, payload) in enumerate(rows, 1)]
    return out


def downgrade() -> None:
    for name in LOGS:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name}_no_change ON {name}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}_append_only()")
        else:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {name}_no_{verb}")
    with op.batch_alter_table("early_warnings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scans", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("status_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("status_at", When, nullable=True))
        batch_op.add_column(sa.Column("status_note", sa.Text(), nullable=True))
    op.execute("UPDATE early_warnings SET scans = (SELECT count(*) FROM early_warning_events e WHERE "
               "e.warning_id = early_warnings.id AND e.kind IN ('found', 'rescanned')) WHERE EXISTS (SELECT 1 FROM "
               "early_warning_events e WHERE e.warning_id = early_warnings.id AND e.kind IN ('found', 'rescanned'))")
    latest = ("(SELECT e.{col} FROM early_warning_events e WHERE e.warning_id = early_warnings.id AND "
              "e.kind IN ('watch', 'dismiss', 'promote') ORDER BY e.seq DESC LIMIT 1)")
    op.execute(f"UPDATE early_warnings SET status_by = {latest.format(col='actor_id')}, "
               f"status_at = {latest.format(col='at')}, status_note = {latest.format(col='note')}")
    with op.batch_alter_table("early_warnings", schema=None) as batch_op:
        batch_op.alter_column("scans", server_default=None)
    for table, indexes in (("early_warning_scans", ("at",)), ("early_warning_events", ("at", "kind"))):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in indexes:
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
        op.drop_table(table)
