"""The case lifecycle: receive, supplement, refuse, accept, work tasks, decide, close."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from workflows.engine import RESULTS, ReadyTask, StepResult, WorkflowRun
from workflows.errors import EngineError, WorkflowFault

from ..audit.services import GENESIS, EventBatch
from ..calendar.services import calendar
from ..catalogue.models import DiagramVersion, Item
from ..db import on_commit, session, transactional, utcnow
from ..errors import Conflict, Forbidden, InvalidInput, NotFound, StaleCase
from ..org.models import Post, User
from ..org.presence import exclusions
from ..org.services import Staffing, staffing
from . import deadlines, faults, timers
from .models import OPEN_CASE_STATUSES, Case, Task
from .runtime import runtime

READ_ALL_CASES_ROLES = ("clerk", "supervisor", "auditor", "admin")
TASKS = Task.__table__
CASES = Case.__table__
QUERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class Outcome:
    """What an operation left behind: the case or task, and the tasks it opened."""

    subject: Any
    opened: list[dict]


def _opened(rows: list[dict]) -> list[dict]:
    keys = ("id", "spec_id", "name", "stage", "post_id", "assignee_id", "assignment_reason")
    return [{k: r[k] for k in keys} for r in rows if r["state"] == "open"]


@dataclass(frozen=True)
class Applicant:
    """Who applies: a citizen or a company."""

    name: str
    id_number: str
    phone: str | None = None

    # the window's form has the same limits (the name's column is 200; the numbers are sealed)
    LIMITS = (("name", 200), ("id_number", 40), ("phone", 30))

    def check(self) -> None:
        """Refuse a missing name or ID number and any field longer than its limit."""
        if not self.name.strip() or not self.id_number.strip():
            raise InvalidInput("applicant name and id_number are required")
        for field, limit in self.LIMITS:
            if len((getattr(self, field) or "").strip()) > limit:
                raise InvalidInput(f"the applicant's {field} is longer than {limit} characters")


# --- input checks -----------------------------------------------------------------------------


def _coerce_field(spec: dict, value: Any) -> Any:
    kind = spec.get("type", "string")
    if kind == "long":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("must be a whole number")
        try:
            return int(value)
        except ValueError:
            raise ValueError("must be a whole number") from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        raise ValueError("must be true or false")
    if kind == "enum":
        options = spec.get("options") or []
        if value not in options:
            raise ValueError("must be one of " + ", ".join(map(str, options)))
        return value
    if kind == "date":
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise ValueError("must be a date like 2026-11-23") from None
    if not isinstance(value, str):
        raise ValueError("must be text")
    return value.strip()


def check_form(fields: list[dict], form: dict, where: str) -> dict:
    """Check form data against field definitions; report every problem at once."""
    if not isinstance(form, dict):
        raise InvalidInput(f"{where} must be an object")
    problems: dict[str, str] = {}
    clean: dict[str, Any] = {}
    known = {f["id"] for f in fields}
    for spec in fields:
        fid = spec["id"]
        value = form.get(fid)
        if value is None or value == "":
            if spec.get("required"):
                problems[fid] = f"{spec.get('label', fid)} is required"
            continue
        try:
            clean[fid] = _coerce_field(spec, value)
        except ValueError as exc:
            problems[fid] = f"{spec.get('label', fid)} {exc}"
    for extra in sorted(set(form) - known):
        problems[extra] = "unknown field"
    if problems:
        raise InvalidInput(f"{where} has errors", fields=problems)
    return clean


def _missing_materials(item: Item, materials: list[str]) -> list[dict]:
    listed = {m["code"]: m for m in item.entry.get("materials", [])}
    unknown = [code for code in materials if code not in listed]
    if unknown:
        raise InvalidInput("unknown material codes", materials=unknown)
    given = set(materials)
    return [
        {"code": m["code"], "name": m["name"]}
        for m in item.entry.get("materials", [])
        if m.get("required", True) and m["code"] not in given
    ]


def _new_case_no(now: dt.datetime) -> str:
    return f"{now:%Y%m%d}{secrets.randbelow(10**8):08d}"


def _new_query_code() -> str:
    return "".join(secrets.choice(QUERY_ALPHABET) for _ in range(6))


# --- receiving and accepting ------------------------------------------------------------------


def _batch(case: Case, actor: User | None) -> EventBatch:
    return EventBatch(
        case_no=case.case_no,
        case_id=case.id,
        seq=case.event_seq,
        last_hash=case.last_hash or GENESIS,
        actor_id=actor.id if actor else None,
        actor=actor.username if actor else "system",
    )


def _require_role(actor: User, *roles: str) -> None:
    if not actor.has_role(*roles):
        raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")


@transactional
def receive_case(
    actor: User,
    item_code: str,
    applicant: Applicant,
    materials: list[str],
    form: dict,
    refusal: dict | None = None,
) -> Outcome:
    """Register an application at the window; accept it, or ask for every missing material."""
    _require_role(actor, "clerk")
    db = session()
    item, version_id = _item_and_latest_version(db, item_code)
    applicant.check()
    missing = _missing_materials(item, list(materials))
    if refusal is None:
        form = check_form(item.entry.get("form", []), form or {}, "application form")
    now = utcnow()
    case = Case(
        case_no=_new_case_no(now),
        query_code=_new_query_code(),
        item_id=item.id,
        status="received",
        applicant_name=applicant.name.strip(),
        applicant_id_number=applicant.id_number.strip(),
        applicant_phone=(applicant.phone or "").strip() or None,
        materials=sorted(set(materials)),
        missing_materials=missing,
        form=dict(form or {}),
        received_by_id=actor.id,
        received_at=now,
        version=0,
        event_seq=0,
        last_hash=GENESIS,
    )
    events = _batch(case, actor)
    events.at = now
    events.add(
        "case_received",
        {
            "item": item.code,
            "applicant": applicant.name,
            "materials": case.materials,
            "form": case.form,
        },
    )
    rows: list[dict] = []
    run = None
    if refusal is not None:
        _refuse(case, events, refusal)
    elif missing:
        case.status = "supplement_required"
        events.add("supplement_required", {"missing": missing})
    else:
        rows, run = _accept(db, case, item, version_id, case.form, actor, events)
    case.event_seq, case.last_hash = events.seq, events.last_hash
    case.version = 1
    # Everything is known now: one INSERT for the case, one for its tasks, one for its events.
    db.add(case)
    db.flush()
    _write_new_rows(db, case, rows, events, run)
    _alert_if_faulted(db, case, events)
    return Outcome(case, _opened(rows))


def _alert_if_faulted(db: Session, case: Case, events: EventBatch) -> None:
    """Raise the red card of a case whose workflow faulted at its start."""
    if case.status == "fault":
        fault = next(r for r in reversed(events.rows) if r["type"] == "case_faulted")
        faults.alert(db, case.id, case.case_no, fault["seq"], fault["data"], events.at)


def _write_new_rows(
    db: Session, case: Case, rows: list[dict], events: EventBatch, run: WorkflowRun | None
) -> None:
    """Insert the task rows and events of a case whose row now exists."""
    events.case_id = case.id
    if rows:
        db.connection().execute(TASKS.insert(), [{**r, "case_id": case.id} for r in rows])
    if run is not None and run.diagram.has_timers:
        timers.write_changes(db, case.id, [], run.waiting_timers(), (), events.at)
    events.write(db)
    if run is not None:
        _keep_live(case.id, case.version, run)


def _refuse(case: Case, events: EventBatch, refusal: dict) -> None:
    reason = (refusal.get("reason") or "").strip()
    basis = (refusal.get("legal_basis") or "").strip()
    if not reason or not basis:
        raise InvalidInput("a refusal needs a reason and a legal basis")
    case.status = "refused"
    case.decision_reason, case.legal_basis = reason, basis
    case.closed_at = events.at
    events.add("case_refused", {"reason": reason, "legal_basis": basis})


def _item_and_latest_version(db: Session, code: str) -> tuple[Item, int | None]:
    """Return an active item and the id of its newest diagram version, in one query."""
    newest = (
        sa.select(DiagramVersion.id)
        .where(DiagramVersion.item_id == Item.id)
        .order_by(DiagramVersion.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    row = db.execute(
        sa.select(Item, newest.label("version_id")).where(Item.code == code, Item.active.is_(True))
    ).first()
    if row is None:
        raise NotFound(f"no item with code '{code}'")
    return row.Item, row.version_id


def _accept(
    db: Session,
    case: Case,
    item: Item,
    version_id: int | None,
    form: dict,
    actor: User,
    events: EventBatch,
) -> tuple[list[dict], WorkflowRun]:
    """Start the workflow, complete its acceptance task; return the task rows to insert.

    When the workflow faults on its way to the first officials' tasks, the acceptance stands
    (its time runs) but nothing of the workflow is kept: the case is stopped in the fault
    state with the fault logged, no task rows and no run are returned, and the caller raises
    the alert once the case row exists (`faults.alert`).
    """
    if version_id is None:
        raise Conflict("this item has no deployed diagram")
    rt = runtime()
    diagram = rt.diagram(db, version_id)
    previous = case.status
    case.form = form
    case.diagram_version_id = version_id
    case.serializer_version = rt.engine.serializer_version
    if case.accepted_at is None:  # a retried start keeps the acceptance time and its dues
        case.accepted_at = events.at
        deadlines.set_case_dues(case, item)
    mark = events.mark()
    try:
        rows, run = _start(db, case, diagram, form, actor, events)
        if diagram.has_timers:
            run.waiting_timers()  # a timer the engine cannot read faults here, not later
        return rows, run
    except WorkflowFault as fault:
        events.rewind(mark)
        case.status = "fault"
        case.state = None
        events.add("case_faulted", faults.fault_data(fault, {"kind": "start"}, previous))
        return [], None


def _start(
    db: Session, case: Case, diagram, form: dict, actor: User, events: EventBatch
) -> tuple[list[dict], WorkflowRun]:
    """Start the workflow and complete the acceptance task at the window."""
    rt = runtime()
    run, steps = rt.engine.start(diagram, form)
    case.status = "accepted"
    events.add(
        "case_accepted",
        {
            "diagram_version_id": case.diagram_version_id,
            "process": diagram.process_id,
            "form": form,
            "steps": [s["node"] for s in steps],
            "promised_days": case.promised_days,
            "due_at": case.due_at,
            "statutory_due_at": case.statutory_due_at,
            "due_provisional": case.due_provisional,
        },
    )
    _gateway_events(steps, events)
    staff = staffing(db, {n.post for n in diagram.user_tasks() if n.post}, events.at)
    guard = Guard(case.applicant_id_number, None)
    rows = _new_task_rows(staff, run.ready_tasks(), events, guard)
    for row in [r for r in rows if r["stage"] == "acceptance"]:
        reason = "accepted at the window by the receiving clerk"
        if row["assignee_id"] != actor.id:
            moved = {"from": row["assignee_id"], "to": actor.id, "acting_for_id": None,
                     "reason": reason}  # fmt: skip
            events.add("task_reassigned", moved, row["id"])
        row.update(assignee_id=actor.id, acting_for_id=None, assignment_reason=reason)
        step = run.complete(row["id"], "approve", {"comment": "受理"})
        row.update(
            state="completed",
            completed_at=events.at,
            completed_by_id=actor.id,
            outcome="approve",
            comment="受理",
            data={},
        )
        events.add(
            "task_completed",
            _completion_data(row["spec_id"], "approve", "受理", {}, step),
            row["id"],
        )
        rows.extend(_plan_step(db, case, step, events, guard, staff=staff))
        for other in rows:
            if other["id"] in step.cancelled:
                other.update(state="cancelled", completed_at=events.at)
    if run.is_completed and case.status != "decided":  # it ended at its start: decide now
        _decide(db, case, run.result(), events)
    case.state = rt.engine.serialize(run)
    return rows, run


def _keep_live(case_id: int, version: int, run: WorkflowRun) -> None:
    """Keep the live workflow after the commit, unless it has ended (it never steps again)."""
    if run.is_completed:
        return
    cache = runtime().cache
    on_commit(lambda: cache.put(case_id, version, run))


@dataclass(frozen=True)
class Guard:
    """Who may not hold the next tasks of a case: its applicant; for a decision stage, the
    person who decided the previous one (four-eyes)."""

    applicant_id_number: str
    last_decider_id: int | None
    last_decision_spec: str | None = None

    def excluded(self, staff: Staffing, task: ReadyTask) -> dict[int, str]:
        """Return the people excluded from a new task, with the reason."""
        return exclusions(
            staff.id_numbers,
            self.applicant_id_number,
            task.spec_id,
            task.is_decision,
            self.last_decider_id,
            self.last_decision_spec,
        )


def _new_task_rows(
    staff: Staffing, ready: list[ReadyTask], events: EventBatch, guard: Guard
) -> list[dict]:
    """Build task rows for newly ready tasks, assigned through their posts (A/B/leader)."""
    rows = []
    cal = calendar() if any(t.time_limit for t in ready) else None
    for task in ready:
        assignment = staff.holder(task.post, guard.excluded(staff, task))
        due = deadlines.task_due_values(cal, events.at, task.time_limit)
        row = {
            "id": task.id,
            "case_id": events.case_id,
            "spec_id": task.spec_id,
            "name": task.name,
            "stage": task.stage,
            "lane": task.lane,
            "post_id": assignment.post_id,
            "assignee_id": assignment.assignee_id,
            "acting_for_id": assignment.acting_for_id,
            "assignment_reason": assignment.reason,
            "state": "open",
            "is_decision": task.is_decision,
            "outcomes": ",".join(task.outcomes),
            "created_at": events.at,
            "completed_at": None,
            "completed_by_id": None,
            "outcome": None,
            "comment": None,
            "data": None,
            **due,
        }
        rows.append(row)
        events.add(
            "task_created",
            {"spec": task.spec_id, "name": task.name, "stage": task.stage, "post": task.post},
            task.id,
        )
        events.add(
            "task_assigned",
            {"assignee_id": assignment.assignee_id, "acting_for_id": assignment.acting_for_id,
             "reason": assignment.reason},
            task.id,
        )  # fmt: skip
        if assignment.escalated:
            events.add("task_escalated", {"reason": assignment.reason}, task.id)
    return rows


def _completion_data(
    spec_id: str, outcome: str, comment: str, data: dict, step: StepResult
) -> dict:
    return {
        "spec": spec_id,
        "outcome": outcome,
        "comment": comment,
        "data": data,
        "steps": [s["node"] for s in step.engine_steps],
    }


def _gateway_events(steps: list[dict], events: EventBatch) -> None:
    for engine_step in steps:
        if "flows" in engine_step:
            events.add(
                "gateway_taken", {"gateway": engine_step["node"], "flows": engine_step["flows"]}
            )


def _plan_step(
    db: Session,
    case: Case,
    step: StepResult,
    events: EventBatch,
    guard: Guard,
    rejection: dict | None = None,
    staff: Staffing | None = None,
) -> list[dict]:
    """Record what the engine did after a completion; return the new task rows to insert.

    Only reads happen here, so the caller can write the version-checked case row first.
    """
    _gateway_events(step.engine_steps, events)
    rows = []
    if step.created:
        if staff is None:
            staff = staffing(db, {t.post for t in step.created if t.post}, events.at)
        rows = _new_task_rows(staff, step.created, events, guard)
    for task_id in step.cancelled:
        events.add("task_cancelled", {}, task_id)
    if step.finished:
        _decide(db, case, step.result, events, rejection)
    return rows


def _write_step(db: Session, rows: list[dict], step: StepResult, at: dt.datetime) -> None:
    """Insert the new tasks and cancel the ones the engine dropped."""
    if rows:
        db.connection().execute(TASKS.insert(), rows)
    if step.cancelled:
        db.connection().execute(
            TASKS.update()
            .where(TASKS.c.id.in_(step.cancelled), TASKS.c.state == "open")
            .values(state="cancelled", completed_at=at)
        )


def _decide(
    db: Session,
    case: Case,
    result: str | None,
    events: EventBatch,
    rejection: dict | None = None,
) -> None:
    if result not in RESULTS:  # the engine checks this; a decision is never a default
        raise WorkflowFault(f"the workflow ended with result {result!r}", code="no-result")
    decision = result
    reason = basis = None
    if decision == "denied":
        earlier = db.execute(
            sa.select(Task.comment, Task.data)
            .where(Task.case_id == case.id, Task.outcome == "reject")
            .order_by(Task.completed_at)
        ).all()
        rejections = [(r.comment, (r.data or {}).get("legal_basis")) for r in earlier]
        if rejection is not None:
            rejections.append((rejection["comment"], rejection.get("legal_basis")))
        reason = "；".join(c for c, _ in rejections if c) or None
        basis = "；".join(b for _, b in rejections if b) or None
    case.status = "decided"
    case.decision = decision
    case.decision_reason, case.legal_basis = reason, basis
    case.decided_at = events.at
    events.add("case_decided", {"decision": decision, "reason": reason, "legal_basis": basis})


# --- the other window operations --------------------------------------------------------------


def _case_for_update(db: Session, case_no: str) -> Case:
    case = db.scalars(sa.select(Case).where(Case.case_no == case_no)).first()
    if case is None:
        raise NotFound(f"no case '{case_no}'")
    return case


def _save_case_row(db: Session, case: Case, expected_version: int, values: dict) -> None:
    updated = db.connection().execute(
        CASES.update()
        .where(CASES.c.id == case.id, CASES.c.version == expected_version)
        .values(version=expected_version + 1, **values)
    )
    if updated.rowcount != 1:
        raise StaleCase(f"case {case.case_no} changed meanwhile")


def _finish(case: Case, events: EventBatch) -> None:
    """Write the batch and move the case's chain head; the row version guards the write."""
    events.write(session())
    case.event_seq, case.last_hash = events.seq, events.last_hash
    case.version += 1


@transactional
def submit_supplement(
    actor: User, case_no: str, materials: list[str], form: dict | None = None
) -> Case:
    """Record supplemented materials; accept the case once nothing required is missing."""
    _require_role(actor, "clerk")
    db = session()
    case = _case_for_update(db, case_no)
    if case.status != "supplement_required":
        raise Conflict(f"case {case_no} is {case.status}, not waiting for supplements")
    item = db.get(Item, case.item_id)
    given = sorted(set(case.materials) | set(materials))
    missing = _missing_materials(item, given)
    if form:
        case.form = {**case.form, **form}
    case.materials, case.missing_materials = given, missing
    events = _batch(case, actor)
    events.add(
        "materials_supplemented",
        {"materials": sorted(set(materials)), "missing": missing, "form": case.form},
    )
    rows: list[dict] = []
    run = None
    if missing:
        events.add("supplement_required", {"missing": missing})
    else:
        clean_form = check_form(item.entry.get("form", []), case.form, "application form")
        _, version_id = _item_and_latest_version(db, item.code)
        rows, run = _accept(db, case, item, version_id, clean_form, actor, events)
    case.event_seq, case.last_hash = events.seq, events.last_hash
    case.version += 1
    _write_new_rows(db, case, rows, events, run)
    _alert_if_faulted(db, case, events)
    return case


@transactional
def refuse_case(actor: User, case_no: str, reason: str, legal_basis: str) -> Case:
    """Refuse an application that is out of scope (不予受理), with reason and legal basis."""
    _require_role(actor, "clerk")
    db = session()
    case = _case_for_update(db, case_no)
    if case.status not in ("received", "supplement_required"):
        raise Conflict(f"case {case_no} is {case.status}; only a case not yet accepted is refused")
    events = _batch(case, actor)
    _refuse(case, events, {"reason": reason, "legal_basis": legal_basis})
    _finish(case, events)
    return case


@transactional
def withdraw_case(actor: User, case_no: str, reason: str) -> Case:
    """Withdraw an open case at the applicant's request (or a faulted one, by an admin)."""
    if not actor.has_role("clerk", "admin"):
        raise Forbidden("this needs one of the roles: clerk, admin")
    db = session()
    case = _case_for_update(db, case_no)
    if not actor.has_role("clerk") and case.status != "fault":
        raise Forbidden("an administrator withdraws only a case stopped in the fault state")
    if case.status not in OPEN_CASE_STATUSES:
        raise Conflict(f"case {case_no} is {case.status} and cannot be withdrawn")
    if not (reason or "").strip():
        raise InvalidInput("a withdrawal needs the applicant's reason")
    events = _batch(case, actor)
    open_ids = db.scalars(
        sa.select(Task.id).where(Task.case_id == case.id, Task.state == "open")
    ).all()
    if open_ids:
        db.execute(
            sa.update(Task)
            .where(Task.id.in_(open_ids))
            .values(state="cancelled", completed_at=events.at)
            .execution_options(synchronize_session=False)
        )
    for task_id in open_ids:
        events.add("task_cancelled", {"reason": "case withdrawn"}, task_id)
    timers.close_all(db, case.id)
    if case.status == "fault":
        faults.release(db, case.id, events.at)
    events.add("case_withdrawn", {"reason": reason.strip()})
    case.status, case.closed_at = "withdrawn", events.at
    _finish(case, events)
    runtime().cache.take(case.id, -1)
    return case


@transactional
def close_case(actor: User, case_no: str, note: str = "") -> Case:
    """Close a decided case once the result has been handed to the applicant."""
    _require_role(actor, "clerk")
    db = session()
    case = _case_for_update(db, case_no)
    if case.status != "decided":
        raise Conflict(f"case {case_no} is {case.status}; only a decided case is closed")
    events = _batch(case, actor)
    events.add("case_closed", {"note": note})
    case.status, case.closed_at = "closed", events.at
    _finish(case, events)
    return case


@transactional
def retry_case(actor: User, case_no: str) -> Case:
    """Run again the step that stopped a case in the fault state (an administrator's action).

    A start is retried on the item's newest version (the fixed diagram, if one was deployed):
    nothing of the workflow exists yet. A completion or a timer is retried on the version the
    case runs on, as recorded: the official's outcome, comment and form data, or the timer.
    If the step faults again the case stays stopped, with the new fault logged.
    """
    from ..audit.models import Event

    _require_role(actor, "admin")
    db = session()
    case = _case_for_update(db, case_no)
    if case.status != "fault":
        raise Conflict(f"case {case_no} is {case.status}; only a faulted case is retried")
    fault = db.scalars(
        sa.select(Event)
        .where(Event.case_id == case.id, Event.type == "case_faulted")
        .order_by(Event.seq.desc())
        .limit(1)
    ).one()
    step, previous = fault.data.get("step") or {}, fault.data.get("previous_status")
    if step.get("kind") == "start":
        return _retry_start(db, actor, case, fault.seq)
    head = _Head.of(db.execute(sa.select(*HEAD_COLUMNS).where(Case.id == case.id)).one(), case.id)
    head = dataclasses.replace(head, status=previous or "in_progress")
    db.expunge(case)  # the row is written version-checked by the step below
    events = _head_batch(head, actor)
    events.add("case_retried", {"fault_seq": fault.seq, "step": step})
    faults.release(db, case.id, events.at)
    if step.get("kind") == "timer":
        outcome = _retry_timer(db, head, uuid.UUID(step["timer_id"]), events)
    elif step.get("kind") == "complete":
        outcome = _retry_completion(db, head, step, events)
    else:
        raise Conflict(f"the failed step of case {case_no} cannot be retried ({step!r})")
    if isinstance(outcome, faults.CaseFaulted):
        raise outcome
    return db.get(Case, case.id)


def _retry_start(db: Session, actor: User, case: Case, fault_seq: int) -> Case:
    item = db.get(Item, case.item_id)
    _, version_id = _item_and_latest_version(db, item.code)
    clerk = db.get(User, case.received_by_id) if case.received_by_id else actor
    events = _batch(case, actor)
    events.add("case_retried", {"fault_seq": fault_seq, "step": {"kind": "start"}})
    faults.release(db, case.id, events.at)
    rows, run = _accept(db, case, item, version_id, case.form, clerk or actor, events)
    case.event_seq, case.last_hash = events.seq, events.last_hash
    case.version += 1
    _write_new_rows(db, case, rows, events, run)
    _alert_if_faulted(db, case, events)
    if case.status == "fault":
        last = next(r for r in reversed(events.rows) if r["type"] == "case_faulted")["data"]
        failure = WorkflowFault(last["message"], last.get("element"), code=last["code"])
        raise faults.CaseFaulted(case.case_no, failure)
    return case


def _retry_timer(
    db: Session, head: _Head, timer_id: uuid.UUID, events: EventBatch
) -> faults.CaseFaulted | None:
    from .models import Timer

    db.execute(
        sa.update(Timer)
        .where(Timer.id == timer_id, Timer.state.in_(("failed", "held")))
        .values(state="waiting", failure=None)
        .execution_options(synchronize_session=False)
    )
    mark = events.mark()
    if not _fire(db, head, timer_id, events):  # not due yet: the case simply waits again
        _save_case_row(
            db, Case(id=head.id, case_no=head.case_no), head.version,
            {"status": head.status, "event_seq": events.seq, "last_hash": events.last_hash},
        )  # fmt: skip
        events.write(db)
        return None
    if events.rows[mark[2] :] and events.rows[-1]["type"] == "case_faulted":
        data = events.rows[-1]["data"]
        failure = WorkflowFault(data["message"], data.get("element"), code=data["code"])
        return faults.CaseFaulted(head.case_no, failure)
    return None


def _retry_completion(
    db: Session, head: _Head, step: dict, events: EventBatch
) -> Outcome | faults.CaseFaulted:
    task = db.get(Task, uuid.UUID(step["task_id"]))
    if task is None or task.state != "open":
        raise Conflict("the task whose completion failed is no longer open")
    official = db.get(User, step.get("actor_id")) if step.get("actor_id") else None
    if official is None:
        raise Conflict("the official whose completion failed is no longer known")
    db.expunge(task)
    diagram = runtime().diagram(db, head.diagram_version_id)
    return _complete(
        db, head, diagram, task, official, step.get("outcome", "approve"),
        step.get("comment") or "", dict(step.get("data") or {}), events,
    )  # fmt: skip


# --- officials' tasks -------------------------------------------------------------------------


def _check_decision_input(outcome: str, comment: str, data: dict) -> None:
    if outcome == "reject":
        if not comment.strip():
            raise InvalidInput("a rejection needs a reason (comment)")
        if not str(data.get("legal_basis", "")).strip():
            raise InvalidInput("a rejection needs a legal basis (data.legal_basis)")
    if outcome == "return" and not comment.strip():
        raise InvalidInput("a return needs a reason (comment)")


def _check_may_decide(actor: User, task: Task, head: _Head) -> None:
    """Refuse an official who applied for the case, or who decided its previous stage."""
    if actor.id_number and actor.id_number == head.applicant_id_number:
        raise Forbidden("you are the applicant of this case and may not handle it")
    if (
        task.is_decision
        and head.last_decider_id == actor.id
        and head.last_decision_spec != task.spec_id
        and not _opened_before_last_decision(task, head)
    ):
        raise Forbidden("you decided the previous stage of this case (four-eyes)")


def _opened_before_last_decision(task: Task, head: _Head) -> bool:
    """Return whether the task was already open when its holder decided the last stage.

    Such a task runs beside that stage (parallel branches), not after it: four-eyes forbids
    holding two consecutive decision stages, not two parallel ones.
    """
    decided_at = session().scalar(
        sa.select(sa.func.max(Task.completed_at)).where(
            Task.case_id == head.id,
            Task.spec_id == head.last_decision_spec,
            Task.completed_by_id == head.last_decider_id,
        )
    )
    return decided_at is not None and task.created_at <= decided_at


@transactional
def complete_task(
    actor: User, task_id: uuid.UUID, outcome: str, comment: str = "", data: dict | None = None
) -> Outcome:
    """Complete an official's task with an outcome; the case moves on in the same commit."""
    db = session()
    data = dict(data or {})
    comment = (comment or "").strip()
    row = db.execute(
        sa.select(Task, *HEAD_COLUMNS).join(Case, Case.id == Task.case_id).where(Task.id == task_id)
    ).first()
    if row is None:
        raise NotFound(f"no task {task_id}")
    task: Task = row.Task
    db.expunge(task)  # the row is written with one Core UPDATE below, never flushed by the ORM
    if task.assignee_id != actor.id:
        raise Forbidden("this task is not assigned to you")
    if task.state != "open":
        raise Conflict(f"task {task_id} is already {task.state}")
    if outcome not in task.outcomes.split(","):
        raise InvalidInput(f"outcome must be one of: {task.outcomes.replace(',', ', ')}")
    _check_decision_input(outcome, comment, data)
    rt = runtime()
    diagram = rt.diagram(db, row.diagram_version_id)
    node = diagram.nodes.get(task.spec_id)
    form_fields = [
        {
            "id": f.id,
            "label": f.label,
            "type": f.type,
            "required": f.required,
            "options": [o[0] for o in f.options],
        }
        for f in (node.form if node else ())
    ]
    extra = {k: data.pop(k) for k in ("legal_basis",) if k in data}
    clean = check_form(form_fields, data, "task form")
    clean.update(extra)
    head = _Head.of(row, task.case_id)
    _check_may_decide(actor, task, head)
    if head.status == "fault":
        raise Conflict(FAULTED)
    events = _head_batch(head, actor)
    done = _complete(db, head, diagram, task, actor, outcome, comment, clean, events)
    if isinstance(done, faults.CaseFaulted):
        raise done
    return done


FAULTED = (
    "this case is stopped in the fault state (流程异常) until an administrator retries its "
    "failed step or withdraws it; nothing can be completed meanwhile"
)


def _complete(
    db: Session,
    head: _Head,
    diagram,
    task: Task,
    actor: User,
    outcome: str,
    comment: str,
    clean: dict,
    events: EventBatch,
) -> Outcome | faults.CaseFaulted:
    """Run one completion and write it; a fault stops the case instead (and is returned)."""
    run = _live_run(db, diagram, head)
    mark = events.mark()
    try:
        timers_before = run.waiting_timers() if diagram.has_timers else []
        step = run.complete(task.id, outcome, {**clean, "comment": comment})
        events.add(
            "task_completed",
            _completion_data(task.spec_id, outcome, comment, clean, step),
            task.id,
        )
        rejection = {"comment": comment, **clean} if outcome == "reject" else None
        completion = {
            "state": "completed",
            "completed_at": events.at,
            "completed_by_id": actor.id,
            "outcome": outcome,
            "comment": comment or None,
            "data": clean,
        }
        new_rows = _commit_step(
            db, head, run, step, events, timers_before, rejection=rejection,
            completed_task=(task.id, completion),
            decided=(actor.id, task.spec_id) if task.is_decision else None,
        )  # fmt: skip
    except WorkflowFault as fault:
        events.rewind(mark)
        failed = {"kind": "complete", "task_id": str(task.id), "actor_id": actor.id,
                  "outcome": outcome, "comment": comment, "data": clean}  # fmt: skip
        return _stop(db, head, events, fault, failed)
    except EngineError as exc:
        raise Conflict(f"the workflow could not continue: {exc.message}") from None
    for key, value in completion.items():
        setattr(task, key, value)
    return Outcome(task, _opened(new_rows))


def _stop(
    db: Session,
    head: _Head,
    events: EventBatch,
    fault: WorkflowFault,
    step: dict,
    failed_timer: uuid.UUID | None = None,
) -> faults.CaseFaulted:
    """Stop the case in the fault state (version-checked); return the error to tell."""
    runtime().cache.take(head.id, -1)  # the live run may be half-stepped: never reuse it
    faults.hold(db, head.id, head.case_no, events, fault, step, head.status, failed_timer)
    _save_case_row(
        db, Case(id=head.id, case_no=head.case_no), head.version,
        {"status": "fault", "event_seq": events.seq, "last_hash": events.last_hash},
    )  # fmt: skip
    events.write(db)
    return faults.CaseFaulted(head.case_no, fault)


@dataclass(frozen=True)
class _Head:
    """The case row as a step sees it: identity, version and the head of its chain."""

    id: int
    case_no: str
    applicant_id_number: str
    last_decider_id: int | None
    last_decision_spec: str | None
    status: str
    version: int
    event_seq: int
    last_hash: str
    diagram_version_id: int

    @classmethod
    def of(cls, row: Any, case_id: int) -> _Head:
        """Build from a row carrying the case columns."""
        return cls(
            case_id,
            row.case_no,
            row.applicant_id_number,
            row.last_decider_id,
            row.last_decision_spec,
            row.status,
            row.version,
            row.event_seq,
            row.last_hash,
            row.diagram_version_id,
        )


HEAD_COLUMNS = (
    Case.case_no,
    Case.applicant_id_number,
    Case.last_decider_id,
    Case.last_decision_spec,
    Case.status,
    Case.version,
    Case.event_seq,
    Case.last_hash,
    Case.diagram_version_id,
)


def _head_batch(head: _Head, actor: User | None) -> EventBatch:
    return EventBatch(
        case_no=head.case_no,
        case_id=head.id,
        seq=head.event_seq,
        last_hash=head.last_hash,
        actor_id=actor.id if actor else None,
        actor=actor.username if actor else "system",
    )


def _live_run(db: Session, diagram, head: _Head) -> WorkflowRun:
    """Take the live workflow of this row version, or restore it from the stored state."""
    rt = runtime()
    run = rt.cache.take(head.id, head.version)
    if run is None:
        state = db.execute(sa.select(Case.state).where(Case.id == head.id)).scalar_one()
        run = rt.engine.restore(diagram, state)
    return run


def _commit_step(
    db: Session,
    head: _Head,
    run: WorkflowRun,
    step: StepResult,
    events: EventBatch,
    timers_before: list,
    rejection: dict | None = None,
    completed_task: tuple[uuid.UUID, dict] | None = None,
    fired: tuple[uuid.UUID, ...] = (),
    decided: tuple[int, str] | None = None,
) -> list[dict]:
    """Write one engine step: case row (version-checked, first), tasks, timers, events."""
    holder = Case(id=head.id, case_no=head.case_no, status=head.status)
    decider, spec = decided or (head.last_decider_id, head.last_decision_spec)
    guard = Guard(head.applicant_id_number, decider, spec)
    new_rows = _plan_step(db, holder, step, events, guard, rejection)
    values: dict[str, Any] = {"status": "in_progress" if head.status == "accepted" else head.status}
    if decided is not None:
        values.update(last_decider_id=decider, last_decision_spec=spec)
    if step.finished:
        values.update(
            status=holder.status,
            decision=holder.decision,
            decision_reason=holder.decision_reason,
            legal_basis=holder.legal_basis,
            decided_at=holder.decided_at,
        )
    after = run.waiting_timers() if run.diagram.has_timers else []  # may fault: before writing
    # The version-checked case row goes first: a request that lost the race stops here.
    _save_case_row(
        db,
        holder,
        head.version,
        {
            "state": runtime().engine.serialize(run),
            "event_seq": events.seq,
            "last_hash": events.last_hash,
            **values,
        },
    )
    if completed_task is not None:
        task_id, completion = completed_task
        updated = db.connection().execute(
            TASKS.update()
            .where(TASKS.c.id == task_id, TASKS.c.state == "open")
            .values(**completion)
        )
        if updated.rowcount != 1:
            raise StaleCase(f"task {task_id} changed meanwhile")
    _write_step(db, new_rows, step, events.at)
    if run.diagram.has_timers:
        if not fired:  # a timer already due may run inside a completion: it fired, not closed
            ran = {s["node"] for s in step.engine_steps}
            still = {t.task_id for t in after}
            fired = tuple(t.task_id for t in timers_before
                          if t.task_id not in still and t.node_id in ran)  # fmt: skip
        timers.write_changes(db, head.id, timers_before, after, fired, events.at)
    events.write(db)
    _keep_live(head.id, head.version + 1, run)
    return new_rows


@transactional
def fire_timer(timer_id: uuid.UUID) -> bool:
    """Fire one due timer of a case if it is still waiting; return whether it fired."""
    from .models import Timer

    db = session()
    query = (
        sa.select(Timer.case_id, *HEAD_COLUMNS)
        .join(Case, Case.id == Timer.case_id)
        .where(Timer.id == timer_id, Timer.state == "waiting")
    )
    if db.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Timer, skip_locked=True)
    row = db.execute(query).first()
    if row is None:
        return False  # fired, closed or claimed by another process meanwhile
    head = _Head.of(row, row.case_id)
    if head.status == "fault":
        faults.hold_timers(db, head.id)  # they wait again when the case is retried
        return False
    events = _head_batch(head, None)
    return _fire(db, head, timer_id, events)


@transactional
def fail_timer(timer_id: uuid.UUID, reason: str) -> bool:
    """Stop the case of a timer that could not be fired at all; return whether it was waiting.

    The scheduler calls this when firing raised something unexpected, so that no scheduler
    tries the same timer again and again: the timer is marked failed, the case faults.
    """
    from .models import Timer

    db = session()
    row = db.execute(
        sa.select(Timer.case_id, Timer.node_id, *HEAD_COLUMNS)
        .join(Case, Case.id == Timer.case_id)
        .where(Timer.id == timer_id, Timer.state == "waiting")
    ).first()
    if row is None:
        return False
    head = _Head.of(row, row.case_id)
    fault = WorkflowFault(f"the timer could not be fired: {reason}", row.node_id, code="timer")
    if head.status == "fault":
        faults.hold_timers(db, head.id)
        return True
    step = {"kind": "timer", "timer_id": str(timer_id)}
    _stop(db, head, _head_batch(head, None), fault, step, failed_timer=timer_id)
    return True


def _fire(db: Session, head: _Head, timer_id: uuid.UUID, events: EventBatch) -> bool:
    """Fire the due timers of a case and write the step; a fault stops the case instead."""
    diagram = runtime().diagram(db, head.diagram_version_id)
    run = _live_run(db, diagram, head)
    now = utcnow()
    try:
        before = run.waiting_timers()
        step = run.fire_timers()
        still = {t.task_id: t for t in run.waiting_timers()}
        if timer_id in still:
            # not due by the engine's clock: wait for that time, so the scheduler never spins
            runtime().cache.take(head.id, -1)
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
        _commit_step(db, head, run, step, events, before, fired=fired)
    except WorkflowFault as fault:
        events.rewind((head.event_seq, head.last_hash, 0))
        failed = timer_id if fault.code == "timer" else None
        _stop(db, head, events, fault, {"kind": "timer", "timer_id": str(timer_id)}, failed)
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
        from .work import escalate_to_leader

        escalate_to_leader(db, head.id, escalating, now, "the stage's time limit has passed")
    return True


# --- reading ----------------------------------------------------------------------------------


def can_view_case(actor: User, case: Case) -> bool:
    """Return whether the actor may read the case.

    The window, supervision, audit and admin read every case. An official or leader reads
    the cases they hold, held or decided a task of, stand in for, or lead the post of. An
    applicant reads their own. Analysts work on diagrams and figures, not on cases.
    """
    if actor.has_role(*READ_ALL_CASES_ROLES):
        return True
    if case.applicant_user_id is not None and case.applicant_user_id == actor.id:
        return True
    if not actor.has_role("official", "leader"):
        return False
    led = sa.select(Post.id).where(Post.leader_user_id == actor.id)
    involved = sa.exists().where(
        Task.case_id == case.id,
        sa.or_(
            Task.assignee_id == actor.id,
            Task.completed_by_id == actor.id,
            Task.acting_for_id == actor.id,
            Task.post_id.in_(led),
        ),
    )
    return bool(session().scalar(sa.select(involved)))


def get_case(
    actor: User, case_no: str
) -> tuple[Case, Item, int | None, list[tuple[Task, str | None]]]:
    """Return a case with its item, diagram version number and tasks with their assignees."""
    found = _case_detail(case_no)
    if found is None or not can_view_case(actor, found[0]):
        raise NotFound(f"no case '{case_no}'")
    return found


def case_for_task(case_no: str) -> tuple[Case, Item, int | None, list[tuple[Task, str | None]]]:
    """Return the case of a task the caller has already been allowed to read."""
    found = _case_detail(case_no)
    if found is None:
        raise NotFound(f"no case '{case_no}'")
    return found


def _case_detail(case_no: str):
    db = session()
    row = db.execute(
        sa.select(Case, Item, DiagramVersion.version)
        .join(Item, Item.id == Case.item_id)
        .outerjoin(DiagramVersion, DiagramVersion.id == Case.diagram_version_id)
        .where(Case.case_no == case_no)
    ).first()
    if row is None:
        return None
    rows = db.execute(
        sa.select(Task, User.username)
        .outerjoin(User, User.id == Task.assignee_id)
        .where(Task.case_id == row.Case.id)
        .order_by(Task.created_at, Task.name)
    ).all()
    return row.Case, row.Item, row.version, [(r.Task, r.username) for r in rows]


def find_cases(actor: User, text: str, limit: int = 50) -> list[tuple[Case, str]]:
    """Find cases by case number or applicant name that the actor may read, newest first."""
    text = text.strip()
    if not text:
        return []
    pattern = f"%{text}%"
    rows = (
        session()
        .execute(
            sa.select(Case, Item.name)
            .join(Item, Item.id == Case.item_id)
            .where(sa.or_(Case.case_no.like(pattern), Case.applicant_name.like(pattern)))
            .order_by(Case.received_at.desc())
            .limit(limit * 4)
        )
        .all()
    )
    return [(r.Case, r.name) for r in rows if can_view_case(actor, r.Case)][:limit]


READ_ANY_TASK_ROLES = ("auditor", "supervisor", "admin")


def can_view_task(db: Session, actor: User, task: Task) -> bool:
    """Return whether the actor may read a task: its holder; supervision, audit and admin;
    the post's leader; any holder of the post while the task waits to be claimed."""
    if task.assignee_id == actor.id or actor.has_role(*READ_ANY_TASK_ROLES):
        return True
    post = db.get(Post, task.post_id) if task.post_id else None
    if post is None:
        return False
    if post.leader_user_id == actor.id:
        return True
    unclaimed = task.assignee_id is None and task.state == "open"
    return unclaimed and actor.id in (post.a_user_id, post.b_user_id)


@transactional
def open_task(actor: User, task_id: uuid.UUID) -> tuple[Task, Case, list[dict]]:
    """Show a task with its case and form; its holder opening it marks it started.

    A task B has started stays with B when A comes back.
    """
    db = session()
    row = db.execute(
        sa.select(Task, Case).join(Case, Case.id == Task.case_id).where(Task.id == task_id)
    ).first()
    if row is None:
        raise NotFound(f"no task {task_id}")
    task, case = row.Task, row.Case
    if not can_view_task(db, actor, task):
        raise Forbidden("this task is not assigned to you")
    if task.assignee_id == actor.id and task.state == "open" and task.started_at is None:
        task.started_at = utcnow()
    node = runtime().diagram(db, case.diagram_version_id).nodes.get(task.spec_id)
    form = [f.as_dict() for f in (node.form if node else ())]
    return task, case, form


def list_open_tasks(actor: User) -> list[tuple[Task, str, str, str | None]]:
    """Return the actor's open tasks with case number, item name and the task's worst open
    card (red, yellow or None), oldest first."""
    from .work import open_card_level

    db = session()
    card = open_card_level()
    rows = db.execute(
        sa.select(Task, Case.case_no, Item.name, card.label("card"))
        .join(Case, Case.id == Task.case_id)
        .join(Item, Item.id == Case.item_id)
        # a literal, so PostgreSQL always plans with the partial inbox index
        .where(Task.assignee_id == actor.id, Task.state == sa.literal("open", literal_execute=True))
        .order_by(Task.created_at)
        .limit(500)
    ).all()
    return [(r.Task, r.case_no, r.name, r.card) for r in rows]


def case_events(actor: User, case_no: str, allowed: bool = False) -> list:
    """Return the audit events of a case in order (`allowed`: the caller checked access)."""
    from ..audit.models import Event

    db = session()
    case = db.scalars(sa.select(Case).where(Case.case_no == case_no)).first()
    if case is None or not (allowed or can_view_case(actor, case)):
        raise NotFound(f"no case '{case_no}'")
    return list(db.scalars(sa.select(Event).where(Event.case_id == case.id).order_by(Event.seq)))
