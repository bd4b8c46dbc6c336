"""Server-side SVG charts of the statistics pages: lines over time and horizontal bars.

`line_chart` draws one or more series over a row of x labels (days, months),
`bar_chart` one value per label (a department, an item) as horizontal bars with the labels
on the left, and `stacked_bar_chart` several values per label stacked in one bar (approved,
denied, withdrawn). Each returns a standalone ``<svg>`` document as a string, drawn with the
kit of app.stats.svg (presentation attributes only, for the pages' Content-Security-Policy).

Reading the values back: every drawn value (a line's point, a bar or a bar's segment) is a
<g> carrying ``data-series``, ``data-x`` (the x label or bar label) and ``data-value`` (the
number as given; empty for a missing value, which is drawn as a gap or a dash) and a <title>
with the full label and value (a tooltip). Axis gridlines carry ``data-tick``. The <svg> has
role="img", an aria-label (the title) and a <desc> listing the data for screen readers.
"""

from __future__ import annotations

import math

from workflows.render import text_width

from .svg import (
    AXIS,
    DASH,
    DASHES,
    FONT_SIZE,
    GRID,
    MUTED,
    NO_DATA,
    PAD,
    PALETTE,
    SMALL,
    TEXT,
    Legend,
    Svg,
    coord,
    data_value,
    describe,
    ellipsis,
    finite,
    format_tick,
    format_value,
    ink_on,
    marker,
    nice_ticks,
    polyline,
    wrap_lines,
)

__all__ = ["bar_chart", "line_chart", "stacked_bar_chart"]


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
        clean.append((str(name), [finite(v) for v in values]))
    svg = Svg(title, width)
    top = svg.heading()
    present = [v for _, values in clean for v in values if v is not None]
    if not labels or not present:
        svg.no_data(top, height)
        return svg.finish(max(height, top + 40 + 2 * PAD), NO_DATA)
    svg.desc.text = describe([(n, list(zip(labels, vs, strict=True))) for n, vs in clean])

    named = [(name, i) for i, (name, _) in enumerate(clean) if name]
    legend = Legend(named)
    if named:
        top = legend.draw(svg, top, "line") + 4
    # room for a data label above the highest point
    plot = _LinePlot(svg, labels, clean, percent, value_format, present, top + 14, height, y_label)
    plot.y_axis(y_label)
    plot.x_axis()
    plot.lines()
    plot.data_labels()
    return svg.finish(plot.bottom + 22 + PAD)


class _LinePlot:
    """The plot of a line chart: its scale and geometry, and the layers drawn on it in order
    (gridlines and y axis, x axis, the lines with their points, the data labels)."""

    def __init__(self, svg: Svg, labels: list[str], clean: list[tuple[str, list[float | None]]],
                 percent: bool, value_format: str | None, present: list[float], top: float,
                 height: float, y_label: str) -> None:  # fmt: skip
        self.svg, self.labels, self.clean = svg, labels, clean
        self.percent, self.value_format = percent, value_format
        self.per_point = len(clean) <= 2 and len(labels) <= 16
        self._lay_out(present, top, height, y_label)

    def shown(self, value: float) -> str:
        return format_value(value, self.value_format, self.percent)

    def _lay_out(self, present: list[float], top: float, height: float, y_label: str) -> None:
        """The ticks and the plot's box within the drawing's `height`, below `top`."""
        integer = not self.percent and all(float(v).is_integer() for v in present)
        ticks = nice_ticks(min(present), max(present), integer=integer)
        step = ticks[1] - ticks[0]
        self.ticks = ticks
        self.tick_texts = [format_tick(t, step, percent=self.percent, top=ticks[-1]) for t in ticks]
        left = PAD + (20 if y_label else 0)
        self.left = left + max(text_width(t, SMALL) for t in self.tick_texts) + 8
        end_width = 0.0
        if not self.per_point:
            lasts = [[v for v in values if v is not None][-1:] for _, values in self.clean]
            end_width = max(text_width(self.shown(v), SMALL) for last in lasts for v in last)
        right = self.svg.width - PAD - (end_width + 10 if end_width else 4)
        self.top = top
        self.bottom = max(height - PAD - 22, top + 60)
        self.w = max(right - self.left, 40.0)
        self.h = self.bottom - self.top
        self.band = self.w / len(self.labels)

    def x_at(self, i: int) -> float:
        return self.left + (i + 0.5) * self.band

    def y_at(self, value: float) -> float:
        return self.bottom - (value - self.ticks[0]) / (self.ticks[-1] - self.ticks[0]) * self.h

    def y_axis(self, y_label: str) -> None:
        """Gridlines, tick labels and the rotated y label."""
        svg = self.svg
        axis = svg.sub(svg.body, "g", data_role="y-axis")
        for tick, text in zip(self.ticks, self.tick_texts, strict=True):
            y = self.y_at(tick)
            svg.sub(axis, "line", x1=self.left, y1=y, x2=self.left + self.w, y2=y,
                    stroke=AXIS if tick == 0 else GRID, stroke_width=1,
                    data_tick=data_value(tick))  # fmt: skip
            svg.text(axis, self.left - 6, y + SMALL * 0.36, text, size=SMALL, anchor="end",
                     fill=MUTED)  # fmt: skip
        if y_label:
            cy = (self.top + self.bottom) / 2
            svg.text(axis, PAD + 10, cy, ellipsis(y_label, self.h, SMALL), size=SMALL,
                     anchor="middle", fill=MUTED,
                     transform=f"rotate(-90 {coord(PAD + 10)} {coord(cy)})")  # fmt: skip

    def x_axis(self) -> None:
        """The x axis: every k-th label, so that they do not overlap."""
        svg, labels, bottom = self.svg, self.labels, self.bottom
        x_axis = svg.sub(svg.body, "g", data_role="x-axis")
        cut = [ellipsis(label, 120, SMALL) for label in labels]
        every = max(1, math.ceil((max(text_width(c, SMALL) for c in cut) + 8) / self.band))
        for i, text in enumerate(cut):
            x = self.x_at(i)
            svg.sub(x_axis, "line", x1=x, y1=bottom, x2=x, y2=bottom + 4, stroke=AXIS)
            if i % every == 0:
                label = svg.text(x_axis, x, bottom + 17, text, size=SMALL, anchor="middle",
                                 fill=MUTED)  # fmt: skip
                if text != labels[i]:
                    svg.sub(label, "title").text = labels[i]

    def lines(self) -> None:
        """The lines (broken at the gaps), then the points over them."""
        svg, labels = self.svg, self.labels
        for index, (name, values) in enumerate(self.clean):
            colour = PALETTE[index % len(PALETTE)]
            group = svg.sub(svg.body, "g", data_role="series", data_series=name)
            runs: list[list[tuple[float, float]]] = [[]]
            for i, value in enumerate(values):
                if value is None:
                    runs.append([])
                else:
                    runs[-1].append((self.x_at(i), self.y_at(value)))
            for run in runs:
                if len(run) > 1:
                    svg.sub(group, "polyline", points=polyline(run), fill="none", stroke=colour,
                            stroke_width=2.5, stroke_linejoin="round",
                            stroke_dasharray=DASHES[index % len(DASHES)])  # fmt: skip
            for i, value in enumerate(values):
                if value is None:
                    continue
                point = svg.sub(group, "g", data_series=name, data_x=labels[i],
                                data_value=data_value(value))  # fmt: skip
                shown = self.shown(value)
                svg.sub(point, "title").text = f"{name + ' ' if name else ''}{labels[i]}：{shown}"
                marker(svg, point, index, self.x_at(i), self.y_at(value))

    def data_labels(self) -> None:
        """Every point's value (above the other series' point, else below), or only the
        last point's value of each series at the line's end, pushed apart downwards."""
        svg, clean = self.svg, self.clean
        group = svg.sub(svg.body, "g", data_role="data-labels", font_size=SMALL)
        if self.per_point:
            for index, (_, values) in enumerate(clean):
                for i, value in enumerate(values):
                    if value is None:
                        continue
                    others = [vs[i] for j, (_, vs) in enumerate(clean) if j != index]
                    other = others[0] if others else None
                    above = other is None or value > other or (value == other and index == 0)
                    y = self.y_at(value) - 9 if above else self.y_at(value) + 17
                    if not above and y > self.bottom - 2:
                        y = self.y_at(value) - 9
                    colour = PALETTE[index % len(PALETTE)]
                    svg.sub(group, "text", x=self.x_at(i), y=y, text_anchor="middle",
                            fill=colour).text = self.shown(value)  # fmt: skip
            return
        ends: list[list[float]] = []  # [y, x, index, value]
        for index, (_, values) in enumerate(clean):
            last = max((i for i, v in enumerate(values) if v is not None), default=None)
            if last is not None:
                value = values[last]
                assert value is not None
                ends.append([self.y_at(value) + 4, self.x_at(last) + 8, index, value])
        ends.sort()
        for k in range(1, len(ends)):  # push overlapping labels apart, downwards
            ends[k][0] = max(ends[k][0], ends[k - 1][0] + 13)
        overflow = ends[-1][0] - (self.bottom + 4) if ends else 0
        for y, x, index, value in ends:
            svg.sub(group, "text", x=x, y=y - max(overflow, 0),
                    fill=PALETTE[int(index) % len(PALETTE)]).text = self.shown(value)  # fmt: skip


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
    labels, values = [label for label, _ in bars], [value for _, value in bars]
    return _horizontal(title, labels, [(name, values)], value_format, width, unit, legend=False,
                       max_value=max_value, percent=percent)  # fmt: skip


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
    return _horizontal(title, categories, series, value_format, width, unit, legend=True)


def _horizontal(
    title: str,
    categories: list[str],
    series: list[tuple[str, list[float | None]]],
    value_format: str,
    width: float,
    unit: str,
    *,
    legend: bool,
    max_value: float | None = None,
    percent: bool = False,
) -> str:
    """Horizontal bars, one series or several stacked."""
    labels = [str(c) for c in categories]
    clean = [(str(name), [finite(v) for v in values]) for name, values in series]
    svg = Svg(title, width)
    top = svg.heading()
    if not labels or not clean:
        svg.no_data(top, top + 80 + PAD)
        return svg.finish(top + 80 + 2 * PAD, NO_DATA)
    svg.desc.text = describe([(n, list(zip(labels, vs, strict=True))) for n, vs in clean])
    stacked = len(clean) > 1 or legend

    if legend:
        entries = [(name, i) for i, (name, _) in enumerate(clean)]
        top = Legend(entries, swatch=14).draw(svg, top, "box")
        top += 4
    if unit:
        svg.text(svg.body, width - PAD, top + SMALL, f"单位：{unit}", size=SMALL, anchor="end",
                 fill=MUTED)  # fmt: skip
        top += SMALL + 6
    plot = _BarPlot(svg, labels, clean, stacked, value_format, percent, max_value, top + 4)
    plot.x_axis()
    for i in range(len(labels)):
        plot.bar(i)
    return svg.finish(plot.bottom + 22 + PAD)


class _BarPlot:
    """The plot of a bar chart: the totals, the scale, the label column and the rows, and
    what is drawn on it (the x axis, then one bar after the other)."""

    def __init__(self, svg: Svg, labels: list[str], clean: list[tuple[str, list[float | None]]],
                 stacked: bool, value_format: str, percent: bool, max_value: float | None,
                 top: float) -> None:  # fmt: skip
        self.svg, self.labels, self.clean = svg, labels, clean
        self.stacked, self.value_format, self.percent = stacked, value_format, percent
        self.totals: list[float | None] = []
        for i in range(len(labels)):
            parts = [values[i] for _, values in clean if values[i] is not None]
            self.totals.append(sum(parts) if parts else None)
        present = [v for _, values in clean for v in values if v is not None]
        ends = [t for t in self.totals if t is not None]
        low = min(ends, default=0.0)
        high = max(ends + ([max_value] if max_value is not None else []), default=0.0)
        integer = not percent and all(float(v).is_integer() for v in present + [high])
        self.ticks = nice_ticks(low, high, integer=integer)
        # the label column: at most 35% of the width, two lines a label
        width = svg.width
        label_room = min(max(text_width(label, FONT_SIZE) for label in labels) + 4, width * 0.35)
        self.label_room = max(label_room, 24.0)
        self.wrapped = [wrap_lines(label, self.label_room, FONT_SIZE, 2) for label in labels]
        two_lines = any(len(w) > 1 for w in self.wrapped)
        self.row = 36.0 if two_lines else 28.0
        self.thickness = 18.0 if two_lines else 16.0
        value_room = max(text_width(self.shown(t), SMALL) for t in self.totals) + 6
        self.left = PAD + self.label_room + 10
        self.w = max(width - PAD - value_room - self.left, 40.0)
        self.top = top
        self.bottom = top + self.row * len(labels)

    def shown(self, value: float | None) -> str:
        return DASH if value is None else self.value_format.format(value)

    def x_at(self, value: float) -> float:
        return self.left + (value - self.ticks[0]) / (self.ticks[-1] - self.ticks[0]) * self.w

    def x_axis(self) -> None:
        """The gridlines and the scale under the bars."""
        svg, ticks = self.svg, self.ticks
        step = ticks[1] - ticks[0]
        axis = svg.sub(svg.body, "g", data_role="x-axis")
        for tick in ticks:
            x = self.x_at(tick)
            svg.sub(axis, "line", x1=x, y1=self.top, x2=x, y2=self.bottom,
                    stroke=AXIS if tick == 0 else GRID, stroke_width=1,
                    data_tick=data_value(tick))  # fmt: skip
            svg.text(axis, x, self.bottom + 16,
                     format_tick(tick, step, percent=self.percent, top=ticks[-1]), size=SMALL,
                     anchor="middle", fill=MUTED)  # fmt: skip

    def bar(self, i: int) -> None:
        """Bar `i`: its group and tooltip, its label, its segments, its total at the end."""
        svg, label, total = self.svg, self.labels[i], self.totals[i]
        y_mid = self.top + self.row * i + self.row / 2
        bar = svg.sub(svg.body, "g", data_role="bar", data_x=label)
        if self.stacked:
            bar.set("data-total", data_value(total))
            parts = "，".join(f"{name} {self.shown(values[i])}" for name, values in self.clean)
            parts += f"，合计 {self.shown(total)}"
        else:
            parts = self.shown(self.clean[0][1][i])
        svg.sub(bar, "title").text = f"{label}：{parts}"
        lines = self.wrapped[i]
        text = svg.sub(bar, "text", x=PAD + self.label_room, text_anchor="end")
        first = y_mid + FONT_SIZE * 0.36 - (len(lines) - 1) * FONT_SIZE * 0.6
        for k, line in enumerate(lines):
            y = first + k * FONT_SIZE * 1.2
            svg.sub(text, "tspan", x=PAD + self.label_room, y=y).text = line
        offset = 0.0
        for index, (name, values) in enumerate(self.clean):
            value = values[i]
            segment = svg.sub(bar, "g", data_series=name, data_x=label,
                              data_value=data_value(value))  # fmt: skip
            if value is not None:
                self._segment(segment, index, name, label, y_mid, offset, value)
                offset += value
        zero = self.x_at(0.0)
        end_x = max(self.x_at(total), zero) if total is not None else zero
        if total is not None and total < 0:
            end_x = zero  # a negative bar is labelled to the right of zero
        svg.text(bar, end_x + 5, y_mid + SMALL * 0.36, self.shown(total), size=SMALL,
                 fill=TEXT if total is not None else MUTED, data_role="value")  # fmt: skip

    def _segment(self, segment, index: int, name: str, label: str, y_mid: float, offset: float,
                 value: float) -> None:  # fmt: skip
        """One part of a bar (the whole bar when not stacked), labelled inside if it fits."""
        svg, stacked = self.svg, self.stacked
        start, end = (offset, offset + value) if stacked else (0.0, value)
        x0, x1 = sorted((self.x_at(start), self.x_at(end)))
        colour = PALETTE[index % len(PALETTE)]
        if stacked:
            svg.sub(segment, "title").text = f"{label} {name}：{self.shown(value)}"
        svg.sub(segment, "rect", x=x0, y=y_mid - self.thickness / 2, width=max(x1 - x0, 0.0),
                height=self.thickness, fill=colour, stroke="#ffffff" if stacked else None,
                stroke_width=0.75 if stacked else None)  # fmt: skip
        if stacked and value:
            text_value = self.shown(value)
            if text_width(text_value, SMALL) + 6 <= x1 - x0:
                svg.text(segment, (x0 + x1) / 2, y_mid + SMALL * 0.36, text_value, size=SMALL,
                         anchor="middle", fill=ink_on(colour))  # fmt: skip
