"""Server-side SVG rendering of BPMN diagrams (workflows.render); no database needed.

Every diagram of the OMG MIWG reference models and of the demo diagrams in bpmn/ renders to
a clean SVG (no script, no style) that names every element its DI draws. Highlighting lands
on the highlighted groups only. The rasterising test draws each reference model in headless
Chromium next to the reference picture, under a Content-Security-Policy that forbids inline
styles and scripts, and saves the comparison to OW_RENDER_DIR (default build/render/):
<model>-compare.png, and demo-<name>.png for the demo diagrams.
"""

from __future__ import annotations

import base64
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree

from config import BASE_DIR
from tests.workflows.test_reference_models import REFERENCE_DIR
from workflows.errors import DiagramError
from workflows.loader import parse_bpmn
from workflows.render import STATES, diagram_names, list_diagrams, render_svg

SVG = "http://www.w3.org/2000/svg"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
IN_CI = os.environ.get("CI", "").lower() == "true"
RENDER_DIR = Path(os.environ.get("OW_RENDER_DIR", BASE_DIR / "build" / "render"))
DEMO_FILES = sorted((BASE_DIR / "bpmn").glob("*.bpmn"))
REFERENCE_FILES = sorted(REFERENCE_DIR.glob("*.bpmn")) if REFERENCE_DIR.is_dir() else []
MISSING = f"reference models not found at {REFERENCE_DIR} (set OW_REFERENCE_DIR)"
# the page that shows a rendering forbids inline styles and scripts, like the app's pages
CSP = "default-src 'none'; img-src data:"
COLUMN = 1300  # px: wider pictures are scaled down to this in the comparison page


def diagrams_of(files: list[Path]) -> list:
    """Return one pytest param per BPMNDiagram of each file: (path, diagram index)."""
    params = []
    for path in files:
        names = diagram_names(path.read_bytes(), path.name)
        for index in range(len(names)):
            label = path.stem if len(names) == 1 else f"{path.stem}#{index + 1}"
            params.append(pytest.param(path, index, id=label))
    return params


REFERENCE_DIAGRAMS = diagrams_of(REFERENCE_FILES)
DEMO_DIAGRAMS = diagrams_of(DEMO_FILES)


def reference_picture(path: Path, index: int) -> Path:
    """Return the reference PNG of a diagram: A.1.0.png, or C.4.0.2.png for the second."""
    numbered = path.with_name(f"{path.stem}.{index + 1}.png")
    return numbered if numbered.is_file() else path.with_suffix(".png")


def parse_svg(svg: str) -> etree._Element:
    root = etree.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{{{SVG}}}svg"
    return root


def groups_by_id(root: etree._Element) -> dict[str, etree._Element]:
    return {
        g.get("data-element-id"): g for g in root.iter(f"{{{SVG}}}g") if g.get("data-element-id")
    }


def assert_clean(svg: str) -> None:
    """No script, no inline style, no event handler, no external reference."""
    lowered = svg.lower()
    assert "<script" not in lowered
    assert "style=" not in lowered
    assert "<style" not in lowered
    assert "href" not in lowered
    assert not re.search(r"\son[a-z]+=", lowered)
    assert not svg.startswith("<?xml")


def check_rendering(path: Path, index: int) -> None:
    data = path.read_bytes()
    svg = render_svg(data, filename=path.name, diagram_index=index)
    assert_clean(svg)
    root = parse_svg(svg)
    x, y, width, height = (float(v) for v in root.get("viewBox").split())
    assert width > 40 and height > 40
    diagram = list(parse_bpmn(data, path.name).getroot().iter(f"{{{BPMNDI}}}BPMNDiagram"))[index]
    referenced = {
        di.get("bpmnElement")
        for di in diagram.iter(f"{{{BPMNDI}}}BPMNShape", f"{{{BPMNDI}}}BPMNEdge")
        if di.get("bpmnElement")
    }
    drawn = set(groups_by_id(root))
    assert referenced, f"{path.name}: the diagram draws nothing"
    assert referenced <= drawn, f"missing: {sorted(referenced - drawn)[:10]}"
    for group in root.iter(f"{{{SVG}}}g"):
        if group.get("data-element-id"):
            assert group.get("data-element-type")
            assert group.get("data-state") is None


@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason=MISSING)
@pytest.mark.parametrize(("path", "index"), REFERENCE_DIAGRAMS)
def test_reference_model_renders(path: Path, index: int) -> None:
    check_rendering(path, index)


@pytest.mark.parametrize(("path", "index"), DEMO_DIAGRAMS)
def test_demo_diagram_renders(path: Path, index: int) -> None:
    check_rendering(path, index)


@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason=MISSING)
def test_every_reference_picture_has_its_diagram() -> None:
    """21 models, 25 diagrams (C.4.0 has four, C.5.0 two), one picture per diagram."""
    assert len(REFERENCE_FILES) == 21
    assert len(DEMO_FILES) == 5  # with the planning permit's licence items' diagram
    pictures = {reference_picture(*param.values) for param in REFERENCE_DIAGRAMS}
    assert pictures == set(REFERENCE_DIR.glob("*.png"))
    assert len(pictures) == len(REFERENCE_DIAGRAMS) == 25


JOINT = BASE_DIR / "bpmn" / "joint-investment.bpmn"
HIGHLIGHT = {
    "Task_accept": "completed",
    "Task_ndrc": "completed",
    "Task_env": "active",
    "Task_land": "late",
    "Flow_accepted": "taken",
    "Flow_to_ndrc": "taken",
    "Flow_ndrc_done": "taken",
}


def paints(group: etree._Element) -> set[tuple[str, str]]:
    """Return the (attribute, value) colour pairs used inside a group."""
    found = set()
    for element in group.iter():
        for attribute in ("stroke", "fill", "stroke-width"):
            if element.get(attribute):
                found.add((attribute, element.get(attribute)))
    return found


def test_highlight_lands_on_the_highlighted_elements_only() -> None:
    svg = render_svg(JOINT.read_bytes(), filename=JOINT.name, highlight=HIGHLIGHT)
    assert_clean(svg)
    root = parse_svg(svg)
    groups = groups_by_id(root)
    for element_id, state in HIGHLIGHT.items():
        assert groups[element_id].get("data-state") == state, element_id
    state_colours = {("stroke", p.stroke) for p in STATES.values()}
    state_colours |= {("fill", p.fill) for p in STATES.values()}
    for element_id, group in groups.items():
        if element_id not in HIGHLIGHT:
            assert group.get("data-state") is None, element_id
            assert not paints(group) & state_colours, element_id
    completed = paints(groups["Task_ndrc"])
    assert ("stroke", "#2f855a") in completed and ("fill", "#f0fff4") in completed
    active = paints(groups["Task_env"])
    assert {("stroke", "#dd6b20"), ("fill", "#fffaf0"), ("stroke-width", "3")} <= active
    late = paints(groups["Task_land"])
    assert ("stroke", "#c53030") in late and ("fill", "#fff5f5") in late
    plain = paints(groups["Task_construction"])
    assert ("stroke", "#000000") in plain and ("fill", "#ffffff") in plain
    [path] = groups["Flow_to_ndrc"].iter(f"{{{SVG}}}path")
    assert path.get("stroke") == "#2f855a" and path.get("stroke-width") == "2.5"
    marker_id = re.fullmatch(r"url\(#(.+)\)", path.get("marker-end")).group(1)
    [marker] = [m for m in root.iter(f"{{{SVG}}}marker") if m.get("id") == marker_id]
    assert marker[0].get("fill") == "#2f855a"
    [plain_path] = groups["Flow_to_land"].iter(f"{{{SVG}}}path")
    assert plain_path.get("stroke") == "#000000"
    assert plain_path.get("marker-end") != path.get("marker-end")


def test_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown highlight state"):
        render_svg(JOINT.read_bytes(), highlight={"Task_ndrc": "done"})


def test_chinese_labels_are_drawn_as_text() -> None:
    svg = render_svg(JOINT.read_bytes(), filename=JOINT.name)
    assert "综合受理" in svg and "环评审批岗" in svg
    assert 'transform="rotate(-90' in svg  # lane names along the lane's band


def small_diagram(shapes: str, process: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="Defs" targetNamespace="t">
  <bpmn:process id="P" isExecutable="false">
    <bpmn:task id="T" name="Check &lt;a&gt; &amp; &quot;b&quot;"/>
    {process}
  </bpmn:process>
  {shapes}
</bpmn:definitions>""".encode()


def test_text_is_escaped_and_unknown_elements_are_drawn_as_boxes() -> None:
    data = small_diagram(
        """<bpmndi:BPMNDiagram id="D"><bpmndi:BPMNPlane id="Pl" bpmnElement="P">
        <bpmndi:BPMNShape id="T_di" bpmnElement="T">
          <dc:Bounds x="-50" y="-20" width="100" height="80"/></bpmndi:BPMNShape>
        <bpmndi:BPMNShape id="X_di" bpmnElement="Nowhere">
          <dc:Bounds x="200" y="0" width="100" height="80"/></bpmndi:BPMNShape>
        <bpmndi:BPMNEdge id="E_di" bpmnElement="Gone">
          <di:waypoint x="50" y="20"/><di:waypoint x="200" y="20"/></bpmndi:BPMNEdge>
        </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>"""
    )
    svg = render_svg(data, filename="small.bpmn")
    assert_clean(svg)
    assert "Check &lt;a&gt; &amp;" in svg
    root = parse_svg(svg)
    groups = groups_by_id(root)
    assert groups["T"].get("data-element-type") == "task"
    assert groups["Nowhere"].get("data-element-type") == "unknown"
    assert groups["Gone"].get("data-element-type") == "connector"
    x, y, width, height = (float(v) for v in root.get("viewBox").split())
    assert (x, y) == (-70, -40)  # the task at (-50, -20) with the 20 px margin
    assert x + width == 320


def test_a_huge_name_is_cut_not_a_hang() -> None:
    data = small_diagram(
        """<bpmndi:BPMNDiagram id="D"><bpmndi:BPMNPlane id="Pl" bpmnElement="P">
        <bpmndi:BPMNShape id="L_di" bpmnElement="L">
          <dc:Bounds x="0" y="0" width="36" height="36"/></bpmndi:BPMNShape>
        </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>""",
        process=f'<bpmn:endEvent id="L" name="{"x" * 300_000} {"审" * 300_000}"/>',
    )
    started = time.monotonic()
    svg = render_svg(data)
    assert time.monotonic() - started < 10
    assert len(svg) < 1_300_000  # the <title> carries the whole name, the label 1000 chars


def test_file_without_a_diagram_is_refused_with_its_name() -> None:
    with pytest.raises(DiagramError) as raised:
        render_svg(small_diagram(""), filename="no-layout.bpmn")
    assert "no-layout.bpmn" in str(raised.value)
    [finding] = raised.value.findings
    assert finding.code == "no-diagram" and finding.filename == "no-layout.bpmn"
    assert "BPMNDiagram" in finding.message


def test_diagram_index_out_of_range_is_refused() -> None:
    with pytest.raises(DiagramError) as raised:
        render_svg(JOINT.read_bytes(), filename=JOINT.name, diagram_index=1)
    assert raised.value.findings[0].code == "no-such-diagram"


def test_refused_input_is_not_drawn() -> None:
    with pytest.raises(DiagramError):
        render_svg(b'<!DOCTYPE x [<!ENTITY a "b">]><x/>', filename="evil.bpmn")


@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason=MISSING)
def test_diagrams_of_one_file_are_picked_by_index() -> None:
    data = (REFERENCE_DIR / "C.4.0.bpmn").read_bytes()
    first, second = (render_svg(data, diagram_index=i) for i in (0, 1))
    assert first != second
    assert set(groups_by_id(parse_svg(second))) - set(groups_by_id(parse_svg(first)))


# --- a file of several diagrams: each listed, each drawn, the right one by default ---------

SEVERAL = Path(__file__).parent / "data" / "several-diagrams.bpmn"


def referenced_in(data: bytes, diagram_id: str) -> set[str]:
    """Return the elements the DI of one BPMNDiagram (by id) refers to."""
    root = parse_bpmn(data, "x.bpmn").getroot()
    [diagram] = [d for d in root.iter(f"{{{BPMNDI}}}BPMNDiagram") if d.get("id") == diagram_id]
    return {
        di.get("bpmnElement")
        for di in diagram.iter(f"{{{BPMNDI}}}BPMNShape", f"{{{BPMNDI}}}BPMNEdge")
    }


def test_every_diagram_of_a_file_is_listed_with_what_it_shows() -> None:
    listed = list_diagrams(SEVERAL.read_bytes(), SEVERAL.name)
    assert [(d.id, d.name, d.shapes, d.shows_kind, d.shows_id) for d in listed] == [
        ("Diagram_supplement", "", 3, "subProcess", "Sub_supplement"),
        ("Diagram_archive", "", 7, "process", "Process_archive"),
        ("Diagram_main", "受理主流程", 5, "collaboration", "Collaboration_main"),
    ]
    # a diagram without a name is labelled by the sub-process or process it shows
    assert [d.label for d in listed] == ["补正材料", "归档说明", "受理主流程"]
    assert [d.is_sub_process for d in listed] == [True, False, False]
    assert [d.executable for d in listed] == [False, False, True]
    assert [d.index for d in listed] == [0, 1, 2]


def test_each_diagram_is_drawn_with_its_own_shapes() -> None:
    data = SEVERAL.read_bytes()
    drawn_sets = {}
    for info in list_diagrams(data):
        svg = render_svg(data, filename=SEVERAL.name, diagram_id=info.id)
        assert_clean(svg)
        root = parse_svg(svg)
        drawn = set(groups_by_id(root))
        assert drawn == referenced_in(data, info.id), info.id
        assert root.get("aria-label") == info.label  # its name, else what it shows, else its id
        drawn_sets[info.id] = drawn
    assert "Task_notify" in drawn_sets["Diagram_supplement"]
    assert "Task_accept" not in drawn_sets["Diagram_supplement"]
    assert {"Task_sort", "Task_shelve"} <= drawn_sets["Diagram_archive"]
    assert {"Pool_main", "Task_accept", "Sub_supplement"} <= drawn_sets["Diagram_main"]
    assert "Task_notify" not in drawn_sets["Diagram_main"]  # collapsed: its inside is drawn apart
    types = {
        g.get("data-element-id"): g.get("data-element-type")
        for g in parse_svg(render_svg(data, diagram_id="Diagram_main")).iter(f"{{{SVG}}}g")
    }
    assert types["Sub_supplement"] == "subProcess" and types["Pool_main"] == "participant"


def test_the_default_is_the_executable_diagram_not_the_first_nor_the_largest() -> None:
    data = SEVERAL.read_bytes()
    listed = list_diagrams(data)
    assert [d.id for d in listed if d.default] == ["Diagram_main"]
    assert render_svg(data) == render_svg(data, diagram_id="Diagram_main")
    assert render_svg(data) != render_svg(data, diagram_index=0)


def test_without_an_executable_process_the_default_is_the_largest() -> None:
    data = SEVERAL.read_bytes().replace(b'isExecutable="true"', b'isExecutable="false"')
    listed = list_diagrams(data)
    assert [d.id for d in listed if d.default] == ["Diagram_archive"]
    assert not any(d.executable for d in listed)
    assert "Task_shelve" in groups_by_id(parse_svg(render_svg(data)))


def test_a_diagram_without_an_id_or_with_a_repeated_one_gets_its_position() -> None:
    data = (
        SEVERAL.read_bytes()
        .replace(b'<bpmndi:BPMNDiagram id="Diagram_supplement">', b"<bpmndi:BPMNDiagram>")
        .replace(b'BPMNDiagram id="Diagram_archive"', b'BPMNDiagram id="Diagram_main"')
    )
    listed = list_diagrams(data)
    assert [d.id for d in listed] == ["#1", "Diagram_main", "#3"]
    assert [d.default for d in listed] == [False, False, True]
    assert "Task_notify" in groups_by_id(parse_svg(render_svg(data, diagram_id="#1")))
    assert "Task_accept" in groups_by_id(parse_svg(render_svg(data, diagram_id="#3")))


def test_an_unknown_diagram_id_is_refused_with_the_ids_there_are() -> None:
    with pytest.raises(DiagramError) as raised:
        render_svg(SEVERAL.read_bytes(), filename=SEVERAL.name, diagram_id="Diagram_nowhere")
    [finding] = raised.value.findings
    assert finding.code == "no-such-diagram" and finding.filename == SEVERAL.name
    assert "'Diagram_nowhere'" in finding.message
    assert "Diagram_supplement, Diagram_archive, Diagram_main" in finding.message


def test_highlights_apply_to_whichever_diagram_is_drawn() -> None:
    data = SEVERAL.read_bytes()
    marks = {"Task_accept": "completed", "Sub_supplement": "active", "Task_notify": "active",
             "Flow_s1": "taken", "Task_bind": "heat3"}  # fmt: skip
    expected = {
        "Diagram_supplement": {"Task_notify": "active", "Flow_s1": "taken"},
        "Diagram_archive": {"Task_bind": "heat3"},
        "Diagram_main": {"Task_accept": "completed", "Sub_supplement": "active"},
    }
    for diagram_id, states in expected.items():
        root = parse_svg(render_svg(data, diagram_id=diagram_id, highlight=marks,
                                    notes={"Task_bind": "3 | 1"}))  # fmt: skip
        shown = {
            k: g.get("data-state") for k, g in groups_by_id(root).items() if g.get("data-state")
        }
        assert shown == states, diagram_id
        notes = [g.get("data-note-for") for g in root.iter(f"{{{SVG}}}g") if g.get("data-note-for")]
        assert notes == (["Task_bind"] if diagram_id == "Diagram_archive" else [])


@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason=MISSING)
def test_reference_models_of_several_diagrams_are_listed_by_name() -> None:
    onboarding = list_diagrams((REFERENCE_DIR / "C.4.0.bpmn").read_bytes())
    assert [d.name for d in onboarding] == ["Onboarding employee", "IT", "Payroll", "Facilities"]
    assert [d.shows_kind for d in onboarding] == ["collaboration"] * 4
    assert [d.shapes for d in onboarding] == [27, 11, 9, 6]
    customer = list_diagrams((REFERENCE_DIR / "C.5.0.bpmn").read_bytes())
    assert [(d.name, d.shows_kind) for d in customer] == [
        ("Create New Customer", "collaboration"),
        ("Check for connected clients", "process"),
    ]
    # nothing there is executable: the default is the diagram with the most shapes
    assert [d.default for d in onboarding] == [True, False, False, False]
    assert [d.default for d in customer] == [True, False]
    data = (REFERENCE_DIR / "C.5.0.bpmn").read_bytes()
    second = render_svg(data, diagram_id=customer[1].id)
    assert set(groups_by_id(parse_svg(second))) == referenced_in(data, customer[1].id)


# Every kind of shape the renderer knows, one per cell: (tag, attributes, children).
MI_SEQUENTIAL = '<bpmn:multiInstanceLoopCharacteristics isSequential="true"/>'
GALLERY_ROWS: list[list[tuple[str, str, str]]] = [
    [
        (kind, "", "")
        for kind in (
            "task",
            "userTask",
            "serviceTask",
            "scriptTask",
            "sendTask",
            "receiveTask",
            "manualTask",
            "businessRuleTask",
        )
    ],
    [
        ("callActivity", "", ""),
        ("subProcess", "", ""),
        ("transaction", "", ""),
        ("adHocSubProcess", "", ""),
        ("subProcess", 'triggeredByEvent="true"', ""),
        ("task", "", "<bpmn:standardLoopCharacteristics/>"),
        ("task", "", MI_SEQUENTIAL),
        ("task", "", "<bpmn:multiInstanceLoopCharacteristics/>"),
        ("task", 'isForCompensation="true"', ""),
    ],
    [("startEvent", "", "")]
    + [("startEvent", "", f"<bpmn:{d}EventDefinition/>") for d in ("message", "timer")]
    + [("startEvent", "", f"<bpmn:{d}EventDefinition/>") for d in ("conditional", "signal")]
    + [
        ("startEvent", "", "<bpmn:messageEventDefinition/><bpmn:signalEventDefinition/>"),
        (
            "startEvent",
            'parallelMultiple="true"',
            "<bpmn:messageEventDefinition/><bpmn:signalEventDefinition/>",
        ),
        ("startEvent", 'isInterrupting="false"', "<bpmn:messageEventDefinition/>"),
    ],
    [
        ("intermediateCatchEvent", "", f"<bpmn:{d}EventDefinition/>")
        for d in ("message", "timer", "conditional", "link", "signal")
    ]
    + [("intermediateThrowEvent", "", "")]
    + [
        ("intermediateThrowEvent", "", f"<bpmn:{d}EventDefinition/>")
        for d in ("message", "signal", "escalation", "link", "compensate")
    ],
    [("endEvent", "", "")]
    + [
        ("endEvent", "", f"<bpmn:{d}EventDefinition/>")
        for d in (
            "message",
            "error",
            "escalation",
            "signal",
            "compensate",
            "cancel",
            "terminate",
        )
    ]
    + [("endEvent", "", "<bpmn:errorEventDefinition/><bpmn:signalEventDefinition/>")],
    [
        ("exclusiveGateway", "", ""),
        ("exclusiveGateway", "", "hidden-marker"),
        ("parallelGateway", "", ""),
        ("inclusiveGateway", "", ""),
        ("complexGateway", "", ""),
        ("eventBasedGateway", "", ""),
        ("eventBasedGateway", 'instantiate="true"', ""),
        ("eventBasedGateway", 'eventGatewayType="Parallel"', ""),
    ],
    [
        ("dataObjectReference", 'dataObjectRef="DO_1"', ""),
        ("dataObjectReference", 'dataObjectRef="DO_2"', '<bpmn:dataState name="signed"/>'),
        ("dataStoreReference", "", ""),
        ("textAnnotation", "", "<bpmn:text>A note that wraps over lines</bpmn:text>"),
        ("dataInput", "", ""),
        ("dataOutput", "", ""),
    ],
]
SIZES = {"Event": (36, 36), "Gateway": (50, 50), "data": (36, 50), "Store": (50, 50)}


def gallery() -> tuple[bytes, dict[str, str]]:
    """Build a diagram with one of each kind of shape; return it and id -> expected type."""
    elements, shapes, edges, expected = [], [], [], {}
    top = 80
    for row_number, row in enumerate(GALLERY_ROWS):
        for column, (tag, attributes, children) in enumerate(row):
            element_id = f"E_{row_number}_{column}"
            expected[element_id] = tag
            width, height = 100, 80
            for suffix, size in SIZES.items():
                if suffix in tag or (suffix == "data" and tag.startswith("data")):
                    width, height = size
            if tag == "textAnnotation":
                width, height = 110, 50
            x = 110 + column * 150 + (100 - width) / 2
            y = top + row_number * 130 + (80 - height) / 2
            di_extra = ' isExpanded="false"' if tag in ("subProcess", "transaction") else ""
            di_extra += ' isExpanded="false"' if tag in ("adHocSubProcess", "callActivity") else ""
            if children == "hidden-marker":
                children, di_extra = "", ' isMarkerVisible="false"'
            inner = re.findall(r"<bpmn:(\w+?)(?:EventDefinition|Characteristics)?[\s/>]", children)
            label = " ".join([tag, *inner, *re.findall(r'(\w+)="', attributes)])
            name = "" if tag == "textAnnotation" else f' name="{label}"'
            elements.append(
                f'<bpmn:{tag} id="{element_id}"{name} {attributes}>{children}</bpmn:{tag}>'
            )
            shapes.append(
                f'<bpmndi:BPMNShape id="{element_id}_di" bpmnElement="{element_id}"{di_extra}>'
                f'<dc:Bounds x="{x}" y="{y}" width="{width}" height="{height}"/></bpmndi:BPMNShape>'
            )
    bottom = top + len(GALLERY_ROWS) * 130
    # an expanded transaction with a start event, a task with an interrupting and a
    # non-interrupting boundary event, flows: default, conditional, association, data input
    elements.append(
        '<bpmn:transaction id="Tx" name="Expanded transaction">'
        '<bpmn:startEvent id="Tx_start"/>'
        '<bpmn:task id="Tx_task" name="Work" default="Flow_default">'
        '<bpmn:dataInputAssociation id="DIA"><bpmn:sourceRef>E_6_0</bpmn:sourceRef>'
        "</bpmn:dataInputAssociation></bpmn:task>"
        '<bpmn:endEvent id="Tx_end"/><bpmn:endEvent id="Tx_end2"/>'
        '<bpmn:sequenceFlow id="Flow_start" sourceRef="Tx_start" targetRef="Tx_task"/>'
        '<bpmn:sequenceFlow id="Flow_default" name="otherwise" sourceRef="Tx_task" '
        'targetRef="Tx_end"/>'
        '<bpmn:sequenceFlow id="Flow_conditional" name="if late" sourceRef="Tx_task" '
        'targetRef="Tx_end2"><bpmn:conditionExpression>late</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow></bpmn:transaction>"
        '<bpmn:boundaryEvent id="B_error" attachedToRef="Tx_task">'
        "<bpmn:errorEventDefinition/></bpmn:boundaryEvent>"
        '<bpmn:boundaryEvent id="B_timer" attachedToRef="Tx" cancelActivity="false">'
        "<bpmn:timerEventDefinition/></bpmn:boundaryEvent>"
        '<bpmn:group id="G" categoryValueRef="CV"/>'
        '<bpmn:association id="A" sourceRef="E_6_3" targetRef="E_0_0" '
        'associationDirection="One"/>'
    )
    for element_id, tag in (
        ("Tx", "transaction"),
        ("Tx_start", "startEvent"),
        ("Tx_task", "task"),
        ("Tx_end", "endEvent"),
        ("Tx_end2", "endEvent"),
        ("B_error", "boundaryEvent"),
        ("B_timer", "boundaryEvent"),
        ("G", "group"),
    ):
        expected[element_id] = tag
    boxes = {
        "Tx": (110, bottom, 560, 200),
        "Tx_start": (140, bottom + 82, 36, 36),
        "Tx_task": (230, bottom + 60, 100, 80),
        "Tx_end": (450, bottom + 42, 36, 36),
        "Tx_end2": (450, bottom + 132, 36, 36),
        "B_error": (262, bottom + 122, 36, 36),
        "B_timer": (600, bottom + 182, 36, 36),
        "G": (90, bottom - 20, 620, 250),
        "Nowhere": (860, bottom + 60, 100, 80),
    }
    expected["Nowhere"] = "unknown"
    for element_id, (x, y, width, height) in boxes.items():
        expanded = ' isExpanded="true"' if element_id == "Tx" else ""
        shapes.append(
            f'<bpmndi:BPMNShape id="{element_id}_di" bpmnElement="{element_id}"{expanded}>'
            f'<dc:Bounds x="{x}" y="{y}" width="{width}" height="{height}"/></bpmndi:BPMNShape>'
        )
    waypoints = {
        "Flow_start": [(176, bottom + 100), (230, bottom + 100)],
        "Flow_default": [
            (330, bottom + 80),
            (390, bottom + 80),
            (390, bottom + 60),
            (450, bottom + 60),
        ],
        "Flow_conditional": [
            (330, bottom + 120),
            (390, bottom + 120),
            (390, bottom + 150),
            (450, bottom + 150),
        ],
        "A": [(555, top + 6 * 130 + 25), (485, top + 6 * 130 + 25)],
        "DIA": [
            (160, top + 6 * 130 + 65),
            (160, bottom - 30),
            (280, bottom - 30),
            (280, bottom + 60),
        ],
        "Message_flow": [
            (760, top + 80),
            (760, top + 105),
            (1760, top + 105),
            (1760, bottom + 270),
        ],
    }
    for element_id, points in waypoints.items():
        expected[element_id] = {
            "A": "association",
            "DIA": "dataInputAssociation",
            "Message_flow": "messageFlow",
        }.get(element_id, "sequenceFlow")
        edges.append(
            f'<bpmndi:BPMNEdge id="{element_id}_di" bpmnElement="{element_id}">'
            + "".join(f'<di:waypoint x="{x}" y="{y}"/>' for x, y in points)
            + "</bpmndi:BPMNEdge>"
        )
    expected.update(Pool="participant", Outside="participant", Lane_a="lane", Lane_b="lane")
    lanes_split = top + 3 * 130 - 10
    shapes[:0] = [
        f'<bpmndi:BPMNShape id="{i}_di" bpmnElement="{i}" isHorizontal="true">'
        f'<dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}"/></bpmndi:BPMNShape>'
        for i, x, y, w, h in (
            ("Pool", 40, 40, 1780, bottom + 230 - 40),
            ("Lane_a", 70, 40, 1750, lanes_split - 40),
            ("Lane_b", 70, lanes_split, 1750, bottom + 230 - lanes_split),
            ("Outside", 40, bottom + 270, 1780, 60),
        )
    ]
    data = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="Gallery" targetNamespace="t">
  <bpmn:category id="C"><bpmn:categoryValue id="CV" value="Group label"/></bpmn:category>
  <bpmn:collaboration id="Collab">
    <bpmn:participant id="Pool" name="Horizontal pool" processRef="P"/>
    <bpmn:participant id="Outside" name="Black-box pool (no process)"/>
    <bpmn:messageFlow id="Message_flow" name="notice" sourceRef="E_0_4" targetRef="Outside"/>
  </bpmn:collaboration>
  <bpmn:process id="P" isExecutable="false">
    <bpmn:laneSet id="LS"><bpmn:lane id="Lane_a" name="Lane A"/>
      <bpmn:lane id="Lane_b" name="Lane B"/></bpmn:laneSet>
    <bpmn:dataObject id="DO_1" name="Form"/>
    <bpmn:dataObject id="DO_2" name="Files" isCollection="true"/>
    {"".join(elements)}
  </bpmn:process>
  <bpmndi:BPMNDiagram id="D" name="Gallery"><bpmndi:BPMNPlane id="Pl" bpmnElement="Collab">
    {"".join(shapes)}{"".join(edges)}
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>"""
    return data.encode(), expected


def test_gallery_draws_every_kind_of_shape() -> None:
    data, expected = gallery()
    svg = render_svg(data, filename="gallery.bpmn")
    assert_clean(svg)
    groups = groups_by_id(parse_svg(svg))
    assert {i: groups[i].get("data-element-type") for i in expected} == expected
    # a marker or icon inside every activity but the plain task, a ring set for events
    assert len(groups["E_0_1"]) > len(groups["E_0_0"])  # userTask icon
    assert 'stroke-dasharray="10 4 2 4"' in etree.tostring(groups["G"], encoding="unicode")
    assert "Group label" in etree.tostring(groups["G"], encoding="unicode")


# ---------------------------------------------------------------- rasterising


class Shooter:
    """Headless Chromium in a thread of its own.

    Playwright's sync API refuses to start while another sync Playwright runs in the same
    thread (tests/test_browser.py keeps one for the whole session), so this one lives in a
    worker thread and every call is handed to it.
    """

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render-shots")
        self.pool.submit(self._start).result()

    def _start(self) -> None:
        from playwright.sync_api import sync_playwright

        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        self.page = self.browser.new_page(viewport={"width": 2 * COLUMN + 60, "height": 400})
        self.console: list[str] = []
        self.page.on("console", lambda message: self.console.append(message.text))

    def _shoot(self, html: str, target: Path) -> dict:
        self.console.clear()
        self.page.set_content(html, wait_until="load")
        box = self.page.locator("svg").first.bounding_box()
        self.page.locator("table").screenshot(path=str(target))
        return {"box": box, "console": list(self.console)}

    def shoot(self, html: str, target: Path) -> dict:
        return self.pool.submit(self._shoot, html, target).result()

    def _stop(self) -> None:
        self.browser.close()
        self.playwright.stop()

    def close(self) -> None:
        self.pool.submit(self._stop).result()
        self.pool.shutdown()


@pytest.fixture(scope="module")
def shooter():
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM} (scripts/test.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    RENDER_DIR.mkdir(parents=True, exist_ok=True)
    shots = Shooter()
    yield shots
    shots.close()


def fit(svg: str, width: float) -> str:
    """Scale an SVG to a width (its viewBox keeps the drawing), the height in proportion."""
    root = parse_svg(svg)
    natural_width, natural_height = float(root.get("width")), float(root.get("height"))
    root.set("width", f"{width:.0f}")
    root.set("height", f"{natural_height * width / natural_width:.0f}")
    return etree.tostring(root, encoding="unicode")


def page(title: str, left: str, right: str = "") -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{title}</title></head><body>"
        "<table cellspacing='10'><tr>"
        f"<td valign='top'>{left}</td><td valign='top'>{right}</td>"
        "</tr></table></body></html>"
    )


def check_shot(result: dict, target: Path) -> None:
    box = result["box"]
    assert box is not None and box["width"] > 50 and box["height"] > 50, box
    assert target.stat().st_size > 5 * 1024
    refused = [m for m in result["console"] if "Content Security Policy" in m]
    assert not refused, refused


@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason=MISSING)
@pytest.mark.parametrize(("path", "index"), REFERENCE_DIAGRAMS)
def test_reference_model_rasterises_next_to_its_picture(shooter, path: Path, index: int) -> None:
    picture = reference_picture(path, index)
    svg = render_svg(path.read_bytes(), filename=path.name, diagram_index=index)
    encoded = base64.b64encode(picture.read_bytes()).decode("ascii")
    picture_width = int.from_bytes(picture.read_bytes()[16:20], "big")  # PNG IHDR width
    width = min(picture_width, COLUMN)
    image_tag = f"<img alt='reference' width='{width}' src='data:image/png;base64,{encoded}'>"
    ours = min(float(parse_svg(svg).get("width")) * 1.3, COLUMN)
    target = RENDER_DIR / f"{picture.stem}-compare.png"
    result = shooter.shoot(page(picture.stem, fit(svg, ours), image_tag), target)
    check_shot(result, target)


def test_gallery_rasterises(shooter) -> None:
    svg = render_svg(gallery()[0], filename="gallery.bpmn")
    target = RENDER_DIR / "gallery.png"
    check_shot(shooter.shoot(page("gallery", svg), target), target)


@pytest.mark.parametrize(("path", "index"), DEMO_DIAGRAMS)
def test_demo_diagram_rasterises(shooter, path: Path, index: int) -> None:
    highlight = HIGHLIGHT if path == JOINT else None
    svg = render_svg(path.read_bytes(), filename=path.name, highlight=highlight)
    target = RENDER_DIR / f"demo-{path.stem}.png"
    natural_width = float(parse_svg(svg).get("width"))
    result = shooter.shoot(page(path.stem, fit(svg, min(natural_width, 2 * COLUMN))), target)
    check_shot(result, target)
