"""Early warnings as the API answers them: the list item (DESIGN §4: ``id``, ``matter_codes``, ``grid_codes``,
``case_ids``, ``observed``, ``expected``, ``p_value``, ``status`` and more: ``source``, ``hazard_ids``,
``dispute_ids``) and the detail with its evidence (the reports the caller sees — cases, hazards, disputes, each by
its own register's sight rule — with number, kind, time, state and place, and how many are hidden; the area as
GeoJSON: the grids and the scan circle; the history: every scan that found it with that scan's own figures, every
decision with its actor and note). ``scans`` and ``status_by``/``status_at``/``status_note`` are read from the
history."""

from __future__ import annotations

import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex
from liandong.auth.identity import Identity
from liandong.cases.models import Case
from liandong.cases.visibility import visible as cases_visible
from liandong.catalogue.models import Matter
from liandong.screening import disputes, hazards
from liandong.screening import early_warning_log as log
from liandong.screening.dispute_models import Dispute
from liandong.screening.early_warning_actions import may_act
from liandong.screening.early_warning_input import kind, kind_names
from liandong.screening.early_warning_models import EarlyWarning, EarlyWarningEvent
from liandong.screening.early_warning_states import allowed
from liandong.screening.hazard_models import Hazard


def item(w: EarlyWarning, caller: Identity, scans: int, decision: EarlyWarningEvent | None) -> dict:
    """``scans``: how many scans found it; ``decision``: its latest decision event (``status_by``, ``status_at``,
    ``status_note`` are read from it)."""
    return {"id": w.id, "detector": w.detector, "status": w.status, "version": w.version,
            "detected_at": w.detected_at, "last_scan_at": w.last_scan_at, "scans": scans,
            "window_start": w.window_start, "window_end": w.window_end,
            "centre_grid_code": w.centre_grid_code, "lon": w.lon, "lat": w.lat, "radius_m": w.radius_m,
            "grid_codes": w.grid_codes, "matter_codes": w.matter_codes, "source": w.source, "case_ids": w.case_ids,
            "hazard_ids": w.hazard_ids or [], "dispute_ids": w.dispute_ids or [],
            "observed": w.observed, "expected": w.expected, "relative_risk": w.relative_risk, "score": w.score,
            "p_value": w.p_value, "status_by": decision.actor_id if decision else None,
            "status_by_name": decision.actor if decision else None, "status_at": decision.at if decision else None,
            "status_note": decision.note if decision else None,
            "incident_id": w.incident_id, "allowed_actions": allowed(w.status) if may_act(caller) else []}


def items(session: Session, rows: list[EarlyWarning], caller: Identity) -> list[dict]:
    names = kind_names(session, {c for w in rows for c in w.matter_codes})
    ids = [w.id for w in rows]
    scans, decisions = log.scans(session, ids), log.decisions(session, ids)
    return [{**item(w, caller, scans.get(w.id, 0), decisions.get(w.id)),
             "matters": [{"code": c, "name": names.get(c, c)} for c in w.matter_codes]}
            for w in rows]


def detail(session: Session, w: EarlyWarning, caller: Identity, index: GridIndex) -> dict:
    """The evidence rows the caller may see, each by its own register's rule (a case by the case rule, a hazard by
    the hazards', a dispute by the disputes'); the others only counted (``hidden_*``), never described."""
    case_ids, hazard_ids, dispute_ids = w.case_ids or [], w.hazard_ids or [], w.dispute_ids or []
    cases, found, registered = (_cases(session, case_ids, caller), _registered(session, "hazard", hazard_ids, caller),
                                _registered(session, "dispute", dispute_ids, caller))
    return {**items(session, [w], caller)[0],
            "cases": cases, "hidden_cases": len(case_ids) - len(cases),
            "hazards": found, "hidden_hazards": len(hazard_ids) - len(found),
            "disputes": registered, "hidden_disputes": len(dispute_ids) - len(registered),
            "area": area(w, index), "history": log.history(session, w.id)}


def _cases(session: Session, ids: list[int], caller: Identity) -> list[dict]:
    if not ids:
        return []
    rows = session.execute(cases_visible(
        select(Case.id, Case.number, Case.state, Case.created_at, Case.lon, Case.lat, Case.channel, Matter.code,
               Matter.name).join(Matter, Matter.id == Case.matter_id).where(Case.id.in_(ids)), caller)
        .order_by(Case.created_at, Case.id))
    return [{"id": r.id, "number": r.number, "state": r.state, "created_at": r.created_at, "lon": r.lon,
             "lat": r.lat, "channel": r.channel, "matter_code": r.code, "matter_name": r.name} for r in rows]


REGISTERS = {"hazard": (Hazard, hazards.visible, "sector", "grade"),
             "dispute": (Dispute, disputes.visible, "type", "risk")}
"""Each register whose reports a warning may hold: its model, its visibility rule, the field that is its kind and the
one shown beside it."""


def _registered(session: Session, source: str, ids: list[int], caller: Identity) -> list[dict]:
    """The hazards or disputes of the evidence the caller may see."""
    if not ids:
        return []
    model, visible, kind_field, note_field = REGISTERS[source]
    rows = session.execute(visible(
        select(model.id, model.number, model.state, model.created_at, model.lon, model.lat,
               getattr(model, kind_field), getattr(model, note_field)).where(model.id.in_(ids)), caller)
        .order_by(model.created_at, model.id))
    return [{"id": r[0], "number": r[1], "state": r[2], "created_at": r[3], "lon": r[4], "lat": r[5],
             kind_field: r[6], note_field: r[7], "kind": kind(source, r[6])} for r in rows]


def area(w: EarlyWarning, index: GridIndex) -> dict:
    """GeoJSON (lon,lat): each grid of the warning as a polygon, and the centre as a point carrying the radius."""
    position = {h.code: i for i, h in enumerate(index.hits)}
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [w.lon, w.lat]},
                 "properties": {"role": "centre", "code": w.centre_grid_code, "radius_m": w.radius_m}}]
    for code in w.grid_codes:
        if code in position:
            geom = index.geoms[position[code]]
            features.append({"type": "Feature", "geometry": shapely.geometry.mapping(geom),
                             "properties": {"role": "grid", "code": code}})
    return {"type": "FeatureCollection", "features": features}


