"""The centre's clock: every date a person sees, prints, exports or finds in a number.

Times are stored as naive UTC (`app.db.utcnow`). What a person reads is in the centre's
zone, config CENTRE_TIMEZONE (default Asia/Shanghai): a case received at 04:00 on 5 December
in Beijing is 20:00 UTC on 4 December, and its number, notices and exports say 5 December.
This module is the one place that turns a stored time into the centre's day and clock
time, and the one place that says what day it is today in the centre (on the app's CLOCK,
so the tests can move it). It needs no database (the working-day calendar,
app.calendar.services, answers which days are worked).

tests/test_local_time.py fails if `date.today()`, `datetime.now()` without a zone or
`utcnow().date()` appear in app/ outside a listed reason.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

from .db import utcnow

DEFAULT_ZONE = "Asia/Shanghai"


def zone() -> ZoneInfo:
    """Return the centre's time zone (CENTRE_TIMEZONE)."""
    name = current_app.config.get("CENTRE_TIMEZONE") if has_app_context() else None
    return ZoneInfo(name or DEFAULT_ZONE)


def local(at: dt.datetime) -> dt.datetime:
    """Return a stored (naive UTC) time as the centre's local time, zone attached."""
    return at.replace(tzinfo=dt.UTC).astimezone(zone())


def local_naive(at: dt.datetime) -> dt.datetime:
    """Return a stored (naive UTC) time as the centre's wall-clock time, without a zone (what
    the PDF notices take)."""
    return local(at).replace(tzinfo=None)


def local_date(at: dt.datetime) -> dt.date:
    """Return the centre's calendar day of a stored (naive UTC) time."""
    return local(at).date()


def now() -> dt.datetime:
    """Return the centre's local time now (zone attached)."""
    return local(utcnow())


def today() -> dt.date:
    """Return today's date in the centre."""
    return local_date(utcnow())


def day_start(day: dt.date) -> dt.datetime:
    """Return the start of a local day of the centre as naive UTC (to compare stored times)."""
    start = dt.datetime.combine(day, dt.time(), zone())
    return start.astimezone(dt.UTC).replace(tzinfo=None)
