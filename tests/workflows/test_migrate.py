"""Moving a running workflow to another version of its diagram (workflows/migrate.py), and
the re-execution of a log that moves (workflows/replay.py): without a database."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from tests.variants import PLANNING_MAPPING, demo, planning_v2, renamed, with_condition
from workflows.engine import Engine
from workflows.migrate import MigrationRefused, check, migrate
from workflows.replay import EventLog, replay, verify

ENGINE = Engine.standard()
FORM = {"project_name": "滨江厂房", "site_location": "滨江路1号", "land_use": "工业",
        "floor_area": 30000,
        "collective_members": ["head_lin", "deputy_luo", "deputy_xie"]}  # fmt: skip
PATH = ["Task_lead", "Task_deputy", "Task_collective", "Task_head", "Task_issue"]
AFTER = {  # where each open stage goes and what the official then does on version 2
    "Task_lead": ["Task_lead", "Task_legal", "Task_vice", "Task_head", "Task_issue"],
    "Task_deputy": ["Task_vice", "Task_head", "Task_issue"],
    "Task_collective": ["Task_head", "Task_issue"],
    "Task_head": ["Task_head", "Task_issue"],
    "Task_issue": ["Task_issue"],
}


@pytest.fixture(scope="module")
def versions():
    return (ENGINE.compile(demo("planning-permit"), "v1.bpmn"),
            ENGINE.compile(planning_v2(), "v2.bpmn"))  # fmt: skip


def _at(v1, stage: str, log: EventLog | None = None):
    log = log or EventLog()
    run = log.receive(ENGINE, v1, FORM)
    while (ready := run.ready_tasks())[0].spec_id != stage:
        log.complete(run, ready[0].spec_id)
    return run, log


def _walk(run) -> list[str]:
    done = []
    while not run.is_completed:
        task = run.ready_tasks()[0]
        done.append(task.spec_id)
        run.complete(task.id, "approve", {})
    return done


@pytest.mark.parametrize("stage", PATH)
def test_a_case_at_each_open_stage_moves_keeping_its_task(versions, stage):
    v1, v2 = versions
    run, _log = _at(v1, stage)
    before = run.ready_tasks()[0]
    parts = ()
    if stage == "Task_collective":  # 会签: one part signed, two open; the stage moves whole
        _log.complete(run, stage)
        parts = tuple(t.id for t in run.ready_tasks())
        assert len(parts) == 2
        before = run.workflow.get_task_from_id(parts[0]).parent
    plan, steps = migrate(run, v2, PLANNING_MAPPING)
    after = run.ready_tasks()
    assert [(t.id, t.spec_id) for t in after] == [(before.id, AFTER[stage][0])]
    assert [(m.source, m.target, m.instances) for m in plan.moves] == [
        (stage, AFTER[stage][0], parts)]
    assert steps == [] and run.diagram is v2
    # the moved state is a state of version 2: stored and restored, it runs on to the end
    restored = ENGINE.restore(v2, ENGINE.serialize(run))
    assert _walk(restored) == AFTER[stage] and restored.result() == "approved"


def test_an_open_stage_the_target_lacks_is_refused_with_its_reason(versions):
    v1, v2 = versions
    for stage, missing in (("Task_deputy", "Task_deputy"), ("Task_collective", "Task_collective")):
        run, _log = _at(v1, stage)
        state = ENGINE.serialize(run)
        found = check(run, v2, {})
        assert not found.movable and len(found.reasons) == 1
        assert f"`{missing}`" in found.reasons[0] and "map it" in found.reasons[0]
        with pytest.raises(MigrationRefused):
            migrate(run, v2, {})
        assert ENGINE.serialize(run) == state  # a refused move changes nothing
    run, _log = _at(v1, "Task_deputy")
    wrong = check(run, v2, {"Task_deputy": "Event_approved"})
    assert "`Event_approved`" in wrong.reasons[0] and "endEvent" in wrong.reasons[0]


def test_data_the_target_reads_must_be_held_or_defaulted(versions):
    v1, _v2 = versions
    v3 = ENGINE.compile(with_condition(demo("planning-permit"), "Flow_large",
                                       "floor_area > 20000 and risk_level == 'high'"),
                        "v3.bpmn")  # fmt: skip
    run, _log = _at(v1, "Task_deputy")
    found = check(run, v3, {})
    assert not found.movable and "`risk_level`" in found.reasons[0]
    assert "`Gateway_scale`" in found.reasons[0]
    plan, _steps = migrate(run, v3, {}, {"risk_level": "low"})
    assert plan.defaults == {"risk_level": "low"}
    assert _walk(run) == ["Task_deputy", "Task_head", "Task_issue"]  # low risk: no collective


def test_a_waiting_boundary_timer_keeps_its_due_time():
    v1 = ENGINE.compile(demo("house-initial"), "h1.bpmn")
    v2 = ENGINE.compile(renamed(demo("house-initial"), "Task_review", "Task_check"), "h2.bpmn")
    log = EventLog()
    run = log.receive(ENGINE, v1, {"certificates": 5, "project_name": "x"})
    assert [t.spec_id for t in run.ready_tasks()] == ["Task_review"]
    [timer] = run.waiting_timers()
    plan, _ = migrate(run, v2, {"Task_review": "Task_check"})
    assert {(m.kind, m.target) for m in plan.moves} == {
        ("task", "Task_check"), ("timer", "Timer_escalate_Task_review")}
    [moved] = run.waiting_timers()
    assert (moved.task_id, moved.node_id, moved.due_at) == (timer.task_id, timer.node_id,
                                                            timer.due_at)  # fmt: skip
    # a target whose task lost its boundary event cannot take the case
    bare = demo("house-initial").decode()
    start = bare.index('<bpmn:boundaryEvent id="Timer_escalate_Task_review"')
    end = bare.index("</bpmn:boundaryEvent>", start) + len("</bpmn:boundaryEvent>")
    bare = bare[:start] + bare[end:]
    start = bare.index('<bpmndi:BPMNShape id="Timer_escalate_Task_review_di"')
    end = bare.index("</bpmndi:BPMNShape>", start) + len("</bpmndi:BPMNShape>")
    v3 = ENGINE.compile((bare[:start] + bare[end:]).encode(), "h3.bpmn")
    run2 = log.receive(ENGINE, v1, {"certificates": 5, "project_name": "y"})
    reasons = check(run2, v3, {}).reasons
    assert any("`Timer_escalate_Task_review`" in r for r in reasons)
    assert any("boundary" in r for r in reasons)


def test_parallel_reviews_move_with_a_join_half_arrived():
    v1 = ENGINE.compile(demo("joint-investment"), "j1.bpmn")
    v2 = ENGINE.compile(renamed(demo("joint-investment"), "Task_env", "Task_eia"), "j2.bpmn")
    log = EventLog()
    run = log.receive(ENGINE, v1, {"project_name": "x", "investment": 100})
    log.complete(run, "Task_ndrc", data={"ndrc_outcome": "approve"})
    log.complete(run, "Task_land", data={"land_outcome": "approve"})
    open_before = sorted(t.spec_id for t in run.ready_tasks())
    assert open_before == ["Task_construction", "Task_env"]
    plan, _ = migrate(run, v2, {"Task_env": "Task_eia"})
    assert sorted(t.spec_id for t in run.ready_tasks()) == ["Task_construction", "Task_eia"]
    assert sorted(m.target for m in plan.moves if m.kind == "task") == [
        "Task_construction", "Task_eia"]
    for spec, name in (("Task_construction", "construction_outcome"), ("Task_eia", "env_outcome")):
        task = next(t for t in run.ready_tasks() if t.spec_id == spec)
        run.complete(task.id, "approve", {name: "approve"})
    # the join fired only once all four arrived, and the case goes on to the licence
    assert [t.spec_id for t in run.ready_tasks()] == ["Task_issue"]


def _migrated_log(v1, v2, stage: str) -> tuple[list[dict], dict]:
    """A log of a case moved at `stage`: what app/cases/moving.py writes (its row kept)."""
    run, log = _at(v1, stage)
    [task] = run.ready_tasks()
    plan, steps = migrate(run, v2, PLANNING_MAPPING)
    log.add("case_migrated", {
        "from_version_id": 1, "to_version_id": 2, "mapping": PLANNING_MAPPING, "defaults": {},
        "moves": [{"kind": m.kind, "source": m.source, "target": m.target,
                   "from": str(m.task_id), "kept": True} for m in plan.moves],
        "steps": [s["node"] for s in steps],
    })  # fmt: skip
    while not run.is_completed:
        log.complete(run, run.ready_tasks()[0].spec_id)
    return log.events, {1: v1, 2: v2}


def test_replay_and_verification_cross_the_move(versions):
    v1, v2 = versions
    events, known = _migrated_log(v1, v2, "Task_deputy")
    assert verify(v1, events, diagrams=known.get) is None
    at = next(e["seq"] for e in events if e["type"] == "case_migrated")
    state = replay(v1, events, upto_seq=at, diagrams=known.get)
    assert [t.spec_id for t in state.open_tasks] == ["Task_vice"]
    assert replay(v1, events, diagrams=known.get).result == "approved"
    # without the versions the move cannot be re-executed: said, never guessed
    divergence = verify(v1, events)
    assert divergence is not None and divergence.seq == at
    # a log that claims another move than the one re-executed is caught
    edited = copy.deepcopy(events)
    moved = next(e for e in edited if e["type"] == "case_migrated")
    moved["data"]["moves"][0]["target"] = "Task_head"
    assert verify(v1, edited, diagrams=known.get).seq == at


def test_a_timer_due_while_moving_is_not_moved_early():
    """The moved workflow keeps the recorded due time, not one recomputed at the move."""
    v1 = ENGINE.compile(demo("house-initial"), "h1.bpmn")
    log = EventLog(start=dt.datetime(2026, 11, 23, 9, 0))
    run = log.receive(ENGINE, v1, {"certificates": 5, "project_name": "x"})
    [timer] = run.waiting_timers()
    migrate(run, v1, {})
    assert run.waiting_timers()[0].due_at == timer.due_at
