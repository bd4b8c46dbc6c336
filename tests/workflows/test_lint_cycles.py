"""Lint rules that keep diagrams out which would hang or crash a case: loops that never wait,
call activities that call themselves, multi-instance tasks without a usable input."""

from __future__ import annotations

import time

import pytest

from tests.workflows.test_lint import (
    GOOD_PROCESS,
    HEAD,
    TAIL,
    TASK_PROPS,
    add_nodes,
    line_of,
    only,
    run,
    single,
    variant,
)
from workflows.errors import DiagramError
from workflows.lint import lint
from workflows.loader import load_diagram, parse_bpmn

CYCLE = "cycle-without-wait"

# A loop after acceptance: Again -> Step -> Again, leaving through Leave to Review.
LOOP = """<bpmn:exclusiveGateway id="Again" name="再算?" default="Flow_leave"/>
    {step}
    <bpmn:sequenceFlow id="Flow_into" sourceRef="Again" targetRef="Step">
      <bpmn:conditionExpression>n &lt; 3</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="Flow_round" sourceRef="Step" targetRef="Again"/>
    <bpmn:sequenceFlow id="Flow_leave" sourceRef="Again" targetRef="Review"/>"""
SCRIPT = '<bpmn:scriptTask id="Step" name="计数"><bpmn:script>n = n + 1</bpmn:script>' + (
    "</bpmn:scriptTask>"
)


def user_task(element_id: str) -> str:
    """Return an assigned user task with stage and time limit."""
    return (
        f'<bpmn:userTask id="{element_id}" camunda:candidateGroups="reviewer">{TASK_PROPS}'
        "</bpmn:userTask>"
    )


def looped(step: str = SCRIPT) -> str:
    """Return the good diagram with Accept leading into a loop around step."""
    text = variant(
        (
            '<bpmn:sequenceFlow id="Flow_2" sourceRef="Accept" targetRef="Review"/>',
            '<bpmn:sequenceFlow id="Flow_2" sourceRef="Accept" targetRef="Again"/>',
        )
    )
    return text.replace("  </bpmn:process>", LOOP.format(step=step) + "\n  </bpmn:process>")


def test_a_loop_of_automatic_steps_is_refused_naming_its_elements() -> None:
    text = looped()
    finding = single(text, CYCLE, 'id="Again"')
    assert finding.element_id == "Again"
    assert "exclusiveGateway 'Again' (再算?)" in finding.message
    assert "scriptTask 'Step' (计数)" in finding.message
    with pytest.raises(DiagramError):
        load_diagram(text.encode(), "case.bpmn")


def test_a_return_loop_through_a_user_task_is_fine() -> None:
    # the usual 退回: the decision goes back to acceptance, a person acts each round
    text = variant(
        ('default="Flow_no"/>', 'default="Flow_no"/>'),
        (
            '<bpmn:sequenceFlow id="Flow_no" sourceRef="Decide" targetRef="Denied"/>',
            '<bpmn:sequenceFlow id="Flow_no" sourceRef="Decide" targetRef="Denied"/>\n'
            '    <bpmn:sequenceFlow id="Flow_back" sourceRef="Decide" targetRef="Accept">'
            '<bpmn:conditionExpression>outcome == "return"</bpmn:conditionExpression>'
            "</bpmn:sequenceFlow>",
        ),
    )
    assert run(text) == []


@pytest.mark.parametrize(
    "step",
    [
        '<bpmn:userTask id="Step" camunda:candidateGroups="reviewer">'
        + TASK_PROPS
        + "</bpmn:userTask>",
        '<bpmn:intermediateCatchEvent id="Step"><bpmn:timerEventDefinition><bpmn:timeDuration>'
        '"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>',
        '<bpmn:intermediateCatchEvent id="Step"><bpmn:messageEventDefinition id="M"/>'
        "</bpmn:intermediateCatchEvent>",
        '<bpmn:manualTask id="Step" name="人工"/>',
    ],
    ids=["user-task", "timer", "message", "manual-task"],
)
def test_a_loop_that_waits_for_a_person_timer_or_message_is_fine(step: str) -> None:
    assert only(run(looped(step)), CYCLE) == []


def test_a_self_loop_without_wait_is_a_cycle() -> None:
    text = add_nodes(
        SCRIPT.replace('id="Step"', 'id="Spin"')
        + '\n    <bpmn:sequenceFlow id="Flow_spin" sourceRef="Spin" targetRef="Spin"/>'
    )
    assert single(text, CYCLE, 'id="Spin"').element_id == "Spin"


BOUNDARY = """<bpmn:boundaryEvent id="Retry" attachedToRef="Step">{definition}</bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="Flow_retry" sourceRef="Retry" targetRef="Step"/>"""


@pytest.mark.parametrize(
    ("definition", "refused"),
    [
        ('<bpmn:errorEventDefinition id="E"/>', True),
        ('<bpmn:timerEventDefinition><bpmn:timeDuration>"PT1H"</bpmn:timeDuration>'
         "</bpmn:timerEventDefinition>", False),
    ],
    ids=["error-boundary", "timer-boundary"],
)  # fmt: skip
def test_a_loop_through_a_boundary_event_waits_only_when_the_event_does(
    definition: str, refused: bool
) -> None:
    # a task retried through its own boundary event: Step -> Retry -> Step
    text = add_nodes(
        '<bpmn:task id="Step" name="调用"/>\n    '
        + BOUNDARY.format(definition=definition)
        + '\n    <bpmn:sequenceFlow id="Flow_x" sourceRef="Step" targetRef="Review"/>'
    )
    found = only(run(text), CYCLE)
    assert bool(found) is refused
    if refused:
        assert (
            "boundaryEvent 'Retry'" in found[0].message and "task 'Step' (调用)" in found[0].message
        )


INNER = """<bpmn:subProcess id="Step" name="子流程">
      <bpmn:startEvent id="In_start"/>
      {inner}
      <bpmn:endEvent id="In_end"/>
      <bpmn:sequenceFlow id="In_1" sourceRef="In_start" targetRef="In_task"/>
      <bpmn:sequenceFlow id="In_2" sourceRef="In_task" targetRef="In_end"/>
    </bpmn:subProcess>"""


def test_a_sub_process_on_a_loop_counts_as_a_wait_only_if_it_contains_one() -> None:
    user = user_task("In_task")
    script = '<bpmn:scriptTask id="In_task"><bpmn:script>n = 1</bpmn:script></bpmn:scriptTask>'
    assert only(run(looped(INNER.format(inner=user))), CYCLE) == []
    finding = single(looped(INNER.format(inner=script)), CYCLE, 'id="Again"')
    assert "subProcess 'Step' (子流程)" in finding.message


def test_a_loop_inside_a_sub_process_is_found_there() -> None:
    inner = (
        '<bpmn:exclusiveGateway id="In_task" default="In_2"/>'
        '<bpmn:scriptTask id="In_spin"><bpmn:script>n = 1</bpmn:script></bpmn:scriptTask>'
        '<bpmn:sequenceFlow id="In_3" sourceRef="In_task" targetRef="In_spin">'
        "<bpmn:conditionExpression>n &lt; 3</bpmn:conditionExpression></bpmn:sequenceFlow>"
        '<bpmn:sequenceFlow id="In_4" sourceRef="In_spin" targetRef="In_task"/>'
    )
    text = add_nodes(INNER.format(inner=inner))
    finding = single(text, CYCLE, 'id="In_task"')
    assert "scriptTask 'In_spin'" in finding.message


HELPER = """  <bpmn:process id="Helper" isExecutable="true">
    <bpmn:startEvent id="H_start"/>
    {body}
    <bpmn:endEvent id="H_end"/>
    <bpmn:sequenceFlow id="H_1" sourceRef="H_start" targetRef="H_task"/>
    <bpmn:sequenceFlow id="H_2" sourceRef="H_task" targetRef="H_end"/>
  </bpmn:process>
"""


def with_helper(main: str, body: str) -> str:
    return main.replace(TAIL, HELPER.format(body=body) + TAIL)


def test_a_call_activity_on_a_loop_waits_if_the_called_process_does() -> None:
    call = '<bpmn:callActivity id="Step" name="调用子流程" calledElement="Helper"/>'
    user = user_task("H_task")
    script = '<bpmn:scriptTask id="H_task"><bpmn:script>n = 1</bpmn:script></bpmn:scriptTask>'
    assert only(run(with_helper(looped(call), user)), CYCLE) == []
    finding = single(with_helper(looped(call), script), CYCLE, 'id="Again"')
    assert "callActivity 'Step' (调用子流程)" in finding.message


def test_a_loop_thousands_of_elements_long_is_found_quickly_without_recursion() -> None:
    count = 5000
    tasks = "\n".join(f'    <bpmn:task id="T{i}" name="步骤{i}"/>' for i in range(count))
    flows = "\n".join(
        f'    <bpmn:sequenceFlow id="F{i}" sourceRef="T{i}" targetRef="T{(i + 1) % count}"/>'
        for i in range(count)
    )
    text = add_nodes(tasks + "\n" + flows)
    started = time.perf_counter()
    findings = only(run(text), CYCLE)
    elapsed = time.perf_counter() - started
    [finding] = findings
    assert finding.element_id == "T0" and finding.line == line_of(text, 'id="T0"')
    assert f"and {count - 12} more" in finding.message
    assert elapsed < 5, elapsed


# --- call activities calling themselves ---------------------------------------------------


def test_a_process_calling_itself_is_refused() -> None:
    text = add_nodes('<bpmn:callActivity id="Self" name="再办一次" calledElement="Licence"/>')
    finding = single(text, "recursive-call", 'id="Self"')
    assert "Licence → Licence" in finding.message


def test_processes_calling_each_other_are_refused_naming_the_chain() -> None:
    main = add_nodes('<bpmn:callActivity id="Out" calledElement="Helper"/>')
    text = with_helper(main, '<bpmn:callActivity id="H_task" calledElement="Licence"/>')
    finding = single(text, "recursive-call", 'id="Out"')
    assert "Licence → Helper → Licence" in finding.message


def test_calling_the_same_process_twice_is_no_recursion() -> None:
    main = add_nodes(
        '<bpmn:callActivity id="Out" calledElement="Helper"/>'
        '<bpmn:callActivity id="Out2" calledElement="Helper"/>'
    )
    user = user_task("H_task")
    assert only(run(with_helper(main, user)), "recursive-call") == []


# --- multi-instance tasks -----------------------------------------------------------------

MI_CODE = "multi-instance-input"
FORM = (
    "<camunda:formData>"
    '<camunda:formField id="experts" label="专家" type="string"/>'
    "</camunda:formData>"
)


def multi(loop: str, accept_form: str = "") -> str:
    """Make Review a multi-instance task; give Accept the form fields accept_form."""
    accept = '<bpmn:userTask id="Accept" name="受理">\n      <bpmn:extensionElements>'
    review = '<bpmn:userTask id="Review" name="审核" camunda:candidateGroups="reviewer">\n'
    review += f"      {TASK_PROPS}\n"
    return variant((accept, accept + accept_form), (review, f"{review}      {loop}\n"))


def mi(attributes: str = "", body: str = "") -> str:
    tag = "bpmn:multiInstanceLoopCharacteristics"
    return f"<{tag} {attributes}>{body}</{tag}>"


def test_multi_instance_without_cardinality_or_collection_is_refused() -> None:
    finding = single(multi(mi()), MI_CODE, 'id="Review"')
    assert "loopCardinality" in finding.message and "camunda:collection" in finding.message
    with_ref = single(multi(mi(body="<bpmn:loopDataInputRef>experts</bpmn:loopDataInputRef>")),
                      MI_CODE, 'id="Review"')  # fmt: skip
    assert "loopDataInputRef is not read" in with_ref.message


@pytest.mark.parametrize("collection", ["${experts}", "experts.list", "for", " "])
def test_a_collection_that_is_no_variable_name_is_refused(collection: str) -> None:
    loop = mi(f'camunda:collection="{collection}" camunda:elementVariable="expert"')
    assert single(multi(loop, FORM), MI_CODE, 'id="Review"').element_id == "Review"


def test_a_collection_without_element_variable_is_refused() -> None:
    finding = single(multi(mi('camunda:collection="experts"'), FORM), MI_CODE, 'id="Review"')
    assert "camunda:elementVariable" in finding.message


@pytest.mark.parametrize("cardinality", ["0", "-2", "'3'", "2.5", "None", "True", "[1, 2]"])
def test_a_constant_cardinality_must_be_a_positive_whole_number(cardinality: str) -> None:
    loop = mi(body=f"<bpmn:loopCardinality>{cardinality}</bpmn:loopCardinality>")
    finding = single(multi(loop), MI_CODE, 'id="Review"')
    assert "positive whole number" in finding.message


@pytest.mark.parametrize("cardinality", ["3", "len(experts)", "experts"])
def test_good_cardinalities_pass(cardinality: str) -> None:
    loop = mi(body=f"<bpmn:loopCardinality>{cardinality}</bpmn:loopCardinality>")
    findings = run(multi(loop, FORM))
    assert [f for f in findings if f.code.startswith("multi-instance")] == []


def test_a_collection_set_by_a_form_before_the_task_passes() -> None:
    loop = mi('camunda:collection="experts" camunda:elementVariable="expert"')
    assert run(multi(loop, FORM)) == []


def lint_with(text: str, inputs: list[str] | None) -> list:
    return lint(parse_bpmn(text.encode(), "case.bpmn"), "case.bpmn", inputs)


def test_a_collection_nothing_sets_is_a_warning_alone_and_an_error_against_the_item_form() -> None:
    # the issue: the collection is missing when the case reaches the task, at case creation
    text = multi(mi('camunda:collection="experts" camunda:elementVariable="expert"'))
    [warning] = only(lint_with(text, None), "multi-instance-variable")
    assert warning.severity == "warning" and "'experts'" in warning.message
    [error] = only(lint_with(text, ["project_name", "certificates"]), "multi-instance-variable")
    assert error.severity == "error" and error.element_id == "Review"
    assert error.line == line_of(text, 'id="Review"')
    # a field of the item's application form is what the case starts with: fine
    assert only(lint_with(text, ["experts"]), "multi-instance-variable") == []


def test_a_variable_set_only_after_the_task_does_not_count() -> None:
    text = multi(mi(body="<bpmn:loopCardinality>len(experts)</bpmn:loopCardinality>"))
    later = text.replace(
        '<bpmn:exclusiveGateway id="Decide"',
        '<bpmn:scriptTask id="Late"><bpmn:script>experts = []</bpmn:script></bpmn:scriptTask>\n'
        '    <bpmn:exclusiveGateway id="Decide"',
    )
    [error] = only(lint_with(later, []), "multi-instance-variable")
    assert "'experts'" in error.message
    earlier = later.replace(
        '<bpmn:sequenceFlow id="Flow_1" sourceRef="Begin" targetRef="Accept"/>',
        '<bpmn:sequenceFlow id="Flow_1" sourceRef="Begin" targetRef="Late"/>\n'
        '    <bpmn:sequenceFlow id="Flow_late" sourceRef="Late" targetRef="Accept"/>',
    )
    assert only(lint_with(earlier, []), "multi-instance-variable") == []


def test_the_demo_style_good_diagram_has_no_new_findings() -> None:
    assert run(HEAD + GOOD_PROCESS + TAIL) == []
