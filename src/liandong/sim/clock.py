"""The simulated year's clock: every moment as local minutes since the year's first local midnight, and working
minutes (on the working calendar: its hours, holidays and 调休) counted from the same origin, both ways at once for
arrays of moments. A simulated person's delay is drawn in working time — nobody at a desk acts at night or over the
Spring Festival — and turned back into a moment here.

One table of the two years' minutes (the scenario's year and the next, for work that runs over New Year) makes both
directions a lookup: ``work`` by index, ``real`` by binary search."""

from __future__ import annotations

import calendar as cal_module
import datetime as dt

import numpy as np

from liandong.cases.calendar import WorkCalendar

DAY = 1440


class WorkClock:
    def __init__(self, calendar: WorkCalendar, year: int):
        self.year, self.tz = year, calendar.tz
        self.origin = dt.datetime(year, 1, 1)
        days = (366 if cal_module.isleap(year) else 365) + (366 if cal_module.isleap(year + 1) else 365)
        self.year_minutes = (366 if cal_module.isleap(year) else 365) * DAY
        mask = np.zeros(days * DAY, dtype=bool)
        spans = [(a.hour * 60 + a.minute, b.hour * 60 + b.minute) for a, b in calendar.hours]
        for i in range(days):
            if calendar.is_workday(self.origin.date() + dt.timedelta(days=i)):
                for a, b in spans:
                    mask[i * DAY + a:i * DAY + b] = True
        self.mask = mask
        self.cum = np.concatenate([[0], np.cumsum(mask)]).astype(np.float64)
        self.day_minutes = float(sum(b - a for a, b in spans))

    def work(self, t: np.ndarray | float) -> np.ndarray:
        """Working minutes before each local minute ``t`` (a moment inside working hours counts its part)."""
        t = np.asarray(t, dtype=np.float64)
        i = np.clip(np.floor(t).astype(np.int64), 0, len(self.mask) - 1)
        return self.cum[i] + np.where(self.mask[i], t - i, 0.0)

    def real(self, w: np.ndarray | float) -> np.ndarray:
        """The local minute at which ``w`` working minutes have passed (where work resumes, for a ``w`` reached at
        the end of a day); ``inf`` past the table's two years."""
        w = np.asarray(w, dtype=np.float64)
        i = np.searchsorted(self.cum, w, side="right") - 1
        past = i >= len(self.mask)
        i = np.clip(i, 0, len(self.mask) - 1)
        return np.where(past, np.inf, i + (w - self.cum[i]))

    def moment(self, t: float) -> dt.datetime:
        """A local minute as an aware UTC datetime (to the second, as people and the event log keep time)."""
        local = self.origin + dt.timedelta(seconds=round(t * 60))
        return local.replace(tzinfo=self.tz).astimezone(dt.UTC)

    def day_of(self, t: float) -> dt.date:
        return (self.origin + dt.timedelta(minutes=t)).date()
