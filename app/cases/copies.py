"""抄送: a case sent to officials for information (issue 23).

The official who holds an open task of a case sends it, with a reason, to colleagues (staff
who work cases: officials and leaders); a diagram does the same when a user task with the
property `cc` (post codes, comma-separated) is completed: the case goes to whoever holds
each of those posts then (A, or B standing in). A copy lets its recipient read the case,
nothing more: every other purpose is checked as before. Opening the case marks the copy
read. Each sending is a `case_copied` event on the case's chain (the engine ignores it).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ..db import session, transactional, utcnow
from ..errors import Forbidden, InvalidInput
from ..org.models import User
from .access import require_case
from .models import Case, CaseCopy, Task
from .status import TaskState
from .store import CaseLog

MAX_RECIPIENTS = 20
READERS = ("official", "leader")  # who may receive a copy (others read every case or none)


def has_copy(user_id: int, case_id: int) -> bool:
    """Whether the case was copied to the user."""
    return session().scalar(sa.select(sa.exists().where(
        CaseCopy.case_id == case_id, CaseCopy.user_id == user_id))) or False  # fmt: skip


def copied_to(user_id: int) -> sa.ColumnElement[bool]:
    """The cases copied to the user, as a condition on `Case` (for lists)."""
    return sa.exists().where(CaseCopy.case_id == Case.id, CaseCopy.user_id == user_id)


def _recipients(db: Session, usernames: list[str], sender: User) -> list[User]:
    wanted = list(dict.fromkeys(u.strip() for u in usernames if u and u.strip()))
    if not wanted:
        raise InvalidInput(_("name at least one person to send the case to"))
    if len(wanted) > MAX_RECIPIENTS:
        raise InvalidInput(_("at most %(n)d people at a time", n=MAX_RECIPIENTS))
    found = {u.username: u for u in db.scalars(sa.select(User).where(User.username.in_(wanted)))}
    for name in wanted:
        user = found.get(name)
        if user is None or not user.active or not user.has_role(*READERS):
            raise InvalidInput(_("%(name)s is not an official who can receive a case",
                                 name=name))  # fmt: skip
        if user.id == sender.id:
            raise InvalidInput(_("you cannot send a case to yourself"))
    return [found[name] for name in wanted]


@transactional
def send_copies(actor: User, case_no: str, usernames: list[str], reason: str) -> list[CaseCopy]:
    """Send a case for information, by the holder of one of its open tasks."""
    checked = require_case(actor, case_no)
    db, case = session(), checked.case
    held = db.scalars(sa.select(Task.spec_id).where(
        Task.case_id == case.id, Task.state == TaskState.OPEN,
        sa.or_(Task.assignee_id == actor.id, Task.acting_for_id == actor.id))).first()  # fmt: skip
    if held is None:
        raise Forbidden(_("only the holder of one of the case's open tasks sends it on"))
    if not reason.strip():
        raise InvalidInput(_("say why you send the case"))
    people = _recipients(db, usernames, actor)
    at = utcnow()
    log = CaseLog(db, case.id, at, actor)
    copies = [CaseCopy(case_id=case.id, user_id=u.id, sent_by_id=actor.id, spec_id=held,
                       reason=reason.strip()[:2000], sent_at=at) for u in people]  # fmt: skip
    db.add_all(copies)
    log.add("case_copied", {"recipients": [u.id for u in people], "reason": reason.strip()[:2000],
                            "spec": held})  # fmt: skip
    log.close()
    return copies


def copy_rows(case_id: int, user_ids: list[int], spec_id: str, reason: str,
              at: dt.datetime) -> list[dict]:  # fmt: skip
    """The rows of a copy the diagram sends (written with its step)."""
    return [{"case_id": case_id, "user_id": uid, "sent_by_id": None, "spec_id": spec_id,
             "reason": reason, "sent_at": at, "read_at": None} for uid in user_ids]  # fmt: skip


def mark_read(actor: User, case_id: int) -> None:
    """Mark the user's copies of a case read (they have opened it); a reader who could not
    receive one, or has none unread, costs no write."""
    if not actor.has_role(*READERS):
        return
    db = session()
    unread = sa.exists().where(CaseCopy.case_id == case_id, CaseCopy.user_id == actor.id,
                               CaseCopy.read_at.is_(None))  # fmt: skip
    if not db.scalar(sa.select(unread)):
        return
    done = db.execute(sa.update(CaseCopy).where(
        CaseCopy.case_id == case_id, CaseCopy.user_id == actor.id, CaseCopy.read_at.is_(None))
        .values(read_at=utcnow()).execution_options(synchronize_session=False))  # fmt: skip
    if done.rowcount:
        db.commit()


def my_copies(actor: User, limit: int = 100) -> list[tuple[CaseCopy, str, str]]:
    """The copies sent to the user, unread first, newest first: (copy, case no, item name)."""
    from ..catalogue.models import Item

    rows = session().execute(
        sa.select(CaseCopy, Case.case_no, Item.name).join(Case, Case.id == CaseCopy.case_id)
        .join(Item, Item.id == Case.item_id).where(CaseCopy.user_id == actor.id)
        .order_by(CaseCopy.read_at.is_not(None), CaseCopy.sent_at.desc()).limit(limit)
    ).all()  # fmt: skip
    return [tuple(r) for r in rows]


def copies_of(case_id: int) -> list[CaseCopy]:
    """A case's copies, in the order sent (the case page lists who it was sent to)."""
    return list(session().scalars(sa.select(CaseCopy).where(CaseCopy.case_id == case_id)
                                  .order_by(CaseCopy.sent_at, CaseCopy.id)))  # fmt: skip


def colleagues(actor: User) -> list[User]:
    """The people a case can be sent to, by name (the form's choices)."""
    users = session().scalars(sa.select(User).where(User.active.is_(True), User.id != actor.id)
                              .order_by(User.name))  # fmt: skip
    return [u for u in users if u.has_role(*READERS)]
