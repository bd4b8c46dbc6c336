"""Semantic diff of two versions of a diagram (workflows.diff); no database needed.

The same model written differently (identical bytes, pretty-printed, another namespace
prefix, another element order, another layout) gives an empty diff, for the demo diagrams in
bpmn/ and for every OMG MIWG reference model. Modified copies of the demo diagrams, built here
with lxml the way a modeler would save them (incoming/outgoing, lane refs and DI updated
too), give exactly the added, removed and changed elements an analyst expects, with one
detail per changed aspect.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from config import BASE_DIR
from tests.workflows.test_reference_models import REFERENCE_DIR
from workflows.diff import Detail, DiagramDiff, ElementChange, diff_diagrams
from workflows.errors import DiagramError
from workflows.lint import BPMN_NS, CAMUNDA_NS

BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
DI_NS = "http://www.omg.org/spec/DD/20100524/DI"
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS, "bpmndi": BPMNDI_NS, "dc": DC_NS, "di": DI_NS}
DEMO_DIR = BASE_DIR / "bpmn"
DEMO_FILES = sorted(DEMO_DIR.glob("*.bpmn"))
REFERENCE_FILES = sorted(REFERENCE_DIR.glob("*.bpmn")) if REFERENCE_DIR.is_dir() else []
ALL_FILES = [pytest.param(path, id=path.name) for path in DEMO_FILES + REFERENCE_FILES]
PLANNING = DEMO_DIR / "planning-permit.bpmn"
HOUSE = DEMO_DIR / "house-initial.bpmn"
# Elements whose children may be listed in any order without changing the model.
UNORDERED = ("definitions", "process", "subProcess", "collaboration", "laneSet", "lane")
QNAME = re.compile(r"^([A-Za-z_][\w.-]*):([A-Za-z_][\w.-]*)$")


@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason="reference models not found")
def test_reference_models_present() -> None:
    """The reference models are all there, so the parametrised tests below really run."""
    assert len(REFERENCE_FILES) == 21
    assert len(DEMO_FILES) == 5  # with the planning permit's licence items' diagram


# --- building modified copies -------------------------------------------------------------


def bpmn(name: str) -> str:
    """Return the Clark name of a BPMN element."""
    return f"{{{BPMN_NS}}}{name}"


def camunda(name: str) -> str:
    """Return the Clark name of a Camunda element or attribute."""
    return f"{{{CAMUNDA_NS}}}{name}"


def read(path: Path) -> etree._Element:
    """Parse a trusted diagram of this repository or of the reference models."""
    return etree.fromstring(path.read_bytes())


def dump(root: etree._Element, *, pretty: bool = False) -> bytes:
    """Serialise a diagram as a modeler would save it."""
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=pretty)


def by_id(root: etree._Element, key: str) -> etree._Element:
    """Return the one element with this id."""
    found = root.xpath("//*[@id=$key]", key=key)
    assert len(found) == 1, key
    return found[0]


def refs(root: etree._Element, tag: str, text: str) -> list[etree._Element]:
    """Return the incoming/outgoing/flowNodeRef elements naming an id."""
    return [element for element in root.iter(bpmn(tag)) if element.text == text]


def shape(root: etree._Element, key: str) -> etree._Element:
    """Return the DI shape or edge drawing an element."""
    (found,) = root.xpath("//bpmndi:*[@bpmnElement=$key]", key=key, namespaces=NS)
    return found


def edited(path: Path, edit: Callable[[etree._Element], None]) -> DiagramDiff:
    """Diff a demo diagram against a copy changed by edit."""
    root = read(path)
    edit(root)
    return diff_diagrams(path.read_bytes(), dump(root), new_name=f"edited-{path.name}")


def remove_element(root: etree._Element, key: str) -> None:
    """Delete an element with its lane refs, its incoming/outgoing mentions and its DI."""
    element = by_id(root, key)
    element.getparent().remove(element)
    for tag in ("flowNodeRef", "incoming", "outgoing"):
        for ref in refs(root, tag, key):
            ref.getparent().remove(ref)
    drawing = shape(root, key)
    drawing.getparent().remove(drawing)


def move_to_lane(root: etree._Element, key: str, lane: str) -> None:
    """List a flow node in another lane instead of its own."""
    (ref,) = refs(root, "flowNodeRef", key)
    ref.getparent().remove(ref)
    etree.SubElement(by_id(root, lane), bpmn("flowNodeRef")).text = key


# --- rewriting the same model differently ---------------------------------------------------


def prefixes_of(root: etree._Element, namespace: str) -> set[str | None]:
    """Return every prefix bound to the namespace anywhere in the document."""
    return {
        prefix
        for element in root.iter(etree.Element)
        for prefix, uri in element.nsmap.items()
        if uri == namespace
    }


def rebind(root: etree._Element, namespace: str, prefix: str | None) -> etree._Element | None:
    """Copy the document with the namespace bound to prefix alone, QName values rewritten.

    Return None when that is not simple: one of the prefixes involved is bound to another
    namespace somewhere in the document.
    """
    old = prefixes_of(root, namespace)
    for element in root.iter(etree.Element):
        for name in old | {prefix}:
            if element.nsmap.get(name, namespace) != namespace:
                return None

    def requalify(value: str) -> str:
        match = QNAME.match(value)
        if match is None or match.group(1) not in old:
            return value
        return f"{prefix}:{match.group(2)}" if prefix else match.group(2)

    def rebuild(element: etree._Element, parent: etree._Element | None) -> etree._Element:
        inherited = {} if element.getparent() is None else element.getparent().nsmap
        own = {
            name: uri
            for name, uri in element.nsmap.items()
            if uri != namespace and inherited.get(name) != uri
        }
        if parent is None:
            own[prefix] = namespace
            built = etree.Element(element.tag, nsmap=own)
        else:
            built = etree.SubElement(parent, element.tag, nsmap=own)
        for name, value in element.attrib.items():
            built.set(name, requalify(value))
        built.text = element.text
        for child in element:
            if isinstance(child.tag, str):
                rebuild(child, built).tail = child.tail
            else:
                built.append(copy.deepcopy(child))
        return built

    return rebuild(root, None)


def new_prefix(root: etree._Element) -> str:
    """Return a prefix for the BPMN namespace that the document does not use yet."""
    return "bpmn" if "bpmn2" in prefixes_of(root, BPMN_NS) else "bpmn2"


def pretty(data: bytes) -> etree._Element:
    """Parse without the blank text, so that serialising it pretty-prints it afresh."""
    return etree.fromstring(data, etree.XMLParser(remove_blank_text=True))


def reverse_children(root: etree._Element) -> None:
    """Reverse the order of the elements inside definitions, processes, lanes and pools."""
    for element in root.iter(*(bpmn(name) for name in UNORDERED)):
        element[:] = list(reversed(element))


def move_layout(root: etree._Element) -> int:
    """Shift every shape, label and waypoint, resize every shape; return how many moved."""
    moved = 0
    for bounds in root.iter(f"{{{DC_NS}}}Bounds"):
        bounds.set("x", str(float(bounds.get("x", "0")) + 37.5))
        bounds.set("y", str(float(bounds.get("y", "0")) - 12))
        bounds.set("width", str(float(bounds.get("width", "0")) + 3))
        moved += 1
    for point in root.iter(f"{{{DI_NS}}}waypoint"):
        point.set("x", str(float(point.get("x", "0")) + 11))
        point.set("y", str(float(point.get("y", "0")) + 7))
        moved += 1
    for edge in root.iter(f"{{{BPMNDI_NS}}}BPMNEdge"):
        etree.SubElement(edge, f"{{{DI_NS}}}waypoint", x="1", y="2")
        moved += 1
    return moved


# --- the same model, written differently ---------------------------------------------------


@pytest.mark.parametrize("path", ALL_FILES)
def test_identical_file_is_empty(path: Path) -> None:
    data = path.read_bytes()
    diff = diff_diagrams(data, data)
    assert diff == DiagramDiff((), (), ())
    assert diff.empty
    assert diff.highlight_new() == {} and diff.highlight_old() == {}


@pytest.mark.parametrize("path", ALL_FILES)
def test_pretty_printed_with_another_prefix_is_empty(path: Path) -> None:
    data = path.read_bytes()
    root = pretty(data)
    prefix = new_prefix(root)
    rebound = rebind(root, BPMN_NS, prefix)
    if rebound is not None:
        root = rebound
        assert root.prefix == prefix
    reformatted = dump(root, pretty=True)
    assert reformatted != data
    assert diff_diagrams(data, reformatted).empty
    assert diff_diagrams(reformatted, data).empty


@pytest.mark.parametrize("path", ALL_FILES)
def test_reordered_elements_are_empty(path: Path) -> None:
    root = read(path)
    reverse_children(root)
    assert diff_diagrams(path.read_bytes(), dump(root)).empty


@pytest.mark.parametrize("path", ALL_FILES)
def test_moved_layout_is_empty(path: Path) -> None:
    root = read(path)
    assert move_layout(root) > 0
    assert diff_diagrams(path.read_bytes(), dump(root)).empty


def test_reference_models_with_another_prefix_are_really_rebound() -> None:
    """The prefix test above rebinds every reference model, not just pretty-prints it."""
    simple = [p.name for p in REFERENCE_FILES if rebind(read(p), BPMN_NS, "x") is not None]
    assert simple == [p.name for p in REFERENCE_FILES]


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in DEMO_FILES])
@pytest.mark.parametrize(
    ("namespace", "prefix"),
    [(BPMN_NS, None), (BPMN_NS, "bpmn2"), (CAMUNDA_NS, "cam")],
    ids=["bpmn-default-namespace", "bpmn2", "camunda-as-cam"],
)
def test_demo_diagram_with_other_prefixes_is_empty(
    path: Path, namespace: str, prefix: str | None
) -> None:
    rebound = rebind(read(path), namespace, prefix)
    assert rebound is not None
    data = dump(rebound, pretty=True)
    if prefix is None:
        assert b"<definitions " in data and b"<process " in data
    else:
        assert f"<{prefix}:".encode() in data or f" {prefix}:".encode() in data
    assert diff_diagrams(path.read_bytes(), data).empty


def test_qname_values_are_compared_by_local_part() -> None:
    def unprefix_type(root: etree._Element) -> None:
        for expression in root.iter(bpmn("conditionExpression")):
            expression.set("{http://www.w3.org/2001/XMLSchema-instance}type", "tFormalExpression")

    assert edited(PLANNING, unprefix_type).empty


def test_whitespace_around_texts_and_regenerated_child_ids_are_empty() -> None:
    def reformat(root: etree._Element) -> None:
        flow = by_id(root, "Flow_large")
        flow[0].text = "\n        floor_area > 20000\n      "
        for documentation in root.iter(bpmn("documentation")):
            documentation.text = f"  {documentation.text}\n"

    assert edited(PLANNING, reformat).empty

    def regenerate_ids(root: etree._Element) -> None:
        by_id(root, "TimerDef_escalate_Task_review").set("id", "TimerEventDefinition_0x1")
        for index, expression in enumerate(root.iter(bpmn("conditionExpression"))):
            expression.set("id", f"Expression_{index}")

    assert edited(HOUSE, regenerate_ids).empty


def test_line_breaks_in_names_are_layout() -> None:
    def wrap_names(root: etree._Element) -> None:
        by_id(root, "Task_collective").set("name", "集体研究\r\n审批")
        by_id(root, "Lane_planning_head").set("name", " 局长\n审批岗")
        by_id(root, "Flow_large").set("name", "2万㎡\n以上")

    assert edited(PLANNING, wrap_names).empty

    root = read(PLANNING)
    by_id(root, "Task_accept").set("name", "Accept the application")
    one_line = dump(root)
    by_id(root, "Task_accept").set("name", "Accept the\r\napplication ")
    assert diff_diagrams(one_line, dump(root)).empty
    by_id(root, "Task_accept").set("name", "Accept theapplication")
    (change,) = diff_diagrams(one_line, dump(root)).changed
    assert change.details == (Detail("name", "Accept the application", "Accept theapplication"),)


def test_a_blank_typed_between_cjk_characters_is_a_change() -> None:
    diff = edited(PLANNING, lambda root: by_id(root, "Task_accept").set("name", "受 理"))
    assert diff.changed == (
        ElementChange("Task_accept", "userTask", "受 理", (Detail("name", "受理", "受 理"),)),
    )


def test_renamed_process_id_changes_only_the_participant() -> None:
    def rename(root: etree._Element) -> None:
        by_id(root, "Process_planning_permit").set("id", "Process_planning_permit_v2")
        by_id(root, "Participant_planning_permit").set("processRef", "Process_planning_permit_v2")

    diff = edited(PLANNING, rename)
    assert diff.added == () and diff.removed == ()
    assert diff.changed == (
        ElementChange(
            "Participant_planning_permit",
            "participant",
            "建设工程规划许可证核发",
            (
                Detail(
                    "other",
                    "processRef=Process_planning_permit",
                    "processRef=Process_planning_permit_v2",
                ),
            ),
        ),
    )


def test_schema_defaults_written_out_are_empty() -> None:
    def write_defaults(root: etree._Element) -> None:
        for task in root.iter(bpmn("userTask")):
            task.set("implementation", "##unspecified")
            task.set("isForCompensation", "false")
            task.set("startQuantity", "1")
        for gateway in root.iter(bpmn("exclusiveGateway")):
            gateway.set("gatewayDirection", "Unspecified")

    assert edited(PLANNING, write_defaults).empty


# --- what an analyst changes -------------------------------------------------------------


def add_precheck(root: etree._Element) -> None:
    """Insert a user task "预审" between 受理 and 主办科室承办, in the lead's lane."""
    process = by_id(root, "Process_planning_permit")
    task = etree.Element(
        bpmn("userTask"),
        {
            "id": "Task_precheck",
            "name": "预审",
            camunda("formKey"): "precheck",
            camunda("candidateGroups"): "planning_lead",
        },
    )
    extensions = etree.SubElement(task, bpmn("extensionElements"))
    properties = etree.SubElement(extensions, camunda("properties"))
    etree.SubElement(properties, camunda("property"), name="stage", value="precheck")
    etree.SubElement(properties, camunda("property"), name="timeLimit", value="1d")
    etree.SubElement(task, bpmn("incoming")).text = "Flow_accepted"
    etree.SubElement(task, bpmn("outgoing")).text = "Flow_precheck_done"
    by_id(root, "Task_accept").addnext(task)
    etree.SubElement(by_id(root, "Lane_planning_lead"), bpmn("flowNodeRef")).text = "Task_precheck"

    by_id(root, "Flow_accepted").set("targetRef", "Task_precheck")
    lead = by_id(root, "Task_lead")
    (incoming,) = [ref for ref in refs(lead, "incoming", "Flow_accepted")]
    incoming.text = "Flow_precheck_done"
    etree.SubElement(
        process,
        bpmn("sequenceFlow"),
        id="Flow_precheck_done",
        sourceRef="Task_precheck",
        targetRef="Task_lead",
    )

    plane = root.find(".//bpmndi:BPMNPlane", NS)
    task_shape = etree.SubElement(
        plane, f"{{{BPMNDI_NS}}}BPMNShape", id="Task_precheck_di", bpmnElement="Task_precheck"
    )
    etree.SubElement(task_shape, f"{{{DC_NS}}}Bounds", x="530", y="310", width="100", height="80")
    shape(root, "Task_lead")[0].set("x", "680")
    edge = etree.SubElement(
        plane,
        f"{{{BPMNDI_NS}}}BPMNEdge",
        id="Flow_precheck_done_di",
        bpmnElement="Flow_precheck_done",
    )
    etree.SubElement(edge, f"{{{DI_NS}}}waypoint", x="630", y="350")
    etree.SubElement(edge, f"{{{DI_NS}}}waypoint", x="680", y="350")


def test_added_task_in_lane_with_rerouted_flow() -> None:
    before = read(PLANNING)
    after = read(PLANNING)
    add_precheck(after)
    # the copy really is what a modeler saves: Task_lead and the lane differ in the XML
    for key in ("Task_lead", "Lane_planning_lead", "Process_planning_permit"):
        assert etree.tostring(by_id(before, key)) != etree.tostring(by_id(after, key))

    diff = diff_diagrams(PLANNING.read_bytes(), dump(after))

    assert diff.added == (
        ElementChange("Task_precheck", "userTask", "预审"),
        ElementChange("Flow_precheck_done", "sequenceFlow", ""),
    )
    assert diff.removed == ()
    assert diff.changed == (
        ElementChange(
            "Flow_accepted",
            "sequenceFlow",
            "",
            (Detail("target", "主办科室承办 (Task_lead)", "预审 (Task_precheck)"),),
        ),
    )
    assert not diff.empty
    assert diff.highlight_new() == {
        "Task_precheck": "added",
        "Flow_precheck_done": "added",
        "Flow_accepted": "changed",
    }
    assert diff.highlight_old() == {}


def test_added_task_seen_the_other_way_round_is_removed() -> None:
    root = read(PLANNING)
    add_precheck(root)
    diff = diff_diagrams(dump(root), PLANNING.read_bytes())
    assert diff.added == ()
    assert diff.removed == (
        ElementChange("Task_precheck", "userTask", "预审"),
        ElementChange("Flow_precheck_done", "sequenceFlow", ""),
    )
    assert diff.changed == (
        ElementChange(
            "Flow_accepted",
            "sequenceFlow",
            "",
            (Detail("target", "预审 (Task_precheck)", "主办科室承办 (Task_lead)"),),
        ),
    )
    assert diff.highlight_old() == {"Task_precheck": "removed", "Flow_precheck_done": "removed"}
    assert diff.highlight_new() == {"Flow_accepted": "changed"}


def test_renamed_task() -> None:
    diff = edited(PLANNING, lambda root: by_id(root, "Task_lead").set("name", "主办科室审查"))
    # the flows into and out of the task still point at the same id: they are unchanged
    assert diff.added == () and diff.removed == ()
    assert diff.changed == (
        ElementChange(
            "Task_lead",
            "userTask",
            "主办科室审查",
            (Detail("name", "主办科室承办", "主办科室审查"),),
        ),
    )
    assert diff.highlight_new() == {"Task_lead": "changed"}


def test_changed_condition() -> None:
    def edit(root: etree._Element) -> None:
        by_id(root, "Flow_large")[0].text = "floor_area >= 20000"
        by_id(root, "Flow_lead_reject")[0].set("language", "python")

    diff = edited(PLANNING, edit)
    assert diff.added == () and diff.removed == ()
    assert diff.changed == (
        ElementChange(
            "Flow_large",
            "sequenceFlow",
            "2万㎡以上",
            (Detail("condition", "floor_area > 20000", "floor_area >= 20000"),),
        ),
        ElementChange(
            "Flow_lead_reject",
            "sequenceFlow",
            "不予许可",
            (
                Detail(
                    "condition",
                    'outcome == "reject"',
                    'outcome == "reject" (language python)',
                ),
            ),
        ),
    )


def test_removed_condition() -> None:
    def edit(root: etree._Element) -> None:
        flow = by_id(root, "Flow_large")
        flow.remove(flow[0])

    diff = edited(PLANNING, edit)
    assert diff.changed == (
        ElementChange(
            "Flow_large",
            "sequenceFlow",
            "2万㎡以上",
            (Detail("condition", "floor_area > 20000", ""),),
        ),
    )


def test_task_moved_to_another_lane() -> None:
    def edit(root: etree._Element) -> None:
        move_to_lane(root, "Task_issue", "Lane_planning_head")
        shape(root, "Task_issue")[0].set("y", "850")

    diff = edited(PLANNING, edit)
    assert diff.added == () and diff.removed == ()
    assert diff.changed == (
        ElementChange(
            "Task_issue",
            "userTask",
            "核发许可证",
            (
                Detail(
                    "lane", "规划受理窗口 (Lane_window_planning)", "局长审批岗 (Lane_planning_head)"
                ),
            ),
        ),
    )


def test_a_renamed_lane_is_the_only_change() -> None:
    diff = edited(PLANNING, lambda root: by_id(root, "Lane_planning_head").set("name", "局长岗"))
    assert diff.added == () and diff.removed == ()
    assert diff.changed == (
        ElementChange(
            "Lane_planning_head", "lane", "局长岗", (Detail("name", "局长审批岗", "局长岗"),)
        ),
    )


def test_changed_form_label_and_property() -> None:
    def edit(root: etree._Element) -> None:
        task = by_id(root, "Task_lead")
        task.find(".//camunda:formField", NS).set("label", "承办意见及依据")
        for prop in task.iterfind(".//camunda:property", NS):
            if prop.get("name") == "timeLimit":
                prop.set("value", "3d")

    diff = edited(PLANNING, edit)
    assert diff.added == () and diff.removed == ()
    assert diff.changed == (
        ElementChange(
            "Task_lead",
            "userTask",
            "主办科室承办",
            (
                Detail(
                    "form",
                    "formKey=lead; lead_opinion:string 承办意见",
                    "formKey=lead; lead_opinion:string 承办意见及依据",
                ),
                Detail(
                    "properties",
                    "outcomes=approve,reject, stage=lead, timeLimit=5d",
                    "outcomes=approve,reject, stage=lead, timeLimit=3d",
                ),
            ),
        ),
    )


def test_form_field_constraints_defaults_and_enum_values() -> None:
    def edit(root: etree._Element) -> None:
        task = by_id(root, "Task_lead")
        task.set(camunda("formKey"), "lead_v2")
        field = task.find(".//camunda:formField", NS)
        field.set("type", "enum")
        field.set("defaultValue", "agree")
        validation = etree.SubElement(field, camunda("validation"))
        etree.SubElement(validation, camunda("constraint"), name="required")
        etree.SubElement(validation, camunda("constraint"), name="maxlength", config="20")
        etree.SubElement(field, camunda("value"), id="agree", name="同意")
        etree.SubElement(field, camunda("value"), id="disagree", name="不同意")
        extra = etree.SubElement(field.getparent(), camunda("formField"), id="basis")
        extra.set("type", "string")

    diff = edited(PLANNING, edit)
    (change,) = diff.changed
    assert change.details == (
        Detail(
            "form",
            "formKey=lead; lead_opinion:string 承办意见",
            "formKey=lead_v2; lead_opinion:enum 承办意见 default=agree "
            "[required, maxlength=20] {agree=同意, disagree=不同意}; basis:string",
        ),
    )


def test_removed_end_event_and_its_flow() -> None:
    def edit(root: etree._Element) -> None:
        remove_element(root, "Event_denied_lead")
        remove_element(root, "Flow_lead_reject")

    diff = edited(PLANNING, edit)
    # Gateway_lead lost an outgoing flow and the lane a flowNodeRef: neither is a change
    assert diff.added == () and diff.changed == ()
    assert diff.removed == (
        ElementChange("Event_denied_lead", "endEvent", "不予许可"),
        ElementChange("Flow_lead_reject", "sequenceFlow", "不予许可"),
    )
    assert diff.highlight_old() == {
        "Event_denied_lead": "removed",
        "Flow_lead_reject": "removed",
    }
    assert diff.highlight_new() == {}


def test_changed_candidate_groups_and_assignee() -> None:
    def edit(root: etree._Element) -> None:
        by_id(root, "Task_deputy").set(camunda("candidateGroups"), "planning_deputy, planning_head")
        by_id(root, "Task_head").set(camunda("assignee"), "director")
        # blanks around the items of a list are not a change
        by_id(root, "Task_issue").set(camunda("candidateGroups"), " window_planning ")

    diff = edited(PLANNING, edit)
    assert diff.changed == (
        ElementChange(
            "Task_deputy",
            "userTask",
            "分管领导审批",
            (
                Detail(
                    "assignment",
                    "candidateGroups=planning_deputy",
                    "candidateGroups=planning_deputy,planning_head",
                ),
            ),
        ),
        ElementChange(
            "Task_head",
            "userTask",
            "一把手审批",
            (
                Detail(
                    "assignment",
                    "candidateGroups=planning_head",
                    "candidateGroups=planning_head; assignee=director",
                ),
            ),
        ),
    )


def test_changed_type_keeps_the_id() -> None:
    diff = edited(PLANNING, lambda root: setattr(by_id(root, "Task_accept"), "tag", bpmn("task")))
    assert diff.changed == (
        ElementChange("Task_accept", "task", "受理", (Detail("type", "userTask", "task"),)),
    )


def test_changed_default_flow_and_documentation() -> None:
    def edit(root: etree._Element) -> None:
        gateway = by_id(root, "Gateway_scale")
        gateway.set("default", "Flow_large")
        etree.SubElement(gateway, bpmn("documentation")).text = "按建筑面积分流"
        gateway.insert(0, gateway[-1])

    diff = edited(PLANNING, edit)
    assert diff.changed == (
        ElementChange(
            "Gateway_scale",
            "exclusiveGateway",
            "是否集体研究",
            (
                Detail("default flow", "一般项目 (Flow_small)", "2万㎡以上 (Flow_large)"),
                Detail("documentation", "", "按建筑面积分流"),
            ),
        ),
    )


def test_changed_timer_and_boundary_attribute() -> None:
    def edit(root: etree._Element) -> None:
        timer = by_id(root, "Timer_escalate_Task_review")
        timer.find(".//bpmn:timeDuration", NS).text = '"P3D"'
        timer.set("cancelActivity", "true")

    diff = edited(HOUSE, edit)
    # cancelActivity="true" is the schema default, the same as leaving the attribute out
    assert diff.changed == (
        ElementChange(
            "Timer_escalate_Task_review",
            "boundaryEvent",
            "超时升级至科长",
            (
                Detail("timer", 'timeDuration: "P5D"', 'timeDuration: "P3D"'),
                Detail("other", "cancelActivity=false", ""),
            ),
        ),
    )


def test_other_changes_are_shown_by_what_differs() -> None:
    def edit(root: etree._Element) -> None:
        task = by_id(root, "Task_collective")
        task.set(camunda("asyncBefore"), "true")
        loop = etree.SubElement(task, bpmn("multiInstanceLoopCharacteristics"), id="Loop_1")
        etree.SubElement(loop, bpmn("loopCardinality")).text = "3"

    diff = edited(PLANNING, edit)
    assert diff.changed == (
        ElementChange(
            "Task_collective",
            "userTask",
            "集体研究审批",
            (
                Detail(
                    "other",
                    "",
                    "camunda:asyncBefore=true; "
                    'multiInstanceLoopCharacteristics {loopCardinality "3"}',
                ),
            ),
        ),
    )


def test_several_changes_are_sorted_by_kind_then_id() -> None:
    def edit(root: etree._Element) -> None:
        by_id(root, "Participant_planning_permit").set("name", "规划许可")
        by_id(root, "Lane_window_planning").set("id", "Lane_window")
        by_id(root, "Flow_small").set("name", "一般")
        by_id(root, "Task_lead").set(camunda("formKey"), "lead2")
        by_id(root, "Event_start").set("name", "收到申请")

    diff = edited(PLANNING, edit)
    # the window lane got a new id: its nodes now sit in another lane (Lane_window)
    moved = [c for c in diff.changed if [d.what for d in c.details] == ["lane"]]
    assert moved and all(c.details[0].after.endswith("(Lane_window)") for c in moved)
    assert [(c.kind, c.id) for c in diff.changed] == sorted(
        [(c.kind, c.id) for c in diff.changed],
        key=lambda kind_id: (kind_id[0] in ("sequenceFlow", "participant"),
                             kind_id[0] == "participant", kind_id[1]),
    )  # fmt: skip
    assert [(c.kind, c.id) for c in diff.changed if c not in moved] == [
        ("startEvent", "Event_start"),
        ("userTask", "Task_lead"),
        ("sequenceFlow", "Flow_small"),
        ("participant", "Participant_planning_permit"),
    ]
    assert diff.added == (ElementChange("Lane_window", "lane", "规划受理窗口"),)
    assert diff.removed == (ElementChange("Lane_window_planning", "lane", "规划受理窗口"),)
    form = (
        Detail(
            "form",
            "formKey=lead; lead_opinion:string 承办意见",
            "formKey=lead2; lead_opinion:string 承办意见",
        ),
    )
    assert [c for c in diff.changed if c.id == "Task_lead"][0].details == form


# --- reference models: sub-processes, pools ------------------------------------------------

C90 = REFERENCE_DIR / "C.9.0.bpmn"


@pytest.mark.skipif(not C90.is_file(), reason="reference models not found")
def test_changes_inside_a_sub_process_leave_the_sub_process_alone() -> None:
    def edit(root: etree._Element) -> None:
        by_id(root, "UserTask_HandleTimeout").set("name", "Handle the timeout")
        remove_element(root, "EndMessageEvent_InformOperations")
        remove_element(root, "Flow_1jml1az")

    diff = edited(C90, edit)
    assert diff.added == ()
    assert diff.removed == (
        ElementChange(
            "EndMessageEvent_InformOperations",
            "endEvent",
            "Operations Team notified about successful cancelation",
        ),
        ElementChange("Flow_1jml1az", "sequenceFlow", ""),
    )
    assert diff.changed == (
        ElementChange(
            "UserTask_HandleTimeout",
            "userTask",
            "Handle the timeout",
            (Detail("name", "Handle Timeout", "Handle the timeout"),),
        ),
    )


@pytest.mark.skipif(not C90.is_file(), reason="reference models not found")
def test_node_moved_out_of_its_sub_process() -> None:
    def edit(root: etree._Element) -> None:
        task = by_id(root, "UserTask_HandleTimeout")
        process = by_id(root, "Activity_1ke2ixr").getparent()
        process.append(task)

    diff = edited(C90, edit)
    assert diff.changed == (
        ElementChange(
            "UserTask_HandleTimeout",
            "userTask",
            "Handle Timeout",
            (Detail("other", "container=Activity_1ke2ixr", ""),),
        ),
    )


def test_unreadable_version_raises_diagram_error() -> None:
    data = PLANNING.read_bytes()
    with pytest.raises(DiagramError) as caught:
        diff_diagrams(data, b"<definitions/>", new_name="broken.bpmn")
    assert "broken.bpmn" in str(caught.value)
    with pytest.raises(DiagramError) as caught:
        diff_diagrams(b"<bpmn:definitions", data, old_name="cut.bpmn")
    assert caught.value.findings[0].code == "xml-syntax"
    assert "cut.bpmn" in str(caught.value)
