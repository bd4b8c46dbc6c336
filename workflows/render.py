"""Server-side SVG rendering of BPMN 2.0 diagrams from their diagram interchange (DI).

`list_diagrams` lists every BPMNDiagram of a file (id, name, number of shapes, and the
process, collaboration or sub-process its plane shows) and marks the default one: the
diagram of the executable process (or of a collaboration with a pool for it), else the one
with the most shapes. `render_svg` draws one of them, by id or the default (its BPMNShape
bounds and BPMNEdge waypoints) as a standalone SVG document with optional highlighting of
flow nodes and sequence flows ("completed", "active", "taken", "late"; "added", "removed",
"changed" for the difference of two versions; "heat1" to "heat5" for a heat map) and
optional short notes drawn above shapes (a heat map's figures). Highlights and notes name
elements, so they land on whichever diagram is drawn.

The SVG is meant to be embedded inline in pages served under a Content-Security-Policy
that forbids inline styles and scripts, so it uses presentation attributes only: no
<style> element, no style= attribute, no script, no event handler. Arrowheads are <defs>
markers whose ids carry a prefix derived from the input, so two different renderings on
one page do not share ids.

Every drawn element is wrapped in <g data-element-id="..." data-element-type="...">; a
highlighted one also carries data-state. An edge without a bpmnElement (a connector some
tools write) uses its own DI id. A shape whose element is unknown is drawn as a dashed box.

Drawn: pools (horizontal and vertical, black-box pools), lanes, tasks with their type
icons, call activities, sub-processes (expanded, collapsed, event, transaction, ad hoc),
loop, multi-instance and compensation markers, start/intermediate/boundary/end events
with their definitions, gateways, data objects, inputs, outputs and stores, text
annotations, groups, sequence flows (default and conditional marks), message flows,
associations and data associations. BPMNLabel bounds place the labels of events,
gateways, data, flows and groups; names inside activities, pools and lanes are laid out
in the shape itself.

The input is parsed with `workflows.loader.parse_bpmn` (size cap, no DTD, no network).
Text widths are estimated, not measured: about 1 em for CJK characters, 0.55 em otherwise.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from .errors import DiagramError, Finding
from .i18n import _
from .lint import BPMN_NS, EVENTS
from .loader import parse_bpmn

BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
SVG_NS = "http://www.w3.org/2000/svg"

FONT_FAMILY = "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, sans-serif"
FONT_SIZE = 12.0  # names inside shapes
LABEL_SIZE = 11.0  # names beside shapes: events, gateways, data, flows
LINE_FACTOR = 1.25  # line height as a multiple of the font size
MARGIN = 20.0

STROKE = "#000000"
FILL = "#ffffff"
POOL_STROKE = "#333333"
LANE_STROKE = "#333333"
BAND_FILL = "#f5f7fa"
UNKNOWN_STROKE = "#888888"


@dataclass(frozen=True)
class Paint:
    """Stroke, fill and minimum outline width of one highlight state."""

    stroke: str
    fill: str
    width: float


STATES: dict[str, Paint] = {
    "completed": Paint("#2f855a", "#f0fff4", 2.0),
    "active": Paint("#dd6b20", "#fffaf0", 3.0),
    "taken": Paint("#2f855a", "#f0fff4", 2.5),
    "late": Paint("#c53030", "#fff5f5", 2.0),
    # the difference between two versions
    "added": Paint("#276749", "#c6f6d5", 3.0),
    "removed": Paint("#9b2c2c", "#fed7d7", 3.0),
    "changed": Paint("#975a16", "#fefcbf", 3.0),
    # a heat map, from little to much
    "heat1": Paint("#8a6d1f", "#fffbea", 1.5),
    "heat2": Paint("#a16207", "#fef3c7", 2.0),
    "heat3": Paint("#b45309", "#fde68a", 2.0),
    "heat4": Paint("#c2410c", "#fdba74", 2.5),
    "heat5": Paint("#b91c1c", "#f87171", 3.0),
}
NOTE_FILL = "#1a202c"
NOTE_BACK = "#fffff0"
PLAIN = Paint(STROKE, FILL, 0.0)

TASKS = {
    "task",
    "userTask",
    "serviceTask",
    "scriptTask",
    "sendTask",
    "receiveTask",
    "manualTask",
    "businessRuleTask",
}
SUB_PROCESSES = {"subProcess", "transaction", "adHocSubProcess"}
ACTIVITIES = TASKS | SUB_PROCESSES | {"callActivity"}
THROW_EVENTS = {"endEvent", "intermediateThrowEvent", "implicitThrowEvent"}
GATEWAYS = {
    "gateway",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "complexGateway",
    "eventBasedGateway",
}
DATA_OBJECTS = {"dataObject", "dataObjectReference", "dataInput", "dataOutput"}
DATA_STORES = {"dataStore", "dataStoreReference"}
NAMED_BESIDE = EVENTS | GATEWAYS | DATA_OBJECTS | DATA_STORES | {"message"}  # label beside
# called global tasks whose type marker a call activity shows
GLOBAL_TASKS = {
    "globalTask": "task",
    "globalUserTask": "userTask",
    "globalScriptTask": "scriptTask",
    "globalManualTask": "manualTask",
    "globalBusinessRuleTask": "businessRuleTask",
}

# Ideographs, kana, hangul, CJK punctuation and full-width forms: about 1 em wide each.
_WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
    "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]"
)
_TOKEN = re.compile(
    "\\s+|[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
    "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]|[^\\s"
    "\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
    "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]+"
)
# CJK punctuation that must not begin a line: it stays on the line before, even if long.
_NO_LINE_START = set("，。、；：？！）》」』】〕〉”’％,.;:?!)]}")


MAX_TEXT = 1000  # characters of a name that are drawn; the rest is cut (the <title> has all)


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """Estimate the width of text: CJK characters about 1 em, others about 0.55 em."""
    wide = len(_WIDE.findall(text))
    return (wide + 0.55 * (len(text) - wide)) * size


def wrap_text(
    text: str, width: float, size: float = FONT_SIZE, *, break_words: bool = True
) -> list[str]:
    """Wrap text into lines no wider than width (estimated): words for Latin, chars for CJK.

    A Latin word wider than the line is cut by characters when break_words is true, and
    left whole (overflowing) otherwise.
    """
    lines: list[str] = []
    width = max(width, size)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + "…"
    for paragraph in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = ""
        for token in _TOKEN.findall(paragraph):
            if token.isspace():
                if line:
                    line += " "
                continue
            candidate = line + token
            if text_width(candidate, size) <= width or not line.strip() or token in _NO_LINE_START:
                line = candidate
            else:
                lines.append(line.rstrip())
                line = token
            if break_words and line == token and text_width(line, size) > width:
                # a single word wider than the line is cut by characters
                *full, line = _cut(line, width, size)
                lines.extend(full)
        lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def _cut(word: str, width: float, size: float) -> list[str]:
    """Cut a word into pieces no wider than width, at least one character each."""
    pieces, piece, used = [], "", 0.0
    for char in word:
        char_width = text_width(char, size)
        if piece and used + char_width > width:
            pieces.append(piece)
            piece, used = "", 0.0
        piece += char
        used += char_width
    pieces.append(piece)
    return pieces


def _fmt(value: float) -> str:
    """Format a coordinate compactly: at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _points(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in points)


@dataclass(frozen=True)
class Box:
    """A rectangle in diagram coordinates."""

    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _float(value: str | None, default: float = 0.0) -> float:
    try:
        number = float(value) if value is not None else default
    except ValueError:
        return default
    return number if math.isfinite(number) else default


def _bounds(element: etree._Element) -> Box | None:
    found = element.find(f"{{{DC_NS}}}Bounds")
    if found is None:
        return None
    return Box(
        _float(found.get("x")),
        _float(found.get("y")),
        max(_float(found.get("width")), 0.0),
        max(_float(found.get("height")), 0.0),
    )


def _diagrams(root: etree._Element) -> list[etree._Element]:
    return list(root.iter(f"{{{BPMNDI_NS}}}BPMNDiagram"))


@dataclass(frozen=True)
class DiagramInfo:
    """One BPMNDiagram of a file, as a page lists it for the reader to choose."""

    id: str  # the BPMNDiagram's id; "#n" (n from 1) when it has none or repeats one
    index: int  # position in the file, from 0
    name: str  # the diagram's own name, "" if none
    shapes: int  # BPMNShape elements in its plane
    shows_id: str  # id of the element its plane shows, "" if none
    shows_kind: str  # "process", "collaboration", "subProcess", ... or "" if unknown
    shows_name: str  # that element's name (a collaboration: its participants' names)
    executable: bool  # shows the process that runs, or a collaboration with a pool for it
    default: bool  # the diagram drawn when none is asked for

    @property
    def label(self) -> str:
        """Return the diagram's name, else the name of what it shows, else its id."""
        return self.name or self.shows_name or self.id

    @property
    def is_sub_process(self) -> bool:
        """Return whether the diagram is a drill-down of a sub-process."""
        return self.shows_kind in SUB_PROCESSES


def _index_ids(root: etree._Element) -> dict[str, etree._Element]:
    index: dict[str, etree._Element] = {}
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        element_id = element.get("id")
        if element_id:
            index.setdefault(element_id, element)
    return index


def _ref(index: dict[str, etree._Element], ref: str | None) -> etree._Element | None:
    """Find the element a reference names, with or without a namespace prefix."""
    if not ref:
        return None
    found = index.get(ref)
    if found is None and ":" in ref:
        found = index.get(ref.split(":", 1)[1])
    return found


def _shown_name(index: dict[str, etree._Element], element: etree._Element) -> str:
    name = (element.get("name") or "").strip()
    if name or _local(element) != "collaboration":
        return name
    pools = [
        (p.get("name") or "").strip() for p in element.iterchildren(f"{{{BPMN_NS}}}participant")
    ]
    return ", ".join(p for p in pools if p)


def _describe(root: etree._Element, diagrams: list[etree._Element]) -> list[DiagramInfo]:
    index = _index_ids(root)
    runs = [
        p for p in root.iterchildren(f"{{{BPMN_NS}}}process") if p.get("isExecutable") == "true"
    ]
    main = runs[0].get("id") if runs else None  # the process the engine runs (engine.py)
    executable = {p.get("id") for p in runs}
    seen: set[str] = set()
    infos: list[tuple[tuple[int, int, int], dict]] = []
    for position, diagram in enumerate(diagrams):
        diagram_id = (diagram.get("id") or "").strip()
        if not diagram_id or diagram_id in seen:
            diagram_id = f"#{position + 1}"
        seen.add(diagram_id)
        plane = diagram.find(f"{{{BPMNDI_NS}}}BPMNPlane")
        shapes = 0 if plane is None else sum(1 for _ in plane.iter(f"{{{BPMNDI_NS}}}BPMNShape"))
        shown = _ref(index, plane.get("bpmnElement") if plane is not None else None)
        processes: set[str | None] = set()
        if shown is not None and _local(shown) == "process":
            processes = {shown.get("id")}
        elif shown is not None and _local(shown) == "collaboration":
            for pool in shown.iterchildren(f"{{{BPMN_NS}}}participant"):
                process = _ref(index, pool.get("processRef"))
                processes.add(process.get("id") if process is not None else None)
        runs_here = main is not None and main in processes, bool(processes & executable)
        fields = {
            "id": diagram_id,
            "index": position,
            "name": (diagram.get("name") or "").strip(),
            "shapes": shapes,
            "shows_id": shown.get("id") if shown is not None else "",
            "shows_kind": _local(shown) if shown is not None else "",
            "shows_name": _shown_name(index, shown) if shown is not None else "",
            "executable": any(runs_here),
        }
        infos.append(((int(runs_here[0]), int(runs_here[1]), shapes), fields))
    # the process that runs first, then any executable one, then the most shapes;
    # the earliest of equals
    best = max(range(len(infos)), key=lambda i: (infos[i][0], -i), default=-1)
    return [DiagramInfo(**fields, default=i == best) for i, (_rank, fields) in enumerate(infos)]


def list_diagrams(data: bytes, filename: str = "<diagram>") -> list[DiagramInfo]:
    """List every BPMNDiagram of a file in document order; exactly one is the default.

    The default shows the executable process (or a collaboration with a pool for it);
    without one, it is the diagram with the most shapes. Raises DiagramError when the
    loader refuses the file.
    """
    root = parse_bpmn(data, filename).getroot()
    return _describe(root, _diagrams(root))


def diagram_names(data: bytes, filename: str = "<diagram>") -> list[str]:
    """Return the name (or id) of each BPMNDiagram of a file, in document order."""
    root = parse_bpmn(data, filename).getroot()
    return [d.get("name") or d.get("id") or f"diagram {i}" for i, d in enumerate(_diagrams(root))]


def _refuse(filename: str, code: str, message: str) -> DiagramError:
    finding = Finding("error", code, message, filename=filename)
    return DiagramError(_("%(filename)s: cannot draw the diagram", filename=filename), [finding])


def _pick(
    infos: list[DiagramInfo], filename: str, diagram_id: str | None, diagram_index: int | None
) -> DiagramInfo:
    """Return the diagram asked for by id or index, else the default one."""
    if not infos:
        raise _refuse(
            filename,
            "no-diagram",
            "the file has no BPMNDiagram (diagram interchange) element, so there is no "
            "layout to draw",
        )
    if diagram_id is not None:
        for info in infos:
            if info.id == diagram_id:
                return info
        known = ", ".join(info.id for info in infos)
        raise _refuse(
            filename,
            "no-such-diagram",
            f"the file has no BPMNDiagram with id '{diagram_id[:100]}' (it has: {known})",
        )
    if diagram_index is not None:
        if not 0 <= diagram_index < len(infos):
            raise _refuse(
                filename,
                "no-such-diagram",
                f"diagram index {diagram_index} is out of range: the file has "
                f"{len(infos)} BPMNDiagram element(s)",
            )
        return infos[diagram_index]
    return next(info for info in infos if info.default)


def render_svg(
    data: bytes,
    *,
    filename: str = "<diagram>",
    highlight: dict[str, str] | None = None,
    notes: dict[str, str] | None = None,
    diagram_id: str | None = None,
    diagram_index: int | None = None,
    kind_name: Callable[[str], str] | None = None,
) -> str:
    """Draw one BPMNDiagram of a BPMN 2.0 file as a standalone SVG document string.

    The diagram is chosen by diagram_id (a DiagramInfo.id of list_diagrams), else by
    diagram_index, else it is the file's default diagram (see list_diagrams).
    highlight maps element ids (flow nodes, sequence flows) to "completed", "active",
    "taken", "late", "added", "removed", "changed" or "heat1".."heat5"; notes maps element
    ids to a short text drawn above the shape; ids not drawn in the diagram are ignored.
    Raises DiagramError when the file is refused by the loader, has no BPMNDiagram or not
    the one asked for, and ValueError for an unknown highlight state.
    kind_name names an element type ("userTask") in the reader's language for the shapes'
    tooltips (default: the type itself); the document is labelled with the diagram's label.
    """
    highlight = dict(highlight or {})
    unknown = sorted({state for state in highlight.values() if state not in STATES})
    if unknown:
        raise ValueError(
            f"unknown highlight state(s) {', '.join(map(repr, unknown))}; "
            f"expected one of {', '.join(STATES)}"
        )
    root = parse_bpmn(data, filename).getroot()
    diagrams = _diagrams(root)
    chosen = _pick(_describe(root, diagrams), filename, diagram_id, diagram_index)
    digest = hashlib.sha256(data)
    notes = {key: str(value)[:80] for key, value in (notes or {}).items()}
    digest.update(repr((chosen.index, sorted(highlight.items()), sorted(notes.items()))).encode())
    renderer = _Renderer(root, diagrams[chosen.index], highlight, "ow" + digest.hexdigest()[:8])
    renderer.notes = notes
    renderer.kind_name = kind_name or (lambda kind: kind)
    renderer.label = chosen.label
    return renderer.render()


def _marker_names(kind: str, element: etree._Element | None, expand: bool) -> list[str]:
    """Return the markers at the bottom of an activity, left to right."""
    markers: list[str] = []
    if kind in SUB_PROCESSES or kind == "callActivity":
        if expand:
            markers.append("expand")
        if kind == "adHocSubProcess":
            markers.append("adhoc")
    if element is not None:
        if element.find(f"{{{BPMN_NS}}}standardLoopCharacteristics") is not None:
            markers.append("loop")
        multi = element.find(f"{{{BPMN_NS}}}multiInstanceLoopCharacteristics")
        if multi is not None:
            sequential = (multi.get("isSequential") or "").lower() == "true"
            markers.append("sequential" if sequential else "parallel")
        if (element.get("isForCompensation") or "").lower() == "true":
            markers.append("compensation")
    return markers


@dataclass
class _Shape:
    di: etree._Element
    element: etree._Element | None
    kind: str
    box: Box
    element_id: str


class _Renderer:
    """Draws one BPMNDiagram; one instance per rendering."""

    def __init__(
        self,
        root: etree._Element,
        diagram: etree._Element,
        highlight: dict[str, str],
        prefix: str,
    ) -> None:
        self.root = root
        self.diagram = diagram
        self.highlight = highlight
        self.notes: dict[str, str] = {}
        self.kind_name: Callable[[str], str] = lambda kind: kind
        self.label = diagram.get("name") or diagram.get("id") or ""
        self.prefix = prefix
        self.index = _index_ids(root)
        self.font_sizes: dict[str, float] = {}
        for style in diagram.iter(f"{{{BPMNDI_NS}}}BPMNLabelStyle"):
            font = style.find(f"{{{DC_NS}}}Font")
            size = _float(font.get("size") if font is not None else None)
            if style.get("id") and 6 <= size <= 24:
                self.font_sizes[style.get("id")] = size
        self.svg = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS})
        self.defs = etree.SubElement(self.svg, f"{{{SVG_NS}}}defs")
        self.markers: set[str] = set()
        self.min_x = self.min_y = math.inf
        self.max_x = self.max_y = -math.inf

    # ----------------------------------------------------------------- helpers

    def _sub(self, parent: etree._Element, tag: str, **attributes: object) -> etree._Element:
        element = etree.SubElement(parent, f"{{{SVG_NS}}}{tag}")
        for key, value in attributes.items():
            if value is None:
                continue
            name = key.rstrip("_").replace("_", "-")
            element.set(name, _fmt(value) if isinstance(value, float | int) else str(value))
        return element

    # The shapes everything is drawn with; attributes in this order, None ones left out.
    def _rect(self, g, x, y, w, h, fill, stroke, width=None, *, rx=None, dash=None):
        return self._sub(g, "rect", x=x, y=y, width=w, height=h, rx=rx, fill=fill, stroke=stroke,
                         stroke_width=width, stroke_dasharray=dash)  # fmt: skip

    def _frame(self, g, box: Box, fill, stroke, width=None, *, rx=None, dash=None):
        return self._rect(g, box.x, box.y, box.w, box.h, fill, stroke, width, rx=rx, dash=dash)

    def _circle(self, g, cx, cy, r, fill, stroke, width=None, *, dash=None):
        return self._sub(g, "circle", cx=cx, cy=cy, r=r, fill=fill, stroke=stroke,
                         stroke_width=width, stroke_dasharray=dash)  # fmt: skip

    def _path(self, g, d, stroke, width=None, *, fill=None):
        return self._sub(g, "path", d=d, fill=fill, stroke=stroke, stroke_width=width)

    def _polygon(self, g, points, fill, stroke, width=None):
        return self._sub(g, "polygon", points=points, fill=fill, stroke=stroke, stroke_width=width)

    def _extend(self, x: float, y: float, right: float | None = None, bottom: float | None = None):
        self.min_x = min(self.min_x, x)
        self.min_y = min(self.min_y, y)
        self.max_x = max(self.max_x, x if right is None else right)
        self.max_y = max(self.max_y, y if bottom is None else bottom)

    def _lookup(self, ref: str | None) -> etree._Element | None:
        return _ref(self.index, ref)

    def _highlighted(self, ref: str | None) -> bool:
        element = self._lookup(ref)
        return element is not None and element.get("id") in self.highlight

    def _paint(self, element_id: str) -> Paint:
        return STATES.get(self.highlight.get(element_id, ""), PLAIN)

    def _group(self, parent, element_id: str, kind: str, name: str | None) -> etree._Element:
        group = self._sub(parent, "g", data_element_id=element_id, data_element_type=kind)
        state = self.highlight.get(element_id)
        if state:
            group.set("data-state", state)
        title = self._sub(group, "title")
        kind = self.kind_name(kind)
        title.text = f"{name} ({kind})" if name else kind
        return group

    def _font_size(self, di: etree._Element, default: float = FONT_SIZE) -> float:
        label = di.find(f"{{{BPMNDI_NS}}}BPMNLabel")
        if label is not None and label.get("labelStyle") in self.font_sizes:
            return self.font_sizes[label.get("labelStyle")]
        return default

    @staticmethod
    def _label_box(di: etree._Element) -> Box | None:
        label = di.find(f"{{{BPMNDI_NS}}}BPMNLabel")
        if label is None:
            return None
        box = _bounds(label)
        if box is None or box.w < 1 or box.h < 1:
            return None
        return box

    def _text(
        self,
        parent: etree._Element,
        text: str,
        box: Box,
        *,
        size: float = FONT_SIZE,
        align: str = "middle",
        valign: str = "middle",
        pad: float = 0.0,
        max_lines: int | None = None,
        fill: str = STROKE,
        transform: str | None = None,
        extend: bool = True,
        break_words: bool = True,
    ) -> Box | None:
        """Write text wrapped into box; return the box the lines take (estimated)."""
        lines = wrap_text(text, box.w - 2 * pad, size, break_words=break_words)
        if not lines:
            return None
        if max_lines is not None and len(lines) > max(max_lines, 1):
            lines = lines[: max(max_lines, 1)]
            last = lines[-1]
            while last and text_width(last + "…", size) > box.w - 2 * pad:
                last = last[:-1]
            lines[-1] = last.rstrip() + "…"
        line_height = size * LINE_FACTOR
        block = line_height * len(lines)
        if valign == "auto":  # centred when the lines fit the box, else from its top
            valign = "middle" if block <= box.h - 2 * pad else "top"
        if valign == "top":
            top = box.y + pad
        elif valign == "bottom":
            top = box.bottom - pad - block
        else:
            top = box.cy - block / 2
        if align == "start":
            x = box.x + pad
        elif align == "end":
            x = box.right - pad
        else:
            x = box.cx
        node = self._sub(parent, "text", x=x, y=top, font_size=size, text_anchor=align,
                         fill=fill, transform=transform)  # fmt: skip
        widest = 0.0
        for number, line in enumerate(lines):
            span = self._sub(node, "tspan", x=x, y=top + number * line_height + size * 0.95)
            span.text = line
            widest = max(widest, text_width(line, size))
        if align == "start":
            left = x
        elif align == "end":
            left = x - widest
        else:
            left = x - widest / 2
        used = Box(left, top, widest, block)
        if extend and transform is None:
            self._extend(used.x, used.y, used.right, used.bottom)
        return used

    def _marker(self, kind: str, colour: str) -> str:
        """Return url(#id) of an arrowhead marker, defining it on first use."""
        marker_id = f"{self.prefix}-{kind}-{colour.lstrip('#')}"
        if marker_id not in self.markers:
            self.markers.add(marker_id)
            start = kind.endswith("-start")
            marker = self._sub(
                self.defs,
                "marker",
                id=marker_id,
                viewBox="0 0 10 10",
                markerUnits="userSpaceOnUse",
                markerWidth=11 if kind == "sequence" else 10,
                markerHeight=11 if kind == "sequence" else 10,
                refX=9.5 if kind in ("sequence", "message") else 9,
                refY=5,
                orient="auto-start-reverse" if start else "auto",
            )
            if kind == "sequence":
                self._path(marker, "M 0 0 L 10 5 L 0 10 Z", "none", fill=colour)
            elif kind == "message":
                self._path(marker, "M 1 1 L 9.5 5 L 1 9 Z", colour, 1, fill=FILL)
            elif kind == "message-start":
                marker.set("refX", "0.5")
                marker.set("orient", "auto")
                self._circle(marker, 5, 5, 4.2, FILL, colour)
            else:  # open arrow: associations and data associations
                self._path(marker, "M 1 1 L 9 5 L 1 9", colour, 1.2, fill="none")
        return f"url(#{marker_id})"

    # ------------------------------------------------------------------ driver

    def render(self) -> str:
        shapes, edges = self._read_plane()
        self.expanded_ids = {s.element_id for s in shapes if self._is_expanded(s)}
        layers = self._layers(shapes)
        canvas = self._sub(
            self.svg,
            "g",
            font_family=FONT_FAMILY,
            font_size=FONT_SIZE,
            stroke_linejoin="round",
        )
        for layer in layers[:4]:
            for shape in layer:
                self._draw_shape(canvas, shape)
        # highlighted flows last, so a taken path stays visible where flows overlap
        edges.sort(key=lambda di: self._highlighted(di.get("bpmnElement")))
        for di in edges:
            self._draw_edge(canvas, di)
        for layer in layers[4:]:
            for shape in layer:
                self._draw_shape(canvas, shape)
        for shape in shapes:
            if shape.element_id in self.notes:
                self._draw_note(canvas, shape, self.notes[shape.element_id])
        self._frame_document()
        return etree.tostring(self.svg, encoding="unicode")

    def _read_plane(self) -> tuple[list[_Shape], list[etree._Element]]:
        """Return the shapes (with bounds) and the edges of the diagram's plane, in order."""
        plane = self.diagram.find(f"{{{BPMNDI_NS}}}BPMNPlane")
        shapes: list[_Shape] = []
        edges: list[etree._Element] = []
        self.drawn_refs: set[str] = set()
        if plane is None:
            return shapes, edges
        for di in plane.iter(f"{{{BPMNDI_NS}}}BPMNShape", f"{{{BPMNDI_NS}}}BPMNEdge"):
            if _local(di) == "BPMNEdge":
                edges.append(di)
                continue
            box = _bounds(di)
            if box is None:
                continue
            ref = di.get("bpmnElement") or di.get("id") or "shape"
            element = self._lookup(di.get("bpmnElement"))
            kind = _local(element) if element is not None else "unknown"
            element_id = element.get("id") if element is not None else ref
            shape = _Shape(di, element, kind, box, element_id)
            shapes.append(shape)
            self.drawn_refs.add(shape.element_id)
        return shapes, edges

    def _layers(self, shapes: list[_Shape]) -> list[list[_Shape]]:
        """Sort shapes into drawing layers: pools, lanes (largest first), expanded
        sub-processes (largest first), the rest, then (after the edges) boundary events and
        groups."""
        layers: list[list[_Shape]] = [[], [], [], [], [], []]
        for shape in shapes:
            if shape.kind == "participant":
                layers[0].append(shape)
            elif shape.kind == "lane":
                layers[1].append(shape)
            elif shape.element_id in self.expanded_ids:
                layers[2].append(shape)
            elif shape.kind == "boundaryEvent":
                layers[4].append(shape)
            elif shape.kind == "group":
                layers[5].append(shape)
            else:
                layers[3].append(shape)
        layers[1].sort(key=lambda s: -s.box.w * s.box.h)
        layers[2].sort(key=lambda s: -s.box.w * s.box.h)
        return layers

    def _frame_document(self) -> None:
        """Set the document's view box around what was drawn, its size and its label."""
        if not math.isfinite(self.min_x):
            self.min_x = self.min_y = 0.0
            self.max_x = self.max_y = 0.0
        x = self.min_x - MARGIN
        y = self.min_y - MARGIN
        width = self.max_x - self.min_x + 2 * MARGIN
        height = self.max_y - self.min_y + 2 * MARGIN
        self.svg.set("viewBox", f"{_fmt(x)} {_fmt(y)} {_fmt(width)} {_fmt(height)}")
        self.svg.set("width", _fmt(width))
        self.svg.set("height", _fmt(height))
        self.svg.set("role", "img")
        self.svg.set("aria-label", self.label or "BPMN")
        if not len(self.defs):
            self.svg.remove(self.defs)

    def _draw_note(self, canvas: etree._Element, shape: _Shape, text: str) -> None:
        """Draw a short text on a pale box just above a shape's top edge."""
        width = text_width(text, LABEL_SIZE) + 6
        height = LABEL_SIZE * LINE_FACTOR + 2
        x = shape.box.x + shape.box.w / 2 - width / 2
        y = shape.box.y - height - 2
        group = self._sub(canvas, "g", data_note_for=shape.element_id)
        self._rect(group, x, y, width, height, NOTE_BACK, NOTE_FILL, 0.5, rx=3)  # fmt: skip
        label = self._sub(group, "text", x=x + width / 2, y=y + height - 4, font_size=LABEL_SIZE,
                          fill=NOTE_FILL, text_anchor="middle")  # fmt: skip
        label.text = text
        self._extend(x, y, x + width, y + height)

    def _is_expanded(self, shape: _Shape) -> bool:
        """isExpanded when the DI says; else a sub-process is expanded if its children show."""
        if shape.kind not in SUB_PROCESSES and shape.kind != "callActivity":
            return False
        flag = shape.di.get("isExpanded")
        if flag is not None:
            return flag.strip().lower() == "true"
        if shape.kind == "callActivity" or shape.element is None:
            return False
        return any(
            child.get("id") in self.drawn_refs
            for child in shape.element.iterchildren(etree.Element)
        )

    # ------------------------------------------------------------------ shapes

    def _name(self, shape: _Shape) -> str:
        element = shape.element
        if element is None:
            return ""
        name = element.get("name") or ""
        kind = shape.kind
        if kind == "textAnnotation":
            text = element.find(f"{{{BPMN_NS}}}text")
            return (text.text or "").strip() if text is not None else ""
        if kind == "group":
            value = self._lookup(element.get("categoryValueRef"))
            return (value.get("value") or "") if value is not None else name
        if not name and kind in ("dataObjectReference", "dataStoreReference"):
            target = self._lookup(element.get("dataObjectRef") or element.get("dataStoreRef"))
            if target is not None:
                name = target.get("name") or ""
        if kind in ("dataObjectReference", "dataObject", "dataInput", "dataOutput"):
            state = element.find(f"{{{BPMN_NS}}}dataState")
            if state is not None and state.get("name") and f"[{state.get('name')}]" not in name:
                name = f"{name}\n[{state.get('name')}]" if name else f"[{state.get('name')}]"
        return name

    def _draw_shape(self, canvas: etree._Element, shape: _Shape) -> None:
        name = self._name(shape)
        group = self._group(canvas, shape.element_id, shape.kind, name)
        paint = self._paint(shape.element_id)
        box = shape.box
        self._extend(box.x, box.y, box.right, box.bottom)
        kind = shape.kind
        if kind == "participant":
            self._draw_pool(group, shape, name, paint)
        elif kind == "lane":
            self._draw_lane(group, shape, name, paint)
        elif kind in ACTIVITIES:
            self._draw_activity(group, shape, name, paint)
        elif kind in NAMED_BESIDE:
            self._draw_named_beside(group, shape, paint)
            self._external_label(group, shape, name)
        elif kind == "textAnnotation":
            self._draw_annotation(group, shape, name, paint)
        elif kind == "group":
            self._draw_group(group, shape, name, paint)
        else:
            self._frame(
                group,
                box,
                paint.fill if paint is not PLAIN else FILL,
                paint.stroke if paint is not PLAIN else UNKNOWN_STROKE,
                max(1.0, paint.width),
                rx=4,
                dash="4 3",
            )
            self._text(group, name or kind, box, pad=4, max_lines=max(1, int(box.h // 15)))

    def _draw_named_beside(self, group, shape: _Shape, paint: Paint) -> None:
        """Draw an event, gateway, data object or store, or message (its name goes beside)."""
        kind, box = shape.kind, shape.box
        if kind in EVENTS:
            self._draw_event(group, shape, paint)
        elif kind in GATEWAYS:
            self._draw_gateway(group, shape, paint)
        elif kind in DATA_OBJECTS:
            self._draw_data_object(group, shape, paint)
        elif kind in DATA_STORES:
            self._draw_data_store(group, box, paint)
        else:
            self._envelope(group, box.x, box.y, box.w, box.h, paint.stroke, FILL, 1.5)

    def _band_text(self, group, name: str, box: Box, horizontal: bool, size: float) -> None:
        """Write a pool or lane name along its band: rotated for horizontal pools."""
        if not name:
            return
        band = min(30.0, box.w if horizontal else box.h)
        if horizontal:
            cx, cy = box.x + band / 2, box.cy
            frame = Box(cx - box.h / 2, cy - band / 2, box.h, band)
            self._text(
                group,
                name,
                frame,
                size=size,
                pad=4,
                max_lines=2,
                transform=f"rotate(-90 {_fmt(cx)} {_fmt(cy)})",
            )
        else:
            frame = Box(box.x, box.y, box.w, band)
            self._text(group, name, frame, size=size, pad=4, max_lines=2, extend=False)

    def _draw_pool(self, group, shape: _Shape, name: str, paint: Paint) -> None:
        box = shape.box
        horizontal = (shape.di.get("isHorizontal") or "true").strip().lower() != "false"
        stroke = paint.stroke if paint is not PLAIN else POOL_STROKE
        width = max(1.5, paint.width)
        self._frame(group, box, paint.fill if paint is not PLAIN else FILL, stroke, width)
        size = self._font_size(shape.di)
        element = shape.element
        black_box = element is not None and not element.get("processRef")
        if black_box:
            self._text(group, name, box, size=size, pad=6, max_lines=3)
            return
        band = min(30.0, box.w if horizontal else box.h)
        if horizontal:
            self._rect(group, box.x, box.y, band, box.h, BAND_FILL, stroke, width)
        else:
            self._rect(group, box.x, box.y, box.w, band, BAND_FILL, stroke, width)
        self._band_text(group, name, box, horizontal, size)
        if (
            element is not None
            and element.find(f"{{{BPMN_NS}}}participantMultiplicity") is not None
        ):
            self._bars(group, box.cx, box.bottom - 16, paint.stroke, vertical=True)

    def _draw_lane(self, group, shape: _Shape, name: str, paint: Paint) -> None:
        box = shape.box
        horizontal = (shape.di.get("isHorizontal") or "true").strip().lower() != "false"
        stroke = paint.stroke if paint is not PLAIN else LANE_STROKE
        self._frame(
            group, box, paint.fill if paint is not PLAIN else "none", stroke, max(1.0, paint.width)
        )
        band = min(30.0, box.w if horizontal else box.h)
        if horizontal:
            d = f"M {_fmt(box.x + band)} {_fmt(box.y)} V {_fmt(box.bottom)}"
        else:
            d = f"M {_fmt(box.x)} {_fmt(box.y + band)} H {_fmt(box.right)}"
        self._path(group, d, stroke, 0.75, fill="none")
        self._band_text(group, name, box, horizontal, self._font_size(shape.di))

    # -------------------------------------------------------------- activities

    def _draw_activity(self, group, shape: _Shape, name: str, paint: Paint) -> None:
        box = shape.box
        element = shape.element
        kind = shape.kind
        expanded = shape.element_id in self.expanded_ids
        stroke = paint.stroke
        fill = paint.fill
        width = max(1.5, paint.width)
        if kind == "callActivity":
            width = max(4.0, paint.width)
        event_sub = element is not None and element.get("triggeredByEvent") == "true"
        radius = min(10.0, box.w / 4, box.h / 4)
        inset = width / 2 if kind == "callActivity" else 0.0
        self._rect(
            group,
            box.x + inset,
            box.y + inset,
            max(box.w - 2 * inset, 0.0),
            max(box.h - 2 * inset, 0.0),
            fill,
            stroke,
            width,
            rx=radius,
            dash="5 3" if event_sub else None,
        )
        if kind == "transaction" and box.w > 8 and box.h > 8:
            self._rect(
                group,
                box.x + 3,
                box.y + 3,
                box.w - 6,
                box.h - 6,
                "none",
                stroke,
                1.2,
                rx=max(radius - 3, 0.0),
            )
        marker_kind = kind
        if kind == "callActivity" and element is not None:
            called = self._lookup(element.get("calledElement"))
            if called is not None:
                marker_kind = GLOBAL_TASKS.get(_local(called), kind)
        has_icon = self._task_icon(group, marker_kind, box.x + 6, box.y + 6, stroke, fill)

        markers = _marker_names(kind, element, expand=not expanded and marker_kind == kind)
        self._activity_markers(group, box, markers, stroke)

        size = self._font_size(shape.di)
        if expanded:
            text_box = Box(box.x + (24 if has_icon else 6), box.y + 4, box.w - 30, 34)
            self._text(
                group, name, text_box, size=size, align="start", valign="top", pad=2, max_lines=2
            )
        else:
            self._inner_label(group, name, box, size, has_icon, 18.0 if markers else 0.0)

    def _inner_label(self, g, name: str, box: Box, size: float, icon: bool, reserved: float):
        """Centre a name inside an activity, clear of its type icon and bottom markers.

        The font shrinks by up to two pixels when the name does not fit, then the name may
        pass beside the icon; one that does not fit even then is cut with an ellipsis (the
        full name is in the group's <title>).
        """
        if not name:
            return
        bottom = box.bottom - reserved - 2
        inner = box.w - 10
        attempts = [(size, icon), (size - 1, icon), (size - 2, icon), (size - 2, False)]
        for current, avoid_icon in attempts:
            lines = wrap_text(name, inner, current)
            block = len(lines) * current * LINE_FACTOR
            top = (box.y + bottom) / 2 - block / 2
            if top < box.y + 2:
                continue
            if avoid_icon:
                icon_bottom = box.y + 24
                clash = any(
                    top + i * current * LINE_FACTOR < icon_bottom
                    and box.cx - text_width(line, current) / 2 < box.x + 25
                    for i, line in enumerate(lines)
                )
                if clash:
                    top = icon_bottom
                    if top + block > bottom:
                        continue
            self._text(g, name, Box(box.x + 5, top, inner, block), size=current, valign="top")
            return
        current = size - 2
        top = box.y + (22 if icon else 3)
        height = max(bottom - top, current * LINE_FACTOR)
        self._text(
            g,
            name,
            Box(box.x + 5, top, inner, height),
            size=current,
            valign="top",
            max_lines=max(1, int(height // (current * LINE_FACTOR))),
        )

    # Long: one branch per task type, each the few drawing calls of its icon; split, each
    # piece would be a function called from one place.
    def _task_icon(self, g, kind: str, x: float, y: float, stroke: str, fill: str) -> bool:
        """Draw the type marker of a task in the 16x16 square at x, y; return whether one was."""
        if kind == "userTask":
            self._path(
                g,
                f"M {_fmt(x + 1)} {_fmt(y + 16)} v -3 c 0 -4 3 -5.5 7 -5.5 c 4 0 7 1.5 7 5.5 v 3 Z",
                stroke,
                1,
                fill=fill,
            )
            self._circle(g, x + 8, y + 4.5, 3.6, fill, stroke, 1)
            self._path(
                g, f"M {_fmt(x + 4.4)} {_fmt(y + 4)} c 1 -3 6 -3.5 7.2 0", stroke, 1, fill="none"
            )
            self._path(
                g,
                f"M {_fmt(x + 4.5)} {_fmt(y + 16)} v -3 M {_fmt(x + 11.5)} {_fmt(y + 16)} v -3",
                stroke,
                1,
                fill="none",
            )
        elif kind == "serviceTask":
            for cx, cy, outer in ((x + 6.5, y + 6.5, 6.5), (x + 11, y + 11, 6.0)):
                teeth = []
                for i in range(32):
                    angle = math.pi * 2 * (i - 0.5) / 32
                    radius = outer if (i // 2) % 2 == 0 else outer * 0.72
                    teeth.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
                self._polygon(g, _points(teeth), fill, stroke, 1)
                self._circle(g, cx, cy, outer * 0.32, fill, stroke, 1)
        elif kind == "scriptTask":
            self._path(
                g,
                f"M {_fmt(x + 4)} {_fmt(y)} h 11 c -4 3 -4 5 -1 8 c 3 3 3 5 -1 8 h -11 "
                f"c 4 -3 4 -5 1 -8 c -3 -3 -3 -5 1 -8 Z",
                stroke,
                1,
                fill=fill,
            )
            for dy in (4, 8, 12):
                self._path(
                    g, f"M {_fmt(x + 4 + (1 if dy == 8 else 0))} {_fmt(y + dy)} h 7", stroke, 1
                )
        elif kind in ("sendTask", "receiveTask"):
            filled = kind == "sendTask"
            self._envelope(
                g,
                x,
                y + 2,
                17,
                12,
                stroke,
                stroke if filled else fill,
                1,
                flap=fill if filled else stroke,
            )
        elif kind == "manualTask":
            self._path(
                g,
                f"M {_fmt(x)} {_fmt(y + 8)} c 0 -3 2 -5 4 -5 h 9 c 1.2 0 1.2 2 0 2 h -5 "
                f"h 8 c 1.2 0 1.2 2 0 2 h -8 h 8 c 1.2 0 1.2 2 0 2 h -8 h 7 c 1.2 0 1.2 2 0 2 "
                f"h -7 h 5 c 1.2 0 1.2 2 0 2 h -9 c -2 0 -4 -1.5 -4 -4 Z",
                stroke,
                1,
                fill=fill,
            )
        elif kind == "businessRuleTask":
            self._rect(g, x, y + 2, 17, 12, fill, stroke, 1)
            self._rect(g, x, y + 2, 17, 3.5, stroke, stroke, 1)
            self._path(
                g,
                f"M {_fmt(x)} {_fmt(y + 9.5)} h 17 M {_fmt(x + 5)} {_fmt(y + 5.5)} v 8.5",
                stroke,
                1,
            )
        else:
            return False
        return True

    def _envelope(self, g, x, y, w, h, stroke, fill, width, flap: str | None = None) -> None:
        self._rect(g, x, y, w, h, fill, stroke, width)
        self._path(
            g,
            f"M {_fmt(x)} {_fmt(y)} L {_fmt(x + w / 2)} {_fmt(y + h * 0.55)} "
            f"L {_fmt(x + w)} {_fmt(y)}",
            flap or stroke,
            width,
            fill="none",
        )

    def _bars(self, g, cx: float, top: float, colour: str, vertical: bool) -> None:
        for i in (-1, 0, 1):
            if vertical:
                self._rect(g, cx + i * 4.5 - 1, top, 2.2, 12, colour, "none")
            else:
                self._rect(g, cx - 6, top + 5 + i * 4.5 - 1, 12, 2.2, colour, "none")

    # Long: one branch per marker (loop, multi-instance, collapsed, ad hoc, compensation),
    # each the drawing calls of its glyph at the position computed once above them.
    def _activity_markers(self, g, box: Box, markers: list[str], stroke: str) -> None:
        """Draw loop, multi-instance, collapsed, ad hoc and compensation markers, bottom centre."""
        if not markers:
            return
        step = 17.0
        left = box.cx - step * len(markers) / 2
        top = box.bottom - 17
        for number, marker in enumerate(markers):
            x = left + number * step + 2.5
            cx = x + 6
            if marker == "expand":
                self._rect(g, x, top, 12, 12, FILL, stroke, 1)
                self._path(
                    g,
                    f"M {_fmt(cx)} {_fmt(top + 2.5)} v 7 M {_fmt(x + 2.5)} {_fmt(top + 6)} h 7",
                    stroke,
                    1.5,
                )
            elif marker == "loop":
                # a circular arrow: an arc clockwise from lower left over the top to lower
                # right, with the arrowhead at its end pointing along the arc
                cy = top + 6.5
                r = 5.0
                a0, a1 = math.radians(125), math.radians(55 + 360)
                x0, y0 = cx + r * math.cos(a0), cy + r * math.sin(a0)
                x1, y1 = cx + r * math.cos(a1), cy + r * math.sin(a1)
                self._path(
                    g,
                    f"M {_fmt(x0)} {_fmt(y0)} A {_fmt(r)} {_fmt(r)} 0 1 1 {_fmt(x1)} {_fmt(y1)}",
                    stroke,
                    1.3,
                    fill="none",
                )
                tx, ty = -math.sin(a1), math.cos(a1)  # direction of travel
                nx, ny = math.cos(a1), math.sin(a1)  # outwards
                head = [
                    (x1 + 2.2 * tx, y1 + 2.2 * ty),
                    (x1 - 1.8 * tx + 2.4 * nx, y1 - 1.8 * ty + 2.4 * ny),
                    (x1 - 1.8 * tx - 2.4 * nx, y1 - 1.8 * ty - 2.4 * ny),
                ]
                self._polygon(g, _points(head), stroke, "none")
            elif marker in ("parallel", "sequential"):
                self._bars(g, cx, top, stroke, vertical=marker == "parallel")
            elif marker == "adhoc":
                self._path(
                    g,
                    f"M {_fmt(x)} {_fmt(top + 7)} c 2 -4 4 -4 6 -1 c 2 3 4 3 6 -1",
                    stroke,
                    1.5,
                    fill="none",
                )
            elif marker == "compensation":
                cy = top + 6
                self._path(
                    g,
                    f"M {_fmt(x)} {_fmt(cy)} l 6 -4.5 v 9 Z M {_fmt(x + 6)} {_fmt(cy)} "
                    f"l 6 -4.5 v 9 Z",
                    stroke,
                    1,
                    fill="none",
                )

    # ------------------------------------------------------------------ events

    def _event_definitions(self, element: etree._Element) -> list[str]:
        kinds = []
        for child in element:
            if not isinstance(child.tag, str):
                continue
            local = _local(child)
            if local.endswith("EventDefinition"):
                kinds.append(local[: -len("EventDefinition")])
            elif local == "eventDefinitionRef":
                target = self._lookup((child.text or "").strip())
                if target is not None and _local(target).endswith("EventDefinition"):
                    kinds.append(_local(target)[: -len("EventDefinition")])
        return kinds

    def _draw_event(self, g, shape: _Shape, paint: Paint) -> None:
        box = shape.box
        element = shape.element
        kind = shape.kind
        cx, cy = box.cx, box.cy
        r = max(min(box.w, box.h) / 2, 2.0)
        stroke, fill = paint.stroke, paint.fill
        dashed = None
        if element is not None:
            if kind == "boundaryEvent" and element.get("cancelActivity") == "false":
                dashed = "4 2.5"
            if kind == "startEvent" and element.get("isInterrupting") == "false":
                dashed = "4 2.5"
        if kind == "endEvent":  # a thick ring (never dashed)
            width = max(min(4.0, max(r * 0.22, 2.0)), paint.width + 1)
        else:
            width = max(1.5, paint.width)
        self._circle(g, cx, cy, r - width / 2, fill, stroke, width, dash=dashed)
        if kind not in ("startEvent", "endEvent"):  # intermediate and boundary: a double ring
            inner = max(r - 3.5 - width / 2, 1.0)
            self._circle(g, cx, cy, inner, "none", stroke, 1.2, dash=dashed)
        definitions = self._event_definitions(element) if element is not None else []
        if not definitions:
            return
        if len(definitions) > 1:
            parallel = element is not None and element.get("parallelMultiple") == "true"
            marker = "parallelMultiple" if parallel else "multiple"
        else:
            marker = definitions[0]
        self._event_marker(g, marker, cx, cy, r / 18, kind in THROW_EVENTS, stroke, fill)

    # Long: one branch per event definition (message, timer, signal, error, ...), each the
    # drawing calls of its glyph, sharing the scale and the polygon helper defined first.
    def _event_marker(self, g, marker, cx, cy, s, throw: bool, stroke: str, fill: str) -> None:
        """Draw an event definition marker centred at cx, cy, scaled for a radius of 18 s."""

        def poly(points: list[tuple[float, float]], filled: bool, width: float = 1.2):
            self._polygon(
                g,
                _points([(cx + px * s, cy + py * s) for px, py in points]),
                stroke if filled else fill,
                stroke,
                width,
            )

        if marker == "message":
            w, h = 19 * s, 13 * s
            self._envelope(
                g,
                cx - w / 2,
                cy - h / 2,
                w,
                h,
                stroke,
                stroke if throw else fill,
                1.1,
                flap=fill if throw else stroke,
            )
        elif marker == "timer":
            self._circle(g, cx, cy, 10.5 * s, fill, stroke, 1.5)
            ticks = []
            for i in range(12):
                angle = math.pi * 2 * i / 12
                c, n = math.cos(angle), math.sin(angle)
                ticks.append(
                    f"M {_fmt(cx + 8.2 * s * c)} {_fmt(cy + 8.2 * s * n)} "
                    f"L {_fmt(cx + 10.2 * s * c)} {_fmt(cy + 10.2 * s * n)}"
                )
            self._path(g, " ".join(ticks), stroke, 1)
            self._path(
                g,
                f"M {_fmt(cx)} {_fmt(cy)} L {_fmt(cx + 1.5 * s)} {_fmt(cy - 7.5 * s)} "
                f"M {_fmt(cx)} {_fmt(cy)} L {_fmt(cx + 5.5 * s)} {_fmt(cy + 1.5 * s)}",
                stroke,
                1.3,
                fill="none",
            )
        elif marker == "error":
            poly([(-8, 8), (-3, -8), (2, 2), (8, -9), (3, 8), (-2, -2)], throw)
        elif marker == "escalation":
            poly([(0, -10), (7, 9), (0, 2), (-7, 9)], throw)
        elif marker == "signal":
            poly([(0, -10), (9, 6), (-9, 6)], throw)
        elif marker == "conditional":
            self._rect(g, cx - 7 * s, cy - 9 * s, 14 * s, 18 * s, fill, stroke, 1.2)
            lines = " ".join(
                f"M {_fmt(cx - 4.5 * s)} {_fmt(cy + dy * s)} h {_fmt(9 * s)}"
                for dy in (-5, -1.5, 2, 5.5)
            )
            self._path(g, lines, stroke, 1.2)
        elif marker == "link":
            poly([(-8, -3.5), (1, -3.5), (1, -8), (9, 0), (1, 8), (1, 3.5), (-8, 3.5)], throw)
        elif marker == "compensate":
            poly([(-9, 0), (-1, -6.5), (-1, 6.5)], throw)
            poly([(-1, 0), (7, -6.5), (7, 6.5)], throw)
        elif marker == "cancel":
            arm, half = 10.0, 2.6
            cross = self._cross(arm, half)
            rotated = [((px - py) * math.sqrt(0.5), (px + py) * math.sqrt(0.5)) for px, py in cross]
            poly(rotated, throw)
        elif marker == "terminate":
            self._circle(g, cx, cy, 11 * s, stroke, stroke)
        elif marker == "multiple":
            pentagon = [
                (10 * math.sin(math.pi * 2 * i / 5), -10 * math.cos(math.pi * 2 * i / 5))
                for i in range(5)
            ]
            poly(pentagon, throw)
        elif marker == "parallelMultiple":
            poly(self._cross(10.0, 3.0), throw)

    @staticmethod
    def _cross(arm: float, half: float) -> list[tuple[float, float]]:
        """Return the outline of a plus sign with arms of length arm and half-width half."""
        return [
            (-half, -arm),
            (half, -arm),
            (half, -half),
            (arm, -half),
            (arm, half),
            (half, half),
            (half, arm),
            (-half, arm),
            (-half, half),
            (-arm, half),
            (-arm, -half),
            (-half, -half),
        ]

    # ---------------------------------------------------------------- gateways

    def _draw_gateway(self, g, shape: _Shape, paint: Paint) -> None:
        box = shape.box
        stroke, fill = paint.stroke, paint.fill
        cx, cy = box.cx, box.cy
        diamond = [(cx, box.y), (box.right, cy), (cx, box.bottom), (box.x, cy)]
        self._polygon(g, _points(diamond), fill, stroke, max(1.5, paint.width))
        s = min(box.w, box.h) / 50
        element = shape.element
        kind = shape.kind

        def poly(points: list[tuple[float, float]], filled: bool = True):
            self._polygon(
                g,
                _points([(cx + px * s, cy + py * s) for px, py in points]),
                stroke if filled else fill,
                stroke,
                1,
            )

        if kind == "exclusiveGateway":
            # BPMN DI: the X shows only when isMarkerVisible is true (its default is false)
            if (shape.di.get("isMarkerVisible") or "false").strip().lower() == "true":
                cross = self._cross(12.0, 2.6)
                poly([((px - py) * math.sqrt(0.5), (px + py) * math.sqrt(0.5)) for px, py in cross])
        elif kind == "parallelGateway":
            poly(self._cross(14.0, 2.6))
        elif kind == "inclusiveGateway":
            self._circle(g, cx, cy, 11 * s, "none", stroke, 2.6 * s)
        elif kind == "complexGateway":
            arm = 13 * s
            diagonal = arm * math.sqrt(0.5)
            self._path(
                g,
                f"M {_fmt(cx)} {_fmt(cy - arm)} V {_fmt(cy + arm)} "
                f"M {_fmt(cx - arm)} {_fmt(cy)} H {_fmt(cx + arm)} "
                f"M {_fmt(cx - diagonal)} {_fmt(cy - diagonal)} "
                f"L {_fmt(cx + diagonal)} {_fmt(cy + diagonal)} "
                f"M {_fmt(cx + diagonal)} {_fmt(cy - diagonal)} "
                f"L {_fmt(cx - diagonal)} {_fmt(cy + diagonal)}",
                stroke,
                3.5 * s,
            )
        elif kind == "eventBasedGateway":
            instantiate = element is not None and element.get("instantiate") == "true"
            parallel = element is not None and element.get("eventGatewayType") == "Parallel"
            self._circle(g, cx, cy, 12.5 * s, "none", stroke, 1.1)
            if not instantiate:
                self._circle(g, cx, cy, 10 * s, "none", stroke, 1.1)
            if parallel:
                poly(self._cross(7.5, 1.6), filled=False)
            else:
                pentagon = [
                    (6.5 * math.sin(math.pi * 2 * i / 5), -6.5 * math.cos(math.pi * 2 * i / 5))
                    for i in range(5)
                ]
                poly(pentagon, filled=False)

    # -------------------------------------------------------------------- data

    def _draw_data_object(self, g, shape: _Shape, paint: Paint) -> None:
        box = shape.box
        stroke, fill = paint.stroke, paint.fill
        ear = min(12.0, box.w / 3, box.h / 3)
        x, y, r, b = box.x, box.y, box.right, box.bottom
        self._path(
            g,
            f"M {_fmt(x)} {_fmt(y)} H {_fmt(r - ear)} L {_fmt(r)} {_fmt(y + ear)} "
            f"V {_fmt(b)} H {_fmt(x)} Z",
            stroke,
            max(1.2, paint.width),
            fill=fill,
        )
        self._path(
            g, f"M {_fmt(r - ear)} {_fmt(y)} V {_fmt(y + ear)} H {_fmt(r)}", stroke, 1, fill="none"
        )
        kind = shape.kind
        element = shape.element
        if kind in ("dataInput", "dataOutput"):
            ax, ay = x + 4, y + 4
            arrow = [(0, 3), (6, 3), (6, 0), (11, 5), (6, 10), (6, 7), (0, 7)]
            self._polygon(
                g,
                _points([(ax + px, ay + py) for px, py in arrow]),
                stroke if kind == "dataOutput" else fill,
                stroke,
                1,
            )
        collection = False
        if element is not None:
            target = element
            if kind == "dataObjectReference":
                target = self._lookup(element.get("dataObjectRef"))
            if target is not None:
                collection = (target.get("isCollection") or "").lower() == "true"
        if collection and box.h >= 30:
            self._bars(g, box.cx, b - 15, stroke, vertical=True)

    def _draw_data_store(self, g, box: Box, paint: Paint) -> None:
        stroke, fill = paint.stroke, paint.fill
        rx, ry = box.w / 2, min(box.h * 0.12, 8.0)
        x, y, r, b = box.x, box.y, box.right, box.bottom
        width = max(1.2, paint.width)
        self._path(
            g,
            f"M {_fmt(x)} {_fmt(y + ry)} V {_fmt(b - ry)} "
            f"A {_fmt(rx)} {_fmt(ry)} 0 0 0 {_fmt(r)} {_fmt(b - ry)} V {_fmt(y + ry)}",
            stroke,
            width,
            fill=fill,
        )
        self._sub(
            g,
            "ellipse",
            cx=box.cx,
            cy=y + ry,
            rx=rx,
            ry=ry,
            fill=fill,
            stroke=stroke,
            stroke_width=width,
        )
        for offset in (ry * 0.8, ry * 1.6):
            self._path(
                g,
                f"M {_fmt(x)} {_fmt(y + ry + offset)} "
                f"A {_fmt(rx)} {_fmt(ry)} 0 0 0 {_fmt(r)} {_fmt(y + ry + offset)}",
                stroke,
                1,
                fill="none",
            )

    # -------------------------------------------------------------- artifacts

    def _draw_annotation(self, g, shape: _Shape, text: str, paint: Paint) -> None:
        box = shape.box
        arm = min(12.0, box.w)
        self._path(
            g,
            f"M {_fmt(box.x + arm)} {_fmt(box.y)} H {_fmt(box.x)} V {_fmt(box.bottom)} "
            f"H {_fmt(box.x + arm)}",
            paint.stroke,
            max(1.0, paint.width),
            fill="none",
        )
        self._text(
            g,
            text,
            box,
            size=self._font_size(shape.di),
            align="start",
            valign="top" if len(wrap_text(text, box.w - 10)) * 15 > box.h else "middle",
            pad=5,
        )

    def _draw_group(self, g, shape: _Shape, name: str, paint: Paint) -> None:
        box = shape.box
        self._frame(
            g,
            box,
            "none",
            paint.stroke if paint is not PLAIN else "#444444",
            max(1.5, paint.width),
            rx=10,
            dash="10 4 2 4",
        )
        if not name:
            return
        size = self._font_size(shape.di, LABEL_SIZE)
        label = self._label_box(shape.di)
        if label is not None:
            self._text(g, name, self._widen(label), size=size, break_words=False)
        else:
            self._text(
                g,
                name,
                Box(box.x, box.y + 4, box.w, size * 3),
                size=size,
                pad=6,
                valign="top",
                max_lines=2,
            )

    # ------------------------------------------------------------------ labels

    @staticmethod
    def _widen(box: Box) -> Box:
        """Give a tool-measured label box some slack for our estimated text widths."""
        extra = box.w * 0.1 + 6
        return Box(box.x - extra / 2, box.y, box.w + extra, box.h)

    def _external_label(self, g, shape: _Shape, name: str) -> None:
        """Label an event, gateway or data shape: its BPMNLabel bounds, else below it."""
        if not name:
            return
        size = self._font_size(shape.di, LABEL_SIZE)
        label = self._label_box(shape.di)
        if label is not None:
            self._text(g, name, self._widen(label), size=size, valign="auto", break_words=False)
            return
        box = shape.box
        width = max(90.0, box.w)
        self._text(
            g,
            name,
            Box(box.cx - width / 2, box.bottom + 4, width, size * 4),
            size=size,
            valign="top",
        )

    # ------------------------------------------------------------------- edges

    def _draw_edge(self, canvas: etree._Element, di: etree._Element) -> None:
        element = self._lookup(di.get("bpmnElement"))
        points = [(_float(p.get("x")), _float(p.get("y"))) for p in di.iter(f"{{{DI_NS}}}waypoint")]
        kind = _local(element) if element is not None else "connector"
        element_id = (
            element.get("id") if element is not None else di.get("bpmnElement") or di.get("id")
        )
        name = element.get("name") if element is not None else ""
        group = self._group(canvas, element_id or "edge", kind, name)
        state = self.highlight.get(element_id or "")
        paint = STATES[state] if state else PLAIN
        stroke = paint.stroke
        for x, y in points:
            self._extend(x, y)
        if len(points) < 2:
            return
        d = "M " + " L ".join(f"{_fmt(x)} {_fmt(y)}" for x, y in points)
        attributes: dict[str, object] = {"d": d, "fill": "none", "stroke": stroke}
        if kind == "sequenceFlow":
            attributes["stroke_width"] = max(1.5, paint.width)
            attributes["marker_end"] = self._marker("sequence", stroke)
        elif kind == "messageFlow":
            attributes["stroke_width"] = max(1.2, paint.width)
            attributes["stroke_dasharray"] = "6 4"
            attributes["marker_start"] = self._marker("message-start", stroke)
            attributes["marker_end"] = self._marker("message", stroke)
        elif kind == "association":
            attributes["stroke_width"] = max(1.2, paint.width)
            attributes["stroke_dasharray"] = "1.5 3"
            attributes["stroke_linecap"] = "round"
            direction = element.get("associationDirection") if element is not None else None
            if direction in ("One", "Both"):
                attributes["marker_end"] = self._marker("open", stroke)
            if direction == "Both":
                attributes["marker_start"] = self._marker("open-start", stroke)
        elif kind in ("dataInputAssociation", "dataOutputAssociation"):
            attributes["stroke_width"] = max(1.2, paint.width)
            attributes["stroke_dasharray"] = "1.5 3"
            attributes["stroke_linecap"] = "round"
            attributes["marker_end"] = self._marker("open", stroke)
        else:
            attributes["stroke"] = stroke if state else UNKNOWN_STROKE
            attributes["stroke_width"] = max(1.0, paint.width)
            attributes["stroke_dasharray"] = "2 3"
        self._sub(group, "path", **attributes)
        if kind == "sequenceFlow" and element is not None:
            self._flow_start_marker(group, element, points, stroke, max(1.5, paint.width))
        if name:
            size = self._font_size(di, LABEL_SIZE)
            label = self._label_box(di)
            if label is not None:
                self._text(
                    group, name, self._widen(label), size=size, valign="auto", break_words=False
                )
            else:
                self._edge_default_label(group, name, points, size)

    def _flow_start_marker(self, g, flow, points, stroke: str, width: float) -> None:
        """Draw the default slash or the conditional diamond at the start of a sequence flow."""
        source = self._lookup(flow.get("sourceRef"))
        if source is None:
            return
        (x0, y0), (x1, y1) = points[0], points[1]
        length = math.hypot(x1 - x0, y1 - y0)
        if length < 1:
            return
        dx, dy = (x1 - x0) / length, (y1 - y0) / length
        nx, ny = -dy, dx
        if source.get("default") == flow.get("id"):
            at = min(10.0, length / 2)
            cx, cy = x0 + dx * at, y0 + dy * at
            self._path(
                g,
                f"M {_fmt(cx - dx * 3 + nx * 5.5)} {_fmt(cy - dy * 3 + ny * 5.5)} "
                f"L {_fmt(cx + dx * 3 - nx * 5.5)} {_fmt(cy + dy * 3 - ny * 5.5)}",
                stroke,
                width,
            )
        elif (
            flow.find(f"{{{BPMN_NS}}}conditionExpression") is not None
            and _local(source) in ACTIVITIES
        ):
            diamond = [
                (x0, y0),
                (x0 + dx * 8 + nx * 5, y0 + dy * 8 + ny * 5),
                (x0 + dx * 16, y0 + dy * 16),
                (x0 + dx * 8 - nx * 5, y0 + dy * 8 - ny * 5),
            ]
            self._polygon(g, _points(diamond), FILL, stroke, 1.2)

    def _edge_default_label(self, g, name: str, points, size: float) -> None:
        """Place a flow's label near the middle of its path: above a horizontal stretch."""
        lengths = [
            math.hypot(b[0] - a[0], b[1] - a[1]) for a, b in zip(points, points[1:], strict=False)
        ]
        remaining = sum(lengths) / 2
        segment = len(lengths) - 1
        for number, length in enumerate(lengths):
            if remaining <= length:
                segment = number
                break
            remaining -= length
        (ax, ay), (bx, by) = points[segment], points[segment + 1]
        t = min(remaining / lengths[segment], 1.0) if lengths[segment] else 0.0
        mx, my = ax + (bx - ax) * t, ay + (by - ay) * t
        horizontal = abs(bx - ax) >= abs(by - ay)
        width = 90.0
        lines = wrap_text(name, width, size)
        block = len(lines) * size * LINE_FACTOR
        if horizontal:
            box = Box(mx - width / 2, my - 4 - block, width, block)
            self._text(g, name, box, size=size, valign="bottom")
        else:
            box = Box(mx + 6, my - block / 2, width, block)
            self._text(g, name, box, size=size, align="start")
