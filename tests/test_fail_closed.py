"""Fail closed: a step the engine cannot finish as the diagram says stops the case in the
fault state (流程异常); it is never decided, the people concerned are told, and an admin
retries the failed step or withdraws the case. Both databases, through the JSON API and pages.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.audit.models import Event
from app.cases.models import Case, Task
from app.db import session
from app.supervision.models import Notification, WarningCard
from tests.apiclient import Api, sample_form, users_with_role
from tests.webclient import Web
from workflows.engine import StepLimits

ADMIN = "admin"


def _limit(app, **limits) -> None:
    """Set the engine's step limits of this app (as OW_STEP_MAX_* would)."""
    app.extensions["ow_runtime"].engine.limits = StepLimits(**limits)


def _events(app, case_no: str) -> list[Event]:
    with app.app_context():
        case_id = session().scalar(sa.select(Case.id).where(Case.case_no == case_no))
        rows = session().scalars(
            sa.select(Event).where(Event.case_id == case_id).order_by(Event.seq)
        )
        return [(e.type, dict(e.data or {})) for e in rows]


def _cards_and_notes(app, case_no: str) -> tuple[list[tuple[str, bool]], set[int]]:
    with app.app_context():
        db = session()
        case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
        cards = [
            (c.level, c.closed_at is None)
            for c in db.scalars(sa.select(WarningCard).where(WarningCard.case_id == case_id))
        ]
        notified = set(
            db.scalars(
                sa.select(Notification.user_id).where(
                    Notification.case_id == case_id, Notification.kind == "fault"
                )
            )
        )
        return cards, notified


def _verified(app, case_no: str) -> bool:
    """Return whether the auditor's verification (chain and re-execution) passes."""
    from app.audit.review import verify_case

    with app.app_context():
        case = session().scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        return verify_case(session(), case).ok


def _user_ids(app, names: list[str]) -> set[int]:
    from app.org.models import User

    with app.app_context():
        return set(session().scalars(sa.select(User.id).where(User.username.in_(names))))


def test_a_completion_past_the_step_limit_stops_the_case_and_an_admin_retries_it(demo_app):
    api = Api(demo_app.test_client())
    case_no = api.apply("planning-permit", sample_form("planning-permit", floor_area=800))[
        "case_no"
    ]
    lead = next(t for t in api.open_tasks(case_no) if t["spec_id"] == "Task_lead")
    _limit(demo_app, max_tasks=0)
    answer = api.work(case_no, "Task_lead", expect=409)
    assert answer["code"] == "step-limit" and "案件处于流程异常状态" in answer["message"]
    assert "一个步骤运行了超过 0 个引擎任务；循环经过：" in answer["message"]

    case = api.case(case_no)
    assert case["status"] == "fault" and case["decision"] is None
    # the step was rolled back: the lead task is still open, nothing after it was created
    assert [t["spec_id"] for t in case["open_tasks"]] == ["Task_lead"]
    types = [t for t, _d in _events(demo_app, case_no)]
    assert types[-1] == "case_faulted"
    assert types.count("task_completed") == 1  # the acceptance at the window only
    fault = _events(demo_app, case_no)[-1][1]
    assert fault["code"] == "step-limit" and fault["step"]["kind"] == "complete"
    assert fault["step"]["task_id"] == lead["id"] and fault["previous_status"] == "accepted"

    # a red card, and supervision and the admins are told
    cards, notified = _cards_and_notes(demo_app, case_no)
    assert ("red", True) in cards
    expected = _user_ids(demo_app, users_with_role("supervisor") + users_with_role("admin"))
    assert notified == expected

    # nothing moves while the case is stopped; only an admin retries
    assert "流程异常而停止" in api.work(case_no, "Task_lead", expect=409)["message"]
    official = lead["assignee"]
    api.call("POST", f"/cases/{case_no}/retry", official, expect=403)
    _limit(demo_app, max_tasks=500, max_seconds=5.0)
    retried = api.call("POST", f"/cases/{case_no}/retry", ADMIN)
    assert retried["status"] == "in_progress"
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_deputy"]
    types = [t for t, _d in _events(demo_app, case_no)]
    assert types[types.index("case_faulted") + 1 :][:2] == ["case_retried", "task_completed"]
    with demo_app.app_context():
        done = session().get(Task, __import__("uuid").UUID(lead["id"]))
        assert done.state == "completed" and done.completed_by_id is not None
    cards, _ = _cards_and_notes(demo_app, case_no)
    assert ("red", True) not in cards  # the fault's card closed with the retry
    # the case goes on to its decision through every stage, and verifies
    api.work(case_no, "Task_deputy")
    while any(t["spec_id"] != "Task_issue" for t in api.open_tasks(case_no)):
        api.work(case_no, api.open_tasks(case_no)[0]["spec_id"])
    api.work(case_no, "Task_issue")
    assert api.case(case_no)["decision"] == "approved"
    assert _verified(demo_app, case_no)


def test_a_start_past_the_time_limit_keeps_the_case_stopped_not_lost(demo_app):
    api = Api(demo_app.test_client())
    _limit(demo_app, max_tasks=500, max_seconds=0.0)
    created = api.apply("planning-permit", sample_form("planning-permit", floor_area=800))
    case_no = created["case_no"]
    case = api.case(case_no)
    assert case["status"] == "fault" and case["open_tasks"] == []
    assert case["accepted_at"] is not None and case["due_at"] is not None  # its time runs
    fault = _events(demo_app, case_no)[-1][1]
    assert fault["code"] == "time-limit" and fault["step"] == {"kind": "start"}
    # the applicant's tracking shows the case in progress, not the centre's fault
    from app.applicants.tracking import progress

    with demo_app.app_context():
        row = session().scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        assert progress(row).status == "in_progress"
    # a retry that faults again keeps the case stopped, with the new fault logged
    again = api.call("POST", f"/cases/{case_no}/retry", ADMIN, expect=409)
    assert again["code"] == "time-limit"
    assert api.case(case_no)["status"] == "fault"
    assert [t for t, _d in _events(demo_app, case_no)].count("case_faulted") == 2
    _limit(demo_app, max_tasks=500, max_seconds=5.0)
    assert api.call("POST", f"/cases/{case_no}/retry", ADMIN)["status"] == "accepted"
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_lead"]
    assert _verified(demo_app, case_no)


def test_a_faulted_case_is_never_published_and_can_be_withdrawn_by_an_admin(demo_app):
    api = Api(demo_app.test_client())
    case_no = api.apply("planning-permit", sample_form("planning-permit", floor_area=800))[
        "case_no"
    ]
    _limit(demo_app, max_tasks=0)
    api.work(case_no, "Task_lead", expect=409)
    web = Web(demo_app)
    assert case_no not in web.get("/results").text
    web.login(ADMIN)
    page = web.get(f"/cases/{case_no}").text
    assert 'id="fault"' in page and "<code>Gateway_lead</code>" in page
    # supervision lists the stopped case with what happened
    watch = Web(demo_app)
    watch.login(users_with_role("supervisor")[0], lang="zh")
    listed = watch.get("/supervision").text
    table = listed[listed.index('id="faulted"') :].split("</table>")[0]
    assert case_no in table and "一步执行的引擎任务过多" in table
    official = users_with_role("clerk")[0]
    api.call("POST", f"/cases/{case_no}/retry", official, expect=403)
    body = {"reason": "流程图错误，申请人同意重新申请"}
    withdrawn = api.call("POST", f"/cases/{case_no}/withdraw", ADMIN, json=body)
    assert withdrawn["status"] == "withdrawn"
    cards, _ = _cards_and_notes(demo_app, case_no)
    assert ("red", True) not in cards
    # an admin cannot withdraw a case that is not faulted
    _limit(demo_app)
    other = api.apply("planning-permit", sample_form("planning-permit", floor_area=800))
    api.call("POST", f"/cases/{other['case_no']}/withdraw", ADMIN, expect=403, json=body)


def test_a_version_deployed_before_a_lint_rule_still_runs_and_its_end_without_result_faults(
    demo_app,
):
    """A version stored before ends needed a result: its cases load, and its end faults."""
    import hashlib

    from app.catalogue.models import DiagramVersion, Item
    from tests.apiclient import BPMN

    xml = (BPMN / "planning-permit.bpmn").read_text("utf-8")
    old = '<camunda:property name="result" value="approved"/>'
    assert xml.count(old) == 1
    xml = xml.replace(old, "")
    with demo_app.app_context():
        db = session()
        item = db.scalars(sa.select(Item).where(Item.code == "planning-permit")).one()
        db.add(DiagramVersion(
            item_id=item.id, version=2, process_id="Process_planning_permit",
            filename="planning-permit.bpmn", content=xml,
            content_hash=hashlib.sha256(xml.encode()).hexdigest(), comment="before the rule",
        ))  # fmt: skip
        db.commit()
    api = Api(demo_app.test_client())
    case_no = api.apply("planning-permit", sample_form("planning-permit", floor_area=800))[
        "case_no"
    ]
    assert api.case(case_no)["diagram_version"] == 2
    for spec in ("Task_lead", "Task_deputy", "Task_head"):
        api.work(case_no, spec)
    answer = api.work(case_no, "Task_issue", expect=409)
    assert answer["code"] == "no-result" and answer["element"]
    case = api.case(case_no)
    assert case["status"] == "fault" and case["decision"] is None


def test_an_official_on_the_web_is_told_in_chinese_and_the_task_stays_open(demo_app):
    api = Api(demo_app.test_client())
    case_no = api.apply("planning-permit", sample_form("planning-permit", floor_area=800))[
        "case_no"
    ]
    lead = next(t for t in api.open_tasks(case_no) if t["spec_id"] == "Task_lead")
    _limit(demo_app, max_tasks=0)
    web = Web(demo_app)
    web.login(lead["assignee"], lang="zh")
    resp = web.post(f"/tasks/{lead['id']}/complete",
                    {"outcome": "approve", "f_lead_opinion": "同意"})  # fmt: skip
    assert resp.headers["Location"].endswith(f"/cases/{case_no}")
    page = web.get(resp.headers["Location"]).text
    assert "流程已停止（一步执行的引擎任务过多" in page and "您的待办任务仍保留" in page
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_lead"]
