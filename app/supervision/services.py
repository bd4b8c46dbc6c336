"""Yellow and red cards, urging notices (督办), notifications, the transfer card.

A yellow card comes when a task or case reaches its warning time (one working day before
its due time unless the item says otherwise), a red card when it is overdue; a task over
its own stage limit gets a red card even if its case is on time. Each card is a row that
exists once per subject and level (a unique constraint), so however many schedulers scan
at the same moment, the card is issued, logged and sent exactly once. Cards close when the
task or case is done. Paused cases get no cards, nor do reported ones (上报件 reported to the
upper authority, whose limit the centre does not keep: app.cases.reported); a reported
case's cards close.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects.postgresql import ARRAY

from ..cases.access import require_case
from ..cases.models import OPEN_CASE_STATUSES, Case, Task
from ..cases.status import TaskState
from ..cases.store import CaseLog
from ..catalogue.models import Item
from ..clock import local
from ..db import insert_once, session, transactional, utcnow
from ..errors import Forbidden, InvalidInput
from ..org.models import Post, User
from .models import Notification, WarningCard


@dataclass(frozen=True)
class Candidate:
    """A task or case that has reached a warning threshold and has no card of that level."""

    subject: str
    case_id: int
    task_id: uuid.UUID | None
    level: str
    due_at: dt.datetime
    holder_id: int | None
    post_id: int | None
    name: str


def _no_task_card(level: str):
    return ~sa.exists().where(WarningCard.task_id == Task.id, WarningCard.level == level)


def _no_case_card(level: str):
    return ~sa.exists().where(
        WarningCard.case_id == Case.id, WarningCard.task_id.is_(None), WarningCard.level == level
    )


def _literal(value: str):
    """A literal in the SQL, so PostgreSQL plans with the partial indexes of open tasks and
    open cases even for a prepared statement (a parameter could be anything)."""
    return sa.literal(value, literal_execute=True)


def task_is_open():
    """Open tasks, as the partial indexes of open tasks (ix_tasks_open_*) are defined."""
    return Task.state == _literal(TaskState.OPEN.value)


def case_is_open():
    """Open cases, as the partial indexes of open cases (ix_cases_open_*) are defined."""
    return Case.status.in_([_literal(s.value) for s in OPEN_CASE_STATUSES])


CASE_CHUNK = 2000  # case ids per statement when the tasks' cases are looked up by key


# long: the scans of open tasks and of open cases, each bound by what is open (docstring)
def candidates(db, now: dt.datetime) -> list[Candidate]:
    """Return every card that is due now and not yet issued.

    Every read is bound by what is open, never by the history: open tasks past their
    threshold come from the partial indexes of open tasks by yellow and due time, less
    those that have their card (by the cards' task index); only their cases are then read,
    by key, to leave out paused and reported ones. Open cases past their threshold come the
    same way from the partial indexes of open cases.
    """
    found: list[Candidate] = []
    for level, reached in (("yellow", Task.yellow_at <= now), ("red", Task.due_at < now)):
        # only the ids, from the index (it holds them): in a running centre most of these
        # tasks have their card, and are left out by the cards' index alone
        ids = list(db.scalars(sa.select(Task.id).where(task_is_open(), reached,
                                                       _no_task_card(level))))  # fmt: skip
        rows = _by_key(db, Task.id, ids, Task.id, Task.case_id, Task.assignee_id,
                       Task.post_id, Task.due_at, Task.name)  # fmt: skip
        numbers = {
            r.id: r.case_no
            for r in _by_key(db, Case.id, {r.case_id for r in rows}, Case.id, Case.case_no,
                             Case.status, Case.paused_at, Case.reported_at)
            if r.status in OPEN_CASE_STATUSES and r.paused_at is None and r.reported_at is None
        }  # fmt: skip
        found += [
            Candidate(f"task:{r.id.hex}", r.case_id, r.id, level, r.due_at, r.assignee_id,
                      r.post_id, f"{numbers[r.case_id]} {r.name}")
            for r in rows if r.case_id in numbers
        ]  # fmt: skip
    for level, column, reached in (
        ("yellow", Case.yellow_at, Case.yellow_at <= now),
        ("red", Case.due_at, Case.due_at < now),
    ):
        rows = db.execute(
            sa.select(Case.id, Case.case_no, Case.due_at, Item.name)
            .join(Item, Item.id == Case.item_id)
            .where(case_is_open(), column.is_not(None), reached, Case.paused_at.is_(None),
                   Case.reported_at.is_(None), _no_case_card(level))
        )  # fmt: skip
        found += [
            Candidate(f"case:{r.id}", r.id, None, level, r.due_at, None, None,
                      f"{r.case_no} {r.name}")
            for r in rows
        ]  # fmt: skip
    return found


def _by_key(db, key, values, *columns) -> list:
    """Return the rows whose `key` is one of `values`: on PostgreSQL one array parameter (a
    statement of thousands of parameters costs more to send than to run), on SQLite in
    chunks of CASE_CHUNK."""
    values = sorted(values)
    if not values:
        return []
    if db.get_bind().dialect.name == "postgresql":
        array = ARRAY(key.type)
        return db.execute(sa.select(*columns).where(
            key == sa.any_(sa.bindparam("keys", values, type_=array)))).all()  # fmt: skip
    return [row for i in range(0, len(values), CASE_CHUNK)
            for row in db.execute(sa.select(*columns)
                                  .where(key.in_(values[i : i + CASE_CHUNK])))]  # fmt: skip


def _recipients(db, card: Candidate) -> set[int]:
    """The handler(s), their leaders, and the supervision office."""
    people: set[int] = set()
    if card.task_id is not None:
        holders = [(card.holder_id, card.post_id)]
    else:
        holders = db.execute(
            sa.select(Task.assignee_id, Task.post_id)
            .where(Task.case_id == card.case_id, Task.state == TaskState.OPEN)
        ).all()  # fmt: skip
    post_ids = {p for _h, p in holders if p}
    people |= {h for h, _p in holders if h}
    if post_ids:
        people |= {
            u for u in db.scalars(sa.select(Post.leader_user_id).where(Post.id.in_(post_ids))) if u
        }
    supervisors = db.scalars(
        sa.select(User.id).where(User.active.is_(True), User.roles.like("%supervisor%"))
    )
    return people | set(supervisors)


@transactional
def issue(card: Candidate) -> bool:
    """Issue one card: store it once, log it in the case, tell the people concerned."""
    db = session()
    now = utcnow()
    card_id = insert_once(db, WarningCard, {
        "subject": card.subject, "case_id": card.case_id, "task_id": card.task_id,
        "level": card.level, "due_at": card.due_at, "holder_id": card.holder_id,
        "post_id": card.post_id, "issued_at": now,
    }, ["subject", "level"])  # fmt: skip
    if card_id is None:
        return False  # another scheduler issued it
    colour = "黄牌" if card.level == "yellow" else "红牌"
    scope = "task" if card.task_id else "case"
    # stored once for every reader, in the centre's language and local time
    due = local(card.due_at).strftime("%Y-%m-%d %H:%M")
    text = f"{colour}：{card.name}" + (f"，{due}已超期" if card.level == "red" else f"，{due}到期")
    db.execute(sa.insert(Notification), [
        {"user_id": uid, "kind": card.level, "text": text, "case_id": card.case_id,
         "task_id": card.task_id, "created_at": now}
        for uid in sorted(_recipients(db, card))
    ])  # fmt: skip
    entry = CaseLog(db, card.case_id, now, None)
    data = {"level": card.level, "scope": scope, "due_at": card.due_at,
            "holder_id": card.holder_id, "card": card_id}  # fmt: skip
    entry.add("warning_issued", data, card.task_id)
    entry.close()
    return True


@transactional
def close_finished() -> int:
    """Close the cards of tasks and cases that are done; return how many closed."""
    db = session()
    now = utcnow()
    done_task = sa.exists().where(Task.id == WarningCard.task_id, Task.state != TaskState.OPEN)
    done_case = sa.exists().where(
        Case.id == WarningCard.case_id,
        sa.or_(Case.status.not_in(OPEN_CASE_STATUSES), Case.reported_at.is_not(None)),
    )
    closed = db.execute(
        sa.update(WarningCard)
        .where(WarningCard.closed_at.is_(None),
               sa.or_(sa.and_(WarningCard.task_id.is_not(None), done_task),
                      sa.and_(WarningCard.task_id.is_(None), done_case)))
        .values(closed_at=now)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    return closed.rowcount or 0


def scan(now: dt.datetime | None = None) -> int:
    """Issue every card that is due and close finished ones; return the cards issued."""
    db = session()
    found = candidates(db, now or utcnow())
    db.rollback()  # end the read; each card is its own transaction
    issued = sum(1 for card in found if issue(card))
    close_finished()
    return issued


def next_threshold(db, now: dt.datetime) -> dt.datetime | None:
    """Return the next moment a card may fall due (a warning or due time after `now`)."""
    moments = []
    task_open = task_is_open()  # each minimum is one step into a partial index
    case_open = sa.and_(case_is_open(), Case.reported_at.is_(None))
    for column, state in ((Task.yellow_at, task_open), (Task.due_at, task_open),
                          (Case.yellow_at, case_open), (Case.due_at, case_open)):  # fmt: skip
        moments.append(db.scalar(sa.select(sa.func.min(column)).where(state, column > now)))
    return min((m for m in moments if m is not None), default=None)


# --- urging notices and notifications ----------------------------------------------------------


@transactional
def urge(actor: User, case_no: str, text: str, task_id: uuid.UUID | None = None) -> int:
    """Send an urging notice (督办) about a case or one of its tasks; return recipients."""
    if not actor.has_role("supervisor"):
        raise Forbidden(_("only the supervision office sends urging notices"))
    text = (text or "").strip()
    if not text:
        raise InvalidInput(_("an urging notice needs its text"))
    db = session()
    case = require_case(actor, case_no).case
    query = sa.select(Task.id, Task.assignee_id, Task.post_id).where(
        Task.case_id == case.id, Task.state == TaskState.OPEN
    )
    if task_id is not None:
        query = query.where(Task.id == task_id)
    tasks = db.execute(query).all()
    if not tasks:
        raise InvalidInput(_("the case has no open task to urge") if task_id is None
                           else _("that task is not an open task of the case"))  # fmt: skip
    now = utcnow()
    people: dict[int, uuid.UUID] = {}
    for t in tasks:
        if t.assignee_id:
            people.setdefault(t.assignee_id, t.id)
        leader = db.scalar(sa.select(Post.leader_user_id).where(Post.id == t.post_id))
        if leader:
            people.setdefault(leader, t.id)
    db.execute(sa.insert(Notification), [
        {"user_id": uid, "kind": "urging", "text": f"督办 {case_no}: {text}",
         "case_id": case.id, "task_id": tid, "sender_id": actor.id, "created_at": now}
        for uid, tid in sorted(people.items())
    ])  # fmt: skip
    entry = CaseLog(db, case.id, now, actor)
    entry.add("case_urged", {"text": text, "recipients": sorted(people)}, task_id)
    db.expire(case)
    entry.close()
    return len(people)


def notifications_for(user: User, limit: int = 100) -> list[Notification]:
    """Return a person's notifications, newest first."""
    return list(session().scalars(
        sa.select(Notification).where(Notification.user_id == user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit)
    ))  # fmt: skip


def unread_count(user: User) -> int:
    return session().scalar(
        sa.select(sa.func.count()).select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )  # fmt: skip


@transactional
def mark_read(user: User) -> int:
    """Mark all of a person's notifications read."""
    result = session().execute(
        sa.update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0
