"""Where cases get stuck: per user task of an item, how many cases passed it, how many wait
there now, how long it took (median and 90th percentile, in working days of office time)
and how many warning cards it drew.

Figures come from the task rows (one per task instance, written with the case's events),
the warning cards and the calendar. A task done twice in one case (after a return) counts
each time it took, and the case once among those that passed.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..calendar.services import calendar
from ..cases.models import Case, Task
from ..cases.status import TaskState
from ..db import session
from ..supervision.models import WarningCard
from .models import DiagramVersion
from .services import require_item

LEVELS = 5


def nearest_rank(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile (the smallest value with `share` at or below it)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class TaskFigures:
    """The figures of one user task."""

    spec_id: str
    name: str
    passed: int = 0  # cases that completed the task at least once
    completions: int = 0  # task instances completed (returns make more than one per case)
    waiting: int = 0  # open now
    median_days: float | None = None
    p90_days: float | None = None
    yellow: int = 0
    red: int = 0
    in_diagram: bool = True
    level: int = 0  # 0 (no figures) to LEVELS, by the 90th percentile
    durations: list[float] = field(default_factory=list, repr=False)


@dataclass
class Stuck:
    """The figures of an item on the diagram of one version."""

    version: DiagramVersion
    only_version: int | None  # None: cases of every version
    cases: int
    rows: list[TaskFigures]

    def highlight(self) -> dict[str, str]:
        return {r.spec_id: f"heat{r.level}" for r in self.rows if r.level and r.in_diagram}

    def notes(self) -> dict[str, str]:
        def days(value: float | None) -> str:
            return "–" if value is None else f"{value:.1f}"

        return {
            r.spec_id: f"{r.passed} | {r.waiting} | {days(r.median_days)}/{days(r.p90_days)}"
            for r in self.rows
            if r.in_diagram and (r.passed or r.waiting)
        }


def _count_tasks(db, rows: dict[str, TaskFigures], cases) -> None:
    """Count the waiting and completed tasks of the chosen cases, and how long each took."""
    tasks = db.execute(
        sa.select(Task.spec_id, Task.name, Task.case_id, Task.state, Task.created_at,
                  Task.completed_at)
        .where(Task.case_id.in_(cases))
    ).all()  # fmt: skip
    work = calendar()
    day = work.office_day.total_seconds()
    passed: dict[str, set[int]] = {}
    for task in tasks:
        row = rows.get(task.spec_id)
        if row is None:
            row = rows[task.spec_id] = TaskFigures(task.spec_id, task.name, in_diagram=False)
        if task.state == TaskState.OPEN:
            row.waiting += 1
        elif task.state == TaskState.COMPLETED and task.completed_at is not None:
            row.completions += 1
            passed.setdefault(task.spec_id, set()).add(task.case_id)
            spent = work.office_time_between(task.created_at, task.completed_at)
            row.durations.append(spent.total_seconds() / day)
    for spec_id, row in rows.items():
        row.passed = len(passed.get(spec_id, ()))


def _count_cards(db, rows: dict[str, TaskFigures], cases) -> None:
    """Count the warning cards the tasks of the chosen cases drew, by colour."""
    cards = db.execute(
        sa.select(Task.spec_id, WarningCard.level, sa.func.count())
        .join(Task, Task.id == WarningCard.task_id)
        .where(WarningCard.case_id.in_(cases))
        .group_by(Task.spec_id, WarningCard.level)
    ).all()  # fmt: skip
    for spec_id, level, count in cards:
        row = rows.get(spec_id)
        if row is not None:
            if level == "yellow":
                row.yellow += count
            elif level == "red":
                row.red += count


def _grade(rows: dict[str, TaskFigures]) -> None:
    """Set each task's median and 90th percentile, and its level against the slowest."""
    for row in rows.values():
        if row.durations:
            row.median_days = statistics.median(row.durations)
            row.p90_days = nearest_rank(row.durations, 0.9)
    worst = max((r.p90_days for r in rows.values() if r.p90_days), default=0.0)
    for row in rows.values():
        if row.p90_days is not None:
            row.level = max(1, math.ceil(LEVELS * row.p90_days / worst)) if worst else 1


def where_stuck(code: str, version: int | None = None) -> Stuck:
    """Return the figures of an item's user tasks, drawn on `version` (default: newest).

    With `version` only the cases on that version count; without it every case of the item.
    """
    item = require_item(code)
    db = session()
    versions = {v.version: v for v in db.scalars(
        sa.select(DiagramVersion).where(DiagramVersion.item_id == item.id))}  # fmt: skip
    if not versions:
        raise LookupError(f"item '{code}' has no deployed version")
    if version is not None and version not in versions:
        raise LookupError(f"item '{code}' has no version {version}")
    shown = versions[version if version is not None else max(versions)]
    from ..cases.runtime import runtime

    diagram = runtime().compile(shown.content.encode("utf-8"), shown.filename)
    rows = {n.id: TaskFigures(n.id, n.name) for n in diagram.user_tasks()}

    cases = sa.select(Case.id).where(Case.item_id == item.id)
    if version is not None:
        cases = cases.where(Case.diagram_version_id == shown.id)
    case_count = db.scalar(sa.select(sa.func.count()).select_from(cases.subquery()))
    _count_tasks(db, rows, cases)
    _count_cards(db, rows, cases)
    _grade(rows)
    ordered = [rows[n.id] for n in diagram.user_tasks()]
    ordered += sorted((r for r in rows.values() if not r.in_diagram), key=lambda r: r.spec_id)
    return Stuck(shown, version, case_count or 0, ordered)
