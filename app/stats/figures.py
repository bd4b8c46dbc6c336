"""The register of figures (“五制”登记): what the centre received, accepted and completed, how
fast and how well, per period and per item, item kind, department, window or official.

Every figure is counted from the cases and their events (the one source of truth). A period
is a run of the centre's local days, both ends included; a moment belongs to the local day
it falls on. A case is counted under its item, the item's kind and the item's department
(as the catalogue has it now), and under the window clerk who received it.

    received              cases received (`received_at`) in the period
    accepted              cases accepted (`accepted_at`) in the period
    supplements           cases whose first request for supplements (一次性告知,
                          `supplement_required` event) falls in the period
    refused               cases refused (不予受理, `case_refused` event) in the period
    approved / denied     cases decided (`decided_at`) in the period, by decision
    completed (办结)       approved + denied
    withdrawn             cases withdrawn (`case_withdrawn` event) in the period
    still open (在办)      cases accepted before the end of the period and neither decided nor
                          withdrawn nor closed by then (a snapshot at the period's end)
    commitment notices    cases whose first commitment notice (承诺通知单, `notice_issued`
                          event of kind commitment) was issued in the period
    completion rate (办结率) completed / accepted, in per cent; none when nothing was accepted
    on time, promised     completed cases decided by their promised due time (`due_at`, as
                          moved by pauses and extensions); the rate is on time / completed
    on time, statutory    the same against the statutory due time (`statutory_due_at`)
    working days taken    per completed case: the working days from the local day of
                          acceptance up to (not including) the local day of the decision,
                          less the case's paused working days, at least 0; the average and
                          the 90th percentile (nearest rank) over the cases completed
    paused days           working days of pauses that ended (`case_resumed`) in the period
    extensions            extensions granted (`case_extended` events) in the period
    yellow / red          warning cards issued (`warning_issued` events, task and case cards)
    evaluations 5..1      first ratings (`evaluated` events, i.e. round-1 evaluations) made in
                          the period, by level, under the rated case's item (and so its
                          department now; the evaluation's own department column differs
                          only for an item that has since moved department)
    complaints            tickets received in the period, completed, replied by their
                          deadline (app.complaints.figures); counted per the department the
                          ticket is assigned to, so only the total and department rows
                          carry them, and only without an item or kind filter

Supplements and commitment notices count a case once, on the day of its first such event:
a second request or a reprinted notice on a later day is not a new case, and so the
figure of a month is the sum of the figures of its days (the rollup cache relies on it).

The task figures (`TaskFigures`) count the user tasks completed in the period: how many,
how many of those with a stage limit were completed by it (`completed_at ≤ due_at`), and
the office time they took (`created_at` to `completed_at`, in office days of the
calendar). The official grouping counts the tasks each person completed and carries the
task figures only; the other groupings count the tasks of their cases.

Regions (the levels one installation serves: township, county, city, province) roll up the
same way: a case counts under the region of its item's department, and with `roll_up` under
every region above it too; a region filter takes the region and every region below it.

Departments roll up their tree: with `roll_up` a department's row counts the items of the
department and of every department below it; without, its own items only. A department
filter takes the department and every department below it.

Every figure except still open, the 90th percentile, the complaints and the task figures
is summable over days and items: the rollup cache (app.stats.rollup) keeps those per day.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from ..audit.models import Event
from ..calendar.services import WorkCalendar, calendar
from ..cases.models import OPEN_CASE_STATUSES, Case, Task
from ..catalogue.models import ITEM_KINDS, Item
from ..catalogue.stuck import nearest_rank
from ..complaints import figures as complaint_figures
from ..complaints.figures import rate
from ..db import session, utcnow
from ..errors import InvalidInput
from ..org.models import Department, Region, User

GROUPINGS = ("total", "item", "kind", "department", "region", "window", "official")
UNITS = ("day", "week", "month", "quarter", "year")
KIND_LABELS = {"immediate": "即办件", "promised": "承诺件", "joint": "联办件", "reported": "上报件"}
TOTAL_LABEL = "合计"
NO_WINDOW = "—"
LEVELS = (5, 4, 3, 2, 1)
# the figures the rollup cache keeps per day, item and window (all of them sums)
SUMMABLE = (
    "received", "accepted", "supplements", "refused", "approved", "denied", "withdrawn",
    "commitment_notices", "on_time_promised", "on_time_statutory", "days_taken_sum",
    "paused_days", "extensions", "yellow", "red", "eval_5", "eval_4", "eval_3", "eval_2",
    "eval_1",
)  # fmt: skip
# event types counted once per case (their first one), and the others the register reads
FIRST_ONLY = {"supplement_required": "supplements", "notice_issued": "commitment_notices"}
EVENT_FIGURES = {
    "case_refused": "refused",
    "case_withdrawn": "withdrawn",
    "case_resumed": "paused_days",
    "case_extended": "extensions",
}
COUNTED_EVENTS = (*FIRST_ONLY, *EVENT_FIGURES, "warning_issued", "evaluated")


def _mean(total: float, count: int, places: str = "0.1") -> Decimal | None:
    """Return total/count rounded half up to `places`, None if count is 0."""
    if not count:
        return None
    return (Decimal(total) / Decimal(count)).quantize(Decimal(places), ROUND_HALF_UP)


# --- periods ---------------------------------------------------------------------------------


def _unit(unit: str) -> str:
    if unit not in UNITS:
        raise InvalidInput(f"the unit must be one of {', '.join(UNITS)}", field="unit")
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
        year, week, _ = start.isocalendar()
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
            raise InvalidInput("the period ends before it begins", field="until")

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
            first, _, last = text.partition("..")
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
        raise InvalidInput("a period looks like 2026-01-05, 2026-W02, 2026-01, 2026-Q1, 2026 "
                           "or 2026-01-01..2026-03-31", field="period")  # fmt: skip

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


@dataclass(frozen=True)
class Filters:
    """What the figures are narrowed to: one item, one item kind, one department (with
    every department below it, by the item's department)."""

    item_id: int | None = None
    kind: str | None = None
    department_id: int | None = None
    region_id: int | None = None  # a region and every region below it (by the departments)

    @property
    def by_item(self) -> bool:
        """Whether the filter picks items (complaints belong to no item)."""
        return self.item_id is not None or self.kind is not None


# --- the figures -------------------------------------------------------------------------------


@dataclass
class Figures:
    """The case figures of one row (see the module's definitions)."""

    received: int = 0
    accepted: int = 0
    supplements: int = 0
    refused: int = 0
    approved: int = 0
    denied: int = 0
    withdrawn: int = 0
    commitment_notices: int = 0
    on_time_promised: int = 0
    on_time_statutory: int = 0
    days_taken_sum: int = 0
    paused_days: int = 0
    extensions: int = 0
    yellow: int = 0
    red: int = 0
    eval_5: int = 0
    eval_4: int = 0
    eval_3: int = 0
    eval_2: int = 0
    eval_1: int = 0
    # not summable: always computed from the cases (None where not computed)
    still_open: int | None = None
    days_taken_p90: int | None = None
    complaints: complaint_figures.Figures | None = None
    days_taken: list[int] = field(default_factory=list, repr=False, compare=False)

    @property
    def completed(self) -> int:
        """办结: approved + denied."""
        return self.approved + self.denied

    @property
    def completion_rate(self) -> Decimal | None:
        """办结率: completed / accepted, in per cent."""
        return rate(self.completed, self.accepted)

    @property
    def on_time_rate_promised(self) -> Decimal | None:
        """Completed by the promised due time / completed, in per cent."""
        return rate(self.on_time_promised, self.completed)

    @property
    def on_time_rate_statutory(self) -> Decimal | None:
        """Completed by the statutory due time / completed, in per cent."""
        return rate(self.on_time_statutory, self.completed)

    @property
    def days_taken_avg(self) -> Decimal | None:
        """The average working days taken by the completed cases (one decimal)."""
        return _mean(self.days_taken_sum, self.completed)

    @property
    def evaluations(self) -> dict[int, int]:
        """First ratings by level, 5 (非常满意) to 1 (非常不满意)."""
        return {level: getattr(self, f"eval_{level}") for level in LEVELS}

    @property
    def evaluated(self) -> int:
        """How many first ratings were made."""
        return sum(self.evaluations.values())

    def count(self, name: str, value: int = 1) -> None:
        """Add one fact."""
        setattr(self, name, getattr(self, name) + value)
        if name == "days_taken_sum":
            self.days_taken.append(value)

    def merge(self, other: Figures) -> None:
        """Add another row's figures (its sums, its days taken and its snapshot)."""
        for name in SUMMABLE:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.days_taken.extend(other.days_taken)
        if other.still_open is not None:
            self.still_open = (self.still_open or 0) + other.still_open

    def summable(self) -> dict[str, int]:
        """Return the summable figures by name (what the cache keeps)."""
        return {name: getattr(self, name) for name in SUMMABLE}


@dataclass
class TaskFigures:
    """The user tasks completed in the period."""

    completed: int = 0
    with_limit: int = 0  # had a stage limit (due time)
    on_time: int = 0  # completed by it
    office_days_sum: float = 0.0

    @property
    def on_time_rate(self) -> Decimal | None:
        """On time / with a limit, in per cent."""
        return rate(self.on_time, self.with_limit)

    @property
    def office_days_avg(self) -> Decimal | None:
        """The average office days a task took (two decimals)."""
        return _mean(self.office_days_sum, self.completed, "0.01")

    def merge(self, other: TaskFigures) -> None:
        """Add another row's task figures."""
        self.completed += other.completed
        self.with_limit += other.with_limit
        self.on_time += other.on_time
        self.office_days_sum += other.office_days_sum


@dataclass
class Row:
    """One line of the register: a key (item id, kind, department id, user id or "total"),
    its code and label, the case figures and the task figures.

    The official grouping has no case figures (`figures` is None); figures read from the
    rollup cache have no task figures (`tasks` is None). Department rows carry their depth
    in the shown tree and the key of the nearest shown department above them.
    """

    key: int | str
    code: str
    label: str
    figures: Figures | None
    tasks: TaskFigures | None
    depth: int = 0
    parent: int | None = None


@dataclass
class Point:
    """One step of a time series: the bucket's name, its days and its rows."""

    label: str
    period: Period
    rows: list[Row]


# --- facts -----------------------------------------------------------------------------------


class Fact(NamedTuple):
    """One thing counted: on a local day, for a case of an item received at a window."""

    day: dt.date
    item_id: int
    window_id: int  # the receiving clerk, 0 if none
    name: str  # a name of SUMMABLE
    value: int = 1


class TaskFact(NamedTuple):
    """One completed task, of a case of an item received at a window, by an official."""

    day: dt.date
    item_id: int
    window_id: int
    official_id: int
    on_time: bool | None  # None: the task had no stage limit
    office_days: float


WINDOW = sa.func.coalesce(Case.received_by_id, 0)


def case_facts(db: Session, cal: WorkCalendar, start: dt.datetime, end: dt.datetime
               ) -> list[Fact]:  # fmt: skip
    """Return the summable facts of the moments in [start, end) (naive UTC)."""
    facts: list[Fact] = []

    def day(at: dt.datetime) -> dt.date:
        return cal.local(at).date()

    for name, column in (("received", Case.received_at), ("accepted", Case.accepted_at)):
        rows = db.execute(sa.select(column, Case.item_id, WINDOW)
                          .where(column >= start, column < end))  # fmt: skip
        facts += [Fact(day(at), item_id, window, name) for at, item_id, window in rows]
    decided = db.execute(
        sa.select(Case.decided_at, Case.item_id, WINDOW.label("window"), Case.decision,
                  Case.accepted_at, Case.paused_days, Case.due_at, Case.statutory_due_at)
        .where(Case.decided_at >= start, Case.decided_at < end,
               Case.decision.in_(("approved", "denied")))
    )  # fmt: skip
    for r in decided:
        on, key = day(r.decided_at), (r.item_id, r.window)
        facts.append(Fact(on, *key, r.decision))
        if r.due_at is not None and r.decided_at <= r.due_at:
            facts.append(Fact(on, *key, "on_time_promised"))
        if r.statutory_due_at is not None and r.decided_at <= r.statutory_due_at:
            facts.append(Fact(on, *key, "on_time_statutory"))
        taken = cal.working_days_between(r.accepted_at or r.decided_at, r.decided_at)
        facts.append(Fact(on, *key, "days_taken_sum", max(0, taken - (r.paused_days or 0))))
    earlier = aliased(Event)

    def first(*extra: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        return ~sa.exists().where(earlier.case_id == Event.case_id, earlier.type == Event.type,
                                  earlier.seq < Event.seq, *extra)  # fmt: skip

    commitment = Event.data["kind"].as_string() == "commitment"
    rows = db.execute(
        sa.select(Event.at, Event.type, Event.data, Case.item_id, WINDOW)
        .join(Case, Case.id == Event.case_id)
        .where(Event.type.in_(COUNTED_EVENTS), Event.at >= start, Event.at < end,
               sa.or_(Event.type.in_((*EVENT_FIGURES, "warning_issued", "evaluated")),
                      sa.and_(Event.type == "supplement_required", first()),
                      sa.and_(Event.type == "notice_issued", commitment,
                              first(earlier.data["kind"].as_string() == "commitment"))))
    )  # fmt: skip
    for at, kind, data, item_id, window in rows:
        on = day(at)
        if kind in FIRST_ONLY:
            facts.append(Fact(on, item_id, window, FIRST_ONLY[kind]))
        elif kind == "case_resumed":
            facts.append(Fact(on, item_id, window, "paused_days", int(data["working_days"])))
        elif kind in EVENT_FIGURES:
            facts.append(Fact(on, item_id, window, EVENT_FIGURES[kind]))
        elif kind == "warning_issued" and data.get("level") in ("yellow", "red"):
            facts.append(Fact(on, item_id, window, data["level"]))
        elif kind == "evaluated" and data.get("level") in LEVELS:
            facts.append(Fact(on, item_id, window, f"eval_{data['level']}"))
    return facts


def task_facts(db: Session, cal: WorkCalendar, start: dt.datetime, end: dt.datetime
               ) -> list[TaskFact]:  # fmt: skip
    """Return the user tasks completed in [start, end), found by their `task_completed`
    events (the event's time and actor are the task's completion time and completer)."""
    rows = db.execute(
        sa.select(Event.at, Event.actor_id, Task.created_at, Task.due_at, Case.item_id, WINDOW)
        .join(Task, Task.id == Event.task_id)
        .join(Case, Case.id == Event.case_id)
        .where(Event.type == "task_completed", Event.at >= start, Event.at < end)
    )  # fmt: skip
    office = cal.office_day.total_seconds()
    return [
        TaskFact(cal.local(at).date(), item_id, window, actor or 0,
                 None if due is None else at <= due,
                 cal.office_time_between(created, at).total_seconds() / office)
        for at, actor, created, due, item_id, window in rows
    ]  # fmt: skip


class OpenCase(NamedTuple):
    """An accepted case and when it stopped being open (None: it is open now)."""

    item_id: int
    window_id: int
    accepted_at: dt.datetime
    finished_at: dt.datetime | None


def open_cases(db: Session, start: dt.datetime, end: dt.datetime) -> list[OpenCase]:
    """Return every case that was open at some moment of (start, end]: accepted before
    `end` and not decided, withdrawn or closed before `start`."""
    columns = (Case.id, Case.item_id, WINDOW, Case.accepted_at, Case.decided_at, Case.closed_at)
    before = Case.accepted_at < end
    found = {}
    for query in (
        sa.select(*columns).where(Case.status.in_(OPEN_CASE_STATUSES), before),
        sa.select(*columns).where(Case.decided_at >= start, before),
        sa.select(*columns).join(Event, Event.case_id == Case.id)
        .where(Event.type == "case_withdrawn", Event.at >= start, before),
    ):  # fmt: skip
        for case_id, item_id, window, accepted, decided, closed in db.execute(query):
            ends = [m for m in (decided, closed) if m is not None]
            found[case_id] = OpenCase(item_id, window, accepted, min(ends, default=None))
    return list(found.values())


# --- rows ------------------------------------------------------------------------------------

Cell = tuple[int, int]  # item id, window id


def cells_of(facts: Iterable[Fact]) -> dict[Cell, Figures]:
    """Sum facts per item and window."""
    cells: dict[Cell, Figures] = {}
    for f in facts:
        cells.setdefault((f.item_id, f.window_id), Figures()).count(f.name, f.value)
    return cells


class _Org:
    """The catalogue, the department tree and the people, read once per register."""

    def __init__(self, db: Session) -> None:
        self.items = {i.id: i for i in db.execute(
            sa.select(Item.id, Item.code, Item.name, Item.kind, Item.department_id))}  # fmt: skip
        self.departments = {d.id: d for d in db.execute(sa.select(
            Department.id, Department.code, Department.name, Department.parent_id,
            Department.region_id))}  # fmt: skip
        self.regions = {r.id: r for r in db.execute(sa.select(
            Region.id, Region.code, Region.name, Region.level, Region.parent_id))}  # fmt: skip
        self.region_children: dict[int | None, list[int]] = {}
        for r in sorted(self.regions.values(), key=lambda r: r.code):
            parent = r.parent_id if r.parent_id in self.regions else None
            self.region_children.setdefault(parent, []).append(r.id)
        self.children: dict[int | None, list[int]] = {}
        for d in sorted(self.departments.values(), key=lambda d: d.code):
            parent = d.parent_id if d.parent_id in self.departments else None
            self.children.setdefault(parent, []).append(d.id)
        self._db = db
        self._users: dict[int, tuple[str, str]] | None = None

    def user(self, user_id: int) -> tuple[str, str]:
        """Return a user's username and name."""
        if self._users is None:
            self._users = {u.id: (u.username, u.name) for u in self._db.execute(
                sa.select(User.id, User.username, User.name))}  # fmt: skip
        return self._users.get(user_id, ("", NO_WINDOW))

    def subtree(self, department_id: int) -> set[int]:
        """Return a department and every department below it."""
        found, todo = set(), [department_id]
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo += self.children.get(current, [])
        return found

    def region_of(self, department_id: int | None) -> int | None:
        """Return the region a department serves in (None if it names none)."""
        found = self.departments.get(department_id)
        return found.region_id if found is not None else None

    def region_subtree(self, region_id: int) -> set[int]:
        """Return a region and every region below it."""
        found, todo = set(), [region_id]
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo += self.region_children.get(current, [])
        return found

    def region_chain(self, region_id: int | None) -> list[int]:
        """Return a region and the regions above it (township → county → city → province)."""
        out: list[int] = []
        while region_id in self.regions and region_id not in out:
            out.append(region_id)
            region_id = self.regions[region_id].parent_id
        return out

    def region_preorder(self) -> list[int]:
        """Return every region, each before the ones below it, siblings by code."""
        out: list[int] = []

        def walk(parent: int | None) -> None:
            for child in self.region_children.get(parent, []):
                out.append(child)
                walk(child)

        walk(None)
        return out

    def chain(self, department_id: int | None) -> list[int]:
        """Return a department and the departments above it, nearest first."""
        out: list[int] = []
        while department_id in self.departments and department_id not in out:
            out.append(department_id)
            department_id = self.departments[department_id].parent_id
        return out

    def preorder(self) -> list[int]:
        """Return every department, each before the ones below it, siblings by code."""
        out: list[int] = []

        def walk(parent: int | None) -> None:
            for child in self.children.get(parent, []):
                out.append(child)
                walk(child)

        walk(None)
        return out


class Register:
    """Turns counted cells into the rows of a grouping (shared by the direct figures, the
    time series and the rollup cache)."""

    def __init__(self, db: Session, grouping: str = "total", filters: Filters | None = None,
                 roll_up: bool = True) -> None:  # fmt: skip
        if grouping not in GROUPINGS:
            raise InvalidInput(f"the grouping must be one of {', '.join(GROUPINGS)}",
                               field="grouping")  # fmt: skip
        filters = filters or Filters()
        if filters.kind is not None and filters.kind not in ITEM_KINDS:
            raise InvalidInput(f"the kind must be one of {', '.join(ITEM_KINDS)}", field="kind")
        self.org = _Org(db)
        if filters.department_id is not None and filters.department_id not in self.org.departments:
            raise InvalidInput("there is no such department", field="department_id")
        self.grouping, self.filters, self.roll_up = grouping, filters, roll_up
        self.scope = (self.org.subtree(filters.department_id)
                      if filters.department_id is not None else None)  # fmt: skip
        if filters.region_id is not None and filters.region_id not in self.org.regions:
            raise InvalidInput("there is no such region", field="region_id")
        self.region_scope = (self.org.region_subtree(filters.region_id)
                             if filters.region_id is not None else None)  # fmt: skip
        self.allowed = {
            i.id for i in self.org.items.values()
            if (filters.item_id is None or i.id == filters.item_id)
            and (filters.kind is None or i.kind == filters.kind)
            and (self.scope is None or i.department_id in self.scope)
            and (self.region_scope is None
                 or self.org.region_of(i.department_id) in self.region_scope)
        }  # fmt: skip

    @property
    def complaints_apply(self) -> bool:
        """Whether the rows carry complaint figures."""
        return self.grouping in ("total", "department") and not self.filters.by_item

    def _departments(self, department_id: int | None) -> list[int]:
        if department_id is None:
            return []
        keys = self.org.chain(department_id) if self.roll_up else [department_id]
        return [k for k in keys if self.scope is None or k in self.scope]

    def _regions(self, region_id: int | None) -> list[int]:
        if region_id is None:
            return []
        keys = self.org.region_chain(region_id) if self.roll_up else [region_id]
        return [k for k in keys if self.region_scope is None or k in self.region_scope]

    def keys(self, item_id: int, window_id: int, official_id: int = 0) -> list[int | str]:
        """Return the rows a cell counts in."""
        if item_id not in self.allowed:
            return []
        if self.grouping == "total":
            return ["total"]
        if self.grouping == "item":
            return [item_id]
        if self.grouping == "kind":
            return [self.org.items[item_id].kind]
        if self.grouping == "department":
            return list(self._departments(self.org.items[item_id].department_id))
        if self.grouping == "region":
            return list(self._regions(self.org.region_of(self.org.items[item_id].department_id)))
        if self.grouping == "window":
            return [window_id]
        return [official_id]

    def rows(self, cells: dict[Cell, Figures],
             tasks: dict[tuple[int, int, int], TaskFigures] | None = None,
             still_open: dict[Cell, int] | None = None,
             complaints: ByDepartment | None = None) -> list[Row]:  # fmt: skip
        """Return the rows of the grouping, in a fixed order.

        `cells` holds the summable figures (and the days taken) per item and window;
        `tasks` the task figures per item, window and official; `still_open` the open
        snapshot per item and window; `complaints` the complaint figures per department.
        What is None is left None in the rows.
        """
        official = self.grouping == "official"
        figures: dict[int | str, Figures] = {}
        task_rows: dict[int | str, TaskFigures] = {}
        if not official:
            for (item_id, window_id), cell in cells.items():
                for key in self.keys(item_id, window_id):
                    figures.setdefault(key, Figures()).merge(cell)
            for (item_id, window_id), count in (still_open or {}).items():
                for key in self.keys(item_id, window_id):
                    row = figures.setdefault(key, Figures())
                    row.still_open = (row.still_open or 0) + count
        for (item_id, window_id, official_id), cell in (tasks or {}).items():
            for key in self.keys(item_id, window_id, official_id):
                task_rows.setdefault(key, TaskFigures()).merge(cell)
        complained: dict[int | str, complaint_figures.Figures] = {}
        if complaints is not None and self.complaints_apply:
            for department_id, _name, found in complaints:
                keys = (["total"] if self.grouping == "total"
                        else self._departments(department_id))  # fmt: skip
                for key in keys:
                    complained[key] = _add_complaints(complained.get(key), found)
        out = []
        for key, code, label, depth, parent in self._skeleton(figures, task_rows, complained):
            row_figures = None
            if not official:
                row_figures = figures.get(key) or Figures()
                if still_open is not None and row_figures.still_open is None:
                    row_figures.still_open = 0
                if row_figures.days_taken:
                    row_figures.days_taken_p90 = int(nearest_rank(row_figures.days_taken, 0.9))
                if complaints is not None and self.complaints_apply:
                    row_figures.complaints = complained.get(key) or complaint_figures.Figures()
            row_tasks = None if tasks is None else task_rows.get(key) or TaskFigures()
            out.append(Row(key, code, label, row_figures, row_tasks, depth, parent))
        return out

    def _skeleton(self, figures: dict, tasks: dict, complained: dict
                  ) -> list[tuple[int | str, str, str, int, int | None]]:  # fmt: skip
        """Return (key, code, label, depth, parent) of every row, in order."""
        org = self.org
        if self.grouping == "total":
            return [("total", "total", TOTAL_LABEL, 0, None)]
        if self.grouping == "item":
            items = sorted((org.items[i] for i in self.allowed), key=lambda i: i.code)
            return [(i.id, i.code, i.name, 0, None) for i in items]
        if self.grouping == "kind":
            kinds = [self.filters.kind] if self.filters.kind else list(ITEM_KINDS)
            return [(k, k, KIND_LABELS.get(k, k), 0, None) for k in kinds]
        if self.grouping == "department":
            shown: set[int] = set()
            for department_id in [org.items[i].department_id for i in self.allowed] + [
                k for k in complained if isinstance(k, int)
            ]:
                shown.update(self._departments(department_id))
            out = []
            for department_id in org.preorder():
                if department_id not in shown:
                    continue
                above = [d for d in org.chain(department_id)[1:] if d in shown]
                d = org.departments[department_id]
                out.append((d.id, d.code, d.name, len(above), above[0] if above else None))
            return out
        if self.grouping == "region":
            shown = {
                r
                for i in self.allowed
                for r in self._regions(org.region_of(org.items[i].department_id))
            }
            out = []
            for region_id in org.region_preorder():
                if region_id in shown:
                    above = [r for r in org.region_chain(region_id)[1:] if r in shown]
                    r = org.regions[region_id]
                    out.append((r.id, r.code, r.name, len(above), above[0] if above else None))
            return out
        people = set(tasks) if self.grouping == "official" else set(figures)
        ordered = sorted(people, key=lambda u: (u == 0, org.user(u)[0], u))
        return [(u, org.user(u)[0], org.user(u)[1] if u else NO_WINDOW, 0, None)
                for u in ordered]  # fmt: skip


def _add_complaints(first: complaint_figures.Figures | None, second: complaint_figures.Figures
                    ) -> complaint_figures.Figures:  # fmt: skip
    if first is None:
        return second
    return complaint_figures.Figures(
        first.received + second.received, first.completed + second.completed,
        first.on_time + second.on_time, first.overdue_open + second.overdue_open,
    )  # fmt: skip


def task_cells(facts: Iterable[TaskFact]) -> dict[tuple[int, int, int], TaskFigures]:
    """Sum task facts per item, window and official."""
    cells: dict[tuple[int, int, int], TaskFigures] = {}
    for f in facts:
        cell = cells.setdefault((f.item_id, f.window_id, f.official_id), TaskFigures())
        cell.completed += 1
        cell.with_limit += f.on_time is not None
        cell.on_time += bool(f.on_time)
        cell.office_days_sum += f.office_days
    return cells


def open_at(cases: Iterable[OpenCase], moment: dt.datetime) -> dict[Cell, int]:
    """Count the cases open at `moment` (accepted before it, not finished before it)."""
    counts: dict[Cell, int] = {}
    for c in cases:
        if c.accepted_at < moment and (c.finished_at is None or c.finished_at >= moment):
            key = (c.item_id, c.window_id)
            counts[key] = counts.get(key, 0) + 1
    return counts


ByDepartment = list[tuple[int | None, str | None, complaint_figures.Figures]]


def _complaints(register: Register, period: Period, now: dt.datetime | None
                ) -> ByDepartment | None:  # fmt: skip
    if not register.complaints_apply:
        return None
    return complaint_figures.by_department(period.since, period.until,
                                           departments=register.scope, now=now)  # fmt: skip


def register(period: Period, grouping: str = "total", filters: Filters | None = None,
             roll_up: bool = True, now: dt.datetime | None = None) -> list[Row]:  # fmt: skip
    """Return the register of a period, one row per group, counted from the cases and events.

    `grouping` is one of GROUPINGS; `roll_up` makes a department's row count every
    department below it; `now` is when overdue open complaints are judged (default now).
    """
    [point] = series(period, None, grouping, filters, roll_up, now)
    return point.rows


def series(period: Period, unit: str | None, grouping: str = "total",
           filters: Filters | None = None, roll_up: bool = True,
           now: dt.datetime | None = None) -> list[Point]:  # fmt: skip
    """Return the register per day, ISO week, month, quarter or year of the period (the
    first and the last bucket cut to the period), for trend charts; `unit` None gives the
    whole period as one point."""
    db = session()
    cal = calendar()
    table = Register(db, grouping, filters, roll_up)
    now = now or utcnow()
    start, end = period.bounds(cal)
    buckets = period.split(unit) if unit else [(f"{period.since}..{period.until}", period)]
    official = grouping == "official"
    facts = [] if official else case_facts(db, cal, start, end)
    tasks = task_facts(db, cal, start, end)
    cases = [] if official else open_cases(db, start, end)
    where: dict[dt.date, int] = {}
    for index, (_label, part) in enumerate(buckets):
        where.update(dict.fromkeys(part.days(), index))
    by_bucket: list[list[Fact]] = [[] for _ in buckets]
    tasks_by_bucket: list[list[TaskFact]] = [[] for _ in buckets]
    for f in facts:
        by_bucket[where[f.day]].append(f)
    for t in tasks:
        tasks_by_bucket[where[t.day]].append(t)
    out = []
    for index, (label, part) in enumerate(buckets):
        snapshot = None if official else open_at(cases, part.bounds(cal)[1])
        rows = table.rows(cells_of(by_bucket[index]), task_cells(tasks_by_bucket[index]),
                          snapshot, _complaints(table, part, now))  # fmt: skip
        out.append(Point(label, part, rows))
    return out
