"""The step planner: from what the engine did to the rows and events to write.

A pure function of its inputs. The caller reads what planning needs (who holds the posts of
the new tasks, the calendar for their time limits, the earlier rejections of a denial)
before, and writes the plan after (`app.cases.store`), so the rules of assignment, four-eyes
and decisions are here and nowhere else, and can be tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _

from workflows.engine import RESULTS, ReadyTask, StepResult
from workflows.errors import WorkflowFault

from ..audit.services import EventBatch
from ..calendar.services import WorkCalendar
from ..org.presence import exclusions
from ..org.reasons import Barrier
from ..org.services import Staffing
from . import deadlines
from .status import CaseStatus, TaskState

OPENED_KEYS = ("id", "spec_id", "name", "stage", "post_id", "assignee_id", "assignment_reason")


@dataclass(frozen=True)
class Guard:
    """Who may not hold the next tasks of a case: its applicant; for a decision stage, the
    person who decided the previous one (four-eyes)."""

    applicant_id_number: str
    last_decider_id: int | None
    last_decision_spec: str | None = None

    def excluded(self, staff: Staffing, task: ReadyTask) -> dict[int, str]:
        """Return the people excluded from a new task, with the reason."""
        return exclusions(
            staff.id_numbers,
            self.applicant_id_number,
            task.spec_id,
            task.is_decision,
            self.last_decider_id,
            self.last_decision_spec,
        )


@dataclass(frozen=True)
class Outcome:
    """What an operation left behind: the case or task, and the tasks it opened."""

    subject: Any
    opened: list[dict]
    case_no: str | None = None


@dataclass
class Plan:
    """What one step writes: new task rows and the case columns that change."""

    rows: list[dict] = field(default_factory=list)
    case_values: dict = field(default_factory=dict)

    @property
    def decided(self) -> bool:
        return self.case_values.get("status") == CaseStatus.DECIDED


def opened(rows: list[dict]) -> list[dict]:
    """The open tasks among new rows, as an operation reports them to its caller."""
    return [{k: r[k] for k in OPENED_KEYS} for r in rows if r["state"] == TaskState.OPEN]


def needs_calendar(ready: list[ReadyTask]) -> bool:
    return any(t.time_limit for t in ready)


# long: one row per new task, assigned through its post or, for a 会签 part, its signer (the
# four-eyes and "nobody signs twice" rules there), timed, and logged with its assignment
def new_task_rows(
    staff: Staffing,
    ready: list[ReadyTask],
    events: EventBatch,
    guard: Guard,
    cal: WorkCalendar | None,
) -> list[dict]:
    """Build task rows for newly ready tasks, assigned through their posts (A/B/leader)."""
    rows = []
    signing: dict[str, set[int]] = {}  # 会签: who signs an instance of a stage already
    for task in ready:
        if task.signer is not None:  # nobody signs twice in one 会签
            taken = signing.setdefault(task.spec_id, set())
            excluded = guard.excluded(staff, task)
            own = staff.signers.get(task.signer)
            if own is not None and getattr(excluded.get(own.a_user_id), "kind", "") == "four_eyes":
                # a named signer signs their own part even after deciding the stage before:
                # the others sign beside them (not as anyone's stand-in, though)
                del excluded[own.a_user_id]
            excluded.update({u: Barrier("signing") for u in taken})
            assignment = staff.signer(task.signer, task.post, excluded)
            if assignment.assignee_id is not None:
                taken.add(assignment.assignee_id)
        else:
            assignment = staff.holder(task.post, guard.excluded(staff, task))
        due = deadlines.task_due_values(cal, events.at, task.time_limit)
        rows.append(
            {
                "id": task.id,
                "case_id": events.case_id,
                "spec_id": task.spec_id,
                "name": task.name,
                "stage": task.stage,
                "lane": task.lane,
                "post_id": assignment.post_id,
                "assignee_id": assignment.assignee_id,
                "acting_for_id": assignment.acting_for_id,
                "assignment_reason": assignment.stored_reason,
                "state": TaskState.OPEN,
                "is_decision": task.is_decision,
                "outcomes": ",".join(task.outcomes),
                "created_at": events.at,
                "completed_at": None,
                "completed_by_id": None,
                "outcome": None,
                "comment": None,
                "data": None,
                **due,
            }
        )
        events.add(
            "task_created",
            {"spec": task.spec_id, "name": task.name, "stage": task.stage, "post": task.post},
            task.id,
        )
        events.add(
            "task_assigned",
            {"assignee_id": assignment.assignee_id, "acting_for_id": assignment.acting_for_id,
             "reason": assignment.reason},
            task.id,
        )  # fmt: skip
        if assignment.escalated:
            events.add("task_escalated", {"reason": assignment.reason}, task.id)
    return rows


def completion_data(spec_id: str, outcome: str, comment: str, data: dict, step: StepResult) -> dict:
    return {
        "spec": spec_id,
        "outcome": outcome,
        "comment": comment,
        "data": data,
        "steps": [s["node"] for s in step.engine_steps],
    }


def gateway_events(steps: list[dict], events: EventBatch) -> None:
    for engine_step in steps:
        if "flows" in engine_step:
            events.add(
                "gateway_taken", {"gateway": engine_step["node"], "flows": engine_step["flows"]}
            )


def needs_rejections(result: str | None) -> bool:
    """A denial collects the reasons and legal bases of every rejection of the case."""
    return result == "denied"


def decide(
    result: str | None, rejections: list[tuple[str | None, str | None]], events: EventBatch
) -> dict:
    """The case columns of a decision, and its event; a result that is not one is a fault.

    `rejections` are (comment, legal basis) of the case's rejections, oldest first.
    """
    if result not in RESULTS:  # the engine checks this; a decision is never a default
        raise WorkflowFault(
            _(
                "the workflow ended with result %(result)s",
                result=repr(result),
            ),
            code="no-result",
        )
    reason = basis = None
    if result == "denied":
        reason = "；".join(c for c, _ in rejections if c) or None
        basis = "；".join(b for _, b in rejections if b) or None
    events.add("case_decided", {"decision": result, "reason": reason, "legal_basis": basis})
    return {
        "status": CaseStatus.DECIDED,
        "decision": result,
        "decision_reason": reason,
        "legal_basis": basis,
        "decided_at": events.at,
    }


def plan_step(
    step: StepResult,
    events: EventBatch,
    guard: Guard,
    staff: Staffing | None,
    cal: WorkCalendar | None,
    rejections: list[tuple[str | None, str | None]],
) -> Plan:
    """Record what the engine did after a completion or a timer; return what to write.

    `staff` must hold the posts of `step.created` (None when nothing was created), `cal` the
    calendar when a created task has a time limit, `rejections` the case's rejections when
    the step ended in a denial.
    """
    gateway_events(step.engine_steps, events)
    plan = Plan()
    if step.created:
        plan.rows = new_task_rows(staff, step.created, events, guard, cal)
    for task_id in step.cancelled:
        events.add("task_cancelled", {}, task_id)
    if step.finished:
        plan.case_values = decide(step.result, rejections, events)
    return plan


def first_status(status: str) -> str:
    """An accepted case is in progress once its first step after acceptance is written."""
    return CaseStatus.IN_PROGRESS if status == CaseStatus.ACCEPTED else status
