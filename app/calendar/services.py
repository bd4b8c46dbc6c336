"""Working days and due dates.

A day is a working day when it is a make-up working day (调休上班), or a weekday that is
not a statutory holiday. Only years in `calendar_years` are known (from the State
Council's annual notice). A day of another year counts by the fallback of fallback.py: the
law's fixed days off (《全国年节及纪念日放假办法》 as revised in 2024: 元旦, 春节 with 除夕,
清明, 劳动节, 端午, 中秋, 国庆, and the weekday that makes up one falling on a weekend) and
the weekends; a computation that reaches such a day says it is provisional, and such due
dates are recomputed when the year is added.

Counting follows the Licensing Law: the day of acceptance does not count; a case accepted
after office hours, or on a day off, counts as accepted on the next working day. A limit
of N working days ends at the close of office on the N-th working day after that day; a
limit of 0 (即办件) at the close of office on that day. A limit in hours runs through office
hours only.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from ..db import session
from . import fallback
from .models import CalendarDay, CalendarYear

PACKAGE_SOURCE = "chinese-calendar {version} (国务院办公厅节假日安排通知)"


@dataclass(frozen=True)
class Due:
    """A due time (naive UTC) and whether it rests on a year the calendar does not know."""

    at: dt.datetime
    provisional: bool


class WorkCalendar:
    """Answers working-day questions in the centre's time zone and office hours."""

    def __init__(self, years: set[int], holidays: dict[dt.date, str],
                 workdays: dict[dt.date, str], zone: str, office: str) -> None:  # fmt: skip
        self.years = frozenset(years)
        self.holidays = holidays
        self.workdays = workdays
        self.zone = ZoneInfo(zone)
        opens, closes = office.split("-")
        self.opens = dt.time.fromisoformat(opens.strip())
        self.closes = dt.time.fromisoformat(closes.strip())

    # --- days ---------------------------------------------------------------------------

    def known(self, day: dt.date) -> bool:
        """Return whether the day's year has a published calendar here."""
        return day.year in self.years

    def is_working_day(self, day: dt.date) -> bool:
        """Return whether the centre works on `day` (for a day of a year not known here,
        by the law's fixed days off and the weekends: see fallback.py)."""
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        if not self.known(day) and day in fallback.days_off(day.year):
            return False
        return day.weekday() < 5

    def day_off(self, day: dt.date) -> tuple[str, bool] | None:
        """Return the name of the holiday on `day` and whether it is provisional (from the
        fallback of a year not published yet), or None for a working day or a plain
        weekend."""
        if day in self.workdays:
            return None
        if day in self.holidays:
            return self.holidays[day], False
        if not self.known(day) and day in fallback.days_off(day.year):
            return fallback.days_off(day.year)[day], True
        return None

    def provisional_days_off(self, year: int) -> dict[dt.date, str]:
        """Return the fallback's days off of a year not known here (empty for a known one)."""
        return {} if year in self.years else dict(fallback.days_off(year))

    def next_working_day(self, day: dt.date) -> tuple[dt.date, bool]:
        """Return the first working day after `day`, and whether an unknown year was crossed."""
        provisional = False
        while True:
            day += dt.timedelta(days=1)
            provisional |= not self.known(day)
            if self.is_working_day(day):
                return day, provisional

    def add_working_days(self, day: dt.date, count: int) -> tuple[dt.date, bool]:
        """Return the `count`-th working day after `day` (or `day` itself for 0)."""
        provisional = not self.known(day)
        for _ in range(count):
            day, crossed = self.next_working_day(day)
            provisional |= crossed
        return day, provisional

    def working_days_between(self, start: dt.datetime, end: dt.datetime) -> int:
        """Return the working days from the local day of `start` up to, not including, the
        local day of `end` (how long a pause lasted, in working days)."""
        day, last = self.local(start).date(), self.local(end).date()
        count = 0
        while day < last:
            count += self.is_working_day(day)
            day += dt.timedelta(days=1)
        return count

    # --- times --------------------------------------------------------------------------

    @property
    def office_day(self) -> dt.timedelta:
        """Return the length of one day's office hours."""
        return dt.datetime.combine(dt.date.min, self.closes) - dt.datetime.combine(
            dt.date.min, self.opens
        )

    def office_time_between(self, start: dt.datetime, end: dt.datetime) -> dt.timedelta:
        """Return the office time on working days between two stored (naive UTC) times."""
        if end <= start:
            return dt.timedelta(0)
        first, last = self.local(start), self.local(end)
        total = dt.timedelta(0)
        day = first.date()
        while day <= last.date():
            if self.is_working_day(day):
                opens = dt.datetime.combine(day, self.opens, self.zone)
                closes = dt.datetime.combine(day, self.closes, self.zone)
                lo, hi = max(opens, first), min(closes, last)
                if hi > lo:
                    total += hi - lo
            day += dt.timedelta(days=1)
        return total

    def local(self, at: dt.datetime) -> dt.datetime:
        """Return a stored (naive UTC) time in the centre's zone."""
        return at.replace(tzinfo=dt.UTC).astimezone(self.zone)

    def utc(self, day: dt.date, clock: dt.time) -> dt.datetime:
        """Return the naive UTC time of a local day and clock time."""
        return dt.datetime.combine(day, clock, self.zone).astimezone(dt.UTC).replace(tzinfo=None)

    def counting_day(self, at: dt.datetime) -> tuple[dt.date, bool]:
        """Return the day a limit counts from: the local day of `at` if it is a working day
        and office hours have not closed, else the next working day."""
        local = self.local(at)
        day = local.date()
        if self.is_working_day(day) and local.time() < self.closes:
            return day, not self.known(day)
        return self.next_working_day(day)

    def due_in_days(self, at: dt.datetime, days: int) -> Due:
        """Return the close of office on the `days`-th working day after the counting day."""
        start, provisional = self.counting_day(at)
        day, crossed = self.add_working_days(start, max(0, int(days)))
        return Due(self.utc(day, self.closes), provisional or crossed)

    def due_in_hours(self, at: dt.datetime, hours: float) -> Due:
        """Return the moment `hours` of office time after `at`."""
        left = dt.timedelta(hours=hours)
        local = self.local(at)
        day, now = local.date(), local.time()
        provisional = not self.known(day)
        if not self.is_working_day(day) or now >= self.closes:
            day, crossed = self.next_working_day(day)
            provisional |= crossed
            now = self.opens
        now = max(now, self.opens)
        while True:
            room = dt.datetime.combine(day, self.closes) - dt.datetime.combine(day, now)
            if left <= room:
                moment = (dt.datetime.combine(day, now) + left).time()
                return Due(self.utc(day, moment), provisional)
            left -= room
            day, crossed = self.next_working_day(day)
            provisional |= crossed
            now = self.opens

    def due(self, at: dt.datetime, limit: tuple[float, str]) -> Due:
        """Return the due time of a limit such as (3, 'd') or (4, 'h') counted from `at`."""
        value, unit = limit
        return self.due_in_hours(at, value) if unit == "h" else self.due_in_days(at, int(value))

    def shift(self, due: Due, days: int) -> Due:
        """Move a due time `days` working days later, keeping its clock time (a resumed
        pause, an extension)."""
        if days <= 0:
            return due
        local = self.local(due.at)
        day, crossed = self.add_working_days(local.date(), days)
        return Due(self.utc(day, local.time()), due.provisional or crossed)

    def warn_at(self, start: dt.datetime, due: dt.datetime, days: int = 1) -> dt.datetime:
        """Return when a yellow card is due: `days` working days before `due` (for limits
        shorter than that, halfway from `start`)."""
        local = self.local(due)
        day = local.date()
        for _ in range(days):
            day -= dt.timedelta(days=1)
            while not self.is_working_day(day):
                day -= dt.timedelta(days=1)
        moment = self.utc(day, local.time())
        return moment if moment > start else start + (due - start) / 2


def load(db, zone: str | None = None, hours: str | None = None) -> WorkCalendar:
    """Read the calendar from the database (the zone and office hours: the app's, unless
    given, as a migration does)."""
    years = set(db.scalars(sa.select(CalendarYear.year)))
    holidays, workdays = {}, {}
    for day, kind, name in db.execute(
        sa.select(CalendarDay.day, CalendarDay.kind, CalendarDay.name)
    ):
        (workdays if kind == "workday" else holidays)[day] = name
    if zone is None or hours is None:
        zone, hours = current_app.config["CENTRE_TIMEZONE"], current_app.config["OFFICE_HOURS"]
    return WorkCalendar(years, holidays, workdays, zone, hours)


def calendar() -> WorkCalendar:
    """Return this process's calendar, read again after CALENDAR_CACHE_SECONDS (if set)."""
    app = current_app
    cached = app.extensions.get("ow_calendar")
    ttl = app.config.get("CALENDAR_CACHE_SECONDS")
    if cached is not None and (ttl is None or time.monotonic() - cached[0] < ttl):
        return cached[1]
    fresh = load(session())
    app.extensions["ow_calendar"] = (time.monotonic(), fresh)
    return fresh


def forget() -> None:
    """Drop this process's calendar (it changed)."""
    current_app.extensions.pop("ow_calendar", None)


def seed_from_package(db) -> list[int]:
    """Store every year the chinese-calendar package knows and this database does not."""
    import chinese_calendar
    from chinese_calendar import constants

    have = set(db.scalars(sa.select(CalendarYear.year)))
    known = {d.year for d in constants.holidays} | {d.year for d in constants.workdays}
    added = sorted(known - have)
    if not added:
        return []
    source = PACKAGE_SOURCE.format(version=chinese_calendar.__version__)
    db.add_all(CalendarYear(year=year, source=source) for year in added)
    rows = [
        {"day": day, "kind": kind, "name": str(name)}
        for table, kind in ((constants.holidays, "holiday"), (constants.workdays, "workday"))
        for day, name in table.items()
        if day.year in added
    ]
    existing = set(db.scalars(sa.select(CalendarDay.day).where(
        CalendarDay.day.in_([r["day"] for r in rows]))))  # fmt: skip
    db.execute(sa.insert(CalendarDay), [r for r in rows if r["day"] not in existing])
    # as when a year is added by hand: the statistics cache's days these years can change
    # are rolled again (app.calendar.admin.add_year)
    from ..stats.tables import StatRoll

    db.execute(sa.delete(StatRoll).where(StatRoll.day >= dt.date(min(added) - 1, 1, 1)))
    return added
