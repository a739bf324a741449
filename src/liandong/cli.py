"""The ``liandong`` command line: migrate, demo, serve, areas, layers, users, audit.

Every command works on ``LIANDONG_DATABASE_URL`` (an SQLite file under ./var/ when unset) and runs in
one transaction: an error prints a clear message, exits non-zero and leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from liandong.config import get_settings
from liandong.db import migrate as run_migrations
from liandong.db import unit_of_work, utcnow
from liandong.errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

app = typer.Typer(help="Liandong 联动 — city grid governance and emergency linkage platform.",
                  no_args_is_help=True, add_completion=False)
areas_app = typer.Typer(help="Area tree, unit grids, GeoJSON import/export, point lookup.", no_args_is_help=True)
layers_app = typer.Typer(help="Department grid layers mapped onto unit grids (多网合一).", no_args_is_help=True)
users_app = typer.Typer(help="Users, roles, passwords, lock-outs.", no_args_is_help=True)
sensors_app = typer.Typer(help="Sensor readings over MQTT.", no_args_is_help=True)
facts_app = typer.Typer(help="Stage facts: the event log projected to one row per case stage.", no_args_is_help=True)
app.add_typer(facts_app, name="facts")
app.add_typer(sensors_app, name="sensors")
app.add_typer(areas_app, name="areas")
app.add_typer(layers_app, name="layers")
app.add_typer(users_app, name="users")


def _url() -> str:
    return get_settings().url()


def _fail(exc: DomainError) -> None:
    typer.secho(f"error: {exc.message}", fg="red", err=True)
    for line in exc.details[:50]:
        typer.echo(f"  - {line}", err=True)
    if len(exc.details) > 50:
        typer.echo(f"  … and {len(exc.details) - 50} more", err=True)
    raise typer.Exit(2)


def _read(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    if not path.exists():
        typer.secho(f"error: file not found: {path}", fg="red", err=True)
        raise typer.Exit(2)
    return path.read_text(encoding="utf-8")


@app.command()
def migrate() -> None:
    """Bring the database to the latest schema, and what it derives (stage facts, lights) to today's rules
    (a rebuild of the stage facts makes event writers wait until it is done)."""
    from liandong.cases import upkeep

    _migrate()
    with unit_of_work(_url()) as session:
        parts = upkeep.outdated(session)
    for part in parts:
        with unit_of_work(_url()) as session:
            written = upkeep.recompute(session, part, utcnow())
        if written is not None:
            typer.echo(f"recomputed under today's rules: {json.dumps({part: written})}")
    typer.echo(f"database at the latest schema: {_safe_url()}")


def _migrate() -> None:
    """The schema; then a database without cases takes today's rules for what it derives, and one with cases
    computed under other rules is named (``liandong migrate`` recomputes it: too long to do while starting)."""
    from liandong.cases import upkeep

    run_migrations(_url())
    with unit_of_work(_url()) as session:
        parts = upkeep.outdated(session)
        if parts and upkeep.fresh(session):
            for part in parts:
                upkeep.record(session, part)
            parts = []
    if parts:
        typer.echo(f"warning: {', '.join(parts)} computed under other rules; run `liandong migrate`", err=True)


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    return make_url(_url()).render_as_string(hide_password=True)


@app.command()
def demo(
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the platform afterwards")] = True,
    host: str = "127.0.0.1",
    port: int = 8000,
    cases: Annotated[int, typer.Option(min=0, max=100_000, help="demo cases over the last 30 days")] = 400,
) -> None:
    """Migrate, load the Minhang demo district if the database is empty, print the accounts, serve."""
    from liandong.demo import loader

    _migrate()
    settings = get_settings()
    with unit_of_work(_url()) as session:
        if loader.is_loaded(session):
            typer.echo("demo district already loaded; accounts unchanged (password as when it was loaded)")
            result = None
        else:
            typer.echo("loading the Minhang demo district (towns, 596 communities, ~37,000 unit grids)…")
            result = loader.load(session, settings.demo_password or None, cases=cases,
                                 open311_key=settings.demo_open311_key or None)
    if result:
        typer.echo(f"loaded {result['grids']} unit grids, {result['units']} units, {result['members']} team members, "
                   f"{result['cases']} demo cases")
        if result.get("drill"):
            d = result["drill"]
            typer.echo(f"typhoon drill {d['incident']} (exercise): {d['tasks']} plan tasks, {d['done']} done, one late "
                       "and escalated; see /incidents")
        if result.get("screening"):
            typer.echo(f"{result['screening']['hazards']} safety hazards and {result['screening']['disputes']} "
                       "disputes over the month; see /hazards and /disputes")
        typer.echo("demo accounts (password below" + (", from LIANDONG_DEMO_PASSWORD)" if settings.demo_password
                                                        else ", random: keep it)"))
        for u in result["users"]:
            typer.echo(f"  {u['username']:<14} roles={','.join(u['roles']):<14} unit={u['unit']}")
        typer.secho(f"  password: {result['password']}", bold=True)
        typer.echo(f"Open311 API key 'demo'{' (from LIANDONG_DEMO_OPEN311_KEY)' if settings.demo_open311_key else ''}: "
                   f"{result['open311_key']}  (http://{host}:{port}/open311/v2/discovery.json)")
    if serve_after:
        serve(host=host, port=port)


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the web app and API (OpenAPI at /docs)."""
    import uvicorn

    from liandong.ops import metrics

    _migrate()
    metrics.reset_multiprocess_dir()  # figures of an earlier run's workers are not this run's
    typer.echo(f"serving on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    uvicorn.run("liandong.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=get_settings().log_level)


@app.command()
def backup(path: Annotated[Path, typer.Argument(help="the backup file to write (replaced whole)")]) -> None:
    """Back up the database into one file, while the app runs: SQLite's online backup, or pg_dump's custom
    format; with a manifest (backend, schema revision, time, row counts)."""
    from liandong.ops import backup as ops

    try:
        made = ops.backup(_url(), path)
    except DomainError as exc:
        _fail(exc)
    typer.echo(f"backed up {_safe_url()} (schema {made['revision']}, {sum(made['tables'].values()):,} rows in "
               f"{len(made['tables'])} tables) to {path} ({path.stat().st_size:,} bytes)")


@app.command()
def restore(path: Annotated[Path, typer.Argument(help="a file written by `liandong backup`")]) -> None:
    """Replace the database with a backup of the same backend, whole or not at all (on SQLite, stop the app
    first). Refuses a file of the other backend or of a newer schema."""
    from liandong.ops import backup as ops

    try:
        made = ops.restore(_url(), path)
    except DomainError as exc:
        _fail(exc)
    typer.echo(f"restored {_safe_url()} from {path} (made {made['created_at']}, schema {made['revision']}, "
               f"{sum(made['tables'].values()):,} rows in {len(made['tables'])} tables); restart the app's processes: "
               "they remember the old data (the live feed's position, caches)")
    if made["revision"] != made["head"]:
        typer.echo(f"the backup's schema is older than this code's ({made['head']}): run `liandong migrate`", err=True)


# --- areas --------------------------------------------------------------------------------------

@areas_app.command("import")
def areas_import(
    file: Path,
    level: Annotated[str | None, typer.Option(help="level of every feature (else the 'level' property)")] = None,
    crs: Annotated[str | None, typer.Option(help="wgs84 | gcj02 | bd09 (else the file's crs, else wgs84)")] = None,
    mode: Annotated[str, typer.Option(help="create (refuse existing codes) | upsert")] = "create",
) -> None:
    """Import a GeoJSON FeatureCollection of areas; all or nothing."""
    from liandong.areas.service import import_geojson
    from liandong.auth import audit

    raw = _read(file)
    try:
        with unit_of_work(_url()) as session:
            report = import_geojson(session, raw, level=level, crs=crs, mode=mode)
            audit.record(session, "areas_imported", actor_name="cli", target=str(file), detail=report.as_dict())
    except DomainError as exc:
        _fail(exc)
    typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))


@areas_app.command("export")
def areas_export(
    level: str,
    within: Annotated[str | None, typer.Option(help="only areas under this code")] = None,
    crs: str = "wgs84",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="file (default: stdout)")] = None,
) -> None:
    """Export one level as GeoJSON."""
    from liandong.areas.service import export_geojson

    try:
        with unit_of_work(_url()) as session:
            fc = export_geojson(session, level=level, within=within, crs=crs)
    except DomainError as exc:
        _fail(exc)
    text = json.dumps(fc, ensure_ascii=False)
    if output:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"{len(fc['features'])} features written to {output}", err=True)
    else:
        typer.echo(text)


@areas_app.command("generate-grids")
def generate_grids(
    code: str,
    target_m2: Annotated[float, typer.Option(help="target area of one unit grid in m²")] = 10_000.0,
    replace: Annotated[bool, typer.Option(help="replace existing grids")] = False,
) -> None:
    """Cut the communities under CODE into unit grids of about TARGET_M2."""
    from liandong.areas import gridgen
    from liandong.auth import audit

    try:
        with unit_of_work(_url()) as session:
            result = gridgen.generate(session, code, target_m2=target_m2, replace=replace)
            audit.record(session, "grids_generated", actor_name="cli", target=f"area:{code}", detail=result)
    except DomainError as exc:
        _fail(exc)
    typer.echo(json.dumps(result))


@areas_app.command("group-grids")
def group_grids(
    code: str,
    per_group: Annotated[int, typer.Option(help="unit grids per responsibility grid")] = 22,
) -> None:
    """Group the unit grids of each community under CODE into responsibility grids (责任网格)."""
    from liandong.areas import gridgen
    from liandong.auth import audit

    try:
        with unit_of_work(_url()) as session:
            result = gridgen.group_into_responsibility_grids(session, code, per_group=per_group)
            audit.record(session, "responsibility_grids_made", actor_name="cli", target=f"area:{code}", detail=result)
    except DomainError as exc:
        _fail(exc)
    typer.echo(json.dumps(result))


@areas_app.command("locate")
def areas_locate(lon: float, lat: float, crs: str = "wgs84") -> None:
    """Which unit grid contains a point, with its ancestors and responsible units."""
    from liandong.areas.crs import CRSError
    from liandong.areas.index import GridIndex, locate

    with unit_of_work(_url()) as session:
        index = GridIndex.build(session)
    try:
        found = locate(index, lon, lat, crs)
    except CRSError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    if found is None:
        typer.secho("error: no unit grid at this point", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(found, ensure_ascii=False, indent=1))


@areas_app.command("summary")
def areas_summary() -> None:
    """Counts of areas per level."""
    from liandong.areas.service import summary

    with unit_of_work(_url()) as session:
        typer.echo(json.dumps(summary(session), ensure_ascii=False))


# --- layers ---------------------------------------------------------------------------------------

@layers_app.command("import")
def layers_import(
    file: Path,
    code: Annotated[str, typer.Option(help="layer code, e.g. police-beats")],
    name: Annotated[str, typer.Option(help="layer name")],
    line: Annotated[str, typer.Option(help="department line, e.g. public_security")],
    crs: str | None = None,
    replace: bool = False,
) -> None:
    """Import a department layer (zones with a responsible unit code) and map it onto the unit grids."""
    from liandong.areas import layers
    from liandong.auth import audit

    raw = _read(file)
    try:
        with unit_of_work(_url()) as session:
            result = layers.import_layer(session, raw, code=code, name=name, line=line, crs=crs, replace=replace)
            audit.record(session, "layer_imported", actor_name="cli", target=f"layer:{code}", detail=result)
    except DomainError as exc:
        _fail(exc)
    typer.echo(json.dumps(result, ensure_ascii=False))


@layers_app.command("list")
def layers_list() -> None:
    """Department layers and how many grids each maps."""
    from liandong.areas import layers

    with unit_of_work(_url()) as session:
        typer.echo(json.dumps(layers.list_layers(session), ensure_ascii=False, indent=1))


# --- users ----------------------------------------------------------------------------------------

@users_app.command("create")
def users_create(
    username: str,
    unit: Annotated[str, typer.Option(help="unit code, e.g. LD-310112")],
    roles: Annotated[str, typer.Option(help="comma-separated roles")],
    display_name: str | None = None,
) -> None:
    """Create a user; the password is read from LIANDONG_NEW_PASSWORD or asked for."""
    from liandong.auth import service

    password = os.environ.get("LIANDONG_NEW_PASSWORD") or typer.prompt("password", hide_input=True,
                                                                       confirmation_prompt=True)
    try:
        with unit_of_work(_url()) as session:
            service.create_user(session, username=username, password=password, unit_code=unit,
                                roles=[r.strip() for r in roles.split(",") if r.strip()], display_name=display_name)
    except DomainError as exc:
        _fail(exc)
    typer.echo(f"user {username} created")


@users_app.command("unlock")
def users_unlock(username: str) -> None:
    """Clear a lock-out after repeated failed logins."""
    from liandong.auth import service

    try:
        with unit_of_work(_url()) as session:
            service.unlock(session, username)
    except DomainError as exc:
        _fail(exc)
    typer.echo(f"user {username} unlocked")


@users_app.command("set-roles")
def users_set_roles(username: str, roles: str) -> None:
    """Replace a user's roles (comma-separated)."""
    from liandong.auth import service

    try:
        with unit_of_work(_url()) as session:
            service.set_roles(session, username, [r.strip() for r in roles.split(",") if r.strip()])
    except DomainError as exc:
        _fail(exc)
    typer.echo(f"user {username}: roles {roles}")


@app.command()
def sweep(repeat: Annotated[float, typer.Option(help="repeat every N seconds (0: once)")] = 0.0) -> None:
    """Escalate overdue case stages (exactly once each, also with several processes running)."""
    from liandong.cases import sla
    from liandong.db import utcnow

    while True:
        with unit_of_work(_url()) as session:
            done = sla.sweep(session, utcnow())
        typer.echo(json.dumps({"escalated": len(done), "case_ids": done}))
        if repeat <= 0:
            return
        time.sleep(repeat)


@facts_app.command("rebuild")
def facts_rebuild(
    check: Annotated[bool, typer.Option("--check", help="only compare: exit 1 if the stored facts differ from "
                                                       "those the log gives (nothing is written)")] = False,
) -> None:
    """Derive every stage fact again from the event log (after a bulk load, a calendar change or a repair);
    writers of events wait until it is done. ``--check`` compares instead, reading only."""
    from liandong.cases import facts, upkeep
    from liandong.db import session_factory

    if check:
        with session_factory(_url())() as session:
            found = facts.check(session)
        typer.echo(json.dumps(found))
        raise typer.Exit(1 if found["differing"] else 0)
    with unit_of_work(_url()) as session:
        written = facts.rebuild(session)
        upkeep.record(session, "stage_facts")
    typer.echo(json.dumps({"facts": written}))


assessment_app = typer.Typer(help="The assessment's month figures: each month's counts by day, kept.",
                              no_args_is_help=True)
app.add_typer(assessment_app, name="assessment")


@assessment_app.command("refresh")
def assessment_refresh(
    check: Annotated[bool, typer.Option("--check", help="only compare every stored month with the facts: exit 1 "
                                                       "if one differs (nothing is written)")] = False,
    workers: Annotated[int, typer.Option(min=1, help="build this many months at once, each in a process and a "
                                                     "connection of its own (SQLite: they make the rows, this "
                                                     "process stores them)")] = 1,
) -> None:
    """Drop the months that new events touched and store every month missing, up to its last complete day (what the
    running app does every ``assessment_refresh_minutes``)."""
    from liandong.assessment import months
    from liandong.assessment import settings as assessment_settings
    from liandong.db import session_factory, utcnow

    settings = assessment_settings.current()
    if check:
        with session_factory(_url())() as session:
            differing = months.check(session, settings, utcnow())
        typer.echo(json.dumps({"differing": differing[:20], "count": len(differing)}, ensure_ascii=False))
        raise typer.Exit(1 if differing else 0)
    typer.echo(json.dumps(months.refresh(lambda: unit_of_work(_url()), settings, utcnow(), workers=workers,
                                         url=_url())))


@app.command("calendar-seed")
def calendar_seed() -> None:
    """Store the holidays and adjusted workdays known to the chinesecalendar package (2004 on)."""
    from liandong.cases.calendar import seed_from_chinesecalendar

    with unit_of_work(_url()) as session:
        typer.echo(json.dumps(seed_from_chinesecalendar(session)))


@app.command("catalogue-load")
def catalogue_load() -> None:
    """Load the GB/T 47678.5-2026 catalogue (250 matters) with local default lines and time limits."""
    from liandong.catalogue import service

    with unit_of_work(_url()) as session:
        typer.echo(json.dumps(service.load_standard(session)))


@app.command()
def audit(limit: int = 50, action: str | None = None) -> None:
    """Show the newest audit-log entries."""
    from liandong.auth import audit as auditmod

    with unit_of_work(_url()) as session:
        for e in auditmod.entries(session, action=action, limit=limit):
            typer.echo(f"{e.at:%Y-%m-%d %H:%M:%S} {e.actor:<14} {e.action:<20} {e.target or ''} "
                       f"{json.dumps(e.detail, ensure_ascii=False) if e.detail else ''}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()


def _format_of(path: Path, fmt: str | None) -> str:
    return fmt or ("json" if path.suffix.lower() == ".json" else "csv")


@app.command("import-hotline")
def import_hotline(
    file: Path,
    fmt: Annotated[str | None, typer.Option("--format", help="csv | json (default: by the file's suffix)")] = None,
    mode: Annotated[str, typer.Option(help="all: nothing written when a row is bad | good: keep good rows")] = "all",
    crs: Annotated[str, typer.Option(help="coordinates of the orders: wgs84 | gcj02 | bd09")] = "wgs84",
) -> None:
    """Import 12345 hotline work orders (idempotent by order_id: importing again updates)."""
    from liandong.areas.index import GridIndex
    from liandong.db import utcnow
    from liandong.intake import hotline

    raw = _read(file)
    try:
        with unit_of_work(_url()) as session:
            result = hotline.import_orders(session, GridIndex.build(session), raw, fmt=_format_of(file, fmt),
                                           mode=mode, crs=crs, now=utcnow())
    except DomainError as exc:
        _fail(exc)
    for bad in result["bad_rows"]:
        typer.echo(f"skipped {bad['where']}: {bad['reason']}", err=True)
    typer.echo(json.dumps(result, ensure_ascii=False))


@app.command("import-callbacks")
def import_callbacks(
    file: Path,
    fmt: Annotated[str | None, typer.Option("--format", help="csv | json (default: by the file's suffix)")] = None,
) -> None:
    """Record 12345 callback results (回访: order_id, satisfaction, note) on the closed cases."""
    from liandong.areas.index import GridIndex
    from liandong.cases.calendar import calendar_for
    from liandong.db import utcnow
    from liandong.intake import hotline

    raw = _read(file)
    try:
        with unit_of_work(_url()) as session:
            result = hotline.record_callbacks(session, GridIndex.build(session), raw, fmt=_format_of(file, fmt),
                                              calendar=calendar_for(session), now=utcnow())
    except DomainError as exc:
        _fail(exc)
    for bad in result["bad_rows"]:
        typer.echo(f"skipped {bad['where']}: {bad['reason']}", err=True)
    typer.echo(json.dumps(result, ensure_ascii=False))


@app.command("import-311")
def import_311(
    file: Path,
    mapping: Annotated[str, typer.Option("--mapping", help="a shipped mapping (boston) or a .json mapping file")],
    as_json: Annotated[bool, typer.Option("--json", help="end with one JSON object on the last line")] = False,
) -> None:
    """Import a foreign 311 export (CSV, plain or .gz) as case history, and check on-time agreement."""
    from liandong.db import utcnow
    from liandong.intake import import311

    try:
        m = import311.mapping(mapping)
        with import311.open_text(file) as lines, unit_of_work(_url()) as session:
            result = import311.run(session, m, lines, now=utcnow())
    except DomainError as exc:
        _fail(exc)
    agreement = result["ontime_agreement"]
    typer.echo(f"read {result['read']}, imported {result['imported']}, skipped {result['skipped']}"
               + "".join(f"\n  skipped {n}: {why}" for why, n in result["skipped_reasons"].items())
               + f"\nout of every loaded area: {result['out_of_area']}"
               + "\non-time agreement with the file's own flag: "
               + (f"{agreement:.2%} of {result['ontime_judged']}" if agreement is not None else "nothing to compare"))
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))


@sensors_app.command("listen")
def sensors_listen(host: str = "127.0.0.1", port: int = 1883) -> None:
    """Subscribe to liandong/sensors/+/reading and apply every reading (Ctrl+C to stop)."""
    import threading

    from liandong.intake.sensors import mqtt

    stop = threading.Event()
    typer.echo(f"listening on mqtt://{host}:{port}/{mqtt.TOPIC}")
    try:
        mqtt.listen(_url(), host, port, stop)
    except KeyboardInterrupt:
        stop.set()
    except OSError as exc:
        typer.secho(f"error: cannot reach the MQTT broker at {host}:{port} ({exc})", fg="red", err=True)
        raise typer.Exit(2) from None


plans_app = typer.Typer(help="Contingency plans (预案): check plan files, load the library, escalate late tasks.",
                        no_args_is_help=True)
app.add_typer(plans_app, name="plans")


@plans_app.command("check")
def plans_check(files: Annotated[list[Path], typer.Argument(help="plan files (YAML)")]) -> None:
    """Validate plan files; every problem is named by file, line and field (exit 1 when any file is bad)."""
    from liandong.emergency.plans import loader

    bad = 0
    for path in files:
        try:
            doc = loader.read_file(path)
        except loader.PlanInvalid as exc:
            bad += 1
            for line in exc.details:
                typer.secho(line, fg="red", err=True)
            continue
        typer.echo(f"{path}: ok — {doc.code} version {doc.version_text}, levels "
                   f"{', '.join(str(lv.level) for lv in sorted(doc.levels, key=lambda lv: -lv.level))}")
    if bad:
        raise typer.Exit(1)


@plans_app.command("load")
def plans_load(directory: Annotated[Path | None, typer.Argument(help="default: the configured library "
                                                                     "(LIANDONG_PLANS_DIR, else the shipped one)")]
               = None) -> None:
    """Load the plan files of a directory into the database as new versions (all or nothing: exit 1 and nothing
    loaded when a file is bad, or changes a loaded version without a new version number)."""
    from liandong.emergency.plans import library

    folder = directory or library.library_dir()
    if not folder.is_dir():
        typer.secho(f"error: not a directory: {folder}", fg="red", err=True)
        raise typer.Exit(2)
    docs, problems = library.read(folder)
    for line in problems:
        typer.secho(str(line), fg="red", err=True)
    if problems:
        raise typer.Exit(1)
    with unit_of_work(_url()) as session:
        result = library.sync(session, docs)
        for line in result["refused"]:
            typer.secho(line, fg="red", err=True)
        if result["refused"]:
            raise typer.Exit(1)  # inside the unit of work: it rolls back, nothing is loaded
    typer.echo(json.dumps({k: v for k, v in result.items() if k != "refused"}, ensure_ascii=False))


@plans_app.command("sweep")
def plans_sweep(repeat: Annotated[float, typer.Option(help="repeat every N seconds (0: once)")] = 0.0) -> None:
    """Escalate plan tasks not acknowledged in time or past their deadline (each once, on natural time; the
    running app also does, with the case sweep)."""
    from liandong.emergency import task_sweep

    while True:
        with unit_of_work(_url()) as session:
            done = task_sweep.sweep(session, utcnow())
        typer.echo(json.dumps(done))
        if repeat <= 0:
            return
        time.sleep(repeat)


cap_app = typer.Typer(help="CAP warnings: import documents, poll feeds of alerts.", no_args_is_help=True)
app.add_typer(cap_app, name="cap")


@cap_app.command("import")
def cap_import(files: Annotated[list[Path], typer.Argument(help="CAP 1.1 or 1.2 documents (XML)")]) -> None:
    """Import CAP documents as received warnings, each in its own transaction (one already stored is reported as a
    duplicate); exit 1 when any is refused, naming the element at fault."""
    from liandong.emergency.cap import receive

    settings, bad = get_settings(), 0
    for path in files:
        if not path.is_file():
            typer.secho(f"{path}: error: file not found", fg="red", err=True)
            bad += 1
            continue
        try:
            with unit_of_work(_url()) as session:
                row, new = receive.receive(session, path.read_bytes(), source="cli", now=utcnow(),
                                           max_bytes=settings.cap_max_bytes)
                identifier = row.identifier
        except DomainError as exc:
            typer.secho(f"{path}: refused ({exc.code}): {exc.message}", fg="red", err=True)
            bad += 1
            continue
        typer.echo(f"{path}: {'imported' if new else 'already stored'} — {identifier}")
    if bad:
        raise typer.Exit(1)


@cap_app.command("poll")
def cap_poll(url: Annotated[str, typer.Argument(help="an Atom or RSS feed of CAP alerts (or one CAP document)")],
             repeat: Annotated[float, typer.Option(help="poll again every N seconds (0: once)")] = 0.0) -> None:
    """Fetch a feed and import the CAP documents its entries link to or hold; prints a JSON summary per poll (exit 2
    when the feed itself cannot be read; refused documents are listed with their reasons)."""
    import httpx

    from liandong.emergency.cap import poll

    settings = get_settings()
    while True:
        try:
            summary = poll.poll(url, lambda: unit_of_work(_url()), settings, utcnow)
        except DomainError as exc:
            _fail(exc)
        except httpx.HTTPError as exc:
            typer.secho(f"error: cannot fetch {url}: {type(exc).__name__}: {exc}", fg="red", err=True)
            raise typer.Exit(2) from None
        typer.echo(json.dumps(summary, ensure_ascii=False))
        if repeat <= 0:
            return
        time.sleep(repeat)


early_warning_app = typer.Typer(help="Early warning (早研判): space-time clusters of similar reports.",
                                no_args_is_help=True)
app.add_typer(early_warning_app, name="early-warning")


@early_warning_app.command("scan")
def early_warning_scan(
        at: Annotated[str | None, typer.Option(help="scan time, ISO 8601 (local time without an offset); "
                                                    "default: now")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False) -> None:
    """Scan the study period's reports once and store the significant clusters as early warnings (a cluster
    already stored is updated, not added again; safe beside the running app's scans)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from liandong.screening import early_warnings
    from liandong.screening.early_warning_input import grid_index

    when = utcnow()
    if at is not None:
        try:
            when = dt.datetime.fromisoformat(at)
        except ValueError:
            typer.secho(f"error: --at {at!r} is no ISO 8601 time", fg="red", err=True)
            raise typer.Exit(2) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=ZoneInfo(get_settings().timezone))
    with unit_of_work(_url()) as session:
        outcome = early_warnings.scan(session, when, grid_index(session))
        session.flush()
        result = {"at": outcome.at.isoformat(), "reports": outcome.reports, "seconds": outcome.seconds,
                  "created": [w.id for w in outcome.created], "updated": [w.id for w in outcome.updated],
                  "suppressed": outcome.suppressed,
                  "items": [{"id": w.id, "status": w.status, "matter_codes": w.matter_codes,
                             "grid_codes": w.grid_codes, "source": w.source, "case_ids": w.case_ids,
                             "hazard_ids": w.hazard_ids, "dispute_ids": w.dispute_ids, "observed": w.observed,
                             "expected": w.expected, "p_value": w.p_value,
                             "window_start": w.window_start.isoformat(), "window_end": w.window_end.isoformat()}
                            for w in outcome.found],
                  "baseline": [{**b, "window_start": b["window_start"].isoformat(),
                                "window_end": b["window_end"].isoformat()} for b in outcome.baseline]}
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    typer.echo(f"scan at {result['at']}: {result['reports']} reports, {len(result['created'])} new warnings, "
               f"{len(result['updated'])} updated, {result['suppressed']} already decided; baseline alarms "
               f"{len(result['baseline'])} ({result['seconds']} s)")
    for item in result["items"]:
        typer.echo(f"  #{item['id']} {item['status']}: {','.join(item['matter_codes'])} observed {item['observed']} "
                   f"expected {item['expected']:.2f} p={item['p_value']:.2g} grids {','.join(item['grid_codes'][:5])}")


@app.command()
def simulate(
        scenario: Annotated[str, typer.Option(help="a shipped scenario (minhang-2012) or a scenario file (YAML)")]
        = "minhang-2012",
        scale: Annotated[float, typer.Option(help="a fraction of the year's volume (the same proportions)")] = 1.0,
        seed: Annotated[int, typer.Option(help="the same seed plays the same year; a rerun continues it")] = 1,
        workers: Annotated[int | None, typer.Option(min=1, max=64, help="processes playing shares of the towns side "
                                                    "by side (default: every core this process may use)")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the outcome as JSON")] = False) -> None:
    """Play a scenario's year (default: Minhang 2012) through the platform's own services into the database, then
    print the figures its records give beside the scenario's targets. Interrupted, the same command continues."""
    from liandong.demo import loader
    from liandong.sim import calibration, run
    from liandong.sim import scenario as scenarios

    try:
        s = scenarios.load(scenario)
    except DomainError as exc:
        _fail(exc)
    try:
        run.check_scale(scale)
    except DomainError as exc:
        _fail(exc)
    cores = len(os.sched_getaffinity(0))  # its own database: every core
    _migrate()
    with unit_of_work(_url()) as session:
        if not loader.is_loaded(session):
            typer.echo("loading the Minhang district (no demo activity) for the simulation…", err=True)
            loaded = loader.load(session, get_settings().demo_password or None, cases=0)
            typer.echo(f"accounts to look at the result with (password {loaded['password']}): "
                       f"{', '.join(u['username'] for u in loaded['users'])}", err=True)
    try:
        out = _play(s, seed, scale, workers or cores, quiet=as_json)
    except DomainError as exc:
        _fail(exc)
    from liandong.assessment import months
    from liandong.assessment import settings as assessment_settings

    began = time.perf_counter()  # the year's months stored: its assessment pages open at once
    out["months"] = months.refresh(lambda: unit_of_work(_url()), assessment_settings.current(), run.year_end(s),
                                   workers=workers or cores, url=_url())
    out["months_seconds"] = round(time.perf_counter() - began, 1)
    with unit_of_work(_url()) as session:
        out["figures"] = run.finish(session, out["run"], calibration.reached(session, s, scale, run.year_end(s)))
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    typer.echo(f"{s.name}, seed {seed}, scale {scale}: {out['cases_planned']:,} reports, {out['steps']:,} steps in "
               f"{out['seconds']} s ({out['steps_per_second'] or 0:,} a second)")
    typer.echo(f"{'figure':<22}{'target':>10}{'reached':>10}{'off':>9}")
    for row in out["figures"]:
        off = f"{row['off']:+.2%}" if row["off"] is not None else ""
        mark = {True: " ok", False: " OUT", None: ""}[row["within"]]
        typer.echo(f"{row['figure']:<22}{row['target']:>10,}{row['reached'] or 0:>10,}{off:>9}{mark}")


def _play(s, seed: int, scale: float, workers: int, quiet: bool) -> dict:
    """The run, with a progress bar (steps a second, time left) on the terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from liandong.sim import run

    if quiet or not sys.stderr.isatty():
        return run.simulate(_url(), s, seed=seed, scale=scale, workers=workers)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]} steps/s"), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("simulating", total=None, rate="–")

        def show(p: run.Progress) -> None:
            rate = f"{p.steps_done / p.seconds:,.0f}" if p.seconds else "–"
            bar.update(task, total=p.steps_total, completed=p.steps_done, rate=rate, description=str(p.day))

        return run.simulate(_url(), s, seed=seed, scale=scale, on_progress=show, workers=workers)


@app.command("simulate-compare")
def simulate_compare(
        first: Annotated[str, typer.Argument(help="the base year's database URL")],
        second: Annotated[str, typer.Argument(help="the what-if's database URL")],
        year: Annotated[int, typer.Option(help="the simulated year")] = 2012,
        as_json: Annotated[bool, typer.Option("--json", help="print the comparison as JSON")] = False) -> None:
    """Two simulated years side by side (e.g. Minhang 2012 and a what-if with fewer handlers): the district's figures
    and each department line's disposal and closure rates, from each database's own records."""
    from sqlalchemy.exc import SQLAlchemyError

    from liandong.sim import compare

    try:
        out = compare.compare(first, second, year)
    except SQLAlchemyError as exc:
        typer.secho(f"error: cannot read the two databases: {exc.__class__.__name__}: {exc.args[0][:200]}",
                    fg="red", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    typer.echo(f"{year}: A = {out['a'] or '(not simulated)'}   B = {out['b'] or '(not simulated)'}")

    def show(name: str, cell: dict) -> None:
        def fmt(v) -> str:
            return "–" if v is None else f"{v:.2%}" if isinstance(v, float) else f"{v:,}"
        change = "" if cell["change"] is None else (f"{cell['change']:+.2%}" if isinstance(cell["a"], float)
                                                     else f"{cell['change']:+,}")
        typer.echo(f"  {name:<28}{fmt(cell['a']):>12}{fmt(cell['b']):>12}{change:>10}")

    typer.echo(f"  {'district':<28}{'A':>12}{'B':>12}{'B − A':>10}")
    for name, cell in out["district"].items():
        show(name, cell)
    for line, cells in out["lines"].items():
        typer.echo(f"  [{line}]")
        for name, cell in cells.items():
            show(name, cell)


partitions_app = typer.Typer(help="PostgreSQL: the monthly partitions of the event log and the stage facts; "
                                  "archive and drop old months.", no_args_is_help=True)
app.add_typer(partitions_app, name="partitions")


def _partitions_engine() -> Engine:
    from liandong.db import get_engine

    return get_engine(_url())


@partitions_app.command("list")
def partitions_list() -> None:
    """Every partition with its months and estimated rows (from the statistics)."""
    from liandong.ops import partitions as parts

    try:
        with _partitions_engine().begin() as conn:
            parts.require(conn)
            for table in parts.TABLES:
                for p in parts.partitions(conn, table):
                    span = "DEFAULT" if p.default else f"{p.lo:%Y-%m-%d} – {p.hi:%Y-%m-%d}"
                    typer.echo(f"{p.name:<32} {span:<26} ~{p.rows:,} rows")
    except DomainError as exc:
        _fail(exc)


@partitions_app.command("ensure")
def partitions_ensure(
    ahead: Annotated[int, typer.Option(help="months to create ahead of this one")] = 3,
    since: Annotated[str | None, typer.Option(help="YYYY-MM: also create the months from this one (before "
                                                   "importing old history)")] = None,
) -> None:
    """Create this month's partitions and the next ones, and move rows that landed in a DEFAULT partition into
    their month (the deadline sweep's host may run this daily)."""
    import datetime as dt

    from liandong.ops import partitions as parts

    try:
        start = None
        if since:
            try:
                start = dt.datetime.strptime(since, "%Y-%m").replace(day=15, tzinfo=parts.zone())
            except ValueError:
                raise parts.PartitionError(f"--since {since!r} is not a month like 2012-01") from None
        with _partitions_engine().begin() as conn:
            created = parts.ensure(conn, utcnow(), ahead=ahead, since=start)
    except DomainError as exc:
        _fail(exc)
    typer.echo(json.dumps({"created": created}))


@partitions_app.command("archive")
def partitions_archive(
    directory: Annotated[Path, typer.Argument(help="where the archives (CSV, gzip) and manifest.json are kept")],
    keep_months: Annotated[int, typer.Option(help="whole months kept before this one")] = 36,
    drop: Annotated[bool, typer.Option("--drop", help="drop each month once its archive is checked")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="confirm the drop (the figures of those months go)")] = False,
) -> None:
    """Export the months older than --keep-months to DIRECTORY (one file per partition, checked against the
    rows); with --drop --yes, detach and drop each one whose archive is intact and complete."""
    from liandong.ops import partitions as parts

    try:
        before = parts.cutoff(utcnow(), keep_months)
        with _partitions_engine().begin() as conn:
            due = parts.due(conn, before)
            crossing = parts.straddling(conn, before)
        if not due:
            typer.echo(f"nothing older than {before:%Y-%m}")
            return
        months = sorted({f"{p.lo:%Y-%m}" for p in due})
        if drop:
            typer.secho(f"dropping {len(due)} partitions ({months[0]} … {months[-1]}): the assessment, the annual "
                        "report and the on-time rates of those months will no longer count their events and stages; "
                        f"case pages will show history from {before:%Y-%m} on ({crossing:,} cases opened before and "
                        "still open or closed after it); `liandong partitions restore` brings a month back.",
                        fg="yellow", err=True)
            if not yes:
                typer.secho("nothing done: add --yes to archive and drop", fg="red", err=True)
                raise typer.Exit(1)
        done = parts.archive(_partitions_engine(), directory, before, drop=drop)
    except DomainError as exc:
        _fail(exc)
    for line in done:
        typer.echo(json.dumps(line, ensure_ascii=False))


@partitions_app.command("drop")
def partitions_drop(
    directory: Annotated[Path, typer.Argument(help="the archive directory holding the partitions' files")],
    names: Annotated[list[str], typer.Argument(help="partitions, e.g. case_events_p202301")],
    yes: Annotated[bool, typer.Option("--yes", help="confirm: the figures of those months go")] = False,
) -> None:
    """Drop archived partitions; refused for any not archived intact in DIRECTORY with its present rows."""
    from liandong.ops import partitions as parts

    if not yes:
        typer.secho("dropping a month takes its events and stages out of every figure: add --yes", fg="red", err=True)
        raise typer.Exit(1)
    try:
        for name in names:
            rows = parts.drop_partition(_partitions_engine(), directory, name)
            typer.echo(json.dumps({"partition": name, "rows": rows, "done": "dropped"}))
    except DomainError as exc:
        _fail(exc)


@partitions_app.command("restore")
def partitions_restore(
    directory: Annotated[Path, typer.Argument(help="the archive directory")],
    names: Annotated[list[str], typer.Argument(help="partitions to load back, e.g. case_events_p202301")],
) -> None:
    """Load archived months back as partitions (their figures count again)."""
    from liandong.ops import partitions as parts

    try:
        for name in names:
            rows = parts.restore(_partitions_engine(), directory, name)
            typer.echo(json.dumps({"partition": name, "rows": rows, "done": "restored"}))
    except DomainError as exc:
        _fail(exc)
