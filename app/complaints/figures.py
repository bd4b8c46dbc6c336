"""Complaint figures for a period: received, completed (办结率), replied on time (反馈及时率).

The figures count the tickets received in the period (centre-local days, both ends
included): of those, how many are completed (replied or archived), how many of the
completed were replied by their deadline, and how many are still open past it now.

    completion rate (办结率)        = completed / received
    on-time feedback rate (反馈及时率) = replied on time / completed
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa

from ..db import session, utcnow
from ..org.models import Department
from .models import CHANNELS, OPEN_STATUSES, Complaint
from .services import local_period

COMPLETED = ("replied", "archived")


def rate(part: int, whole: int) -> Decimal | None:
    """Return part/whole as a percentage with one decimal (half up), None if whole is 0."""
    if not whole:
        return None
    return (Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


@dataclass(frozen=True)
class Figures:
    """The counts of one period (and department or channel)."""

    received: int = 0
    completed: int = 0
    on_time: int = 0
    overdue_open: int = 0

    @property
    def completion_rate(self) -> Decimal | None:
        """办结率: completed / received, in per cent."""
        return rate(self.completed, self.received)

    @property
    def on_time_rate(self) -> Decimal | None:
        """反馈及时率: replied by the deadline / completed, in per cent."""
        return rate(self.on_time, self.completed)


def _columns(now: dt.datetime) -> list:
    def count(condition) -> sa.ColumnElement:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    completed = Complaint.status.in_(COMPLETED)
    return [
        sa.func.count(Complaint.id),
        count(completed),
        count(sa.and_(completed, Complaint.replied_at <= Complaint.due_at)),
        count(sa.and_(Complaint.status.in_(OPEN_STATUSES), Complaint.due_at < now)),
    ]


def _where(since: dt.date, until: dt.date, department_id: int | None, channel: str | None,
           departments: Collection[int] | None) -> list:  # fmt: skip
    start, end = local_period(since, until)
    where = [Complaint.received_at >= start, Complaint.received_at < end]
    if department_id:
        where.append(Complaint.department_id == department_id)
    if channel:
        where.append(Complaint.channel == channel)
    if departments is not None:  # an official sees only their departments' tickets
        where.append(Complaint.department_id.in_(set(departments) or {-1}))
    return where


def figures(since: dt.date, until: dt.date, department_id: int | None = None,
            channel: str | None = None, departments: Collection[int] | None = None,
            now: dt.datetime | None = None) -> Figures:  # fmt: skip
    """Return the figures of the tickets received from `since` to `until` (local days)."""
    row = session().execute(
        sa.select(*_columns(now or utcnow()))
        .where(*_where(since, until, department_id, channel, departments))
    ).one()  # fmt: skip
    return Figures(*(int(v) for v in row))


def by_department(
    since: dt.date,
    until: dt.date,
    channel: str | None = None,
    departments: Collection[int] | None = None,
    now: dt.datetime | None = None,
) -> list[tuple[int | None, str | None, Figures]]:
    """Return (department id, name, figures) per department, unassigned tickets as None."""
    rows = session().execute(
        sa.select(Complaint.department_id, Department.name, *_columns(now or utcnow()))
        .outerjoin(Department, Department.id == Complaint.department_id)
        .where(*_where(since, until, None, channel, departments))
        .group_by(Complaint.department_id, Department.name)
        .order_by(Department.name.is_(None), Department.name)
    ).all()  # fmt: skip
    return [(r[0], r[1], Figures(*(int(v) for v in r[2:]))) for r in rows]


def by_channel(
    since: dt.date,
    until: dt.date,
    department_id: int | None = None,
    departments: Collection[int] | None = None,
    now: dt.datetime | None = None,
) -> list[tuple[str, Figures]]:
    """Return (channel, figures) for every channel, in the order of CHANNELS."""
    rows = session().execute(
        sa.select(Complaint.channel, *_columns(now or utcnow()))
        .where(*_where(since, until, department_id, None, departments))
        .group_by(Complaint.channel)
    ).all()  # fmt: skip
    found = {r[0]: Figures(*(int(v) for v in r[1:])) for r in rows}
    return [(c, found.get(c, Figures())) for c in CHANNELS]
