"""The safe evaluator: what diagrams may compute, what they may never run."""

from __future__ import annotations

from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from workflows.errors import ExpressionError
from workflows.expressions import SafeScriptEngine, check_expression, check_script, evaluate
from workflows.loader import parse_bpmn

UNSAFE = [
    "__import__('os')",
    "().__class__.__bases__",
    "open('/etc/passwd')",
    "x = 1",
    "lambda: 1",
    "[x for x in y]",
    "getattr(a, 'b')",
    "eval('1')",
    "exec('1')",
]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"outcome": "approve", "certificates": 30}, True),
        ({"outcome": "approve", "certificates": 31}, False),
        ({"outcome": "reject", "certificates": 1}, False),
    ],
)
def test_condition_evaluates_against_task_data(data: dict, expected: bool) -> None:
    assert evaluate('outcome == "approve" and certificates <= 30', data) is expected


def test_membership_in_a_tuple_of_variables() -> None:
    text = '"reject" in (a, b)'
    assert evaluate(text, {"a": "approve", "b": "reject"}) is True
    assert evaluate(text, {"a": "approve", "b": "approve"}) is False


@pytest.mark.parametrize("text", UNSAFE)
def test_unsafe_expression_is_refused_at_check_time(text: str) -> None:
    with pytest.raises(ExpressionError) as info:
        check_expression(text, "Flow_1")
    assert info.value.element_id == "Flow_1"
    assert info.value.message


@pytest.mark.parametrize("text", UNSAFE)
def test_unsafe_expression_is_refused_at_evaluation_time(text: str) -> None:
    data = {"a": object(), "y": [1, 2], "x": 0}
    with pytest.raises(ExpressionError):
        evaluate(text, data)


def test_script_of_assignments_is_accepted() -> None:
    assert check_script("a = 1\nb = a + 1") == [("a", "1"), ("b", "a + 1")]


@pytest.mark.parametrize("script", ["import os", "a.b = 1", "del a"])
def test_script_statements_other_than_assignment_are_refused(script: str) -> None:
    with pytest.raises(ExpressionError, match="line 1"):
        check_script(script, "Script_1")


DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="Defs" targetNamespace="http://onewindow.test/expressions">
  <bpmn:process id="Proc" isExecutable="true">
    <bpmn:startEvent id="Begin"/>
    <bpmn:scriptTask id="Count" scriptFormat="python">
      <bpmn:script>total = certificates * 2
size = "big" if total &gt; 10 else "small"</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="Decide" default="Flow_small"/>
    <bpmn:endEvent id="End_big"/>
    <bpmn:endEvent id="End_small"/>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="Begin" targetRef="Count"/>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Count" targetRef="Decide"/>
    <bpmn:sequenceFlow id="Flow_big" sourceRef="Decide" targetRef="End_big">
      <bpmn:conditionExpression>CONDITION</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Flow_small" sourceRef="Decide" targetRef="End_small"/>
  </bpmn:process>
</bpmn:definitions>
"""


def run_diagram(condition: str, data: dict) -> BpmnWorkflow:
    """Parse the inline diagram with the Camunda parser and run it on the safe engine."""
    xml = DIAGRAM.replace("CONDITION", condition).encode()
    parser = CamundaParser()
    parser.add_bpmn_xml(parse_bpmn(xml, "inline.bpmn"), "inline.bpmn")
    workflow = BpmnWorkflow(parser.get_spec("Proc"), script_engine=SafeScriptEngine())
    workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
    workflow.do_engine_steps()
    return workflow


def reached_end(workflow: BpmnWorkflow) -> str:
    done = workflow.get_tasks(state=TaskState.COMPLETED)
    return next(t.task_spec.bpmn_id for t in done if (t.task_spec.bpmn_id or "").startswith("End"))


@pytest.mark.parametrize(("certificates", "end"), [(7, "End_big"), (3, "End_small")])
def test_safe_engine_runs_script_and_gateway_in_a_real_workflow(
    certificates: int, end: str
) -> None:
    condition = 'outcome == "approve" and total &gt; 10'
    workflow = run_diagram(condition, {"certificates": certificates, "outcome": "approve"})
    assert workflow.is_completed()
    assert reached_end(workflow) == end
    assert workflow.data["total"] == certificates * 2
    assert workflow.data["size"] == ("big" if end == "End_big" else "small")


def test_malicious_condition_fails_at_run_time_without_side_effect(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    condition = f"__import__('os').system('touch {marker}')"
    with pytest.raises((ExpressionError, SpiffWorkflowException)) as info:
        run_diagram(condition, {"certificates": 7, "outcome": "approve"})
    error = info.value
    chain = [error, error.__cause__, error.__context__]
    assert any(isinstance(item, ExpressionError) for item in chain)
    assert not marker.exists()
