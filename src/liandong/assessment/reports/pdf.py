"""A Document as an A4 PDF (reportlab platypus): the title block, then each table under its heading with the
header row repeated on every page, its chart drawn below it, and "第 N 页 / 共 M 页" in every footer.

Chinese needs a CJK font. A TrueType one found on the machine (WenQuanYi Micro Hei from Debian's
``fonts-wqy-microhei`` first, else any TrueType font fontconfig lists for Chinese) is embedded, subset, so
the PDF looks the same everywhere. With none found, the export still works: it falls back to reportlab's
built-in ``STSong-Light`` CID font, which is not embedded — readers bring their own Song face (Acrobat and
every Chinese desktop do) — and says so once in the log. A font asked for explicitly that cannot be used is an
error, not a silent fallback.
"""

from __future__ import annotations

import hashlib
import io
import logging
import subprocess
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import CondPageBreak, Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, TableStyle
from reportlab.platypus import Table as PdfTable

from .document import NUMERIC_KINDS, Document, Table, display, text_width, value

log = logging.getLogger("liandong.reports")

KNOWN_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
)
"""TrueType CJK fonts tried before asking fontconfig (Debian paths; reportlab cannot embed CFF/OpenType
outlines such as Noto Sans CJK, so those are skipped)."""
FALLBACK_FONT = "STSong-Light"

MARGIN = 15 * mm
WIDTH = A4[0] - 2 * MARGIN
PALETTE = tuple(colors.HexColor(c) for c in ("#4472C4", "#ED7D31", "#A5A5A5", "#FFC000", "#5B9BD5", "#70AD47"))
_HEADER_BG = colors.HexColor("#DCE6F1")
_STRIPE = colors.HexColor("#F5F8FC")
_GREY = colors.HexColor("#7F7F7F")
_lock = threading.Lock()


def render_pdf(doc: Document, *, font_file: str | Path | None = None, font_index: int = 0) -> bytes:
    """The PDF; ``font_file`` (with ``font_index`` for a .ttc collection) overrides the font search."""
    font = cjk_font(str(font_file) if font_file else None, font_index)
    styles = _styles(font)
    story: list[Flowable] = _title_block(doc, styles)
    for table in doc.tables:
        story += _section(table, doc, font, styles)
    out = io.BytesIO()
    template = SimpleDocTemplate(out, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                                 bottomMargin=MARGIN + 6 * mm, title=doc.title, subject=doc.subtitle or "",
                                 author="Liandong", creator="Liandong", lang="zh-CN")
    template.build(story, canvasmaker=_numbered_canvas(font, doc.title))
    return out.getvalue()


@lru_cache(maxsize=8)
def cjk_font(font_file: str | None = None, font_index: int = 0) -> str:
    """The name of a registered font that draws Chinese (see the module's docstring for the search)."""
    with _lock:
        if font_file:
            try:
                return _register_ttf(font_file, font_index)
            except Exception as exc:
                raise ValueError(f"cannot use {font_file} (index {font_index}) as the PDF font: {exc}") from exc
        for path, index in _candidates():
            try:
                return _register_ttf(path, index)
            except Exception as exc:  # a CFF-outline or broken font: try the next one
                log.debug("PDF font %s#%d skipped: %s", path, index, exc)
        log.warning("no TrueType Chinese font found (install Debian's fonts-wqy-microhei): PDFs use the "
                    "built-in %s font, which is not embedded", FALLBACK_FONT)
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
        return FALLBACK_FONT


def _candidates() -> list[tuple[str, int]]:
    found = [(p, i) for p, i in KNOWN_FONTS if Path(p).is_file()]
    try:
        listed = subprocess.run(["fc-list", ":lang=zh", "-f", "%{file}\t%{index}\n"], capture_output=True,
                                text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        listed = ""
    for line in sorted(listed.splitlines()):
        path, _, index = line.partition("\t")
        if path.lower().endswith((".ttf", ".ttc")) and (path, int(index or 0)) not in found:
            found.append((path, int(index or 0)))
    return found


def _register_ttf(path: str, index: int) -> str:
    tag = hashlib.blake2s(str(Path(path).resolve()).encode(), digest_size=4).hexdigest()  # one name per file
    name = f"LiandongCJK-{Path(path).stem}-{index}-{tag}"
    if name in pdfmetrics.getRegisteredFontNames():
        return name
    font = TTFont(name, path, subfontIndex=index)
    if ord("中") not in font.face.charToGlyph:
        raise ValueError("the font has no Chinese characters")
    pdfmetrics.registerFont(font)
    return name


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=10, leading=14, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", base, fontSize=20, leading=28, spaceAfter=4, alignment=TA_CENTER),
        "subtitle": ParagraphStyle("subtitle", base, fontSize=12, leading=18, alignment=TA_CENTER,
                                   textColor=colors.HexColor("#595959")),
        "meta": ParagraphStyle("meta", base, fontSize=9, alignment=TA_CENTER, textColor=_GREY, spaceAfter=8),
        "note": ParagraphStyle("note", base, fontSize=9, leading=13, textColor=colors.HexColor("#404040")),
        "heading": ParagraphStyle("heading", base, fontSize=14, leading=20, spaceBefore=12, spaceAfter=6),
        "small": ParagraphStyle("small", base, fontSize=8, leading=11, textColor=_GREY, spaceBefore=4),
        "cell": ParagraphStyle("cell", base),
        "head": ParagraphStyle("head", base, alignment=TA_CENTER),
        "num": ParagraphStyle("num", base, alignment=TA_RIGHT),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _title_block(doc: Document, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    story: list[Flowable] = [_p(doc.title, styles["title"])]
    if doc.subtitle:
        story.append(_p(doc.subtitle, styles["subtitle"]))
    story.append(_p(f"生成时间：{doc.generated_at:%Y-%m-%d %H:%M}", styles["meta"]))
    story += [_p(note, styles["note"]) for note in doc.notes]
    story.append(Spacer(1, 6))
    return story


def _section(table: Table, doc: Document, font: str, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    size = 9 if len(table.columns) <= 7 else 8 if len(table.columns) <= 10 else 7
    cell = ParagraphStyle("c", styles["cell"], fontSize=size, leading=size * 1.3)
    head = ParagraphStyle("h", styles["head"], fontSize=size, leading=size * 1.3)
    data: list[list[Any]] = [[_p(c.title, head) for c in table.columns]]
    greys: list[tuple[int, int]] = []
    for i, row in enumerate(table.rows, start=1):
        line: list[Any] = []
        for j, col in enumerate(table.columns):
            v = value(row, col)
            if v is None:
                greys.append((j, i))
                line.append(doc.no_data)
            else:
                line.append(_p(v, cell) if col.kind == "text" else display(v, col, doc.no_data))
        data.append(line)
    style = [
        ("FONTNAME", (0, 0), (-1, -1), font),
        ("FONTSIZE", (0, 0), (-1, -1), size),
        ("BACKGROUND", (0, 0), (-1, 0), _HEADER_BG),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#A6A6A6")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, _STRIPE]),
        *[("ALIGN", (j, 1), (j, -1), "RIGHT") for j, c in enumerate(table.columns) if c.kind in NUMERIC_KINDS],
        *[("TEXTCOLOR", at, at, _GREY) for at in greys],
    ]
    if not table.rows:
        data.append([doc.no_data] + [""] * (len(table.columns) - 1))
        style += [("SPAN", (0, 1), (-1, 1)), ("ALIGN", (0, 1), (-1, 1), "CENTER"), ("TEXTCOLOR", (0, 1), (0, 1), _GREY)]
    grid = PdfTable(data, colWidths=_widths(table, doc, size), repeatRows=1)
    grid.setStyle(TableStyle(style))
    # A heading needs its table's first rows under it; keepWithNext would push a long table to the next page.
    story: list[Flowable] = [CondPageBreak(60 + 3 * size), _p(table.title, styles["heading"]), grid]
    if table.note:
        story.append(_p(table.note, styles["small"]))
    if table.chart is not None and table.rows:
        story.append(Spacer(1, 8))
        story.append(KeepTogether([_chart(table, doc, font)]))
    return story


def _widths(table: Table, doc: Document, size: float) -> list[float]:
    """Numbers keep the width they need; text columns share what is left, in proportion to their text."""
    cell_pt = size * 0.55  # one Latin character cell; a Chinese character is two
    natural = []
    for col in table.columns:
        cells = max((text_width(display(value(r, col), col, doc.no_data)) for r in table.rows), default=0)
        cap = 40 if col.kind == "text" else 16
        natural.append(max(min(cells, cap), min(text_width(col.title), 8), 4) * cell_pt + 13)  # + cell padding
    fixed = sum(w for w, c in zip(natural, table.columns, strict=True) if c.kind != "text")
    flexible = sum(w for w, c in zip(natural, table.columns, strict=True) if c.kind == "text")
    if flexible and fixed < WIDTH * 0.8:
        room = WIDTH - fixed
        scale = room / flexible if flexible > room else 1.0
        natural = [w * scale if c.kind == "text" else w for w, c in zip(natural, table.columns, strict=True)]
    total = sum(natural)
    if total > WIDTH or total < WIDTH * 0.6:  # too wide, or too narrow to look like a table: fit the page
        natural = [w * WIDTH / total for w in natural]
    return natural


def _chart(table: Table, doc: Document, font: str) -> Drawing:
    spec = table.chart
    assert spec is not None
    series = [table.column(k) for k in spec.series]
    as_percent = all(c.kind == "rate" for c in series)
    data = [[_plotted(value(r, c), as_percent) for r in table.rows] for c in series]
    names = [display(value(r, table.column(spec.category)), table.column(spec.category), doc.no_data)
             for r in table.rows]
    if all(v is None for line in data for v in line):  # nothing to plot: the title and "no data"
        drawing = Drawing(WIDTH, 40)
        drawing.add(String(WIDTH / 2, 26, spec.title, fontName=font, fontSize=11, textAnchor="middle"))
        drawing.add(String(WIDTH / 2, 8, doc.no_data, fontName=font, fontSize=9, textAnchor="middle",
                           fillColor=_GREY))
        return drawing
    height = 230.0
    drawing = Drawing(WIDTH, height)
    drawing.add(String(WIDTH / 2, height - 14, spec.title, fontName=font, fontSize=11, textAnchor="middle"))

    chart: Any = VerticalBarChart() if spec.kind == "bar" else HorizontalLineChart()
    chart.x, chart.y, chart.width, chart.height = 45, 55, WIDTH - 60, height - 55 - 40
    chart.data = data
    step = max(1, -(-len(names) // 30))  # at most 30 labels: more would overlap
    chart.categoryAxis.categoryNames = [_short(n) if i % step == 0 else "" for i, n in enumerate(names)]
    chart.categoryAxis.joinAxisMode = "bottom"  # labels under the plot even when values go below zero
    labels = chart.categoryAxis.labels
    labels.fontName, labels.fontSize = font, 7
    if len(names) > 8:
        labels.angle, labels.boxAnchor, labels.dx, labels.dy = 45, "ne", 2, -2
    axis = chart.valueAxis
    axis.labels.fontName, axis.labels.fontSize = font, 7
    axis.visibleGrid, axis.gridStrokeColor, axis.gridStrokeWidth = True, colors.HexColor("#D9D9D9"), 0.25
    if all(v is None or v >= 0 for line in data for v in line):
        axis.valueMin = 0
    if as_percent:
        axis.labelTextFormat = lambda v: f"{v:g}%"
    for i in range(len(series)):
        colour = PALETTE[i % len(PALETTE)]
        if spec.kind == "bar":
            chart.bars[i].fillColor, chart.bars[i].strokeColor = colour, None
        else:
            chart.lines[i].strokeColor, chart.lines[i].strokeWidth = colour, 1.5
            chart.lines[i].symbol = makeMarker("FilledCircle", size=3, fillColor=colour, strokeColor=colour)
    drawing.add(chart)
    if len(series) > 1:
        legend = Legend()
        legend.x, legend.y, legend.alignment = WIDTH - 10, height - 26, "right"
        legend.boxAnchor, legend.columnMaximum, legend.deltay = "ne", 1, 0
        legend.fontName, legend.fontSize = font, 8
        legend.dx, legend.dy, legend.dxTextSpace = 8, 8, 4
        legend.colorNamePairs = [(PALETTE[i % len(PALETTE)], c.title) for i, c in enumerate(series)]
        drawing.add(legend)
    return drawing


def _plotted(v: Any, as_percent: bool) -> float | None:
    if v is None:
        return None
    return float(v) * 100 if as_percent else float(v)


def _short(label: str, cells: int = 16) -> str:
    if text_width(label) <= cells:
        return label
    out = ""
    for ch in label:
        if text_width(out + ch) > cells - 1:
            break
        out += ch
    return out + "…"


def _numbered_canvas(font: str, title: str) -> type[Canvas]:
    """A canvas that holds its pages back until the end, when the total is known, to write 第 N 页 / 共 M 页."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for n, page in enumerate(self._pages, start=1):
                self.__dict__.update(page)
                self._footer(n, total)
                super().showPage()
            super().save()

        def _footer(self, n: int, total: int) -> None:
            self.saveState()
            self.setFont(font, 8)
            self.setFillColor(_GREY)
            self.drawCentredString(A4[0] / 2, MARGIN, f"第 {n} 页 / 共 {total} 页")
            self.drawString(MARGIN, MARGIN, _short(title, 40))
            self.restoreState()

    return NumberedCanvas
