"""撤回: the official who completed a step takes it back while the next holders have not yet
opened what it gave them (issue 23).

Refused, with the reason, when: it was not the actor who completed it; the case has been
decided or stopped; anything of the workflow moved after it (another completion, a timer);
a task it opened has been opened by its holder (seen, or started); the step's stage waits
for a timer (its due time would have to be given back). Otherwise, in one transaction: the
workflow is brought back to where it stood before the completion (re-executed from the
case's events up to it: the events are the truth), the completed task is open again for
the actor, with its arrival and due date, the tasks the step opened are cancelled, the
timers it started are closed, four-eyes is as it was, and a `task_recalled` event with the
reason is on the chain (the replay goes back the same way).
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask_babel import gettext as _

from workflows.rebuild import resume

from ..audit.models import Event
from ..audit.review import event_dict
from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, InvalidInput
from ..org.models import User
from . import rebuild, status, store
from .access import Purpose, require_task
from .models import Case, Task, Timer
from .runtime import runtime
from .status import TaskState

ENGINE_MOVES = ("case_accepted", "task_completed", "timer_fired", "case_migrated",
                "task_recalled")  # fmt: skip


def _completion(db, case_id: int, task_id: uuid.UUID) -> tuple[Event, list[Event]]:
    """The completion event of the task and every event after it."""
    done = db.scalars(sa.select(Event).where(
        Event.case_id == case_id, Event.type == "task_completed", Event.task_id == task_id)
        .order_by(Event.seq.desc())).first()  # fmt: skip
    if done is None:
        raise Conflict(_("the task's completion is not in the case's log"))
    after = list(db.scalars(sa.select(Event).where(Event.case_id == case_id,
                                                   Event.seq > done.seq).order_by(Event.seq)))
    return done, after


def _refusal(after: list[Event], opened: list[Task]) -> str | None:
    if any(e.type in ENGINE_MOVES for e in after):
        return _("the case has moved on since (another step came after yours)")
    seen = [t for t in opened if t.started_at is not None or t.state != TaskState.OPEN]
    if seen:
        return _("%(task)s has been opened by its holder already", task=seen[0].name)
    return None


@transactional
def recall(actor: User, task_id: uuid.UUID, reason: str) -> Task:
    """Take back one's own last completion of a case (see the module)."""
    checked = require_task(actor, task_id, Purpose.VIEW)
    db, task = session(), checked.task
    if task.state != TaskState.COMPLETED or task.completed_by_id != actor.id:
        raise Forbidden(_("only the one who completed a step recalls it"))
    if not reason.strip():
        raise InvalidInput(_("say why you recall the step"))
    case = db.get(Case, task.case_id)
    if not status.is_working(case):
        raise Conflict(_("the case is %(status)s: nothing can be recalled",
                         status=case.status))  # fmt: skip
    done, after = _completion(db, case.id, task.id)
    created = {e.task_id for e in after if e.type == "task_created"}
    opened = list(db.scalars(sa.select(Task).where(Task.id.in_(created)))) if created else []
    refused = _refusal(after, opened)
    if refused:
        raise Conflict(_("the step cannot be recalled: %(why)s", why=refused))
    head = store.Head.of(case, case.id)
    events = [event_dict(e) for e in db.scalars(sa.select(Event).where(
        Event.case_id == case.id, Event.seq < done.seq).order_by(Event.seq))]  # fmt: skip
    diagram = runtime().diagram(db, case.diagram_version_id)
    try:
        run = resume(diagram, events, diagrams=rebuild.versions(db)).run
    except Exception:  # noqa: BLE001 - a log that does not re-execute: never guess
        raise Conflict(_("the step cannot be recalled: the case's log does not re-execute to "
                         "before it")) from None  # fmt: skip
    if diagram.has_timers and run.waiting_timers():
        raise Conflict(_("the step cannot be recalled: its stage waits for a timer"))
    others = {t.id for t in _open_after(db, case.id, created)}
    if {t.id for t in run.ready_tasks()} != others | {task.id}:
        raise Conflict(_("the step cannot be recalled: the workflow before it is not what the "
                         "case's tasks say"))  # fmt: skip
    run.engine = runtime().engine
    _write(db, actor, head, task, run, done.seq, sorted(created, key=str), reason.strip())
    return task


def _open_after(db, case_id: int, created: set) -> list[Task]:
    """The case's open tasks but the ones the recalled step opened."""
    rows = db.scalars(sa.select(Task).where(Task.case_id == case_id, Task.kind.is_(None),
                                            Task.state == TaskState.OPEN))  # fmt: skip
    return [t for t in rows if t.id not in created]


# the writes of one recall: the case row (version-checked, the chain's head, four-eyes as
# before the step, a fresh snapshot of the workflow brought back), then the task and timer rows
def _write(db, actor: User, head, task, run, seq: int, created: list, reason: str) -> None:
    at = utcnow()
    events = store.events_for(head, actor, at)
    events.add("task_recalled", {"seq": seq, "reason": reason[:2000],
                                 "cancelled": [str(t) for t in created]}, task.id)  # fmt: skip
    decider = db.execute(sa.select(Task.completed_by_id, Task.spec_id).where(
        Task.case_id == head.id, Task.state == TaskState.COMPLETED, Task.is_decision.is_(True),
        Task.id != task.id).order_by(Task.completed_at.desc())).first()  # fmt: skip
    values = {"last_decider_id": decider[0] if decider else None,
              "last_decision_spec": decider[1] if decider else None,
              **rebuild.snapshot(run, events.seq)}  # fmt: skip
    store.save_case(db, head, values, events)
    db.execute(sa.update(Task).where(Task.id == task.id).values(
        state=TaskState.OPEN, completed_at=None, completed_by_id=None, outcome=None,
        comment=None, data=None).execution_options(synchronize_session=False))  # fmt: skip
    if created:
        db.execute(sa.update(Task).where(Task.id.in_(created)).values(
            state=TaskState.CANCELLED, completed_at=at)
            .execution_options(synchronize_session=False))  # fmt: skip
    db.execute(sa.update(Timer).where(Timer.case_id == head.id, Timer.state == "waiting")
               .values(state="done").execution_options(synchronize_session=False))  # fmt: skip
    store.forget_live(head.id)
    store.keep_live(head.id, head.version + 1, run, events.seq)
