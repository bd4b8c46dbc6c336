"""A ticket's history and who is told: every action bumps the ticket's version and appends
one history row under that number, so a lost race is retried, never lost."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..calendar.services import calendar
from ..org.models import User
from ..supervision.models import Notification
from .models import Complaint, ComplaintEvent


def record(db: Session, ticket: Complaint, actor: User | None, action: str, now: dt.datetime,
           data: dict | None = None) -> None:  # fmt: skip
    """Append one history row and bump the ticket's version (its sequence number)."""
    ticket.version += 1
    db.add(ComplaintEvent(complaint_id=ticket.id, seq=ticket.version, at=now,
                          actor_id=actor.id if actor else None, action=action,
                          data=data or {}))  # fmt: skip


def notify(db: Session, people: Iterable[int], kind: str, text: str, now: dt.datetime,
           sender: User | None = None) -> None:  # fmt: skip
    """Leave one notification for each of `people`."""
    rows = [{"user_id": uid, "kind": kind, "text": text, "sender_id": sender.id if sender else None,
             "created_at": now} for uid in sorted(set(people))]  # fmt: skip
    if rows:
        db.execute(sa.insert(Notification), rows)


def local_text(at: dt.datetime) -> str:
    """A stored time as the centre's clock shows it (notifications and messages)."""
    return calendar().local(at).strftime("%Y-%m-%d %H:%M")
