"""A case that loops 1,000 times stays open and is decided only by passing every stage (issue 16).

Before compaction, the planning permit returned about 250 times (lead approves, deputy
returns) became decided/approved with no deputy, collective or head approval: SpiffWorkflow
stopped seeing the open lead task deep in its history. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.audit.models import Event
from app.cases import services as cases
from app.cases.models import Case, Task
from app.db import session
from app.org.models import User
from tests.apiclient import required_materials, sample_form

CYCLES = 1000
REQUIRED_STAGES = ["Task_accept", "Task_lead", "Task_deputy", "Task_collective", "Task_head",
                   "Task_issue"]  # fmt: skip


def _form_data(fields: list[dict]) -> dict:
    """Fill a task form the way an official would (every field, plain text)."""
    return {f["id"]: "同意" for f in fields if f.get("type", "string") == "string"}


def _open_tasks(case_id: int) -> list[Task]:
    db = session()
    db.expire_all()
    return list(db.scalars(sa.select(Task).where(Task.case_id == case_id, Task.state == "open")))


def _work(case_id: int, spec_id: str, outcome: str = "approve") -> int:
    """Complete the case's open task `spec_id` (every part of a 会签 stage, each by its
    signer), which must be all that is open, as its assignee; return how many parts."""
    tasks = _open_tasks(case_id)
    assert {t.spec_id for t in tasks} == {spec_id}
    for task in tasks:
        actor = session().get(User, task.assignee_id)
        fields = cases.open_task(actor, task.id).fields
        comment = "请补充日照分析" if outcome == "return" else "同意"
        cases.complete_task(actor, task.id, outcome, comment, _form_data(fields))
    return len(tasks)


def test_thousand_return_cycles_stay_open_then_every_stage_decides(demo_app):
    client = demo_app.test_client()
    with demo_app.app_context():
        db = session()
        clerk = db.scalars(sa.select(User).where(User.username == "clerk_liu")).one()
        applicant = cases.Applicant(name="规划申请人", id_number="330102199001010018",
                                    phone="13800000000")  # fmt: skip
        form = sample_form("planning-permit", floor_area=25000)  # over 2万㎡: collective study
        received = cases.receive_case(
            clerk, "planning-permit", applicant, required_materials("planning-permit"), form
        )
        case_no = received.subject.case_no
        case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))

        assert [t.spec_id for t in _open_tasks(case_id)] == ["Task_lead"]  # accepted at receipt
        for cycle in range(1, CYCLES + 1):
            _work(case_id, "Task_lead")
            _work(case_id, "Task_deputy", "return")
            if cycle % 250 == 0:
                case = db.get(Case, case_id)
                assert (case.status, case.decision) == ("in_progress", None), cycle

        case = db.get(Case, case_id)
        assert (case.status, case.decision, case.decided_at) == ("in_progress", None, None)
        assert [t.spec_id for t in _open_tasks(case_id)] == ["Task_lead"]
        # the stored workflow did not grow with the history
        assert len(case.state) < 20_000
    page = client.get("/results").get_data(as_text=True)
    assert f'data-case="{case_no}"' not in page

    with demo_app.app_context():
        parts = {spec_id: _work(case_id, spec_id) for spec_id in REQUIRED_STAGES[1:]}
        assert parts["Task_collective"] == 3  # the bureau's three leaders sign the 会签
        db = session()
        case = db.get(Case, case_id)
        assert (case.status, case.decision) == ("decided", "approved")
        assert _open_tasks(case_id) == []
        events = list(
            db.scalars(sa.select(Event).where(Event.case_id == case_id).order_by(Event.seq))
        )
        completed = [e.data["spec"] for e in events if e.type == "task_completed"]
        assert completed[0] == "Task_accept"
        assert completed.count("Task_lead") == completed.count("Task_deputy") == CYCLES + 1
        # after the last return, every stage the diagram requires was passed, in order
        passed = [s for s in REQUIRED_STAGES[1:] for _ in range(parts[s])]
        assert completed[-len(passed) :] == passed
        outcomes = [e.data["outcome"] for e in events if e.type == "task_completed"]
        assert outcomes[-len(passed) :] == ["approve"] * len(passed)
    page = client.get("/results").get_data(as_text=True)
    assert f'data-case="{case_no}"' in page
