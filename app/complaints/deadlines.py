"""Reply deadlines and the overdue cards of complaint tickets.

Reply deadlines count working days from the centre's calendar like case limits do: the
day of receipt does not count, a ticket received after office hours or on a day off counts
from the next working day, and the reply is due at the close of office on the last day.
A ticket not replied by then gets a yellow card one working day before and a red card
after, each stored once per ticket and level, so however often the scan runs, the office
and the department's leaders are told once.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from ..calendar.services import WorkCalendar, calendar
from ..db import insert_once, session, transactional, utcnow
from .access import department_leaders, supervisors
from .history import local_text, notify, record
from .models import OPEN_STATUSES, REPLY_DAYS, Complaint, ComplaintWarning


def reply_deadline(channel: str, received_at: dt.datetime, cal: WorkCalendar | None = None
                   ) -> tuple[dt.datetime, bool, dt.datetime]:  # fmt: skip
    """Return the reply deadline, whether it is provisional, and the yellow-card time."""
    cal = cal or calendar()
    due = cal.due_in_days(received_at, REPLY_DAYS[channel])
    yellow = cal.warn_at(received_at, due.at, current_app.config.get("WARN_DAYS", 1))
    return due.at, due.provisional, yellow


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
    card_id = insert_once(db, ComplaintWarning,
                          {"complaint_id": ticket.id, "level": level, "due_at": ticket.due_at,
                           "department_id": ticket.department_id, "issued_at": now},
                          ["complaint_id", "level"])  # fmt: skip
    if card_id is None:
        return False  # another scheduler issued it
    colour = "黄牌" if level == "yellow" else "红牌"
    when = "逾期未答复, 答复期限" if level == "red" else "即将到期, 答复期限"
    text = f"{colour}: 投诉 {ticket.number} {ticket.subject} {when} {local_text(ticket.due_at)}"
    people = supervisors(db) | department_leaders(db, ticket.department_id)
    notify(db, people, level, text, now)
    record(db, ticket, None, "warning_issued", now,
           {"level": level, "card": card_id, "due_at": ticket.due_at.isoformat()})  # fmt: skip
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
