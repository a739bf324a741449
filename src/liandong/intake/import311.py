"""Foreign 311 exports as case history: ``liandong import-311 --mapping NAME FILE``.

A mapping (``intake/mappings/NAME.json``) names the export's columns, its time zone, how its sources
become our channels and its categories our matters, and when the extract was taken. Each row becomes a
case at its original times: reported at ``opened``, closed at ``closed`` when the status says so, with the
export's target date as the case deadline. Points inside a loaded area get their grid; the others are
kept without one and flagged ``out_of_area`` (an empty database is fine: that is historical analysis).
The on-time status our deadline rule gives — closed (or, when still open, the extract's moment) no later
than the deadline — is compared with the export's own flag, and the agreement is reported.
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

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from liandong.areas import crs as crsmod
from liandong.areas.index import GridIndex
from liandong.cases.models import Case, CaseEvent
from liandong.catalogue import service as catalogue
from liandong.catalogue import snapshot
from liandong.errors import Invalid

CHUNK = 2000


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
              "without_flag": 0}
    reasons: dict[str, int] = {}
    batch: list[dict] = []
    closed_values = set(m.get("closed_values", ["Closed"]))
    flags = m.get("ontime_values", {})

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
        ours = target is None or (closed if is_closed else as_of) <= target
        flag = flags.get((row.get(cols.get("ontime", "")) or "").strip())
        if flag is None:
            counts["without_flag"] += 1
        elif flag == ours:
            counts["agree"] += 1
        else:
            counts["disagree"] += 1
        counts["out_of_area"] += grid is None
        batch.append({
            "number": f"{m['number_prefix']}{ext_id}"[:32], "state": "closed" if is_closed else "reported",
            "version": 1, "matter_id": matter.id, "urgency": matter.default_urgency,
            "channel": m["channels"].get((row.get(cols.get("source", "")) or "").strip(), m["channels"]["*"]),
            "description": ((row.get(cols.get("title", "")) or "").strip() or matter.name)[:2000],
            "lon": lon if lon is not None else 0.0, "lat": lat if lat is not None else 0.0,
            "grid_id": grid.id if grid else None, "area_path": grid.path if grid else "",
            "out_of_area": grid is None, "rework_count": 0, "escalation_count": 0, "idempotency_key": key,
            "created_at": opened, "updated_at": closed or opened, "closed_at": closed if is_closed else None,
            "case_deadline": target,
        })
        if len(batch) >= CHUNK:
            counts["imported"] += _flush(session, batch, m["name"])
            batch = []
    counts["imported"] += _flush(session, batch, m["name"])
    judged = counts["agree"] + counts["disagree"]
    return {"read": counts["read"], "imported": counts["imported"], "skipped": counts["skipped"],
            "skipped_reasons": reasons, "out_of_area": counts["out_of_area"],
            "ontime_agreement": round(counts["agree"] / judged, 4) if judged else None,
            "ontime_judged": judged, "ontime_without_flag": counts["without_flag"]}


def _flush(session: Session, rows: list[dict], source: str) -> int:
    """Insert the cases, then their events (report, and close for closed ones) in one go each."""
    if not rows:
        return 0
    session.execute(insert(Case), rows)
    ids = dict(session.execute(select(Case.idempotency_key, Case.id).where(
        Case.idempotency_key.in_([r["idempotency_key"] for r in rows]))).all())
    events = []
    for r in rows:
        cid = ids[r["idempotency_key"]]
        events.append({"case_id": cid, "seq": 1, "at": r["created_at"], "actor": f"import:{source}",
                       "action": "report", "from_state": None, "to_state": "reported",
                       "payload": {"channel": r["channel"], "imported": True}})
        if r["state"] == "closed":
            events.append({"case_id": cid, "seq": 2, "at": r["closed_at"], "actor": f"import:{source}",
                           "action": "close", "from_state": "reported", "to_state": "closed",
                           "payload": {"imported": True}})
    session.execute(insert(CaseEvent), events)
    return len(rows)
