"""委派: a task's holder hands the work to a colleague, who fills in the task's form and hands
it back; the holder still decides and signs (issue 23).

While a task is delegated (`tasks.delegated_to_id`) its holder cannot complete it: they wait
for it to come back, or take it back. The delegate reads the case (nothing more) and works
on their own page; what they hand back — the form's values and a comment — fills the
holder's form, which the holder may change before deciding. Each step is an event on the
case's chain (`task_delegated`, `task_handed_back`, `task_taken_back`); the engine does not
move, so the re-execution passes them by.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..org.models import User
from . import status
from .access import Purpose, require_case, require_task
from .intake import check_form
from .models import Case, Task, TaskDelegation
from .queries import CaseDetail, case_detail
from .store import CaseLog
from .taskwork import task_fields

DELEGATES = ("official", "leader")


def _held(actor: User, task_id: uuid.UUID):
    checked = require_task(actor, task_id, Purpose.VIEW)
    task = checked.task
    if not status.is_task_open(task):
        raise Conflict(_("the task is no longer open"))
    if task.assignee_id != actor.id:
        raise Forbidden(_("only the task's holder delegates it or takes it back"))
    return checked


@transactional
def delegate(actor: User, task_id: uuid.UUID, username: str, reason: str) -> TaskDelegation:
    """Hand the task's work to a colleague (one at a time), with a reason."""
    checked = _held(actor, task_id)
    db, task = session(), checked.task
    if task.delegated_to_id is not None:
        raise Conflict(_("the task is delegated already: take it back first"))
    if not reason.strip():
        raise InvalidInput(_("say why you delegate the task"))
    to = db.scalars(sa.select(User).where(User.username == (username or "").strip())).first()
    if to is None or not to.active or not to.has_role(*DELEGATES) or to.id == actor.id:
        raise InvalidInput(_("%(name)s is not a colleague who can take the work",
                             name=username or "—"))  # fmt: skip
    at = utcnow()
    log = CaseLog(db, task.case_id, at, actor)
    row = TaskDelegation(task_id=task.id, case_id=task.case_id, holder_id=actor.id,
                         delegate_id=to.id, reason=reason.strip()[:2000],
                         delegated_at=at)  # fmt: skip
    db.add(row)
    _mark(task.id, to.id, None)
    log.add("task_delegated", {"to": to.id, "reason": row.reason}, task.id)
    log.close()
    return row


def _mark(task_id: uuid.UUID, to: int | None, was: int | None) -> None:
    """Set the task's delegate, if it still has the one expected (a lost race: stale)."""
    done = session().execute(
        sa.update(Task).where(Task.id == task_id, Task.state == "open",
                              Task.delegated_to_id.is_(None) if was is None
                              else Task.delegated_to_id == was)
        .values(delegated_to_id=to).execution_options(synchronize_session=False)
    )  # fmt: skip
    if done.rowcount != 1:
        raise Conflict(_("the task changed meanwhile; look again"))


def _open_delegation(task_id: uuid.UUID) -> TaskDelegation | None:
    return session().scalars(sa.select(TaskDelegation).where(
        TaskDelegation.task_id == task_id, TaskDelegation.ended_at.is_(None))).first()  # fmt: skip


@transactional
def take_back(actor: User, task_id: uuid.UUID) -> TaskDelegation:
    """The holder takes a delegated task back before it was handed back."""
    checked = _held(actor, task_id)
    row = _open_delegation(checked.task.id)
    if row is None:
        raise Conflict(_("the task is not delegated"))
    db, at = session(), utcnow()
    log = CaseLog(db, checked.task.case_id, at, actor)
    row.ended_at = at
    _mark(checked.task.id, None, row.delegate_id)
    log.add("task_taken_back", {"from": row.delegate_id}, checked.task.id)
    log.close()
    return row


@dataclass(frozen=True)
class DelegatedWork:
    """What the delegate's page shows: the delegation, the task, its case and form."""

    delegation: TaskDelegation
    task: Task
    detail: CaseDetail
    fields: list[dict]
    holder: str


def _mine(actor: User, delegation_id: int) -> tuple[TaskDelegation, Task, Case]:
    db = session()
    found = db.execute(sa.select(TaskDelegation, Task, Case)
                       .join(Task, Task.id == TaskDelegation.task_id)
                       .join(Case, Case.id == TaskDelegation.case_id)
                       .where(TaskDelegation.id == delegation_id)).first()  # fmt: skip
    if found is None or found[0].delegate_id != actor.id:
        raise NotFound(_("no delegated work %(n)s for you", n=delegation_id))
    return tuple(found)


def delegated_work(actor: User, delegation_id: int) -> DelegatedWork:
    """The delegate's page: the work handed to them (theirs alone)."""
    row, task, case = _mine(actor, delegation_id)
    detail = case_detail(require_case(actor, case.case_no))
    holder = session().get(User, row.holder_id)
    return DelegatedWork(row, task, detail, task_fields(session(), case.diagram_version_id,
                                                        task.spec_id), holder.name)  # fmt: skip


@transactional
def hand_back(actor: User, delegation_id: int, data: dict, comment: str) -> TaskDelegation:
    """The delegate hands the work back: the form's values (checked as the form says) and a
    comment for the holder."""
    row, task, case = _mine(actor, delegation_id)
    if row.ended_at is not None:
        raise Conflict(_("this work was handed back or taken back already"))
    fields = task_fields(session(), case.diagram_version_id, task.spec_id)
    optional = [{**f, "required": False} for f in fields]  # the holder completes the rest
    clean = check_form(optional, dict(data or {}), "task form")
    db, at = session(), utcnow()
    log = CaseLog(db, case.id, at, actor)
    row.ended_at, row.handed_back = at, True
    row.data, row.comment = clean, (comment or "").strip()[:4000]
    _mark(task.id, None, actor.id)
    log.add("task_handed_back", {"comment": row.comment, "fields": sorted(clean)}, task.id)
    log.close()
    return row


def my_delegations(actor: User) -> list[tuple[TaskDelegation, Task, str]]:
    """The work delegated to the user and not yet handed back: (delegation, task, case no)."""
    rows = session().execute(
        sa.select(TaskDelegation, Task, Case.case_no).join(Task, Task.id == TaskDelegation.task_id)
        .join(Case, Case.id == TaskDelegation.case_id)
        .where(TaskDelegation.delegate_id == actor.id, TaskDelegation.ended_at.is_(None))
        .order_by(TaskDelegation.delegated_at)
    ).all()  # fmt: skip
    return [tuple(r) for r in rows]


def latest_of(task_id: uuid.UUID) -> TaskDelegation | None:
    """The task's latest delegation (the holder's page shows what came back)."""
    return session().scalars(sa.select(TaskDelegation).where(TaskDelegation.task_id == task_id)
                             .order_by(TaskDelegation.id.desc())).first()  # fmt: skip
