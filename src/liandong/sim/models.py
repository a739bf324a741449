"""A simulation run: which scenario, seed and scale it plays, how far it has got (so a rerun with the same seed
continues where it stopped) and, when finished, the figures it reached. (What marks the year as simulated on the
pages and in the annual report is ``assessment/simulated.py``'s marker, which the run sets.)"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Float, Integer, String
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
