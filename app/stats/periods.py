"""The periods of the statistics: runs of the centre's local days, both ends included, and
their steps (day, ISO week, month, quarter, year) for the trends."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from flask_babel import gettext as _

from ..calendar.services import WorkCalendar, calendar
from ..errors import InvalidInput

UNITS = ("day", "week", "month", "quarter", "year")


def _unit(unit: str) -> str:
    if unit not in UNITS:
        raise InvalidInput(
            _(
                "the unit must be one of %(items)s",
                items=", ".join(UNITS),
            ),
            field="unit",
        )
    return unit


def bucket_start(unit: str, day: dt.date) -> dt.date:
    """Return the first day of the day, ISO week, month, quarter or year holding `day`."""
    if _unit(unit) == "day":
        return day
    if unit == "week":
        return day - dt.timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return dt.date(day.year, 1, 1)


def _next_start(unit: str, start: dt.date) -> dt.date:
    if unit == "day":
        return start + dt.timedelta(days=1)
    if unit == "week":
        return start + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    month = start.month - 1 + months
    return dt.date(start.year + month // 12, month % 12 + 1, 1)


def bucket_label(unit: str, start: dt.date) -> str:
    """Return how a bucket is named: 2026-01-05, 2026-W02, 2026-01, 2026-Q1, 2026."""
    if _unit(unit) == "day":
        return start.isoformat()
    if unit == "week":
        year, week, _day = start.isocalendar()
        return f"{year}-W{week:02d}"
    if unit == "month":
        return f"{start:%Y-%m}"
    if unit == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return str(start.year)


PERIOD_FORMS = (
    (re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"), "day"),
    (re.compile(r"^(\d{4})-W(\d{2})$"), "week"),
    (re.compile(r"^(\d{4})-(\d{2})$"), "month"),
    (re.compile(r"^(\d{4})-Q([1-4])$"), "quarter"),
    (re.compile(r"^(\d{4})$"), "year"),
)


@dataclass(frozen=True)
class Period:
    """Local days `since` to `until` of the centre, both included."""

    since: dt.date
    until: dt.date

    def __post_init__(self) -> None:
        if self.until < self.since:
            raise InvalidInput(_("the period ends before it begins"), field="until")

    @classmethod
    def of(cls, unit: str, day: dt.date) -> Period:
        """Return the day, ISO week, month, quarter or year that holds `day`."""
        start = bucket_start(unit, day)
        return cls(start, _next_start(unit, start) - dt.timedelta(days=1))

    @classmethod
    def parse(cls, text: str) -> Period:
        """Read 2026-01-05, 2026-W02, 2026-01, 2026-Q1, 2026 or 2026-01-05..2026-02-10."""
        text = (text or "").strip()
        if ".." in text:
            first, _sep, last = text.partition("..")
            return cls(cls.parse(first).since, cls.parse(last).until)
        for pattern, unit in PERIOD_FORMS:
            found = pattern.match(text)
            if found is None:
                continue
            numbers = [int(g) for g in found.groups()]
            try:
                if unit == "day":
                    day = dt.date(*numbers)
                elif unit == "week":
                    day = dt.date.fromisocalendar(numbers[0], numbers[1], 1)
                elif unit == "month":
                    day = dt.date(numbers[0], numbers[1], 1)
                elif unit == "quarter":
                    day = dt.date(numbers[0], 3 * numbers[1] - 2, 1)
                else:
                    day = dt.date(numbers[0], 1, 1)
            except ValueError:
                break
            return cls.of(unit, day)
        raise InvalidInput(_(
            "a period looks like 2026-01-05, 2026-W02, 2026-01, 2026-Q1, 2026 or "
            "2026-01-01..2026-03-31",
        ), field="period")  # fmt: skip

    def bounds(self, cal: WorkCalendar | None = None) -> tuple[dt.datetime, dt.datetime]:
        """Return the naive UTC bounds [start, end) of the period."""
        cal = cal or calendar()
        return cal.utc(self.since, dt.time()), cal.utc(self.until + dt.timedelta(days=1), dt.time())

    def days(self) -> list[dt.date]:
        """Return every day of the period."""
        count = (self.until - self.since).days + 1
        return [self.since + dt.timedelta(days=n) for n in range(count)]

    def split(self, unit: str) -> list[tuple[str, Period]]:
        """Return the days, weeks, months, quarters or years of the period, each named; the
        first and the last are cut to the period."""
        out = []
        start = bucket_start(unit, self.since)
        while start <= self.until:
            after = _next_start(unit, start)
            out.append((bucket_label(unit, start),
                        Period(max(start, self.since), min(after - dt.timedelta(days=1),
                                                           self.until))))  # fmt: skip
            start = after
        return out
