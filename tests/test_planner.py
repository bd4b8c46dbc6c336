"""The step planner on its own: from an engine step to the rows and events to write.

No application and no database here: the planner is a pure function of the step, the
staffing and the earlier rejections, so these tests run without either (a query would fail
for want of an application context).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from app.audit.services import GENESIS, EventBatch
from app.cases import planner
from app.cases.planner import Guard
from app.cases.status import CaseStatus, TaskState
from app.org.models import Post
from app.org.reasons import Barrier, decode
from app.org.services import Staffing
from workflows.engine import ReadyTask, StepResult
from workflows.errors import WorkflowFault

AT = dt.datetime(2026, 12, 7, 2, 0)  # stored UTC: 10:00 in the centre
A, B, LEADER = 10, 11, 12
APPLICANT = "330102199001011234"


def _post(shared: bool = False) -> Post:
    return Post(id=1, code="REVIEW", name="审查岗", a_user_id=A, b_user_id=B,
                leader_user_id=LEADER, shared=shared)  # fmt: skip


def _staff(
    away: dict[int, Barrier] | None = None, numbers: dict[int, str] | None = None
) -> Staffing:
    post = _post()
    return Staffing({"REVIEW": post, "审查岗": post}, away or {}, numbers or {})


def _ready(spec: str = "Task_review", decision: bool = False) -> ReadyTask:
    return ReadyTask(uuid.uuid4(), spec, "审查", "REVIEW", "REVIEW", "review", None,
                     ("approve", "reject"), decision, ())  # fmt: skip


def _events() -> EventBatch:
    batch = EventBatch("2026120700000001", 7, 3, GENESIS, A, "official_a")
    batch.at = AT
    return batch


def _plan(step: StepResult, guard: Guard | None = None, staff: Staffing | None = None,
          rejections=()) -> tuple[planner.Plan, EventBatch]:  # fmt: skip
    events = _events()
    guard = guard or Guard(APPLICANT, None)
    plan = planner.plan_step(step, events, guard, staff or _staff(), None, list(rejections))
    return plan, events


def test_a_new_task_goes_to_the_first_handler_and_is_logged():
    task = _ready()
    plan, events = _plan(StepResult(None, created=[task]))
    [row] = plan.rows
    assert (row["id"], row["assignee_id"], row["acting_for_id"]) == (task.id, A, None)
    assert row["state"] == TaskState.OPEN and row["case_id"] == 7 and row["created_at"] == AT
    assert [e["type"] for e in events.rows] == ["task_created", "task_assigned"]
    assert events.rows[1]["data"]["assignee_id"] == A
    assert plan.case_values == {} and not plan.decided
    assert planner.opened(plan.rows) == [
        {"id": task.id, "spec_id": "Task_review", "name": "审查", "stage": "review",
         "post_id": 1, "assignee_id": A, "assignment_reason": '{"reason":"a_holds","post":1}'}
    ]  # fmt: skip


def test_when_the_first_handler_is_away_the_second_acts_for_them():
    leave = Barrier("leave", "2026-12-31T18:00")
    plan, events = _plan(StepResult(None, created=[_ready()]), staff=_staff(away={A: leave}))
    [row] = plan.rows
    assert (row["assignee_id"], row["acting_for_id"]) == (B, A)
    # stored structured (the post by id), worded when read
    assert decode(row["assignment_reason"]) == {
        "reason": "b_acting", "post": 1, "passed": [["A", "leave", "2026-12-31T18:00"]],
    }  # fmt: skip
    assert events.rows[1]["data"]["reason"] == decode(row["assignment_reason"])


def test_whoever_decided_the_last_stage_does_not_decide_the_next():
    guard = Guard(APPLICANT, last_decider_id=A, last_decision_spec="Task_first")
    plan, _events = _plan(StepResult(None, created=[_ready("Task_second", True)]), guard)
    assert plan.rows[0]["assignee_id"] == B
    assert decode(plan.rows[0]["assignment_reason"])["passed"] == [["A", "four_eyes"]]


def test_the_applicant_never_handles_their_own_case():
    staff = _staff(numbers={A: APPLICANT, B: "330102198001015678"})
    plan, _events = _plan(StepResult(None, created=[_ready()]), staff=staff)
    assert plan.rows[0]["assignee_id"] == B
    assert decode(plan.rows[0]["assignment_reason"])["passed"] == [["A", "applicant"]]


def test_nobody_free_leaves_the_task_in_the_queue_and_escalated():
    away = {A: Barrier("leave"), B: Barrier("trip"), LEADER: Barrier("leave")}
    plan, events = _plan(StepResult(None, created=[_ready()]), staff=_staff(away=away))
    assert plan.rows[0]["assignee_id"] is None
    assert [e["type"] for e in events.rows][-1] == "task_escalated"


def test_an_approval_decides_the_case():
    plan, events = _plan(StepResult(None, finished=True, result="approved"))
    assert plan.decided
    assert plan.case_values == {"status": CaseStatus.DECIDED, "decision": "approved",
                                "decision_reason": None, "legal_basis": None,
                                "decided_at": AT}  # fmt: skip
    assert events.rows[-1]["type"] == "case_decided"


def test_a_denial_states_every_rejection_with_its_legal_basis():
    rejections = [("面积不符", "《条例》第十条"), ("材料不实", None), (None, "《办法》第五条")]
    plan, events = _plan(StepResult(None, finished=True, result="denied"),
                         rejections=rejections)  # fmt: skip
    assert plan.case_values["decision"] == "denied"
    assert plan.case_values["decision_reason"] == "面积不符；材料不实"
    assert plan.case_values["legal_basis"] == "《条例》第十条；《办法》第五条"
    assert events.rows[-1]["data"]["legal_basis"] == "《条例》第十条；《办法》第五条"


@pytest.mark.parametrize("result", [None, "", "approve", "maybe"])
def test_an_end_without_a_result_is_a_fault_never_a_decision(result):
    with pytest.raises(WorkflowFault) as caught:
        _plan(StepResult(None, finished=True, result=result))
    assert caught.value.code == "no-result"


def test_dropped_tasks_and_gateways_are_logged_in_order():
    dropped = uuid.uuid4()
    step = StepResult(None, engine_steps=[{"node": "Gateway_1", "flows": ["Flow_yes"]}],
                      cancelled=[dropped])  # fmt: skip
    plan, events = _plan(step)
    assert plan.rows == []
    assert [(e["type"], e["task_id"]) for e in events.rows] == [
        ("gateway_taken", None),
        ("task_cancelled", dropped),
    ]
    assert [e["seq"] for e in events.rows] == [4, 5]  # the chain goes on from the case's head


def test_the_first_step_after_acceptance_puts_the_case_in_progress():
    assert planner.first_status(CaseStatus.ACCEPTED) == CaseStatus.IN_PROGRESS
    assert planner.first_status(CaseStatus.IN_PROGRESS) == CaseStatus.IN_PROGRESS
    assert planner.first_status(CaseStatus.FAULT) == CaseStatus.FAULT
