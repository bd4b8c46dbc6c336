"""A/B backup (AB角): tasks never wait with someone who is away; every move is logged."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.db import session
from app.org.models import User
from tests.apiclient import POSTS, Api, sample_form

LEAVE = {"kind": "leave", "starts_at": "2026-01-01T08:00", "ends_at": "2036-01-01T18:00",
         "reason": "年休假"}  # fmt: skip


@pytest.fixture
def api(client) -> Api:
    return Api(client)


def _uid(app, username: str) -> int:
    with app.app_context():
        return session().scalar(sa.select(User.id).where(User.username == username))


def _leave(api: Api, user: str, who: str | None = None, expect: int = 201, **extra) -> dict:
    body = {**LEAVE, **extra}
    if who is not None:
        body["user_id"] = _uid(api.client.application, who)
    return api.call("POST", "/absences", user, expect, json=body)


def test_new_task_goes_to_b_when_a_is_on_leave(api):
    a, b = POSTS["housing_review"]["a"], POSTS["housing_review"]["b"]
    _leave(api, a)
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    [task] = api.open_tasks(case_no)
    assert task["assignee"] == b
    # stored as a code with its parameters, worded in the reader's language (the API's zh)
    passed = [["A", "leave", "2036-01-01T18:00"]]
    assert task["assignment_reason_code"]["reason"] == "b_acting"
    assert task["assignment_reason_code"]["passed"] == passed
    assert task["assignment_reason"] == "分派给房屋登记审核岗的B角：A角休假至 2036-01-01 18:00"
    api.work(case_no, "Task_review", "approve", "同意（B角代办）")
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    assigned = [e for e in events if e["type"] == "task_assigned"]
    assert any(e["data"]["reason"].get("passed") == passed for e in assigned)
    assert any(e["data"]["acting_for_id"] == _uid(api.client.application, a) for e in assigned)


def test_absence_moves_open_tasks_to_b_and_back_when_a_returns(api):
    a, b = POSTS["ndrc_review"]["a"], POSTS["ndrc_review"]["b"]
    case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    before = {t["spec_id"]: t["assignee"] for t in api.open_tasks(case_no)}
    assert before["Task_ndrc"] == a
    absence = _leave(api, a)
    after = {t["spec_id"]: t for t in api.open_tasks(case_no)}
    assert after["Task_ndrc"]["assignee"] == b
    assert after["Task_land"]["assignee"] == before["Task_land"]  # others untouched
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    [moved] = [e for e in events if e["type"] == "task_reassigned"]
    assert moved["data"]["to"] == _uid(api.client.application, b)
    # A comes back: the task B has not started goes back to A
    api.call("DELETE", f"/absences/{absence['id']}", a)
    back = {t["spec_id"]: t["assignee"] for t in api.open_tasks(case_no)}
    assert back["Task_ndrc"] == a


def test_a_and_b_away_together_needs_the_leader(api):
    post = POSTS["env_review"]
    _leave(api, post["a"])
    body = _leave(api, post["b"], expect=409)
    assert "A角和B角不得同时不在岗" in body["message"]
    body = _leave(api, post["leader"], who=post["b"], confirm=True)
    assert body["confirmed_by_id"] == _uid(api.client.application, post["leader"])
    case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    env = next(t for t in api.open_tasks(case_no) if t["spec_id"] == "Task_env")
    assert env["assignee"] == post["leader"]
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    assert any(e["type"] == "task_escalated" for e in events)


def test_sick_leave_is_taken_as_it_comes_and_escalates(api):
    post = POSTS["land_review"]
    case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    _leave(api, post["a"])
    _leave(api, post["b"], kind="sick", reason="急诊")
    land = next(t for t in api.open_tasks(case_no) if t["spec_id"] == "Task_land")
    assert land["assignee"] == post["leader"]
    assert "A角休假" in land["assignment_reason"] and "B角病假" in land["assignment_reason"]


def test_only_the_person_their_leader_or_admin_registers_an_absence(api):
    a = POSTS["housing_review"]["a"]
    body = _leave(api, "official_shi", who=a, expect=403)
    assert "负责人" in body["message"]
    _leave(api, POSTS["housing_review"]["leader"], who=a)
    api.call("POST", "/absences", a, 400, json={**LEAVE, "ends_at": "2025-01-01T00:00"})


def test_four_eyes_skips_the_previous_decider(api):
    # the collective decision (会签) is signed last by deputy_xie; then the 局长 goes away:
    # the head stage would go to his B (deputy_xie), who decided the stage before
    case_no = api.apply("planning-permit", sample_form("planning-permit", floor_area=50000))[
        "case_no"
    ]
    api.work(case_no, "Task_lead")
    api.work(case_no, "Task_deputy")
    parts = {t["assignee"]: t for t in api.open_tasks(case_no)}
    last = POSTS["planning_head"]["b"]
    assert set(parts) == {"head_lin", "deputy_luo", "deputy_xie"} and last in parts
    for signer in sorted(parts, key=lambda name: name == last):
        if signer == last:
            _leave(api, POSTS["planning_head"]["a"])
        api.call("POST", f"/tasks/{parts[signer]['id']}/complete", signer,
                 json={"outcome": "approve", "comment": "同意", "data": {}})  # fmt: skip
    [head] = api.open_tasks(case_no)
    assert head["spec_id"] == "Task_head"
    assert head["assignee"] == POSTS["planning_head"]["leader"]
    assert "双人复核" in head["assignment_reason"]


def test_nobody_handles_their_own_application(demo_app, api):
    official = POSTS["housing_review"]["a"]
    with demo_app.app_context():
        db = session()
        db.execute(sa.update(User).where(User.username == official).values(
            id_number="330102199001011234"))  # fmt: skip
        db.commit()
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    [task] = api.open_tasks(case_no)
    assert task["assignee"] == POSTS["housing_review"]["b"]
    assert "是本案的申请人" in task["assignment_reason"]


def test_scheduler_moves_tasks_when_a_later_absence_begins(demo_app, api):
    import datetime as dt
    import time

    from app.db import utcnow
    from app.scheduler import TimerScheduler

    a, b = POSTS["env_review"]["a"], POSTS["env_review"]["b"]
    case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    scheduler = TimerScheduler(demo_app)
    demo_app.extensions["ow_scheduler"] = scheduler
    scheduler.start()
    try:
        begins = utcnow() + dt.timedelta(seconds=1.5)
        _leave(api, a, starts_at=begins.isoformat() + "+00:00",
               ends_at=(begins + dt.timedelta(days=2)).isoformat() + "+00:00")  # fmt: skip
        env = lambda: next(t for t in api.open_tasks(case_no) if t["spec_id"] == "Task_env")  # noqa: E731
        assert env()["assignee"] == a  # not yet
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and env()["assignee"] != b:
            time.sleep(0.1)
        assert env()["assignee"] == b
        assert "A角休假" in env()["assignment_reason"]
    finally:
        scheduler.shutdown()


def test_a_task_b_has_opened_stays_with_b_when_a_returns(api):
    a, b = POSTS["construction_review"]["a"], POSTS["construction_review"]["b"]
    absence = _leave(api, a)
    case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    task = next(t for t in api.open_tasks(case_no) if t["spec_id"] == "Task_construction")
    assert task["assignee"] == b
    api.call("GET", f"/tasks/{task['id']}", "official_shi", 403)  # another official
    shown = api.call("GET", f"/tasks/{task['id']}", b)
    assert shown["started_at"] and shown["acting_for_id"] == _uid(api.client.application, a)
    assert shown["case_no"] == case_no and shown["materials"]
    assert api.call("GET", f"/tasks/{task['id']}", "auditor_sun")["id"] == task["id"]
    api.call("DELETE", f"/absences/{absence['id']}", a)
    again = next(t for t in api.open_tasks(case_no) if t["spec_id"] == "Task_construction")
    assert again["assignee"] == b  # B started it: it stays with B
