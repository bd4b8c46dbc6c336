"""The complaints register's operations: register, assign, investigate, reply, archive, and
the recomputation of provisional deadlines. Each is one transaction.

Who may do what is in `access`, the checks of a new ticket's input in `intake`, deadlines
and overdue cards in `deadlines`, the reads in `queries`. Every action bumps the ticket's
version and appends one row to its history (`history.record`), so a lost race is retried,
never lost.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..calendar.services import WorkCalendar, calendar
from ..cases.models import Case
from ..clock import local_date
from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, NotFound
from ..org.models import Department, User
from . import intake
from .access import NOTE_STATUSES, department_leaders, may_investigate, require_office
from .deadlines import reply_deadline
from .history import local_text, notify, record
from .intake import MAX_TEXT, NewComplaint, invalid
from .models import (
    CHANNELS,
    OPEN_STATUSES,
    Complaint,
    ComplaintCounter,
    ComplaintEvent,
    ComplaintNote,
)


def _status_name(status: str) -> str:
    """A ticket's status in the reader's words (the register's own names)."""
    from .pages import ticket_status_name  # the pages import this module

    return ticket_status_name(status)


def _case_id(db: Session, case_no: str | None) -> int | None:
    number = (case_no or "").strip()
    if not number:
        return None
    case_id = db.scalar(sa.select(Case.id).where(Case.case_no == number[:32]))
    if case_id is None:
        raise invalid(
            "case_no", _("there is no case '%(number)s'; check the case number", number=number[:32])
        )
    return case_id


def _department(db: Session, department_id: int | None) -> Department:
    dept = db.get(Department, department_id) if department_id else None
    if dept is None:
        raise invalid("department_id", _("choose an existing department"))
    if dept.kind == "supervision":
        raise invalid("department_id", _("the supervision office registers and replies; assign "
                                         "the department the complaint concerns"))  # fmt: skip
    return dept


def _next_number(db: Session, now: dt.datetime) -> str:
    """Return the next number of the centre-local day; the counter row serialises writers."""
    day = local_date(now)
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = ComplaintCounter.__table__
    stmt = (
        insert(table)
        .values(day=day, last=1)
        .on_conflict_do_update(index_elements=[table.c.day], set_={"last": table.c.last + 1})
        .returning(table.c.last)
    )
    return f"TS-{day:%Y%m%d}-{db.execute(stmt).scalar_one():04d}"


def _for_update(db: Session, number: str) -> Complaint:
    ticket = db.scalars(
        sa.select(Complaint).where(Complaint.number == number).with_for_update()
    ).first()
    if ticket is None:
        raise NotFound(_("no complaint '%(number)s'", number=number))
    return ticket


def _assign(db: Session, actor: User, ticket: Complaint, dept: Department,
            now: dt.datetime) -> None:  # fmt: skip
    before = ticket.department_id
    if before == dept.id:
        raise invalid("department_id", _("the ticket is already with %(name)s", name=dept.name))
    ticket.department_id = dept.id
    ticket.status = "assigned"
    data = {"department_id": dept.id, "department": dept.name}
    if before is not None:
        data["from_department_id"] = before
    record(db, ticket, actor, "reassigned" if before else "assigned", now, data)
    text = f"投诉 {ticket.number}: {ticket.subject} — 请于 {local_text(ticket.due_at)} 前查明情况"
    notify(db, department_leaders(db, dept.id), "complaint", text, now, actor)


@transactional
def register(actor: User, new: NewComplaint) -> Complaint:
    """Register a complaint; assign it at once if a department is given."""
    require_office(actor, _("registers complaints"))
    return write_ticket(actor, new, {})


def write_ticket(actor: User, new: NewComplaint, noted: dict) -> Complaint:
    """Check and write a new ticket registered by `actor` (the office, or the system account
    for the public's own entries), its first history row saying `noted` besides the channel,
    case and deadline; assign it if a department is given. The caller checks who may."""
    db = session()
    now = utcnow()
    intake.one_of("channel", new.channel, CHANNELS)
    name = intake.text(new.complainant_name, "complainant_name", 100)
    phone = intake.phone(new.complainant_phone, new.channel)
    subject = intake.text(new.subject, "subject", 200)
    content = intake.text(new.content, "content", MAX_TEXT)
    received_at = intake.received_at(new.received_at, now)
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
    # the first history row: the ticket is written with version 1 (no bump, no update)
    data = {"channel": new.channel, "case_no": (new.case_no or "").strip(),
            "due_at": due_at.isoformat(), "provisional": provisional, **noted}  # fmt: skip
    db.add(ComplaintEvent(complaint_id=ticket.id, seq=1, at=now, actor_id=actor.id,
                          action="registered", data=data))  # fmt: skip
    if dept is not None:
        _assign(db, actor, ticket, dept, now)
    return ticket


@transactional
def assign(actor: User, number: str, department_id: int | None) -> Complaint:
    """Give a ticket to the department it concerns (or move it to another one)."""
    require_office(actor, _("assigns complaints"))
    db = session()
    ticket = _for_update(db, number)
    if ticket.status not in OPEN_STATUSES:
        raise Conflict(
            _(
                "complaint %(number)s is %(status)s; it can no longer be assigned",
                number=number,
                status=_status_name(ticket.status),
            )
        )
    _assign(db, actor, ticket, _department(db, department_id), utcnow())
    return ticket


@transactional
def add_note(actor: User, number: str, text: str) -> ComplaintNote:
    """Record what the department found; the ticket is under investigation from then on."""
    db = session()
    ticket = _for_update(db, number)
    if not may_investigate(actor, ticket):
        raise Forbidden(_("only the department the complaint is assigned to investigates it"))
    if ticket.status not in NOTE_STATUSES:
        raise Conflict(_(
            "complaint %(number)s is %(status)s; notes are taken while it is assigned or under "
            "investigation",
            number=number,
            status=_status_name(ticket.status),
        ))  # fmt: skip
    body = intake.text(text, "note", MAX_TEXT)
    now = utcnow()
    note = ComplaintNote(complaint_id=ticket.id, author_id=actor.id, at=now, text=body)
    db.add(note)
    db.flush()
    ticket.status = "investigating"
    record(db, ticket, actor, "note_added", now, {"note_id": note.id})
    return note


@transactional
def reply(actor: User, number: str, text: str) -> Complaint:
    """Record the office's reply to the complainant (the ticket counts as completed)."""
    require_office(actor, _("replies to complainants"))
    db = session()
    ticket = _for_update(db, number)
    if ticket.status != "investigating":
        hint = {"registered": _("assign it first"),
                "assigned": _("the department has not yet reported what it found")}.get(
            ticket.status, _("it has been replied to"))  # fmt: skip
        raise Conflict(
            _(
                "complaint %(number)s is %(status)s; %(hint)s",
                number=number,
                status=_status_name(ticket.status),
                hint=hint,
            )
        )
    body = intake.text(text, "reply", MAX_TEXT)
    now = utcnow()
    ticket.reply, ticket.replied_at, ticket.replied_by_id = body, now, actor.id
    ticket.status = "replied"
    record(db, ticket, actor, "replied", now, {"on_time": now <= ticket.due_at})
    return ticket


@transactional
def archive(actor: User, number: str) -> Complaint:
    """File a replied ticket away (归档)."""
    require_office(actor, _("archives complaints"))
    db = session()
    ticket = _for_update(db, number)
    if ticket.status != "replied":
        raise Conflict(
            _(
                "complaint %(number)s is %(status)s; only a replied one is archived",
                number=number,
                status=_status_name(ticket.status),
            )
        )
    now = utcnow()
    ticket.archived_at, ticket.archived_by_id = now, actor.id
    ticket.status = "archived"
    record(db, ticket, actor, "archived", now)
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
        record(db, ticket, None, "due_recomputed", now, data)
        changed += 1
    db.flush()
    return changed
