"""Reads of cases and tasks: the case page, search, the inbox (待办), done list (已办) and
the claim queue. Each read of one case takes a `CheckedCase` from the access gate; the lists
are of the user's own tasks or filtered by the gate's rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from lxml import etree
from sqlalchemy.orm import Session, aliased

from ..audit.models import Event
from ..catalogue.models import DiagramVersion, Item
from ..clock import day_start
from ..db import session, utcnow
from ..errors import NotFound
from ..org.models import Department, Post, User
from ..org.presence import away_at
from ..org.reasons import post_label, remember_posts
from . import decisions
from .access import TASK_KEYS, CheckedCase, WorkTask, visible_cases
from .models import Case, Task
from .reported import report_of
from .status import OPEN_CASE_STATUSES, CaseStatus, TaskState

# how close a due time is: overdue, within a day, comfortable, no limit
DUE_SOON = dt.timedelta(hours=24)
COLOURS = ("overdue", "soon", "ok", "none")


# an active item with the id of its newest diagram version, built once (every application
# reads it)
_NEWEST_VERSION = (
    sa.select(DiagramVersion.id)
    .where(DiagramVersion.item_id == Item.id)
    .order_by(DiagramVersion.version.desc())
    .limit(1)
    .scalar_subquery()
)
_ITEM_AND_NEWEST = sa.select(Item, _NEWEST_VERSION.label("version_id")).where(
    Item.code == sa.bindparam("code"), Item.active.is_(True)
)


def item_and_newest_version(db: Session, code: str) -> tuple[Item, int | None]:
    """Return an active item and the id of its newest diagram version, in one query."""
    row = db.execute(_ITEM_AND_NEWEST, {"code": code}).first()
    if row is None:
        raise NotFound(_("no item with code '%(code)s'", code=code))
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


def diagram_element_names(case_id: int) -> dict[str, str]:
    """The names of the elements (flows, tasks, gateways) of a case's diagram, by id (an
    unreadable diagram names nothing: the page then shows the ids)."""
    content = session().scalar(
        sa.select(DiagramVersion.content)
        .join(Case, Case.diagram_version_id == DiagramVersion.id)
        .where(Case.id == case_id)
    )
    if not content:
        return {}
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(content.encode("utf-8"), parser)
    except etree.XMLSyntaxError:
        return {}
    return {el.get("id"): el.get("name") for el in root.iter()
            if isinstance(el.tag, str) and el.get("id") and el.get("name")}  # fmt: skip


@dataclass(frozen=True)
class CaseFilter:
    """What the case list (办件查询) is narrowed to; an empty field narrows nothing.

    `received_from` and `received_to` are the centre's local days, both included.
    """

    text: str = ""  # a case number or applicant name, or part of one
    status: str = ""
    item: str = ""  # an item's code
    department: str = ""  # the code of the department an item belongs to
    received_from: dt.date | None = None
    received_to: dt.date | None = None
    overdue: bool = False  # open and past its promised date
    page: int = 1


@dataclass(frozen=True)
class CasePage:
    """One page of the case list: rows of (case, item name, department name), newest first."""

    rows: list
    total: int  # matching cases, counted up to COUNT_CAP
    capped: bool  # there are more than `total`
    page: int
    pages: int


CASES_PER_PAGE = 25
COUNT_CAP = 10_000  # the count stops here: a page never counts a whole large table


def _case_conditions(actor: User, flt: CaseFilter, now: dt.datetime) -> list:
    conditions = [visible_cases(actor)]
    text = flt.text.strip()
    if text:
        pattern = f"%{text}%"
        conditions.append(sa.or_(Case.case_no.like(pattern), Case.applicant_name.like(pattern)))
    if flt.status:
        conditions.append(Case.status == flt.status)
    if flt.item:
        conditions.append(Item.code == flt.item)
    if flt.department:
        conditions.append(Department.code == flt.department)
    if flt.received_from:
        conditions.append(Case.received_at >= day_start(flt.received_from))
    if flt.received_to:
        conditions.append(Case.received_at < day_start(flt.received_to + dt.timedelta(days=1)))
    if flt.overdue:
        conditions.append(sa.and_(Case.status.in_(OPEN_CASE_STATUSES), Case.due_at < now))
    return conditions


def case_list(actor: User, flt: CaseFilter) -> CasePage:
    """The cases the actor may read that match the filter, one page of them, newest first.

    Who sees what is `access.visible_cases`, the rule of the case page, in the query: the
    count and the page are of readable cases only. The count is bounded by `COUNT_CAP`.
    """
    db = session()
    base = (
        sa.select(Case, Item.name.label("item_name"), Department.name.label("department_name"))
        .join(Item, Item.id == Case.item_id)
        .join(Department, Department.id == Item.department_id)
        .where(*_case_conditions(actor, flt, utcnow()))
    )
    limited = base.with_only_columns(Case.id).limit(COUNT_CAP + 1).subquery()
    counted = db.scalar(sa.select(sa.func.count()).select_from(limited)) or 0
    total = min(counted, COUNT_CAP)
    pages = max(1, -(-total // CASES_PER_PAGE))
    page = min(max(1, flt.page), pages)
    rows = db.execute(
        base.order_by(Case.received_at.desc(), Case.id.desc())
        .offset((page - 1) * CASES_PER_PAGE)
        .limit(CASES_PER_PAGE)
    ).all()
    return CasePage([(r.Case, r.item_name, r.department_name) for r in rows], total,
                    counted > COUNT_CAP, page, pages)  # fmt: skip


def case_list_choices() -> tuple[list[Item], list[Department]]:
    """What the case list can be narrowed to: every item (a withdrawn one keeps its cases)
    and the departments that own items, each by name."""
    db = session()
    items = list(db.scalars(sa.select(Item).order_by(Item.name)))
    owners = {i.department_id for i in items}
    departments = db.scalars(sa.select(Department).where(Department.id.in_(owners))
                             .order_by(Department.name)) if owners else []  # fmt: skip
    return items, list(departments)


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
    """Return the names people are shown by on pages (not their user names), by id."""
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = session().execute(sa.select(User.id, User.name).where(User.id.in_(wanted)))
    return {r.id: r.name for r in rows}


def usernames_named(data: dict) -> dict[str, str]:
    """The names of the people a case's data lists by user name (a 会签 stage's signers), by
    user name: a value that is a list of text, each item someone's user name."""
    wanted = {u for v in (data or {}).values() if isinstance(v, list)
              and v and all(isinstance(u, str) for u in v) for u in v}  # fmt: skip
    if not wanted:
        return {}
    rows = session().execute(sa.select(User.username, User.name)
                             .where(User.username.in_(sorted(wanted))))  # fmt: skip
    return {r.username: r.name for r in rows}


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


def _rows(db: Session, query, now: dt.datetime, params: dict | None = None) -> list[InboxRow]:
    out, posts = [], {}
    width = len(TASK_KEYS)
    for r in db.execute(query, params):
        task = WorkTask.of(r, width)
        if task.post_id is not None:  # for wording the task's reason with no further query
            posts[task.post_id] = (r.post_name, r.post_code)
        due = task.due_at or r.case_due
        out.append(
            InboxRow(task, r.case_no, r.item_code, r.item_name, r.applicant_name,
                     r.received_at, due, r.acting_for, due_colour(due, now), r.card)
        )  # fmt: skip
    if posts:
        remember_posts({pid: post_label(name, code) for pid, (name, code) in posts.items()})
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
            *(getattr(Task, key) for key in TASK_KEYS), Case.case_no, Case.applicant_name,
            Case.received_at,
            Case.due_at.label("case_due"), Item.code.label("item_code"),
            Item.name.label("item_name"), acting.name.label("acting_for"), card.label("card"),
            Post.name.label("post_name"), Post.code.label("post_code"),
        )
        .join(Case, Case.id == Task.case_id)
        .join(Item, Item.id == Case.item_id)
        .outerjoin(acting, acting.id == Task.acting_for_id)
        .outerjoin(Post, Post.id == Task.post_id)
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


# the API's task list, a page at a time, built once (building it cost a fifth of the read)
PAGE_SIZE, PAGE_MAX = 100, 500
_LIST_OPEN = (
    _base_query()
    .where(Task.assignee_id == sa.bindparam("me"),
           Task.state == sa.literal(TaskState.OPEN.value, literal_execute=True))
    .order_by(Task.created_at, Task.id)
    .limit(sa.bindparam("limit", type_=sa.Integer))
    .offset(sa.bindparam("offset", type_=sa.Integer))
)  # fmt: skip


def open_task_page(actor: User, limit: int = PAGE_SIZE, offset: int = 0):
    """Return a page of the actor's open tasks, oldest first, and whether more follow (the
    API's task list: one statement, a row beyond the page read to know)."""
    params = {"me": actor.id, "limit": limit + 1, "offset": offset}
    rows = _rows(session(), _LIST_OPEN, utcnow(), params)
    return rows[:limit], len(rows) > limit


def list_open_tasks(actor: User, limit: int = PAGE_SIZE) -> list[InboxRow]:
    """Return the first page of the actor's open tasks, oldest first."""
    return open_task_page(actor, limit)[0]


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
