"""Reads of cases and tasks: the case page, search, the inbox (待办), done list (已办) and
the claim queue. Each read of one case takes a `CheckedCase` from the access gate; the lists
are of the user's own tasks or filtered by the gate's rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from ..audit.models import Event
from ..catalogue.models import DiagramVersion, Item
from ..db import session, utcnow
from ..errors import NotFound
from ..org.models import Post, User
from ..org.presence import away_at
from . import decisions
from .access import CheckedCase, can_view_case
from .models import Case, Task
from .reported import report_of
from .status import CaseStatus, TaskState

# how close a due time is: overdue, within a day, comfortable, no limit
DUE_SOON = dt.timedelta(hours=24)
COLOURS = ("overdue", "soon", "ok", "none")


def item_and_newest_version(db: Session, code: str) -> tuple[Item, int | None]:
    """Return an active item and the id of its newest diagram version, in one query."""
    newest = (
        sa.select(DiagramVersion.id)
        .where(DiagramVersion.item_id == Item.id)
        .order_by(DiagramVersion.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    row = db.execute(
        sa.select(Item, newest.label("version_id")).where(Item.code == code, Item.active.is_(True))
    ).first()
    if row is None:
        raise NotFound(f"no item with code '{code}'")
    return row.Item, row.version_id


@dataclass(frozen=True)
class CaseDetail:
    """A case as its page shows it: item, diagram version number, tasks, events, people."""

    case: Case
    item: Item
    version: int | None
    tasks: list[tuple[Task, str | None]]  # each task with its assignee's username
    events: list

    @property
    def fault(self):
        """The event that stopped a faulted case (None for any other case)."""
        if self.case.status != CaseStatus.FAULT:
            return None
        return next((e for e in reversed(self.events) if e.type == "case_faulted"), None)

    def context(self) -> dict:
        """The names the case templates use for the parts of a case."""
        decided = decisions.of_case(session(), self.case.id) if self.case.decision else []
        return {"case": self.case, "item": self.item, "version": self.version,
                "tasks": self.tasks, "events": self.events,
                "report": report_of(self.events), "decisions": decided}  # fmt: skip

    def people_ids(self) -> set[int]:
        """The ids of everyone the page names: holders, deciders, actors, stand-ins."""
        ids = {self.case.received_by_id}
        for t, _username in self.tasks:
            ids |= {t.assignee_id, t.completed_by_id, t.acting_for_id}
        for e in self.events:
            ids.add(e.actor_id)
            data = e.data or {}
            for key in ("to", "from", "assignee_id", "acting_for_id", "holder_id", "recipients"):
                value = data.get(key)
                ids |= set(value) if isinstance(value, list) else {value}
        return {i for i in ids if isinstance(i, int)}


def case_detail(checked: CheckedCase, with_events: bool = True) -> CaseDetail:
    """The checked case with its item, diagram version number, tasks and events."""
    db, case = session(), checked.case
    row = db.execute(
        sa.select(Item, DiagramVersion.version)
        .select_from(Case)
        .join(Item, Item.id == Case.item_id)
        .outerjoin(DiagramVersion, DiagramVersion.id == Case.diagram_version_id)
        .where(Case.id == case.id)
    ).one()
    rows = db.execute(
        sa.select(Task, User.username)
        .outerjoin(User, User.id == Task.assignee_id)
        .where(Task.case_id == case.id)
        .order_by(Task.created_at, Task.name)
    ).all()
    events = case_events(checked) if with_events else []
    return CaseDetail(case, row.Item, row.version, [(r.Task, r.username) for r in rows], events)


def case_decisions(case_id: int) -> list:
    """A decided case's decisions with their authorities (app.cases.decisions)."""
    return decisions.of_case(session(), case_id)


def case_events(checked: CheckedCase) -> list[Event]:
    """The audit events of the checked case, in order."""
    query = sa.select(Event).where(Event.case_id == checked.case.id).order_by(Event.seq)
    return list(session().scalars(query))


def find_cases(actor: User, text: str, limit: int = 50) -> list[tuple[Case, str]]:
    """Find cases by case number or applicant name that the actor may read, newest first."""
    text = text.strip()
    if not text:
        return []
    pattern = f"%{text}%"
    rows = (
        session()
        .execute(
            sa.select(Case, Item.name)
            .join(Item, Item.id == Case.item_id)
            .where(sa.or_(Case.case_no.like(pattern), Case.applicant_name.like(pattern)))
            .order_by(Case.received_at.desc())
            .limit(limit * 4)
        )
        .all()
    )
    return [(r.Case, r.name) for r in rows if can_view_case(actor, r.Case)][:limit]


def window_lists(actor: User) -> tuple[list, list]:
    """The window's two lists: the clerk's own last cases, and every case waiting for
    supplements, oldest first; each row a (case, item name)."""
    db = session()
    base = sa.select(Case, Item.name).join(Item, Item.id == Case.item_id)
    mine = db.execute(
        base.where(Case.received_by_id == actor.id).order_by(Case.received_at.desc()).limit(30)
    ).all()
    waiting = db.execute(
        base.where(Case.status == CaseStatus.SUPPLEMENT_REQUIRED)
        .order_by(Case.received_at)
        .limit(50)
    ).all()
    return mine, waiting


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


# --- the inbox ---------------------------------------------------------------------------------


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


def my_open_tasks(actor: User):
    """The query of the actor's open tasks (the inbox's and the API's).

    The state is a literal, so PostgreSQL always plans with the partial inbox index.
    """
    is_open = Task.state == sa.literal(TaskState.OPEN.value, literal_execute=True)
    return _base_query().where(Task.assignee_id == actor.id, is_open)


def inbox(actor: User, flt: InboxFilter | None = None, limit: int = 500) -> list[InboxRow]:
    """Return the actor's open tasks, filtered and sorted."""
    flt = flt or InboxFilter()
    query = my_open_tasks(actor)
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
    rows = _rows(session(), query.order_by(*order).limit(limit), utcnow())
    if flt.colour:
        rows = [r for r in rows if r.colour == flt.colour]
    return rows


def list_open_tasks(actor: User) -> list[InboxRow]:
    """Return the actor's open tasks, oldest first (the API's task list)."""
    return _rows(session(), my_open_tasks(actor).order_by(Task.created_at).limit(500), utcnow())


def done_list(actor: User, limit: int = 200) -> list[InboxRow]:
    """Return the tasks the actor completed, newest first (已办)."""
    query = (
        _base_query()
        .where(Task.completed_by_id == actor.id, Task.state == TaskState.COMPLETED)
        .order_by(Task.completed_at.desc())
        .limit(limit)
    )
    return _rows(session(), query, utcnow())


def _posts_held(actor: User):
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
            Task.state == TaskState.OPEN,
            Task.assignee_id.is_(None),
            Task.post_id.in_(_posts_held(actor)),
        )
        .order_by(Task.created_at)
        .limit(200)
    )
    return _rows(db, query, utcnow())
