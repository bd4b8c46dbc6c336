"""The drawing kit of the statistics charts (app.stats.charts): scales, number formats, text
fitting, the SVG tree, the legend and the point markers.

Like the BPMN diagrams of ``workflows.render``, the charts are embedded inline in pages served
under a Content-Security-Policy without inline styles or scripts, so they use presentation
attributes only (fill, stroke, font-size, ...): no <style> element, no style= attribute, no
script, no event handler, no id (two charts on a page cannot clash). The tree is built with
lxml, which escapes every text and attribute.

Scales start at zero and end on a round tick (1, 2 or 5 times a power of ten, see
`nice_ticks`) covering the largest value. Series differ by colour (a palette that stays
apart in grey print) and, for lines, by dash pattern and marker shape. Text widths are
estimated with ``workflows.render.text_width``; long labels are wrapped or cut with an
ellipsis, the full text staying in the <title>.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from workflows.render import FONT_FAMILY, text_width, wrap_text

SVG_NS = "http://www.w3.org/2000/svg"

PALETTE: tuple[str, ...] = (
    "#0b5394",  # dark blue
    "#e69f00",  # orange
    "#2e8b57",  # green
    "#b22222",  # brick red
    "#7f7f7f",  # grey
    "#56b4e9",  # sky blue
    "#6a3d9a",  # purple
    "#1a1a1a",  # black
)
"""Series colours, in order: apart in hue for the screen and in lightness for grey print."""

DASHES: tuple[str | None, ...] = (None, "8 4", "2 3", "10 3 2 3", "4 4", "1 3", "6 2 2 2 2 2")
"""Dash patterns of the series of a line chart, in order (None: solid)."""

MARKERS = ("circle", "square", "triangle", "diamond", "cross")

TEXT = "#1a1a1a"
MUTED = "#595959"
AXIS = "#595959"
GRID = "#dcdcdc"
FRAME = "#bfbfbf"

TITLE_SIZE = 15.0
FONT_SIZE = 12.0
SMALL = 11.0
PAD = 12.0
NO_DATA = "暂无数据"
DASH = "—"
DESC_LIMIT = 200  # values listed in the <desc>; more are summarised as "…"


# --- numbers ----------------------------------------------------------------------------------


def nice_ticks(low: float, high: float, target: int = 5, *, integer: bool = False) -> list[float]:
    """Round ticks from at most `low` to at least `high`, zero included.

    The step is 1, 2 or 5 times a power of ten, chosen so that there are about `target`
    intervals; with `integer` it is at least 1 (counts have no half cases). An empty range
    (all zeros) becomes 0 to 1, or 0 to `target` with `integer`.
    """
    low = min(low, 0.0)
    high = max(high, 0.0)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("ticks need finite bounds")
    if high - low <= 0:
        high = low + (float(target) if integer else 1.0)
    raw = (high - low) / max(target, 1)
    exponent = math.floor(round(math.log10(raw), 9))
    magnitude = 10.0**exponent
    step = 10 * magnitude
    for mantissa in (1, 2, 5, 10):
        if mantissa * magnitude >= raw * (1 - 1e-9):
            step = mantissa * magnitude
            break
    if integer and step < 1:
        step = 1.0
    decimals = max(0, -math.floor(round(math.log10(step), 9)))
    first = math.floor(low / step + 1e-12)  # the tolerance absorbs 1.1 / 0.1 = 11.000000000000002
    last = math.ceil(high / step - 1e-12)
    return [_clean(round(k * step, decimals)) for k in range(first, last + 1)]


def _clean(value: float) -> float:
    """-0.0 as 0.0, and integral floats kept as they are (for equality in tests)."""
    return 0.0 if value == 0 else value


def _decimals(step: float) -> int:
    return max(0, -math.floor(round(math.log10(step), 9))) if step > 0 else 0


def format_tick(value: float, step: float, *, percent: bool = False, top: float = 0.0) -> str:
    """An axis label: "0", "2,500", "15万", "1.5亿", "95%"; as many decimals as the step needs.

    `top` is the largest tick: from 100,000 on the axis counts in 万, from 10⁹ in 亿, from
    10¹² in 万亿.
    """
    if value == 0:
        return "0%" if percent else "0"
    if percent:
        return f"{value * 100:.{_decimals(step * 100)}f}%"
    top = max(abs(top), abs(value))
    for threshold, unit, name in ((1e12, 1e12, "万亿"), (1e9, 1e8, "亿"), (1e5, 1e4, "万")):
        if top >= threshold:
            return f"{value / unit:,.{_decimals(step / unit)}f}{name}"
    return f"{value:,.{_decimals(step)}f}"


def _auto_format(value: float, percent: bool) -> str:
    """A data label when the caller gives no format: exact up to a million, then 万 / 亿."""
    if percent:
        return f"{value:.1%}"
    if abs(value) >= 1e12:
        return _trim(f"{value / 1e12:,.2f}") + "万亿"
    if abs(value) >= 1e8:
        return _trim(f"{value / 1e8:,.2f}") + "亿"
    if abs(value) >= 1e6:
        return _trim(f"{value / 1e4:,.1f}") + "万"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _trim(text: str) -> str:
    """A decimal without its trailing zeros: "12.50" -> "12.5", "34.00" -> "34"."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_value(value: float, value_format: str | None, percent: bool) -> str:
    if value_format is None:
        return _auto_format(value, percent)
    return value_format.format(value)


def data_value(value: float | None) -> str:
    """The data-value attribute: the number as given, so that float(attr) == value."""
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def finite(value: float | None) -> float | None:
    """A number, or None for a missing or non-finite one (NaN, infinity)."""
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def coord(value: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def polyline(points: Sequence[tuple[float, float]]) -> str:
    """The points attribute of a <polyline> or <polygon>: "x,y x,y …"."""
    return " ".join(f"{coord(a)},{coord(b)}" for a, b in points)


# --- text -------------------------------------------------------------------------------------


def ellipsis(text: str, width: float, size: float) -> str:
    """`text` cut with "…" to fit `width` (estimated)."""
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def wrap_lines(text: str, width: float, size: float, max_lines: int) -> list[str]:
    """`text` wrapped into at most `max_lines` lines, the last cut with "…" if need be."""
    lines = wrap_text(text, width, size) or [""]
    if len(lines) > max_lines:
        rest = "".join(lines[max_lines - 1 :])
        lines = lines[: max_lines - 1] + [ellipsis(rest + "…", width, size)]
        if lines[-1].endswith("……"):
            lines[-1] = lines[-1][:-1]
    return [ellipsis(line, width, size) for line in lines]


def _luminance(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ink_on(colour: str) -> str:
    """Text colour readable on a fill of `colour`."""
    return "#ffffff" if _luminance(colour) < 0.55 else TEXT


# --- the SVG tree -----------------------------------------------------------------------------


class Svg:
    """An <svg> document under construction."""

    def __init__(self, title: str, width: float) -> None:
        self.title = title
        self.width = width
        self.root = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS})
        self.sub(self.root, "title").text = title
        self.desc = self.sub(self.root, "desc")
        self.body = self.sub(
            self.root, "g", font_family=FONT_FAMILY, font_size=FONT_SIZE, fill=TEXT
        )

    def sub(self, parent: etree._Element, tag: str, **attributes: object) -> etree._Element:
        """Append an element; `font_size=12` becomes font-size="12", None is left out."""
        element = etree.SubElement(parent, f"{{{SVG_NS}}}{tag}")
        for key, value in attributes.items():
            if value is None:
                continue
            name = key.rstrip("_").replace("_", "-")
            element.set(name, coord(value) if isinstance(value, float | int) else str(value))
        return element

    def text(
        self,
        parent: etree._Element,
        x: float,
        y: float,
        text: str,
        *,
        size: float = FONT_SIZE,
        anchor: str = "start",
        fill: str | None = None,
        **attributes: object,
    ) -> etree._Element:
        """A <text> whose baseline is at `y`."""
        element = self.sub(
            parent,
            "text",
            x=x,
            y=y,
            font_size=size if size != FONT_SIZE else None,
            text_anchor=anchor if anchor != "start" else None,
            fill=fill,
            **attributes,
        )
        element.text = text
        return element

    def heading(self) -> float:
        """Draw the title centred at the top; return the y below it."""
        shown = ellipsis(self.title, self.width - 2 * PAD, TITLE_SIZE)
        self.text(
            self.body,
            self.width / 2,
            PAD + TITLE_SIZE,
            shown,
            size=TITLE_SIZE,
            anchor="middle",
            font_weight="bold",
        )
        return PAD + TITLE_SIZE * 1.6

    def no_data(self, top: float, height: float) -> None:
        """A framed empty plot saying 暂无数据."""
        bottom = max(height - PAD, top + 40)
        self.sub(
            self.body,
            "rect",
            x=PAD,
            y=top,
            width=self.width - 2 * PAD,
            height=bottom - top,
            fill="none",
            stroke=FRAME,
            stroke_dasharray="4 4",
            data_empty="true",
        )
        self.text(
            self.body, self.width / 2, (top + bottom) / 2 + 5, NO_DATA, fill=MUTED, anchor="middle"
        )
        self.desc.text = NO_DATA
        self.finish(bottom + PAD)

    def finish(self, height: float, summary: str | None = None) -> str:
        """Set the size and accessibility attributes; return the document."""
        root = self.root
        root.set("viewBox", f"0 0 {coord(self.width)} {coord(height)}")
        root.set("width", coord(self.width))
        root.set("height", coord(height))
        root.set("role", "img")
        root.set("aria-label", self.title if summary is None else f"{self.title}：{summary}")
        root.set("class", "stats-chart")
        return etree.tostring(root, encoding="unicode")


def describe(series: Sequence[tuple[str, Sequence[tuple[str, float | None]]]]) -> str:
    """The <desc>: every series' values, "系列：标签 值，标签 值；…" (capped)."""
    parts: list[str] = []
    count = 0
    for name, points in series:
        items = []
        for label, value in points:
            if count >= DESC_LIMIT:
                items.append("…")
                break
            items.append(f"{label} {DASH if value is None else data_value(value)}")
            count += 1
        parts.append(f"{name}：" + "，".join(items) if name else "，".join(items))
    return "；".join(parts)


@dataclass
class Legend:
    """A legend laid out in rows under the title."""

    entries: list[tuple[str, int]]  # (name, series index)
    swatch: float = 28.0
    row: float = 18.0

    def layout(self, width: float) -> list[list[tuple[str, str, int, float]]]:
        """Rows of (name, shown name, index, x) within `width`."""
        rows: list[list[tuple[str, str, int, float]]] = [[]]
        x = 0.0
        for name, index in self.entries:
            shown = ellipsis(name, 220, SMALL)
            item = self.swatch + 6 + text_width(shown, SMALL)
            if rows[-1] and x + item > width:
                rows.append([])
                x = 0.0
            rows[-1].append((name, shown, index, x))
            x += item + 18
        return rows if rows[0] else []

    def height(self, width: float) -> float:
        return len(self.layout(width)) * self.row

    def draw(self, svg: Svg, top: float, kind: str) -> float:
        """Draw centred rows of entries; `kind` is "line" or "box". Return the y below."""
        available = svg.width - 2 * PAD
        group = svg.sub(svg.body, "g", data_role="legend")
        for r, row in enumerate(self.layout(available)):
            _, last_name, _, last_x = row[-1]
            used = last_x + self.swatch + 6 + text_width(last_name, SMALL)
            left = PAD + (available - used) / 2
            y = top + r * self.row + self.row / 2
            for full, shown, index, x in row:
                item = svg.sub(group, "g", data_series=full)
                svg.sub(item, "title").text = full
                colour = PALETTE[index % len(PALETTE)]
                if kind == "line":
                    svg.sub(
                        item,
                        "line",
                        x1=left + x,
                        y1=y,
                        x2=left + x + self.swatch,
                        y2=y,
                        stroke=colour,
                        stroke_width=2.5,
                        stroke_dasharray=DASHES[index % len(DASHES)],
                    )
                    marker(svg, item, index, left + x + self.swatch / 2, y)
                else:
                    svg.sub(
                        item,
                        "rect",
                        x=left + x,
                        y=y - 6,
                        width=self.swatch,
                        height=12,
                        fill=colour,
                        stroke="#ffffff",
                        stroke_width=0.5,
                    )
                svg.text(item, left + x + self.swatch + 6, y + SMALL * 0.36, shown, size=SMALL)
        return top + self.height(available)


def marker(svg: Svg, parent: etree._Element, index: int, x: float, y: float) -> None:
    """The point marker of series `index`: circle, square, triangle, diamond or cross."""
    colour = PALETTE[index % len(PALETTE)]
    shape = MARKERS[index % len(MARKERS)]
    common = {"fill": "#ffffff", "stroke": colour, "stroke_width": 2}
    if shape == "circle":
        svg.sub(parent, "circle", cx=x, cy=y, r=3.5, **common)
    elif shape == "square":
        svg.sub(parent, "rect", x=x - 3.2, y=y - 3.2, width=6.4, height=6.4, **common)
    elif shape == "triangle":
        points = [(x, y - 4.5), (x + 4.2, y + 3), (x - 4.2, y + 3)]
        svg.sub(parent, "polygon", points=polyline(points), **common)
    elif shape == "diamond":
        points = [(x, y - 4.8), (x + 4.2, y), (x, y + 4.8), (x - 4.2, y)]
        svg.sub(parent, "polygon", points=polyline(points), **common)
    else:
        d = f"M{coord(x - 3.5)} {coord(y - 3.5)}L{coord(x + 3.5)} {coord(y + 3.5)}"
        d += f"M{coord(x - 3.5)} {coord(y + 3.5)}L{coord(x + 3.5)} {coord(y - 3.5)}"
        svg.sub(parent, "path", d=d, fill="none", stroke=colour, stroke_width=2)
