"""Reading the complaints register: one ticket (checked), its notes, history and cards, the
register list with its filter, and the names the pages show beside them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

from ..calendar.services import calendar
from ..cases.models import Case
from ..db import session, utcnow
from ..errors import Forbidden, NotFound
from ..org.models import Department, User
from .access import READ_ALL_ROLES, can_read, staff_departments, visible_departments
from .intake import one_of
from .models import (
    CHANNELS,
    OPEN_STATUSES,
    STATUSES,
    Complaint,
    ComplaintEvent,
    ComplaintNote,
    ComplaintWarning,
)


def get(actor: User, number: str) -> Complaint:
    """Return a ticket the actor may read."""
    ticket = session().scalars(sa.select(Complaint).where(Complaint.number == number)).first()
    if ticket is None:
        raise NotFound(_("no complaint '%(number)s'", number=number))
    if not can_read(actor, ticket):
        raise Forbidden(_("this complaint is not assigned to your department"))
    return ticket


def notes_of(ticket: Complaint) -> list[tuple[ComplaintNote, str]]:
    """Return the ticket's investigation notes with their authors' names, oldest first."""
    return [tuple(r) for r in session().execute(
        sa.select(ComplaintNote, User.name).join(User, User.id == ComplaintNote.author_id)
        .where(ComplaintNote.complaint_id == ticket.id)
        .order_by(ComplaintNote.at, ComplaintNote.id)
    )]  # fmt: skip


def history_of(ticket: Complaint) -> list[tuple[ComplaintEvent, str | None]]:
    """Return the ticket's history with the names of who acted (None: the system)."""
    return [tuple(r) for r in session().execute(
        sa.select(ComplaintEvent, User.name).outerjoin(User, User.id == ComplaintEvent.actor_id)
        .where(ComplaintEvent.complaint_id == ticket.id).order_by(ComplaintEvent.seq)
    )]  # fmt: skip


def warnings_of(ticket: Complaint) -> list[ComplaintWarning]:
    """Return the cards a ticket received."""
    return list(session().scalars(
        sa.select(ComplaintWarning).where(ComplaintWarning.complaint_id == ticket.id)
        .order_by(ComplaintWarning.issued_at)
    ))  # fmt: skip


def names(*user_ids: int | None) -> dict[int, str]:
    """Return the names of some people."""
    wanted = {u for u in user_ids if u}
    if not wanted:
        return {}
    return dict(session().execute(sa.select(User.id, User.name).where(User.id.in_(wanted))).all())


def department_name(department_id: int | None) -> str | None:
    """Return a department's name (None if not given)."""
    if department_id is None:
        return None
    return session().scalar(sa.select(Department.name).where(Department.id == department_id))


def case_number(case_id: int | None) -> str | None:
    """Return the number of the case a ticket concerns (None if none)."""
    if case_id is None:
        return None
    return session().scalar(sa.select(Case.case_no).where(Case.id == case_id))


def departments_for(actor: User) -> list[Department]:
    """Return the departments the actor may filter by (all for the office and auditors)."""
    query = sa.select(Department).order_by(Department.code)
    if not actor.has_role(*READ_ALL_ROLES):
        query = query.where(Department.id.in_(staff_departments(actor) or {-1}))
    return list(session().scalars(query))


def assignable_departments() -> list[Department]:
    """Return the departments a ticket may be assigned to (not the supervision office)."""
    return list(session().scalars(
        sa.select(Department).where(Department.kind != "supervision").order_by(Department.code)
    ))  # fmt: skip


@dataclass(frozen=True)
class Filter:
    """What the register list narrows to; dates are centre-local and inclusive."""

    since: dt.date | None = None
    until: dt.date | None = None
    status: str = ""
    channel: str = ""
    department_id: int | None = None
    overdue: bool = False


@dataclass(frozen=True)
class Row:
    """One line of the register."""

    ticket: Complaint
    department: str | None
    case_no: str | None
    overdue: bool


def local_period(since: dt.date | None, until: dt.date | None
                 ) -> tuple[dt.datetime | None, dt.datetime | None]:  # fmt: skip
    """Return naive UTC bounds [start, end) of centre-local days `since` to `until`."""
    cal = calendar()
    start = cal.utc(since, dt.time()) if since else None
    end = cal.utc(until + dt.timedelta(days=1), dt.time()) if until else None
    return start, end


def register_where(
    scope: Collection[int] | None,
    since: dt.date | None,
    until: dt.date | None,
    channel: str | None = None,
    department_id: int | None = None,
) -> list:
    """The conditions of tickets received from `since` to `until` (centre-local days, both
    included) in the departments of `scope` (None: all), of a channel and department."""
    where = []
    if scope is not None:  # an official sees only their departments' tickets
        where.append(Complaint.department_id.in_(set(scope) or {-1}))
    start, end = local_period(since, until)
    if start is not None:
        where.append(Complaint.received_at >= start)
    if end is not None:
        where.append(Complaint.received_at < end)
    if channel:
        where.append(Complaint.channel == channel)
    if department_id:
        where.append(Complaint.department_id == department_id)
    return where


def find(actor: User, flt: Filter, limit: int = 100, offset: int = 0
         ) -> tuple[list[Row], int]:  # fmt: skip
    """Return a page of the tickets the actor may see, newest first, and how many match."""
    if flt.status:
        one_of("status", flt.status, STATUSES)
    if flt.channel:
        one_of("channel", flt.channel, CHANNELS)
    now = utcnow()
    where = register_where(visible_departments(actor), flt.since, flt.until, flt.channel,
                           flt.department_id)  # fmt: skip
    if flt.status:
        where.append(Complaint.status == flt.status)
    if flt.overdue:
        where += [Complaint.status.in_(OPEN_STATUSES), Complaint.due_at < now]
    db = session()
    total = db.scalar(sa.select(sa.func.count()).select_from(Complaint).where(*where))
    rows = db.execute(
        sa.select(Complaint, Department.name, Case.case_no)
        .outerjoin(Department, Department.id == Complaint.department_id)
        .outerjoin(Case, Case.id == Complaint.case_id)
        .where(*where)
        .order_by(Complaint.received_at.desc(), Complaint.id.desc())
        .limit(limit).offset(offset)
    ).all()  # fmt: skip
    return [Row(t, dept, case_no, t.status in OPEN_STATUSES and t.due_at < now)
            for t, dept, case_no in rows], total  # fmt: skip
