"""The report writers read back: XLSX with openpyxl, PDF text extracted with pypdf, CSV parsed again.

The documents are made here by hand, so these tests hold for any report (annual, monthly assessment) that
builds a Document.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import reportlab
from pypdf import PdfReader

from liandong.assessment.reports import pdf as pdf_module
from liandong.assessment.reports.csv import render_csv
from liandong.assessment.reports.document import Chart, Column, Document, Table
from liandong.assessment.reports.pdf import FALLBACK_FONT, cjk_font, render_pdf
from liandong.assessment.reports.xlsx import COVER, render_xlsx, sheet_names

TOWN_COLUMNS = (
    Column("town", "镇（街道）", "text"),
    Column("accepted", "受理数", "int"),
    Column("closed", "结案数", "int"),
    Column("closure_rate", "结案率", "rate"),
    Column("mean_hours", "平均处置时长（小时）", "hours"),
    Column("score", "综合得分", "float"),
)
DEPT_COLUMNS = (
    Column("dept", "部门", "text"),
    Column("dispatched", "派遣数", "int"),
    Column("on_time", "按期处置率", "rate"),
    Column("rework", "返工率", "rate"),
)


def towns() -> Table:
    rows = (
        {"town": "莘庄镇", "accepted": 12345, "closed": 12001, "closure_rate": 0.97213, "mean_hours": 3.25,
         "score": 92.456},
        {"town": "七宝镇", "accepted": 8000, "closed": 7000, "closure_rate": 0.875, "mean_hours": None, "score": 88.0},
        {"town": "江川路街道", "accepted": 0, "closed": 0, "closure_rate": None, "mean_hours": None, "score": None},
        {"town": "=HYPERLINK(\"x\")", "accepted": 5, "closed": Decimal("4"), "closure_rate": Decimal("0.8"),
         "mean_hours": 1.0, "score": 60.0},
    )
    return Table("各镇（街道）案件情况", "各镇（街道）案件情况", TOWN_COLUMNS, rows,
                 chart=Chart("bar", "各镇受理与结案", "town", ("accepted", "closed")), note="结案率 = 结案数 / 受理数")


def departments(n: int = 3) -> Table:
    rows = tuple({"dept": f"部门{i:03d}", "dispatched": 100 + i, "on_time": None if i % 3 == 0 else 0.9,
                  "rework": 0.05} for i in range(n))
    return Table("部门处置情况", "部门处置情况", DEPT_COLUMNS, rows,
                 chart=Chart("line", "按期处置率", "dept", ("on_time", "rework")))


def annual(*tables: Table) -> Document:
    return Document(title="闵行区城市网格化管理年度报告", subtitle="2025 年度",
                    generated_at=datetime(2026, 1, 5, 9, 30, tzinfo=timezone(timedelta(hours=8))),
                    tables=tables or (towns(), departments()), notes=("数据来源：联动平台阶段事实表",))


# --- XLSX ---------------------------------------------------------------------------------------------

def load(doc: Document) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(render_xlsx(doc)))


def test_xlsx_cover_then_one_sheet_per_table():
    wb = load(annual())
    assert wb.sheetnames == [COVER, "各镇（街道）案件情况", "部门处置情况"]
    cover = wb[COVER]
    assert cover["A1"].value == "闵行区城市网格化管理年度报告"
    assert cover["A2"].value == "2025 年度"
    assert cover["B4"].value == datetime(2026, 1, 5, 9, 30)  # Excel has no zones: the wall-clock time
    texts = [c.value for row in cover.iter_rows() for c in row if isinstance(c.value, str)]
    assert "数据来源：联动平台阶段事实表" in texts
    assert "部门处置情况" in texts  # the contents list
    assert wb.properties.title == "闵行区城市网格化管理年度报告"


def test_xlsx_title_frozen_header_and_number_formats():
    ws = load(annual())["各镇（街道）案件情况"]
    assert ws["A1"].value == "各镇（街道）案件情况"
    assert [c.value for c in ws[2]] == [c.title for c in TOWN_COLUMNS]
    assert ws.freeze_panes == "A3"
    first = {c.key: ws.cell(3, j).number_format for j, c in enumerate(TOWN_COLUMNS, start=1)}
    assert first == {"town": "General", "accepted": "#,##0", "closed": "#,##0", "closure_rate": "0.0%",
                     "mean_hours": "0.0", "score": "0.00"}
    assert ws["B3"].value == 12345
    assert ws["D3"].value == pytest.approx(0.97213)  # the fraction itself: the format makes it 97.2%
    assert ws["C6"].value == 4 and ws["D6"].value == pytest.approx(0.8)  # Decimals from PostgreSQL
    assert ws.column_dimensions["E"].width >= 20  # 平均处置时长（小时）: Chinese characters count double
    assert ws.auto_filter.ref == "A2:F6"
    assert ws.cell(8, 1).value == "结案率 = 结案数 / 受理数"


def test_xlsx_no_data_is_an_empty_cell_not_zero():
    ws = load(annual())["各镇（街道）案件情况"]
    jiangchuan = next(r for r in ws.iter_rows(min_row=3) if r[0].value == "江川路街道")
    assert jiangchuan[1].value == 0  # a real zero stays
    assert jiangchuan[3].value is None and jiangchuan[4].value is None and jiangchuan[5].value is None


def test_xlsx_text_that_looks_like_a_formula_stays_text():
    ws = load(annual())["各镇（街道）案件情况"]
    assert ws["A6"].value == '=HYPERLINK("x")'
    assert ws["A6"].data_type == "s"


def test_xlsx_native_chart_beside_the_table():
    data = render_xlsx(annual())
    ws = openpyxl.load_workbook(io.BytesIO(data))["各镇（街道）案件情况"]
    assert len(ws._charts) == 1
    chart = ws._charts[0]
    assert chart.tagname == "barChart"
    assert len(chart.series) == 2
    assert chart.anchor._from.col >= len(TOWN_COLUMNS)  # beside, not over, the table
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        xml = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart"))
    assert re.search(r"<(c:)?barChart>", xml) and re.search(r"<(c:)?lineChart>", xml)
    assert "$B$3:$B$6" in xml and "$A$3:$A$6" in xml  # values and categories of the town sheet
    assert "0%" in xml  # the rate chart's axis shows percentages


def test_xlsx_empty_table_and_no_chart_without_rows():
    empty = Table("空表", "空表", DEPT_COLUMNS, (), chart=Chart("bar", "无", "dept", ("dispatched",)))
    ws = load(annual(empty))["空表"]
    assert ws["A3"].value == "无数据"
    assert ws._charts == []


def test_sheet_names_are_sanitised_and_deduplicated():
    long = "很长的表名" * 8
    doc = annual(Table("a/b:c*?[d]", "t", DEPT_COLUMNS, ()), Table(long + "甲", "t", DEPT_COLUMNS, ()),
                 Table(long + "乙", "t", DEPT_COLUMNS, ()), Table("封面", "t", DEPT_COLUMNS, ()),
                 Table("'History'", "t", DEPT_COLUMNS, ()))
    names = sheet_names(doc)
    assert names[0] == "a_b_c___d_"
    assert names[1] == long[:31] and names[2] == long[:29] + "~2"
    assert names[3] == "封面~2" and names[4] == "History~2"
    assert all(len(n) <= 31 for n in names)
    assert load(doc).sheetnames == [COVER, *names]


# --- PDF ----------------------------------------------------------------------------------------------

@pytest.fixture()
def fresh_font_choice():
    """The font choice is cached per process: start and leave each test that changes it with a clean one."""
    cjk_font.cache_clear()
    yield
    cjk_font.cache_clear()


def pdf_text(data: bytes) -> tuple[list[str], PdfReader]:
    reader = PdfReader(io.BytesIO(data))
    return [page.extract_text() for page in reader.pages], reader


def test_pdf_chinese_headings_values_and_page_numbers():
    pages, _ = pdf_text(render_pdf(annual()))
    text = "\n".join(pages)
    for heading in ("闵行区城市网格化管理年度报告", "2025 年度", "各镇（街道）案件情况", "部门处置情况", "镇（街道）",
                    "按期处置率", "数据来源：联动平台阶段事实表", "生成时间：2026-01-05 09:30"):
        assert heading in text, heading
    assert "12,345" in text and "97.2%" in text and "3.3" in text and "92.46" in text
    assert "无数据" in text  # None shown as the document's no-data text
    assert "各镇受理与结案" in text  # the chart's title, drawn under the table
    assert "第 1 页" in pages[0]
    assert f"第 {len(pages)} 页 / 共 {len(pages)} 页" in pages[-1]


def test_pdf_long_table_spans_pages_with_the_header_repeated():
    pages, reader = pdf_text(render_pdf(annual(departments(200))))
    assert len(reader.pages) > 1
    rows_per_page = [re.findall(r"部门\d{3}", p) for p in pages]
    table_pages = [i for i, found in enumerate(rows_per_page) if found]
    assert len(table_pages) > 1
    for i in table_pages:
        assert "派遣数" in pages[i] and "返工率" in pages[i], f"page {i + 1} lost the header row"
        assert f"第 {i + 1} 页 / 共 {len(pages)} 页" in pages[i]
    assert sorted(set(sum(rows_per_page, []))) == [f"部门{i:03d}" for i in range(200)]


def test_pdf_no_data_text_is_the_documents():
    doc = annual(towns())
    doc = Document(doc.title, None, doc.generated_at, doc.tables, no_data="—")
    text = "\n".join(pdf_text(render_pdf(doc))[0])
    assert "—" in text and "无数据" not in text


def embedded_font_files(reader: PdfReader) -> list[str]:
    found = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for f in [font, *[d.get_object() for d in font.get("/DescendantFonts", [])]]:
                desc = f.get("/FontDescriptor")
                if desc is not None and "/FontFile2" in desc.get_object():
                    found.append(str(f["/BaseFont"]))
    return found


def test_pdf_embeds_a_truetype_chinese_font_when_the_machine_has_one():
    name = cjk_font()
    if name == FALLBACK_FONT:
        pytest.skip("no TrueType Chinese font here (Debian: fonts-wqy-microhei): the fallback test covers this")
    _, reader = pdf_text(render_pdf(annual()))
    assert embedded_font_files(reader)


def test_pdf_explicit_font_file(fresh_font_choice):
    wqy = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    if not wqy.is_file():
        pytest.skip("fonts-wqy-microhei not installed")
    pages, reader = pdf_text(render_pdf(annual(), font_file=wqy, font_index=0))
    assert "各镇（街道）案件情况" in "\n".join(pages)
    assert any("WenQuanYiMicroHei" in f for f in embedded_font_files(reader))


def test_pdf_falls_back_to_the_builtin_cid_font(monkeypatch, fresh_font_choice, caplog):
    monkeypatch.setattr(pdf_module, "_candidates", lambda: [])
    pages, reader = pdf_text(render_pdf(annual()))
    text = "\n".join(pages)
    assert "各镇（街道）案件情况" in text and "第 1 页" in text
    assert not embedded_font_files(reader)
    assert "fonts-wqy-microhei" in caplog.text


def test_pdf_font_that_cannot_draw_chinese_is_a_clear_error(fresh_font_choice, tmp_path):
    with pytest.raises(ValueError, match="cannot use .*missing.ttf"):
        render_pdf(annual(), font_file=tmp_path / "missing.ttf")
    vera = Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"
    with pytest.raises(ValueError, match="no Chinese characters"):
        render_pdf(annual(), font_file=vera)


# --- CSV ----------------------------------------------------------------------------------------------

def test_csv_bom_header_raw_figures_and_empty_no_data():
    text = render_csv(towns())
    assert text.startswith("\ufeff镇（街道）,受理数,")
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == [c.title for c in TOWN_COLUMNS]
    assert rows[1] == ["莘庄镇", "12345", "12001", "0.9721", "3.25", "92.456"]
    assert rows[2] == ["七宝镇", "8000", "7000", "0.8750", "", "88.0"]
    assert rows[3] == ["江川路街道", "0", "0", "", "", ""]
    assert rows[4][:4] == ["'=HYPERLINK(\"x\")", "5", "4", "0.8000"]  # never a formula in Excel
    assert text.endswith("\r\n")


# --- bad input ----------------------------------------------------------------------------------------

def test_duplicate_table_names_are_refused():
    with pytest.raises(ValueError, match="duplicate table name"):
        annual(towns(), Table("各镇（街道）案件情况", "again", DEPT_COLUMNS, ()))
    with pytest.raises(ValueError, match="duplicate table name"):  # Excel compares sheet names without case
        annual(Table("Towns", "a", DEPT_COLUMNS, ()), Table("towns", "b", DEPT_COLUMNS, ()))


def test_chart_naming_a_missing_column_is_refused():
    with pytest.raises(ValueError, match="names column 'closure', which the table does not have"):
        Table("t", "t", TOWN_COLUMNS, (), chart=Chart("bar", "x", "town", ("closure",)))
    with pytest.raises(ValueError, match="names column 'district'"):
        Table("t", "t", TOWN_COLUMNS, (), chart=Chart("line", "x", "district", ("accepted",)))
    with pytest.raises(ValueError, match="series must be numbers or rates"):
        Table("t", "t", TOWN_COLUMNS, (), chart=Chart("bar", "x", "town", ("town",)))
    with pytest.raises(ValueError, match="no series"):
        Chart("bar", "x", "town", ())


def test_malformed_tables_are_refused():
    with pytest.raises(ValueError, match="column key 'town' appears twice"):
        Table("t", "t", (*TOWN_COLUMNS, Column("town", "again")), ())
    with pytest.raises(ValueError, match=r"row 0, column 'accepted' \(int\) holds '12'"):
        Table("t", "t", TOWN_COLUMNS, ({"town": "莘庄镇", "accepted": "12"},))
    with pytest.raises(ValueError, match="kind 'percent'"):
        Column("x", "x", "percent")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        Table("  ", "t", TOWN_COLUMNS, ())
