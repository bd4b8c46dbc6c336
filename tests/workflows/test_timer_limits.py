"""Timer values are bounded: refused at lint and at run time, never spinning (issue 16)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer

from workflows.engine import Engine, compile_diagram
from workflows.errors import DiagramError, Finding, WorkflowFault
from workflows.lint import lint
from workflows.loader import parse_bpmn
from workflows.timers import (
    LIMITS,
    CheckedDuration,
    TimerValueError,
    check_stored,
    parse_duration,
    utc_now,
)

DATA = Path(__file__).parent / "data"

DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="P" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:intermediateCatchEvent id="wait" name="公示期满">
      <bpmn:timerEventDefinition>
        <bpmn:{kind}>{value}</bpmn:{kind}>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="review" />
    <bpmn:userTask id="review" name="审核" camunda:candidateGroups="review_post" />
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end" />
    <bpmn:endEvent id="end">{RESULT}</bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""

# A cycle repeats a non-interrupting reminder while the review is open.
CYCLE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="P" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:userTask id="review" name="审核" camunda:candidateGroups="review_post" />
    <bpmn:boundaryEvent id="remind" name="催办" attachedToRef="review" cancelActivity="false">
      <bpmn:timerEventDefinition>
        <bpmn:timeCycle>{value}</bpmn:timeCycle>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="remind" targetRef="reminded" />
    <bpmn:endEvent id="reminded">{RESULT}</bpmn:endEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end" />
    <bpmn:endEvent id="end">{RESULT}</bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


RESULT = (
    "<bpmn:extensionElements><camunda:properties>"
    '<camunda:property name="result" value="approved" />'
    "</camunda:properties></bpmn:extensionElements>"
)
TIMER_CODES = ("bad-timer", "past-timer")


def _diagram(kind: str, value: str) -> str:
    template = CYCLE if kind == "timeCycle" else DIAGRAM
    return template.replace("{kind}", kind).replace("{value}", value).replace("{RESULT}", RESULT)


def _in_years(years: float) -> str:
    return (utc_now() + dt.timedelta(days=365.25 * years)).strftime("%Y-%m-%dT%H:%M:%S+00:00")


DURATION_RANGE = "allowed: a duration from 1 minute to 5 years"
DATE_RANGE = "allowed: a date and time at most 5 years ahead"
CYCLE_RANGE = "repeated 1 to 100 times, at least 1 hour apart, the last within 5 years"

# (kind, hostile value, what the refusal says, the range it names)
HOSTILE = [
    ("timeDuration", "P99999999Y", "longer than 5 years", DURATION_RANGE),
    ("timeDuration", "P999999999D", "longer than 5 years", DURATION_RANGE),
    ("timeDuration", "P10000Y", "longer than 5 years", DURATION_RANGE),
    ("timeDuration", "-P1D", "is negative", DURATION_RANGE),
    ("timeDuration", "PT0S", "is zero", DURATION_RANGE),
    ("timeDuration", "PT10S", "shorter than 1 minute", DURATION_RANGE),
    ("timeDuration", "P" + "9" * 90 + "D", "longer than 5 years", DURATION_RANGE),
    ("timeDuration", "three days", "not an ISO 8601 duration", DURATION_RANGE),
    ("timeCycle", "R/PT1S", "repeats without end", CYCLE_RANGE),
    ("timeCycle", "R/P1D", "repeats without end", CYCLE_RANGE),
    ("timeCycle", "R5/PT1S", "more often than every 1 hour", CYCLE_RANGE),
    ("timeCycle", "R1000/PT1H", "repeats 1000 times", CYCLE_RANGE),
    ("timeCycle", "R100/P1M", "the last of the 100 repetitions", CYCLE_RANGE),
    ("timeCycle", "R3/P99999999Y", "longer than 5 years", CYCLE_RANGE),
    ("timeCycle", "every day", "not an ISO 8601 repeating interval", CYCLE_RANGE),
    ("timeDate", "10000-01-01T00:00:00Z", "not an ISO 8601 date", DATE_RANGE),
    ("timeDate", "2027-02-30T09:00:00+08:00", "not a valid date", DATE_RANGE),
    ("timeDate", "next Monday", "not an ISO 8601 date", DATE_RANGE),
]
HOSTILE_IDS = [f"{kind}-{value[:20]}" for kind, value, _, _ in HOSTILE]
BEYOND_HORIZON = ("timeDate", "beyond", "more than 5 years ahead", DATE_RANGE)


def _hostile_cases():
    yield from HOSTILE
    kind, _, reason, allowed = BEYOND_HORIZON
    yield kind, _in_years(5.1), reason, allowed


def _lint(text: str) -> list[Finding]:
    """Return the timer findings of a diagram (the test diagrams lack stages and time limits)."""
    findings = lint(parse_bpmn(text.encode(), "case.bpmn"), "case.bpmn")
    return [f for f in findings if f.code in TIMER_CODES or f.severity == "error"]


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize(("kind", "value", "reason", "allowed"), [*_hostile_cases()])
def test_lint_refuses_a_hostile_constant_naming_element_line_and_range(
    kind, value, reason, allowed
):
    text = _diagram(kind, f'"{value}"')
    started = time.perf_counter()
    findings = [f for f in _lint(text) if f.code == "bad-timer"]
    assert time.perf_counter() - started < 1  # a sanity bound: the parser must not spin
    [finding] = findings
    element = "remind" if kind == "timeCycle" else "wait"
    assert finding.severity == "error"
    assert finding.element_id == element
    assert finding.line == _line_of(text, f"<bpmn:{kind}>")
    assert f"'{element}'" in finding.message
    assert reason in finding.message
    assert allowed in finding.message
    assert f"line {finding.line}" in str(finding)
    # and the diagram cannot be compiled, so it never reaches SpiffWorkflow
    with pytest.raises(DiagramError) as refused:
        compile_diagram(text.encode(), "case.bpmn")
    assert [f.element_id for f in refused.value.findings if f.code == "bad-timer"] == [element]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("timeDuration", "PT1H"),
        ("timeDuration", "P3D"),
        ("timeDuration", "P1Y"),
        ("timeDuration", "P5Y"),
        ("timeCycle", "R3/PT2H"),
        ("timeCycle", "R100/PT1H"),
        ("timeDate", "in 30 days"),
    ],
)
def test_lint_accepts_values_within_the_limits(kind, value):
    if value == "in 30 days":
        value = _in_years(30 / 365.25)
    assert _lint(_diagram(kind, f'"{value}"')) == []


def test_lint_warns_about_a_constant_date_already_past_but_does_not_refuse_it():
    text = _diagram("timeDate", '"2020-01-01T09:00:00+08:00"')
    [finding] = _lint(text)
    assert (finding.severity, finding.code, finding.element_id) == ("warning", "past-timer", "wait")
    assert finding.line == _line_of(text, "<bpmn:timeDate>")
    assert "fires as soon as a case reaches it" in finding.message


def test_lint_leaves_an_expression_to_run_time():
    assert _lint(_diagram("timeDuration", "wait_for")) == []


# --- run time --------------------------------------------------------------------------------

VARIABLE = {"timeDuration": "wait_for", "timeDate": "due", "timeCycle": "repeat"}


@pytest.mark.parametrize(("kind", "value", "reason", "allowed"), [*_hostile_cases()])
def test_run_time_value_out_of_range_is_a_timer_fault(kind, value, reason, allowed):
    diagram = compile_diagram(_diagram(kind, VARIABLE[kind]).encode(), f"{kind}.bpmn")
    element = "remind" if kind == "timeCycle" else "wait"
    started = time.perf_counter()
    with pytest.raises(WorkflowFault) as caught:
        Engine.standard().start(diagram, {VARIABLE[kind]: value})
    assert time.perf_counter() - started < 1  # a sanity bound: nothing spins
    fault = caught.value
    assert (fault.code, fault.task_spec, fault.elements) == ("timer", element, (element,))
    assert value[:40] in fault.message
    assert reason in fault.message and allowed in fault.message
    assert reason in fault.cause


def test_run_time_value_that_is_not_text_is_a_timer_fault():
    diagram = compile_diagram(_diagram("timeDuration", "wait_for").encode(), "d.bpmn")
    with pytest.raises(WorkflowFault) as caught:
        Engine.standard().start(diagram, {"wait_for": 3})
    assert caught.value.code == "timer" and "is not text" in caught.value.message


class _Clock:
    """Move the clock SpiffWorkflow (and the limits) read, without sleeping."""

    def __init__(self, monkeypatch, now: dt.datetime) -> None:
        self.now = now
        clock = self

        class Shifted(dt.datetime):
            @classmethod
            def now(cls, tz=None):
                return clock.now.astimezone(tz) if tz else clock.now.replace(tzinfo=None)

        monkeypatch.setattr(spiff_timer, "datetime", Shifted)


@pytest.mark.parametrize(
    ("value", "delta"),
    [
        ("PT1H", dt.timedelta(hours=1)),
        ("P3D", dt.timedelta(days=3)),
        ("P1Y", dt.timedelta(days=365)),  # from 2026-12-04: no 29 February on the way
    ],
)
def test_valid_duration_waits_its_time_then_fires(monkeypatch, value, delta):
    clock = _Clock(monkeypatch, dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC))
    diagram = compile_diagram(_diagram("timeDuration", f'"{value}"').encode(), "d.bpmn")
    run, _ = Engine.standard().start(diagram)
    [timer] = run.waiting_timers()
    assert (timer.node_id, timer.due_at) == ("wait", dt.datetime(2026, 12, 4, 9, 0) + delta)
    clock.now += delta - dt.timedelta(seconds=1)
    assert run.fire_timers().created == []
    clock.now += dt.timedelta(seconds=2)
    assert [t.spec_id for t in run.fire_timers().created] == ["review"]
    assert run.waiting_timers() == []


def test_month_durations_end_on_the_last_day_when_the_month_is_shorter(monkeypatch):
    _Clock(monkeypatch, dt.datetime(2027, 1, 31, 9, 0, tzinfo=dt.UTC))
    diagram = compile_diagram(_diagram("timeDuration", '"P1M"').encode(), "d.bpmn")
    run, _ = Engine.standard().start(diagram)
    assert run.waiting_timers()[0].due_at == dt.datetime(2027, 2, 28, 9, 0)


def test_date_inside_the_horizon_waits_and_a_past_date_fires_at_once(monkeypatch):
    _Clock(monkeypatch, dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC))
    diagram = compile_diagram(_diagram("timeDate", "due").encode(), "d.bpmn")
    run, _ = Engine.standard().start(diagram, {"due": "2027-03-01T09:00:00+08:00"})
    assert [(t.node_id, t.due_at) for t in run.waiting_timers()] == [
        ("wait", dt.datetime(2027, 3, 1, 1, 0))
    ]
    # a date computed from case data may be past when the case gets there: it fires once
    late, _ = Engine.standard().start(diagram, {"due": "2026-12-01T09:00:00+08:00"})
    assert [t.spec_id for t in late.ready_tasks()] == ["review"]
    assert late.waiting_timers() == []


def test_bounded_cycle_fires_its_count_then_stops(monkeypatch):
    clock = _Clock(monkeypatch, dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC))
    diagram = compile_diagram(_diagram("timeCycle", '"R3/PT2H"').encode(), "c.bpmn")
    run, _ = Engine.standard().start(diagram)
    fired = []
    for _hour in range(10):
        clock.now += dt.timedelta(hours=1)
        fired += [s["node"] for s in run.fire_timers().engine_steps if s["node"] == "reminded"]
    assert fired == ["reminded"] * 3
    assert run.waiting_timers() == []
    assert [t.spec_id for t in run.ready_tasks()] == ["review"]


# --- stored states ---------------------------------------------------------------------------
# data/timers_v1_state.json was serialized by the engine before the limits existed (commit
# 5afed76): a timeDate, a timeDuration and a cycle waiting, one inside a sub-process.


def _restore_fixture() -> tuple[Engine, object, dict]:
    diagram = compile_diagram((DATA / "timers_v1.bpmn").read_bytes(), "timers_v1.bpmn")
    engine = Engine.standard()
    state = (DATA / "timers_v1_state.json").read_text()
    return engine, engine.restore(diagram, state), json.loads(state)


def test_state_stored_before_the_limits_restores_and_fires_as_before(monkeypatch):
    clock = _Clock(monkeypatch, dt.datetime(2026, 12, 4, 21, 30, tzinfo=dt.UTC))
    engine, run, _ = _restore_fixture()
    assert {t.node_id: t.due_at for t in run.waiting_timers()} == {
        "notice": dt.datetime(2027, 1, 15, 9, 0),
        "overdue": dt.datetime(2026, 12, 7, 21, 13, 2, 77167),
        "remind": dt.datetime(2026, 12, 4, 23, 13, 2, 77229),
        "visit_late": dt.datetime(2026, 12, 4, 22, 13, 2, 76955),
    }
    assert run.fire_timers().engine_steps == []
    clock.now = dt.datetime(2026, 12, 4, 22, 30, tzinfo=dt.UTC)
    steps = [s["node"] for s in run.fire_timers().engine_steps]
    assert steps[:2] == ["visit_late", "late_end"]
    clock.now = dt.datetime(2026, 12, 4, 23, 30, tzinfo=dt.UTC)
    assert "reminded" in [s["node"] for s in run.fire_timers().engine_steps]
    # stored again, the timers keep SpiffWorkflow's shape and restore the same
    again = engine.restore(run.diagram, engine.serialize(run))
    remind = next(t for t in again.workflow.tasks.values() if t.task_spec.bpmn_id == "remind")
    assert remind.internal_data["event_value"] == {
        "cycles": 2,
        "next": "2026-12-05T01:13:02.077229+00:00",
        "duration": 7200.0,
    }
    assert sorted(t.node_id for t in again.waiting_timers()) == ["notice", "overdue", "remind"]


def test_serializer_keeps_spiffworkflow_names_for_the_timer_definitions():
    registry = Engine.standard().serializer.registry
    stored = {"typename": "DurationTimerEventDefinition", "name": "催办", "description": "Timer"}
    restored = registry.restore({**stored, "expression": '"P3D"'})
    assert isinstance(restored, CheckedDuration)
    assert registry.convert(restored)["typename"] == "DurationTimerEventDefinition"


def _stored_with(task_id: str, event_value) -> str:
    state = json.loads((DATA / "timers_v1_state.json").read_text())
    [task] = [t for t in state["tasks"].values() if t["task_spec"] == task_id]
    task["internal_data"]["event_value"] = event_value
    return json.dumps(state)


@pytest.mark.parametrize(
    ("event_value", "reason"),
    [
        ({"cycles": -1, "next": "2026-12-04T23:13:02+00:00", "duration": 1.0}, "without end"),
        ({"cycles": 3, "next": "2026-12-04T23:13:02+00:00", "duration": 1.0}, "every"),
        ({"cycles": 3, "next": "soon", "duration": 7200.0}, "not an ISO 8601 date"),
        ("R/PT1S", "malformed"),
    ],
)
def test_stored_cycle_that_would_spin_is_a_timer_fault_not_a_loop(monkeypatch, event_value, reason):
    _Clock(monkeypatch, dt.datetime(2026, 12, 4, 21, 30, tzinfo=dt.UTC))
    diagram = compile_diagram((DATA / "timers_v1.bpmn").read_bytes(), "timers_v1.bpmn")
    engine = Engine.standard()
    run = engine.restore(diagram, _stored_with("remind", event_value))
    with pytest.raises(WorkflowFault) as caught:
        run.fire_timers()
    assert (caught.value.code, caught.value.task_spec) == ("timer", "remind")
    assert reason in caught.value.message
    # listing due times never crashes on it either: the same fault, not a ValueError
    with pytest.raises(WorkflowFault):
        engine.restore(diagram, _stored_with("remind", event_value)).waiting_timers()


def test_stored_due_time_that_cannot_be_read_is_a_timer_fault(monkeypatch):
    _Clock(monkeypatch, dt.datetime(2026, 12, 4, 21, 30, tzinfo=dt.UTC))
    diagram = compile_diagram((DATA / "timers_v1.bpmn").read_bytes(), "timers_v1.bpmn")
    run = Engine.standard().restore(diagram, _stored_with("overdue", "10000-01-01T00:00:00+00:00"))
    with pytest.raises(WorkflowFault) as caught:
        run.waiting_timers()
    assert (caught.value.code, caught.value.task_spec) == ("timer", "overdue")


def test_limits_are_checked_on_exact_numbers_before_any_date_is_built():
    now = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
    started = time.perf_counter()
    for value in ("P99999999Y", "PT" + "9" * 95 + "S", "P4Y11M30DT23H59M60S", "P1827D"):
        with pytest.raises(TimerValueError, match="longer than 5 years"):
            parse_duration(value, now)
    assert time.perf_counter() - started < 1
    assert parse_duration("P4Y11M30D", now).after(now) == dt.datetime(
        2031, 12, 4, 9, 0, tzinfo=dt.UTC
    )
    assert (
        check_stored("timeDuration", "2026-12-05T09:00:00+08:00", now)
        == "2026-12-05T01:00:00+00:00"
    )
    assert LIMITS.max_repetitions == 100 and LIMITS.min_period == dt.timedelta(hours=1)
