"""Server-side SVG charts of the statistics pages: lines over time and horizontal bars.

`line_chart` draws one or more series over a row of x labels (days, months),
`bar_chart` one value per label (a department, an item) as horizontal bars with the labels
on the left, and `stacked_bar_chart` several values per label stacked in one bar (approved,
denied, withdrawn). Each returns a standalone ``<svg>`` document as a string.

Like the BPMN diagrams of ``workflows.render``, the charts are embedded inline in pages served
under a Content-Security-Policy without inline styles or scripts, so they use presentation
attributes only (fill, stroke, font-size, ...): no <style> element, no style= attribute, no
script, no event handler, no id (two charts on a page cannot clash). The tree is built with
lxml, which escapes every text and attribute.

Reading the values back: every drawn value (a line's point, a bar or a bar's segment) is a
<g> carrying ``data-series``, ``data-x`` (the x label or bar label) and ``data-value`` (the
number as given; empty for a missing value, which is drawn as a gap or a dash) and a <title>
with the full label and value (a tooltip). Axis gridlines carry ``data-tick``. The <svg> has
role="img", an aria-label (the title) and a <desc> listing the data for screen readers.

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

__all__ = [
    "DASHES",
    "PALETTE",
    "bar_chart",
    "format_tick",
    "line_chart",
    "nice_ticks",
    "stacked_bar_chart",
]

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


def _format(value: float, value_format: str | None, percent: bool) -> str:
    if value_format is None:
        return _auto_format(value, percent)
    return value_format.format(value)


def _data_value(value: float | None) -> str:
    """The data-value attribute: the number as given, so that float(attr) == value."""
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _finite(value: float | None) -> float | None:
    """A number, or None for a missing or non-finite one (NaN, infinity)."""
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _n(value: float) -> str:
    """A coordinate: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# --- text -------------------------------------------------------------------------------------


def _ellipsis(text: str, width: float, size: float) -> str:
    """`text` cut with "…" to fit `width` (estimated)."""
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _lines(text: str, width: float, size: float, max_lines: int) -> list[str]:
    """`text` wrapped into at most `max_lines` lines, the last cut with "…" if need be."""
    lines = wrap_text(text, width, size) or [""]
    if len(lines) > max_lines:
        rest = "".join(lines[max_lines - 1 :])
        lines = lines[: max_lines - 1] + [_ellipsis(rest + "…", width, size)]
        if lines[-1].endswith("……"):
            lines[-1] = lines[-1][:-1]
    return [_ellipsis(line, width, size) for line in lines]


def _luminance(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _ink_on(colour: str) -> str:
    """Text colour readable on a fill of `colour`."""
    return "#ffffff" if _luminance(colour) < 0.55 else TEXT


# --- the SVG tree -----------------------------------------------------------------------------


class _Svg:
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
            element.set(name, _n(value) if isinstance(value, float | int) else str(value))
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
        shown = _ellipsis(self.title, self.width - 2 * PAD, TITLE_SIZE)
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
        root.set("viewBox", f"0 0 {_n(self.width)} {_n(height)}")
        root.set("width", _n(self.width))
        root.set("height", _n(height))
        root.set("role", "img")
        root.set("aria-label", self.title if summary is None else f"{self.title}：{summary}")
        root.set("class", "stats-chart")
        return etree.tostring(root, encoding="unicode")


def _describe(series: Sequence[tuple[str, Sequence[tuple[str, float | None]]]]) -> str:
    """The <desc>: every series' values, "系列：标签 值，标签 值；…" (capped)."""
    parts: list[str] = []
    count = 0
    for name, points in series:
        items = []
        for label, value in points:
            if count >= DESC_LIMIT:
                items.append("…")
                break
            items.append(f"{label} {DASH if value is None else _data_value(value)}")
            count += 1
        parts.append(f"{name}：" + "，".join(items) if name else "，".join(items))
    return "；".join(parts)


@dataclass
class _Legend:
    """A legend laid out in rows under the title."""

    entries: list[tuple[str, int]]  # (name, series index)
    swatch: float = 28.0
    row: float = 18.0

    def layout(self, width: float) -> list[list[tuple[str, str, int, float]]]:
        """Rows of (name, shown name, index, x) within `width`."""
        rows: list[list[tuple[str, str, int, float]]] = [[]]
        x = 0.0
        for name, index in self.entries:
            shown = _ellipsis(name, 220, SMALL)
            item = self.swatch + 6 + text_width(shown, SMALL)
            if rows[-1] and x + item > width:
                rows.append([])
                x = 0.0
            rows[-1].append((name, shown, index, x))
            x += item + 18
        return rows if rows[0] else []

    def height(self, width: float) -> float:
        return len(self.layout(width)) * self.row

    def draw(self, svg: _Svg, top: float, kind: str) -> float:
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
                    _marker(svg, item, index, left + x + self.swatch / 2, y)
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


def _marker(svg: _Svg, parent: etree._Element, index: int, x: float, y: float) -> None:
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
        svg.sub(parent, "polygon", points=" ".join(f"{_n(a)},{_n(b)}" for a, b in points), **common)
    elif shape == "diamond":
        points = [(x, y - 4.8), (x + 4.2, y), (x, y + 4.8), (x - 4.2, y)]
        svg.sub(parent, "polygon", points=" ".join(f"{_n(a)},{_n(b)}" for a, b in points), **common)
    else:
        d = f"M{_n(x - 3.5)} {_n(y - 3.5)}L{_n(x + 3.5)} {_n(y + 3.5)}"
        d += f"M{_n(x - 3.5)} {_n(y + 3.5)}L{_n(x + 3.5)} {_n(y - 3.5)}"
        svg.sub(parent, "path", d=d, fill="none", stroke=colour, stroke_width=2)


# --- line chart -------------------------------------------------------------------------------


def line_chart(
    title: str,
    x_labels: list[str],
    series: list[tuple[str, list[float | None]]],
    *,
    y_label: str = "",
    width: float = 760,
    height: float = 300,
    percent: bool = False,
    value_format: str | None = None,
) -> str:
    """One line per series over the x labels; return a standalone SVG document.

    `series` are (name, values), one value per x label; None (or NaN) is a gap in the line.
    `percent` means the values are fractions (0.975 is shown as 97.5%). `value_format` (a
    ``str.format`` pattern such as "{:.1f}") formats the data labels; by default integers
    are shown exactly, numbers from a million on in 万, 亿 or 万亿. With at most two series of
    at most 16 points every point is labelled, otherwise the last point of each series.
    `height` is the whole drawing's; the plot gets what the title, legend and labels leave.
    """
    labels = [str(x) for x in x_labels]
    clean: list[tuple[str, list[float | None]]] = []
    for name, values in series:
        if len(values) != len(labels):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(labels)} x labels")
        clean.append((str(name), [_finite(v) for v in values]))
    svg = _Svg(title, width)
    top = svg.heading()
    present = [v for _, values in clean for v in values if v is not None]
    if not labels or not present:
        svg.no_data(top, height)
        return svg.finish(max(height, top + 40 + 2 * PAD), NO_DATA)
    svg.desc.text = _describe([(n, list(zip(labels, vs, strict=True))) for n, vs in clean])

    named = [(name, i) for i, (name, _) in enumerate(clean) if name]
    legend = _Legend(named)
    if named:
        top = legend.draw(svg, top, "line") + 4
    plot_top = top + 14  # room for a data label above the highest point

    integer = not percent and all(float(v).is_integer() for v in present)
    ticks = nice_ticks(min(present), max(present), integer=integer)
    step = ticks[1] - ticks[0]
    tick_texts = [format_tick(t, step, percent=percent, top=ticks[-1]) for t in ticks]
    left = PAD + (20 if y_label else 0)
    plot_left = left + max(text_width(t, SMALL) for t in tick_texts) + 8

    n = len(labels)
    per_point = len(clean) <= 2 and n <= 16

    def shown(value: float) -> str:
        return _format(value, value_format, percent)

    end_width = 0.0
    if not per_point:
        lasts = [[v for v in values if v is not None][-1:] for _, values in clean]
        end_width = max(text_width(shown(v), SMALL) for last in lasts for v in last)
    plot_right = width - PAD - (end_width + 10 if end_width else 4)
    plot_bottom = max(height - PAD - 22, plot_top + 60)
    total_height = plot_bottom + 22 + PAD
    plot_w = max(plot_right - plot_left, 40.0)
    plot_h = plot_bottom - plot_top
    band = plot_w / n

    def x_at(i: int) -> float:
        return plot_left + (i + 0.5) * band

    def y_at(value: float) -> float:
        return plot_bottom - (value - ticks[0]) / (ticks[-1] - ticks[0]) * plot_h

    # gridlines and the y axis
    axis = svg.sub(svg.body, "g", data_role="y-axis")
    for tick, text in zip(ticks, tick_texts, strict=True):
        y = y_at(tick)
        svg.sub(
            axis,
            "line",
            x1=plot_left,
            y1=y,
            x2=plot_left + plot_w,
            y2=y,
            stroke=AXIS if tick == 0 else GRID,
            stroke_width=1,
            data_tick=_data_value(tick),
        )
        svg.text(axis, plot_left - 6, y + SMALL * 0.36, text, size=SMALL, anchor="end", fill=MUTED)
    if y_label:
        cy = (plot_top + plot_bottom) / 2
        svg.text(
            axis,
            PAD + 10,
            cy,
            _ellipsis(y_label, plot_h, SMALL),
            size=SMALL,
            anchor="middle",
            fill=MUTED,
            transform=f"rotate(-90 {_n(PAD + 10)} {_n(cy)})",
        )

    # the x axis: every k-th label, so that they do not overlap
    x_axis = svg.sub(svg.body, "g", data_role="x-axis")
    cut = [_ellipsis(label, 120, SMALL) for label in labels]
    every = max(1, math.ceil((max(text_width(c, SMALL) for c in cut) + 8) / band))
    for i, text in enumerate(cut):
        x = x_at(i)
        svg.sub(x_axis, "line", x1=x, y1=plot_bottom, x2=x, y2=plot_bottom + 4, stroke=AXIS)
        if i % every == 0:
            label = svg.text(
                x_axis, x, plot_bottom + 17, text, size=SMALL, anchor="middle", fill=MUTED
            )
            if text != labels[i]:
                svg.sub(label, "title").text = labels[i]

    # the lines, then the points and their labels over them
    for index, (name, values) in enumerate(clean):
        colour = PALETTE[index % len(PALETTE)]
        group = svg.sub(svg.body, "g", data_role="series", data_series=name)
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(values):
            if value is None:
                runs.append([])
            else:
                runs[-1].append((x_at(i), y_at(value)))
        for run in runs:
            if len(run) > 1:
                svg.sub(
                    group,
                    "polyline",
                    points=" ".join(f"{_n(a)},{_n(b)}" for a, b in run),
                    fill="none",
                    stroke=colour,
                    stroke_width=2.5,
                    stroke_linejoin="round",
                    stroke_dasharray=DASHES[index % len(DASHES)],
                )
        for i, value in enumerate(values):
            if value is None:
                continue
            point = svg.sub(
                group, "g", data_series=name, data_x=labels[i], data_value=_data_value(value)
            )
            svg.sub(
                point, "title"
            ).text = f"{name + ' ' if name else ''}{labels[i]}：{shown(value)}"
            _marker(svg, point, index, x_at(i), y_at(value))

    # data labels
    labels_group = svg.sub(svg.body, "g", data_role="data-labels", font_size=SMALL)
    if per_point:
        for index, (_, values) in enumerate(clean):
            for i, value in enumerate(values):
                if value is None:
                    continue
                others = [vs[i] for j, (_, vs) in enumerate(clean) if j != index]
                other = others[0] if others else None
                above = other is None or value > other or (value == other and index == 0)
                y = y_at(value) - 9 if above else y_at(value) + 17
                if not above and y > plot_bottom - 2:
                    y = y_at(value) - 9
                svg.sub(
                    labels_group,
                    "text",
                    x=x_at(i),
                    y=y,
                    text_anchor="middle",
                    fill=PALETTE[index % len(PALETTE)],
                ).text = shown(value)
    else:
        ends: list[list[float]] = []  # [y, x, index, value]
        for index, (_, values) in enumerate(clean):
            last = max((i for i, v in enumerate(values) if v is not None), default=None)
            if last is not None:
                value = values[last]
                assert value is not None
                ends.append([y_at(value) + 4, x_at(last) + 8, index, value])
        ends.sort()
        for k in range(1, len(ends)):  # push overlapping labels apart, downwards
            ends[k][0] = max(ends[k][0], ends[k - 1][0] + 13)
        overflow = ends[-1][0] - (plot_bottom + 4) if ends else 0
        for y, x, index, value in ends:
            svg.sub(
                labels_group,
                "text",
                x=x,
                y=y - max(overflow, 0),
                fill=PALETTE[int(index) % len(PALETTE)],
            ).text = shown(value)
    return svg.finish(total_height)


# --- horizontal bars --------------------------------------------------------------------------


def bar_chart(
    title: str,
    bars: list[tuple[str, float | None]],
    *,
    value_format: str = "{:.0f}",
    max_value: float | None = None,
    width: float = 760,
    percent: bool = False,
    unit: str = "",
    series_name: str = "",
) -> str:
    """Horizontal bars, one per (label, value), labels on the left; return an SVG document.

    Long labels wrap onto two lines and are cut with "…" after that (the full text is in
    the bar's <title>). None is drawn as "—" without a bar. `max_value` fixes the end of
    the scale (1 for rates, or to compare charts) unless a value goes beyond it. `percent`
    means fractions shown as percentages (then the default format is "{:.1%}"); `unit` is
    written as "单位：件" over the scale; `series_name` goes into data-series (default: the
    title). The height follows from the number of bars.
    """
    if percent and value_format == "{:.0f}":
        value_format = "{:.1%}"
    name = series_name or title
    return _horizontal(
        title,
        [label for label, _ in bars],
        [(name, [value for _, value in bars])],
        value_format=value_format,
        max_value=max_value,
        width=width,
        percent=percent,
        unit=unit,
        legend=False,
    )


def stacked_bar_chart(
    title: str,
    categories: list[str],
    series: list[tuple[str, list[float | None]]],
    *,
    value_format: str = "{:.0f}",
    width: float = 760,
    unit: str = "",
) -> str:
    """Horizontal bars of several parts each (approved, denied …), with a legend and totals.

    `series` are (name, values), one value per category, none negative; None counts as a
    missing part. A part is labelled inside its segment when the label fits; the total is
    written at the end of the bar (``data-total`` on the bar's group).
    """
    for name, values in series:
        if len(values) != len(categories):
            raise ValueError(
                f"series {name!r} has {len(values)} values for {len(categories)} categories"
            )
        if any(v is not None and float(v) < 0 for v in values):
            raise ValueError(f"series {name!r}: a stacked bar cannot have a negative part")
    return _horizontal(
        title,
        categories,
        series,
        value_format=value_format,
        max_value=None,
        width=width,
        percent=False,
        unit=unit,
        legend=True,
    )


def _horizontal(
    title: str,
    categories: list[str],
    series: list[tuple[str, list[float | None]]],
    *,
    value_format: str,
    max_value: float | None,
    width: float,
    percent: bool,
    unit: str,
    legend: bool,
) -> str:
    """Horizontal bars, one series or several stacked."""
    labels = [str(c) for c in categories]
    clean = [(str(name), [_finite(v) for v in values]) for name, values in series]
    svg = _Svg(title, width)
    top = svg.heading()
    present = [v for _, values in clean for v in values if v is not None]
    if not labels or not clean:
        svg.no_data(top, top + 80 + PAD)
        return svg.finish(top + 80 + 2 * PAD, NO_DATA)
    svg.desc.text = _describe([(n, list(zip(labels, vs, strict=True))) for n, vs in clean])
    stacked = len(clean) > 1 or legend

    if legend:
        entries = [(name, i) for i, (name, _) in enumerate(clean)]
        top = _Legend(entries, swatch=14).draw(svg, top, "box")
        top += 4
    if unit:
        svg.text(
            svg.body,
            width - PAD,
            top + SMALL,
            f"单位：{unit}",
            size=SMALL,
            anchor="end",
            fill=MUTED,
        )
        top += SMALL + 6
    plot_top = top + 4

    totals: list[float | None] = []
    for i in range(len(labels)):
        parts = [values[i] for _, values in clean if values[i] is not None]
        totals.append(sum(parts) if parts else None)
    ends = [t for t in totals if t is not None]
    low = min(ends, default=0.0)
    high = max(ends + ([max_value] if max_value is not None else []), default=0.0)
    integer = not percent and all(float(v).is_integer() for v in present + [high])
    ticks = nice_ticks(low, high, integer=integer)
    step = ticks[1] - ticks[0]

    def shown(value: float | None) -> str:
        return DASH if value is None else value_format.format(value)

    # the label column: at most 35% of the width, two lines a label
    label_room = min(max(text_width(label, FONT_SIZE) for label in labels) + 4, width * 0.35)
    label_room = max(label_room, 24.0)
    wrapped = [_lines(label, label_room, FONT_SIZE, 2) for label in labels]
    two_lines = any(len(w) > 1 for w in wrapped)
    row = 36.0 if two_lines else 28.0
    thickness = 18.0 if two_lines else 16.0
    value_room = max(text_width(shown(t), SMALL) for t in totals) + 6
    plot_left = PAD + label_room + 10
    plot_right = width - PAD - value_room
    plot_w = max(plot_right - plot_left, 40.0)
    plot_bottom = plot_top + row * len(labels)

    def x_at(value: float) -> float:
        return plot_left + (value - ticks[0]) / (ticks[-1] - ticks[0]) * plot_w

    axis = svg.sub(svg.body, "g", data_role="x-axis")
    for tick in ticks:
        x = x_at(tick)
        svg.sub(
            axis,
            "line",
            x1=x,
            y1=plot_top,
            x2=x,
            y2=plot_bottom,
            stroke=AXIS if tick == 0 else GRID,
            stroke_width=1,
            data_tick=_data_value(tick),
        )
        svg.text(
            axis,
            x,
            plot_bottom + 16,
            format_tick(tick, step, percent=percent, top=ticks[-1]),
            size=SMALL,
            anchor="middle",
            fill=MUTED,
        )

    zero = x_at(0.0)
    for i, label in enumerate(labels):
        y_mid = plot_top + row * i + row / 2
        bar = svg.sub(svg.body, "g", data_role="bar", data_x=label)
        if stacked:
            bar.set("data-total", _data_value(totals[i]))
        if stacked:
            parts = "，".join(f"{name} {shown(values[i])}" for name, values in clean)
            parts += f"，合计 {shown(totals[i])}"
        else:
            parts = shown(clean[0][1][i])
        svg.sub(bar, "title").text = f"{label}：{parts}"
        lines = wrapped[i]
        text = svg.sub(bar, "text", x=PAD + label_room, text_anchor="end")
        first = y_mid + FONT_SIZE * 0.36 - (len(lines) - 1) * FONT_SIZE * 0.6
        for k, line in enumerate(lines):
            svg.sub(text, "tspan", x=PAD + label_room, y=first + k * FONT_SIZE * 1.2).text = line
        offset = 0.0
        for index, (name, values) in enumerate(clean):
            value = values[i]
            segment = svg.sub(
                bar, "g", data_series=name, data_x=label, data_value=_data_value(value)
            )
            if value is None:
                continue
            start, end = (offset, offset + value) if stacked else (0.0, value)
            x0, x1 = sorted((x_at(start), x_at(end)))
            colour = PALETTE[index % len(PALETTE)]
            if stacked:
                svg.sub(segment, "title").text = f"{label} {name}：{shown(value)}"
            svg.sub(
                segment,
                "rect",
                x=x0,
                y=y_mid - thickness / 2,
                width=max(x1 - x0, 0.0),
                height=thickness,
                fill=colour,
                stroke="#ffffff" if stacked else None,
                stroke_width=0.75 if stacked else None,
            )
            if stacked and value:
                text_value = shown(value)
                if text_width(text_value, SMALL) + 6 <= x1 - x0:
                    svg.text(
                        segment,
                        (x0 + x1) / 2,
                        y_mid + SMALL * 0.36,
                        text_value,
                        size=SMALL,
                        anchor="middle",
                        fill=_ink_on(colour),
                    )
            offset += value
        total = totals[i]
        end_x = max(x_at(total), zero) if total is not None else zero
        if total is not None and total < 0:
            end_x = zero  # a negative bar is labelled to the right of zero
        svg.text(
            bar,
            end_x + 5,
            y_mid + SMALL * 0.36,
            shown(total),
            size=SMALL,
            fill=TEXT if total is not None else MUTED,
            data_role="value",
        )
    return svg.finish(plot_bottom + 22 + PAD)
