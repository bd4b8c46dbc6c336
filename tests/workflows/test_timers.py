"""Timer events in the engine: due times are reported, and fire only when due."""

from __future__ import annotations

import datetime as dt

from workflows.engine import Engine, compile_diagram

TIMER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="P" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:intermediateCatchEvent id="wait" name="公示期满">
      <bpmn:timerEventDefinition><bpmn:timeDate>notice_ends</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="review" />
    <bpmn:userTask id="review" name="审核" camunda:candidateGroups="review_post" />
    <bpmn:boundaryEvent id="remind" attachedToRef="review" cancelActivity="true">
      <bpmn:timerEventDefinition><bpmn:timeDuration>"PT2H"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end" />
    <bpmn:sequenceFlow id="f4" sourceRef="remind" targetRef="escalated" />
    <bpmn:userTask id="escalated" name="督办" camunda:candidateGroups="leader_post" />
    <bpmn:sequenceFlow id="f5" sourceRef="escalated" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:extensionElements><camunda:properties>
      <camunda:property name="result" value="approved" />
    </camunda:properties></bpmn:extensionElements></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def _utc(**delta) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(**delta)


def test_waiting_timer_reports_its_due_time_and_does_not_fire_early():
    diagram = compile_diagram(TIMER.encode(), "timer.bpmn")
    assert diagram.has_timers
    due = _utc(hours=1)
    run, _ = Engine.standard().start(diagram, {"notice_ends": due.isoformat() + "+00:00"})
    [timer] = run.waiting_timers()
    assert timer.node_id == "wait"
    assert abs((timer.due_at - due).total_seconds()) < 1
    step = run.fire_timers()
    assert step.created == [] and run.ready_tasks() == []
    assert [t.node_id for t in run.waiting_timers()] == ["wait"]


def test_due_timer_fires_and_boundary_timer_escalates(monkeypatch):
    diagram = compile_diagram(TIMER.encode(), "timer.bpmn")
    engine = Engine.standard()
    run, _ = engine.start(diagram, {"notice_ends": _utc(seconds=-1).isoformat() + "+00:00"})
    # a timer already due when the workflow starts fires in the first engine steps
    assert [t.spec_id for t in run.ready_tasks()] == ["review"]
    [reminder] = run.waiting_timers()
    assert reminder.node_id == "remind"
    assert 7190 < (reminder.due_at - _utc()).total_seconds() <= 7200
    restored = engine.restore(diagram, engine.serialize(run))
    assert [t.node_id for t in restored.waiting_timers()] == ["remind"]

    import SpiffWorkflow.bpmn.specs.event_definitions.timer as timer_module

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.now(tz) + dt.timedelta(hours=3)

    monkeypatch.setattr(timer_module, "datetime", Later)
    review_id = restored.ready_tasks()[0].id
    step = restored.fire_timers()
    assert [t.spec_id for t in step.created] == ["escalated"]
    assert step.cancelled == [review_id]
    assert restored.waiting_timers() == []
