"""Whether the records of a year are a simulation's (``liandong simulate``): a marker the simulation sets when it
starts a year, which the annual report and the top bar of every page show, so a simulated year's figures are never
taken for the district's own."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from liandong.areas.models import Meta

PREFIX = "simulated:"


def mark(session: Session, year: int, label: str) -> None:
    """The year holds simulated records (``label``: which scenario, seed and scale)."""
    row = session.get(Meta, f"{PREFIX}{year}")
    if row is None:
        session.add(Meta(key=f"{PREFIX}{year}", value=label[:200]))
    else:
        row.value = label[:200]


def years(session: Session) -> dict[int, str]:
    """Each simulated year and its label."""
    rows = session.execute(select(Meta.key, Meta.value).where(Meta.key.startswith(PREFIX))).all()
    return {int(key.removeprefix(PREFIX)): value for key, value in rows}
