"""The statistics pages' output: SVG charts, CSV and XLSX exports, the monthly PDF report.

Plain functions, no database. The charts and the report are also written to build/stats/
(SVG, PDF and the PDF's pages as PNG via ``pdftoppm``) to be looked at; the PDF's text is
read back with ``pdftotext``. Without poppler the PDF rendering tests skip (fail under CI).
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from openpyxl import load_workbook

from app.printing import cjk_font
from app.stats.charts import bar_chart, line_chart, stacked_bar_chart
from app.stats.exports import (
    Column,
    Table,
    cell_text,
    safe_filename,
    sheet_name,
    to_csv,
    to_xlsx,
)
from app.stats.report import month_title, monthly_report
from app.stats.svg import format_tick, nice_ticks
from tests.pdftools import render, require_poppler, run, text

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "stats"
SVG = "{http://www.w3.org/2000/svg}"

DEPARTMENTS = [
    "示范市市场监督管理局",
    "示范市发展和改革委员会",
    "示范市自然资源和规划局（不动产登记中心）",
    "示范市卫生健康委员会",
    "示范市消防救援支队",
]
MONTHS = [f"2026-{m:02d}" for m in range(1, 13)]
RECEIVED = [120, 135, 160, None, 150, 171, 190, 205, 188, 0, 230, 240]
FINISHED = [110, 130, 150, 145, None, 168, 185, 199, 190, 210, 225, 238]

COLUMNS = (
    Column("dept", "部门", "text"),
    Column("received", "受理件数"),
    Column("finished", "办结件数"),
    Column("on_time", "按时办结率", "percent"),
    Column("days", "平均用时（工作日）", "float"),
)


def _rows(names: list[str]) -> tuple[dict, ...]:
    return tuple(
        {
            "dept": name,
            "received": 100 + 37 * i,
            "finished": 90 + 30 * i,
            "on_time": None if i % 4 == 3 else 0.9 + (i % 10) / 100,
            "days": 3.5 + i,
        }
        for i, name in enumerate(names)
    )


def _table(names: list[str], title: str = "各部门受理办结情况", note: str = "") -> Table:
    rows = _rows(names)
    totals = {
        "received": sum(r["received"] for r in rows),
        "finished": sum(r["finished"] for r in rows),
        "on_time": 0.95,
    }
    return Table(title, COLUMNS, rows, totals, note)


DEPT_TABLE = _table(DEPARTMENTS, note="注：按时办结率＝按时办结件数÷办结件数。")
ITEM_NAMES = [f"事项{i:03d} 企业投资项目核准（含变更）" for i in range(1, 131)]


# --- SVG helpers ------------------------------------------------------------------------------


def _parse(svg: str) -> etree._Element:
    root = etree.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{SVG}svg"
    return root


def _save(name: str, svg: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.svg").write_text(svg, encoding="utf-8")


def _assert_csp_safe(root: etree._Element) -> None:
    """Presentation attributes only: no style, no script, no handler, no id."""
    for element in root.iter():
        assert isinstance(element.tag, str), "no comments or processing instructions"
        local = etree.QName(element).localname
        assert local not in ("style", "script", "foreignObject", "a", "image"), local
        for name in element.attrib:
            assert name != "style", f"style attribute on <{local}>"
            assert not name.lower().startswith("on"), f"handler {name} on <{local}>"
            assert name != "id", f"id on <{local}>"
            assert "href" not in name, f"link on <{local}>"


def _ticks(root: etree._Element) -> list[float]:
    return [float(e.get("data-tick")) for e in root.iter() if e.get("data-tick") is not None]


def _assert_round_ticks(ticks: list[float], low: float, high: float) -> None:
    assert ticks == sorted(ticks) and len(ticks) >= 2
    step = ticks[1] - ticks[0]
    slack = step * 1e-9  # float rounding of the ends
    assert ticks[0] <= min(low, 0) + slack and ticks[-1] >= high - slack and 0 in ticks
    exponent = math.floor(math.log10(step) + 1e-9)
    mantissa = step / 10**exponent
    assert any(math.isclose(mantissa, m) for m in (1, 2, 5, 10)), step
    for a, b in zip(ticks, ticks[1:], strict=False):
        assert math.isclose(b - a, step, rel_tol=1e-9)
    for t in ticks:
        assert math.isclose(t / step, round(t / step), abs_tol=1e-9), (t, step)
    assert ticks[-1] - step < high or high == 0  # no empty interval on top


def _values(root: etree._Element, series: str) -> dict[str, str]:
    """data-x -> data-value of the drawn values of one series."""
    return {
        e.get("data-x"): e.get("data-value")
        for e in root.iter(f"{SVG}g")
        if e.get("data-series") == series and e.get("data-value") is not None
    }


def _texts(root: etree._Element) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter(f"{SVG}text")]


# --- ticks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "integer", "expected"),
    [
        (0, 240, True, [0, 50, 100, 150, 200, 250]),
        (0, 9, True, [0, 2, 4, 6, 8, 10]),
        (0, 0, True, [0, 1, 2, 3, 4, 5]),
        (0, 0, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0, 1, True, [0, 1]),
        (0, 0.975, False, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (-12, 30, True, [-20, -10, 0, 10, 20, 30]),
    ],
)
def test_nice_ticks(low: float, high: float, integer: bool, expected: list[float]) -> None:
    assert nice_ticks(low, high, integer=integer) == expected


@settings(deadline=None)
@given(
    st.floats(min_value=-1e12, max_value=0, allow_nan=False),
    st.floats(min_value=0, max_value=1e15, allow_nan=False),
)
def test_nice_ticks_are_round_and_cover(low: float, high: float) -> None:
    if high - low < 1e-6:
        return
    ticks = nice_ticks(low, high)
    assert 3 <= len(ticks) <= 12
    _assert_round_ticks(ticks, low, high)


def test_tick_labels() -> None:
    assert format_tick(250, 50, top=250) == "250"
    assert format_tick(2500, 500, top=3000) == "2,500"
    assert format_tick(150000, 50000, top=200000) == "15万"
    assert format_tick(1.5e9, 5e8, top=2e9) == "15亿"
    assert format_tick(3e12, 1e12, top=4e12) == "3万亿"
    assert format_tick(0.95, 0.05, percent=True) == "95%"
    assert format_tick(0.4, 0.2) == "0.4"


# --- line chart -------------------------------------------------------------------------------


def test_line_chart_structure_values_and_ticks() -> None:
    svg = line_chart(
        "2026年各月受理与办结件数",
        MONTHS,
        [("受理件数", RECEIVED), ("办结件数", FINISHED)],
        y_label="件数",
    )
    _save("line", svg)
    root = _parse(svg)
    _assert_csp_safe(root)
    assert root.get("role") == "img"
    assert root.get("aria-label") == "2026年各月受理与办结件数"
    assert root.get("viewBox", "").startswith("0 0 760 ")
    assert root[0].tag == f"{SVG}title" and root[0].text == "2026年各月受理与办结件数"
    assert root.find(f"{SVG}desc").text.startswith("受理件数：2026-01 120")
    assert "Noto Sans CJK SC" in root[2].get("font-family")

    for name, values in (("受理件数", RECEIVED), ("办结件数", FINISHED)):
        drawn = _values(root, name)
        expected = {m: v for m, v in zip(MONTHS, values, strict=True) if v is not None}
        assert set(drawn) == set(expected)
        for month, value in expected.items():
            assert float(drawn[month]) == value
    _assert_round_ticks(_ticks(root), 0, 240)
    assert _ticks(root)[-1] == 250
    # the gap: the received line is cut in two at April
    lines = [
        p for p in root.iter(f"{SVG}polyline") if p.getparent().get("data-series") == "受理件数"
    ]
    assert len(lines) == 2
    # dash patterns tell the series apart in print
    dashes = {p.get("stroke-dasharray") for p in root.iter(f"{SVG}polyline")}
    assert len(dashes) == 2
    legend = [g for g in root.iter(f"{SVG}g") if g.get("data-role") == "legend"]
    assert legend and {"受理件数", "办结件数"} <= set(_texts(legend[0]))
    assert "240" in _texts(root) and "件数" in _texts(root)


def test_line_chart_percent_many_series_and_escaping() -> None:
    names = ["市场监管局", "发改委", "住建局", "自然资源<规划>局", "卫健委&"]
    days = [f"{d}日" for d in range(1, 31)]
    series = [
        (n, [0.9 + 0.003 * ((d * (k + 3)) % 30) for d in range(30)]) for k, n in enumerate(names)
    ]
    svg = line_chart("按时办结率 <各部门> & 合计", days, series, percent=True, y_label="按时办结率")
    _save("line-percent", svg)
    root = _parse(svg)
    _assert_csp_safe(root)
    assert root[0].text == "按时办结率 <各部门> & 合计"
    assert "&lt;各部门&gt; &amp;" in svg
    for name, values in series:
        drawn = _values(root, name)
        assert [float(drawn[d]) for d in days] == values
    ticks = _ticks(root)
    assert ticks[-1] == 1.0
    texts = _texts(root)
    assert "100%" in texts and "0%" in texts
    # many points: the last value of each series is labelled
    assert f"{series[0][1][-1]:.1%}" in texts


@pytest.mark.parametrize(
    ("x_labels", "series"),
    [([], []), (["1月", "2月"], [("受理", [None, None])]), (["1月"], [])],
)
def test_line_chart_without_data(x_labels: list[str], series: list) -> None:
    svg = line_chart("暂无数据的图", x_labels, series)
    root = _parse(svg)
    _assert_csp_safe(root)
    assert "暂无数据" in _texts(root)
    assert "暂无数据" in root.get("aria-label")


def test_line_chart_single_point_zeros_nan_and_huge_numbers() -> None:
    root = _parse(line_chart("单点", ["11月"], [("受理", [7])]))
    assert _values(root, "受理") == {"11月": "7"}
    assert _ticks(root)[-1] >= 7

    zeros = line_chart("全为零", ["1月", "2月", "3月"], [("受理", [0, 0, 0])])
    _save("line-zeros", zeros)
    root = _parse(zeros)
    assert _ticks(root) == [0, 1, 2, 3, 4, 5]
    assert set(_values(root, "受理").values()) == {"0"}

    root = _parse(line_chart("NaN", ["a", "b"], [("s", [float("nan"), 3.0])]))
    assert _values(root, "s") == {"b": "3"}

    money = [1.234e12, 3.4e12, None, 2.75e12]
    huge = line_chart("收费金额（元）", ["一季度", "二季度", "三季度", "四季度"], [("金额", money)])
    _save("line-huge", huge)
    root = _parse(huge)
    drawn = _values(root, "金额")
    assert float(drawn["一季度"]) == 1.234e12 and "三季度" not in drawn
    texts = _texts(root)
    assert "4万亿" in texts and "1.23万亿" in texts
    _assert_round_ticks(_ticks(root), 0, 3.4e12)

    odd = 1234.5678
    root = _parse(line_chart("小数", ["x"], [("s", [odd])]))
    assert float(_values(root, "s")["x"]) == odd


def test_line_chart_rejects_ragged_series() -> None:
    with pytest.raises(ValueError):
        line_chart("t", ["a", "b"], [("s", [1])])


# --- bar charts -------------------------------------------------------------------------------

BARS: list[tuple[str, float | None]] = [
    ("示范市市场监督管理局", 412),
    ("示范市发展和改革委员会", 233),
    (
        "示范市自然资源和规划局（不动产登记中心）窗口综合受理与出件服务专区（含咨询导办台、自助服务区及帮办代办窗口）",
        187,
    ),
    ("卫健委", 95),
    ("消防救援支队", None),
    ("人社局", 0),
]


def test_bar_chart_labels_values_and_ticks() -> None:
    svg = bar_chart("各部门受理件数", BARS, unit="件")
    _save("bar", svg)
    root = _parse(svg)
    _assert_csp_safe(root)
    drawn = _values(root, "各部门受理件数")
    for label, value in BARS:
        assert drawn[label] == ("" if value is None else str(value))
    _assert_round_ticks(_ticks(root), 0, 412)
    assert _ticks(root)[-1] == 500
    texts = _texts(root)
    assert "—" in texts and "412" in texts and "单位：件" in texts
    # the long name wraps onto two lines, is cut with an ellipsis, kept whole in the <title>
    long = BARS[2][0]
    label = next(t for t in root.iter(f"{SVG}text") if "".join(t.itertext()).endswith("…"))
    assert len(label.findall(f"{SVG}tspan")) == 2
    shown = "".join(label.itertext())
    assert long.startswith(shown[:-1]) and len(shown) < len(long)
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert any(t and t.startswith(long) for t in titles)
    # one bar per present value, none for None
    assert len([r for r in root.iter(f"{SVG}rect") if r.getparent().get("data-value")]) == 5


def test_bar_chart_percent_max_value_negative_and_empty() -> None:
    rates = [("甲", 0.975), ("乙", 0.5), ("丙", None)]
    root = _parse(bar_chart("按时办结率", rates, percent=True, max_value=1))
    assert _ticks(root)[-1] == 1.0
    assert "97.5%" in _texts(root) and "100%" in _texts(root)

    root = _parse(bar_chart("同比增减", [("甲", -12), ("乙", 30)]))
    _assert_round_ticks(_ticks(root), -12, 30)
    assert _ticks(root)[0] == -20

    big = _parse(bar_chart("大数", [("甲", 123456789012), ("乙", 5e10)], value_format="{:,.0f}"))
    assert "123,456,789,012" in _texts(big)
    assert float(_values(big, "大数")["甲"]) == 123456789012

    empty = bar_chart("空", [])
    assert "暂无数据" in _texts(_parse(empty))
    zeros = _parse(bar_chart("零", [("甲", 0), ("乙", 0)]))
    assert _ticks(zeros) == [0, 1, 2, 3, 4, 5]


def test_stacked_bar_chart() -> None:
    names = [label for label, _ in BARS]
    series = [
        ("准予许可", [380, 200, 150, 90, 3, 0]),
        ("不予许可", [20, 25, 30, 2, None, 0]),
        ("撤回", [12, 8, 7, 3, 1, 0]),
    ]
    svg = stacked_bar_chart("各部门办结情况", names, series, unit="件")
    _save("stacked", svg)
    root = _parse(svg)
    _assert_csp_safe(root)
    for name, values in series:
        drawn = _values(root, name)
        assert [drawn[n] for n in names] == ["" if v is None else str(v) for v in values]
    totals = {
        g.get("data-x"): g.get("data-total")
        for g in root.iter(f"{SVG}g")
        if g.get("data-total") is not None
    }
    for i, name in enumerate(names):
        assert float(totals[name]) == sum(v[i] or 0 for _, v in series)
    _assert_round_ticks(_ticks(root), 0, 412)
    fills = {
        r.get("fill")
        for r in root.iter(f"{SVG}rect")
        if r.getparent().get("data-series") and r.getparent().get("data-value")
    }
    assert len(fills) == 3
    with pytest.raises(ValueError):
        stacked_bar_chart("t", ["a"], [("s", [-1])])
    with pytest.raises(ValueError):
        stacked_bar_chart("t", ["a", "b"], [("s", [1])])


# --- CSV and XLSX -----------------------------------------------------------------------------


def test_cell_text() -> None:
    assert cell_text(Column("n", "n"), 1234) == "1234"
    assert cell_text(Column("n", "n"), 1234, grouping=True) == "1,234"
    assert cell_text(Column("r", "r", "percent"), 0.975) == "97.5%"
    assert cell_text(Column("r", "r", "percent"), None) == "—"
    assert cell_text(Column("f", "f", "float"), 3.25) == "3.2"
    assert cell_text(Column("d", "d", "date"), date(2026, 11, 3)) == "2026-11-03"
    with pytest.raises(ValueError):
        Column("x", "x", "money")


def test_csv_has_bom_rows_and_totals_last() -> None:
    table = Table(
        DEPT_TABLE.title,
        DEPT_TABLE.columns,
        DEPT_TABLE.rows + ({"dept": '=HYPERLINK("http://evil")', "received": 1},),
        DEPT_TABLE.totals,
    )
    data = to_csv(table)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["部门", "受理件数", "办结件数", "按时办结率", "平均用时（工作日）"]
    assert rows[1] == ["示范市市场监督管理局", "100", "90", "90.0%", "3.5"]
    assert rows[4][3] == "—"  # a missing rate
    assert rows[-2][0] == '\'=HYPERLINK("http://evil")'  # defused
    assert rows[-1] == ["合计", "870", "750", "95.0%", ""]
    assert len(rows) == 1 + len(table.rows) + 1


def test_xlsx_sheets_numbers_formats_and_totals() -> None:
    items = _table(ITEM_NAMES[:20], title="各事项受理办结情况（按事项/部门）[11月]")
    data = to_xlsx([DEPT_TABLE, items, DEPT_TABLE])
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == [
        "各部门受理办结情况",
        "各事项受理办结情况（按事项_部门）_11月",
        "各部门受理办结情况(2)",
    ]
    assert all(len(n) <= 31 for n in book.sheetnames)
    sheet = book["各部门受理办结情况"]
    assert sheet["A1"].value == "各部门受理办结情况" and sheet["A1"].font.b
    assert [c.value for c in sheet[2]] == [c.label for c in COLUMNS]
    assert all(c.font.b for c in sheet[2])
    assert sheet.freeze_panes == "A3"
    body = list(sheet.iter_rows(min_row=3, max_row=2 + len(DEPT_TABLE.rows)))
    for row, source in zip(body, DEPT_TABLE.rows, strict=True):
        assert row[0].value == source["dept"]
        assert isinstance(row[1].value, int) and row[1].value == source["received"]
        assert row[1].number_format == "0"
        assert row[4].number_format == "0.0" and row[4].value == source["days"]
        if source["on_time"] is None:
            assert row[3].value == "—"
        else:
            assert row[3].value == source["on_time"] and row[3].number_format == "0.0%"
    totals = list(sheet.iter_rows(min_row=3 + len(DEPT_TABLE.rows)))[0]
    assert totals[0].value == "合计" and all(c.font.b for c in totals)
    for c in (1, 2):
        assert totals[c].value == sum(r[c].value for r in body)
    assert totals[3].value == 0.95 and totals[3].number_format == "0.0%"
    assert totals[4].value is None
    note = sheet.cell(row=totals[0].row + 1, column=1)
    assert note.value == DEPT_TABLE.note
    assert sheet.column_dimensions["A"].width > sheet.column_dimensions["B"].width


def test_xlsx_text_is_never_a_formula() -> None:
    table = Table("t", (Column("name", "名称", "text"),), ({"name": "=1+1"}, {"name": "a\x01b"}))
    data = to_xlsx([table])
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert b"<f>" not in z.read("xl/worksheets/sheet1.xml")
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet["A3"].value == "=1+1" and sheet["A3"].data_type == "s"
    assert sheet["A4"].value == "ab"
    assert load_workbook(io.BytesIO(to_xlsx([]))).sheetnames == ["Sheet"]


def test_sheet_and_file_names() -> None:
    assert sheet_name("a[b]:c*d?e/f\\g") == "a_b__c_d_e_f_g"
    assert sheet_name("'引号'") == "引号"
    assert sheet_name("") == "Sheet"
    assert sheet_name("History") == "History_"
    long = "各部门各事项受理办结及按时办结率超期件数平均用时统计表（二〇二六年十一月）"
    assert sheet_name(long) == long[:31]
    assert sheet_name(long, [long[:31]]) == long[:28] + "(2)"
    assert sheet_name("Data", ["data", "Data(2)"]) == "Data(3)"

    assert safe_filename("各部门受理情况 2026/11", "csv") == "各部门受理情况_2026_11.csv"
    assert safe_filename("../../etc/passwd", ".xlsx") == "etc_passwd.xlsx"
    assert safe_filename("", "pdf") == "export.pdf"
    assert safe_filename("月报（2026年11月）", "pdf") == "月报（2026年11月）.pdf"
    assert len(safe_filename("长" * 300, "csv")) == 84
    assert "/" not in safe_filename('a/b\\c:d*e?f"g<h>i|j')


# --- the monthly PDF report -------------------------------------------------------------------


def test_month_title() -> None:
    assert month_title("2026-11") == "2026年11月"
    assert month_title("2026-03-01") == "2026年3月"
    assert month_title("202611") == "2026年11月"
    assert month_title("2026年11月") == "2026年11月"
    assert month_title("2026年第四季度") == "2026年第四季度"


@pytest.fixture(scope="module")
def poppler() -> None:
    """Poppler's command-line tools, or skip (fail under CI)."""
    require_poppler(OUT)


def _run(*args: str | Path) -> str:
    return run(*args)


def _render(name: str, data: bytes) -> tuple[Path, list[Path]]:
    """Write build/stats/<name>.pdf and its pages as PNGs; return both."""
    return render(OUT, name, data, dpi=70)


def _text(pdf: Path, page: int | None = None) -> str:
    """The text without any white space (table cells and wrapped lines run together)."""
    return "".join(text(pdf, page).split())


def _pages(pdf: Path) -> int:
    info = dict(line.split(":", 1) for line in _run("pdfinfo", pdf).splitlines() if ":" in line)
    return int(info["Pages"])


SUMMARY = [
    "本月共受理办件 1,234 件，同比增长 5.2%；办结 1,180 件，按时办结率 97.5%。",
    "群众满意度 99.2%，收到投诉 3 件，均已办结。",
]


def test_monthly_report_text_fonts_and_pages(poppler: None) -> None:
    chart = [(r["dept"], float(r["received"])) for r in DEPT_TABLE.rows]
    short = monthly_report(
        "示范市政务服务中心",
        "2026-11",
        [DEPT_TABLE],
        charts=[("各部门受理件数", chart)],
        summary=SUMMARY,
        issued_on=date(2026, 12, 1),
    )
    pdf, pngs = _render("report-short", short)
    text = _text(pdf)
    assert "示范市政务服务中心" in text and "2026年11月政务服务统计月报" in text
    assert "编制日期：2026年12月1日" in text
    assert "本月共受理办件1,234件" in text
    assert "示范市自然资源和规划局（不动产登记中心）" in text
    assert "870" in text and "95.0%" in text and "合计" in text
    assert "表1各部门受理办结情况" in text and "图1各部门受理件数" in text
    assert DEPT_TABLE.note.replace(" ", "") in text
    assert f"第1页/共{len(pngs)}页" in text
    info = _run("pdfinfo", pdf)
    assert "示范市政务服务中心 2026年11月 政务服务统计月报" in info
    rows = _run("pdffonts", pdf).splitlines()[2:]
    assert rows, "pdffonts lists no font"
    if cjk_font().embedded:  # else the CID fallback, which is never embedded
        assert all(r.split()[-5] == "yes" for r in rows), f"fonts not embedded: {rows}"

    # a long table runs onto more pages, with its header repeated on each
    long = monthly_report(
        "示范市政务服务中心",
        "2026-11",
        [DEPT_TABLE, _table(ITEM_NAMES, title="各事项受理办结情况")],
        charts=[("各事项受理件数", [(n, float(i)) for i, n in enumerate(ITEM_NAMES[:45])])],
        summary=SUMMARY,
        issued_on=date(2026, 12, 1),
    )
    pdf, pngs = _render("report-long", long)
    count = _pages(pdf)
    assert count == len(pngs) > _pages(OUT / "report-short.pdf") + 2
    for page in range(2, count):
        page_text = _text(pdf, page)
        if "事项" in page_text and "受理件数" in page_text and "按时办结率" in page_text:
            assert f"第{page}页/共{count}页" in page_text
    pages_with_header = [p for p in range(1, count + 1) if "按时办结率" in _text(pdf, p)]
    assert len(pages_with_header) >= 4
    assert "事项130企业投资项目核准（含变更）" in _text(pdf)
    assert "图1（续）" in _text(pdf)


def test_monthly_report_edge_cases(poppler: None) -> None:
    wide = Table(
        "各窗口各时段取号与办理情况",
        (Column("w", "窗口", "text"),)
        + tuple(Column(f"h{h}", f"{h}时取号", "int") for h in range(8, 18))
        + (Column("rate", "满意率", "percent"), Column("d", "日期", "date")),
        tuple(
            {
                "w": f"综合受理{i}号窗口",
                **{f"h{h}": i * 1000 + h for h in range(8, 18)},
                "rate": 0.99,
                "d": date(2026, 11, i + 1),
            }
            for i in range(1, 8)
        ),
    )
    empty = Table("本月无投诉", COLUMNS, ())
    data = monthly_report(
        "示范市政务服务中心",
        "2026年11月",
        [wide, empty],
        charts=[("空图", []), ("有缺的图", [("甲", 3.0), ("乙", None)])],  # type: ignore[list-item]
        seal=False,
        issued_on=date(2026, 12, 1),
    )
    pdf, _ = _render("report-edge", data)
    text = _text(pdf)
    assert "7,017" in text and "2026-11-08" in text and "（无数据）" in text
    assert "一、统计表" in text  # no summary: the tables are the first section
    assert "第1页/共2页" in text and "第2页/共2页" in text
