"""The demo centre in bpmn/: centre.toml, the four catalogue items and their diagrams.

Checks the files against docs/diagram-conventions.md and drives every path of every
diagram through SpiffWorkflow (camunda parser, safe script engine), serializing and
restoring the workflow after every step. Needs only lxml and SpiffWorkflow.

Run: cd /work/main && PYTHONPATH=. .venv/bin/python -m pytest tests/workflows/test_demo_diagrams.py
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest
import SpiffWorkflow
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.util.task import TaskState

from workflows.engine import sign_counts
from workflows.expressions import SafeScriptEngine, check_expression, evaluate

ROOT = Path(__file__).resolve().parents[2]
BPMN_DIR = ROOT / "bpmn"
XSD = Path(SpiffWorkflow.__file__).parent / "bpmn" / "parser" / "schema" / "BPMN20.xsd"
ITEMS = ["house-cancellation", "house-initial", "planning-permit", "joint-investment"]

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}
FLOW_NODES = (
    "startEvent",
    "endEvent",
    "userTask",
    "exclusiveGateway",
    "parallelGateway",
    "boundaryEvent",
)
DECISION_STAGES = {"chief", "deputy", "head", "collective", "co_handling"}
HOURS_PER_DAY = 8


# --------------------------------------------------------------------------- loading


def load_toml(name: str) -> dict:
    with open(BPMN_DIR / name, "rb") as fh:
        return tomllib.load(fh)


@lru_cache
def centre() -> dict:
    return load_toml("centre.toml")


@lru_cache
def item(code: str) -> dict:
    return load_toml(f"{code}.toml")


def posts_by_code() -> dict[str, dict]:
    return {p["code"]: p for p in centre()["posts"]}


@lru_cache
def xml(code: str) -> etree._ElementTree:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.parse(str(BPMN_DIR / item(code)["diagram"]), parser)


@lru_cache
def xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def properties(el) -> dict[str, str]:
    return {
        p.get("name"): p.get("value")
        for p in el.iterfind("bpmn:extensionElements/camunda:properties/camunda:property", NS)
    }


def end_results(code: str) -> dict[str, str]:
    return {
        e.get("id"): properties(e).get("result") for e in xml(code).iterfind(".//bpmn:endEvent", NS)
    }


def parse(code: str):
    parser = CamundaParser()
    parser.add_bpmn_file(str(BPMN_DIR / item(code)["diagram"]))
    process_id = item(code)["process_id"]
    return parser.get_spec(process_id), parser.get_subprocess_specs(process_id)


def days(limit: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dh])", limit)
    assert match, f"bad timeLimit {limit!r}"
    value = float(match.group(1))
    return value if match.group(2) == "d" else value / HOURS_PER_DAY


# --------------------------------------------------------------------------- centre.toml


def test_centre_organisation():
    c = centre()
    assert c["centre"]["code"] == "demo-city"
    assert c["centre"]["level"] == "city"
    assert c["centre"]["demo_password"]
    departments = {d["code"]: d for d in c["departments"]}
    assert len(departments) == len(c["departments"])
    for d in c["departments"]:
        assert d["code"].isascii()
        assert d["kind"] in {"centre", "bureau", "agency", "section", "supervision", "government"}
        assert d["parent"] == "" or d["parent"] in departments
    kinds = [d["kind"] for d in c["departments"]]
    assert kinds.count("centre") == 1 and "supervision" in kinds
    # the government of the level answers for joint cases' extensions (art. 42), with heads
    assert kinds.count("government") == 1
    heads = {(h["department"], h["user"]) for h in c["heads"]}
    users = {u["username"] for u in c["users"]}
    assert all(dept in departments and user in users for dept, user in heads)
    government = next(d["code"] for d in c["departments"] if d["kind"] == "government")
    assert {u for d, u in heads if d == government} == {"mayor_he", "vice_mayor_song"}

    users = {u["username"]: u for u in c["users"]}
    assert len(users) == len(c["users"])
    staff = [u for u in c["users"] if "applicant" not in u["roles"]]
    applicants = [u for u in c["users"] if "applicant" in u["roles"]]
    assert 25 <= len(staff) <= 40 and len(applicants) == 2
    for u in applicants:  # online applicants: no department, an ID number that checks out
        from app.applicants.accounts import valid_credit_code, valid_resident_id

        assert u["roles"] == ["applicant"] and "department" not in u, u
        assert valid_resident_id(u["id_number"]) or valid_credit_code(u["id_number"]), u
    valid_roles = {"clerk", "official", "leader", "supervisor", "auditor", "analyst", "admin"}
    for u in staff:
        assert u["username"].isascii()
        assert u["department"] in departments, u
        assert u["roles"] and set(u["roles"]) <= valid_roles, u
        assert re.fullmatch(r"1[3-9]\d{9}", u["phone"]), u
    by_role = lambda role: [u for u in c["users"] if role in u["roles"]]  # noqa: E731
    assert "admin" in users and "admin" in users["admin"]["roles"]
    assert len(by_role("auditor")) >= 1
    assert len(by_role("analyst")) >= 1
    assert len(by_role("supervisor")) >= 2


def test_centre_posts_have_ab_handlers_and_a_leader():
    c = centre()
    users = {u["username"]: u for u in c["users"]}
    departments = {d["code"] for d in c["departments"]}
    posts = c["posts"]
    assert len({p["code"] for p in posts}) == len(posts)
    assert len({p["name"] for p in posts}) == len(posts)
    for p in posts:
        assert p["code"].isascii() and p["department"] in departments
        assert p["a"] in users and p["b"] in users and p["leader"] in users, p
        assert p["a"] != p["b"], p
        assert p["leader"] not in (p["a"], p["b"]), p
        assert "leader" in users[p["leader"]]["roles"], p
        for who in (p["a"], p["b"]):
            assert set(users[who]["roles"]) & {"clerk", "official"}, (p["code"], who)


# --------------------------------------------------------------------------- catalogue


@pytest.mark.parametrize("code", ITEMS)
def test_catalogue_entry(code):
    it = item(code)
    assert it["code"] == code
    assert it["kind"] in {"immediate", "promised", "joint", "reported"}
    assert it["department"] in {d["code"] for d in centre()["departments"]}
    assert (BPMN_DIR / it["diagram"]).is_file()
    assert it["process_id"] == "Process_" + code.replace("-", "_")
    # an immediate item (即办件) promises 0 days: done on the acceptance day
    assert (it["promised_days"] == 0) == (it["kind"] == "immediate")
    assert 0 <= it["promised_days"] <= it["statutory_days"]
    for key in (
        "name",
        "legal_basis",
        "fee",
        "fee_basis",
        "supervision_phone",
        "consult_phone",
        "window",
        "result",
    ):
        assert it[key], key
    assert it["conditions"]
    materials = it["materials"]
    assert 4 <= len(materials) <= 10
    assert len({m["code"] for m in materials}) == len(materials)
    assert any(m["required"] for m in materials) and any(not m["required"] for m in materials)
    for m in materials:
        assert m["code"].isascii() and m["name"]
        assert m["form"] in {"original", "copy", "original_and_copy"}
        assert m["count"] >= 1
    for f in it["form"]:
        assert f["type"] in {"string", "long", "boolean", "enum", "date"}
        assert bool(f["options"]) == (f["type"] == "enum"), f
    for rule in it.get("promised_rules", []):
        check_expression(rule["when"])
        assert it["promised_days"] < rule["days"] <= it["statutory_days"]


def test_catalogue_specifics():
    assert item("house-cancellation")["kind"] == "immediate"
    assert item("house-cancellation")["promised_days"] == 0  # 当场办结
    # the registration regulations' 30 working days (不动产登记暂行条例 art. 20)
    assert {item(c)["statutory_days"] for c in ("house-cancellation", "house-initial")} == {30}
    assert item("joint-investment")["kind"] == "joint"
    assert item("joint-investment")["statutory_days"] == 45
    assert "第四十条" in item("planning-permit")["legal_basis"]
    assert "企业投资项目核准和备案管理条例" in item("joint-investment")["legal_basis"]
    initial = item("house-initial")
    assert {f["id"]: f["type"] for f in initial["form"]}["certificates"] == "long"

    def promised(it, data):
        for rule in it.get("promised_rules", []):
            if evaluate(rule["when"], data):
                return rule["days"]
        return it["promised_days"]

    assert promised(initial, {"certificates": 29}) == 7
    assert promised(initial, {"certificates": 30}) == 10
    assert promised(initial, {"certificates": 100}) == 10
    assert promised(item("planning-permit"), {"floor_area": 8000}) == 12
    assert promised(item("planning-permit"), {"floor_area": 36000}) == 15


# --------------------------------------------------------------------------- diagrams


@pytest.mark.parametrize("code", ITEMS)
def test_diagram_validates_against_xsd(code):
    schema = xsd()
    assert schema.validate(xml(code)), schema.error_log


@pytest.mark.parametrize("code", ITEMS)
def test_diagram_follows_conventions(code):
    root = xml(code).getroot()
    posts = posts_by_code()
    post_names = {p["name"]: c for c, p in posts.items()}
    processes = root.findall("bpmn:process", NS)
    assert len(processes) == 1
    process = processes[0]
    assert process.get("id") == item(code)["process_id"]
    assert process.get("isExecutable") == "true"
    participants = root.findall("bpmn:collaboration/bpmn:participant", NS)
    assert [p.get("processRef") for p in participants] == [process.get("id")]

    lanes = process.findall("bpmn:laneSet/bpmn:lane", NS)
    assert lanes
    lane_of = {}
    for lane in lanes:
        assert lane.get("name") in post_names, lane.get("name")
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lane_of[ref.text] = lane.get("name")
    nodes = [el for tag in FLOW_NODES for el in process.iterfind(f"bpmn:{tag}", NS)]
    assert {n.get("id") for n in nodes} == set(lane_of), "every flow node sits in one lane"

    for t in process.iterfind("bpmn:userTask", NS):
        tid = t.get("id")
        group = t.get(f"{{{NS['camunda']}}}candidateGroups")
        assert group in posts, (tid, group)
        assert lane_of[tid] == posts[group]["name"], tid
        assert t.get(f"{{{NS['camunda']}}}formKey"), tid
        assert t.get("name")
        props = properties(t)
        assert props.get("stage"), tid
        days(props["timeLimit"])
        outcomes = props.get("outcomes", "approve").split(",")
        assert set(outcomes) <= {"approve", "return", "reject"}, tid
        assert (props.get("decision") == "true") == (
            props["stage"] in DECISION_STAGES
            or (code == "house-cancellation" and props["stage"] == "review")
        ), tid
        if props["stage"] in {
            "review",
            "survey",
            "chief",
            "lead",
            "deputy",
            "head",
            "collective",
            "co_handling",
        }:
            assert t.findall(".//camunda:formData/camunda:formField", NS), tid

    results = end_results(code)
    assert set(results.values()) == {"approved", "denied"}

    flows = {f.get("id"): f for f in process.iterfind("bpmn:sequenceFlow", NS)}
    for gw in process.iterfind("bpmn:exclusiveGateway", NS):
        outgoing = [f for f in flows.values() if f.get("sourceRef") == gw.get("id")]
        if len(outgoing) < 2:
            continue
        default = gw.get("default")
        assert default in {f.get("id") for f in outgoing}, gw.get("id")
        for f in outgoing:
            cond = f.find("bpmn:conditionExpression", NS)
            if f.get("id") == default:
                assert cond is None
                continue
            assert cond is not None, f.get("id")
            assert cond.get(f"{{{NS['xsi']}}}type") == "bpmn:tFormalExpression"
            check_expression(cond.text, f.get("id"))


@pytest.mark.parametrize("code", ITEMS)
def test_diagram_has_full_di(code):
    root = xml(code).getroot()
    process = root.find("bpmn:process", NS)
    shapes = {s.get("bpmnElement"): s for s in root.iterfind(".//bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    plane = root.find(".//bpmndi:BPMNPlane", NS)
    assert plane.get("bpmnElement") == root.find("bpmn:collaboration", NS).get("id")

    def box(el_id):
        b = shapes[el_id].find("dc:Bounds", NS)
        x, y, w, h = (float(b.get(k)) for k in ("x", "y", "width", "height"))
        return x, y, x + w, y + h

    for participant in root.iterfind(".//bpmn:participant", NS):
        assert shapes[participant.get("id")].get("isHorizontal") == "true"
    lane_boxes = {}
    for lane in process.iterfind("bpmn:laneSet/bpmn:lane", NS):
        assert shapes[lane.get("id")].get("isHorizontal") == "true"
        lane_boxes[lane.get("id")] = box(lane.get("id"))
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            x1, y1, x2, y2 = box(ref.text)
            lx1, ly1, lx2, ly2 = lane_boxes[lane.get("id")]
            assert lx1 <= x1 and x2 <= lx2 and ly1 <= y1 and y2 <= ly2, (
                f"{ref.text} outside its lane"
            )
    ordered = sorted(lane_boxes.values(), key=lambda b: b[1])
    for upper, lower in zip(ordered, ordered[1:], strict=False):
        assert upper[3] == lower[1], "lanes are stacked without gaps or overlaps"

    node_ids = [el.get("id") for tag in FLOW_NODES for el in process.iterfind(f"bpmn:{tag}", NS)]
    for nid in node_ids:
        assert nid in shapes, f"no BPMNShape for {nid}"
    attached = {el.get("id"): el.get("attachedToRef")
                for el in process.iterfind("bpmn:boundaryEvent", NS)}  # fmt: skip
    for i, a in enumerate(node_ids):
        ax1, ay1, ax2, ay2 = box(a)
        for b in node_ids[i + 1 :]:
            if attached.get(a) == b or attached.get(b) == a:
                continue  # a boundary event sits on its task's edge
            bx1, by1, bx2, by2 = box(b)
            assert not (ax1 < bx2 and bx1 < ax2 and ay1 < by2 and by1 < ay2), f"{a} overlaps {b}"
    for f in process.iterfind("bpmn:sequenceFlow", NS):
        assert f.get("id") in edges, f"no BPMNEdge for {f.get('id')}"
        points = edges[f.get("id")].findall("di:waypoint", NS)
        assert len(points) >= 2
        pts = [(float(p.get("x")), float(p.get("y"))) for p in points]
        for (x1, y1), (x2, y2) in zip(pts, pts[1:], strict=False):
            assert x1 == x2 or y1 == y2, f"{f.get('id')} has a diagonal segment"


# --------------------------------------------------------------------------- time limits


def longest_path(code: str, skip: set[str] = frozenset()) -> float:
    """Longest sum of stage limits from the start to an end event, back edges removed."""
    process = xml(code).getroot().find("bpmn:process", NS)
    weight = {
        t.get("id"): days(properties(t)["timeLimit"]) for t in process.iterfind("bpmn:userTask", NS)
    }
    succ: dict[str, list[str]] = {}
    for f in process.iterfind("bpmn:sequenceFlow", NS):
        succ.setdefault(f.get("sourceRef"), []).append(f.get("targetRef"))
    start = process.find("bpmn:startEvent", NS).get("id")

    # depth-first: drop edges that go back to a node on the current path
    forward: dict[str, list[str]] = {}
    state: dict[str, int] = {}

    def visit(n):
        state[n] = 1
        for m in succ.get(n, []):
            if state.get(m) == 1:
                continue
            forward.setdefault(n, []).append(m)
            if m not in state:
                visit(m)
        state[n] = 2

    visit(start)
    best: dict[str, float] = {}

    def longest(n):
        if n in skip:
            return float("-inf")
        if n not in best:
            tails = [longest(m) for m in forward.get(n, [])]
            best[n] = weight.get(n, 0) + max(tails, default=0)
        return best[n]

    return longest(start)


# nodes only on a branch that comes with a longer promised limit
OPTIONAL_BRANCH = {"house-initial": {"Task_survey"}, "planning-permit": {"Task_collective"}}


@pytest.mark.parametrize("code", ITEMS)
def test_stage_limits_fit_the_promised_limit(code):
    it = item(code)
    base = longest_path(code, skip=OPTIONAL_BRANCH.get(code, set()))
    # an immediate item's stages fit in the one office day it is done on (promised 0)
    promised = it["promised_days"] or 1
    assert 0 < base <= promised, base
    longest_rule = max([r["days"] for r in it.get("promised_rules", [])], default=promised)
    full = longest_path(code)
    assert full <= longest_rule, full
    if code in OPTIONAL_BRANCH:
        assert full > base


# --------------------------------------------------------------------------- execution


@dataclass
class Step:
    task: str
    outcome: str = "approve"
    ready: set[str] | None = None  # the ready human tasks before this step (default {task})


SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(CAMUNDA_CONFIG))


def roundtrip(workflow: BpmnWorkflow) -> BpmnWorkflow:
    restored = SERIALIZER.deserialize_json(SERIALIZER.serialize_json(workflow))
    restored.script_engine = SafeScriptEngine()
    return restored


def ready_tasks(workflow):
    return workflow.get_tasks(state=TaskState.READY, manual=True)


def drive(code: str, form: dict, steps: list[Step]):
    """Run a case through the given steps; returns (trail of (task, lane), end event id)."""
    spec, subs = parse(code)
    workflow = BpmnWorkflow(spec, subs, script_engine=SafeScriptEngine())
    for start in workflow.get_tasks(state=TaskState.READY):
        start.data.update(form)
    workflow.do_engine_steps()
    workflow = roundtrip(workflow)
    posts = posts_by_code()
    groups = {
        t.get("id"): t.get(f"{{{NS['camunda']}}}candidateGroups")
        for t in xml(code).iterfind(".//bpmn:userTask", NS)
    }
    trail = []
    for number, step in enumerate(steps):
        ready = ready_tasks(workflow)
        assert {t.task_spec.bpmn_id for t in ready} == (step.ready or {step.task}), (number, step)
        # a 会签 stage has one ready instance per signer: each signs with the step's outcome
        # (and the counts the completion condition reads) until the stage ends
        for task in [t for t in ready if t.task_spec.bpmn_id == step.task]:
            if task.state != TaskState.READY:
                break  # the stage ended before this signer (a rejection, a return)
            ext = task.task_spec.extensions
            assert step.outcome in ext.get("outcomes", "approve").split(","), step
            assert task.task_spec.lane == posts[groups[step.task]]["name"]
            update = {"outcome": step.outcome,
                      "comment": f"{task.task_spec.bpmn_name}：{step.outcome}",
                      **sign_counts(task, step.outcome)}  # fmt: skip
            if step.outcome == "reject":
                update["reason"] = "不符合法定条件"
                update["legal_basis"] = item(code)["legal_basis"]
            if ext.get("outcomeVar"):
                update[ext["outcomeVar"]] = step.outcome
            task.data.update(update)
            if "nrOfInstances" in update:  # what follows the stage reads (as the engine does)
                task.parent.data.update({k: v for k, v in update.items() if k.startswith("nrOf")},
                                        outcome=step.outcome)  # fmt: skip
            task.run()
            workflow.do_engine_steps()
        trail.append((step.task, task.task_spec.lane))
        workflow = roundtrip(workflow)
    assert ready_tasks(workflow) == []
    assert workflow.is_completed()
    results = end_results(code)
    reached = [
        t.task_spec.bpmn_id
        for t in workflow.get_tasks(state=TaskState.COMPLETED)
        if t.task_spec.bpmn_id in results
    ]
    assert len(reached) == 1, reached
    return trail, reached[0]


def result_of(code: str, end_event: str) -> str:
    return end_results(code)[end_event]


# house-cancellation -----------------------------------------------------------

CANCEL_FORM = {
    "certificate_no": "示范市不动产权第0012345号",
    "house_address": "示范市人民路 18 号",
    "cancel_reason": "房屋灭失",
}


def test_house_cancellation_approved():
    trail, end = drive(
        "house-cancellation",
        CANCEL_FORM,
        [Step("Task_accept"), Step("Task_review"), Step("Task_issue")],
    )
    assert trail == [
        ("Task_accept", "住建受理窗口"),
        ("Task_review", "房屋登记审核岗"),
        ("Task_issue", "住建受理窗口"),
    ]
    assert (end, result_of("house-cancellation", end)) == ("Event_approved", "approved")


def test_house_cancellation_rejected():
    trail, end = drive(
        "house-cancellation", CANCEL_FORM, [Step("Task_accept"), Step("Task_review", "reject")]
    )
    assert [t for t, _ in trail] == ["Task_accept", "Task_review"]
    assert (end, result_of("house-cancellation", end)) == ("Event_denied", "denied")


# house-initial ----------------------------------------------------------------


def initial_form(certificates: int) -> dict:
    return {
        "project_name": "锦绣家园一期",
        "house_address": "示范市滨河路 66 号",
        "building_area": 120 * certificates,
        "certificates": certificates,
        "house_use": "住宅",
    }


def test_house_initial_small_project_skips_survey():
    trail, end = drive(
        "house-initial",
        initial_form(12),
        [Step("Task_accept"), Step("Task_review"), Step("Task_chief"), Step("Task_issue")],
    )
    assert trail == [
        ("Task_accept", "住建受理窗口"),
        ("Task_review", "房屋登记审核岗"),
        ("Task_chief", "房屋登记科科长岗"),
        ("Task_issue", "住建受理窗口"),
    ]
    assert result_of("house-initial", end) == "approved"


@pytest.mark.parametrize("certificates", [30, 64])
def test_house_initial_large_project_is_surveyed(certificates):
    trail, end = drive(
        "house-initial",
        initial_form(certificates),
        [
            Step("Task_accept"),
            Step("Task_survey"),
            Step("Task_review"),
            Step("Task_chief"),
            Step("Task_issue"),
        ],
    )
    assert trail[1] == ("Task_survey", "房产测绘查勘岗")
    assert (end, result_of("house-initial", end)) == ("Event_approved", "approved")


def test_house_initial_chief_returns_to_review():
    trail, end = drive(
        "house-initial",
        initial_form(8),
        [
            Step("Task_accept"),
            Step("Task_review"),
            Step("Task_chief", "return"),
            Step("Task_review"),
            Step("Task_chief"),
            Step("Task_issue"),
        ],
    )
    assert result_of("house-initial", end) == "approved"


def test_house_initial_chief_returns_large_project_to_survey_then_rejects():
    trail, end = drive(
        "house-initial",
        initial_form(40),
        [
            Step("Task_accept"),
            Step("Task_survey"),
            Step("Task_review"),
            Step("Task_chief", "return"),
            Step("Task_survey"),
            Step("Task_review"),
            Step("Task_chief", "reject"),
        ],
    )
    assert [t for t, _ in trail].count("Task_survey") == 2
    assert (end, result_of("house-initial", end)) == ("Event_denied", "denied")


def test_house_initial_chief_rejects():
    _, end = drive(
        "house-initial",
        initial_form(5),
        [Step("Task_accept"), Step("Task_review"), Step("Task_chief", "reject")],
    )
    assert (end, result_of("house-initial", end)) == ("Event_denied", "denied")


# planning-permit --------------------------------------------------------------


def planning_form(floor_area: int) -> dict:
    return {
        "project_name": "示范市第三中学综合楼",
        "site_location": "示范市新城区学府路以东",
        "land_use": "公共管理与公共服务",
        "floor_area": floor_area,
        **item("planning-permit")["signers"],  # 会签: the collective decision's signers
    }


SMALL, LARGE = planning_form(8600), planning_form(36500)


def test_planning_permit_small_project():
    trail, end = drive(
        "planning-permit",
        SMALL,
        [
            Step("Task_accept"),
            Step("Task_lead"),
            Step("Task_deputy"),
            Step("Task_head"),
            Step("Task_issue"),
        ],
    )
    assert [lane for _, lane in trail] == [
        "规划受理窗口",
        "规划科承办岗",
        "分管副局长审批岗",
        "局长审批岗",
        "规划受理窗口",
    ]
    assert (end, result_of("planning-permit", end)) == ("Event_approved", "approved")


def test_planning_permit_large_project_goes_to_collective():
    trail, end = drive(
        "planning-permit",
        LARGE,
        [
            Step("Task_accept"),
            Step("Task_lead"),
            Step("Task_deputy"),
            Step("Task_collective"),
            Step("Task_head"),
            Step("Task_issue"),
        ],
    )
    assert trail[3] == ("Task_collective", "局务会集体研究")
    assert result_of("planning-permit", end) == "approved"


def test_planning_permit_deputy_returns_to_lead():
    trail, end = drive(
        "planning-permit",
        SMALL,
        [
            Step("Task_accept"),
            Step("Task_lead"),
            Step("Task_deputy", "return"),
            Step("Task_lead"),
            Step("Task_deputy"),
            Step("Task_head"),
            Step("Task_issue"),
        ],
    )
    assert result_of("planning-permit", end) == "approved"


def test_planning_permit_head_returns_to_deputy():
    trail, end = drive(
        "planning-permit",
        SMALL,
        [
            Step("Task_accept"),
            Step("Task_lead"),
            Step("Task_deputy"),
            Step("Task_head", "return"),
            Step("Task_deputy"),
            Step("Task_head"),
            Step("Task_issue"),
        ],
    )
    assert result_of("planning-permit", end) == "approved"


def test_planning_permit_large_project_returns_from_head_and_collective():
    trail, end = drive(
        "planning-permit",
        LARGE,
        [
            Step("Task_accept"),
            Step("Task_lead"),
            Step("Task_deputy"),
            Step("Task_collective", "return"),
            Step("Task_lead"),
            Step("Task_deputy"),
            Step("Task_collective"),
            Step("Task_head", "return"),
            Step("Task_deputy"),
            Step("Task_collective"),
            Step("Task_head"),
            Step("Task_issue"),
        ],
    )
    assert [t for t, _ in trail].count("Task_collective") == 3
    assert result_of("planning-permit", end) == "approved"


@pytest.mark.parametrize(
    "form, steps, denied_at",
    [
        (SMALL, ["Task_accept", ("Task_lead", "reject")], "Event_denied_lead"),
        (SMALL, ["Task_accept", "Task_lead", ("Task_deputy", "reject")], "Event_denied_deputy"),
        (
            LARGE,
            ["Task_accept", "Task_lead", "Task_deputy", ("Task_collective", "reject")],
            "Event_denied_collective",
        ),
        (
            SMALL,
            ["Task_accept", "Task_lead", "Task_deputy", ("Task_head", "reject")],
            "Event_denied_head",
        ),
    ],
)
def test_planning_permit_rejections(form, steps, denied_at):
    _, end = drive(
        "planning-permit", form, [Step(s) if isinstance(s, str) else Step(*s) for s in steps]
    )
    assert (end, result_of("planning-permit", end)) == (denied_at, "denied")


# joint-investment -------------------------------------------------------------

JOINT_FORM = {
    "project_name": "示范市年产 5 万吨新型建材项目",
    "site_location": "示范市经济开发区纬三路",
    "industry": "制造业",
    "total_investment": 68000,
    "land_area": 120000,
}
LANES = {
    "Task_ndrc": "发改项目核准岗",
    "Task_land": "用地预审岗",
    "Task_construction": "建设审查岗",
    "Task_env": "环评审批岗",
}


def parallel_steps(outcomes: dict[str, str], order: list[str]) -> list[Step]:
    steps, pending = [], set(order)
    for tid in order:
        steps.append(Step(tid, outcomes.get(tid, "approve"), ready=set(pending)))
        pending.discard(tid)
    return steps


def test_joint_investment_all_approve():
    order = ["Task_env", "Task_ndrc", "Task_construction", "Task_land"]
    trail, end = drive(
        "joint-investment",
        JOINT_FORM,
        [Step("Task_accept"), *parallel_steps({}, order), Step("Task_issue")],
    )
    assert trail[0] == ("Task_accept", "综合受理窗口")
    assert trail[1:5] == [(tid, LANES[tid]) for tid in order]
    assert trail[5] == ("Task_issue", "综合受理窗口")
    assert (end, result_of("joint-investment", end)) == ("Event_approved", "approved")


@pytest.mark.parametrize("rejecting", list(LANES))
def test_joint_investment_one_lane_rejects(rejecting):
    order = ["Task_ndrc", "Task_land", "Task_construction", "Task_env"]
    trail, end = drive(
        "joint-investment",
        JOINT_FORM,
        [Step("Task_accept"), *parallel_steps({rejecting: "reject"}, order), Step("Task_denial")],
    )
    assert trail[-1] == ("Task_denial", "综合受理窗口")
    assert (end, result_of("joint-investment", end)) == ("Event_denied", "denied")


def test_joint_investment_first_rejection_still_waits_for_all_lanes():
    order = ["Task_land", "Task_env", "Task_ndrc", "Task_construction"]
    _, end = drive(
        "joint-investment",
        JOINT_FORM,
        [
            Step("Task_accept"),
            *parallel_steps({"Task_land": "reject", "Task_env": "reject"}, order),
            Step("Task_denial"),
        ],
    )
    assert result_of("joint-investment", end) == "denied"
