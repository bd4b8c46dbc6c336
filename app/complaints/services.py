"""The complaints register: register, assign, investigate, reply, archive; overdue cards.

Who does what: the supervision office (supervisors) registers, assigns, replies and
archives; the officials and leaders of the department a ticket is assigned to (and the
departments under it, and the leaders of its posts) add investigation notes; admins may
do everything; auditors read. Every action bumps the ticket's version and appends one row
to its history, so a lost race is retried, never lost.

Reply deadlines count working days from the centre's calendar like case limits do: the
day of receipt does not count, a ticket received after office hours or on a day off counts
from the next working day, and the reply is due at the close of office on the last day.
A ticket not replied by then gets a yellow card one working day before and a red card
after, each stored once per ticket and level, so however often the scan runs, the office
and the department's leaders are told once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..calendar.services import WorkCalendar, calendar
from ..cases.models import Case
from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..org.models import Department, Post, User
from ..supervision.models import Notification
from .models import (
    CHANNELS,
    OPEN_STATUSES,
    REPLY_DAYS,
    STATUSES,
    Complaint,
    ComplaintCounter,
    ComplaintEvent,
    ComplaintNote,
    ComplaintWarning,
)

OFFICE_ROLES = ("supervisor", "admin")  # register, assign, reply, archive
READ_ALL_ROLES = ("supervisor", "admin", "auditor")  # every ticket
STAFF_ROLES = ("official", "leader")  # the tickets of their departments
NOTE_STATUSES = ("assigned", "investigating")
PHONE = re.compile(r"^\+?[0-9][0-9 \-]{4,28}$")
MAX_TEXT = 4000
FUTURE_GRACE = dt.timedelta(minutes=5)  # a clock a little ahead is not an error


# --- who may ---------------------------------------------------------------------------------


def _tree(db: Session) -> dict[int | None, list[int]]:
    children: dict[int | None, list[int]] = defaultdict(list)
    for dept_id, parent_id in db.execute(sa.select(Department.id, Department.parent_id)):
        children[parent_id].append(dept_id)
    return children


def _with_descendants(children: dict[int | None, list[int]], roots: Iterable[int]) -> set[int]:
    found: set[int] = set()
    todo = list(roots)
    while todo:
        dept_id = todo.pop()
        if dept_id not in found:
            found.add(dept_id)
            todo += children.get(dept_id, [])
    return found


def staff_departments(actor: User) -> set[int]:
    """Return the departments whose tickets an official or leader works on: their own, those
    of the posts they lead, and every department under those."""
    if not actor.has_role(*STAFF_ROLES):
        return set()
    db = session()
    roots = {actor.department_id} if actor.department_id else set()
    roots |= set(db.scalars(sa.select(Post.department_id).where(Post.leader_user_id == actor.id)))
    return _with_descendants(_tree(db), roots) if roots else set()


def department_leaders(db: Session, department_id: int | None) -> set[int]:
    """Return the leaders of a department: its staff with the leader role and the leaders of
    its posts; a department without any answers through the one above it."""
    seen: set[int] = set()
    dept_id = department_id
    while dept_id is not None and dept_id not in seen:
        seen.add(dept_id)
        leaders = set(db.scalars(sa.select(User.id).where(
            User.department_id == dept_id, User.active.is_(True),
            User.roles.like("%leader%"))))  # fmt: skip
        leaders |= {u for u in db.scalars(
            sa.select(Post.leader_user_id).where(Post.department_id == dept_id)) if u}  # fmt: skip
        if leaders:
            return leaders
        dept_id = db.scalar(sa.select(Department.parent_id).where(Department.id == dept_id))
    return set()


def _supervisors(db: Session) -> set[int]:
    return set(db.scalars(
        sa.select(User.id).where(User.active.is_(True), User.roles.like("%supervisor%"))
    ))  # fmt: skip


def can_read(actor: User, ticket: Complaint) -> bool:
    """Return whether the actor may see the ticket."""
    if actor.has_role(*READ_ALL_ROLES):
        return True
    return ticket.department_id is not None and ticket.department_id in staff_departments(actor)


def may_investigate(actor: User, ticket: Complaint) -> bool:
    """Return whether the actor works for the department the ticket is assigned to."""
    if actor.has_role("admin"):
        return True
    return ticket.department_id is not None and ticket.department_id in staff_departments(actor)


@dataclass(frozen=True)
class Allowed:
    """What a person may do to a ticket now (the pages show only these forms)."""

    assign: bool
    note: bool
    reply: bool
    archive: bool


def allowed(actor: User, ticket: Complaint) -> Allowed:
    """Return what the actor may do to the ticket in its present status."""
    office = actor.has_role(*OFFICE_ROLES)
    return Allowed(
        assign=office and ticket.status in OPEN_STATUSES,
        note=ticket.status in NOTE_STATUSES and may_investigate(actor, ticket),
        reply=office and ticket.status == "investigating",
        archive=office and ticket.status == "replied",
    )


def _require_office(actor: User, what: str) -> None:
    if not actor.has_role(*OFFICE_ROLES):
        raise Forbidden(f"only the supervision office {what}")


# --- input -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewComplaint:
    """What the office writes down when a complaint comes in."""

    channel: str
    complainant_name: str
    subject: str
    content: str
    complainant_phone: str | None = None
    received_at: dt.datetime | None = None  # naive UTC; now if not given
    case_no: str | None = None  # the case it concerns, if any
    department_id: int | None = None  # assign at once


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field.replace('_', ' ')}: {message}", field=field)


def _text(value: str | None, field: str, limit: int, required: bool = True) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise _invalid(field, "is required")
        return None
    if len(text) > limit:
        raise _invalid(field, f"is longer than {limit} characters")
    return text


def _case_id(db: Session, case_no: str | None) -> int | None:
    number = (case_no or "").strip()
    if not number:
        return None
    case_id = db.scalar(sa.select(Case.id).where(Case.case_no == number[:32]))
    if case_id is None:
        raise _invalid("case_no", f"there is no case '{number[:32]}'; check the case number")
    return case_id


def _department(db: Session, department_id: int | None) -> Department:
    dept = db.get(Department, department_id) if department_id else None
    if dept is None:
        raise _invalid("department_id", "choose an existing department")
    if dept.kind == "supervision":
        raise _invalid("department_id", "the supervision office registers and replies; "
                                        "assign the department the complaint concerns")  # fmt: skip
    return dept


def _received_at(value: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    if value is None:
        return now
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    if value > now + FUTURE_GRACE:
        raise _invalid("received_at", "lies in the future")
    if value.year < 2000:
        raise _invalid("received_at", "is not a plausible time")
    return value.replace(microsecond=0)


def reply_deadline(channel: str, received_at: dt.datetime, cal: WorkCalendar | None = None
                   ) -> tuple[dt.datetime, bool, dt.datetime]:  # fmt: skip
    """Return the reply deadline, whether it is provisional, and the yellow-card time."""
    cal = cal or calendar()
    due = cal.due_in_days(received_at, REPLY_DAYS[channel])
    yellow = cal.warn_at(received_at, due.at, current_app.config.get("WARN_DAYS", 1))
    return due.at, due.provisional, yellow


# --- writing ---------------------------------------------------------------------------------


def _next_number(db: Session, now: dt.datetime) -> str:
    """Return the next number of the centre-local day; the counter row serialises writers."""
    day = calendar().local(now).date()
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = ComplaintCounter.__table__
    stmt = (
        insert(table)
        .values(day=day, last=1)
        .on_conflict_do_update(index_elements=[table.c.day], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    return f"TS-{day:%Y%m%d}-{db.execute(stmt).scalar_one():04d}"


def _log(db: Session, ticket: Complaint, actor: User | None, action: str, now: dt.datetime,
         data: dict | None = None) -> None:  # fmt: skip
    """Append one history row and bump the ticket's version (its sequence number)."""
    ticket.version += 1
    db.add(ComplaintEvent(complaint_id=ticket.id, seq=ticket.version, at=now,
                          actor_id=actor.id if actor else None, action=action,
                          data=data or {}))  # fmt: skip


def _notify(db: Session, people: Iterable[int], kind: str, text: str, now: dt.datetime,
            sender: User | None = None) -> None:  # fmt: skip
    rows = [{"user_id": uid, "kind": kind, "text": text, "sender_id": sender.id if sender else None,
             "created_at": now} for uid in sorted(set(people))]  # fmt: skip
    if rows:
        db.execute(sa.insert(Notification), rows)


def _for_update(db: Session, number: str) -> Complaint:
    ticket = db.scalars(
        sa.select(Complaint).where(Complaint.number == number).with_for_update()
    ).first()
    if ticket is None:
        raise NotFound(f"no complaint '{number}'")
    return ticket


def _assign(db: Session, actor: User, ticket: Complaint, dept: Department,
            now: dt.datetime) -> None:  # fmt: skip
    before = ticket.department_id
    if before == dept.id:
        raise _invalid("department_id", f"the ticket is already with {dept.name}")
    ticket.department_id = dept.id
    ticket.status = "assigned"
    data = {"department_id": dept.id, "department": dept.name}
    if before is not None:
        data["from_department_id"] = before
    _log(db, ticket, actor, "reassigned" if before else "assigned", now, data)
    text = f"投诉 {ticket.number}: {ticket.subject} — 请于 {_local(ticket.due_at)} 前查明情况"
    _notify(db, department_leaders(db, dept.id), "complaint", text, now, actor)


def _local(at: dt.datetime) -> str:
    return calendar().local(at).strftime("%Y-%m-%d %H:%M")


@transactional
def register(actor: User, new: NewComplaint) -> Complaint:
    """Register a complaint; assign it at once if a department is given."""
    _require_office(actor, "registers complaints")
    db = session()
    now = utcnow()
    if new.channel not in CHANNELS:
        raise _invalid("channel", f"must be one of {', '.join(CHANNELS)}")
    name = _text(new.complainant_name, "complainant_name", 100)
    phone = _text(new.complainant_phone, "complainant_phone", 30, required=False)
    if phone is None and new.channel == "phone":
        raise _invalid("complainant_phone", "a hotline ticket needs the caller's number")
    if phone is not None and not PHONE.match(phone):
        raise _invalid("complainant_phone", "digits, spaces, '-' and a leading '+' only")
    subject = _text(new.subject, "subject", 200)
    content = _text(new.content, "content", MAX_TEXT)
    received_at = _received_at(new.received_at, now)
    case_id = _case_id(db, new.case_no)
    dept = _department(db, new.department_id) if new.department_id else None
    due_at, provisional, yellow_at = reply_deadline(new.channel, received_at)
    ticket = Complaint(
        number=_next_number(db, now), channel=new.channel, received_at=received_at,
        registered_at=now, registered_by_id=actor.id, complainant_name=name,
        complainant_phone=phone, case_id=case_id, subject=subject, content=content,
        status="registered", due_at=due_at, due_provisional=provisional, yellow_at=yellow_at,
        version=1,
    )  # fmt: skip
    db.add(ticket)
    db.flush()
    db.add(
        ComplaintEvent(
            complaint_id=ticket.id,
            seq=1,
            at=now,
            actor_id=actor.id,
            action="registered",
            data={
                "channel": new.channel,
                "case_no": (new.case_no or "").strip(),
                "due_at": due_at.isoformat(),
                "provisional": provisional,
            },
        )
    )
    if dept is not None:
        _assign(db, actor, ticket, dept, now)
    return ticket


@transactional
def assign(actor: User, number: str, department_id: int | None) -> Complaint:
    """Give a ticket to the department it concerns (or move it to another one)."""
    _require_office(actor, "assigns complaints")
    db = session()
    ticket = _for_update(db, number)
    if ticket.status not in OPEN_STATUSES:
        raise Conflict(f"complaint {number} is {ticket.status}; it can no longer be assigned")
    _assign(db, actor, ticket, _department(db, department_id), utcnow())
    return ticket


@transactional
def add_note(actor: User, number: str, text: str) -> ComplaintNote:
    """Record what the department found; the ticket is under investigation from then on."""
    db = session()
    ticket = _for_update(db, number)
    if not may_investigate(actor, ticket):
        raise Forbidden("only the department the complaint is assigned to investigates it")
    if ticket.status not in NOTE_STATUSES:
        raise Conflict(f"complaint {number} is {ticket.status}; notes are taken while it is "
                       "assigned or under investigation")  # fmt: skip
    body = _text(text, "note", MAX_TEXT)
    now = utcnow()
    note = ComplaintNote(complaint_id=ticket.id, author_id=actor.id, at=now, text=body)
    db.add(note)
    db.flush()
    ticket.status = "investigating"
    _log(db, ticket, actor, "note_added", now, {"note_id": note.id})
    return note


@transactional
def reply(actor: User, number: str, text: str) -> Complaint:
    """Record the office's reply to the complainant (the ticket counts as completed)."""
    _require_office(actor, "replies to complainants")
    db = session()
    ticket = _for_update(db, number)
    if ticket.status != "investigating":
        hint = {"registered": "assign it first", "assigned": "the department has not yet "
                "reported what it found"}.get(ticket.status, "it has been replied to")  # fmt: skip
        raise Conflict(f"complaint {number} is {ticket.status}; {hint}")
    body = _text(text, "reply", MAX_TEXT)
    now = utcnow()
    ticket.reply, ticket.replied_at, ticket.replied_by_id = body, now, actor.id
    ticket.status = "replied"
    _log(db, ticket, actor, "replied", now, {"on_time": now <= ticket.due_at})
    return ticket


@transactional
def archive(actor: User, number: str) -> Complaint:
    """File a replied ticket away (归档)."""
    _require_office(actor, "archives complaints")
    db = session()
    ticket = _for_update(db, number)
    if ticket.status != "replied":
        raise Conflict(f"complaint {number} is {ticket.status}; only a replied one is archived")
    now = utcnow()
    ticket.archived_at, ticket.archived_by_id = now, actor.id
    ticket.status = "archived"
    _log(db, ticket, actor, "archived", now)
    return ticket


def recompute_provisional(db: Session, cal: WorkCalendar | None = None) -> int:
    """Recompute the deadline of every open ticket whose deadline rests on a year the
    calendar did not know (call it in the transaction that adds the year); log each change;
    return how many tickets changed."""
    cal = cal or calendar()
    now = utcnow()
    changed = 0
    tickets = db.scalars(sa.select(Complaint).where(
        Complaint.status.in_(OPEN_STATUSES), Complaint.due_provisional.is_(True)))  # fmt: skip
    for ticket in tickets.all():
        due_at, provisional, yellow_at = reply_deadline(ticket.channel, ticket.received_at, cal)
        if (due_at, provisional) == (ticket.due_at, ticket.due_provisional):
            continue
        data = {"due_at": due_at.isoformat(), "was": ticket.due_at.isoformat(),
                "provisional": provisional}  # fmt: skip
        ticket.due_at, ticket.due_provisional, ticket.yellow_at = due_at, provisional, yellow_at
        _log(db, ticket, None, "due_recomputed", now, data)
        changed += 1
    db.flush()
    return changed


# --- reading ---------------------------------------------------------------------------------


def get(actor: User, number: str) -> Complaint:
    """Return a ticket the actor may read."""
    ticket = session().scalars(sa.select(Complaint).where(Complaint.number == number)).first()
    if ticket is None:
        raise NotFound(f"no complaint '{number}'")
    if not can_read(actor, ticket):
        raise Forbidden("this complaint is not assigned to your department")
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


def visible_departments(actor: User) -> set[int] | None:
    """Return the departments whose tickets the actor sees, or None for all."""
    return None if actor.has_role(*READ_ALL_ROLES) else staff_departments(actor)


def local_period(since: dt.date | None, until: dt.date | None
                 ) -> tuple[dt.datetime | None, dt.datetime | None]:  # fmt: skip
    """Return naive UTC bounds [start, end) of centre-local days `since` to `until`."""
    cal = calendar()
    start = cal.utc(since, dt.time()) if since else None
    end = cal.utc(until + dt.timedelta(days=1), dt.time()) if until else None
    return start, end


def find(actor: User, flt: Filter, limit: int = 100, offset: int = 0
         ) -> tuple[list[Row], int]:  # fmt: skip
    """Return a page of the tickets the actor may see, newest first, and how many match."""
    if flt.status and flt.status not in STATUSES:
        raise _invalid("status", f"must be one of {', '.join(STATUSES)}")
    if flt.channel and flt.channel not in CHANNELS:
        raise _invalid("channel", f"must be one of {', '.join(CHANNELS)}")
    now = utcnow()
    where = []
    scope = visible_departments(actor)
    if scope is not None:
        where.append(Complaint.department_id.in_(scope or {-1}))
    start, end = local_period(flt.since, flt.until)
    if start is not None:
        where.append(Complaint.received_at >= start)
    if end is not None:
        where.append(Complaint.received_at < end)
    if flt.status:
        where.append(Complaint.status == flt.status)
    if flt.channel:
        where.append(Complaint.channel == flt.channel)
    if flt.department_id:
        where.append(Complaint.department_id == flt.department_id)
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


# --- overdue cards ---------------------------------------------------------------------------


def candidates(db: Session, now: dt.datetime) -> list[tuple[int, str]]:
    """Return (ticket id, level) of every card due now and not yet issued.

    A ticket already overdue gets its red card only: a yellow one would come too late.
    """
    found: list[tuple[int, str]] = []
    for level, reached in (
        ("yellow", sa.and_(Complaint.yellow_at <= now, Complaint.due_at >= now)),
        ("red", Complaint.due_at < now),
    ):
        issued = sa.exists().where(ComplaintWarning.complaint_id == Complaint.id,
                                   ComplaintWarning.level == level)  # fmt: skip
        ids = db.scalars(
            sa.select(Complaint.id)
            .where(Complaint.status.in_(OPEN_STATUSES), reached, ~issued)
            .order_by(Complaint.id)
        )
        found += [(ticket_id, level) for ticket_id in ids]
    return found


def _insert_once(db: Session, values: dict) -> int | None:
    """Store a card unless the ticket has one of that level; return its id or None."""
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(ComplaintWarning)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["complaint_id", "level"])
        .returning(ComplaintWarning.id)
    )
    return db.execute(stmt).scalar()


@transactional
def issue(ticket_id: int, level: str) -> bool:
    """Issue one card: store it once, log it, tell the office and the department's leaders."""
    db = session()
    now = utcnow()
    ticket = db.scalars(sa.select(Complaint).where(Complaint.id == ticket_id).with_for_update()
                        ).one()  # fmt: skip
    reached = ticket.due_at < now if level == "red" else ticket.yellow_at <= now <= ticket.due_at
    if ticket.status not in OPEN_STATUSES or not reached:
        return False  # replied meanwhile
    card_id = _insert_once(db, {"complaint_id": ticket.id, "level": level,
                                "due_at": ticket.due_at, "department_id": ticket.department_id,
                                "issued_at": now})  # fmt: skip
    if card_id is None:
        return False  # another scheduler issued it
    colour = "黄牌" if level == "yellow" else "红牌"
    when = "逾期未答复, 答复期限" if level == "red" else "即将到期, 答复期限"
    text = f"{colour}: 投诉 {ticket.number} {ticket.subject} {when} {_local(ticket.due_at)}"
    people = _supervisors(db) | department_leaders(db, ticket.department_id)
    _notify(db, people, level, text, now)
    _log(
        db,
        ticket,
        None,
        "warning_issued",
        now,
        {"level": level, "card": card_id, "due_at": ticket.due_at.isoformat()},
    )
    return True


def scan(now: dt.datetime | None = None) -> int:
    """Issue every complaint card that is due; return how many were issued."""
    db = session()
    found = candidates(db, now or utcnow())
    db.rollback()  # end the read; each card is its own transaction
    return sum(1 for ticket_id, level in found if issue(ticket_id, level))


def next_threshold(db: Session, now: dt.datetime) -> dt.datetime | None:
    """Return the next moment a complaint card may fall due (after `now`)."""
    open_ = Complaint.status.in_(OPEN_STATUSES)
    moments = [db.scalar(sa.select(sa.func.min(column)).where(open_, column > now))
               for column in (Complaint.yellow_at, Complaint.due_at)]  # fmt: skip
    return min((m for m in moments if m is not None), default=None)


def warnings_of(ticket: Complaint) -> list[ComplaintWarning]:
    """Return the cards a ticket received."""
    return list(session().scalars(
        sa.select(ComplaintWarning).where(ComplaintWarning.complaint_id == ticket.id)
        .order_by(ComplaintWarning.issued_at)
    ))  # fmt: skip
