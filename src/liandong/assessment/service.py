"""Assessing one object type over a period: every object's counts and rates, its composite score, grade and rank,
its score in the previous period, and the working time of the stages it answers for; and the drill-down from any
figure to the cases behind it.

Who may look: leaders, the centre's shift leaders and dispatchers, commanders and administrators, each within their
jurisdiction (the case rule's area: a town sees its own towns, communities, people and the cases in it; the
district sees all). A department's staff, who see only the cases assigned to them, are refused. Nothing is
written; the figures are read from the event log and the stage facts at the moment of asking — the days gone by
from their stored figures where they still hold (``months.py``), which give the same answer faster.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from liandong.areas.models import Area
from liandong.assessment import counts as c
from liandong.assessment import months
from liandong.assessment import settings as assessment_settings
from liandong.assessment.indicators import LABELS, OBJECTS, REGIONS, ObjectType, Rate, label
from liandong.assessment.period import Period
from liandong.auth.identity import Identity
from liandong.auth.models import User, UserRole
from liandong.cases.models import Case
from liandong.cases.visibility import rule
from liandong.catalogue.models import Matter
from liandong.errors import Forbidden, Invalid, NotFound, role_needed
from liandong.units.models import Unit

ASSESS_ROLES = frozenset({"leader", "shift_leader", "dispatcher", "commander", "admin"})
PERSONS = ("inspector", "receptionist", "shift_leader", "dispatcher")
CLASS_1_KINDS = frozenset({"street", "residential"})
"""一类区域 (urban: streets 街道, residential committees 居委); other areas are 二类 (towns 镇, villages 村)."""
DRILL_LIMIT = 1000


@dataclass(frozen=True)
class Candidate:
    id: int
    name: str
    code: str | None = None
    population: int | None = None
    kind: str | None = None


def _path(caller: Identity) -> str | None:
    """The jurisdiction the caller assesses (None: everything); refused without one."""
    if ASSESS_ROLES.isdisjoint(caller.roles):
        raise role_needed("assess", ASSESS_ROLES, "the assessment")
    r = rule(caller)
    if r.everything:
        return None
    if r.path is None:
        raise Forbidden("a department's staff see the cases assigned to them, not an area's assessment",
                        code="assessment_needs_jurisdiction")
    return r.path


def object_type(name: str) -> ObjectType:
    found = OBJECTS.get(name)
    if found is None:
        raise Invalid(f"object must be one of {', '.join(OBJECTS)}", code="unknown_object", params={"object": name})
    return found


def context(caller: Identity, period: Period, now: dt.datetime) -> c.Ctx:
    return c.Ctx(period, _path(caller), assessment_settings.current(), now)


class Owners:
    """Whom a count's rows count for. A row counted by id (a user, a unit) counts for that id; a row counted by
    grid path (``counts.Count.by_path``) counts for the area ``depth`` ids down the path (a town, a community), or
    for every inspector whose jurisdiction (their unit's area) holds the grid (辖区立案数, 漏报数)."""

    def __init__(self, session: Session, obj: ObjectType):
        self.depth = months.depth(session, obj.name) if obj.name in REGIONS else None
        self.patrols: dict[str, list[int]] = {}
        if obj.name == "inspector":
            for user_id, path in session.execute(
                    select(User.id, Area.path).join(UserRole, and_(UserRole.user_id == User.id,
                                                                   UserRole.role == "inspector"))
                    .join(Unit, Unit.id == User.unit_id).join(Area, Area.id == Unit.area_id)):
                self.patrols.setdefault(path, []).append(user_id)
        self._paths: dict[str, tuple[int, ...]] = {}
        community = months.depth(session, "community")
        self.by_community = all(months.path_depth(p) <= community for p in self.patrols)
        """Every jurisdiction holds whole communities: rows kept per community (the month figures) fold right."""
        self.paths_at = community if self.by_community else 0
        """How many ids down a grid path the database may group rows by it (``months.Plan.paths_at``): to the
        community when every jurisdiction holds whole communities, else by grid (0)."""

    def of(self, path: str) -> tuple[int, ...]:
        """The objects a grid path counts for."""
        found = self._paths.get(path)
        if found is None:  # a grid path is taken apart once, not once a row
            ids = (path or "").strip("/").split("/")
            if self.depth is not None:
                found = (int(ids[self.depth - 1]),) if self.depth and len(ids) >= self.depth else ()
            else:
                found = tuple(u for k in range(1, len(ids) + 1)
                              for u in self.patrols.get("/" + "/".join(ids[:k]) + "/", ()))
            self._paths[path] = found
        return found

    def fold(self, pairs, by_path: bool) -> dict[int, int]:
        """Numbers per object from numbers per row owner."""
        out: dict[int, int] = {}
        if not by_path:
            for o, n in pairs:
                if o is not None:
                    out[int(o)] = out.get(int(o), 0) + int(n)
            return out
        for o, n in pairs:
            for owner in self.of(o):
                out[owner] = out.get(owner, 0) + int(n)
        return out

    def path(self, session: Session, object_id: int) -> str:
        """Where the rows by grid path of ``object_id`` lie: its area (a region), its unit's area (an inspector)."""
        if self.depth is not None:
            found = session.scalar(select(Area.path).where(Area.id == object_id))
        else:
            found = session.scalar(select(Area.path).join(Unit, Unit.area_id == Area.id)
                                   .join(User, User.unit_id == Unit.id).where(User.id == object_id))
        return found or "/-/"


def _grouped(session: Session, count: c.Count, ctx: c.Ctx, owners: Owners) -> dict[int, int]:
    """A count's rows numbered per object."""
    sub = count.rows(ctx).subquery()
    return owners.fold(session.execute(select(sub.c.obj, func.count()).group_by(sub.c.obj)), count.by_path)


def _candidates(session: Session, obj: ObjectType, ctx: c.Ctx, seen: set[int]) -> list[Candidate]:
    """Who is assessed: the people holding the role, the departments and branches (and any unit the figures count
    for: a lead unit of another kind), or the areas of the level, within the jurisdiction."""
    if obj.name in PERSONS:  # only the role's holders: a receptionist who reports is not ranked as an inspector
        stmt = (select(User.id, User.display_name, User.username).join(Unit, Unit.id == User.unit_id)
                .join(Area, Area.id == Unit.area_id)
                .where(User.id.in_(select(UserRole.user_id).where(UserRole.role == obj.name))))
        if ctx.path is not None:
            stmt = stmt.where(Area.path.startswith(ctx.path, autoescape=True))
        return [Candidate(i, d or u, u) for i, d, u in session.execute(stmt.order_by(User.username))]
    if obj.name == "department":
        stmt = (select(Unit.id, Unit.name, Unit.code).join(Area, Area.id == Unit.area_id)
                .where(or_(Unit.kind.in_(("department", "branch")), Unit.id.in_(seen))))
        if ctx.path is not None:
            stmt = stmt.where(or_(Area.path.startswith(ctx.path, autoescape=True), Unit.id.in_(seen)))
        return [Candidate(i, n, code) for i, n, code in session.execute(stmt.order_by(Unit.code))]
    stmt = select(Area.id, Area.name, Area.code, Area.population, Area.kind).where(Area.level == obj.name)
    if ctx.path is not None:
        stmt = stmt.where(or_(Area.path.startswith(ctx.path, autoescape=True), Area.id.in_(seen)))
    return [Candidate(*row) for row in session.execute(stmt.order_by(Area.code))]


def _rate(rate: Rate, figures: dict[str, int]) -> float | None:
    """Unrounded: scores are worked out from the exact fractions, the figures shown rounded (``_shown``)."""
    den = figures.get(rate.denominator, 0)
    return figures.get(rate.numerator, 0) / den if den else None


def _shown(value):
    return round(value, 4) if isinstance(value, float) else value


def _per_1000(filed: int, population: int | None, days: int) -> float | None:
    """Cases filed per 1,000 residents, for 30 days of the period."""
    if not population:
        return None
    return filed / population * 1000 * 30 / days


def _band(obj: ObjectType, key: str, who: Candidate) -> str:
    name = obj.bands[key]
    if name == "region":
        return "region_class_1" if (who.kind or "") in CLASS_1_KINDS else "region_class_2"
    return name


def score(obj: ObjectType, who: Candidate, indicators: dict, days: int,
          st: assessment_settings.Settings) -> tuple[float | None, list[str]]:
    """The composite score (weights of ``settings.yaml``): a rate as its percentage (lower-is-better rates as 100 −
    it), a count through its bands for 30 days. Components without data are left out and the others' weights
    scaled up to 100; returns the score (None: no rate has data — a count alone, e.g. nothing dispatched to a
    department, scores nobody) and the components left out."""
    weights = st.scores.get(obj.name, {})
    if all(indicators.get(key) is None for key in weights if key in obj.rates):
        return None, sorted(weights)  # nothing was done to be rated on: a count alone is no score
    points, used, missing = 0.0, 0.0, []
    for key, weight in weights.items():
        value = indicators.get(key)
        if value is None:
            missing.append(key)
            continue
        if key in obj.rates:
            part = (1 - value if obj.rates[key].lower_is_better else value) * 100
        else:
            scaled = value if key == "filed_per_1000" else value * 30 / days
            part = st.bands[_band(obj, key, who)].score(scaled)
        points += part * weight
        used += weight
    return (round(points / used, 2) if used else None), missing


def _times(session: Session, obj: ObjectType, ctx: c.Ctx, owners: Owners, p: months.Plan) -> dict[int, dict]:
    """Working hours of the stages the object answers for, ended in the period: mean and 90th percentile."""
    pooled: dict[tuple[str, int], list[np.ndarray]] = {}
    regions = obj.name in REGIONS
    for (stage, owner), arrays in months.minutes(session, months.family(obj.name), ctx, p).items():
        for who in owners.of(owner) if regions else (owner,):
            pooled.setdefault((stage, who), []).extend(arrays)
    out: dict[int, dict] = {}
    for (stage, who), arrays in sorted(pooled.items(), key=lambda kv: (obj.stages.index(kv[0][0]), kv[0][1])):
        group = np.sort(np.concatenate(arrays))  # in one order, whichever way the values were read
        out.setdefault(int(who), {})[stage] = {
            "n": int(len(group)), "mean_hours": round(float(group.mean()) / 60, 2),
            "p90_hours": round(p90(group) / 60, 2)}
    return out


def p90(ordered: np.ndarray) -> float:
    """The 90th percentile of sorted values, interpolated between the two nearest as ``numpy.percentile`` does by
    default — without sorting them again: a call per object and stage, hundreds of them for the communities."""
    at = (len(ordered) - 1) * 0.9
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (at - low))


def _figures(session: Session, obj: ObjectType, ctx: c.Ctx, owners: Owners, p: months.Plan) -> list[dict]:
    counted = {key: owners.fold(per.items(), obj.counts[key].by_path)
               for key, per in months.figures(session, months.family(obj.name), obj.counts, ctx, p).items()}
    seen = {i for per in counted.values() for i in per}
    st = ctx.settings
    rows_out = []
    for who in _candidates(session, obj, ctx, seen):
        figures = {key: per.get(who.id, 0) for key, per in counted.items()}
        indicators: dict = {**figures, **{k: _rate(r, figures) for k, r in obj.rates.items()}}
        if obj.name in REGIONS:
            indicators["filed_per_1000"] = _per_1000(figures.get("filed", 0), who.population, ctx.period.days)
        value, missing = score(obj, who, indicators, ctx.period.days, st)
        grade = st.grade(value)
        rows_out.append({"id": who.id, "name": who.name, "code": who.code,
                         "indicators": {k: _shown(v) for k, v in indicators.items()},
                         "score": value, "grade": grade.grade if grade else None,
                         "grade_colour": grade.colour if grade else None, "unscored": missing})
    return rows_out


def _rank(rows: list[dict]) -> None:
    """1 for the best score; equal scores share a rank; rows without a score have none."""
    ordered = sorted((r["score"] for r in rows if r["score"] is not None), reverse=True)
    for r in rows:
        r["rank"] = ordered.index(r["score"]) + 1 if r["score"] is not None else None


class _Reading:
    """One object type read for one caller over one period: its context, whom its rows count for, and how its
    months are read (stored or from the facts)."""

    def __init__(self, session: Session, caller: Identity, object_name: str, period: Period, now: dt.datetime,
                 stored: bool):
        self.session = session
        self.obj = object_type(object_name)
        self.ctx = context(caller, period, now)
        self.owners = Owners(session, self.obj)
        self.family, self.usable = months.family(self.obj.name), stored and self.owners.by_community
        self.plan = self.plan_of(self.ctx)

    def plan_of(self, ctx: c.Ctx) -> months.Plan:
        return months.plan(self.session, self.family, ctx, self.usable, self.owners.paths_at)

    def ranked(self) -> list[dict]:
        rows = _figures(self.session, self.obj, self.ctx, self.owners, self.plan)
        _rank(rows)
        rows.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, r["code"] or "", r["id"]))
        return rows


def scores(session: Session, caller: Identity, object_name: str, period: Period, now: dt.datetime,
           stored: bool = True) -> list[dict]:
    """Every object of the type within the caller's jurisdiction over ``period``: its figures, score, grade and rank,
    best first — what a report's table shows (``assess`` adds the previous period and the working times)."""
    return _Reading(session, caller, object_name, period, now, stored).ranked()


def assess(session: Session, caller: Identity, object_name: str, period: Period, now: dt.datetime,
           stored: bool = True) -> dict:
    """Every object of the type within the caller's jurisdiction, assessed over ``period``, with the previous
    period's score beside it; rows ranked best first. The days stored (``months.py``) are read from
    there unless ``stored`` is False (the same figures, read from the facts alone)."""
    reading = _Reading(session, caller, object_name, period, now, stored)
    obj, ctx, owners, plan = reading.obj, reading.ctx, reading.owners, reading.plan
    rows = reading.ranked()
    ctx_before = c.Ctx(period.previous(), ctx.path, ctx.settings, now)
    before = _figures(session, obj, ctx_before, owners, reading.plan_of(ctx_before))
    times = _times(session, obj, ctx, owners, plan)
    previous = {r["id"]: r["score"] for r in before}
    for r in rows:
        r["previous_score"] = previous.get(r["id"])
        r["change"] = round(r["score"] - r["previous_score"], 2) \
            if r["score"] is not None and r["previous_score"] is not None else None
        r["times"] = times.get(r["id"], {})
    st = ctx.settings
    prev = period.previous()
    return {"object": obj.name, "object_label": obj.label,
            "period": {"from": period.first.isoformat(), "to": period.last.isoformat(), "days": period.days},
            "previous_period": {"from": prev.first.isoformat(), "to": prev.last.isoformat()},
            "weights": st.scores.get(obj.name, {}),
            "labels": {k: LABELS[k] for k in (*obj.counts, *obj.rates, *(("filed_per_1000",)
                                                                          if obj.name in REGIONS else ()))},
            "rates": {k: {"numerator": r.numerator, "denominator": r.denominator,
                          "lower_is_better": r.lower_is_better} for k, r in obj.rates.items()},
            "grades": [{"grade": g.grade, "min": g.min, "colour": g.colour, "name": g.name} for g in st.grades],
            "missed_definition": st.missed.text if obj.name == "inspector" else None,
            "rows": rows}


def drill(session: Session, caller: Identity, object_name: str, object_id: int, indicator: str, part: str,
          period: Period, now: dt.datetime, *, limit: int = 100, offset: int = 0) -> dict:
    """The cases behind one figure of one object: a count's rows, or a rate's numerator or denominator rows. One
    item per thing counted (a case dispatched twice is listed twice), so ``total`` is the figure."""
    obj = object_type(object_name)
    ctx = context(caller, period, now)
    if indicator in obj.rates:
        if part not in ("numerator", "denominator"):
            raise Invalid("part must be numerator or denominator", code="bad_part", params={"part": part})
        rate = obj.rates[indicator]
        key = rate.numerator if part == "numerator" else rate.denominator
    elif indicator in obj.counts:
        key = indicator
    elif indicator == "filed_per_1000" and obj.name in REGIONS:
        key = "filed"
    else:
        raise NotFound(f"{obj.name} has no indicator {indicator!r}", code="unknown_indicator",
                       params={"indicator": indicator})
    owners, count = Owners(session, obj), obj.counts[key]
    if object_id not in {w.id for w in _candidates(session, obj, ctx, set())} and object_id not in \
            _grouped(session, count, ctx, owners):
        raise NotFound(f"no {obj.name} {object_id} within your jurisdiction", code="unknown_object_id",
                       params={"id": object_id})
    sub = count.rows(ctx).subquery()
    if count.by_path:  # rows counted by grid path lie under the region's or the inspector's area
        mine = select(sub.c.case_id).where(sub.c.obj.startswith(owners.path(session, object_id), autoescape=True))
    else:
        mine = select(sub.c.case_id).where(sub.c.obj == object_id)
    total = session.scalar(select(func.count()).select_from(mine.subquery())) or 0
    picked = mine.subquery()
    rows = session.execute(
        select(Case.id, Case.number, Case.state, Case.channel, Case.created_at, Case.closed_at, Matter.code,
               Matter.name)
        .join(picked, picked.c.case_id == Case.id).join(Matter, Matter.id == Case.matter_id)
        .order_by(Case.created_at, Case.id).limit(min(limit, DRILL_LIMIT)).offset(offset)).all()
    return {"object": obj.name, "id": object_id, "indicator": indicator, "label": label(indicator),
            "counts": key, "count_label": label(key), "part": part if indicator in obj.rates else None,
            "total": int(total), "items": [
                {"id": r[0], "number": r[1], "state": r[2], "channel": r[3], "created_at": r[4].isoformat(),
                 "closed_at": r[5].isoformat() if r[5] else None, "matter_code": r[6], "matter_name": r[7]}
                for r in rows]}
