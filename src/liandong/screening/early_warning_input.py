"""The detectors' input from the database: unit grids as points, and reports from a list of sources.

``grids`` builds :class:`~liandong.screening.warning.events.Grids` (each unit grid's representative point) and the
500 m neighbourhood from the grid index, once per process and grid-index revision (as ``areas/index.py`` caches
the index itself). ``reports`` asks every source in ``SOURCES`` for the reports of the study period; a source is a
function ``(session, start, end) -> list[Report]``. Three sources: cases (sensor alarms are cases already: channel
``sensor``), safety hazards and disputes, each under its own ``source`` name so their ids never mix, and with its
own kinds (a case's matter code; ``hazard:<sector>``, ``dispute:<type>``) so kinds never mix either. The scan keeps
the sources apart (``early_warnings.scan``): hazards cluster among hazards, disputes among disputes.

What counts is a report that came in by itself at its time, once: see each source's docstring.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.index import GridIndex, IndexHolder
from liandong.cases.models import Case
from liandong.catalogue.models import Matter
from liandong.db import database_key
from liandong.screening import dispute_states as ds
from liandong.screening import hazard_states as hs
from liandong.screening.campaign_models import CampaignVisit
from liandong.screening.dispute_models import Dispute
from liandong.screening.hazard_models import Hazard
from liandong.screening.warning.events import Grids, Neighbourhood

NEIGHBOURHOOD_M = 500.0
"""The largest scan radius (``ScanSettings.radii``) and the baseline's radius fit within it."""
LEFT_OUT = ("rejected", "voided", "merged")
"""Cases that are no report of their own: refused, voided, or merged into a master (counted there)."""
HAZARDS_LEFT_OUT = ("rejected",)
"""Hazards judged not to be one (不予立案); every other state, closed included, was a real hazard when reported."""


@dataclass(frozen=True)
class Report:
    source: str
    id: int
    grid_id: int
    at: dt.datetime
    kind: str
    lon: float
    lat: float


Source = Callable[[Session, dt.datetime, dt.datetime], list[Report]]


def kind(source: str, value: str) -> str:
    """A hazard's or a dispute's kind: its sector or type behind its source's name, never equal to a matter code."""
    return f"{source}:{value}"


def kind_names(session: Session, codes: set[str]) -> dict[str, str]:
    """Each kind's Chinese name: a matter's from the catalogue, ``隐患：燃气`` for ``hazard:gas``, ``纠纷：…`` for a
    dispute type; an unknown code is its own name."""
    names = dict(session.execute(select(Matter.code, Matter.name).where(Matter.code.in_(codes))).all()) \
        if codes else {}
    for code in codes:
        source, _, value = code.partition(":")
        if source == "hazard":
            names[code] = f"隐患：{hs.SECTOR_NAMES.get(value, value)}"
        elif source == "dispute":
            names[code] = f"纠纷：{ds.TYPE_NAMES.get(value, value)}"
        else:
            names.setdefault(code, code)
    return names


def case_reports(session: Session, start: dt.datetime, end: dt.datetime) -> list[Report]:
    """Cases reported in (start, end], every channel (sensor alarms included), matter code as the kind. Left out:
    ``LEFT_OUT``, and a case a hazard was handed over as (``to_case``): that report is the hazard's, counted in the
    hazards at the time it was found, while the case's time is the handover's — a desk handing over a batch would
    look like a burst in the field."""
    handed_over = select(Hazard.case_id).where(Hazard.case_id.is_not(None))
    rows = session.execute(
        select(Case.id, Case.grid_id, Case.created_at, Matter.code, Case.lon, Case.lat)
        .join(Matter, Matter.id == Case.matter_id)
        .where(Case.created_at > start, Case.created_at <= end, Case.grid_id.is_not(None),
               Case.state.not_in(LEFT_OUT), Case.id.not_in(handed_over)))
    return [Report("case", r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


def hazard_reports(session: Session, start: dt.datetime, end: dt.datetime) -> list[Report]:
    """Safety hazards registered in (start, end], ``hazard:<sector>`` as the kind (the sector is the register's
    fixed list; the type is free text and would split one problem many ways). Left out: ``HAZARDS_LEFT_OUT``, and
    the findings of campaign visits (``campaign_findings``)."""
    found = campaign_findings(session, start, end)[0]
    rows = session.execute(
        select(Hazard.id, Hazard.grid_id, Hazard.created_at, Hazard.sector, Hazard.lon, Hazard.lat)
        .where(Hazard.created_at > start, Hazard.created_at <= end, Hazard.state.not_in(HAZARDS_LEFT_OUT)))
    return [Report("hazard", r[0], r[1], r[2], kind("hazard", r[3]), r[4], r[5]) for r in rows if r[0] not in found]


def dispute_reports(session: Session, start: dt.datetime, end: dt.datetime) -> list[Report]:
    """Disputes registered in (start, end], ``dispute:<type>`` as the kind. Every state counts (no state withdraws
    a dispute: resolved and closed ones were real disputes when registered); left out are the findings of campaign
    visits (``campaign_findings``)."""
    found = campaign_findings(session, start, end)[1]
    rows = session.execute(
        select(Dispute.id, Dispute.grid_id, Dispute.created_at, Dispute.type, Dispute.lon, Dispute.lat)
        .where(Dispute.created_at > start, Dispute.created_at <= end))
    return [Report("dispute", r[0], r[1], r[2], kind("dispute", r[3]), r[4], r[5]) for r in rows if r[0] not in found]


def campaign_findings(session: Session, start: dt.datetime, end: dt.datetime) -> tuple[set[int], set[int]]:
    """The hazards and disputes made from campaign visits recorded in (start, end] (a finding is registered at its
    visit's recording time). They are not reports that came in by themselves: a campaign sends teams through one
    area after another, so its findings crowd where and when the teams went — the scan's null hypothesis (where a
    report is made does not depend on when) fails by design there, and every busy visit day would be a cluster. The
    campaign's coverage shows them per grid instead."""
    hazards: set[int] = set()
    disputes: set[int] = set()
    for hazard_ids, dispute_ids in session.execute(
            select(CampaignVisit.hazard_ids, CampaignVisit.dispute_ids)
            .where(CampaignVisit.recorded_at > start, CampaignVisit.recorded_at <= end)):
        hazards.update(hazard_ids or ())
        disputes.update(dispute_ids or ())
    return hazards, disputes


SOURCES: list[Source] = [case_reports, hazard_reports, dispute_reports]
"""Where reports come from; each source's name has its evidence list on a warning (``early_warning_models.EVIDENCE``:
a source without one is not scanned)."""


def reports(session: Session, start: dt.datetime, end: dt.datetime) -> list[Report]:
    return [r for source in SOURCES for r in source(session, start, end)]


@dataclass(frozen=True, eq=False)
class GridSpace:
    """The grids as the detectors see them, with each grid's code and path for storing what they find."""

    revision: int
    grids: Grids
    neighbourhood: Neighbourhood
    codes: dict[int, str]
    paths: dict[int, str]


def _build(index: GridIndex) -> GridSpace:
    ids = np.array([h.id for h in index.hits], dtype=np.int64)
    if len(ids):
        points = shapely.point_on_surface(index.geoms)
        lon, lat = shapely.get_x(points), shapely.get_y(points)
    else:
        lon = lat = np.zeros(0)
    grids = Grids.from_lonlat(ids, lon, lat) if len(ids) else Grids.from_xy(ids, lon, lat)
    return GridSpace(index.revision, grids, Neighbourhood.build(grids, NEIGHBOURHOOD_M),
                     {h.id: h.code for h in index.hits}, {h.id: h.path for h in index.hits})


_spaces: weakref.WeakKeyDictionary[GridIndex, GridSpace] = weakref.WeakKeyDictionary()
"""One grid space per grid index object: an index is rebuilt when the areas change, and its space goes with it."""
_lock = threading.Lock()
_holders: dict[str, IndexHolder] = {}
"""Grid indexes of processes without an app (the CLI, the demo loader), one per database URL."""


def grid_space(index: GridIndex) -> GridSpace:
    space = _spaces.get(index)
    if space is None:
        with _lock:  # one build per index even when several threads scan at once
            space = _spaces.get(index)
            if space is None:
                space = _spaces[index] = _build(index)
    return space


def grid_index(session: Session) -> GridIndex:
    """This process's grid index for the session's database (outside the app, which holds its own)."""
    key = database_key(session)
    holder = _holders.get(key)
    if holder is None:
        holder = _holders.setdefault(key, IndexHolder())
    return holder.get(session)
