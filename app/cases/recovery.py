"""Faulted cases: run again the step that stopped them (an administrator's retry), and the
timers the scheduler fires or gives up on. Each operation is one transaction.
"""

from __future__ import annotations

import functools
import uuid

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from workflows.errors import WorkflowFault

from ..audit.models import Event
from ..db import session, transactional
from ..errors import Conflict
from ..labels import status_name
from ..org.models import User
from . import faults, status, steps, store
from .access import Purpose, require_case
from .lifecycle import accept, alert_if_faulted
from .models import Case, Task, Timer
from .queries import item_and_newest_version
from .runtime import runtime
from .status import CaseStatus
from .store import HEAD_COLUMNS, Head


@transactional
def retry_case(actor: User, case_no: str) -> Case:
    """Run again the step that stopped a case in the fault state (an administrator's action).

    A start is retried on the item's newest version (the fixed diagram, if one was deployed):
    nothing of the workflow exists yet. A completion or a timer is retried on the version the
    case runs on, as recorded: the official's outcome, comment and form data, or the timer.
    If the step faults again the case stays stopped, with the new fault logged.
    """
    checked = require_case(actor, case_no, Purpose.RETRY)
    db, case = session(), checked.case
    if not status.may_retry(case):
        raise Conflict(
            _(
                "case %(case_no)s is %(status)s; only a faulted case is retried",
                case_no=case_no,
                status=status_name(case.status),
            )
        )
    fault = db.scalars(
        sa.select(Event)
        .where(Event.case_id == case.id, Event.type == "case_faulted")
        .order_by(Event.seq.desc())
        .limit(1)
    ).one()
    step, previous = fault.data.get("step") or {}, fault.data.get("previous_status")
    if step.get("kind") == "start":
        return _retry_start(db, actor, checked, fault.seq)
    head = Head.of(case, case.id).but(status=previous or CaseStatus.IN_PROGRESS)
    events = store.events_for(head, actor)
    events.add("case_retried", {"fault_seq": fault.seq, "step": step})
    faults.release(db, case.id, events.at)
    if step.get("kind") == "timer":
        outcome = _retry_timer(db, head, uuid.UUID(step["timer_id"]), events)
    elif step.get("kind") == "complete":
        outcome = _retry_completion(db, head, step, events)
    else:
        raise Conflict(
            _(
                "the failed step of case %(case_no)s cannot be retried (%(step)s)",
                case_no=case_no,
                step=repr(step),
            )
        )
    if isinstance(outcome, faults.CaseFaulted):
        raise outcome
    db.expire(case)  # the step wrote its row: read it again
    return case


def _fault_of(rows: list[dict]) -> WorkflowFault:
    data = next(r for r in reversed(rows) if r["type"] == "case_faulted")["data"]
    return WorkflowFault(data["message"], data.get("element"), code=data["code"])


def _retry_start(db: Session, actor: User, checked, fault_seq: int) -> Case:
    case, item = checked.case, checked.item
    with db.no_autoflush:
        version_id = item_and_newest_version(db, item.code)[1]
        clerk = db.get(User, case.received_by_id) if case.received_by_id else actor
        events = store.events_for(case, actor)
        events.add("case_retried", {"fault_seq": fault_seq, "step": {"kind": "start"}})
        faults.release(db, case.id, events.at)
        rows, run = accept(db, case, item, version_id, case.form, clerk or actor, events)
        case.event_seq, case.last_hash = events.seq, events.last_hash
        store.save_case(db, case)  # its events are written after its new tasks
    store.write_started(db, case, rows, events, run)
    alert_if_faulted(db, case, events)
    if status.is_faulted(case):
        raise faults.CaseFaulted(case.case_no, _fault_of(events.rows))
    return case


def _retry_timer(db: Session, head: Head, timer_id: uuid.UUID, events) -> faults.CaseFaulted | None:
    db.execute(
        sa.update(Timer)
        .where(Timer.id == timer_id, Timer.state.in_(("failed", "held")))
        .values(state="waiting", failure=None)
        .execution_options(synchronize_session=False)
    )
    mark = events.mark()
    if not steps.fire(db, head, timer_id, events):  # not due yet: the case simply waits again
        store.save_case(db, head, {"status": head.status}, events)
        return None
    if events.rows[mark[2] :] and events.rows[-1]["type"] == "case_faulted":
        return faults.CaseFaulted(head.case_no, _fault_of(events.rows))
    return None


def _retry_completion(db: Session, head: Head, step: dict, events):
    task = db.get(Task, uuid.UUID(step["task_id"]))
    if task is None or not status.is_task_open(task):
        raise Conflict(_("the task whose completion failed is no longer open"))
    official = db.get(User, step.get("actor_id")) if step.get("actor_id") else None
    if official is None:
        raise Conflict(_("the official whose completion failed is no longer known"))
    db.expunge(task)
    diagram = runtime().diagram(db, head.diagram_version_id)
    outcome, comment = step.get("outcome", "approve"), step.get("comment") or ""
    completion = steps.Completion(task, official.id, outcome, comment, dict(step.get("data") or {}))
    return steps.complete(db, head, diagram, completion, events)


# --- timers, as the scheduler runs them --------------------------------------------------------


def _timer_head(db: Session, timer_id: uuid.UUID, *columns, lock: bool = False):
    locking = lock and db.get_bind().dialect.name == "postgresql"
    row = db.connection().execute(_timer_head_query(columns, locking), {"timer_id": timer_id})
    row = row.first()
    return (row, Head.of(row, row.case_id)) if row is not None else (None, None)


@functools.cache
def _timer_head_query(columns: tuple, lock: bool) -> sa.Select:
    """A waiting timer with its case's head, built once (each firing reads it)."""
    query = (
        sa.select(Timer.case_id, *columns, *HEAD_COLUMNS)
        .join(Case, Case.id == Timer.case_id)
        .where(Timer.id == sa.bindparam("timer_id"), Timer.state == "waiting")
    )
    return query.with_for_update(of=Timer, skip_locked=True) if lock else query


@transactional
def fire_timer(timer_id: uuid.UUID) -> bool:
    """Fire one due timer of a case if it is still waiting; return whether it fired."""
    db = session()
    row, head = _timer_head(db, timer_id, lock=True)
    if row is None:
        return False  # fired, closed or claimed by another process meanwhile
    if status.is_faulted(head):
        faults.hold_timers(db, head.id)  # they wait again when the case is retried
        return False
    return steps.fire(db, head, timer_id, store.events_for(head, None))


@transactional
def fail_timer(timer_id: uuid.UUID, reason: str) -> bool:
    """Stop the case of a timer that could not be fired at all; return whether it was waiting.

    The scheduler calls this when firing raised something unexpected, so that no scheduler
    tries the same timer again and again: the timer is marked failed, the case faults.
    """
    db = session()
    row, head = _timer_head(db, timer_id, Timer.node_id)
    if row is None:
        return False
    if status.is_faulted(head):
        faults.hold_timers(db, head.id)
        return True
    fault = WorkflowFault(
        _(
            "the timer could not be fired: %(reason)s",
            reason=reason,
        ),
        row.node_id,
        code="timer",
    )
    step = {"kind": "timer", "timer_id": str(timer_id)}
    steps.stop(db, head, store.events_for(head, None), fault, step, failed_timer=timer_id)
    return True
