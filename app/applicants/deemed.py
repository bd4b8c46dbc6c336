"""Deemed acceptance (视为受理) of online applications, Licensing Law art. 32(1)(4).

Where materials are incomplete or not in the statutory form, the authority tells the
applicant at once or within five days, in one notice, everything to supplement (一次告知);
if it does not tell them in time, the application is accepted from the day the materials
were received (逾期不告知的，自收到申请材料之日起即为受理).

How the five days are counted: five *working* days, on the centre's working-day calendar
(statutory holidays off, make-up working days on) in the centre's time zone, exactly as
every other limit of the centre (app/calendar/services.py `due_in_days`). The law says
五日内; art. 82 says its limits of days are working days (本法规定的期限以工作日计算，不含法定
节假日), which is also how the centre's rules and most provinces apply art. 32. The day of
receipt does not count; materials received after office hours or on a day off count as
received on the next working day. The limit ends at the close of office on the fifth
working day after that day; from then on the application is deemed accepted, and the
acceptance is dated the moment the materials were received, so the case's time limits
count from there. Handed in again after supplements, an application's materials are
received anew (`submitted_at`), and the five days run from then.

What stops the clock: the one-time notice (supplements requested) or an invitation to the
window, both before the limit; the clerk's own acceptance. An application deemed accepted
is registered by the system account, through the same intake path as the clerk's
acceptance (`applications.deem`), by the scheduler's warning round (`applications.scan_deemed`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..calendar.services import calendar
from ..db import session
from ..org.models import User
from .models import OnlineApplication

REVIEW_DAYS = 5  # working days (art. 32 read with art. 82)
ARTICLE = "《中华人民共和国行政许可法》第三十二条第一款第（四）项"
RULE = "逾期不告知的，自收到申请材料之日起即为受理"
SYSTEM_USERNAME = "system"


def review_due(received_at: dt.datetime) -> dt.datetime:
    """Return the end of the five working days to tell what is missing (naive UTC)."""
    return calendar().due_in_days(received_at, REVIEW_DAYS).at


def is_due(app: OnlineApplication, now: dt.datetime) -> bool:
    """Whether an application handed in and not answered is deemed accepted at `now`."""
    return app.status == "submitted" and now > app.review_due_at


def received_day(app: OnlineApplication) -> dt.date:
    """The local day the materials were received (the acceptance's date)."""
    return calendar().local(app.submitted_at).date()


def event_data(app: OnlineApplication) -> dict:
    """What the `deemed_accepted` event says: the application, when, and the law."""
    return {
        "application": app.number,
        "received_at": app.submitted_at.isoformat(timespec="seconds"),
        "review_due_at": app.review_due_at.isoformat(timespec="seconds"),
        "legal_basis": ARTICLE,
        "rule": RULE,
    }


@dataclass(frozen=True)
class SystemActor:
    """The system account as the intake path sees it: it registers at the window (the
    clerk's role there), and nothing else; its user row has no role and cannot log in."""

    id: int
    username: str
    name: str

    def has_role(self, *roles: str) -> bool:
        return "clerk" in roles


def system_actor() -> SystemActor:
    """Return the system account, made once (inactive, no password, no role)."""
    db = session()
    query = sa.select(User).where(User.username == SYSTEM_USERNAME)
    user = db.scalars(query).first()
    if user is None:
        try:
            with db.begin_nested():  # two processes at once: one row, the other reads it
                db.add(User(username=SYSTEM_USERNAME, name="系统", password_hash="", roles="",
                            active=False))  # fmt: skip
        except IntegrityError:
            pass
        user = db.scalars(query).one()
    if user.active or user.password_hash or user.roles.strip():
        raise RuntimeError(f"the user '{SYSTEM_USERNAME}' is a real account, not the system's")
    return SystemActor(user.id, user.username, user.name)
