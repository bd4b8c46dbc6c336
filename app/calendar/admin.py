"""Adding a year to the working-day calendar (from the State Council's annual notice)."""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from flask_babel import gettext as _

from ..db import session, transactional
from ..errors import Conflict, Forbidden, InvalidInput
from ..org.models import User
from .models import CalendarDay, CalendarYear
from .services import forget, load

log = logging.getLogger("onewindow.calendar")
NAME_MAX = CalendarDay.__table__.c.name.type.length  # a longer name was a 500 on PostgreSQL


def parse_days(text: str, year: int) -> list[tuple[dt.date, str]]:
    """Read lines like '2027-01-01 元旦' or '2027-02-10..2027-02-16 春节'; name every error
    with its line number."""
    days: list[tuple[dt.date, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        span, _sep, name = line.partition(" ")
        first, _dots, last = span.partition("..")
        try:
            start = dt.date.fromisoformat(first)
            end = dt.date.fromisoformat(last) if last else start
        except ValueError:
            raise InvalidInput(_(
                "line %(number)s: '%(span)s' is not a date like 2027-01-01 or a range like "
                "2027-02-10..2027-02-16",
                number=number,
                span=span,
            )) from None  # fmt: skip
        if end < start or (end - start).days > 31:
            raise InvalidInput(
                _(
                    "line %(number)s: the range must run forward and span a month at most",
                    number=number,
                )
            )
        if start.year != year or end.year != year:
            raise InvalidInput(
                _(
                    "line %(number)s: %(span)s is not in %(year)s",
                    number=number,
                    span=span,
                    year=year,
                )
            )
        name = name.strip()
        if len(name) > NAME_MAX:
            raise InvalidInput(
                _(
                    "line %(number)s: the name is longer than %(NAME_MAX)s characters",
                    number=number,
                    NAME_MAX=NAME_MAX,
                )
            )
        day = start
        while day <= end:
            days.append((day, name))
            day += dt.timedelta(days=1)
    return days


@transactional
def add_year(actor: User, year: int, source: str, holidays: list[tuple[dt.date, str]],
             workdays: list[tuple[dt.date, str]]) -> int:  # fmt: skip
    """Store a year's holidays and make-up working days; recompute every provisional due
    date; return how many cases' dates changed."""
    from ..cases.deadlines import recompute_provisional

    if not actor.has_role("admin"):
        raise Forbidden(_("only an admin adds a calendar year"))
    if not 2000 <= year <= 2100:
        raise InvalidInput(_("the year must lie between 2000 and 2100"))
    if not (source or "").strip():
        raise InvalidInput(_("say where the dates come from (the State Council notice)"))
    db = session()
    if db.get(CalendarYear, year) is not None:
        raise Conflict(_("%(year)s is already in the calendar", year=year))
    both = {d for d, _ in holidays} & {d for d, _ in workdays}
    if both:
        raise InvalidInput(
            _(
                "%(day)s is listed both as a holiday and as a working day",
                day=min(both),
            )
        )
    weekday_work = [d for d, _ in workdays if d.weekday() < 5]
    if weekday_work:
        raise InvalidInput(
            _(
                "%(value)s is a weekday; make-up working days fall on weekends",
                value=weekday_work[0],
            )
        )
    db.add(CalendarYear(year=year, source=source.strip(), added_by_id=actor.id))
    span = CalendarDay.day.between(dt.date(year, 1, 1), dt.date(year, 12, 31))
    db.execute(sa.delete(CalendarDay).where(span))
    rows = [{"day": d, "kind": "holiday", "name": n} for d, n in holidays]
    rows += [{"day": d, "kind": "workday", "name": n} for d, n in workdays]
    if rows:
        db.execute(sa.insert(CalendarDay), rows)
    db.flush()
    forget()
    changed = recompute_provisional(db, load(db))
    from ..complaints.services import recompute_provisional as recompute_tickets

    tickets = recompute_tickets(db, load(db))
    # working days taken by past cases may change: the statistics cache re-rolls from the
    # year before (the next round of the scheduler does it)
    from ..stats.tables import StatRoll

    db.execute(sa.delete(StatRoll).where(StatRoll.day >= dt.date(year - 1, 1, 1)))
    log.info("calendar year %d added by %s; %d cases and %d complaints recomputed", year,
             actor.username, changed, tickets)  # fmt: skip
    return changed
