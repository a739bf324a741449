"""One table as CSV for further work: raw figures (rates as fractions, no thousands separators), the column
titles as the header, and a byte-order mark so Excel opens the Chinese as UTF-8."""

from __future__ import annotations

import csv
import io

from .document import Table, value

BOM = "\ufeff"


def render_csv(table: Table) -> str:
    """The CSV text, BOM first; encode it as UTF-8. No data is an empty field, never 0."""
    buf = io.StringIO()
    buf.write(BOM)
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([_text(c.title) for c in table.columns])
    for row in table.rows:
        line = []
        for col in table.columns:
            v = value(row, col)
            if v is None:
                line.append("")
            elif col.kind == "text":
                line.append(_text(v))
            elif col.kind == "rate":
                line.append(f"{v:.4f}")
            elif col.kind == "int" and float(v).is_integer():
                line.append(str(int(v)))
            else:
                line.append(repr(float(v)))
        writer.writerow(line)
    return buf.getvalue()


def _text(s: str) -> str:
    """A leading = + - @ would make a spreadsheet run a name from the data as a formula."""
    return "'" + s if s and s[0] in "=+-@\t\r" else s
