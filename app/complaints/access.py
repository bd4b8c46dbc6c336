"""Who may do what to a complaint ticket, and who is told about it.

The supervision office (supervisors) registers, assigns, replies and archives; the officials
and leaders of the department a ticket is assigned to (and the departments under it, and the
leaders of its posts) add investigation notes; admins may do everything; auditors read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ..db import session
from ..errors import Forbidden
from ..org.models import Department, Post, User
from .models import OPEN_STATUSES, Complaint

OFFICE_ROLES = ("supervisor", "admin")  # register, assign, reply, archive
READ_ALL_ROLES = ("supervisor", "admin", "auditor")  # every ticket
STAFF_ROLES = ("official", "leader")  # the tickets of their departments
NOTE_STATUSES = ("assigned", "investigating")


def _tree(db: Session) -> dict[int | None, list[int]]:
    children: dict[int | None, list[int]] = defaultdict(list)
    for dept_id, parent_id in db.execute(sa.select(Department.id, Department.parent_id)):
        children[parent_id].append(dept_id)
    return children


def _with_descendants(children: dict[int | None, list[int]], roots: Iterable[int]) -> set[int]:
    found: set[int] = set()
    todo = list(roots)
    while todo:
        dept_id = todo.pop()
        if dept_id not in found:
            found.add(dept_id)
            todo += children.get(dept_id, [])
    return found


def staff_departments(actor: User) -> set[int]:
    """Return the departments whose tickets an official or leader works on: their own, those
    of the posts they lead, and every department under those."""
    if not actor.has_role(*STAFF_ROLES):
        return set()
    db = session()
    roots = {actor.department_id} if actor.department_id else set()
    roots |= set(db.scalars(sa.select(Post.department_id).where(Post.leader_user_id == actor.id)))
    return _with_descendants(_tree(db), roots) if roots else set()


def visible_departments(actor: User) -> set[int] | None:
    """Return the departments whose tickets the actor sees, or None for all."""
    return None if actor.has_role(*READ_ALL_ROLES) else staff_departments(actor)


def department_leaders(db: Session, department_id: int | None) -> set[int]:
    """Return the leaders of a department: its staff with the leader role and the leaders of
    its posts; a department without any answers through the one above it."""
    seen: set[int] = set()
    dept_id = department_id
    while dept_id is not None and dept_id not in seen:
        seen.add(dept_id)
        leaders = set(db.scalars(sa.select(User.id).where(
            User.department_id == dept_id, User.active.is_(True),
            User.roles.like("%leader%"))))  # fmt: skip
        leaders |= {u for u in db.scalars(
            sa.select(Post.leader_user_id).where(Post.department_id == dept_id)) if u}  # fmt: skip
        if leaders:
            return leaders
        dept_id = db.scalar(sa.select(Department.parent_id).where(Department.id == dept_id))
    return set()


def supervisors(db: Session) -> set[int]:
    """Return the active supervisors (the office is told of every card)."""
    return set(db.scalars(
        sa.select(User.id).where(User.active.is_(True), User.roles.like("%supervisor%"))
    ))  # fmt: skip


def can_read(actor: User, ticket: Complaint) -> bool:
    """Return whether the actor may see the ticket."""
    return actor.has_role(*READ_ALL_ROLES) or _works_on(actor, ticket)


def may_investigate(actor: User, ticket: Complaint) -> bool:
    """Return whether the actor works for the department the ticket is assigned to."""
    return actor.has_role("admin") or _works_on(actor, ticket)


def _works_on(actor: User, ticket: Complaint) -> bool:
    return ticket.department_id is not None and ticket.department_id in staff_departments(actor)


@dataclass(frozen=True)
class Allowed:
    """What a person may do to a ticket now (the pages show only these forms)."""

    assign: bool
    note: bool
    reply: bool
    archive: bool


def allowed(actor: User, ticket: Complaint) -> Allowed:
    """Return what the actor may do to the ticket in its present status."""
    office = actor.has_role(*OFFICE_ROLES)
    return Allowed(
        assign=office and ticket.status in OPEN_STATUSES,
        note=ticket.status in NOTE_STATUSES and may_investigate(actor, ticket),
        reply=office and ticket.status == "investigating",
        archive=office and ticket.status == "replied",
    )


def require_office(actor: User, what: str) -> None:
    """Refuse anyone but the supervision office (and admins)."""
    if not actor.has_role(*OFFICE_ROLES):
        raise Forbidden(_("only the supervision office %(what)s", what=what))
