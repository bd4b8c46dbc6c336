"""Renewal reminders and expiry, run by the scheduler's warning round.

A licence in force whose reminder day (`remind_on`, a working day the registry worked out
from the item's terms: app.licences.registry.remind_day) has come is reminded once: a
message to the holder's account, if they have one, and to the heads of the issuing
authority, and an entry in the licence's history. A licence in force past its last day is
marked expired (its cancellation, art. 70, is a case of its own). Each licence is its own
transaction, written only if no other round did it first: two schedulers remind once.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_babel import gettext as _

from ..clock import day_start, today
from ..db import session, utcnow
from ..org.models import DepartmentHead
from ..supervision.models import Notification
from .models import IN_FORCE, Licence, LicenceEvent


def scan(now: dt.datetime | None = None) -> int:
    """Mark the licences past their term expired and send the reminders due; return how
    many reminders were sent."""
    now = now or utcnow()
    day = today()
    db = session()
    expired = db.scalars(sa.select(Licence.id).where(Licence.status == IN_FORCE,
                                                     Licence.valid_until < day)).all()  # fmt: skip
    due = db.scalars(sa.select(Licence.id).where(
        Licence.status == IN_FORCE, Licence.reminded_at.is_(None), Licence.remind_on <= day,
        sa.or_(Licence.valid_until.is_(None), Licence.valid_until >= day))).all()  # fmt: skip
    db.rollback()  # end the read; each licence is its own transaction
    for licence_id in expired:
        _expire(licence_id, now)
    return sum(1 for licence_id in due if _remind(licence_id, now))


def _expire(licence_id: int, now: dt.datetime) -> None:
    db = session()
    done = db.execute(sa.update(Licence).where(Licence.id == licence_id,
                                               Licence.status == IN_FORCE)
                      .values(status="expired", status_at=now)).rowcount  # fmt: skip
    if done:
        db.add(LicenceEvent(licence_id=licence_id, at=now, kind="expired", data={}))
    db.commit()


def _remind(licence_id: int, now: dt.datetime) -> bool:
    db = session()
    done = db.execute(sa.update(Licence).where(Licence.id == licence_id,
                                               Licence.reminded_at.is_(None))
                      .values(reminded_at=now)).rowcount  # fmt: skip
    if not done:
        db.rollback()
        return False
    lic = db.get(Licence, licence_id)
    text = _(
        "Licence %(number)s (%(title)s) is valid until %(day)s. A renewal is applied for at "
        "least %(days)d days before it ends (Licensing Law art. 50), at the window or online.",
        number=lic.number, title=lic.title, day=lic.valid_until.isoformat()
        if lic.valid_until else "—", days=_renew_days(lic),
    )  # fmt: skip
    heads = db.scalars(sa.select(DepartmentHead.user_id)
                       .where(DepartmentHead.department_id == lic.authority_id)).all()  # fmt: skip
    people = list(dict.fromkeys([u for u in [lic.holder_user_id, *heads] if u]))
    for user_id in people:
        db.add(Notification(user_id=user_id, kind="licence", text=text, created_at=now))
    db.add(LicenceEvent(licence_id=licence_id, at=now, kind="reminded",
                        data={"to": people, "valid_until": lic.valid_until.isoformat()
                              if lic.valid_until else None}))  # fmt: skip
    db.commit()
    return True


def _renew_days(lic: Licence) -> int:
    from ..catalogue.models import Item
    from .registry import Terms

    entry = session().scalar(sa.select(Item.entry).where(Item.id == lic.item_id)) or {}
    return Terms.of(entry).renew_before_days


def next_threshold(now: dt.datetime) -> dt.datetime | None:
    """The next moment a reminder falls due or a licence expires: the start of that local
    day (after `now`)."""
    db = session()
    remind = db.scalar(sa.select(sa.func.min(Licence.remind_on)).where(
        Licence.status == IN_FORCE, Licence.reminded_at.is_(None)))  # fmt: skip
    last = db.scalar(sa.select(sa.func.min(Licence.valid_until)).where(Licence.status == IN_FORCE))
    moments = [day_start(remind) if remind else None,
               day_start(last + dt.timedelta(days=1)) if last else None]  # fmt: skip
    return min((m for m in moments if m is not None and m > now), default=None)
