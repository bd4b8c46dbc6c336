"""Changes of a task's holder outside a workflow step: claims, transfers, absences,
escalations. Each change writes the task row, an event in the case's chain and a bump of
the case's row version, in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ..errors import Conflict
from ..org.models import Post, User
from ..org.presence import Assignment
from ..org.reasons import escalation_why_zh
from .models import Task
from .status import TaskState
from .store import CaseLog


def write_reassignments(
    db: Session,
    case_id: int,
    moves: list[tuple],
    at: dt.datetime,
    actor: User | None = None,
    kind: str = "task_reassigned",
    only_if_unassigned: bool = False,
    started_at: object = ...,
) -> None:
    """Give tasks of one case new holders and log each change in the case's chain.

    `moves` holds (task, Assignment) pairs; the task needs `id` and `assignee_id`.
    `started_at`, when given, is written too (a claim starts the task, a transfer resets it).
    """
    log = CaseLog(db, case_id, at, actor)
    for task, choice in moves:
        values = {"assignee_id": choice.assignee_id, "acting_for_id": choice.acting_for_id,
                  "assignment_reason": choice.stored_reason}  # fmt: skip
        if started_at is not ...:
            values["started_at"] = started_at
        where = [Task.id == task.id, Task.state == TaskState.OPEN]
        if only_if_unassigned:
            where.append(Task.assignee_id.is_(None))
        changed = db.execute(
            sa.update(Task).where(*where).values(**values)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
        if changed.rowcount != 1:
            raise Conflict(_("the task changed meanwhile (claimed, moved or completed); reload"))
        log.add(
            kind,
            {"from": task.assignee_id, "to": choice.assignee_id,
             "acting_for_id": choice.acting_for_id, "reason": choice.reason},
            task.id,
        )  # fmt: skip
        if choice.escalated:
            log.add("task_escalated", {"reason": choice.reason}, task.id)
    log.close()


def escalate_to_leader(db: Session, case_id: int, spec_ids: list[str], at: dt.datetime,
                       why: str) -> int:  # fmt: skip
    """Move the case's open tasks of these diagram tasks to their post's leader (a boundary
    timer with property escalate=leader fired); the leader is told. Return the moves."""
    from ..supervision.models import Notification

    rows = db.execute(
        sa.select(Task.id, Task.assignee_id, Task.name, Post)
        .join(Post, Post.id == Task.post_id)
        .where(Task.case_id == case_id, Task.state == TaskState.OPEN, Task.spec_id.in_(spec_ids))
    ).all()
    moves = []
    for row in rows:
        leader = row.Post.leader_user_id
        if leader is None or leader == row.assignee_id:
            continue
        reason = {"reason": "escalated", "post": row.Post.id, "why": why}
        # held in the leader's own right: the absence rules do not send it back to A
        moves.append((row, Assignment(row.Post.id, leader, None, reason, True)))
        db.add(Notification(user_id=leader, kind="escalation", case_id=case_id, task_id=row.id,
                            text=f"升级督办：{row.name} — {escalation_why_zh(why)}",
                            created_at=at))  # fmt: skip
    if moves:
        write_reassignments(db, case_id, moves, at)
    return len(moves)
