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
from .queries import register_where

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


def _counted(*keys, where: list, now: dt.datetime | None, outer: tuple = (),
             order: tuple = ()) -> list[tuple[tuple, Figures]]:  # fmt: skip
    """Return (the values of `keys`, figures) per group of `keys` (one row without keys)."""
    query = sa.select(*keys, *_columns(now or utcnow()))
    if outer:
        query = query.outerjoin(*outer)
    query = query.where(*where).group_by(*keys).order_by(*order)
    return [(tuple(r[: len(keys)]), Figures(*(int(v) for v in r[len(keys) :])))
            for r in session().execute(query)]  # fmt: skip


def figures(since: dt.date, until: dt.date, department_id: int | None = None,
            channel: str | None = None, departments: Collection[int] | None = None,
            now: dt.datetime | None = None) -> Figures:  # fmt: skip
    """Return the figures of the tickets received from `since` to `until` (local days)."""
    where = register_where(departments, since, until, channel, department_id)
    return _counted(where=where, now=now)[0][1]


def by_department(
    since: dt.date,
    until: dt.date,
    channel: str | None = None,
    departments: Collection[int] | None = None,
    now: dt.datetime | None = None,
) -> list[tuple[int | None, str | None, Figures]]:
    """Return (department id, name, figures) per department, unassigned tickets as None."""
    rows = _counted(Complaint.department_id, Department.name,
                    where=register_where(departments, since, until, channel), now=now,
                    outer=(Department, Department.id == Complaint.department_id),
                    order=(Department.name.is_(None), Department.name))  # fmt: skip
    return [(dept_id, name, figs) for (dept_id, name), figs in rows]


def by_channel(
    since: dt.date,
    until: dt.date,
    department_id: int | None = None,
    departments: Collection[int] | None = None,
    now: dt.datetime | None = None,
) -> list[tuple[str, Figures]]:
    """Return (channel, figures) for every channel, in the order of CHANNELS."""
    where = register_where(departments, since, until, department_id=department_id)
    found = {key[0]: figs for key, figs in _counted(Complaint.channel, where=where, now=now)}
    return [(c, found.get(c, Figures())) for c in CHANNELS]
