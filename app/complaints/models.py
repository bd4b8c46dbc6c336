"""Complaint tickets, their investigation notes, history, warnings and daily numbering."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, partial_index, utcnow
from ..privacy import Encrypted

# phone: the 12345 hotline or the office's own line; visit: in person at the office
CHANNELS = ("phone", "letter", "online", "visit")
# working days to reply: spoken complaints in 3, written ones in 7
REPLY_DAYS = {"phone": 3, "visit": 3, "letter": 7, "online": 7}
STATUSES = ("registered", "assigned", "investigating", "replied", "archived")
OPEN_STATUSES = ("registered", "assigned", "investigating")
OPEN_SQL = "status IN (" + ", ".join(f"'{s}'" for s in OPEN_STATUSES) + ")"
ACTIONS = ("registered", "assigned", "reassigned", "note_added", "replied", "archived",
           "warning_issued", "due_recomputed")  # fmt: skip


class Complaint(Base):
    """One complaint ticket (投诉件): who complained, about what, and how it was handled."""

    __tablename__ = "complaints"
    __table_args__ = (
        sa.Index("ix_complaints_received_at", "received_at"),
        sa.Index("ix_complaints_department", "department_id", "received_at"),
        sa.Index("ix_complaints_case", "case_id"),
        # the overdue scan: open tickets by reply deadline
        partial_index("ix_complaints_open_due", "due_at", where=OPEN_SQL),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(24), unique=True)  # TS-20261123-0001
    channel: Mapped[str] = mapped_column(sa.String(12))
    received_at: Mapped[dt.datetime]
    registered_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    registered_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    complainant_name: Mapped[str] = mapped_column(sa.String(100))
    complainant_phone: Mapped[str | None] = mapped_column(Encrypted)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"))
    subject: Mapped[str] = mapped_column(sa.String(200))
    content: Mapped[str] = mapped_column(sa.Text)
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))
    status: Mapped[str] = mapped_column(sa.String(16))
    due_at: Mapped[dt.datetime]  # reply deadline (close of office on the last working day)
    due_provisional: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    yellow_at: Mapped[dt.datetime]  # one working day before the deadline
    reply: Mapped[str | None] = mapped_column(sa.Text)
    replied_at: Mapped[dt.datetime | None]
    replied_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    archived_at: Mapped[dt.datetime | None]
    archived_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # bumped by every action; the history's sequence number; a lost race is retried
    version: Mapped[int] = mapped_column(default=0)

    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class ComplaintNote(Base):
    """An investigation note by the department concerned (append-only)."""

    __tablename__ = "complaint_notes"
    __table_args__ = (sa.Index("ix_complaint_notes_ticket", "complaint_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(sa.ForeignKey("complaints.id"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[dt.datetime]
    text: Mapped[str] = mapped_column(sa.Text)


class ComplaintEvent(Base):
    """One action on a ticket: who, when, what (append-only; `seq` counts from 1)."""

    __tablename__ = "complaint_events"
    __table_args__ = (sa.UniqueConstraint("complaint_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(sa.ForeignKey("complaints.id"))
    seq: Mapped[int]
    at: Mapped[dt.datetime]
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))  # None: the system
    action: Mapped[str] = mapped_column(sa.String(24))
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)


class ComplaintWarning(Base):
    """A yellow or red card of a ticket; the database keeps one per ticket and level."""

    __tablename__ = "complaint_warnings"
    __table_args__ = (sa.UniqueConstraint("complaint_id", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(sa.ForeignKey("complaints.id"))
    level: Mapped[str] = mapped_column(sa.String(8))  # yellow | red
    due_at: Mapped[dt.datetime]
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))
    issued_at: Mapped[dt.datetime]


class ComplaintCounter(Base):
    """The last ticket number given on a (centre-local) day."""

    __tablename__ = "complaint_counters"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    last: Mapped[int] = mapped_column(default=0)
