"""Issue 16's hostile diagrams, each tried as an analyst and a window clerk would, through the
JSON API: refused when the draft is saved and deployed (the finding names the element and the
line, nothing stored changes), or, where only the case's data shows it, the case stops in the
fault state with its reason; never a 500, never a decision. Both databases.

The other hostile inputs of the issue have their own files: the 1,000 return cycles in
tests/test_long_history.py, a slow start beside other requests in tests/test_hostile_steps.py,
encodings and vendor extensions in tests/test_diagram_input.py, JUEL/FEEL in
tests/test_analysts_rewrite.py, several diagrams in one file in tests/test_diagram_chooser.py.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from app.catalogue.models import DiagramVersion, Item
from app.db import session
from tests.apiclient import Api, sample_form
from tests.webclient import Web

ANALYST = "analyst_zhou"
CODE = "planning-permit"
RESULT = """<bpmn:extensionElements><camunda:properties>
      <camunda:property name="result" value="{}" /></camunda:properties></bpmn:extensionElements>"""


def _diagram(middle: str, flows: str, extra: str = "") -> str:
    """Return a planning-permit procedure: start → Pre (script) → {middle} → Lead → ends."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Defs_h" targetNamespace="urn:test">
  <bpmn:process id="Process_planning_permit" name="建设工程规划许可" isExecutable="true">
    <bpmn:startEvent id="Ev_start" />
    {middle}
    <bpmn:userTask id="Task_lead" name="主办科室承办" camunda:candidateGroups="planning_lead">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="stage" value="lead" />
        <camunda:property name="timeLimit" value="5d" />
        <camunda:property name="outcomes" value="approve,reject" />
      </camunda:properties></bpmn:extensionElements></bpmn:userTask>
    <bpmn:exclusiveGateway id="Gw_lead" default="F_ok" />
    <bpmn:endEvent id="Ev_ok">{RESULT.format("approved")}</bpmn:endEvent>
    <bpmn:endEvent id="Ev_no">{RESULT.format("denied")}</bpmn:endEvent>
    {extra}
    {flows}
    <bpmn:sequenceFlow id="F_lead" sourceRef="Task_lead" targetRef="Gw_lead" />
    <bpmn:sequenceFlow id="F_ok" sourceRef="Gw_lead" targetRef="Ev_ok" />
    <bpmn:sequenceFlow id="F_no" sourceRef="Gw_lead" targetRef="Ev_no">
      <bpmn:conditionExpression>outcome == "reject"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>"""


def _straight(script: str = "n = 0") -> str:
    """Return a diagram whose start runs one script, then the lead stage."""
    return _diagram(
        f'<bpmn:scriptTask id="Pre" name="预处理" scriptFormat="python">'
        f"<bpmn:script>{script}</bpmn:script></bpmn:scriptTask>",
        '<bpmn:sequenceFlow id="F_s" sourceRef="Ev_start" targetRef="Pre" />'
        '<bpmn:sequenceFlow id="F_p" sourceRef="Pre" targetRef="Task_lead" />',
    )


def _line_of(xml: str, element_id: str) -> int:
    """Return the line of the element's start tag in the XML text."""
    for number, line in enumerate(xml.splitlines(), start=1):
        if f'id="{element_id}"' in line:
            return number
    raise AssertionError(element_id)


def _versions(app) -> int:
    with app.app_context():
        return session().scalar(
            sa.select(sa.func.count(DiagramVersion.id))
            .join(Item, Item.id == DiagramVersion.item_id)
            .where(Item.code == CODE)
        )


def _refused(demo_app, xml: str, code: str, element: str) -> dict:
    """Save the draft and try to deploy it: the finding names the element and its line."""
    api = Api(demo_app.test_client())
    before = _versions(demo_app)
    token = api.token(ANALYST)
    resp = api.client.put(
        f"/api/v1/items/{CODE}/draft",
        data=xml.encode("utf-8"),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200, resp.get_json()
    report = resp.get_json()
    found = [f for f in report["findings"] if f["code"] == code and f["severity"] == "error"]
    assert found, (code, report["findings"])
    assert any(f["element_id"] == element for f in found), found
    assert any(f["line"] == _line_of(xml, element) for f in found if f["element_id"] == element)
    answer = api.call("POST", f"/items/{CODE}/deploy", ANALYST, 400, json={"comment": "试"})
    assert "处错误" in answer["message"]  # "草稿有 N 处错误…": the API answers in Chinese
    assert _versions(demo_app) == before  # nothing deployed, the old version still serves
    return found[0]


def _deployed(demo_app, tmp_path, xml: str) -> None:
    """Deploy a diagram that lint accepts (by the CLI, as an administrator would)."""
    path = tmp_path / "h.bpmn"
    path.write_text(xml, "utf-8")
    out = demo_app.test_cli_runner().invoke(args=["deploy", CODE, str(path), "--comment", "h"])
    assert "deployed" in out.output and "cannot" not in out.output, out.output


# --- refused when saved and deployed ----------------------------------------------------------


def test_an_endless_script_loop_is_refused_naming_its_elements(demo_app):
    xml = _diagram(
        '<bpmn:scriptTask id="Loop" name="循环计算" scriptFormat="python">'
        "<bpmn:script>n = 1</bpmn:script></bpmn:scriptTask>"
        '<bpmn:exclusiveGateway id="Gw_loop" name="再算一次" default="F_back" />',
        '<bpmn:sequenceFlow id="F_s" sourceRef="Ev_start" targetRef="Loop" />'
        '<bpmn:sequenceFlow id="F_l" sourceRef="Loop" targetRef="Gw_loop" />'
        '<bpmn:sequenceFlow id="F_back" sourceRef="Gw_loop" targetRef="Loop" />'
        '<bpmn:sequenceFlow id="F_out" sourceRef="Gw_loop" targetRef="Task_lead">'
        "<bpmn:conditionExpression>n &lt; 0</bpmn:conditionExpression></bpmn:sequenceFlow>",
    )
    finding = _refused(demo_app, xml, "cycle-without-wait", "Gw_loop")
    assert "Loop" in finding["message"] and "循环计算" in finding["message"]


@pytest.mark.parametrize("value", ["P99999999Y", "R/PT1S", "-P1D", "P999999999D", "P10000Y"])
def test_an_out_of_range_timer_is_refused_with_the_allowed_range(demo_app, value):
    kind = "timeCycle" if value.startswith("R") else "timeDuration"
    timer = (
        f'<bpmn:boundaryEvent id="Timer_lead" name="超时" attachedToRef="Task_lead" '
        f'cancelActivity="false"><bpmn:timerEventDefinition><bpmn:{kind}>"{value}"'
        f"</bpmn:{kind}></bpmn:timerEventDefinition></bpmn:boundaryEvent>"
        f'<bpmn:endEvent id="Ev_late">{RESULT.format("denied")}</bpmn:endEvent>'
    )
    xml = _diagram(
        "",
        '<bpmn:sequenceFlow id="F_s" sourceRef="Ev_start" targetRef="Task_lead" />'
        '<bpmn:sequenceFlow id="F_t" sourceRef="Timer_lead" targetRef="Ev_late" />',
        timer,
    )
    finding = _refused(demo_app, xml, "bad-timer", "Timer_lead")
    assert value in finding["message"]


def test_a_self_squaring_script_on_a_loop_is_refused(demo_app):
    xml = _diagram(
        '<bpmn:scriptTask id="Square" name="平方" scriptFormat="python">'
        "<bpmn:script>x = x * x</bpmn:script></bpmn:scriptTask>"
        '<bpmn:scriptTask id="Seed" name="初值" scriptFormat="python">'
        "<bpmn:script>x = 2</bpmn:script></bpmn:scriptTask>"
        '<bpmn:userTask id="Task_again" name="复核" camunda:candidateGroups="planning_lead">'
        '<bpmn:extensionElements><camunda:properties><camunda:property name="stage" '
        'value="lead" /><camunda:property name="timeLimit" value="1d" />'
        '<camunda:property name="outcomes" value="approve,return" />'
        "</camunda:properties></bpmn:extensionElements></bpmn:userTask>"
        '<bpmn:exclusiveGateway id="Gw_again" default="F_on" />',
        '<bpmn:sequenceFlow id="F_s" sourceRef="Ev_start" targetRef="Seed" />'
        '<bpmn:sequenceFlow id="F_x" sourceRef="Seed" targetRef="Task_again" />'
        '<bpmn:sequenceFlow id="F_a" sourceRef="Task_again" targetRef="Gw_again" />'
        '<bpmn:sequenceFlow id="F_r" sourceRef="Gw_again" targetRef="Square">'
        '<bpmn:conditionExpression>outcome == "return"</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="F_q" sourceRef="Square" targetRef="Task_again" />'
        '<bpmn:sequenceFlow id="F_on" sourceRef="Gw_again" targetRef="Task_lead" />',
    )
    finding = _refused(demo_app, xml, "expression-limit", "Square")
    assert "max_int_bits" in finding["message"]


def test_a_call_activity_calling_its_own_process_is_refused(demo_app):
    xml = _diagram(
        '<bpmn:callActivity id="Call_self" name="再次办理" '
        'calledElement="Process_planning_permit" />',
        '<bpmn:sequenceFlow id="F_s" sourceRef="Ev_start" targetRef="Call_self" />'
        '<bpmn:sequenceFlow id="F_c" sourceRef="Call_self" targetRef="Task_lead" />',
    )
    finding = _refused(demo_app, xml, "recursive-call", "Call_self")
    assert "Process_planning_permit" in finding["message"]


def _many() -> str:
    return _diagram(
        '<bpmn:userTask id="Task_many" name="多人会签" camunda:candidateGroups="planning_lead">'
        '<bpmn:extensionElements><camunda:properties><camunda:property name="stage" '
        'value="lead" /><camunda:property name="timeLimit" value="1d" />'
        "</camunda:properties></bpmn:extensionElements>"
        '<bpmn:multiInstanceLoopCharacteristics camunda:collection="reviewers" '
        'camunda:elementVariable="reviewer" /></bpmn:userTask>',
        '<bpmn:sequenceFlow id="F_s" sourceRef="Ev_start" targetRef="Task_many" />'
        '<bpmn:sequenceFlow id="F_m" sourceRef="Task_many" targetRef="Task_lead" />',
    )


def test_a_multi_instance_task_without_its_collection_is_refused(demo_app):
    xml = _many()
    finding = _refused(demo_app, xml, "multi-instance-variable", "Task_many")
    assert "reviewers" in finding["message"]


def test_an_end_event_without_a_result_is_refused(demo_app):
    xml = _straight().replace(RESULT.format("approved"), "")
    finding = _refused(demo_app, xml, "missing-result", "Ev_ok")
    assert "approved" in finding["message"] and "denied" in finding["message"]


# --- what only the case's data shows: the case stops, nothing is decided ----------------------


def _faulted_at_start(demo_app, form: dict) -> dict:
    api = Api(demo_app.test_client())
    created = api.apply(CODE, form)
    assert created["status"] == "fault", created
    case = api.case(created["case_no"])
    assert case["decision"] is None and case["open_tasks"] == []
    return created


def test_a_timer_computed_from_the_application_out_of_range_stops_the_case(demo_app, tmp_path):
    timer = (
        '<bpmn:boundaryEvent id="Timer_lead" name="超时" attachedToRef="Task_lead" '
        'cancelActivity="false"><bpmn:timerEventDefinition><bpmn:timeDuration>'
        '"P" + str(floor_area) + "D"</bpmn:timeDuration></bpmn:timerEventDefinition>'
        f'</bpmn:boundaryEvent><bpmn:endEvent id="Ev_late">{RESULT.format("denied")}'
        "</bpmn:endEvent>"
    )
    xml = _diagram(
        "",
        '<bpmn:sequenceFlow id="F_s" sourceRef="Ev_start" targetRef="Task_lead" />'
        '<bpmn:sequenceFlow id="F_t" sourceRef="Timer_lead" targetRef="Ev_late" />',
        timer,
    )
    _deployed(demo_app, tmp_path, xml)
    api = Api(demo_app.test_client())
    fine = api.apply(CODE, sample_form(CODE, floor_area=3))  # P3D: waits three days
    assert fine["status"] == "accepted", fine
    _faulted_at_start(demo_app, sample_form(CODE, floor_area=99999999))


def test_an_expression_past_its_limits_on_the_applications_data_stops_the_case(demo_app, tmp_path):
    _deployed(demo_app, tmp_path, _straight("total = sum([1] * floor_area)"))
    api = Api(demo_app.test_client())
    assert api.apply(CODE, sample_form(CODE, floor_area=800))["status"] == "accepted"
    started = time.monotonic()
    _faulted_at_start(demo_app, sample_form(CODE, floor_area=10**9))
    assert time.monotonic() - started < 5


def test_a_big_integer_from_the_application_stops_the_case_not_a_500(demo_app, tmp_path):
    _deployed(demo_app, tmp_path, _straight("shown = str(floor_area ** floor_area)"))
    _faulted_at_start(demo_app, sample_form(CODE, floor_area=5000))


def test_a_dry_run_says_why_it_stopped_and_stays_short(demo_app):
    api = Api(demo_app.test_client())
    token = api.token(ANALYST)
    xml = _straight("total = sum([1] * floor_area) + missing_value")
    resp = api.client.put(
        f"/api/v1/items/{CODE}/draft",
        data=xml.encode("utf-8"),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200 and resp.get_json()["errors"] == 0, resp.get_json()
    web = Web(demo_app)
    web.login(ANALYST)
    for data, cause in (('{"floor_area": 1000000000}', "max_length"),
                        ('{"floor_area": 3}', "missing_value")):  # fmt: skip
        started = time.monotonic()
        form = {"source": "draft", "data": data, "action": "start"}
        page = web.post(f"/analyst/items/{CODE}/dryrun", form, expect=200).text
        assert time.monotonic() - started < 3
        error = page[page.index('id="dry-error"') :].split("</p>")[0]
        assert cause in error and "(<code>Pre</code>)" in error, error


def test_a_multi_instance_task_whose_collection_is_missing_stops_the_case(demo_app, tmp_path):
    # deployed by the CLI, which lints without the item's form: a warning only
    _deployed(demo_app, tmp_path, _many())
    created = _faulted_at_start(demo_app, sample_form(CODE, floor_area=800))
    events = Api(demo_app.test_client()).call(
        "GET", f"/cases/{created['case_no']}/events", "auditor_sun"
    )
    fault = [e for e in events["events"] if e["type"] == "case_faulted"][-1]["data"]
    assert fault["code"] == "engine" and fault["element"] == "Task_many"
    assert "TypeError" in fault["cause"]
