"""The monthly statistics report (政务服务统计月报) as an A4 PDF for the leadership meeting.

One document: the centre's name and the title ("2026年11月政务服务统计月报") with the date it
was drawn up, then numbered sections — the key figures the caller words (一、总体情况), the
tables (表1, 表2 … as bordered tables with a shaded header that is repeated when a table
runs onto the next page, a shaded totals row and the table's note), the bar charts (图1 …,
drawn with reportlab's graphics in vector, not from the pages' SVG) — and the centre's
name and the date on the right, under the centre's seal when wanted. Every page has
"第 x 页 / 共 y 页" in its footer; later pages repeat the report's name in a running head.

The tables are the :class:`app.stats.exports.Table` s the pages export; numbers are written
with thousands separators, rates as percentages, a missing value as "—". Text is set in
the embedded CJK TrueType font of the notices (``app.notices.pdf.cjk_font``), nothing is
downloaded. The function is pure: no database, no Flask request.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    TableStyle,
)
from reportlab.platypus import Table as PdfTable
from reportlab.platypus.flowables import HRFlowable

from app.notices.pdf import cjk_font, draw_seal

from .charts import PALETTE, format_tick, nice_ticks
from .exports import MISSING, Column, Table, cell_text

__all__ = ["month_title", "monthly_report"]

PAGE_W, PAGE_H = A4
MARGIN_X = 20 * mm
MARGIN_TOP = 22 * mm
MARGIN_BOTTOM = 20 * mm
FRAME_W = PAGE_W - 2 * MARGIN_X

RULE = colors.Color(0.35, 0.35, 0.35)
GRID = colors.Color(0.55, 0.55, 0.55)
LIGHT_GRID = colors.Color(0.85, 0.85, 0.85)
HEADER_FILL = colors.Color(0.88, 0.90, 0.93)
TOTALS_FILL = colors.Color(0.95, 0.95, 0.95)
STRIPE_FILL = colors.Color(0.975, 0.975, 0.975)
MUTED = colors.Color(0.35, 0.35, 0.35)
BAR = colors.HexColor(PALETTE[0])

TABLE_SIZE = 9.5  # points; shrunk down to MIN_TABLE_SIZE for a wide table
MIN_TABLE_SIZE = 7.0
CELL_PAD = 4.0
TABLE_START = 45 * mm  # room a table needs to start on a page: caption, header, a few rows
BARS_PER_DRAWING = 32  # a longer chart continues in a second drawing (a drawing cannot split)
SEAL_RADIUS = 19 * mm

NUMERALS = "一二三四五六七八九十"


def month_title(month: str) -> str:
    """ "2026-11" (or "2026-11-01", "202611", "2026/11") as "2026年11月"; other text as given."""
    found = re.fullmatch(r"\s*(\d{4})[-/.年]?(\d{1,2})(?:[-/.]\d{1,2})?月?\s*", month or "")
    if found and 1 <= int(found.group(2)) <= 12:
        return f"{found.group(1)}年{int(found.group(2))}月"
    return (month or "").strip()


def _date(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _esc(text: str) -> str:
    return escape(text or "").replace("\n", "<br/>")


def _fit(text: str, font: str, size: float, width: float) -> str:
    """`text` cut with "…" so that it is at most `width` wide."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


# --- styles -----------------------------------------------------------------------------------


class _Styles:
    """Paragraph styles in the chosen font."""

    def __init__(self, font: str) -> None:
        self.font = font
        base = ParagraphStyle(
            "base", fontName=font, fontSize=11.5, leading=19, wordWrap="CJK", alignment=TA_LEFT
        )
        self.centre = ParagraphStyle(
            "centre", parent=base, fontSize=15, leading=22, alignment=TA_CENTER
        )
        self.dateline = ParagraphStyle(
            "dateline",
            parent=base,
            fontSize=10.5,
            leading=16,
            alignment=TA_CENTER,
            textColor=MUTED,
        )
        self.section = ParagraphStyle(
            "section",
            parent=base,
            fontSize=14,
            leading=22,
            spaceBefore=8,
            spaceAfter=4,
            keepWithNext=1,
        )
        self.body = ParagraphStyle(
            "body", parent=base, firstLineIndent=23, alignment=TA_JUSTIFY, spaceAfter=2
        )
        self.caption = ParagraphStyle(
            "caption",
            parent=base,
            fontSize=11,
            leading=16,
            alignment=TA_CENTER,
            spaceBefore=8,
            spaceAfter=4,
        )
        self.note = ParagraphStyle(
            "note", parent=base, fontSize=9, leading=13, textColor=MUTED, spaceBefore=3
        )
        self.empty = ParagraphStyle("empty", parent=self.note, alignment=TA_CENTER)

    def cells(self, size: float) -> tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle]:
        """Header, text and number cell styles at font size `size`."""
        cell = ParagraphStyle(
            f"cell-{size}",
            fontName=self.font,
            fontSize=size,
            leading=size * 1.3,
            wordWrap="CJK",
        )
        head = ParagraphStyle(f"head-{size}", parent=cell, alignment=TA_CENTER)
        number = ParagraphStyle(f"number-{size}", parent=cell, alignment=TA_RIGHT)
        return head, cell, number


# --- flowables --------------------------------------------------------------------------------


class _Title(Flowable):
    """The report title: large and centred, a touch heavier (the font has no bold)."""

    def __init__(self, text: str, font: str, size: float = 20) -> None:
        super().__init__()
        self.text = text
        self.font = font
        self.size = size

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        while pdfmetrics.stringWidth(self.text, self.font, self.size) > availWidth:
            if self.size <= 12:
                self.text = _fit(self.text, self.font, self.size, availWidth)
                break
            self.size -= 0.5
        self.width = availWidth
        self.height = self.size * 1.6
        return self.width, self.height

    def draw(self) -> None:
        canv = self.canv
        canv.setLineWidth(self.size * 0.025)
        text = canv.beginText()
        width = pdfmetrics.stringWidth(self.text, self.font, self.size)
        text.setTextOrigin((self.width - width) / 2, self.size * 0.4)
        text.setFont(self.font, self.size)
        text.setTextRenderMode(2)  # fill and stroke
        text.textOut(self.text)
        canv.drawText(text)


class _Signature(Flowable):
    """The centre's name and the date at the right, the seal stamped over them."""

    def __init__(self, centre: str, day: date, font: str, seal: bool, seal_text: str) -> None:
        super().__init__()
        self.centre = centre
        self.day = day
        self.font = font
        self.seal = seal
        self.seal_text = seal_text
        self.size = 12.0

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        self.width = availWidth
        self.height = 2 * SEAL_RADIUS + 2 * mm
        return self.width, self.height

    def draw(self) -> None:
        canv = self.canv
        lines = [self.centre, _date(self.day)]
        room = self.width * 0.6
        widest = max(pdfmetrics.stringWidth(s, self.font, 1) for s in lines)
        size = min(self.size, room / widest) if widest else self.size
        block = widest * size
        centre_x = self.width - 6 * mm - block / 2
        cy = self.height / 2
        leading = self.size * 1.8
        canv.setFillColor(colors.black)
        canv.setFont(self.font, size)
        top = cy + leading / 2 - size * 0.35
        for i, text in enumerate(lines):
            canv.drawCentredString(centre_x, top - i * leading, text)
        if self.seal:
            seal_x = min(centre_x, self.width - SEAL_RADIUS)
            draw_seal(canv, seal_x, cy, SEAL_RADIUS, self.centre, self.seal_text, self.font)


# --- tables -----------------------------------------------------------------------------------


def _table_rows(table: Table) -> list[tuple[list[str], bool]]:
    """The cell texts of every row (totals last, flagged True)."""
    rows = [
        ([cell_text(c, r.get(c.key), grouping=True) for c in table.columns], False)
        for r in table.rows
    ]
    totals = table.totals_row()
    if totals is not None:
        texts = [
            "" if totals.get(c.key) is None else cell_text(c, totals.get(c.key), grouping=True)
            for c in table.columns
        ]
        rows.append((texts, True))
    return rows


def _widths(
    columns: Sequence[Column], rows: list[list[str]], font: str, size: float
) -> tuple[list[float], float]:
    """Column widths filling the frame, and the font size that lets the numbers fit.

    Numbers and dates never get less than their widest value, text columns no less than
    four characters (they wrap); headers wrap onto several lines when they must. When the
    natural widths do not fit, every column gives up the same share of its width beyond
    that minimum; when even the minimums do not fit, the font shrinks (down to 7 points).
    """

    def measure(text: str, at: float) -> float:
        return pdfmetrics.stringWidth(text, font, at) + 2 * CELL_PAD + 1

    while True:
        natural: list[float] = []
        minimum: list[float] = []
        for c, column in enumerate(columns):
            values = [measure(row[c], size) for row in rows] or [0.0]
            head = measure(column.label, size)
            widest = max(values)
            if column.kind == "text":
                floor = measure("四个汉字", size)
                natural.append(max(widest, min(head, floor * 1.5), floor))
                minimum.append(floor)
            else:
                two_chars = measure("汉字", size)
                # a header may wrap down to the width of its data (two characters at least)
                natural.append(max(widest, min(head, max(widest, two_chars) * 1.6), two_chars))
                minimum.append(max(widest, two_chars))
        if sum(minimum) <= FRAME_W or size <= MIN_TABLE_SIZE:
            break
        size = max(MIN_TABLE_SIZE, size - 0.5)
    total = sum(natural)
    if total <= FRAME_W:
        return [w * FRAME_W / total for w in natural], size
    least = sum(minimum)
    if least >= FRAME_W:  # even at the smallest size: everything in proportion (last resort)
        return [w * FRAME_W / least for w in minimum], size
    # every column gives up the same share of what it has beyond its minimum
    share = (FRAME_W - least) / (total - least)
    return [m + (n - m) * share for n, m in zip(natural, minimum, strict=True)], size


def _pdf_table(table: Table, styles: _Styles) -> list[Flowable]:
    """A bordered table with a shaded header row repeated on every page it runs onto."""
    columns = table.columns
    if not columns:
        return [Paragraph("（无数据）", styles.empty)]
    rows = _table_rows(table)
    widths, size = _widths(columns, [texts for texts, _ in rows], styles.font, TABLE_SIZE)
    head, cell, number = styles.cells(size)
    data: list[list[Any]] = [[Paragraph(_esc(c.label), head) for c in columns]]
    for texts, _ in rows:
        data.append(
            [
                Paragraph(_esc(text), number if column.kind != "text" else cell)
                for column, text in zip(columns, texts, strict=True)
            ]
        )
    commands: list[tuple[Any, ...]] = [
        ("FONTNAME", (0, 0), (-1, -1), styles.font),
        ("GRID", (0, 0), (-1, -1), 0.5, GRID),
        ("BOX", (0, 0), (-1, -1), 1.0, RULE),
        ("LINEBELOW", (0, 0), (-1, 0), 1.0, RULE),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PAD),
    ]
    body_end = len(rows) - (1 if rows and rows[-1][1] else 0)  # last body row index
    if body_end >= 2:
        commands.append(("ROWBACKGROUNDS", (0, 1), (-1, body_end), [colors.white, STRIPE_FILL]))
    if rows and rows[-1][1]:
        commands += [
            ("BACKGROUND", (0, -1), (-1, -1), TOTALS_FILL),
            ("LINEABOVE", (0, -1), (-1, -1), 1.0, RULE),
        ]
    if not rows:
        data.append([Paragraph("（无数据）", head)] + [""] * (len(columns) - 1))
        commands.append(("SPAN", (0, 1), (-1, 1)))
    pdf_table = PdfTable(data, colWidths=widths, repeatRows=1, hAlign="CENTER")
    pdf_table.setStyle(TableStyle(commands))
    return [pdf_table]


# --- charts -----------------------------------------------------------------------------------


def _bar_drawings(
    bars: Sequence[tuple[str, float | None]], font: str, width: float = FRAME_W
) -> list[Drawing]:
    """Horizontal bars as reportlab drawings: labels left, values at the bar ends, a scale.

    Long charts are cut into several drawings of the same scale (a drawing does not split
    across pages).
    """
    size = 9.0
    values = [float(v) for _, v in bars if v is not None]
    ticks = nice_ticks(
        min(values, default=0.0),
        max(values, default=0.0),
        integer=all(v.is_integer() for v in values),
    )
    step = ticks[1] - ticks[0]

    def shown(value: float | None) -> str:
        if value is None:
            return MISSING
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"

    labels = [str(label) for label, _ in bars]
    label_w = min(max(pdfmetrics.stringWidth(t, font, size) for t in labels), width * 0.38)
    value_w = max(pdfmetrics.stringWidth(shown(v), font, size) for _, v in bars) + 4
    left = label_w + 8
    plot_w = width - left - value_w - 4
    row = 16.0
    thickness = 10.0
    drawings: list[Drawing] = []
    for start in range(0, len(bars), BARS_PER_DRAWING):
        chunk = bars[start : start + BARS_PER_DRAWING]
        axis = 16.0
        height = row * len(chunk) + axis + 4
        drawing = Drawing(width, height, initialFontName=font, initialFontSize=size)
        top = height - 2

        def x_at(value: float) -> float:
            return left + (value - ticks[0]) / (ticks[-1] - ticks[0]) * plot_w

        for tick in ticks:
            x = x_at(tick)
            colour = RULE if tick == 0 else LIGHT_GRID
            drawing.add(Line(x, axis, x, top, strokeColor=colour, strokeWidth=0.6))
            drawing.add(
                String(
                    x,
                    axis - 10,
                    format_tick(tick, step, top=ticks[-1]),
                    fontName=font,
                    fontSize=8,
                    fillColor=MUTED,
                    textAnchor="middle",
                )
            )
        for i, (label, value) in enumerate(chunk):
            y_mid = top - row * i - row / 2
            text = _fit(str(label), font, size, label_w)
            drawing.add(
                String(
                    label_w,
                    y_mid - size * 0.35,
                    text,
                    fontName=font,
                    fontSize=size,
                    textAnchor="end",
                )
            )
            end = x_at(0.0)
            if value is not None:
                x0, x1 = sorted((x_at(0.0), x_at(float(value))))
                drawing.add(
                    Rect(
                        x0,
                        y_mid - thickness / 2,
                        x1 - x0,
                        thickness,
                        fillColor=BAR,
                        strokeColor=None,
                    )
                )
                end = max(x1, x_at(0.0))
            drawing.add(
                String(
                    end + 3,
                    y_mid - size * 0.35,
                    shown(value),
                    fontName=font,
                    fontSize=size,
                    fillColor=colors.black if value is not None else MUTED,
                )
            )
        drawings.append(drawing)
    return drawings


# --- page furniture ---------------------------------------------------------------------------


def _numbered_canvas(font: str, running_head: str, day: str) -> type[Canvas]:
    """A canvas class that writes "第 x 页 / 共 y 页" and the running head once all is laid out."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._furniture(self._pageNumber, total)
                super().showPage()
            super().save()

        def _furniture(self, number: int, total: int) -> None:
            self.saveState()
            self.setStrokeColor(RULE)
            self.setFillColor(MUTED)
            self.setLineWidth(0.5)
            footer = MARGIN_BOTTOM - 9 * mm
            self.line(MARGIN_X, footer + 4 * mm, PAGE_W - MARGIN_X, footer + 4 * mm)
            self.setFont(font, 9)
            self.drawCentredString(PAGE_W / 2, footer, f"第 {number} 页 / 共 {total} 页")
            if number > 1:
                head = PAGE_H - MARGIN_TOP + 6 * mm
                self.setFont(font, 8.5)
                self.drawString(
                    MARGIN_X, head + 1.5 * mm, _fit(running_head, font, 8.5, FRAME_W * 0.75)
                )
                self.drawRightString(PAGE_W - MARGIN_X, head + 1.5 * mm, day)
                self.line(MARGIN_X, head, PAGE_W - MARGIN_X, head)
            self.restoreState()

    return NumberedCanvas


# --- the report -------------------------------------------------------------------------------


def monthly_report(
    centre_name: str,
    month: str,
    tables: list[Table],
    charts: list[tuple[str, list[tuple[str, float]]]] | None = None,
    seal: bool = True,
    *,
    summary: list[str] | None = None,
    issued_on: date | None = None,
    seal_text: str = "",
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """The monthly statistics report as an A4 PDF (see the module docstring).

    `month` is "2026-11" (or already "2026年11月"); `summary` are the key-figure sentences
    of 一、总体情况, worded by the caller; `charts` are (title, [(label, value), ...]) drawn as
    horizontal bars. `seal` stamps the centre's seal (its name on the arc, `seal_text`
    under the star) over the closing name and date `issued_on` (default: today).
    `font_path` is the configured CJK font (``app.config["PDF_FONT"]``).
    """
    font = cjk_font(font_path)
    st = _Styles(font.name)
    day = issued_on or date.today()
    period = month_title(month)
    heading = f"{period}政务服务统计月报"
    full_title = f"{centre_name} {period} 政务服务统计月报"

    story: list[Flowable] = [
        Paragraph(_esc(centre_name), st.centre),
        Spacer(1, 1 * mm),
        _Title(heading, font.name),
        Paragraph(f"编制日期：{_date(day)}", st.dateline),
        Spacer(1, 1.5 * mm),
        HRFlowable(width="100%", thickness=1.2, color=RULE, spaceBefore=0, spaceAfter=4 * mm),
    ]
    sections = 0

    def section(name: str) -> Paragraph:
        """The next numbered section heading: 一、…, 二、…"""
        nonlocal sections
        sections += 1
        return Paragraph(f"{NUMERALS[(sections - 1) % 10]}、{_esc(name)}", st.section)

    lines = [s for s in (summary or []) if s and s.strip()]
    if lines:
        story.append(section("总体情况"))
        story += [Paragraph(_esc(s.strip()), st.body) for s in lines]

    if tables:
        for n, table in enumerate(tables, 1):
            # the caption goes with the header and the first rows; keepWithNext would push a
            # whole long table onto the next page
            story.append(CondPageBreak(TABLE_START))
            if n == 1:
                story.append(section("统计表"))
            story.append(Paragraph(f"表{n}　{_esc(table.title)}", st.caption))
            story += _pdf_table(table, st)
            if table.note:
                story.append(Paragraph(_esc(table.note), st.note))
            story.append(Spacer(1, 3 * mm))

    if charts:
        # the heading goes into the first chart's group: keepWithNext does not reach into a
        # KeepTogether
        heading_first: list[Flowable] = [section("统计图")]
        for n, (title, bars) in enumerate(charts, 1):
            caption = Paragraph(f"图{n}　{_esc(title)}", st.caption)
            if not bars:
                story.append(
                    KeepTogether([*heading_first, caption, Paragraph("（无数据）", st.empty)])
                )
                heading_first = []
                continue
            drawings = _bar_drawings(bars, font.name)
            story.append(KeepTogether([*heading_first, caption, drawings[0]]))
            heading_first = []
            for more in drawings[1:]:
                story.append(KeepTogether([Paragraph(f"图{n}（续）", st.caption), more]))
            story.append(Spacer(1, 2 * mm))

    # The closing name, date and seal go with what precedes them (a chart, a note): a last
    # page with nothing but the seal is no report. A table cannot be kept with them.
    closing: list[Flowable] = [
        Spacer(1, 6 * mm),
        _Signature(centre_name, day, font.name, seal, seal_text),
    ]
    while story and isinstance(story[-1], Spacer):
        story.pop()
    if story and not isinstance(story[-1], PdfTable | HRFlowable):
        closing.insert(0, story.pop())
    story.append(KeepTogether(closing))

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=full_title,
        author=centre_name,
        subject=heading,
        creator="OneWindow",
        lang="zh-CN",
        initialFontName=font.name,
        initialFontSize=11.5,
    )
    doc.build(story, canvasmaker=_numbered_canvas(font.name, full_title, _date(day)))
    return buf.getvalue()
