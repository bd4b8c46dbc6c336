"""One engine step of a case, run and written: a completion, a fired timer, or a fault.

A step reads the live workflow (`store.live_run`), runs it, plans what to write
(`planner.plan_step`) and writes it (`store`): the version-checked case row first, then the
tasks, timers and events. When the engine stops with a `WorkflowFault` the step is undone in
the batch and the case is stopped in the fault state instead (`stop`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from workflows.engine import StepResult, WorkflowRun
from workflows.errors import EngineError, WorkflowFault

from ..audit.services import EventBatch
from ..calendar.services import calendar
from ..db import queue_write, utcnow
from ..errors import Conflict
from ..licences import registry
from ..org.services import signer_staff, staffing
from . import copies, decisions, faults, planner, rebuild, reported, store, timers
from .models import CaseCopy, Task
from .planner import Guard
from .runtime import runtime
from .status import CaseStatus, TaskState
from .store import Head


@dataclass(frozen=True)
class Completion:
    """An official's completion of one task, as a step writes it."""

    task: Task
    actor_id: int
    outcome: str
    comment: str
    data: dict
    # what the completion records beside the task (a 上报件's report: app.cases.reported)
    effects: tuple[tuple[str, dict], ...] = ()
    case_values: dict = field(default_factory=dict)

    def values(self, at: dt.datetime) -> dict:
        return {
            "state": TaskState.COMPLETED,
            "completed_at": at,
            "completed_by_id": self.actor_id,
            "outcome": self.outcome,
            "comment": self.comment or None,
            "data": self.data,
        }

    @property
    def rejection(self) -> tuple[str, str | None] | None:
        if self.outcome != "reject":
            return None
        return self.comment, self.data.get("legal_basis")


def earlier_rejections(db: Session, case_id: int) -> list[tuple[str | None, str | None]]:
    rows = db.execute(
        sa.select(Task.comment, Task.data)
        .where(Task.case_id == case_id, Task.outcome == "reject")
        .order_by(Task.completed_at)
    ).all()
    return [(r.comment, (r.data or {}).get("legal_basis")) for r in rows]


def plan(
    db: Session,
    case_id: int,
    step: StepResult,
    events: EventBatch,
    guard: Guard,
    rejection: tuple | None = None,
    staff=None,
) -> planner.Plan:
    """Read what planning the step needs, then plan it (only reads happen here)."""
    if step.created and staff is None:
        staff = staffing(db, {t.post for t in step.created if t.post}, events.at)
    signers = {t.signer for t in step.created if t.signer} - set(staff.signers if staff else ())
    if signers:  # 会签: each instance goes to its signer
        signer_staff(db, staff, signers, events.at)
    cal = calendar() if step.created and planner.needs_calendar(step.created) else None
    rejections = []
    if step.finished and planner.needs_rejections(step.result):
        rejections = earlier_rejections(db, case_id) + ([rejection] if rejection else [])
    return planner.plan_step(step, events, guard, staff, cal, rejections)


def commit(
    db: Session,
    head: Head,
    run: WorkflowRun,
    step: StepResult,
    events: EventBatch,
    timers_before: list,
    completion: Completion | None = None,
    fired: tuple[uuid.UUID, ...] = (),
) -> list[dict]:
    """Write one engine step: case row (version-checked, first), tasks, timers, events."""
    decider, spec = head.last_decider_id, head.last_decision_spec
    values: dict = {"status": planner.first_status(head.status)}
    if completion is not None and completion.task.is_decision:
        decider, spec = completion.actor_id, completion.task.spec_id
        values.update(last_decider_id=decider, last_decision_spec=spec)
    if completion is not None:
        values.update(completion.case_values)
    rejection = completion.rejection if completion else None
    step_plan = plan(db, head.id, step, events, Guard(head.applicant_id_number, decider, spec),
                     rejection)  # fmt: skip
    values.update(step_plan.case_values)
    after = run.waiting_timers() if run.diagram.has_timers else []  # may fault: before writing
    if step_plan.decided:  # each deciding authority's decision and its number
        number(db, head.id, step_plan.case_values, completion, events)
    copied = _diagram_copies(db, run, head.id, completion, events)  # a stage's 抄送, if any
    if rebuild.due_for_snapshot(run, step.finished):  # the events are the truth: a cache
        values.update(rebuild.snapshot(run, events.seq))
    values.update(event_seq=events.seq, last_hash=events.last_hash)
    # The version-checked case row goes first: a request that lost the race stops here.
    store.save_case(db, head, values)
    if completion is not None:
        store.complete_task_row(db, completion.task.id, completion.values(events.at))
    store.write_step(db, step_plan.rows, step, events.at)
    if copied:
        queue_write(db, _INSERT_COPIES, copied)
    if step.finished:  # the opinions asked and signers added that are still open close
        queue_write(db, _CLOSE_ASIDE, {"case_id": head.id, "at": events.at})
    if run.diagram.has_timers:
        if not fired:  # a timer already due may run inside a completion: it fired, not closed
            ran = {s["node"] for s in step.engine_steps}
            still = {t.task_id for t in after}
            fired = tuple(t.task_id for t in timers_before
                          if t.task_id not in still and t.node_id in ran)  # fmt: skip
        timers.write_changes(db, head.id, timers_before, after, fired, events.at)
    events.write(db)
    store.keep_live(head.id, head.version + 1, run, events.seq)
    return step_plan.rows


_INSERT_COPIES = CaseCopy.__table__.insert().inline()
_CLOSE_ASIDE = (
    Task.__table__.update()
    .where(Task.__table__.c.case_id == sa.bindparam("case_id"),
           Task.__table__.c.state == TaskState.OPEN, Task.__table__.c.kind.is_not(None))
    .values(state=TaskState.CANCELLED, completed_at=sa.bindparam("at"))
)  # fmt: skip


def _diagram_copies(db: Session, run: WorkflowRun, case_id: int, completion: Completion | None,
                    events: EventBatch) -> list[dict]:  # fmt: skip
    """The copies a completed stage sends by its diagram (property `cc`: post codes): to whoever
    holds each post now (A, or B standing in), logged as one `case_copied` event."""
    if completion is None:
        return []
    node = run.diagram.nodes.get(completion.task.spec_id)
    posts = [p.strip() for p in (node.properties.get("cc") or "").split(",") if p.strip()] \
        if node is not None else []  # fmt: skip
    if not posts:
        return []
    staff = staffing(db, set(posts), events.at)
    people = list(dict.fromkeys(
        a.assignee_id for a in (staff.holder(p, {}) for p in posts) if a.assignee_id))  # fmt: skip
    people = [p for p in people if p != completion.actor_id]
    if not people:
        return []
    reason = node.name
    events.add("case_copied", {"recipients": people, "reason": reason, "spec": node.id,
                               "by": "diagram"}, completion.task.id)  # fmt: skip
    return copies.copy_rows(case_id, people, node.id, reason, events.at)


def number(db: Session, case_id: int, decided: dict, completion: Completion | None,
           events: EventBatch) -> None:  # fmt: skip
    """Write the decisions of a case that has just been decided, numbered in each deciding
    authority's series, and log their numbers (before the case row takes the event count);
    then the licences it grants, or what it does to the licence it was applied for
    (app.licences.registry). No authority to decide in whose name, or a licence no longer
    what the case was accepted for: a fault, never an unnumbered or half-applied decision."""
    resolved = decisions.resolve(db, case_id, decided["decision"], decided["decision_reason"],
                                 decided["legal_basis"], events.at, completion)  # fmt: skip
    granted = resolved.granted
    action = registry.action_of(granted.entry)
    approved = decided["decision"] == "approved"
    licence = registry.checked(db, granted, action, approved) if action else None
    issuing = [] if action or not approved else registry.issuing(
        granted, [p.department for p in resolved.rows if p.outcome == "approved"])
    numbered = decisions.write(db, resolved, issuing)
    if numbered:
        events.add("decisions_numbered", {"decisions": numbered})
    if licence is not None:
        registry.apply_action(db, licence, granted, action, approved, events.at, events)
    elif issuing:
        registry.issue(db, granted, issuing, resolved.licence_numbers, events.at, events)


def complete(
    db: Session, head: Head, diagram, completion: Completion, events: EventBatch
) -> list[dict] | faults.CaseFaulted:
    """Run one completion and write it; return the new task rows, or the fault that stopped
    the case (written, not raised: the caller's transaction keeps it)."""
    completion = reported.prepare(db, head.id, completion, events.at)  # refused: no step
    mark = events.mark()
    task = completion.task
    try:
        run = store.live_run(db, diagram, head)  # a log that does not rebuild: a fault
        timers_before = run.waiting_timers() if diagram.has_timers else []
        step = run.complete(
            task.id, completion.outcome, {**completion.data, "comment": completion.comment}
        )
        events.add(
            "task_completed",
            planner.completion_data(
                task.spec_id, completion.outcome, completion.comment, completion.data, step
            ),
            task.id,
        )
        for kind, data in completion.effects:
            events.add(kind, data, task.id)
        return commit(db, head, run, step, events, timers_before, completion)
    except WorkflowFault as fault:
        events.rewind(mark)
        failed = {"kind": "complete", "task_id": str(task.id), "actor_id": completion.actor_id,
                  "outcome": completion.outcome, "comment": completion.comment,
                  "data": completion.data}  # fmt: skip
        return stop(db, head, events, fault, failed)
    except EngineError as exc:
        raise Conflict(
            _(
                "the workflow could not continue: %(message)s",
                message=exc.message,
            )
        ) from None


def stop(
    db: Session,
    head: Head,
    events: EventBatch,
    fault: WorkflowFault,
    step: dict,
    failed_timer: uuid.UUID | None = None,
) -> faults.CaseFaulted:
    """Stop the case in the fault state (version-checked); return the error to tell."""
    store.forget_live(head.id)  # the live run may be half-stepped: never reuse it
    faults.hold(db, head.id, head.case_no, events, fault, step, head.status, failed_timer)
    store.save_case(db, head, {"status": CaseStatus.FAULT}, events)
    return faults.CaseFaulted(head.case_no, fault)


def fire(db: Session, head: Head, timer_id: uuid.UUID, events: EventBatch) -> bool:
    """Fire the due timers of a case and write the step; a fault stops the case instead."""
    diagram = runtime().diagram(db, head.diagram_version_id)
    now = utcnow()
    try:
        run = store.live_run(db, diagram, head)  # a log that does not rebuild: a fault
        before = run.waiting_timers()
        step = run.fire_timers()
        still = {t.task_id: t for t in run.waiting_timers()}
        if timer_id in still:
            # not due by the engine's clock: wait for that time, so the scheduler never spins
            store.forget_live(head.id)
            timers.postpone(
                db, timer_id, max(still[timer_id].due_at, now + dt.timedelta(seconds=1))
            )
            return False
        # the engine read the clock after `now`: a timer it found due may be due after `now`
        due_by = utcnow()
        fired = tuple(t.task_id for t in before if t.task_id not in still and t.due_at <= due_by)
        for timer in before:
            if timer.task_id in fired:
                events.add(
                    "timer_fired",
                    {"node": timer.node_id, "due_at": timer.due_at.isoformat(),
                     "steps": [s["node"] for s in step.engine_steps]},
                )  # fmt: skip
        commit(db, head, run, step, events, before, fired=fired)
    except WorkflowFault as fault:
        events.rewind((head.event_seq, head.last_hash, 0))
        failed = timer_id if fault.code == "timer" else None
        stop(db, head, events, fault, {"kind": "timer", "timer_id": str(timer_id)}, failed)
        return True
    escalating = [
        node.attached_to
        for t in before
        if t.task_id in fired
        and (node := diagram.nodes.get(t.node_id)) is not None
        and node.attached_to
        and node.properties.get("escalate") == "leader"
    ]
    if escalating:
        from .assign import escalate_to_leader

        escalate_to_leader(db, head.id, escalating, now, "time_limit")
    return True
