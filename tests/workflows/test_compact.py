"""Task-tree compaction: long histories stay small and the workflow does the same next.

Every demo diagram and hand-made loops (a return loop, a loop through a parallel join, an
inclusive join, a call activity, an embedded sub-process, an event-based gateway, with
boundary timers, with multi-instance tasks) are driven by a seeded random official for many
steps, once with compaction and once without, restoring the stored state at every step. The
ready user tasks, the gateway choices, the process data and the result must be the same at
every step, and with compaction the tree stays small.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import SpiffWorkflow.bpmn.specs.event_definitions.timer as timer_module
from SpiffWorkflow.util.task import TaskState

import workflows.engine as engine_module
from workflows.compact import compact_workflow
from workflows.engine import CompiledDiagram, Engine, WorkflowRun, compile_diagram

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
DEMO = ("house-cancellation", "house-initial", "planning-permit", "joint-investment")

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
"""


def _user(node_id: str, outcomes: str = "approve", inner: str = "") -> str:
    return f"""<bpmn:userTask id="{node_id}" name="{node_id}" camunda:candidateGroups="p_{node_id}">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="stage" value="{node_id}" />
        <camunda:property name="timeLimit" value="2d" />
        <camunda:property name="outcomes" value="{outcomes}" />
      </camunda:properties></bpmn:extensionElements>{inner}</bpmn:userTask>"""


def _end(node_id: str, result: str) -> str:
    return f"""<bpmn:endEvent id="{node_id}"><bpmn:extensionElements><camunda:properties>
      <camunda:property name="result" value="{result}" />
      </camunda:properties></bpmn:extensionElements></bpmn:endEvent>"""


def _flow(flow_id: str, source: str, target: str, condition: str | None = None) -> str:
    cond = (
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}'
        "</bpmn:conditionExpression>"
        if condition
        else ""
    )
    return (
        f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
        f"{cond}</bpmn:sequenceFlow>"
    )


def _decide(after: str, back_to: str) -> str:
    """Return a chief task after `after` whose gateway approves, returns to `back_to` or rejects."""
    return (
        _user("chief", "approve,return,reject")
        + '<bpmn:exclusiveGateway id="gw" default="f_ok" />'
        + _end("ok", "approved")
        + _end("no", "denied")
        + _flow("f_chief", after, "chief")
        + _flow("f_gw", "chief", "gw")
        + _flow("f_ok", "gw", "ok")
        + _flow("f_ret", "gw", back_to, 'outcome == "return"')
        + _flow("f_no", "gw", "no", 'outcome == "reject"')
    )


def _process(body: str, extra: str = "") -> str:
    process = f'<bpmn:process id="P" name="P" isExecutable="true">{body}</bpmn:process>'
    return f"{HEAD}{process}{extra}</bpmn:definitions>"


RETURN_LOOP = _process(
    '<bpmn:startEvent id="start" />'
    + _user("review")
    + _flow("f1", "start", "review")
    + _decide("review", "review")
)

PARALLEL_LOOP = _process(
    '<bpmn:startEvent id="start" />'
    + _user("accept")
    + '<bpmn:parallelGateway id="split" /><bpmn:parallelGateway id="join" />'
    + _user("rA")
    + _user("rB")
    + _flow("f1", "start", "accept")
    + _flow("f2", "accept", "split")
    + _flow("f3", "split", "rA")
    + _flow("f4", "split", "rB")
    + _flow("f5", "rA", "join")
    + _flow("f6", "rB", "join")
    + _decide("join", "accept")
)

CALL_LOOP = _process(
    '<bpmn:startEvent id="start" />'
    + _user("prep")
    + '<bpmn:callActivity id="call" calledElement="Sub" />'
    + _flow("f1", "start", "prep")
    + _flow("f2", "prep", "call")
    + _decide("call", "prep"),
    '<bpmn:process id="Sub" name="Sub" isExecutable="true"><bpmn:startEvent id="s_start" />'
    + _user("check", "approve,reject")
    + '<bpmn:endEvent id="s_end" />'
    + _flow("s1", "s_start", "check")
    + _flow("s2", "check", "s_end")
    + "</bpmn:process>",
)

EMBEDDED_LOOP = _process(
    '<bpmn:startEvent id="start" />'
    + _user("prep")
    + '<bpmn:subProcess id="sub"><bpmn:startEvent id="s_start" />'
    + _user("check1")
    + _user("check2", "approve,return")
    + '<bpmn:exclusiveGateway id="s_gw" default="s_on" /><bpmn:endEvent id="s_end" />'
    + _flow("s1", "s_start", "check1")
    + _flow("s2", "check1", "check2")
    + _flow("s3", "check2", "s_gw")
    + _flow("s_on", "s_gw", "s_end")
    + _flow("s_back", "s_gw", "check1", 'outcome == "return"')
    + "</bpmn:subProcess>"
    + _flow("f1", "start", "prep")
    + _flow("f2", "prep", "sub")
    + _decide("sub", "prep")
)

TIMER_LOOP = _process(
    '<bpmn:startEvent id="start" />'
    + _user("review")
    + '<bpmn:boundaryEvent id="late" attachedToRef="review" cancelActivity="true">'
    '<bpmn:timerEventDefinition><bpmn:timeDuration>"PT2H"</bpmn:timeDuration>'
    "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
    + '<bpmn:boundaryEvent id="remind" attachedToRef="review" cancelActivity="false">'
    '<bpmn:extensionElements><camunda:properties><camunda:property name="escalate" '
    'value="leader" /></camunda:properties></bpmn:extensionElements>'
    '<bpmn:timerEventDefinition><bpmn:timeDuration>"PT1H"</bpmn:timeDuration>'
    "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
    + _user("escalated")
    + _flow("f1", "start", "review")
    + _flow("f_late", "late", "escalated")
    + _flow("f_esc", "escalated", "review")
    + _decide("review", "review")
)

MI_LOOP = _process(
    '<bpmn:startEvent id="start" />'
    + _user("prep")
    + _user(
        "experts",
        inner='<bpmn:multiInstanceLoopCharacteristics isSequential="false">'
        "<bpmn:loopCardinality>3</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>",
    )
    + _user(
        "rounds",
        inner='<bpmn:multiInstanceLoopCharacteristics isSequential="true">'
        "<bpmn:loopCardinality>2</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>",
    )
    + _flow("f1", "start", "prep")
    + _flow("f2", "prep", "experts")
    + _flow("f3", "experts", "rounds")
    + _decide("rounds", "prep")
)

INCLUSIVE_LOOP = _process(
    '<bpmn:startEvent id="start" />'
    + _user("accept")
    + '<bpmn:inclusiveGateway id="split" default="f_a" /><bpmn:inclusiveGateway id="join" />'
    + _user("rA")
    + _user("rB")
    + _flow("f1", "start", "accept")
    + _flow("f2", "accept", "split")
    + _flow("f_a", "split", "rA")
    + _flow("f_b", "split", "rB", "floor_area &gt; 20000")
    + _flow("f5", "rA", "join")
    + _flow("f6", "rB", "join")
    + _decide("join", "accept")
)


def _timer_event(node_id: str, duration: str) -> str:
    return (
        f'<bpmn:intermediateCatchEvent id="{node_id}"><bpmn:timerEventDefinition>'
        f'<bpmn:timeDuration>"{duration}"</bpmn:timeDuration>'
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )


EVENT_GATEWAY_LOOP = _process(
    '<bpmn:startEvent id="start" />'
    + _user("review")
    + '<bpmn:eventBasedGateway id="wait" />'
    + _timer_event("soon", "PT1H")
    # one timer per event-based gateway (lint refuses two: they would share one due time)
    + '<bpmn:intermediateCatchEvent id="late"><bpmn:messageEventDefinition />'
    + "</bpmn:intermediateCatchEvent>"
    + _user("remind")
    + _flow("f1", "start", "review")
    + _flow("f2", "review", "wait")
    + _flow("f3", "wait", "soon")
    + _flow("f4", "wait", "late")
    + _flow("f6", "late", "remind")
    + _flow("f7", "remind", "review")
    + _decide("soon", "review")
)

HAND_MADE = {
    "return-loop": RETURN_LOOP,
    "parallel-loop": PARALLEL_LOOP,
    "call-activity-loop": CALL_LOOP,
    "embedded-subprocess-loop": EMBEDDED_LOOP,
    "boundary-timer-loop": TIMER_LOOP,
    "multi-instance-loop": MI_LOOP,
    "inclusive-loop": INCLUSIVE_LOOP,
    "event-gateway-loop": EVENT_GATEWAY_LOOP,
}

START_DATA = {"floor_area": 36500, "certificates": 40, "project_name": "示范项目",
              "collective_members": ["head_lin", "deputy_luo", "deputy_xie"]}  # 会签's signers
# first the official keeps returning (a long history), then lets the case finish
LOOPING = {"approve": 0.2, "return": 40.0, "reject": 0.001}
FINISHING = {"approve": 4.0, "return": 1.0, "reject": 0.1}
MAX_TASKS = 40  # tasks of a compacted workflow, sub-processes included
MAX_DEPTH = 16


def diagram_of(name: str) -> CompiledDiagram:
    if name in HAND_MADE:
        return compile_diagram(HAND_MADE[name].encode(), f"{name}.bpmn")
    path = BPMN_DIR / f"{name}.bpmn"
    return compile_diagram(path.read_bytes(), path.name)


# --- measuring ------------------------------------------------------------------------------


def task_count(run: WorkflowRun) -> int:
    return sum(len(wf.tasks) for wf in (run.workflow, *run.workflow.subprocesses.values()))


def tree_depth(run: WorkflowRun) -> int:
    """Return the deepest root-to-task path over the workflow and its sub-processes."""
    deepest = 0
    for wf in (run.workflow, *run.workflow.subprocesses.values()):
        stack = [(wf.task_tree, 0)]
        while stack:
            task, depth = stack.pop()
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in task.children)
    return deepest


# --- a clock for timers ---------------------------------------------------------------------


class Clock:
    """The time SpiffWorkflow's timers see; moved on only by the driver."""

    offset = dt.timedelta()

    class DateTime(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC).astimezone(tz) + Clock.offset


@pytest.fixture(autouse=True)
def fake_clock(monkeypatch):
    monkeypatch.setattr(timer_module, "datetime", Clock.DateTime)
    Clock.offset = dt.timedelta()


@contextlib.contextmanager
def compaction(enabled: bool):
    """Run the engine with compaction, or with it switched off."""
    saved = engine_module.compact_workflow
    if not enabled:
        engine_module.compact_workflow = lambda workflow: 0
    try:
        yield
    finally:
        engine_module.compact_workflow = saved


# --- the random official --------------------------------------------------------------------


@dataclass
class Trace:
    """What an observer of the case sees, step by step, and what the state cost."""

    steps: list = field(default_factory=list)
    result: str | None = None
    tasks: list[int] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)


def _instance(run: WorkflowRun, task_id) -> object:
    """Return what tells multi-instance siblings apart (their index), else None."""
    for wf in (run.workflow, *run.workflow.subprocesses.values()):
        task = wf.tasks.get(task_id)
        if task is not None:
            return task.internal_data.get("key_or_index", task.internal_data.get("item"))
    return None


def _ready(run: WorkflowRun) -> list:
    return sorted(run.ready_tasks(), key=lambda t: (t.spec_id, repr(_instance(run, t.id))))


def _observe(run: WorkflowRun, step) -> tuple:
    choices = tuple((s["node"], tuple(s["flows"])) for s in step.engine_steps if "flows" in s)
    data = tuple(sorted((key, repr(value)) for key, value in run.data.items()))
    return (tuple(t.spec_id for t in _ready(run)), choices, data, step.finished, step.result)


def drive(
    diagram: CompiledDiagram,
    seed: int,
    max_steps: int,
    *,
    compact: bool,
    pick_first: bool = False,
) -> Trace:
    """Drive one case with seeded random choices, restoring the stored state at every step."""
    rng = random.Random(seed)
    Clock.offset = dt.timedelta()
    engine = Engine.standard()
    trace = Trace()
    with compaction(compact):
        run, _ = engine.start(diagram, dict(START_DATA))
        state = engine.serialize(run)
        for number in range(max_steps):
            weights = LOOPING if number < max_steps - 50 else FINISHING
            run = engine.restore(diagram, state)
            ready = _ready(run)
            timers = run.waiting_timers()
            if timers and (not ready or rng.random() < 0.25):
                Clock.offset = max(t.due_at for t in timers) - dt.datetime(2026, 3, 2, 9, 0)
                Clock.offset += dt.timedelta(seconds=1)
                step = run.fire_timers()
                action = ("timers",)
            elif ready:
                task = ready[0] if pick_first else rng.choice(ready)
                outcome = rng.choices(task.outcomes, [weights[o] for o in task.outcomes])[0]
                step = run.complete(task.id, outcome, {"opinion": f"{task.spec_id} {outcome}"})
                action = (task.spec_id, outcome)
            elif not run.is_completed:
                # nothing ready and no timer listed: move the clock on all the same
                hours = rng.choice([2, 48])
                Clock.offset += dt.timedelta(hours=hours)
                step = run.fire_timers()
                action = ("clock", hours)
            else:
                break
            state = engine.serialize(run)
            trace.steps.append((action, *_observe(run, step)))
            trace.tasks.append(task_count(run))
            trace.depths.append(tree_depth(run))
            trace.sizes.append(len(state))
            if step.finished:
                trace.result = step.result
                break
    return trace


STEPS = 150
CASES = [(name, seed) for name in DEMO for seed in (2, 4, 6)]
CASES += [(name, seed) for name in HAND_MADE for seed in (4, 5)]


@pytest.mark.parametrize(("name", "seed"), CASES)
def test_compaction_changes_nothing_the_case_does(name, seed):
    diagram = diagram_of(name)
    # a loop through a parallel join is driven branch by branch in document order: driven in
    # any order, SpiffWorkflow without compaction fires the join too early (next test)
    pick_first = name == "parallel-loop"
    compacted = drive(diagram, seed, STEPS, compact=True, pick_first=pick_first)
    reference = drive(diagram, seed, STEPS, compact=False, pick_first=pick_first)
    assert compacted.steps == reference.steps
    assert compacted.result == reference.result
    if name in HAND_MADE:
        # the seeds chosen make the official return for a long history before finishing
        assert len(compacted.steps) >= 100 and compacted.result is not None
    assert max(compacted.tasks) <= MAX_TASKS, compacted.tasks
    assert max(compacted.depths) <= MAX_DEPTH, compacted.depths
    if len(reference.steps) >= 100:
        # the history grows without compaction and stays flat with it
        assert reference.tasks[-1] > 4 * compacted.tasks[-1]
        assert reference.sizes[-1] > 4 * compacted.sizes[-1]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_parallel_join_in_a_loop_waits_for_every_branch(seed):
    compacted = drive(diagram_of("parallel-loop"), seed, STEPS, compact=True)
    assert len(compacted.steps) >= 30
    for _action, ready, *_ in compacted.steps:
        # chief opens only once both reviews are done
        assert not ("chief" in ready and ({"rA", "rB"} & set(ready))), compacted.steps


def test_without_compaction_a_parallel_join_in_a_loop_fires_too_early():
    """The flaw compaction removes: a stale join task of an earlier pass counts as arrived."""
    diagram = diagram_of("parallel-loop")
    engine = Engine.standard()

    def complete(run, spec_id, outcome="approve"):
        task = next(t for t in run.ready_tasks() if t.spec_id == spec_id)
        run = engine.restore(diagram, engine.serialize(run))
        run.complete(task.id, outcome, {})
        return sorted(t.spec_id for t in run.ready_tasks()), run

    def second_pass(compact: bool) -> list[str]:
        with compaction(compact):
            run, _ = engine.start(diagram, {})
            for spec_id, outcome in [("accept", "approve"), ("rA", "approve"), ("rB", "approve")]:
                _, run = complete(run, spec_id, outcome)
            _, run = complete(run, "chief", "return")
            _, run = complete(run, "accept")
            ready, _ = complete(run, "rB")
            return ready

    assert second_pass(compact=False) == ["chief", "rA"]
    assert second_pass(compact=True) == ["rA"]


def test_planning_permit_thousand_return_cycles_stay_open_and_small():
    diagram = diagram_of("planning-permit")
    engine = Engine.standard()
    run, _ = engine.start(diagram, dict(START_DATA))
    state = engine.serialize(run)

    def complete(spec_id: str, outcome: str):
        """Complete the stage `spec_id` (each signer of a 会签 stage in turn)."""
        nonlocal state
        step = None
        while True:
            run = engine.restore(diagram, state)
            ready = [t for t in run.ready_tasks() if t.spec_id == spec_id]
            if not ready:
                return run, step
            step = run.complete(ready[0].id, outcome, {})
            state = engine.serialize(run)

    complete("Task_accept", "approve")
    sizes = {}
    for cycle in range(1, 1001):
        complete("Task_lead", "approve")
        run, step = complete("Task_deputy", "return")
        assert not step.finished and [t.spec_id for t in step.created] == ["Task_lead"]
        if cycle in (1, 10, 1000):
            sizes[cycle] = (task_count(run), tree_depth(run), len(state))
    assert [t.spec_id for t in run.ready_tasks()] == ["Task_lead"]
    assert not run.is_completed and run.result() is None
    # the 1000th cycle leaves the same tree as the 10th (the stored state differs in digits)
    assert sizes[1000][:2] == sizes[10][:2]
    assert abs(sizes[1000][2] - sizes[10][2]) < 100
    for spec_id in ("Task_lead", "Task_deputy", "Task_collective", "Task_head", "Task_issue"):
        run, step = complete(spec_id, "approve")
    assert step.finished and step.result == "approved"


def test_compacted_state_round_trips_with_the_same_root():
    diagram = diagram_of("call-activity-loop")
    engine = Engine.standard()
    run, _ = engine.start(diagram, {})
    root = run.workflow.task_tree.id
    for spec_id, outcome in [("prep", "approve"), ("check", "approve"), ("chief", "return")] * 5:
        task = next(t for t in run.ready_tasks() if t.spec_id == spec_id)
        run.complete(task.id, outcome, {"note": spec_id})
        state = engine.serialize(run)
        run = engine.restore(diagram, state)
        assert run.workflow.task_tree.id == root
        assert json.loads(engine.serialize(run)) == json.loads(state)
    # the finished call activities left no sub-process workflows behind
    assert run.workflow.subprocesses == {}
    assert run.data["note"] == "chief"


def test_compaction_of_a_compact_workflow_removes_nothing():
    diagram = diagram_of("planning-permit")
    run, _ = Engine.standard().start(diagram, dict(START_DATA))
    for spec_id, outcome in [("Task_accept", "approve"), ("Task_lead", "approve")]:
        task = next(t for t in run.ready_tasks() if t.spec_id == spec_id)
        run.complete(task.id, outcome, {})
    before = {t.id: (t._parent, list(t._children)) for t in run.workflow.tasks.values()}
    assert compact_workflow(run.workflow) == 0
    assert {t.id: (t._parent, list(t._children)) for t in run.workflow.tasks.values()} == before
    assert any(t.state == TaskState.READY for t in run.workflow.tasks.values())
