"""A case's life at the window: receive, accept (start the workflow), supplement, refuse,
withdraw and close. Each operation is one transaction.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from workflows.engine import WorkflowRun
from workflows.errors import WorkflowFault

from ..audit.services import GENESIS, EventBatch
from ..calendar.services import calendar
from ..catalogue.models import Item
from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, InvalidInput
from ..labels import status_name
from ..licences import registry
from ..org.models import User
from ..org.reasons import encode
from ..org.services import staffing
from . import deadlines, faults, planner, rebuild, status, steps, store, timers
from .access import require_case, require_role
from .delivery import Delivery
from .intake import (
    Applicant,
    check_form,
    missing_materials,
    new_case_no,
    new_query_code,
    signer_lists,
)
from .models import Case
from .planner import Guard, Outcome
from .queries import item_and_newest_version
from .runtime import runtime
from .status import CaseStatus, TaskState

ACCEPTANCE = "受理"  # the acceptance task's comment, as the window clerk completes it


# One path from the window's form to the case row (refused, deemed accepted, waiting for
# supplements or accepted): long because each outcome is a few lines of the same batch.
@transactional
def receive_case(
    actor: User,
    item_code: str,
    applicant: Applicant,
    materials: list[str],
    form: dict,
    refusal: dict | None = None,
    applicant_user_id: int | None = None,
    deemed: tuple[dt.datetime, dict] | None = None,
) -> Outcome:
    """Register an application at the window; accept it, or ask for every missing material.

    `applicant_user_id` links the case to the applicant's account (accepted online).
    `deemed` is (when the materials were received, the event's data) for an online
    application deemed accepted (app/applicants/deemed.py): the case is received and
    accepted as of that moment, whatever is missing, its time limits count from then, and
    `deemed_accepted` is logged with the data.
    """
    require_role(actor, "clerk")
    db = session()
    item, version_id = item_and_newest_version(db, item_code)
    applicant.check()
    missing = missing_materials(item, list(materials))
    if refusal is None:
        form = check_form(item.entry.get("form", []), form or {}, "application form")
        registry.check_application(db, item, form, applicant.name)  # a licence's case
    now = utcnow()
    case = Case(
        case_no=new_case_no(now),
        query_code=new_query_code(),
        item_id=item.id,
        status=CaseStatus.RECEIVED,
        applicant_name=applicant.name.strip(),
        applicant_id_number=applicant.id_number.strip(),
        applicant_phone=(applicant.phone or "").strip() or None,
        applicant_user_id=applicant_user_id,
        materials=sorted(set(materials)),
        missing_materials=missing,
        form=dict(form or {}),
        received_by_id=actor.id,
        received_at=deemed[0] if deemed else now,
        event_seq=0,
        last_hash=GENESIS,
    )
    events = store.events_for(case, actor, now)
    events.add(
        "case_received",
        {"item": item.code, "applicant": applicant.name, "materials": case.materials,
         "form": case.form},
    )  # fmt: skip
    rows, run = [], None  # the tasks and workflow of an accepted case
    if refusal is not None:
        _refuse(case, events, refusal)
    elif deemed is not None:  # accepted by law as of the receipt: dues count from then
        events.add("deemed_accepted", {**deemed[1], "missing": missing})
        case.missing_materials, case.accepted_at = [], deemed[0]
        deadlines.set_case_dues(case, item)
        rows, run = accept(db, case, item, version_id, case.form, actor, events)
    elif missing:
        case.status = CaseStatus.SUPPLEMENT_REQUIRED
        events.add("supplement_required", {"missing": missing})
    else:
        rows, run = accept(db, case, item, version_id, case.form, actor, events)
    case.event_seq, case.last_hash = events.seq, events.last_hash
    case.version = 1
    # Everything is known now: one INSERT for the case, one for its tasks, one for its events.
    store.insert_case(db, case)
    store.write_started(db, case, rows, events, run)
    alert_if_faulted(db, case, events)
    return Outcome(case, planner.opened(rows))


def alert_if_faulted(db: Session, case: Case, events: EventBatch) -> None:
    """Raise the red card of a case whose workflow faulted at its start."""
    if status.is_faulted(case):
        fault = next(r for r in reversed(events.rows) if r["type"] == "case_faulted")
        faults.alert(db, case.id, case.case_no, fault["seq"], fault["data"], events.at)


def _refuse(case: Case, events: EventBatch, refusal: dict) -> None:
    reason = (refusal.get("reason") or "").strip()
    basis = (refusal.get("legal_basis") or "").strip()
    if not reason or not basis:
        raise InvalidInput(_("a refusal needs a reason and a legal basis"))
    case.status = CaseStatus.REFUSED
    case.decision_reason, case.legal_basis = reason, basis
    case.closed_at = events.at
    events.add("case_refused", {"reason": reason, "legal_basis": basis})


def accept(
    db: Session,
    case: Case,
    item: Item,
    version_id: int | None,
    form: dict,
    actor: User,
    events: EventBatch,
) -> tuple[list[dict], WorkflowRun | None]:
    """Start the workflow, complete its acceptance task; return the task rows to insert.

    When the workflow faults on its way to the first officials' tasks, the acceptance stands
    (its time runs) but nothing of the workflow is kept: the case is stopped in the fault
    state with the fault logged, no task rows and no run are returned, and the caller raises
    the alert once the case row exists (`faults.alert`).
    """
    if version_id is None:
        raise Conflict(_("this item has no deployed diagram"))
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
        rows, run = _start(db, case, diagram, {**form, **signer_lists(item)}, actor, events)
        if diagram.has_timers:
            run.waiting_timers()  # a timer the engine cannot read faults here, not later
        return rows, run
    except WorkflowFault as fault:
        events.rewind(mark)
        case.status = CaseStatus.FAULT
        case.state = None
        events.add("case_faulted", faults.fault_data(fault, {"kind": "start"}, previous))
        return [], None


def _start(
    db: Session, case: Case, diagram, form: dict, actor: User, events: EventBatch
) -> tuple[list[dict], WorkflowRun]:
    """Start the workflow and complete the acceptance task at the window."""
    rt = runtime()
    run, engine_steps = rt.engine.start(diagram, form)
    case.status = CaseStatus.ACCEPTED
    events.add(
        "case_accepted",
        {
            "diagram_version_id": case.diagram_version_id,
            "process": diagram.process_id,
            "form": form,
            "steps": [s["node"] for s in engine_steps],
            "promised_days": case.promised_days,
            "due_at": case.due_at,
            "statutory_due_at": case.statutory_due_at,
            "due_provisional": case.due_provisional,
        },
    )
    planner.gateway_events(engine_steps, events)
    staff = staffing(db, {n.post for n in diagram.user_tasks() if n.post}, events.at)
    guard = Guard(case.applicant_id_number, None)
    ready = run.ready_tasks()
    cal = calendar() if planner.needs_calendar(ready) else None
    rows = planner.new_task_rows(staff, ready, events, guard, cal)
    for row in [r for r in rows if r["stage"] == "acceptance"]:
        _accept_at_window(db, case, run, row, rows, actor, events, guard, staff)
    if run.is_completed and case.status != CaseStatus.DECIDED:  # it ended at its start
        for key, value in planner.decide(run.result(), [], events).items():
            setattr(case, key, value)
    # No snapshot at the start: a process that never saw the case rebuilds it from the start
    # of its log (a few engine moves), which costs less than restoring a stored one; the
    # first is stored after SNAPSHOT_EVERY moves (app/cases/rebuild.py).
    rebuild.note_moves(run, 1)  # the start (and acceptance at the window): one move
    return rows, run


def _accept_at_window(db, case, run, row, rows, actor, events, guard, staff) -> None:
    """The receiving clerk completes the acceptance task (受理) the workflow starts with."""
    reason = {"reason": "window"}
    if row["assignee_id"] != actor.id:
        moved = {"from": row["assignee_id"], "to": actor.id, "acting_for_id": None,
                 "reason": reason}  # fmt: skip
        events.add("task_reassigned", moved, row["id"])
    row.update(assignee_id=actor.id, acting_for_id=None, assignment_reason=encode(reason))
    step = run.complete(row["id"], "approve", {"comment": ACCEPTANCE})
    row.update(state=TaskState.COMPLETED, completed_at=events.at, completed_by_id=actor.id,
               outcome="approve", comment=ACCEPTANCE, data={})  # fmt: skip
    events.add(
        "task_completed",
        planner.completion_data(row["spec_id"], "approve", ACCEPTANCE, {}, step),
        row["id"],
    )
    step_plan = steps.plan(db, case.id, step, events, guard, staff=staff)
    for key, value in step_plan.case_values.items():
        setattr(case, key, value)
    rows.extend(step_plan.rows)
    for other in rows:
        if other["id"] in step.cancelled:
            other.update(state=TaskState.CANCELLED, completed_at=events.at)


@transactional
def submit_supplement(
    actor: User, case_no: str, materials: list[str], form: dict | None = None
) -> Case:
    """Record supplemented materials; accept the case once nothing required is missing."""
    require_role(actor, "clerk")
    checked = require_case(actor, case_no, "window")
    db, case = session(), checked.case
    if not status.may_accept_supplement(case):
        raise Conflict(
            _(
                "case %(case_no)s is %(status)s, not waiting for supplements",
                case_no=case_no,
                status=status_name(case.status),
            )
        )
    with db.no_autoflush:
        item = checked.item
        given = sorted(set(case.materials) | set(materials))
        missing = missing_materials(item, given)
        if form:
            case.form = {**case.form, **form}
        case.materials, case.missing_materials = given, missing
        events = store.events_for(case, actor)
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
            version_id = item_and_newest_version(db, item.code)[1]
            rows, run = accept(db, case, item, version_id, clean_form, actor, events)
        case.event_seq, case.last_hash = events.seq, events.last_hash
        store.save_case(db, case)  # its events are written after its new tasks
    store.write_started(db, case, rows, events, run)
    alert_if_faulted(db, case, events)
    return case


@transactional
def refuse_case(actor: User, case_no: str, reason: str, legal_basis: str) -> Case:
    """Refuse an application that is out of scope (不予受理), with reason and legal basis."""
    require_role(actor, "clerk")
    case = require_case(actor, case_no, "window").case
    if not status.may_refuse(case):
        raise Conflict(
            _(
                "case %(case_no)s is %(status)s; only a case not yet accepted is refused",
                case_no=case_no,
                status=status_name(case.status),
            )
        )
    events = store.events_for(case, actor)
    _refuse(case, events, {"reason": reason, "legal_basis": legal_basis})
    store.save_case(session(), case, None, events)
    return case


@transactional
def withdraw_case(actor: User, case_no: str, reason: str) -> Case:
    """Withdraw an open case at the applicant's request (or a faulted one, by an admin)."""
    require_role(actor, "clerk", "admin")
    case = require_case(actor, case_no, "window").case
    if not actor.has_role("clerk") and not status.is_faulted(case):
        raise Forbidden(_("an administrator withdraws only a case stopped in the fault state"))
    if not status.may_withdraw(case):
        raise Conflict(
            _(
                "case %(case_no)s is %(status)s and cannot be withdrawn",
                case_no=case_no,
                status=status_name(case.status),
            )
        )
    if not (reason or "").strip():
        raise InvalidInput(_("a withdrawal needs the applicant's reason"))
    db = session()
    events = store.events_for(case, actor)
    for task_id, kind in store.cancel_open_tasks(db, case.id, events.at):
        if kind is None:  # a stage of the workflow: the re-execution cancels it too
            events.add("task_cancelled", {"reason": "case withdrawn"}, task_id)
        else:  # an opinion asked or a signer added: no stage, closed with the case
            events.add("task_closed", {"reason": "case withdrawn", "kind": kind}, task_id)
    timers.close_all(db, case.id)
    if status.is_faulted(case):
        faults.release(db, case.id, events.at)
    events.add("case_withdrawn", {"reason": reason.strip()})
    values = {"status": CaseStatus.WITHDRAWN, "closed_at": events.at}
    store.save_case(db, case, values, events)
    store.forget_live(case.id)
    return case


@transactional
def close_case(actor: User, case_no: str, delivery: Delivery) -> Case:
    """Close a decided case once its result has been delivered (办结送达): the event
    `case_closed` records how, to whom and (by post) the tracking number."""
    require_role(actor, "clerk")
    case = require_case(actor, case_no, "window").case
    if not status.may_close(case):
        raise Conflict(_("Case %(no)s is not decided: only a decided case is closed and handed "
                         "over.", no=case_no))  # fmt: skip
    data = delivery.checked()
    events = store.events_for(case, actor)
    events.add("case_closed", data)
    store.save_case(session(), case, {"status": CaseStatus.CLOSED, "closed_at": events.at}, events)
    return case
