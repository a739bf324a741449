"""A report as plain data — titled tables of typed columns, an optional chart each, notes — so the XLSX, PDF
and CSV writers never know where the figures come from (the annual report, a monthly assessment…).

The model checks itself when built: a bad table (a chart naming a missing column, a text in a number column,
two tables of one name) is a programming error, and it should say so where the document is made, not deep
inside a writer.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal, get_args

ColumnKind = Literal["text", "int", "rate", "float", "hours"]
ChartKind = Literal["bar", "line"]
NUMERIC_KINDS = frozenset({"int", "rate", "float", "hours"})


@dataclass(frozen=True)
class Column:
    """One column: ``rate`` is a fraction 0–1 shown as a percentage with one decimal; None anywhere = no data."""

    key: str
    title: str
    kind: ColumnKind = "text"

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"column key must be a non-empty string, not {self.key!r}")
        if self.kind not in get_args(ColumnKind):
            raise ValueError(f"column {self.key!r}: kind {self.kind!r} is not one of {get_args(ColumnKind)}")


@dataclass(frozen=True)
class Chart:
    """Plots ``series`` (number or rate columns) against the values of the ``category`` column."""

    kind: ChartKind
    title: str
    category: str
    series: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "series", tuple(self.series))
        if self.kind not in get_args(ChartKind):
            raise ValueError(f"chart {self.title!r}: kind {self.kind!r} is not one of {get_args(ChartKind)}")
        if not self.series:
            raise ValueError(f"chart {self.title!r}: no series to plot")


@dataclass(frozen=True)
class Table:
    """One sheet of the workbook, one section of the PDF, one CSV file."""

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[Mapping[str, Any], ...]
    chart: Chart | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "rows", tuple(self.rows))
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"table {self.title!r}: name must be a non-empty string")
        if not self.columns:
            raise ValueError(f"table {self.name!r}: no columns")
        by_key: dict[str, Column] = {}
        for col in self.columns:
            if col.key in by_key:
                raise ValueError(f"table {self.name!r}: column key {col.key!r} appears twice")
            by_key[col.key] = col
        if self.chart is not None:
            for key in (self.chart.category, *self.chart.series):
                if key not in by_key:
                    raise ValueError(f"table {self.name!r}: chart {self.chart.title!r} names column {key!r}, "
                                     f"which the table does not have (columns: {', '.join(by_key)})")
            for key in self.chart.series:
                if by_key[key].kind not in NUMERIC_KINDS:
                    raise ValueError(f"table {self.name!r}: chart {self.chart.title!r} plots column {key!r}, "
                                     f"a {by_key[key].kind} column; series must be numbers or rates")
        for i, row in enumerate(self.rows):
            if not isinstance(row, Mapping):
                raise ValueError(f"table {self.name!r}: row {i} is a {type(row).__name__}, not a mapping")
            for col in self.columns:
                raw = row.get(col.key)
                if col.kind in NUMERIC_KINDS and raw is not None and (
                        isinstance(raw, bool) or not isinstance(raw, int | float | Decimal)):
                    raise ValueError(f"table {self.name!r}: row {i}, column {col.key!r} ({col.kind}) "
                                     f"holds {raw!r}, not a number or None")

    def column(self, key: str) -> Column:
        return next(c for c in self.columns if c.key == key)


@dataclass(frozen=True)
class Document:
    """A whole report: the cover (title, subtitle, when, notes) then its tables in order."""

    title: str
    subtitle: str | None
    generated_at: datetime
    tables: tuple[Table, ...]
    notes: tuple[str, ...] = ()
    no_data: str = "无数据"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tables", tuple(self.tables))
        object.__setattr__(self, "notes", tuple(self.notes))
        seen: dict[str, str] = {}
        for table in self.tables:
            # Excel compares sheet names without case, so the document does too.
            folded = table.name.strip().casefold()
            if folded in seen:
                raise ValueError(f"duplicate table name {table.name!r} (also {seen[folded]!r}): "
                                 "each table needs its own sheet name")
            seen[folded] = table.name


def value(row: Mapping[str, Any], column: Column) -> Any:
    """The cell's value as the writers want it: None for no data (a missing key, None, NaN or infinity),
    plain int/float for numbers (a Decimal from PostgreSQL included), the text as given otherwise."""
    raw = row.get(column.key)
    if raw is None:
        return None
    if column.kind == "text":
        return raw if isinstance(raw, str) else str(raw)
    if isinstance(raw, Decimal):
        if not raw.is_finite():
            return None
        raw = int(raw) if column.kind == "int" and raw == raw.to_integral_value() else float(raw)
    if isinstance(raw, float) and not math.isfinite(raw):
        return None
    return raw


def display(v: Any, column: Column, no_data: str) -> str:
    """The value as a reader sees it (PDF, chart labels): 1,234 · 12.5% · 3.14 · 2.5 (hours), rounded half up
    from the decimal digits as written, as Excel rounds the same number formats (3.25 → 3.3, not 3.2)."""
    if v is None:
        return no_data
    if column.kind == "text":
        return str(v)
    if column.kind == "rate":
        return f"{_half_up(Decimal(repr(v)) * 100, 1):.1f}%"
    places = {"int": 0, "float": 2, "hours": 1}[column.kind]
    return f"{_half_up(Decimal(repr(v)), places):,.{places}f}"


def _half_up(d: Decimal, places: int) -> Decimal:
    return d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def text_width(text: str) -> int:
    """Width in Latin character cells: a Chinese (wide or full-width) character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
