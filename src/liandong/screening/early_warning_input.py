"""The detectors' input from the database: unit grids as points, and reports from a list of sources.

``grids`` builds :class:`~liandong.screening.warning.events.Grids` (each unit grid's representative point) and the
500 m neighbourhood from the grid index, once per process and grid-index revision (as ``areas/index.py`` caches
the index itself). ``reports`` asks every source in ``SOURCES`` for the reports of the study period; a source is a
function ``(session, start, end) -> list[Report]``. Cases are the first source (sensor alarms are cases already:
channel ``sensor``); hazards and disputes register theirs with ``SOURCES.append`` (their own ``source`` name, so
their ids never mix with case ids).
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
from liandong.screening.warning.events import Grids, Neighbourhood

NEIGHBOURHOOD_M = 500.0
"""The largest scan radius (``ScanSettings.radii``) and the baseline's radius fit within it."""
LEFT_OUT = ("rejected", "voided", "merged")
"""Cases that are no report of their own: refused, voided, or merged into a master (counted there)."""


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


def case_reports(session: Session, start: dt.datetime, end: dt.datetime) -> list[Report]:
    """Cases reported in (start, end], every channel (sensor alarms included), matter code as the kind."""
    rows = session.execute(
        select(Case.id, Case.grid_id, Case.created_at, Matter.code, Case.lon, Case.lat)
        .join(Matter, Matter.id == Case.matter_id)
        .where(Case.created_at > start, Case.created_at <= end, Case.grid_id.is_not(None),
               Case.state.not_in(LEFT_OUT)))
    return [Report("case", r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]


SOURCES: list[Source] = [case_reports]
"""Where reports come from; the hazards and disputes registers add theirs."""


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
    key = str(session.get_bind().url)
    holder = _holders.get(key)
    if holder is None:
        holder = _holders.setdefault(key, IndexHolder())
    return holder.get(session)
