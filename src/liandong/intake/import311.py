"""Foreign 311 exports as case history: ``liandong import-311 --mapping NAME FILE``.

A mapping (``intake/mappings/NAME.json``) names the export's columns, its time zone, how its sources
become our channels and its categories our matters, when the extract was taken, and the path its cases
took (``history``: the steps replayed at the opening, and those replayed at the closing of a closed case).
Each row becomes a case replayed through the history path (``cases/history.py``): reported at ``opened``,
then each step at its time, as the transition table allows, with the export's target date as the case
deadline. Points inside a loaded area get their grid; the others are kept without one and flagged
``out_of_area`` (an empty database is fine: that is historical analysis). The on-time status our deadline
rule (``sla.late``) gives — closed (or, when still open, the extract's moment) no later than the deadline —
is compared with the export's own flag, and the agreement is reported.
Idempotent: a row already imported is skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas import crs as crsmod
from liandong.areas.index import GridIndex
from liandong.cases import history, sla, states
from liandong.cases.models import Case
from liandong.catalogue import service as catalogue
from liandong.catalogue import snapshot
from liandong.errors import Invalid

CHUNK = 2000
HISTORY = {"opened": ["accept", "file", "dispatch"],
           "closed": ["sign", "report_done", "request_check", "check_passed", "close"]}
"""The path of a mapping that names none: routed to its work queue when opened, handled and closed at once."""
DONE_NOTE = "来源系统记录已办结 (closed in the source system)"


def mapping(name: str) -> dict:
    """A shipped mapping by name, or a mapping file by path."""
    path = Path(name)
    if path.suffix == ".json" and path.exists():
        text = path.read_text(encoding="utf-8")
    else:
        ref = resources.files("liandong.intake").joinpath("mappings", f"{name}.json")
        if not ref.is_file():
            raise Invalid(f"no mapping {name!r}; shipped: boston (or give a path to a .json mapping)")
        text = ref.read_text(encoding="utf-8")
    m = json.loads(text)
    for key in ("columns", "timezone", "channels", "matters", "number_prefix"):
        if key not in m:
            raise Invalid(f"the mapping lacks {key!r}")
    path = m.setdefault("history", HISTORY)
    try:  # once per mapping: each record is checked again, with its times, on the way in
        if history.check(path.get("opened", [])) in states.CLOSED_STATES:
            raise Invalid("its steps at the opening must leave the case open")
        if history.check(path.get("opened", []) + path.get("closed", [])) != "closed":
            raise Invalid("its steps at the closing must end with the case closed")
    except Invalid as exc:
        raise Invalid(f"the mapping's history path is refused: {exc.message}") from None
    return m


def open_text(path: Path) -> io.TextIOBase:
    if not path.exists():
        raise Invalid(f"no such file: {path}")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")  # noqa: SIM115 (the caller closes it)
    return path.open(encoding="utf-8-sig", newline="")


def _time(value: str | None, tz: ZoneInfo) -> dt.datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(dt.UTC)


def run(session: Session, m: dict, lines: io.TextIOBase, *, now: dt.datetime) -> dict:
    """Import every row; returns read / imported / skipped (with reasons) / the on-time agreement."""
    catalogue.load_standard(session)  # idempotent: a fresh database gets the standard catalogue
    cat = snapshot.current(session).by_code
    cols, tz = m["columns"], ZoneInfo(m["timezone"])
    as_of = _time(m.get("as_of"), tz) or now
    index = GridIndex.build(session)
    reader = csv.DictReader(lines)
    missing = {cols[k] for k in ("id", "opened") if k in cols} - set(reader.fieldnames or [])
    if missing:
        raise Invalid(f"the file lacks the columns {', '.join(sorted(missing))} named by the mapping")
    done = set(session.scalars(select(Case.idempotency_key).where(
        Case.idempotency_key.startswith(f"{m['name']}:"))))
    counts = {"read": 0, "imported": 0, "skipped": 0, "out_of_area": 0, "agree": 0, "disagree": 0,
              "without_flag": 0, "closed_before_opened": 0}
    reasons: dict[str, int] = {}
    batch: list[history.Record] = []
    closed_values = set(m.get("closed_values", ["Closed"]))
    flags = m.get("ontime_values", {})
    at_opening, at_closing = m["history"].get("opened", []), m["history"].get("closed", [])

    def skip(reason: str) -> None:
        counts["skipped"] += 1
        reasons[reason] = reasons.get(reason, 0) + 1

    for row in reader:
        counts["read"] += 1
        ext_id = (row.get(cols["id"]) or "").strip()
        key = f"{m['name']}:{ext_id}"
        if not ext_id:
            skip("no id")
            continue
        if key in done:
            skip("already imported")
            continue
        try:
            opened = _time(row.get(cols["opened"]), tz)
            closed = _time(row.get(cols.get("closed", "")), tz)
            target = _time(row.get(cols.get("target", "")), tz)
        except ValueError:
            skip("a date that cannot be read")
            continue
        if opened is None:
            skip("no opening time")
            continue
        is_closed = (row.get(cols.get("status", "")) or "").strip() in closed_values and closed is not None
        matter = cat.get(m["matters"].get((row.get(cols.get("category", "")) or "").strip(), m["matters"]["*"]))
        if matter is None:
            skip("the mapping names a matter the catalogue lacks")
            continue
        grid, lon, lat = None, None, None
        try:
            lon, lat = float(row.get(cols.get("lon", ""), "")), float(row.get(cols.get("lat", ""), ""))
            x, y = crsmod.to_wgs84(lon, lat, m.get("crs", "wgs84"))
            lon, lat = float(x), float(y)
            grid = index.locate(lon, lat)
        except (TypeError, ValueError):
            lon = lat = None
        done.add(key)
        steps = [history.Step(a, opened, _payload(a, row, cols)) for a in at_opening]
        if is_closed:
            extra = {}
            if closed < opened:  # Boston's workers log work done on the spot a few seconds before opening its case
                counts["closed_before_opened"] += 1
                extra, closed = {"source_closed_at": closed.isoformat()}, opened
            steps += [history.Step(a, closed, _payload(a, row, cols) | (extra if a == at_closing[-1] else {}))
                      for a in at_closing]
        ours = not sla.late(target, closed if is_closed else as_of)
        flag = flags.get((row.get(cols.get("ontime", "")) or "").strip())
        if flag is None:
            counts["without_flag"] += 1
        elif flag == ours:
            counts["agree"] += 1
        else:
            counts["disagree"] += 1
        counts["out_of_area"] += grid is None
        batch.append(history.Record({
            "number": f"{m['number_prefix']}{ext_id}"[:32], "matter_id": matter.id,
            "urgency": matter.default_urgency,
            "channel": m["channels"].get((row.get(cols.get("source", "")) or "").strip(), m["channels"]["*"]),
            "description": ((row.get(cols.get("title", "")) or "").strip() or matter.name)[:2000],
            "lon": lon if lon is not None else 0.0, "lat": lat if lat is not None else 0.0,
            "grid_id": grid.id if grid else None, "area_path": grid.path if grid else "",
            "out_of_area": grid is None, "idempotency_key": key, "created_at": opened, "case_deadline": target,
        }, steps))
        if len(batch) >= CHUNK:
            counts["imported"] += len(history.replay(session, batch, m["name"]))
            batch = []
    counts["imported"] += len(history.replay(session, batch, m["name"]))
    judged = counts["agree"] + counts["disagree"]
    return {"read": counts["read"], "imported": counts["imported"], "skipped": counts["skipped"],
            "skipped_reasons": reasons, "out_of_area": counts["out_of_area"],
            "ontime_agreement": round(counts["agree"] / judged, 4) if judged else None,
            "ontime_judged": judged, "ontime_without_flag": counts["without_flag"],
            "closed_before_opened": counts["closed_before_opened"]}


def _payload(action: str, row: dict, cols: dict) -> dict:
    """What the export says about a step: the work queue a case was routed to; the note a closing needs."""
    if action == "dispatch" and (queue := (row.get(cols.get("queue", "")) or "").strip()):
        return {"queue": queue[:100]}
    if action == "report_done":
        return {"note": DONE_NOTE}
    return {}
