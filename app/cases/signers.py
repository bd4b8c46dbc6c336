"""加签 and 减签: the holder of a task adds a signer before their own decision (the legal
section's opinion, a colleague's check) or removes one who has not yet acted (issue 23).

An added signer's task is no stage of the diagram (`tasks.kind = "added"`, `added_for` the
holder's task, no post): it is assigned to the person named (B standing in when they are
away; no A/B move touches it afterwards),
timed by `ADDED_DAYS` working days, and worked like any task, with an opinion (approve or
reject, a comment). The holder's task waits for it (`waits_for`): its holder cannot decide
until the signer has given their opinion, or the holder removes the signer (减签, with a
reason). The opinion is the holder's to read; the workflow never moves for it, so the
re-execution passes the events (`signer_added`, `signer_signed`, `signer_removed`) by.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

from ..calendar.services import calendar
from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, InvalidInput
from ..org.models import Post, User
from ..org.reasons import Barrier, encode
from ..org.services import signer_staff, staffing
from . import deadlines, status
from .access import Purpose, require_task
from .models import Case, Task
from .planner import Outcome
from .status import TaskState
from .store import CaseLog

ADDED = "added"
ADDED_DAYS = 2  # working days an added signer has


def _hold(task_id: uuid.UUID, waits_for: uuid.UUID | None, was: uuid.UUID | None) -> None:
    done = session().execute(
        sa.update(Task).where(Task.id == task_id, Task.state == TaskState.OPEN,
                              Task.waits_for.is_(None) if was is None else Task.waits_for == was)
        .values(waits_for=waits_for).execution_options(synchronize_session=False))  # fmt: skip
    if done.rowcount != 1:
        raise Conflict(_("the task changed meanwhile; look again"))


@dataclass(frozen=True)
class After:
    """加签 after: whom the holder asks to sign after their decision (`to`, a username, or
    `post`, a post's code) and why."""

    to: str = ""
    post: str = ""
    reason: str = ""


@transactional
def add_signer(actor: User, task_id: uuid.UUID, to: str, reason: str, post: str = "") -> Task:
    """加签 before: the holder asks a colleague (`to`, a username) or a post (`post`, its
    code, such as the legal section's 法制审核岗: its A, B standing in) to sign before they
    decide."""
    return _add(actor, task_id, to, reason, post)


def add_after(actor: User, task_id: uuid.UUID, after: After, decision: dict) -> Task:
    """加签 after: the holder has decided (`decision`: outcome, comment, form, legal basis,
    all checked by `complete_task`, inside whose transaction this runs) and asks a signer to
    sign after them. The decision waits with the signer's task: it goes through, as the
    holder's, when the signer approves; a signer's rejection (or the holder removing the
    signer) gives the task back to the holder to decide again."""
    return _add(actor, task_id, after.to, after.reason, after.post, decision)


def _add(actor: User, task_id: uuid.UUID, to: str, reason: str, post: str,
         decision: dict | None = None) -> Task:  # fmt: skip
    checked = require_task(actor, task_id, Purpose.VIEW)
    task, db = checked.task, session()
    if not status.may_complete(task, actor.id) or task.kind is not None:
        raise Forbidden(_("only the holder of an open stage adds a signer to it"))
    if task.waits_for is not None or task.delegated_to_id is not None:
        raise Conflict(_("the task waits for someone already"))
    if not reason.strip():
        raise InvalidInput(_("say why you add a signer"))
    at, to, code = utcnow(), (to or "").strip(), (post or "").strip()
    post = db.scalars(sa.select(Post).where(Post.code == code)).first() if code else None
    if code and post is None:
        raise InvalidInput(_("no post %(code)s", code=code))
    if post is not None:
        chosen = staffing(db, {post.code}, at).holder(post.code, {actor.id: Barrier("signing")})
        why = {**chosen.reason, "by": actor.id}
        event = {"post": post.id}
    else:
        chosen, why, event = _person(db, checked, actor, to, at)
    added = Task(id=uuid.uuid4(), case_id=task.case_id, spec_id=f"{task.spec_id}+signer",
                 name=task.name, stage=task.stage,
                 lane=task.lane, post_id=post.id if post else None,
                 assignee_id=chosen.assignee_id,
                 acting_for_id=chosen.acting_for_id, assignment_reason=encode(why),
                 state=TaskState.OPEN, is_decision=False, outcomes="approve,reject",
                 created_at=at, kind=ADDED, added_for=task.id,
                 data={"after": {**decision, "by": actor.id}} if decision else None,
                 **deadlines.task_due_values(calendar(), at, (float(ADDED_DAYS), "d")))  # fmt: skip
    log = CaseLog(db, task.case_id, at, actor)
    db.add(added)
    db.flush()
    _hold(task.id, added.id, None)
    if decision:  # 加签 after: the decision that waits for the signer
        event["after"] = decision["outcome"]
    log.add("signer_added", {**event, "assignee_id": chosen.assignee_id,
                             "reason": reason.strip()[:2000], "added": str(added.id)},
            task.id)  # fmt: skip
    log.close()
    return added


def _person(db, checked, actor: User, username: str, at):
    """The colleague named to sign: who signs (they, or their B when they are away), the
    stored reason, and what the event says."""
    person = db.scalars(sa.select(User).where(User.username == username)).first()
    if person is None or not person.active or not person.has_role("official", "leader") \
            or person.id == actor.id:  # fmt: skip
        raise InvalidInput(_("%(name)s is not a colleague who can sign", name=username or "—"))
    staff = staffing(db, {checked.post.code} if checked.post else set(), at)
    signer_staff(db, staff, {person.username}, at)
    chosen = staff.signer(person.username, checked.post.code if checked.post else None, {})
    why = {"reason": "added" if chosen.acting_for_id is None else "added_b", "by": actor.id,
           "signer": person.id}  # fmt: skip
    if chosen.assignee_id is None:
        why = chosen.reason
    return chosen, why, {"to": person.id}


@transactional
def remove_signer(actor: User, added_id: uuid.UUID, reason: str) -> Task:
    """减签: the holder removes the signer they added, before the signer acted."""
    db = session()
    added = db.get(Task, added_id)
    if added is None or added.kind != ADDED:
        raise Forbidden(_("only an added signer can be removed"))
    holder = db.get(Task, added.added_for)
    if holder is None or holder.assignee_id != actor.id:
        raise Forbidden(_("only the holder who added the signer removes them"))
    if added.state != TaskState.OPEN:
        raise Conflict(_("the signer has given their opinion already"))
    if not reason.strip():
        raise InvalidInput(_("say why you remove the signer"))
    at = utcnow()
    log = CaseLog(db, added.case_id, at, actor)
    done = db.execute(sa.update(Task).where(Task.id == added.id, Task.state == TaskState.OPEN)
                      .values(state=TaskState.CANCELLED, completed_at=at)
                      .execution_options(synchronize_session=False))  # fmt: skip
    if done.rowcount != 1:
        raise Conflict(_("the signer has given their opinion already"))
    _hold(holder.id, None, added.id)
    log.add("signer_removed", {"reason": reason.strip()[:2000], "added": str(added.id)},
            holder.id)  # fmt: skip
    log.close()
    return added


def sign(actor: User, task, outcome: str, comment: str) -> Outcome:
    """The added signer gives their opinion: the holder's task may be decided again. (Runs
    inside `complete_task`'s transaction; `task` is checked open and theirs there.)"""
    if outcome == "reject" and not comment.strip():
        raise InvalidInput(_("a rejection needs a reason (comment)"))
    db, at = session(), utcnow()
    log = CaseLog(db, task.case_id, at, actor)
    done = db.execute(sa.update(Task).where(Task.id == task.id, Task.state == TaskState.OPEN)
                      .values(state=TaskState.COMPLETED, completed_at=at,
                              completed_by_id=actor.id, outcome=outcome,
                              comment=comment.strip() or None)
                      .execution_options(synchronize_session=False))  # fmt: skip
    if done.rowcount != 1:
        raise Conflict(_("the task changed meanwhile; look again"))
    _hold(task.added_for, None, task.id)
    log.add("signer_signed", {"outcome": outcome, "comment": comment.strip()[:2000]}, task.id)
    log.close()
    case_no = session().scalar(sa.select(Case.case_no).where(Case.id == task.case_id))
    for key, value in {"state": TaskState.COMPLETED, "completed_at": at,
                       "completed_by_id": actor.id, "outcome": outcome}.items():  # fmt: skip
        setattr(task, key, value)
    decided = (task.data or {}).get("after")
    if decided and outcome == "approve":  # 加签 after: the holder's decision goes through
        return _decide_after(task, decided, case_no)
    return Outcome(task, [], case_no)


def _decide_after(task, decided: dict, case_no: str) -> Outcome:
    """Complete the holder's task with the decision they made before the signer signed, as
    theirs (every rule checked again now: they still hold it, four-eyes, the form)."""
    from .taskwork import complete_task  # the step itself; it imports this module

    holder = session().get(User, decided["by"])
    done = complete_task.__wrapped__(holder, task.added_for, decided["outcome"],
                                     decided.get("comment", ""), decided.get("form") or {},
                                     decided.get("legal_basis", ""))  # fmt: skip
    return Outcome(task, done.opened, case_no)


def added_to(task_id: uuid.UUID) -> list[Task]:
    """The signers added to a task, oldest first (its page shows their opinions)."""
    return list(session().scalars(sa.select(Task).where(Task.added_for == task_id)
                                  .order_by(Task.created_at)))  # fmt: skip
