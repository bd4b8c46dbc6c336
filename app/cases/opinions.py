"""征求意见: the holder of a stage asks another department's post for a written opinion, with
its own time limit, without moving the case (issue 23).

The request is a task no stage of the diagram made (`tasks.kind = "opinion"`, `added_for`
the asking task), of the asked post: its A gets it, B standing in, the leader after them,
as for any task, and the A/B moves follow it. Its due and warning times come from the limit
(working days), so the warning round gives it its yellow and red cards like any task. The
answer is a completion with the opinion as its comment: it is attached to the case (the
case page lists the opinions), not to the asking holder's decision, which never waits for
it. A case that is decided closes the requests still open. The events (`opinion_requested`,
`opinion_given`) are on the chain; the workflow never moves for them.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from flask_babel import gettext as _

from ..calendar.services import calendar
from ..db import session, transactional, utcnow
from ..errors import Forbidden, InvalidInput
from ..org.models import Post, User
from ..org.reasons import encode
from ..org.services import staffing
from . import deadlines, status
from .access import Purpose, require_task
from .models import Case, Task
from .planner import Outcome
from .status import TaskState
from .store import CaseLog

OPINION = "opinion"
DAYS = (1, 30)  # the time limit an opinion may be given, in working days
DEFAULT_DAYS = 5


@transactional
def ask(actor: User, task_id: uuid.UUID, post_code: str, question: str,
        days: int = DEFAULT_DAYS) -> Task:  # fmt: skip
    """Ask a post for a written opinion on the case of one's open stage."""
    checked = require_task(actor, task_id, Purpose.VIEW)
    task, db = checked.task, session()
    if not status.may_complete(task, actor.id) or task.kind is not None:
        raise Forbidden(_("only the holder of an open stage asks for an opinion"))
    if not question.strip():
        raise InvalidInput(_("say what you ask"))
    if not isinstance(days, int) or not DAYS[0] <= days <= DAYS[1]:
        raise InvalidInput(_("the time limit is %(low)d to %(high)d working days",
                             low=DAYS[0], high=DAYS[1]))  # fmt: skip
    post = db.scalars(sa.select(Post).where(Post.code == (post_code or "").strip())).first()
    if post is None:
        raise InvalidInput(_("there is no post %(code)s", code=post_code or "—"))
    at = utcnow()
    chosen = staffing(db, {post.code}, at).holder(post.code, {})
    row = Task(id=uuid.uuid4(), case_id=task.case_id, spec_id=f"{task.spec_id}+opinion",
               name=task.name, stage=OPINION, lane=None, post_id=post.id,
               assignee_id=chosen.assignee_id, acting_for_id=chosen.acting_for_id,
               assignment_reason=encode(chosen.reason), state=TaskState.OPEN,
               is_decision=False, outcomes="approve", created_at=at, kind=OPINION,
               added_for=task.id, data={"question": question.strip()[:4000], "days": days},
               **deadlines.task_due_values(calendar(), at, (float(days), "d")))  # fmt: skip
    log = CaseLog(db, task.case_id, at, actor)
    db.add(row)
    db.flush()
    log.add("opinion_requested", {"post": post.code, "question": question.strip()[:2000],
                                  "days": days, "assignee_id": chosen.assignee_id,
                                  "request": str(row.id)}, task.id)  # fmt: skip
    log.close()
    return row


def answer(actor: User, task, comment: str) -> Outcome:
    """Give the opinion (inside `complete_task`'s transaction, the task checked open and
    the actor's there): the comment is the opinion."""
    if not comment.strip():
        raise InvalidInput(_("write the opinion in the comment"))
    db, at = session(), utcnow()
    log = CaseLog(db, task.case_id, at, actor)
    db.execute(sa.update(Task).where(Task.id == task.id, Task.state == TaskState.OPEN)
               .values(state=TaskState.COMPLETED, completed_at=at, completed_by_id=actor.id,
                       outcome="approve", comment=comment.strip())
               .execution_options(synchronize_session=False))  # fmt: skip
    log.add("opinion_given", {"opinion": comment.strip()[:2000]}, task.id)
    log.close()
    for key, value in {"state": TaskState.COMPLETED, "completed_at": at,
                       "completed_by_id": actor.id, "outcome": "approve"}.items():  # fmt: skip
        setattr(task, key, value)
    case_no = db.scalar(sa.select(Case.case_no).where(Case.id == task.case_id))
    return Outcome(task, [], case_no)


def of_case(case_id: int) -> list[Task]:
    """A case's opinion requests, in the order asked."""
    return list(session().scalars(sa.select(Task).where(Task.case_id == case_id,
                                                        Task.kind == OPINION)
                                  .order_by(Task.created_at)))  # fmt: skip


def posts_to_ask() -> list[Post]:
    """The posts an opinion can be asked of (the form's choices)."""
    return list(session().scalars(sa.select(Post).order_by(Post.code)))
