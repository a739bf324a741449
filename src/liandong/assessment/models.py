"""The month figures (``assessment/months.py``): each month's counts and working times per object, derived
from the stage facts and the event log by the very counts the assessment reads, and dropped when a case they
cover changes. A projection like the stage facts, never a counter: nothing writes them but ``months.build``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Integer, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from liandong.db import Base, UTCDateTime, utcnow


class MonthBuilt(Base):
    """A month whose figures of a family (the object types sharing one set of counts) are stored, and under which
    basis (the counting rules, the settings they read, the generation of the stage facts)."""

    __tablename__ = "assessment_months"

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    family: Mapped[str] = mapped_column(String(20), primary_key=True)
    basis: Mapped[str] = mapped_column(String(64))
    days: Mapped[int] = mapped_column(SmallInteger)
    """How many days of the month the build holds: all of a complete month, the complete days of the month under way
    (``months.complete_days``)."""
    token: Mapped[str] = mapped_column(String(32))
    """This build's own mark: a read checks that the months it read are still the builds it planned with."""
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


DAY_DOC = """The first day in the month of the block the row is stored for (``months.SIZES``); for what runs across
a day's end (``size`` 0), that day."""
SIZE_DOC = """The block's size: 32 the whole month, 8 or 1 days from ``day`` (the last 8 cut by the month's end); 0
what runs across the end of day ``day``, as its change on the day before (``months.AT_END``). Before the day in
the key: the days' changes up to a day are a range of it."""
TOWN_DOC = """The town the rows' cases lie in (its path), for the rows counted by id: a town's leader assesses people
and departments on their work in the town's cases. '' for the whole district, and for the rows counted by grid path
(their owner is already a place)."""


class MonthFigure(Base):
    """One count of one owner in a month, or in a block of its days: a user or unit id, or the path of the community
    a grid lies in."""

    __tablename__ = "assessment_month_figures"
    __table_args__ = {"sqlite_with_rowid": False}  # small rows in the key's own tree: one b-tree to write, not two

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    family: Mapped[str] = mapped_column(String(20), primary_key=True)
    size: Mapped[int] = mapped_column(SmallInteger, primary_key=True, doc=SIZE_DOC)
    day: Mapped[int] = mapped_column(SmallInteger, primary_key=True, doc=DAY_DOC)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    town: Mapped[str] = mapped_column(String(200), primary_key=True, doc=TOWN_DOC)
    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class MonthTimes(Base):
    """The working minutes of every stage of ``stage`` an owner ended in the month or the block (float64, as
    bytes): kept whole, so that a year's 90th percentile is the exact one, not an estimate from a histogram."""

    __tablename__ = "assessment_month_times"

    month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    family: Mapped[str] = mapped_column(String(20), primary_key=True)
    size: Mapped[int] = mapped_column(SmallInteger, primary_key=True, doc=SIZE_DOC)
    day: Mapped[int] = mapped_column(SmallInteger, primary_key=True, doc=DAY_DOC)
    town: Mapped[str] = mapped_column(String(200), primary_key=True, doc=TOWN_DOC)
    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    stage: Mapped[str] = mapped_column(String(20), primary_key=True)
    minutes: Mapped[bytes] = mapped_column(LargeBinary)
