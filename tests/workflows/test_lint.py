"""The lint: one small diagram per rule, checking code, element and line of each finding."""

from __future__ import annotations

import pytest
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser

from workflows.errors import DiagramError, Finding
from workflows.lint import lint
from workflows.loader import load_diagram, parse_bpmn

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    id="Defs" targetNamespace="http://onewindow.test/lint">
"""
TAIL = "</bpmn:definitions>\n"


def props(**values: str) -> str:
    """Return an extensionElements block with camunda properties."""
    items = "".join(f'<camunda:property name="{k}" value="{v}"/>' for k, v in values.items())
    return f"<bpmn:extensionElements><camunda:properties>{items}</camunda:properties>" + (
        "</bpmn:extensionElements>"
    )


CONDITION = 'outcome == "approve" and certificates &lt;= 30'
TASK_PROPS = props(stage="acceptance", timeLimit="2d")

GOOD_PROCESS = f"""  <bpmn:process id="Licence" name="许可" isExecutable="true">
    <bpmn:laneSet id="Lanes">
      <bpmn:lane id="Lane_window" name="窗口受理岗">
        <bpmn:flowNodeRef>Accept</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="Begin"/>
    <bpmn:userTask id="Accept" name="受理">
      {TASK_PROPS}
    </bpmn:userTask>
    <bpmn:userTask id="Review" name="审核" camunda:candidateGroups="reviewer">
      {TASK_PROPS}
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="Decide" name="通过?" default="Flow_no"/>
    <bpmn:endEvent id="Approved">{props(result="approved")}</bpmn:endEvent>
    <bpmn:endEvent id="Denied">{props(result="denied")}</bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="Begin" targetRef="Accept"/>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Accept" targetRef="Review"/>
    <bpmn:sequenceFlow id="Flow_3" sourceRef="Review" targetRef="Decide"/>
    <bpmn:sequenceFlow id="Flow_yes" sourceRef="Decide" targetRef="Approved">
      <bpmn:conditionExpression>{CONDITION}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Flow_no" sourceRef="Decide" targetRef="Denied"/>
  </bpmn:process>
"""
GOOD = HEAD + GOOD_PROCESS + TAIL


def line_of(text: str, needle: str) -> int:
    """Return the 1-based line on which needle first occurs."""
    return text[: text.index(needle)].count("\n") + 1


def run(text: str) -> list[Finding]:
    return lint(parse_bpmn(text.encode(), "case.bpmn"), "case.bpmn")


def only(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def single(text: str, code: str, needle: str, severity: str = "error") -> Finding:
    """Lint text, expect exactly one finding with code, on the element where needle is."""
    [finding] = only(run(text), code)
    assert finding.severity == severity
    assert finding.line == line_of(text, needle)
    assert finding.filename == "case.bpmn"
    assert finding.message
    return finding


def variant(*replacements: tuple[str, str]) -> str:
    text = GOOD
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def add_nodes(xml: str) -> str:
    """Insert elements into the good process, before its end."""
    return variant(("  </bpmn:process>", xml + "\n  </bpmn:process>"))


def test_good_diagram_passes_schema_and_lint_without_findings() -> None:
    assert run(GOOD) == []
    assert load_diagram(GOOD.encode()).findings == []


# --- executable process -------------------------------------------------------------------


@pytest.mark.parametrize("attribute", ['isExecutable="false"', ""])
def test_process_not_marked_executable(attribute: str) -> None:
    text = variant(('isExecutable="true"', attribute))
    finding = single(text, "not-executable", 'id="Licence"')
    assert finding.element_id == "Licence"
    assert "process 'Licence' (许可)" in finding.message
    assert [f.code for f in run(text)] == ["not-executable"]


def test_diagram_without_process() -> None:
    [finding] = run(HEAD + TAIL)
    assert (finding.code, finding.element_id) == ("not-executable", "Defs")


def test_only_executable_processes_are_linted() -> None:
    other = """  <bpmn:process id="Sketch" isExecutable="false">
    <bpmn:userTask id="Loose"/>
    <bpmn:complexGateway id="Odd"/>
  </bpmn:process>
"""
    assert run(HEAD + GOOD_PROCESS + other + TAIL) == []


def test_process_without_start_event() -> None:
    text = variant(
        ('<bpmn:startEvent id="Begin"/>', ""), ('sourceRef="Begin"', 'sourceRef="Accept"')
    )
    finding = single(text, "no-start-event", 'id="Licence"')
    assert finding.element_id == "Licence"


# --- who does a task ----------------------------------------------------------------------


def test_user_task_without_lane_or_candidate_groups() -> None:
    text = variant((' camunda:candidateGroups="reviewer"', ""))
    finding = single(text, "unassigned-task", 'id="Review"')
    assert finding.element_id == "Review"
    assert "userTask 'Review' (审核)" in finding.message


def test_user_task_in_a_lane_needs_no_candidate_groups() -> None:
    assert only(run(GOOD), "unassigned-task") == []


def test_unnamed_lane_warns_and_does_not_assign() -> None:
    text = variant((' name="窗口受理岗"', ""))
    assert single(text, "unnamed-lane", 'id="Lane_window"', "warning").element_id == "Lane_window"
    assert single(text, "unassigned-task", 'id="Accept"').element_id == "Accept"


def test_user_task_inside_a_laned_sub_process_is_assigned() -> None:
    text = variant(
        ("<bpmn:flowNodeRef>Accept</bpmn:flowNodeRef>", "<bpmn:flowNodeRef>Sub</bpmn:flowNodeRef>"),
        (
            f'<bpmn:userTask id="Accept" name="受理">\n      {TASK_PROPS}\n    </bpmn:userTask>',
            f"""<bpmn:subProcess id="Sub">
      <bpmn:startEvent id="Sub_begin"/>
      <bpmn:userTask id="Inner">{TASK_PROPS}</bpmn:userTask>
      <bpmn:endEvent id="Sub_end"/>
      <bpmn:sequenceFlow id="Sub_1" sourceRef="Sub_begin" targetRef="Inner"/>
      <bpmn:sequenceFlow id="Sub_2" sourceRef="Inner" targetRef="Sub_end"/>
    </bpmn:subProcess>""",
        ),
        ('targetRef="Accept"', 'targetRef="Sub"'),
        ('sourceRef="Accept"', 'sourceRef="Sub"'),
    )
    assert run(text) == []


# --- user task properties -----------------------------------------------------------------


def test_missing_stage_and_time_limit_are_warnings() -> None:
    text = variant((TASK_PROPS, ""))
    stage = single(text, "missing-stage", 'id="Accept"', "warning")
    limit = single(text, "missing-time-limit", 'id="Accept"', "warning")
    assert stage.element_id == limit.element_id == "Accept"


@pytest.mark.parametrize("value", ["2 days", "d2", "2", "1.5w", "-1d"])
def test_bad_time_limit_is_an_error(value: str) -> None:
    text = variant((TASK_PROPS, props(stage="acceptance", timeLimit=value)))
    finding = single(text, "bad-time-limit", 'id="Accept"')
    assert finding.element_id == "Accept"
    assert value in finding.message


@pytest.mark.parametrize("value", ["2d", "4h", "0.5d", "10h"])
def test_good_time_limits(value: str) -> None:
    text = variant((TASK_PROPS, props(stage="acceptance", timeLimit=value)))
    assert only(run(text), "bad-time-limit") == []


# --- gateways -----------------------------------------------------------------------------


def test_flow_without_condition_that_is_not_the_default() -> None:
    text = variant((' default="Flow_no"', ""))
    finding = single(text, "missing-condition", 'id="Flow_no"')
    assert finding.element_id == "Flow_no"
    assert "exclusiveGateway 'Decide' (通过?)" in finding.message
    assert single(text, "no-default", 'id="Decide"', "warning").element_id == "Decide"


def test_gateway_without_default_but_all_conditions_only_warns() -> None:
    text = variant(
        (' default="Flow_no"', ""),
        (
            '<bpmn:sequenceFlow id="Flow_no" sourceRef="Decide" targetRef="Denied"/>',
            '<bpmn:sequenceFlow id="Flow_no" sourceRef="Decide" targetRef="Denied">'
            '<bpmn:conditionExpression>outcome != "approve"</bpmn:conditionExpression>'
            "</bpmn:sequenceFlow>",
        ),
    )
    assert [(f.code, f.severity, f.element_id) for f in run(text)] == [
        ("no-default", "warning", "Decide")
    ]


def test_inclusive_gateway_needs_conditions_too() -> None:
    text = variant(
        (
            '<bpmn:exclusiveGateway id="Decide" name="通过?" default="Flow_no"/>',
            '<bpmn:inclusiveGateway id="Decide"/>',
        ),
    )
    assert single(text, "missing-condition", 'id="Flow_no"').element_id == "Flow_no"


def test_default_naming_no_outgoing_flow() -> None:
    text = variant(('default="Flow_no"', 'default="Flow_1"'))
    finding = single(text, "bad-default", 'id="Decide"')
    assert finding.element_id == "Decide"
    assert "'Flow_1'" in finding.message
    assert only(run(text), "no-default") == []


def test_empty_condition_counts_as_missing() -> None:
    text = variant((CONDITION, " "))
    assert single(text, "missing-condition", 'id="Flow_yes"').element_id == "Flow_yes"


def test_condition_on_a_flow_leaving_a_task_is_ignored() -> None:
    text = variant(
        (
            '<bpmn:sequenceFlow id="Flow_2" sourceRef="Accept" targetRef="Review"/>',
            '<bpmn:sequenceFlow id="Flow_2" sourceRef="Accept" targetRef="Review">'
            "<bpmn:conditionExpression>ready</bpmn:conditionExpression></bpmn:sequenceFlow>",
        )
    )
    finding = single(text, "ignored-condition", 'id="Flow_2"', "warning")
    assert finding.element_id == "Flow_2"


def test_task_with_two_outgoing_flows_needs_a_gateway() -> None:
    text = add_nodes('<bpmn:sequenceFlow id="Flow_extra" sourceRef="Accept" targetRef="Denied"/>')
    finding = single(text, "implicit-split", 'id="Accept"')
    assert finding.element_id == "Accept"
    assert "2 outgoing" in finding.message


# --- expressions --------------------------------------------------------------------------


def test_unsafe_condition_is_refused_with_expression_and_reason() -> None:
    evil = "__import__('os').system('touch /tmp/pwned')"
    text = variant((CONDITION, evil))
    finding = single(text, "unsafe-expression", 'id="Flow_yes"')
    assert finding.element_id == "Flow_yes"
    assert evil in finding.message
    assert "not allowed" in finding.message


def test_script_task_with_assignments_passes() -> None:
    script = """<bpmn:scriptTask id="Compute" scriptFormat="python">
      <bpmn:script>fee = certificates * 10
discount = fee &gt; 100</bpmn:script>
    </bpmn:scriptTask>"""
    text = variant(
        ('targetRef="Review"/>', 'targetRef="Compute"/>'),
        ("  </bpmn:process>", script + "\n  </bpmn:process>"),
        (
            '<bpmn:sequenceFlow id="Flow_3"',
            '<bpmn:sequenceFlow id="Flow_c" sourceRef="Compute" targetRef="Review"/>\n'
            '    <bpmn:sequenceFlow id="Flow_3"',
        ),
    )
    assert run(text) == []


@pytest.mark.parametrize("script", ["import os", "a.b = 1", "del a", "x = __import__('os')"])
def test_unsafe_script_is_refused(script: str) -> None:
    text = add_nodes(
        f'<bpmn:scriptTask id="Compute"><bpmn:script>{script}</bpmn:script></bpmn:scriptTask>'
    )
    finding = single(text, "unsafe-expression", 'id="Compute"')
    assert finding.element_id == "Compute"
    assert "scriptTask 'Compute'" in finding.message


def test_script_task_without_inline_script() -> None:
    text = add_nodes('<bpmn:scriptTask id="Compute" camunda:resource="deployment://x.py"/>')
    assert single(text, "missing-script", 'id="Compute"').element_id == "Compute"


def test_multi_instance_expressions_are_checked() -> None:
    text = variant(
        (
            f'<bpmn:userTask id="Review" name="审核" camunda:candidateGroups="reviewer">\n'
            f"      {TASK_PROPS}\n",
            f'<bpmn:userTask id="Review" name="审核" camunda:candidateGroups="reviewer">\n'
            f"      {TASK_PROPS}\n"
            "      <bpmn:multiInstanceLoopCharacteristics>"
            "<bpmn:loopCardinality>len(experts)</bpmn:loopCardinality>"
            "<bpmn:completionCondition>().__class__</bpmn:completionCondition>"
            "</bpmn:multiInstanceLoopCharacteristics>\n",
        )
    )
    finding = single(text, "unsafe-expression", 'id="Review"')
    assert finding.element_id == "Review"
    assert "completion condition" in finding.message and "__class__" in finding.message


def test_unquoted_iso_timer_is_refused() -> None:
    text = add_nodes(
        '<bpmn:boundaryEvent id="Late" attachedToRef="Review" cancelActivity="false">'
        "<bpmn:timerEventDefinition><bpmn:timeDuration>P2D</bpmn:timeDuration>"
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>\n"
        '<bpmn:sequenceFlow id="Flow_late" sourceRef="Late" targetRef="Denied"/>'
    )
    finding = single(text, "unquoted-timer", 'id="Late"')
    assert finding.element_id == "Late"
    assert '"P2D"' in finding.message


def test_quoted_timer_passes() -> None:
    text = add_nodes(
        '<bpmn:boundaryEvent id="Late" attachedToRef="Review" cancelActivity="false">'
        '<bpmn:timerEventDefinition><bpmn:timeDuration>"P2D"</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:boundaryEvent>\n"
        '<bpmn:sequenceFlow id="Flow_late" sourceRef="Late" targetRef="Denied"/>'
    )
    assert run(text) == []


def test_timer_without_time() -> None:
    text = add_nodes(
        '<bpmn:intermediateCatchEvent id="Wait"><bpmn:timerEventDefinition/>'
        "</bpmn:intermediateCatchEvent>"
    )
    assert single(text, "empty-expression", 'id="Wait"').element_id == "Wait"


# --- unsupported elements -----------------------------------------------------------------


@pytest.mark.parametrize(
    "element",
    ["complexGateway", "serviceTask", "sendTask", "receiveTask", "businessRuleTask"],
)
def test_elements_the_runtime_does_not_execute(element: str) -> None:
    text = add_nodes(f'<bpmn:{element} id="Odd" name="审批?"/>')
    finding = single(text, "unsupported-element", 'id="Odd"')
    assert finding.element_id == "Odd"
    assert finding.message.startswith(f"{element} 'Odd' (审批?) is not supported")


def test_data_store_is_not_supported() -> None:
    text = variant(
        ("  <bpmn:process", '  <bpmn:dataStore id="Registry" name="登记簿"/>\n  <bpmn:process'),
    )
    finding = single(text, "unsupported-element", 'id="Registry"')
    assert "dataStore 'Registry' (登记簿)" in finding.message


def test_link_catch_event_is_not_supported() -> None:
    text = add_nodes(
        '<bpmn:intermediateCatchEvent id="Jump"><bpmn:linkEventDefinition name="a"/>'
        "</bpmn:intermediateCatchEvent>"
    )
    finding = single(text, "unsupported-element", 'id="Jump"')
    assert "linkEventDefinition" in finding.message


def test_call_activity_must_call_an_executable_process_of_the_diagram() -> None:
    text = add_nodes('<bpmn:callActivity id="Call" calledElement="Elsewhere"/>')
    finding = single(text, "missing-called-element", 'id="Call"')
    assert "'Elsewhere'" in finding.message


def test_ids_reserved_by_spiffworkflow() -> None:
    text = variant(('id="Begin"', 'id="Start"'), ('sourceRef="Begin"', 'sourceRef="Start"'))
    assert single(text, "reserved-id", 'id="Start"').element_id == "Start"


def test_sub_process_needs_one_start_and_an_end() -> None:
    text = add_nodes('<bpmn:subProcess id="Sub"><bpmn:task id="Inside"/></bpmn:subProcess>')
    assert single(text, "subprocess-events", 'id="Sub"').element_id == "Sub"


# --- flows --------------------------------------------------------------------------------


@pytest.mark.parametrize("attribute", ["sourceRef", "targetRef"])
def test_flow_naming_a_missing_element(attribute: str) -> None:
    text = add_nodes(f'<bpmn:sequenceFlow id="Flow_lost" {attribute}="Nowhere"/>')
    finding = next(f for f in only(run(text), "dangling-flow") if "Nowhere" in f.message)
    assert (finding.element_id, finding.line) == ("Flow_lost", line_of(text, 'id="Flow_lost"'))


def test_disconnected_task_is_an_error_and_its_dead_end_a_warning() -> None:
    text = add_nodes('<bpmn:task id="Orphan" name="孤儿"/>')
    findings = run(text)
    assert [(f.code, f.severity, f.element_id) for f in findings] == [
        ("unreachable", "error", "Orphan"),
        ("dead-end", "warning", "Orphan"),
    ]
    assert all(f.line == line_of(text, 'id="Orphan"') for f in findings)


def test_unreachable_gateway_stays_a_warning() -> None:
    text = add_nodes('<bpmn:parallelGateway id="Loose"/>')
    findings = run(text)
    assert [(f.code, f.severity, f.element_id) for f in findings] == [
        ("unreachable", "warning", "Loose"),
        ("dead-end", "warning", "Loose"),
    ]


def test_activity_left_only_through_a_boundary_event_is_not_a_dead_end() -> None:
    text = variant(
        ('<bpmn:sequenceFlow id="Flow_3" sourceRef="Review" targetRef="Decide"/>', ""),
        (
            "  </bpmn:process>",
            '<bpmn:boundaryEvent id="Done" attachedToRef="Review">'
            '<bpmn:timerEventDefinition><bpmn:timeDuration>"PT1H"</bpmn:timeDuration>'
            "</bpmn:timerEventDefinition></bpmn:boundaryEvent>\n"
            '<bpmn:sequenceFlow id="Flow_3" sourceRef="Done" targetRef="Decide"/>\n'
            "  </bpmn:process>",
        ),
    )
    assert run(text) == []


def test_flows_inside_sub_processes_are_linted() -> None:
    sub = """<bpmn:subProcess id="Sub">
      <bpmn:startEvent id="Sub_begin"/>
      <bpmn:task id="Stuck"/>
      <bpmn:endEvent id="Sub_end"/>
      <bpmn:sequenceFlow id="Sub_1" sourceRef="Sub_begin" targetRef="Stuck"/>
      <bpmn:sequenceFlow id="Sub_2" sourceRef="Sub_begin" targetRef="Sub_end"/>
    </bpmn:subProcess>"""
    text = variant(
        (
            '<bpmn:sequenceFlow id="Flow_2" sourceRef="Accept" targetRef="Review"/>',
            '<bpmn:sequenceFlow id="Flow_2" sourceRef="Accept" targetRef="Sub"/>\n'
            '    <bpmn:sequenceFlow id="Flow_2b" sourceRef="Sub" targetRef="Review"/>',
        ),
        ("  </bpmn:process>", sub + "\n  </bpmn:process>"),
    )
    findings = [(f.code, f.element_id, f.line) for f in run(text)]
    assert findings == [("dead-end", "Stuck", line_of(text, 'id="Stuck"'))]


def test_event_sub_process_is_neither_unreachable_nor_a_dead_end() -> None:
    text = add_nodes(
        """<bpmn:subProcess id="OnTimeout" triggeredByEvent="true">
      <bpmn:startEvent id="Timeout_begin" isInterrupting="false">
        <bpmn:timerEventDefinition><bpmn:timeDuration>"P30D"</bpmn:timeDuration>
        </bpmn:timerEventDefinition>
      </bpmn:startEvent>
      <bpmn:endEvent id="Timeout_end"/>
      <bpmn:sequenceFlow id="Timeout_1" sourceRef="Timeout_begin" targetRef="Timeout_end"/>
    </bpmn:subProcess>"""
    )
    assert run(text) == []


# --- end events ---------------------------------------------------------------------------


@pytest.mark.parametrize("replacement", ["", props(result="maybe")])
def test_end_event_without_a_valid_result_refuses_the_diagram(replacement: str) -> None:
    text = variant((props(result="denied"), replacement))
    finding = single(text, "missing-result", 'id="Denied"')
    assert finding.element_id == "Denied"
    assert "ends the case" in finding.message and "'approved' or 'denied'" in finding.message
    with pytest.raises(DiagramError) as info:
        load_diagram(text.encode(), "case.bpmn")
    assert [f.code for f in info.value.findings if f.severity == "error"] == ["missing-result"]


@pytest.mark.parametrize("definition", ["terminateEventDefinition", "errorEventDefinition"])
def test_terminate_and_error_end_events_of_the_process_end_the_case(definition: str) -> None:
    text = variant(
        (props(result="denied"), f'<bpmn:{definition} id="Def"/>'),
    )
    assert single(text, "missing-result", 'id="Denied"').element_id == "Denied"
    with_result = variant(
        (props(result="denied"), props(result="denied") + f'<bpmn:{definition} id="Def"/>'),
    )
    assert only(run(with_result), "missing-result") == []


SUB_PROCESS_END = """<bpmn:subProcess id="Inner" {attribute}>
      <bpmn:startEvent id="InnerStart" {interrupting}/>
      <bpmn:userTask id="InnerTask" camunda:candidateGroups="reviewer">{task}</bpmn:userTask>
      <bpmn:endEvent id="InnerEnd"/>
      <bpmn:sequenceFlow id="Inner_1" sourceRef="InnerStart" targetRef="InnerTask"/>
      <bpmn:sequenceFlow id="Inner_2" sourceRef="InnerTask" targetRef="InnerEnd"/>
    </bpmn:subProcess>"""


def sub_process(attribute: str = "", interrupting: str = "") -> str:
    xml = SUB_PROCESS_END.format(attribute=attribute, interrupting=interrupting, task=TASK_PROPS)
    return add_nodes(xml)


def test_end_events_inside_a_sub_process_need_no_result() -> None:
    text = sub_process()
    assert only(run(text), "missing-result") == []


def test_an_interrupting_event_sub_process_ends_the_case_so_its_end_needs_a_result() -> None:
    text = sub_process('triggeredByEvent="true"')
    assert single(text, "missing-result", 'id="InnerEnd"').element_id == "InnerEnd"
    text = sub_process('triggeredByEvent="true"', 'isInterrupting="false"')
    assert only(run(text), "missing-result") == []


CALLED = f"""  <bpmn:process id="Helper" isExecutable="true">
    <bpmn:startEvent id="HelperStart"/>
    <bpmn:userTask id="HelperTask" camunda:candidateGroups="reviewer">{TASK_PROPS}</bpmn:userTask>
    <bpmn:endEvent id="HelperEnd"/>
    <bpmn:sequenceFlow id="Helper_1" sourceRef="HelperStart" targetRef="HelperTask"/>
    <bpmn:sequenceFlow id="Helper_2" sourceRef="HelperTask" targetRef="HelperEnd"/>
  </bpmn:process>
"""


def test_end_events_of_a_called_process_return_to_the_caller_and_need_no_result() -> None:
    call = '<bpmn:callActivity id="Call" calledElement="Helper"/>'
    text = HEAD + add_nodes(call).removeprefix(HEAD).removesuffix(TAIL) + CALLED + TAIL
    assert only(run(text), "missing-result") == []
    # the same process, called by nobody, could be the one a case runs
    alone = HEAD + GOOD_PROCESS + CALLED + TAIL
    assert single(alone, "missing-result", 'id="HelperEnd"').element_id == "HelperEnd"


def test_findings_survive_the_loader() -> None:
    text = variant((' camunda:candidateGroups="reviewer"', ""), (TASK_PROPS, ""))
    with pytest.raises(DiagramError) as info:
        load_diagram(text.encode(), "case.bpmn")
    codes = {(f.code, f.severity) for f in info.value.findings}
    assert ("unassigned-task", "error") in codes
    assert ("missing-stage", "warning") in codes


def test_a_diagram_the_lint_accepts_is_one_spiffworkflow_parses() -> None:
    parser = CamundaParser()
    parser.add_bpmn_xml(parse_bpmn(GOOD.encode()), "case.bpmn")
    spec = parser.get_spec("Licence")
    assert spec.task_specs["Accept"].lane == "窗口受理岗"
    assert {"Begin", "Accept", "Review", "Decide", "Approved", "Denied"} <= set(spec.task_specs)
