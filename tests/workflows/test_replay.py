"""Replaying a case from its audit log and verifying the log against the diagram (no DB)."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path

import pytest
from SpiffWorkflow.util.task import TaskState

from tests.variants import single
from workflows.engine import Engine, WorkflowRun, compile_diagram
from workflows.replay import (
    Divergence,
    EventLog,
    OpenTask,
    ReplayError,
    replay,
    replay_all,
    timeline,
    verify,
)

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
LEGAL = {"legal_basis": "《中华人民共和国行政许可法》第三十八条第二款"}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.standard()


def _diagram(code: str):
    """The demo diagram; the planning permit's collective decision as one task (these tests
    alter and drop single completions; the 会签's re-execution: tests/test_countersign.py,
    tests/workflows/test_signing_rules.py)."""
    content = (BPMN / f"{code}.bpmn").read_bytes()
    if code == "planning-permit":
        content = single(content, "Task_collective")
    return compile_diagram(content, f"{code}.bpmn")


class Case:
    """Drive a workflow like the service does; remember the open tasks after each batch."""

    def __init__(self, engine: Engine, code: str, form: dict) -> None:
        self.diagram = _diagram(code)
        self.log = EventLog(actor="official")
        self.run: WorkflowRun = self.log.receive(engine, self.diagram, form, item=code)
        self.seen: list[tuple[int, list[str], dict]] = []
        self._seen()

    def _seen(self) -> None:
        specs = sorted(t.spec_id for t in self.run.ready_tasks())
        self.seen.append((self.last_seq, specs, copy.deepcopy(self.run.data)))

    @property
    def last_seq(self) -> int:
        return self.log.events[-1]["seq"]

    @property
    def events(self) -> list[dict]:
        return self.log.events

    def work(self, spec: str, outcome: str = "approve", comment: str = "", data=None) -> int:
        """Complete the stage `spec`: every open part of a 会签 stage, until it ends."""
        parts = [t.id for t in self.run.ready_tasks() if t.spec_id == spec]
        for part in parts:
            if part not in {t.id for t in self.run.ready_tasks()}:
                break  # the stage ended before this part (a return, a rejection)
            self.log.complete(self.run, spec, outcome, comment, data)
            self._seen()
        return self.last_seq

    def seq_of(self, type_: str, nth: int = 0, **match) -> int:
        found = [
            e["seq"]
            for e in self.events
            if e["type"] == type_ and all(e["data"].get(k) == v for k, v in match.items())
        ]
        return found[nth]


def _tampered(events: list[dict], seq: int, **changes) -> list[dict]:
    events = copy.deepcopy(events)
    [event] = [e for e in events if e["seq"] == seq]
    event["data"].update(changes)
    return events


def _without(events: list[dict], seq: int) -> list[dict]:
    return [copy.deepcopy(e) for e in events if e["seq"] != seq]


def _planning(engine: Engine) -> Case:
    case = Case(engine, "planning-permit", {"floor_area": 50000, "project_name": "示范大厦"})
    case.work("Task_lead")
    case.work("Task_deputy", "return", "补充日照分析")
    case.work("Task_lead")
    case.work("Task_deputy")
    case.work("Task_collective")
    case.work("Task_head", "return", "请分管领导复核容积率")
    case.work("Task_deputy")
    case.work("Task_collective")
    case.work("Task_head")
    case.work("Task_issue")
    return case


def _joint_rejected(engine: Engine) -> Case:
    case = Case(engine, "joint-investment", {"project_name": "示范项目"})
    case.work("Task_ndrc")
    case.work("Task_env", "reject", "项目位于饮用水水源保护区", LEGAL)
    case.work("Task_land")
    case.work("Task_construction")
    case.work("Task_denial")
    return case


# --- replay ------------------------------------------------------------------------------------


def test_replay_matches_the_live_run_after_every_batch(engine):
    case = _planning(engine)
    assert len(case.events) >= 40
    for seq, specs, data in case.seen:
        state = replay(case.diagram, case.events, upto_seq=seq, engine=engine)
        assert state.seq == seq
        assert sorted(t.spec_id for t in state.open_tasks) == specs, seq
        assert state.data == data, seq
        assert state.divergence is None


def test_replay_at_several_steps_of_the_planning_permit(engine):
    case = _planning(engine)
    diagram, events = case.diagram, case.events

    received = replay(diagram, events, upto_seq=1, engine=engine)
    assert (received.started, received.open_tasks, received.data) == (False, [], {})
    assert received.step.type == "case_received" and received.step.index == 0

    accepted = replay(diagram, events, upto_seq=case.seen[0][0], engine=engine)
    assert accepted.open_tasks == [OpenTask("Task_lead", "主办科室承办", "planning_lead")]
    assert accepted.completed_tasks == ["Task_accept"]
    assert accepted.data["floor_area"] == 50000 and accepted.data["comment"] == "受理"
    [lead_id] = accepted.open_task_ids
    assert lead_id == next(e["task_id"] for e in events if e["data"].get("spec") == "Task_lead")

    returned = replay(diagram, events, upto_seq=case.seen[2][0], engine=engine)
    assert [t.spec_id for t in returned.open_tasks] == ["Task_lead"]
    assert returned.data["outcome"] == "return" and returned.data["comment"] == "补充日照分析"
    assert returned.gateways == {
        "Gateway_lead": ["Flow_lead_approve"],
        "Gateway_deputy": ["Flow_deputy_return"],
    }
    assert returned.path == [
        "Event_start", "Task_accept", "Task_lead", "Gateway_lead", "Task_deputy", "Gateway_deputy",
    ]  # fmt: skip

    # at the task_completed event itself the move is done: the next task is already open
    head_return = case.seq_of("task_completed", spec="Task_head", outcome="return")
    at_completion = replay(diagram, events, upto_seq=head_return, engine=engine)
    assert [t.spec_id for t in at_completion.open_tasks] == ["Task_deputy"]
    assert at_completion.open_task_ids == [None]  # its task_created event comes next
    assert at_completion.gateways["Gateway_head"] == ["Flow_head_return"]
    after_created = replay(diagram, events, upto_seq=head_return + 2, engine=engine)
    assert after_created.open_task_ids[0] is not None

    final = replay(diagram, events, engine=engine)
    assert (final.finished, final.result, final.open_tasks) == (True, "approved", [])
    assert final.completed_tasks == [
        "Task_accept", "Task_lead", "Task_deputy", "Task_lead", "Task_deputy", "Task_collective",
        "Task_head", "Task_deputy", "Task_collective", "Task_head", "Task_issue",
    ]  # fmt: skip
    assert final.gateways["Gateway_deputy"] == [
        "Flow_deputy_return", "Flow_deputy_approve", "Flow_deputy_approve",
    ]  # fmt: skip
    assert final.gateways["Gateway_scale"] == ["Flow_large", "Flow_large"]
    assert final.gateway_log[-1] == ("Gateway_head", ["Flow_head_approve"])
    assert final.path[-2:] == ["Task_issue", "Event_approved"]


def test_replay_of_a_parallel_rejection(engine):
    case = _joint_rejected(engine)
    env = case.seen[2][0]
    state = replay(case.diagram, case.events, upto_seq=env, engine=engine)
    assert sorted(t.spec_id for t in state.open_tasks) == ["Task_construction", "Task_land"]
    assert state.data["env_outcome"] == "reject"
    assert state.data["legal_basis"] == LEGAL["legal_basis"]
    assert "Gateway_result" not in state.gateways
    joined = replay(case.diagram, case.events, upto_seq=case.seen[4][0], engine=engine)
    assert [t.spec_id for t in joined.open_tasks] == ["Task_denial"]
    assert joined.gateways == {"Gateway_result": ["Flow_any_reject"]}
    final = replay(case.diagram, case.events, engine=engine)
    assert (final.finished, final.result) == (True, "denied")
    assert verify(case.diagram, case.events, engine=engine) is None


def test_replay_all_and_timeline_agree_with_single_replays(engine):
    case = _joint_rejected(engine)
    states = replay_all(case.diagram, case.events, engine=engine)
    steps = timeline(case.events)
    assert [s.seq for s in states] == [e["seq"] for e in case.events] == [s.seq for s in steps]
    for state in states[::3]:
        single = replay(case.diagram, case.events, upto_seq=state.seq, engine=engine)
        assert single.open_tasks == state.open_tasks and single.data == state.data
    assert steps[0].type == "case_received" and steps[-1].type == "case_decided"


def test_upto_seq_beyond_the_log_or_before_it(engine):
    case = _joint_rejected(engine)
    assert replay(case.diagram, case.events, upto_seq=10_000, engine=engine).seq == case.last_seq
    nothing = replay(case.diagram, case.events, upto_seq=0, engine=engine)
    assert (nothing.seq, nothing.step, nothing.started) == (0, None, False)


def test_replay_takes_task_ids_in_order_when_the_log_has_no_created_events(engine):
    case = _planning(engine)
    bare = [e for e in case.events if e["type"] not in ("task_created", "task_assigned")]
    assert replay(case.diagram, bare, engine=engine).result == "approved"


# --- verify ------------------------------------------------------------------------------------


def test_honest_logs_verify(engine):
    assert verify(_planning(engine).diagram, _planning(engine).events, engine=engine) is None
    house = Case(engine, "house-initial", {"certificates": 45})
    for _ in range(3):
        house.work("Task_survey")
        house.work("Task_review")
        house.work("Task_chief", "return", "查勘面积与申报不符")
    house.work("Task_survey")
    house.work("Task_review")
    house.work("Task_chief", "reject", "不符合登记条件", LEGAL)
    assert verify(house.diagram, house.events, engine=engine) is None
    assert replay(house.diagram, house.events, engine=engine).result == "denied"


def test_a_log_written_from_restored_states_verifies(engine):
    # on a cache miss the service restores the stored state before each completion
    diagram = _diagram("joint-investment")
    log = EventLog()
    run = log.receive(engine, diagram, {"project_name": "示范项目"})
    for spec, outcome in [
        ("Task_env", "reject"), ("Task_ndrc", "approve"), ("Task_construction", "approve"),
        ("Task_land", "approve"), ("Task_denial", "approve"),
    ]:  # fmt: skip
        run = engine.restore(diagram, engine.serialize(run))
        log.complete(run, spec, outcome, "意见", LEGAL if outcome == "reject" else {})
    assert verify(diagram, log.events, engine=engine) is None
    assert replay(diagram, log.events, engine=engine).result == "denied"


def test_an_altered_outcome_diverges_at_the_altered_event(engine):
    case = _planning(engine)
    seq = case.seq_of("task_completed", spec="Task_deputy", outcome="approve")
    found = verify(case.diagram, _tampered(case.events, seq, outcome="reject"), engine=engine)
    assert isinstance(found, Divergence) and found.seq == seq
    assert found.expected == ["Gateway_deputy", "Event_denied_deputy"]
    assert found.actual == ["Gateway_deputy", "Gateway_scale"]


def test_an_altered_outcome_with_the_same_steps_diverges_at_the_gateway(engine):
    case = _planning(engine)
    seq = case.seq_of("task_completed", spec="Task_head", outcome="return")
    found = verify(case.diagram, _tampered(case.events, seq, outcome="approve"), engine=engine)
    assert found.seq == seq + 1
    assert found.expected == {"gateway": "Gateway_head", "flows": ["Flow_head_approve"]}
    assert found.actual == {"gateway": "Gateway_head", "flows": ["Flow_head_return"]}


def test_a_parallel_rejection_turned_into_approval_diverges_after_the_join(engine):
    case = _joint_rejected(engine)
    seq = case.seq_of("task_completed", spec="Task_env")
    events = _tampered(case.events, seq, outcome="approve")
    found = verify(case.diagram, events, engine=engine)
    assert found.seq == case.seq_of("gateway_taken", gateway="Gateway_result")
    assert found.expected["flows"] == ["Flow_all_approve"]
    # a replay goes on and reports it, until the log completes a task never opened
    state = replay(case.diagram, events, upto_seq=found.seq + 2, engine=engine)
    assert state.divergence == found and state.data["env_outcome"] == "approve"
    assert [t.spec_id for t in state.open_tasks] == ["Task_issue"]
    with pytest.raises(ReplayError) as raised:
        replay(case.diagram, events, engine=engine)
    assert raised.value.divergence.actual == "Task_denial" and raised.value.first == found


def test_an_altered_gateway_or_decision_diverges_there(engine):
    case = _planning(engine)
    seq = case.seq_of("gateway_taken", gateway="Gateway_scale")
    found = verify(case.diagram, _tampered(case.events, seq, flows=["Flow_small"]), engine=engine)
    assert (found.seq, found.actual["flows"]) == (seq, ["Flow_small"])
    decided = case.seq_of("case_decided")
    found = verify(case.diagram, _tampered(case.events, decided, decision="denied"), engine=engine)
    assert (found.seq, found.expected, found.actual) == (decided, "approved", "denied")


def test_removed_events_diverge_where_the_gap_shows(engine):
    case = _planning(engine)
    # a removed completion: the gateway it took has no move to come from
    seq = case.seq_of("task_completed", spec="Task_collective")
    found = verify(case.diagram, _without(case.events, seq), engine=engine)
    assert found.seq == seq + 1 and found.expected is None
    # a removed task_created: noticed before the next completion
    created = case.seq_of("task_created", spec="Task_issue")
    found = verify(case.diagram, _without(case.events, created), engine=engine)
    assert found.seq == created + 2  # after the task_assigned, at the gateway-free completion
    assert found.expected == {"type": "task_created", "spec": "Task_issue"}
    # a removed gateway_taken: the task_created after it comes too early
    gateway = case.seq_of("gateway_taken", gateway="Gateway_head", nth=1)
    found = verify(case.diagram, _without(case.events, gateway), engine=engine)
    assert found.seq == gateway + 1 and found.expected["type"] == "gateway_taken"
    # a removed decision at the end: the log ends too early
    decided = case.seq_of("case_decided")
    found = verify(case.diagram, _without(case.events, decided), engine=engine)
    assert (found.seq, found.expected) == (
        decided,
        {"type": "case_decided", "decision": "approved"},
    )


def test_completing_a_task_never_opened_stops_a_replay(engine):
    case = _planning(engine)
    seq = case.seq_of("task_completed", spec="Task_collective")
    events = _tampered(case.events, seq, spec="Task_head")
    for event in events:
        if event["seq"] == seq:
            event["task_id"] = None
    found = verify(case.diagram, events, engine=engine)
    assert (found.seq, found.expected, found.actual) == (seq, ["Task_collective"], "Task_head")
    with pytest.raises(ReplayError) as raised:
        replay(case.diagram, events, engine=engine)
    assert raised.value.divergence == found
    assert replay(case.diagram, events, upto_seq=seq - 1, engine=engine).divergence is None


def test_a_disallowed_outcome_is_a_divergence(engine):
    case = _planning(engine)
    seq = case.seq_of("task_completed", spec="Task_issue")
    found = verify(case.diagram, _tampered(case.events, seq, outcome="reject"), engine=engine)
    assert found.seq == seq and "not allowed" in found.message


def test_a_case_of_another_process_diverges_at_acceptance(engine):
    case = _planning(engine)
    other = _diagram("house-cancellation")
    found = verify(other, case.events, engine=engine)
    assert found.seq == case.seq_of("case_accepted")


def test_withdrawal_cancels_every_open_task(engine):
    case = Case(engine, "joint-investment", {"project_name": "示范项目"})
    case.work("Task_land")
    case.log.withdraw(case.run, "申请人撤回")
    assert verify(case.diagram, case.events, engine=engine) is None
    state = replay(case.diagram, case.events, engine=engine)
    assert state.withdrawn and state.open_tasks == [] and not state.finished
    cancelled = [e["seq"] for e in case.events if e["type"] == "task_cancelled"]
    assert len(cancelled) == 3
    middle = replay(case.diagram, case.events, upto_seq=cancelled[0], engine=engine)
    assert len(middle.open_tasks) == 2
    found = verify(case.diagram, _without(case.events, cancelled[1]), engine=engine)
    assert found.seq == case.seq_of("case_withdrawn") and len(found.expected) == 1


# --- timers ------------------------------------------------------------------------------------

TIMERS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="P" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="split" />
    <bpmn:parallelGateway id="split" />
    <bpmn:sequenceFlow id="f1" sourceRef="split" targetRef="a" />
    <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="b" />
    <bpmn:userTask id="a" name="审查甲" camunda:candidateGroups="post_a" />
    <bpmn:userTask id="b" name="审查乙" camunda:candidateGroups="post_b" />
    <bpmn:boundaryEvent id="late_a" attachedToRef="a" cancelActivity="true">
      <bpmn:timerEventDefinition><bpmn:timeDuration>"P2D"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:boundaryEvent id="late_b" attachedToRef="b" cancelActivity="true">
      <bpmn:timerEventDefinition><bpmn:timeDuration>"P2D"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="late_a" targetRef="escalate_a" />
    <bpmn:sequenceFlow id="f4" sourceRef="late_b" targetRef="escalate_b" />
    <bpmn:userTask id="escalate_a" name="督办甲" camunda:candidateGroups="leader" />
    <bpmn:userTask id="escalate_b" name="督办乙" camunda:candidateGroups="leader" />
    <bpmn:sequenceFlow id="f5" sourceRef="a" targetRef="join" />
    <bpmn:sequenceFlow id="f6" sourceRef="escalate_a" targetRef="join" />
    <bpmn:sequenceFlow id="f7" sourceRef="b" targetRef="join" />
    <bpmn:sequenceFlow id="f8" sourceRef="escalate_b" targetRef="join" />
    <bpmn:exclusiveGateway id="join" />
    <bpmn:sequenceFlow id="f9" sourceRef="join" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:extensionElements><camunda:properties>
      <camunda:property name="result" value="approved" /></camunda:properties>
      </bpmn:extensionElements></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def _make_due(run: WorkflowRun, *nodes: str) -> None:
    """Move the clock past the timers of `nodes` (what waiting two days would do)."""
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    for task in run.workflow.tasks.values():
        if getattr(task.task_spec, "bpmn_id", None) in nodes and task.state == TaskState.WAITING:
            task._set_internal_data(event_value=past)


def test_timers_fired_together_replay_as_one_move(engine):
    diagram = compile_diagram(TIMERS.encode(), "timers.bpmn")
    log = EventLog()
    run = log.receive(engine, diagram, {})
    assert sorted(t.spec_id for t in run.ready_tasks()) == ["a", "b"]
    _make_due(run, "late_a", "late_b")
    step = log.fire_due_timers(run)
    assert sorted(t.spec_id for t in step.created) == ["escalate_a", "escalate_b"]
    assert len(step.cancelled) == 2
    fired = [e["seq"] for e in log.events if e["type"] == "timer_fired"]
    assert len(fired) == 2
    log.complete(run, "escalate_a")
    assert verify(diagram, log.events, engine=engine) is None
    for seq in fired:
        state = replay(diagram, log.events, upto_seq=seq, engine=engine)
        assert sorted(t.spec_id for t in state.open_tasks) == ["escalate_a", "escalate_b"]
    final = replay(diagram, log.events, engine=engine)
    assert [t.spec_id for t in final.open_tasks] == ["escalate_b"]
    assert "late_a" in final.path and "late_b" in final.path

    cancelled = [e["seq"] for e in log.events if e["type"] == "task_cancelled"]
    assert len(cancelled) == 2
    found = verify(diagram, _without(log.events, cancelled[1]), engine=engine)
    assert found.seq == cancelled[1] + 1 and found.expected["type"] == "task_cancelled"
    moved = copy.deepcopy(log.events)
    moved[cancelled[1] - 1]["task_id"] = moved[cancelled[1] - 1 - 4]["task_id"]  # escalate_a
    found = verify(diagram, moved, engine=engine)
    assert found.seq == cancelled[1] and "did not cancel" in found.message

    events = _tampered(log.events, fired[1], node="no_such_timer")
    found = verify(diagram, events, engine=engine)
    assert found.seq == fired[0] and found.actual == "no_such_timer"
