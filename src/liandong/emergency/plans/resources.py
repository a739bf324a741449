"""What the incident's active plans hold ready (sandbags, pump trucks, boats, beds…): per resource of each plan,
the units holding it as its selector names them for this incident, each placed at a point of its area, so the
incident board's map shows where help stands. Read from the plan documents and the unit tree, never stored."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.geometry import from_wkb
from liandong.areas.models import Area
from liandong.emergency.models import Incident, Plan
from liandong.emergency.plans import activation, library
from liandong.emergency.plans.selectors import Resolver
from liandong.units.models import Unit


def of(session: Session, incident: Incident) -> list[dict]:
    """The resources of the plans active on the incident, each with its holders and where they are."""
    running = activation.active(session, incident.id)
    if not running:
        return []
    resolver = Resolver(session, incident)
    out, held = [], []
    for code, (plan_id, _level) in sorted(running.items()):
        for resource in library.document(session.get(Plan, plan_id)).resources:
            units, _ = resolver.units(resource.holder)
            held += [u.id for u in units]
            out.append({"plan": code, "name": resource.name, "quantity": resource.quantity, "unit": resource.unit,
                        "holders": [{"id": u.id, "code": u.code, "name": u.name} for u in units]})
    points = _points(session, set(held))
    for resource in out:
        for holder in resource["holders"]:
            holder.update(points.get(holder["id"], {"lon": None, "lat": None}))
    return out


def _points(session: Session, unit_ids: set[int]) -> dict[int, dict]:
    """A point inside each unit's area (its representative point), one query however many units."""
    if not unit_ids:
        return {}
    areas = dict(session.execute(select(Unit.id, Unit.area_id).where(Unit.id.in_(unit_ids))).all())
    where = {}
    for area_id, geom in session.execute(select(Area.id, Area.geom).where(Area.id.in_(set(areas.values())),
                                                                          Area.geom.is_not(None))):
        point = from_wkb(geom).representative_point()  # once per area: many holders sit at the district level
        where[area_id] = {"lon": round(point.x, 6), "lat": round(point.y, 6)}
    return {unit_id: where[area_id] for unit_id, area_id in areas.items() if area_id in where}
