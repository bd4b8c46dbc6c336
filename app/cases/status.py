"""Case statuses and task states, and the guards that say what each allows.

Every page, API handler and operation asks these guards instead of comparing strings, so a
rule such as "a faulted case may be withdrawn by an admin" is written once. The enums are
`StrEnum`s: they are stored as their plain values and compare equal to them, so rows written
before the enums existed read back unchanged.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class CaseStatus(StrEnum):
    RECEIVED = "received"  # 已收件, waiting for acceptance
    SUPPLEMENT_REQUIRED = "supplement_required"  # 补正: the one-time supplement notice is out
    REFUSED = "refused"  # 不予受理
    ACCEPTED = "accepted"  # 已受理, the workflow has not opened a task yet
    IN_PROGRESS = "in_progress"  # 办理中
    FAULT = "fault"  # 流程异常: the workflow stopped; an admin retries or withdraws it
    DECIDED = "decided"  # 已办结 with a decision
    CLOSED = "closed"  # closed after the decision (licence handed over)
    WITHDRAWN = "withdrawn"  # 撤回


class TaskState(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


CASE_STATUSES = tuple(CaseStatus)
OPEN_CASE_STATUSES = (
    CaseStatus.RECEIVED,
    CaseStatus.SUPPLEMENT_REQUIRED,
    CaseStatus.ACCEPTED,
    CaseStatus.IN_PROGRESS,
    CaseStatus.FAULT,
)
# statuses in which the workflow runs and tasks are worked
WORKING_STATUSES = (CaseStatus.ACCEPTED, CaseStatus.IN_PROGRESS)
OPEN_CASES_SQL = "status IN (" + ", ".join(f"'{s}'" for s in OPEN_CASE_STATUSES) + ")"
TASK_STATES = tuple(TaskState)


class _HasStatus(Protocol):
    status: str


class _HasState(Protocol):
    state: str
    assignee_id: int | None


def is_open(case: _HasStatus) -> bool:
    """The case is not finished: received, waiting for a supplement, worked or faulted."""
    return case.status in OPEN_CASE_STATUSES


def is_working(case: _HasStatus) -> bool:
    """The workflow runs: tasks may be completed and timers fire."""
    return case.status in WORKING_STATUSES


def is_faulted(case: _HasStatus) -> bool:
    return case.status == CaseStatus.FAULT


def awaits_supplement(case: _HasStatus) -> bool:
    return case.status == CaseStatus.SUPPLEMENT_REQUIRED


def may_accept_supplement(case: _HasStatus) -> bool:
    """Materials are brought in answer to the one-time supplement notice (补正)."""
    return case.status == CaseStatus.SUPPLEMENT_REQUIRED


def may_refuse(case: _HasStatus) -> bool:
    """不予受理 is possible only before acceptance."""
    return case.status in (CaseStatus.RECEIVED, CaseStatus.SUPPLEMENT_REQUIRED)


def may_withdraw(case: _HasStatus) -> bool:
    """An open case may be withdrawn (a faulted one only by an admin: the service checks)."""
    return case.status in OPEN_CASE_STATUSES


def may_close(case: _HasStatus) -> bool:
    return case.status == CaseStatus.DECIDED


def may_retry(case: _HasStatus) -> bool:
    return case.status == CaseStatus.FAULT


def is_task_open(task: _HasState) -> bool:
    return task.state == TaskState.OPEN


def may_complete(task: _HasState, user_id: int) -> bool:
    """The assignee works an open task (the case's status is checked when it is completed:
    a faulted case refuses it with the reason)."""
    return is_task_open(task) and task.assignee_id == user_id


def is_decisive(stage: str | None, outcome: str) -> bool:
    """A completion that cannot be taken back and decides against the applicant: a
    rejection, or issuing the denial (不予许可) at a denial stage. The web asks to confirm."""
    return outcome == "reject" or (stage == "denial" and outcome == "approve")


def may_claim(task: _HasState, holder_ids: set[int], user_id: int) -> bool:
    """A holder of the task's post takes an unassigned open task from the post's queue."""
    return is_task_open(task) and task.assignee_id is None and user_id in holder_ids


def task_kind(task) -> str | None:
    """What kind of task a row is, beside a stage of its own: an added signer's (加签), an
    opinion asked (征求意见), one signer's part of a 会签."""
    if getattr(task, "kind", None):
        return task.kind
    reason = getattr(task, "assignment_reason", None) or ""
    return "countersign" if '"reason":"signer' in reason else None
