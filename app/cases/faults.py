"""The fault state (流程异常): a case whose workflow met something unexpected stops here.

A step the engine could not finish as its diagram says (an engine error, a step or time
limit, an end without a result, a finish with work left, a timer out of range) is rolled
back; the case is then stopped in the fault state in the same transaction, with a chained
``case_faulted`` event naming the reason, the element and the step that failed. Its timers
are held, a red card is raised, and supervision and the admins are told. A faulted case is
never decided, printed or published; an admin retries the failed step or withdraws the case.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from workflows.errors import WorkflowFault

from ..audit.services import EventBatch
from ..errors import Conflict
from ..org.models import User
from ..supervision.models import Notification, WarningCard
from .models import Timer


class CaseFaulted(Conflict):
    """The step stopped the case in the fault state: that is kept, and the caller is told.

    `keep_changes` tells the transaction to commit what the operation wrote (the fault
    event, the case row, the red card) before the error reaches the caller.
    """

    keep_changes = True

    def __init__(self, case_no: str, fault: WorkflowFault) -> None:
        where = _(" at %(element)s", element=fault.task_spec) if fault.task_spec else ""
        super().__init__(
            _(
                "the workflow of case %(case_no)s stopped%(where)s: %(message)s. Nothing was "
                "decided; the case is in the fault state and the administrators have been told",
                case_no=case_no,
                where=where,
                message=fault.message,
            ),
            code=fault.code,
            element=fault.task_spec,
        )
        self.case_no = case_no
        self.fault = fault


def fault_data(fault: WorkflowFault, step: dict, previous_status: str) -> dict:
    """Return the data of a case_faulted event: what failed, where, and the step to retry."""
    return {**fault.as_dict(), "step": step, "previous_status": previous_status}


def hold(
    db: Session,
    case_id: int,
    case_no: str,
    events: EventBatch,
    fault: WorkflowFault,
    step: dict,
    previous_status: str,
    failed_timer: uuid.UUID | None = None,
) -> None:
    """Log the fault in the case's chain, hold its timers, raise a red card, tell people.

    The caller writes the case row (status ``fault``, version-checked) and the batch.
    """
    events.add("case_faulted", fault_data(fault, step, previous_status))
    conn = db.connection()
    timers = Timer.__table__
    if failed_timer is not None:
        conn.execute(
            timers.update()
            .where(timers.c.id == failed_timer, timers.c.state == "waiting")
            .values(state="failed", failure=fault.message[:2000])
        )
    hold_timers(db, case_id)
    alert(db, case_id, case_no, events.seq, fault.as_dict(), events.at)


def hold_timers(db: Session, case_id: int) -> None:
    """Keep the scheduler off the timers of a faulted case until it is retried."""
    timers = Timer.__table__
    db.connection().execute(
        timers.update()
        .where(timers.c.case_id == case_id, timers.c.state == "waiting")
        .values(state="held")
    )


def alert(db: Session, case_id: int, case_no: str, seq: int, fault: dict, at: dt.datetime) -> None:
    """Store a red card for the fault logged at `seq`; notify supervision and the admins."""
    db.execute(
        sa.insert(WarningCard).values(
            subject=f"case:{case_id}:fault:{seq}", case_id=case_id, task_id=None, level="red",
            due_at=at, holder_id=None, post_id=None, issued_at=at,
        )
    )  # fmt: skip
    where = f" `{fault['element']}`" if fault.get("element") else ""  # an id: shown as code
    text = f"流程异常: {case_no}{where}: {fault['message']}"[:2000]
    people = db.scalars(
        sa.select(User.id).where(
            User.active.is_(True),
            sa.or_(User.roles.like("%supervisor%"), User.roles.like("%admin%")),
        )
    ).all()
    if people:
        db.execute(
            sa.insert(Notification),
            [{"user_id": uid, "kind": "fault", "text": text, "case_id": case_id,
              "task_id": None, "created_at": at} for uid in sorted(set(people))],
        )  # fmt: skip


def release(db: Session, case_id: int, at: dt.datetime) -> None:
    """After a successful retry or a withdrawal: timers wait again, the fault cards close."""
    timers = Timer.__table__
    db.connection().execute(
        timers.update()
        .where(timers.c.case_id == case_id, timers.c.state == "held")
        .values(state="waiting")
    )
    db.execute(
        sa.update(WarningCard)
        .where(
            WarningCard.case_id == case_id,
            WarningCard.subject.like(f"case:{case_id}:fault:%"),
            WarningCard.closed_at.is_(None),
        )
        .values(closed_at=at)
        .execution_options(synchronize_session=False)
    )
