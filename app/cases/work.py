"""An official's work: the inbox (待办) and done list (已办), claiming, transfer (转办).

Every change of holder goes through `write_reassignments`: the task row, an event in the
case's chain and a bump of the case's row version, in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from ..audit.services import EventBatch
from ..catalogue.models import Item
from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, InvalidInput, NotFound, StaleCase
from ..org.models import Post, User
from ..org.presence import Assignment, away_at, exclusions
from .models import Case, Task

# how close a due time is: overdue, within a day, comfortable, no limit
DUE_SOON = dt.timedelta(hours=24)
COLOURS = ("overdue", "soon", "ok", "none")


def due_colour(due_at: dt.datetime | None, now: dt.datetime) -> str:
    """Return 'overdue', 'soon', 'ok' or 'none' for a due time seen at `now`."""
    if due_at is None:
        return "none"
    if now > due_at:
        return "overdue"
    if due_at - now <= DUE_SOON:
        return "soon"
    return "ok"


@dataclass(frozen=True)
class InboxRow:
    """One line of an inbox or done list."""

    task: Task
    case_no: str
    item_code: str
    item_name: str
    applicant: str
    received_at: dt.datetime
    due_at: dt.datetime | None
    acting_for: str | None
    colour: str
    card: str | None = None  # the task's open yellow or red card


@dataclass(frozen=True)
class InboxFilter:
    """What an official narrows the inbox to, and its order."""

    item: str = ""
    stage: str = ""
    colour: str = ""
    as_b: bool = False
    text: str = ""
    sort: str = "due"

    SORTS = ("due", "received", "case")


def _rows(db: Session, query, now: dt.datetime) -> list[InboxRow]:
    out = []
    for r in db.execute(query):
        due = r.Task.due_at or r.case_due
        out.append(
            InboxRow(r.Task, r.case_no, r.item_code, r.item_name, r.applicant_name,
                     r.received_at, due, r.acting_for, due_colour(due, now), r.card)
        )  # fmt: skip
    return out


def open_card_level():
    """Return a correlated subquery: a task's worst open card, 'red' or 'yellow' (or NULL)."""
    from ..supervision.models import WarningCard

    return (
        sa.select(sa.func.min(WarningCard.level))  # 'red' sorts before 'yellow'
        .where(WarningCard.task_id == Task.id, WarningCard.closed_at.is_(None))
        .scalar_subquery()
    )


def _base_query():
    acting = aliased(User)
    card = open_card_level()
    return (
        sa.select(
            Task, Case.case_no, Case.applicant_name, Case.received_at,
            Case.due_at.label("case_due"), Item.code.label("item_code"),
            Item.name.label("item_name"), acting.name.label("acting_for"), card.label("card"),
        )
        .join(Case, Case.id == Task.case_id)
        .join(Item, Item.id == Case.item_id)
        .outerjoin(acting, acting.id == Task.acting_for_id)
    )  # fmt: skip


def inbox(actor: User, flt: InboxFilter | None = None, limit: int = 500) -> list[InboxRow]:
    """Return the actor's open tasks, filtered and sorted."""
    flt = flt or InboxFilter()
    db = session()
    query = _base_query().where(Task.assignee_id == actor.id, Task.state == "open")
    if flt.item:
        query = query.where(Item.code == flt.item)
    if flt.stage:
        query = query.where(Task.stage == flt.stage)
    if flt.as_b:
        query = query.where(Task.acting_for_id.is_not(None))
    if flt.text.strip():
        pattern = f"%{flt.text.strip()}%"
        query = query.where(sa.or_(Case.case_no.like(pattern), Case.applicant_name.like(pattern)))
    due = sa.func.coalesce(Task.due_at, Case.due_at)
    order = {
        "due": (due.is_(None), due, Task.created_at),
        "received": (Case.received_at, Task.created_at),
        "case": (Case.case_no,),
    }.get(flt.sort, (Task.created_at,))
    rows = _rows(db, query.order_by(*order).limit(limit), utcnow())
    if flt.colour:
        rows = [r for r in rows if r.colour == flt.colour]
    return rows


def done_list(actor: User, limit: int = 200) -> list[InboxRow]:
    """Return the tasks the actor completed, newest first (已办)."""
    db = session()
    query = (
        _base_query()
        .where(Task.completed_by_id == actor.id, Task.state == "completed")
        .order_by(Task.completed_at.desc())
        .limit(limit)
    )
    return _rows(db, query, utcnow())


def case_people_ids(tasks, events) -> set[int]:
    """Return the ids of everyone a case page names: holders, deciders, actors, stand-ins."""
    ids = set()
    for t, _username in tasks:
        ids |= {t.assignee_id, t.completed_by_id, t.acting_for_id}
    for e in events:
        ids.add(e.actor_id)
        data = e.data or {}
        for key in ("to", "from", "assignee_id", "acting_for_id", "holder_id", "recipients"):
            value = data.get(key)
            ids |= set(value) if isinstance(value, list) else {value}
    return {i for i in ids if isinstance(i, int)}


def people_named(ids: set[int | None]) -> dict[int, str]:
    """Return display names ("Name (username)") of users by id."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = session().execute(
        sa.select(User.id, User.name, User.username).where(User.id.in_(wanted))
    )
    return {r.id: f"{r.name} ({r.username})" for r in rows}


def away_now(user_ids: set[int]) -> dict[int, str]:
    """Return who among `user_ids` is away now, with the reason."""
    return away_at(session(), user_ids, utcnow())


def _posts_held(db: Session, actor: User):
    return sa.select(Post.id).where(
        sa.or_(
            Post.a_user_id == actor.id,
            Post.b_user_id == actor.id,
            Post.leader_user_id == actor.id,
        )
    )


def claimable(actor: User) -> list[InboxRow]:
    """Return open, unassigned tasks of posts the actor holds (A, B or leader)."""
    db = session()
    if actor.id in away_at(db, {actor.id}, utcnow()):
        return []
    query = (
        _base_query()
        .where(
            Task.state == "open",
            Task.assignee_id.is_(None),
            Task.post_id.in_(_posts_held(db, actor)),
        )
        .order_by(Task.created_at)
        .limit(200)
    )
    return _rows(db, query, utcnow())


def _load(db: Session, task_id: uuid.UUID):
    row = db.execute(
        sa.select(Task, Case, Post)
        .join(Case, Case.id == Task.case_id)
        .outerjoin(Post, Post.id == Task.post_id)
        .where(Task.id == task_id)
    ).first()
    if row is None:
        raise NotFound(f"no task {task_id}")
    if row.Task.state != "open":
        raise Conflict(f"task {task_id} is already {row.Task.state}")
    return row.Task, row.Case, row.Post


def _excluded_from(db: Session, case: Case, task: Task, user_ids: set[int]) -> dict[int, str]:
    numbers = dict(
        db.execute(sa.select(User.id, User.id_number).where(User.id.in_(user_ids))).all()
    )
    return exclusions(numbers, case.applicant_id_number, task.spec_id, task.is_decision,
                      case.last_decider_id, case.last_decision_spec)  # fmt: skip


def holders(post: Post) -> list[tuple[str, int]]:
    """Return the post's holders as (role, user id): A, B, leader."""
    return [
        (role, uid)
        for role, uid in (
            ("A", post.a_user_id),
            ("B", post.b_user_id),
            ("leader", post.leader_user_id),
        )  # fmt: skip
        if uid
    ]


@transactional
def claim_task(actor: User, task_id: uuid.UUID) -> Task:
    """Take an unassigned task of a post the actor holds; the first to claim gets it."""
    db = session()
    task, case, post = _load(db, task_id)
    if post is None or actor.id not in {uid for _, uid in holders(post)}:
        raise Forbidden("only a holder of the task's post may claim it")
    if task.assignee_id is not None:
        raise Conflict("this task has already been claimed")
    now = utcnow()
    why = _excluded_from(db, case, task, {actor.id}).get(actor.id)
    if why:
        raise Forbidden(f"you may not take this task: you {why}")
    away = away_at(db, {actor.id}, now).get(actor.id)
    if away:
        raise Conflict(f"you are {away}; check in or end the absence first")
    role = next(r for r, uid in holders(post) if uid == actor.id)
    acting_for = post.a_user_id if role != "A" and not post.shared else None
    choice = Assignment(post.id, actor.id, acting_for, f"claimed by {actor.username} ({role})")
    write_reassignments(db, case.id, [(task, choice)], now, actor, kind="task_claimed",
                        only_if_unassigned=True, started_at=now)  # fmt: skip
    return task


# the reason goes into the task's assignment_reason (300 characters) after "transferred by
# <username> to <A|B|leader> <username>: " (up to 155); a longer one was a 500 on PostgreSQL
TRANSFER_REASON_MAX = 140


@transactional
def transfer_task(actor: User, task_id: uuid.UUID, to_user_id: int, reason: str) -> Task:
    """Hand a task to another holder of the same post (转办), with a reason."""
    db = session()
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a transfer needs a reason")
    if len(reason) > TRANSFER_REASON_MAX:
        raise InvalidInput(f"a transfer reason is at most {TRANSFER_REASON_MAX} characters")
    task, case, post = _load(db, task_id)
    if post is None:
        raise Conflict("this task belongs to no post, so it has nobody to go to")
    if not (task.assignee_id == actor.id or post.leader_user_id == actor.id
            or actor.has_role("admin")):  # fmt: skip
        raise Forbidden("only the task's holder, the post's leader or an admin transfers it")
    roles = {uid: role for role, uid in holders(post)}
    if to_user_id not in roles:
        raise InvalidInput("a task can only go to another holder (A, B or leader) of its post")
    if to_user_id == task.assignee_id:
        raise InvalidInput("the task is already with that person")
    now = utcnow()
    why = _excluded_from(db, case, task, {to_user_id}).get(to_user_id)
    if why:
        raise Conflict(f"that person may not take this task: they {why}")
    away = away_at(db, {to_user_id}, now).get(to_user_id)
    if away:
        raise Conflict(f"that person is {away}")
    target = db.get(User, to_user_id)
    choice = Assignment(
        post.id, to_user_id, None,
        f"transferred by {actor.username} to {roles[to_user_id]} "
        f"{target.username if target else to_user_id}: {reason}",
    )  # fmt: skip
    write_reassignments(db, case.id, [(task, choice)], now, actor, kind="task_transferred",
                        started_at=None)  # fmt: skip
    return task


class CaseLog:
    """Append events to one case's chain outside a workflow step, then bump its version.

    `open()` reads the chain head; `close()` writes the case row (version-checked, with any
    extra column values) and the events. Used by moves, claims, transfers, warnings,
    pauses and recomputed due dates.
    """

    def __init__(self, db: Session, case_id: int, at: dt.datetime, actor: User | None) -> None:
        self.db, self.case_id = db, case_id
        head = db.execute(
            sa.select(Case.case_no, Case.event_seq, Case.last_hash, Case.version)
            .where(Case.id == case_id)
        ).one()  # fmt: skip
        self.case_no, self.version = head.case_no, head.version
        self.events = EventBatch(
            head.case_no, case_id, head.event_seq, head.last_hash,
            actor.id if actor else None, actor.username if actor else "system",
        )  # fmt: skip
        self.events.at = at

    def add(self, kind: str, data: dict, task_id: uuid.UUID | None = None) -> None:
        self.events.add(kind, data, task_id)

    def close(self, **values) -> None:
        updated = self.db.execute(
            sa.update(Case)
            .where(Case.id == self.case_id, Case.version == self.version)
            .values(version=self.version + 1, event_seq=self.events.seq,
                    last_hash=self.events.last_hash, **values)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        if updated.rowcount != 1:
            raise StaleCase(f"case {self.case_no} changed meanwhile")
        self.events.write(self.db)


def write_reassignments(
    db: Session,
    case_id: int,
    moves: list[tuple],
    at: dt.datetime,
    actor: User | None = None,
    kind: str = "task_reassigned",
    only_if_unassigned: bool = False,
    started_at: object = ...,
) -> None:
    """Give tasks of one case new holders and log each change in the case's chain.

    `moves` holds (task, Assignment) pairs; the task needs `id` and `assignee_id`.
    `started_at`, when given, is written too (a claim starts the task, a transfer resets it).
    """
    log = CaseLog(db, case_id, at, actor)
    for task, choice in moves:
        values = {"assignee_id": choice.assignee_id, "acting_for_id": choice.acting_for_id,
                  "assignment_reason": choice.reason}  # fmt: skip
        if started_at is not ...:
            values["started_at"] = started_at
        where = [Task.id == task.id, Task.state == "open"]
        if only_if_unassigned:
            where.append(Task.assignee_id.is_(None))
        changed = db.execute(
            sa.update(Task).where(*where).values(**values)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        if changed.rowcount != 1:
            raise Conflict("the task changed meanwhile (claimed, moved or completed); reload")
        log.add(
            kind,
            {"from": task.assignee_id, "to": choice.assignee_id,
             "acting_for_id": choice.acting_for_id, "reason": choice.reason},
            task.id,
        )  # fmt: skip
        if choice.escalated:
            log.add("task_escalated", {"reason": choice.reason}, task.id)
    log.close()


def escalate_to_leader(db: Session, case_id: int, spec_ids: list[str], at: dt.datetime,
                       why: str) -> int:  # fmt: skip
    """Move the case's open tasks of these diagram tasks to their post's leader (a boundary
    timer with property escalate=leader fired); the leader is told. Return the moves."""
    from ..supervision.models import Notification

    rows = db.execute(
        sa.select(Task.id, Task.assignee_id, Task.name, Post)
        .join(Post, Post.id == Task.post_id)
        .where(Task.case_id == case_id, Task.state == "open", Task.spec_id.in_(spec_ids))
    ).all()
    moves = []
    for row in rows:
        leader = row.Post.leader_user_id
        if leader is None or leader == row.assignee_id:
            continue
        reason = f"escalated to the leader of {row.Post.code}: {why}"
        # held in the leader's own right: the absence rules do not send it back to A
        moves.append((row, Assignment(row.Post.id, leader, None, reason, True)))
        db.add(Notification(user_id=leader, kind="escalation", case_id=case_id, task_id=row.id,
                            text=f"升级督办：{row.name} — {why}", created_at=at))  # fmt: skip
    if moves:
        write_reassignments(db, case_id, moves, at)
    return len(moves)
