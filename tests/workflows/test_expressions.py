"""The safe evaluator: what diagrams may compute, what they may never run."""

from __future__ import annotations

from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from workflows.errors import ExpressionError
from workflows.expressions import (
    SafeScriptEngine,
    check_expression,
    check_script,
    evaluate,
    run_script,
)
from workflows.loader import parse_bpmn

UNSAFE = [
    "__import__('os')",
    "().__class__.__bases__",
    "open('/etc/passwd')",
    "x = 1",
    "lambda: 1",
    "[x for x in y]",
    "{k: 1 for k in y}",
    "sum(x for x in y)",
    "getattr(a, 'b')",
    "eval('1')",
    "exec('1')",
    "sorted(y, key=len)",
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


# --- limits: no expression holds a worker or grows it ---------------------------------------

BIG_TEXT = "x" * 99_990
HOSTILE = [
    ("9 ** 9 ** 9", "max_int_bits"),
    ("2 ** 100000", "max_int_bits"),
    ("10 ** 300 * 10 ** 300", "max_int_bits"),
    ("str(10 ** 5000)", "max_int_bits"),
    ("len(str(b * b))", "max_int_bits"),
    (
        "99999999999999999999 * 99999999999999999999" + " * 99999999999999999999" * 60,
        "max_int_bits",
    ),
    ("int('9' * 4000)", "max_int_bits"),
    ("round(5, -10 ** 7)", "max_int_bits"),
    ("'9' * 10 ** 9", "max_length"),
    ("'9' * 1000000000", "max_length"),
    ("[1] * 10 ** 8", "max_length"),
    ("str([[1] * 1000] * 1000)", "max_length"),
    ("sum([[1] * 1000] * 1000, [])", "max_length"),
    ("sum([[1] * 300] * 300, []) + sum([[1] * 300] * 300, [])", "max_length"),
    ("len(sorted([s] * 100))", "max_length"),
    ("len([s, s, s, s, s])", "max_length"),
    ("{'a': s, 'b': s}", "max_length"),
    ("s + s", "max_length"),
    ("str(m)", "max_length"),
    ("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "max_nesting"),
    ("1" + " + 1" * 400, "max_syntax_depth"),
    ("not " * 300 + "True", "max_syntax_depth"),
    (" + ".join(["len(sum(m, []))"] * 60), "max_total"),
]


def _measured(text: str, data: dict) -> tuple[ExpressionError, float, int]:
    """Evaluate a hostile expression; return its error, the seconds and the peak bytes it took.

    The time is taken on a plain run, the memory on a second run under tracemalloc (which
    slows evaluation down several times).
    """
    import time
    import tracemalloc

    started = time.perf_counter()
    with pytest.raises(ExpressionError) as info:
        evaluate(text, data, "Gateway_1")
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionError):
            evaluate(text, data, "Gateway_1")
        return info.value, seconds, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("text", "limit"), HOSTILE, ids=[t[:40] for t, _ in HOSTILE])
def test_hostile_expression_stops_at_its_limit_quickly_and_small(text: str, limit: str) -> None:
    data = {"s": BIG_TEXT, "m": [[1] * 300] * 300, "b": 10**1000}
    error, seconds, peak = _measured(text, data)
    assert getattr(error, "limit", None) == limit, error.message
    assert f"limit {limit} = " in error.message
    assert error.element_id == "Gateway_1" and "element 'Gateway_1'" in error.message
    assert seconds < 1.0  # measured: 0.19 s at most
    assert peak < 40_000_000  # measured: 8 MB at most (a 90,000-item list built, then refused)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("'%0999999999d' % 1", "formatting text with '%'"),
        ("float('inf')", "not a finite number"),
        ("1e308 * 10", "not a finite number"),
        ("(-8) ** 0.5", "no real result"),
        ("s.center", "is a method"),
        ("2 ** 2000.5", "max_int_bits"),
    ],
)
def test_values_the_case_data_cannot_hold_are_refused(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        evaluate(text, {"s": "abc"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 ** 1023 > 0", True),
        ("len(str(2 ** 1000))", 302),
        ("sum(n)", 99_999),
        ("len(sum(m, []))", 90_000),
        ("sorted(['b', 'a'])", ["a", "b"]),
        ("max([3, 1, 2]) + min(4, 5)", 7),
        ("'ab' * 3 + str(round(2.5)) + str(int('12'))", "ababab212"),
        ("len(s * 1)", 99_990),
    ],
)
def test_legitimate_work_near_the_limits_still_runs(text: str, expected: object) -> None:
    data = {"s": BIG_TEXT, "n": [1] * 99_999, "m": [[1] * 300] * 300}
    assert evaluate(text, data) == expected


def test_attributes_read_data_fields_and_never_methods() -> None:
    data = {"form": {"items": 3, "amount": 5}, "s": "abc"}
    assert evaluate("form.items + form.amount", data) == 8
    with pytest.raises(ExpressionError, match="'missing' is not in the data"):
        evaluate("form.missing", data)
    with pytest.raises(ExpressionError, match="'upper' is a method"):
        evaluate("s.upper", data)


def test_a_script_is_bounded_as_a_whole_not_line_by_line() -> None:
    # each line is small; together they pass the evaluation budget
    script = "\n".join(f"a{i} = [1, 2, 3] + [4, 5, 6] + [7, 8, 9]" for i in range(4000))
    with pytest.raises(ExpressionError) as info:
        run_script(script, {}, "Script_big")
    assert info.value.limit == "max_nodes"
    assert "element 'Script_big'" in info.value.message


def test_a_script_result_must_be_storable_case_data() -> None:
    for script, message in [
        ("x = {1, 2}", "set cannot be stored"),
        ("x = len", "cannot be stored"),
    ]:
        with pytest.raises(ExpressionError, match=message):
            run_script(script, {}, "Script_1")


def test_limits_come_from_config_and_are_kept_in_one_place() -> None:
    from workflows import expressions

    before = expressions.LIMITS
    try:
        expressions.configure({"EXPRESSION_MAX_INT_BITS": "64", "OTHER": 1})
        assert expressions.LIMITS.max_int_bits == 64
        with pytest.raises(ExpressionError, match="max_int_bits = 64 bits"):
            evaluate("2 ** 70", {})
    finally:
        expressions.LIMITS = before
    assert evaluate("2 ** 70", {}) == 2**70


def test_the_check_whitelist_does_not_grow_after_an_evaluation() -> None:
    evaluate("len('abc')", {})
    with pytest.raises(ExpressionError, match="call of 'list'"):
        check_expression("list('abc')")


LOOP = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    id="Defs" targetNamespace="http://onewindow.test/loop">
  <bpmn:process id="Proc" isExecutable="true">
    <bpmn:startEvent id="Begin"/>
    <bpmn:userTask id="Check" name="复核" camunda:candidateGroups="review_post">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="stage" value="review"/>
        <camunda:property name="timeLimit" value="1d"/>
        <camunda:property name="outcomes" value="approve"/>
      </camunda:properties></bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:scriptTask id="Square" scriptFormat="python">
      <bpmn:script>y = x
x = x * y</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="Again" default="Flow_done"/>
    <bpmn:endEvent id="Finished">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="result" value="approved"/>
      </camunda:properties></bpmn:extensionElements>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="Begin" targetRef="Check"/>
    <bpmn:sequenceFlow id="Flow_checked" sourceRef="Check" targetRef="Square"/>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Square" targetRef="Again"/>
    <bpmn:sequenceFlow id="Flow_again" sourceRef="Again" targetRef="Check">
      <bpmn:conditionExpression>x &gt; 0</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Flow_done" sourceRef="Again" targetRef="Finished"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_squaring_in_a_loop_stops_the_case_naming_element_and_limit() -> None:
    """Each completion of the check squares x once; the tenth square passes 1024 bits."""
    import time

    from workflows.engine import Engine, compile_diagram
    from workflows.errors import WorkflowFault

    diagram = compile_diagram(LOOP.encode(), "loop.bpmn")
    run, _steps = Engine.standard().start(diagram, {"x": 3})
    with pytest.raises(WorkflowFault) as info:
        for completed in range(1, 50):  # noqa: B007 - counted after the loop
            started = time.perf_counter()
            run.complete(run.ready_tasks()[0].id, "approve", {})
            assert time.perf_counter() - started < 0.5
    assert completed == 10  # 3 ** (2 ** 10) has 1624 bits
    fault = info.value
    assert fault.code == "expression" and fault.task_spec == "Square"
    assert "max_int_bits = 1024 bits" in fault.message and "'Square'" in fault.message


def test_limit_in_a_gateway_condition_names_the_gateway() -> None:
    with pytest.raises((ExpressionError, SpiffWorkflowException)) as info:
        run_diagram("len(str(certificates * certificates)) &gt; 1", {"certificates": 2**600})
    inner = info.value if isinstance(info.value, ExpressionError) else info.value.__context__
    assert inner.limit == "max_int_bits" and inner.element_id == "Decide"
    assert "element 'Decide'" in inner.message
