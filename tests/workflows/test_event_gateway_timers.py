"""Timers behind an event-based gateway: "a reply, or 30 days": listed, due, fired, replayed.

SpiffWorkflow 3.2 moves the events after an event-based gateway into the gateway's task: the
gateway waits (WAITING), its catch events are MAYBE children holding no event definition of
their own, and the timer's due time is the gateway task's `event_value`. `waiting_timers`
lists such a timer under its catch event's id with the gateway task's id.

H1 saw a due timer take the other branch after swapping the gateway's outgoing flows. With one
timer it does not (every order and layout below takes the timer's branch); with two timers it
does: the engine gives both the due time of the first in layout order and follows that one's
flow, so lint refuses a gateway with more than one timer.
"""

from __future__ import annotations

import datetime as dt

import pytest
import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.camunda.specs.event_definitions import MessageEventDefinition

from workflows.engine import Engine, compile_diagram
from workflows.lint import lint
from workflows.loader import parse_bpmn
from workflows.replay import EventLog, verify

NS = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"'
)
MESSAGE = '<bpmn:messageEventDefinition messageRef="Msg_reply" />'
ONE_DAY = '<bpmn:timerEventDefinition><bpmn:timeDuration>"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition>'  # noqa: E501
THIRTY_DAYS = '<bpmn:timerEventDefinition><bpmn:timeDuration>"P30D"</bpmn:timeDuration></bpmn:timerEventDefinition>'  # noqa: E501


def reply_or_timeout(
    order: tuple[str, str] = ("reply", "timeout"),
    y: tuple[int, int] = (100, 300),
    reply: str = MESSAGE,
) -> str:
    """Return a diagram that waits for the applicant's reply or 30 days (补正答复或逾期).

    `order` is the document order of the gateway's outgoing flows, `y` the drawn heights of
    the reply and the timeout events (SpiffWorkflow orders a gateway's branches by height).
    """
    flows = {
        "reply": '<bpmn:sequenceFlow id="Flow_reply" sourceRef="Gateway_wait" targetRef="reply" />',
        "timeout": (
            '<bpmn:sequenceFlow id="Flow_timeout" sourceRef="Gateway_wait" targetRef="timeout" />'
        ),
    }
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions {NS} id="d" targetNamespace="t">
  <bpmn:message id="Msg_reply" name="reply" />
  <bpmn:process id="P" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="Gateway_wait" />
    <bpmn:eventBasedGateway id="Gateway_wait" name="等待补正" />
    {flows[order[0]]}
    {flows[order[1]]}
    <bpmn:intermediateCatchEvent id="reply" name="收到补正">{reply}</bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="timeout" name="三十日未补正">{THIRTY_DAYS}
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="reply" targetRef="review" />
    <bpmn:sequenceFlow id="f3" sourceRef="timeout" targetRef="lapse" />
    <bpmn:userTask id="review" name="审查补正材料" camunda:candidateGroups="review_post" />
    <bpmn:userTask id="lapse" name="逾期未补正处理" camunda:candidateGroups="review_post" />
    <bpmn:sequenceFlow id="f4" sourceRef="review" targetRef="end" />
    <bpmn:sequenceFlow id="f5" sourceRef="lapse" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:extensionElements><camunda:properties>
      <camunda:property name="result" value="approved" />
    </camunda:properties></bpmn:extensionElements></bpmn:endEvent>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="D"><bpmndi:BPMNPlane id="Plane" bpmnElement="P">
    <bpmndi:BPMNShape id="Shape_reply" bpmnElement="reply">
      <dc:Bounds x="300" y="{y[0]}" width="36" height="36" /></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="Shape_timeout" bpmnElement="timeout">
      <dc:Bounds x="300" y="{y[1]}" width="36" height="36" /></bpmndi:BPMNShape>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


class Clock:
    """SpiffWorkflow's timer clock, moved on by `offset`."""

    offset = dt.timedelta()


class _Moved(dt.datetime):
    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:
        """Return the moved time, as datetime.now does."""
        return dt.datetime.now(tz) + Clock.offset


@pytest.fixture
def moved_clock(monkeypatch):
    """Let a test move SpiffWorkflow's clock."""
    Clock.offset = dt.timedelta()
    monkeypatch.setattr(spiff_timer, "datetime", _Moved)
    return Clock


def _utc(**delta: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(**delta)


LAYOUTS = [
    (("reply", "timeout"), (100, 300)),
    (("timeout", "reply"), (100, 300)),
    (("reply", "timeout"), (300, 100)),
    (("timeout", "reply"), (300, 100)),
]


@pytest.mark.parametrize(("order", "y"), LAYOUTS)
def test_the_timer_behind_the_gateway_is_listed_and_takes_its_branch_when_due(
    moved_clock, order, y
):
    diagram = compile_diagram(reply_or_timeout(order, y).encode(), "wait.bpmn")
    engine = Engine.standard()
    run, _ = engine.start(diagram, {})
    assert run.ready_tasks() == []
    [timer] = run.waiting_timers()
    assert timer.node_id == "timeout"
    assert abs((timer.due_at - _utc(days=30)).total_seconds()) < 5
    # the scheduler fires it a day early: nothing moves, the timer still waits
    moved_clock.offset = dt.timedelta(days=29)
    run = engine.restore(diagram, engine.serialize(run))
    step = run.fire_timers()
    assert step.engine_steps == [] and run.ready_tasks() == []
    assert [t.node_id for t in run.waiting_timers()] == ["timeout"]
    # at its due time it fires, and the case takes the timeout branch, not the reply one
    moved_clock.offset = timer.due_at - _utc() + dt.timedelta(seconds=1)
    run = engine.restore(diagram, engine.serialize(run))
    step = run.fire_timers()
    assert [s["node"] for s in step.engine_steps] == ["Gateway_wait", "timeout"]
    assert [t.spec_id for t in step.created] == ["lapse"]
    assert run.waiting_timers() == []


def test_a_reply_before_the_due_time_takes_the_reply_branch_and_ends_the_wait():
    diagram = compile_diagram(reply_or_timeout().encode(), "wait.bpmn")
    run, _ = Engine.standard().start(diagram, {})
    assert [t.node_id for t in run.waiting_timers()] == ["timeout"]
    run.workflow.catch(BpmnEvent(MessageEventDefinition("reply"), {"payload": "补正材料已交"}))
    steps = run.run_engine()
    assert [s["node"] for s in steps] == ["Gateway_wait", "reply"]
    assert [t.spec_id for t in run.ready_tasks()] == ["review"]
    assert run.waiting_timers() == []


@pytest.mark.parametrize(("order", "y"), LAYOUTS)
def test_a_log_with_the_gateway_timer_fired_verifies(moved_clock, order, y):
    diagram = compile_diagram(reply_or_timeout(order, y).encode(), "wait.bpmn")
    engine = Engine.standard()
    log = EventLog()
    run = log.receive(engine, diagram, {})
    [timer] = run.waiting_timers()
    moved_clock.offset = timer.due_at - _utc() + dt.timedelta(seconds=1)
    step = log.fire_due_timers(run)
    assert [t.spec_id for t in step.created] == ["lapse"]
    fired = [e["data"]["node"] for e in log.events if e["type"] == "timer_fired"]
    assert fired == ["timeout"]
    log.complete(run, "lapse", "approve", "逾期未补正，终止办理")
    assert run.is_completed
    moved_clock.offset += dt.timedelta(days=60)  # verified later: the replay fires it by name
    assert verify(diagram, log.events, engine=engine) is None


def test_the_replay_names_a_gateway_timer_that_never_waited():
    diagram = compile_diagram(reply_or_timeout().encode(), "wait.bpmn")
    engine = Engine.standard()
    log = EventLog()
    log.receive(engine, diagram, {})
    at = log.events[-1]["at"]
    forged = {"node": "reply", "due_at": None, "steps": ["Gateway_wait", "reply"]}
    log.add("timer_fired", forged, actor="system", at=at)
    found = verify(diagram, log.events, engine=engine)
    assert found is not None and found.actual == "reply"
    assert "timer `reply` is not waiting in the re-execution" in found.message
    assert found.expected == ["timeout"]


def test_two_timers_at_one_gateway_follow_the_drawing_not_the_clock(moved_clock):
    # why lint refuses them: the one-day timer drawn below the 30-day one never fires first
    xml = reply_or_timeout(("reply", "timeout"), (300, 100), reply=ONE_DAY)
    diagram = compile_diagram(xml.encode(), "two.bpmn", deployed=True)  # before the rule
    run, _ = Engine.standard().start(diagram, {})
    [listed] = run.waiting_timers()  # the one whose due time the engine keeps
    assert listed.node_id == "timeout"
    moved_clock.offset = dt.timedelta(days=2)
    assert run.fire_timers().engine_steps == []  # "reply" was due after one day


def test_lint_refuses_a_gateway_with_two_timers_naming_it_and_its_line():
    xml = reply_or_timeout(reply=ONE_DAY)
    findings = [f for f in lint(parse_bpmn(xml.encode())) if f.code == "event-gateway-timers"]
    [finding] = findings
    assert finding.severity == "error" and finding.element_id == "Gateway_wait"
    line = next(
        i for i, text in enumerate(xml.splitlines(), 1) if "<bpmn:eventBasedGateway" in text
    )
    assert finding.line == line
    assert "2 timers (reply, timeout)" in finding.message


def test_lint_accepts_a_gateway_with_one_timer_and_a_message():
    codes = {f.code for f in lint(parse_bpmn(reply_or_timeout().encode()))}
    assert "event-gateway-timers" not in codes


def test_a_timer_found_due_after_the_last_step_stays_listed_until_it_runs(moved_clock):
    # the engine looks at the timers after its last step: one that fell due during the step is
    # made ready but runs only at the next step; until then the scheduler must still see it
    diagram = compile_diagram(reply_or_timeout().encode(), "wait.bpmn")
    run, _ = Engine.standard().start(diagram, {})
    [timer] = run.waiting_timers()
    moved_clock.offset = timer.due_at - _utc() + dt.timedelta(seconds=1)
    run.workflow.refresh_timers()  # what the end of every engine step does
    assert run.waiting_timers() == [timer]
    step = run.fire_timers()
    assert [s["node"] for s in step.engine_steps] == ["Gateway_wait", "timeout"]
    assert [t.spec_id for t in step.created] == ["lapse"]
    assert run.waiting_timers() == []
