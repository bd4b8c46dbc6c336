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

Every figure except still open, the 90th percentile and the complaints is summable over
days and items, and the 90th percentile is read from the days taken counted per number of
days: the rollup cache (app.stats.rollup) keeps those per day, and the register reads the
days it has settled from it (app.stats.cached), so counting a month does not recompute the
working days and office time of each of its cases and tasks.

This module holds what a row's figures are and how facts sum into them; the facts are read
by app.stats.queries, the rows of a grouping laid out by app.stats.grouping, the periods
are app.stats.periods'.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from ..complaints import figures as complaint_figures
from ..complaints.figures import rate
from .periods import Period

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


class OpenCase(NamedTuple):
    """An accepted case and when it stopped being open (None: it is open now)."""

    item_id: int
    window_id: int
    accepted_at: dt.datetime
    finished_at: dt.datetime | None


# --- sums ------------------------------------------------------------------------------------

Cell = tuple[int, int]  # item id, window id
ByDepartment = list[tuple[int | None, str | None, complaint_figures.Figures]]


def cells_of(facts: Iterable[Fact]) -> dict[Cell, Figures]:
    """Sum facts per item and window."""
    cells: dict[Cell, Figures] = {}
    for f in facts:
        cells.setdefault((f.item_id, f.window_id), Figures()).count(f.name, f.value)
    return cells


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


def add_complaints(
    first: complaint_figures.Figures | None, second: complaint_figures.Figures
) -> complaint_figures.Figures:
    """The complaint figures of two departments together (`first` None: just `second`)."""
    if first is None:
        return second
    return complaint_figures.Figures(
        first.received + second.received, first.completed + second.completed,
        first.on_time + second.on_time, first.overdue_open + second.overdue_open,
    )  # fmt: skip
