"""A Document as an Excel workbook (openpyxl): a cover sheet, then one sheet per table with its title, a
frozen header row, number formats on the real numbers (so the figures stay sortable and summable) and a
native chart beside the table."""

from __future__ import annotations

import io
import re
from datetime import datetime

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.worksheet import Worksheet

from .document import Column, Document, Table, display, text_width, value

COVER = "封面"
NUMBER_FORMATS = {"int": "#,##0", "rate": "0.0%", "float": "0.00", "hours": "0.0"}
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_MAX_SHEET = 31
_TITLE_ROW, _HEADER_ROW, _FIRST_ROW = 1, 2, 3

_HEADER_FILL = PatternFill("solid", fgColor="DCE6F1")
_THIN = Side(style="thin", color="A6A6A6")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def render_xlsx(doc: Document) -> bytes:
    wb = Workbook()
    cover = wb.active
    names = sheet_names(doc)
    _cover(cover, doc, names)
    for table, name in zip(doc.tables, names, strict=True):
        _table_sheet(wb.create_sheet(name), table, doc)
    wb.properties.title = doc.title
    wb.properties.subject = doc.subtitle
    wb.properties.creator = "Liandong"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def sheet_names(doc: Document) -> list[str]:
    """Excel's rules for the table names, in table order: no []:*?/\\, no leading or trailing apostrophe,
    at most 31 characters, unique without case. Names the document holds apart (it refuses exact duplicates)
    but that meet after cutting get a ``~2`` suffix; the cover keeps its own name."""
    taken = {COVER.casefold()}
    names = []
    for table in doc.tables:
        base = _BAD_SHEET_CHARS.sub("_", ILLEGAL_CHARACTERS_RE.sub("", table.name)).strip().strip("'").strip()
        base = base[:_MAX_SHEET].rstrip() or "Sheet"
        name, n = base, 1
        while name.casefold() in taken or name.casefold() == "history":  # "History" is reserved by Excel
            n += 1
            suffix = f"~{n}"
            name = base[: _MAX_SHEET - len(suffix)] + suffix
        taken.add(name.casefold())
        names.append(name)
    return names


def _cover(ws: Worksheet, doc: Document, names: list[str]) -> None:
    ws.title = COVER
    ws["A1"] = _text(doc.title)
    ws["A1"].font = Font(size=18, bold=True)
    if doc.subtitle:
        ws["A2"] = _text(doc.subtitle)
        ws["A2"].font = Font(size=12, color="595959")
    ws["A4"] = "生成时间"
    ws["A4"].font = Font(bold=True)
    ws["B4"] = _naive(doc.generated_at)
    ws["B4"].number_format = "yyyy-mm-dd hh:mm"
    ws["B4"].alignment = Alignment(horizontal="left")
    row = 5
    for i, note in enumerate(doc.notes):
        if i == 0:
            ws.cell(row, 1, "说明").font = Font(bold=True)
        ws.cell(row, 2, _text(note)).alignment = Alignment(wrap_text=True, vertical="top")
        row += 1
    ws.cell(row, 2, f"空白单元格表示{doc.no_data}").font = Font(italic=True, color="7F7F7F")
    row += 2
    if doc.tables:
        ws.cell(row, 1, "目录").font = Font(bold=True)
    for table, name in zip(doc.tables, names, strict=True):
        cell = ws.cell(row, 2, _text(table.title))
        cell.hyperlink = f"#{quote_sheetname(name)}!A1"
        cell.font = Font(color="0563C1", underline="single")
        row += 1
    ws.column_dimensions["A"].width = 12
    ws.column_dimensions["B"].width = 80


def _table_sheet(ws: Worksheet, table: Table, doc: Document) -> None:
    ncols = len(table.columns)
    last = get_column_letter(ncols)
    ws.cell(_TITLE_ROW, 1, _text(table.title)).font = Font(size=14, bold=True)
    if ncols > 1:
        ws.merge_cells(f"A{_TITLE_ROW}:{last}{_TITLE_ROW}")
    ws.row_dimensions[_TITLE_ROW].height = 24

    for j, col in enumerate(table.columns, start=1):
        cell = ws.cell(_HEADER_ROW, j, _text(col.title))
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.border = _BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)

    widths = [min(text_width(col.title), 24) for col in table.columns]
    for i, row in enumerate(table.rows):
        r = _FIRST_ROW + i
        for j, col in enumerate(table.columns, start=1):
            v = value(row, col)
            cell = ws.cell(r, j)
            if v is not None:  # None stays an empty cell: "no data" is not 0
                if col.kind == "text":
                    cell.value = _text(v)
                    cell.data_type = "s"  # a leading "=" is a name from the data, never a formula
                else:
                    cell.value = v
                    cell.number_format = NUMBER_FORMATS[col.kind]
                widths[j - 1] = max(widths[j - 1], text_width(display(v, col, doc.no_data)))
            cell.border = _BORDER
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = max(8, min(w + 2, 60))

    last_row = _FIRST_ROW + len(table.rows) - 1
    if table.rows:
        ws.auto_filter.ref = f"A{_HEADER_ROW}:{last}{last_row}"
    else:
        ws.cell(_FIRST_ROW, 1, doc.no_data).font = Font(italic=True, color="7F7F7F")
        last_row = _FIRST_ROW
    if table.note:
        ws.cell(last_row + 2, 1, _text(table.note)).font = Font(italic=True, color="595959")

    ws.freeze_panes = ws.cell(_FIRST_ROW, 1)  # the title and header rows stay while scrolling
    ws.print_title_rows = f"{_TITLE_ROW}:{_HEADER_ROW}"
    ws.page_setup.orientation = "landscape" if ncols > 6 else "portrait"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True

    if table.chart is not None and table.rows:
        _chart(ws, table, last_row)


def _chart(ws: Worksheet, table: Table, last_row: int) -> None:
    spec = table.chart
    assert spec is not None
    index = {c.key: j for j, c in enumerate(table.columns, start=1)}
    chart = BarChart() if spec.kind == "bar" else LineChart()
    if isinstance(chart, BarChart):
        chart.type, chart.gapWidth = "col", 60
    chart.title = spec.title
    for key in spec.series:
        col = index[key]
        chart.add_data(Reference(ws, min_col=col, min_row=_HEADER_ROW, max_row=last_row), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=index[spec.category], min_row=_FIRST_ROW, max_row=last_row))
    series_cols: list[Column] = [table.column(k) for k in spec.series]
    if all(c.kind == "rate" for c in series_cols):
        chart.y_axis.number_format = "0%"
    chart.x_axis.delete = chart.y_axis.delete = False  # openpyxl ≥ 3.1 hides the axes otherwise
    if len(spec.series) == 1:
        chart.legend = None
    chart.width = max(16.0, min(32.0, 8 + 0.8 * len(table.rows)))
    chart.height = 9.0
    ws.add_chart(chart, f"{get_column_letter(len(table.columns) + 2)}{_HEADER_ROW}")


def _text(s: str) -> str:
    """Control characters would make openpyxl refuse the whole workbook."""
    return ILLEGAL_CHARACTERS_RE.sub("", s)


def _naive(t: datetime) -> datetime:
    """Excel has no time zones: the wall-clock time the report was made at, as given."""
    return t.replace(tzinfo=None)
