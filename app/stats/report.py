"""The monthly statistics report (政务服务统计月报) as an A4 PDF for the leadership meeting.

One document: the centre's name and the title ("2026年11月政务服务统计月报") with the date it
was drawn up, then numbered sections — the key figures the caller words (一、总体情况), the
tables (表1, 表2 … as bordered tables with a shaded header that is repeated when a table
runs onto the next page, a shaded totals row and the table's note), the bar charts (图1 …,
drawn with reportlab's graphics in vector, not from the pages' SVG) — and the centre's
name and the date on the right, under the centre's seal when wanted. Every page has
"第 x 页 / 共 y 页" in its footer; later pages repeat the report's name in a running head.

The tables are the :class:`app.stats.exports.Table` s the pages export; numbers are written
with thousands separators, rates as percentages, a missing value as "—" (the tables, the
charts and the page: app.stats.report_layout). Text is set in the embedded CJK TrueType
font of app.printing (``cjk_font``), nothing is downloaded. The function is pure: no
database, no Flask request.
"""

from __future__ import annotations

import os
import re
from datetime import date

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    Paragraph,
    Spacer,
)
from reportlab.platypus import Table as PdfTable
from reportlab.platypus.flowables import HRFlowable

from ..printing import (
    HeavyTitle,
    PageFurniture,
    a4_pdf,
    chinese_date,
    cjk_font,
    draw_seal,
    fit,
    markup,
    page_of,
)
from .exports import Table
from .report_layout import (
    FRAME_W,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    MARGIN_X,
    MUTED,
    PAGE_H,
    PAGE_W,
    RULE,
    Styles,
    bar_drawings,
    table_flowables,
)

__all__ = ["month_title", "monthly_report"]

TABLE_START = 45 * mm  # room a table needs to start on a page: caption, header, a few rows
SEAL_RADIUS = 19 * mm
NUMERALS = "一二三四五六七八九十"


def month_title(month: str) -> str:
    """ "2026-11" (or "2026-11-01", "202611", "2026/11") as "2026年11月"; other text as given."""
    found = re.fullmatch(r"\s*(\d{4})[-/.年]?(\d{1,2})(?:[-/.]\d{1,2})?月?\s*", month or "")
    if found and 1 <= int(found.group(2)) <= 12:
        return f"{found.group(1)}年{int(found.group(2))}月"
    return (month or "").strip()


# --- flowables --------------------------------------------------------------------------------


class _Title(HeavyTitle):
    """The report title: large and centred, a touch heavier (the font has no bold); a title
    too wide shrinks, and below 12 points is cut with "…"."""

    def __init__(self, text: str, font: str, size: float = 20) -> None:
        super().__init__(text, font, size)

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        while pdfmetrics.stringWidth(self.text, self.font, self.size) > availWidth:
            if self.size <= 12:
                self.text = fit(self.text, self.font, self.size, availWidth)
                break
            self.size -= 0.5
        self.width = availWidth
        self.height = self.size * self.height_factor
        return self.width, self.height


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
        lines = [self.centre, chinese_date(self.day)]
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


# --- page furniture ---------------------------------------------------------------------------


def _furniture(font: str, running_head: str, day: str) -> PageFurniture:
    """The footer's rule and "第 x 页 / 共 y 页"; from the second page the running head."""

    def furniture(canv: Canvas, number: int, total: int) -> None:
        canv.saveState()
        canv.setStrokeColor(RULE)
        canv.setFillColor(MUTED)
        canv.setLineWidth(0.5)
        footer = MARGIN_BOTTOM - 9 * mm
        canv.line(MARGIN_X, footer + 4 * mm, PAGE_W - MARGIN_X, footer + 4 * mm)
        canv.setFont(font, 9)
        canv.drawCentredString(PAGE_W / 2, footer, page_of(number, total))
        if number > 1:
            head = PAGE_H - MARGIN_TOP + 6 * mm
            canv.setFont(font, 8.5)
            canv.drawString(MARGIN_X, head + 1.5 * mm, fit(running_head, font, 8.5, FRAME_W * 0.75))
            canv.drawRightString(PAGE_W - MARGIN_X, head + 1.5 * mm, day)
            canv.line(MARGIN_X, head, PAGE_W - MARGIN_X, head)
        canv.restoreState()

    return furniture


# --- the report -------------------------------------------------------------------------------


def monthly_report(
    centre_name: str,
    month: str,
    tables: list[Table],
    charts: list[tuple[str, list[tuple[str, float]]]] | None = None,
    seal: bool = True,
    *,
    summary: list[str] | None = None,
    issued_on: date,
    seal_text: str = "",
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """The monthly statistics report as an A4 PDF (see the module docstring).

    `month` is "2026-11" (or already "2026年11月"); `summary` are the key-figure sentences
    of 一、总体情况, worded by the caller; `charts` are (title, [(label, value), ...]) drawn as
    horizontal bars. `seal` stamps the centre's seal (its name on the arc, `seal_text`
    under the star) over the closing name and date `issued_on` (the centre's local day,
    app.clock.today(), given by the caller).
    `font_path` is the configured CJK font (``app.config["PDF_FONT"]``).
    """
    font = cjk_font(font_path)
    st = Styles(font.name)
    day = issued_on
    period = month_title(month)
    heading = f"{period}政务服务统计月报"
    full_title = f"{centre_name} {period} 政务服务统计月报"

    story: list[Flowable] = [
        Paragraph(markup(centre_name), st.centre),
        Spacer(1, 1 * mm),
        _Title(heading, font.name),
        Paragraph(f"编制日期：{chinese_date(day)}", st.dateline),
        Spacer(1, 1.5 * mm),
        HRFlowable(width="100%", thickness=1.2, color=RULE, spaceBefore=0, spaceAfter=4 * mm),
    ]
    section = _Sections(st)
    lines = [s for s in (summary or []) if s and s.strip()]
    if lines:
        story.append(section("总体情况"))
        story += [Paragraph(markup(s.strip()), st.body) for s in lines]
    story += _table_sections(tables, section, st)
    story += _chart_sections(charts or [], section, font.name, st)
    _close(story, _Signature(centre_name, day, font.name, seal, seal_text))

    return a4_pdf(
        story,
        font=font.name,
        font_size=11.5,
        margins=(MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM),
        furniture=_furniture(font.name, full_title, chinese_date(day)),
        title=full_title,
        author=centre_name,
        subject=heading,
    )


class _Sections:
    """The numbered section headings: 一、…, 二、…"""

    def __init__(self, styles: Styles) -> None:
        self.styles = styles
        self.count = 0

    def __call__(self, name: str) -> Paragraph:
        """The next section heading."""
        self.count += 1
        return Paragraph(f"{NUMERALS[(self.count - 1) % 10]}、{markup(name)}", self.styles.section)


def _table_sections(tables: list[Table], section: _Sections, st: Styles) -> list[Flowable]:
    """二、统计表: each table with its caption (表1 …) and note."""
    story: list[Flowable] = []
    for n, table in enumerate(tables, 1):
        # the caption goes with the header and the first rows; keepWithNext would push a
        # whole long table onto the next page
        story.append(CondPageBreak(TABLE_START))
        if n == 1:
            story.append(section("统计表"))
        story.append(Paragraph(f"表{n}　{markup(table.title)}", st.caption))
        story += table_flowables(table, st)
        if table.note:
            story.append(Paragraph(markup(table.note), st.note))
        story.append(Spacer(1, 3 * mm))
    return story


def _chart_sections(
    charts: list[tuple[str, list[tuple[str, float]]]], section: _Sections, font: str, st: Styles
) -> list[Flowable]:
    """三、统计图: each bar chart with its caption (图1 …), continued as 图1（续）."""
    if not charts:
        return []
    story: list[Flowable] = []
    # the heading goes into the first chart's group: keepWithNext does not reach into a
    # KeepTogether
    heading_first: list[Flowable] = [section("统计图")]
    for n, (title, bars) in enumerate(charts, 1):
        caption = Paragraph(f"图{n}　{markup(title)}", st.caption)
        if not bars:
            story.append(KeepTogether([*heading_first, caption, Paragraph("（无数据）", st.empty)]))
            heading_first = []
            continue
        drawings = bar_drawings(bars, font)
        story.append(KeepTogether([*heading_first, caption, drawings[0]]))
        heading_first = []
        for more in drawings[1:]:
            story.append(KeepTogether([Paragraph(f"图{n}（续）", st.caption), more]))
        story.append(Spacer(1, 2 * mm))
    return story


def _close(story: list[Flowable], signature: Flowable) -> None:
    """End the story with the closing name, date and seal, kept with what precedes them (a
    chart, a note): a last page with nothing but the seal is no report. A table cannot be
    kept with them."""
    closing: list[Flowable] = [Spacer(1, 6 * mm), signature]
    while story and isinstance(story[-1], Spacer):
        story.pop()
    if story and not isinstance(story[-1], PdfTable | HRFlowable):
        closing.insert(0, story.pop())
    story.append(KeepTogether(closing))
