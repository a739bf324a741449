"""A simulation run: which scenario, seed and scale it plays, how far it has got (so a rerun with the same seed
continues where it stopped) and, when finished, the figures it reached. (What marks the year as simulated on the
pages and in the annual report is ``assessment/simulated.py``'s marker, which the run sets.)"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base, UTCDateTime


class SimRun(Base):
    __tablename__ = "sim_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    """The scenario's content, seed and scale, hashed: the same three continue the same run."""
    scenario: Mapped[str] = mapped_column(String(100))
    year: Mapped[int] = mapped_column(Integer, index=True)
    seed: Mapped[int] = mapped_column(Integer)
    scale: Mapped[float] = mapped_column(Float)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    done_until: Mapped[float] = mapped_column(Float, default=0.0)
    """Local minutes of the year simulated and committed (each day is one transaction)."""
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    reached: Mapped[dict | None] = mapped_column(JSON)
    """The finished year's figures beside their targets."""
    first_case_id: Mapped[int | None] = mapped_column(Integer)
    """The id of the plan's first report's case: each report's case takes this + its ordinal (``sim/run.py``)."""


class SimRunPart(Base):
    """How far one town's cases are committed (the run's own ``done_until`` covers the rest of each day: the
    registers, the incidents, the scans). The towns' cases are played by shares of processes side by side."""

    __tablename__ = "sim_run_parts"

    run_id: Mapped[int] = mapped_column(ForeignKey("sim_runs.id", ondelete="CASCADE"), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    """The town's area id: a merged report is played with its master's town."""
    done_until: Mapped[float] = mapped_column(Float)
