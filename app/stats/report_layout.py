"""The page of the monthly statistics report (app.stats.report): geometry, colours, paragraph
styles, and the two things it is mostly made of: the statistics tables and the bar charts.

The tables are the :class:`app.stats.exports.Table` s the pages export, drawn as bordered
tables with a shaded header that is repeated when a table runs onto the next page, a shaded
totals row, numbers with thousands separators, rates as percentages, a missing value as
"—". The bar charts are drawn with reportlab's graphics in vector, not from the pages' SVG.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import Flowable, Paragraph, TableStyle
from reportlab.platypus import Table as PdfTable

from ..printing import fit, markup
from .exports import MISSING, Column, Table, cell_text
from .svg import PALETTE, format_tick, nice_ticks

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
BARS_PER_DRAWING = 32  # a longer chart continues in a second drawing (a drawing cannot split)


# --- styles -----------------------------------------------------------------------------------


class Styles:
    """Paragraph styles in the chosen font."""

    def __init__(self, font: str) -> None:
        self.font = font
        base = ParagraphStyle("base", fontName=font, fontSize=11.5, leading=19, wordWrap="CJK",
                              alignment=TA_LEFT)  # fmt: skip
        self.centre = ParagraphStyle("centre", parent=base, fontSize=15, leading=22,
                                     alignment=TA_CENTER)  # fmt: skip
        self.dateline = ParagraphStyle("dateline", parent=base, fontSize=10.5, leading=16,
                                       alignment=TA_CENTER, textColor=MUTED)  # fmt: skip
        self.section = ParagraphStyle("section", parent=base, fontSize=14, leading=22,
                                      spaceBefore=8, spaceAfter=4, keepWithNext=1)  # fmt: skip
        self.body = ParagraphStyle("body", parent=base, firstLineIndent=23, alignment=TA_JUSTIFY,
                                   spaceAfter=2)  # fmt: skip
        self.caption = ParagraphStyle("caption", parent=base, fontSize=11, leading=16,
                                      alignment=TA_CENTER, spaceBefore=8, spaceAfter=4)  # fmt: skip
        self.note = ParagraphStyle("note", parent=base, fontSize=9, leading=13, textColor=MUTED,
                                   spaceBefore=3)  # fmt: skip
        self.empty = ParagraphStyle("empty", parent=self.note, alignment=TA_CENTER)

    def cells(self, size: float) -> tuple[ParagraphStyle, ParagraphStyle, ParagraphStyle]:
        """Header, text and number cell styles at font size `size`."""
        cell = ParagraphStyle(f"cell-{size}", fontName=self.font, fontSize=size,
                              leading=size * 1.3, wordWrap="CJK")  # fmt: skip
        head = ParagraphStyle(f"head-{size}", parent=cell, alignment=TA_CENTER)
        number = ParagraphStyle(f"number-{size}", parent=cell, alignment=TA_RIGHT)
        return head, cell, number


# --- tables -----------------------------------------------------------------------------------


def _table_rows(table: Table) -> list[tuple[list[str], bool]]:
    """The cell texts of every row (totals last, flagged True; a column without a total
    left blank)."""
    return [
        (["" if total and row.get(c.key) is None else cell_text(c, row.get(c.key), grouping=True)
          for c in table.columns], total)
        for row, total in table.all_rows()
    ]  # fmt: skip


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


def table_flowables(table: Table, styles: Styles) -> list[Flowable]:
    """A bordered table with a shaded header row repeated on every page it runs onto."""
    columns = table.columns
    if not columns:
        return [Paragraph("（无数据）", styles.empty)]
    rows = _table_rows(table)
    widths, size = _widths(columns, [texts for texts, _ in rows], styles.font, TABLE_SIZE)
    head, cell, number = styles.cells(size)
    data: list[list[Any]] = [[Paragraph(markup(c.label), head) for c in columns]]
    for texts, _ in rows:
        data.append(
            [
                Paragraph(markup(text), number if column.kind != "text" else cell)
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


# --- bar charts -------------------------------------------------------------------------------


class _BarScale(NamedTuple):
    """What the drawings of one bar chart share: the font, the scale and the columns."""

    font: str
    size: float
    ticks: list[float]
    label_w: float  # the labels' column, right-aligned
    left: float  # where the plot starts
    plot_w: float
    width: float

    def x_at(self, value: float) -> float:
        return self.left + (value - self.ticks[0]) / (self.ticks[-1] - self.ticks[0]) * self.plot_w


def _shown(value: float | None) -> str:
    """A bar's value: whole numbers without decimals, others with one."""
    if value is None:
        return MISSING
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def bar_drawings(
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
    labels = [str(label) for label, _ in bars]
    label_w = min(max(pdfmetrics.stringWidth(t, font, size) for t in labels), width * 0.38)
    value_w = max(pdfmetrics.stringWidth(_shown(v), font, size) for _, v in bars) + 4
    left = label_w + 8
    scale = _BarScale(font, size, ticks, label_w, left, width - left - value_w - 4, width)
    return [
        _bar_drawing(bars[start : start + BARS_PER_DRAWING], scale)
        for start in range(0, len(bars), BARS_PER_DRAWING)
    ]


def _bar_drawing(chunk: Sequence[tuple[str, float | None]], s: _BarScale) -> Drawing:
    """One drawing of a bar chart: the scale's lines and ticks, then a row per bar."""
    row = 16.0
    axis = 16.0
    height = row * len(chunk) + axis + 4
    drawing = Drawing(s.width, height, initialFontName=s.font, initialFontSize=s.size)
    top = height - 2
    step = s.ticks[1] - s.ticks[0]
    for tick in s.ticks:
        x = s.x_at(tick)
        colour = RULE if tick == 0 else LIGHT_GRID
        drawing.add(Line(x, axis, x, top, strokeColor=colour, strokeWidth=0.6))
        drawing.add(String(x, axis - 10, format_tick(tick, step, top=s.ticks[-1]), fontName=s.font,
                           fontSize=8, fillColor=MUTED, textAnchor="middle"))  # fmt: skip
    for i, (label, value) in enumerate(chunk):
        _bar(drawing, s, top - row * i - row / 2, label, value)
    return drawing


def _bar(drawing: Drawing, s: _BarScale, y_mid: float, label: str, value: float | None) -> None:
    """One bar: its label on the left, the bar from zero, its value at the end."""
    thickness = 10.0
    text = fit(str(label), s.font, s.size, s.label_w)
    drawing.add(String(s.label_w, y_mid - s.size * 0.35, text, fontName=s.font, fontSize=s.size,
                       textAnchor="end"))  # fmt: skip
    end = s.x_at(0.0)
    if value is not None:
        x0, x1 = sorted((s.x_at(0.0), s.x_at(float(value))))
        drawing.add(Rect(x0, y_mid - thickness / 2, x1 - x0, thickness, fillColor=BAR,
                         strokeColor=None))  # fmt: skip
        end = max(x1, s.x_at(0.0))
    drawing.add(String(end + 3, y_mid - s.size * 0.35, _shown(value), fontName=s.font,
                       fontSize=s.size,
                       fillColor=colors.black if value is not None else MUTED))  # fmt: skip
