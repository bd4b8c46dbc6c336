"""征求意见 (issue 23), on both databases: the holder of a stage asks another post for a
written opinion with its own time limit; the post's holder gets it, the warning round cards
it when late (once), the answer is attached to the case, the case never waits for it and a
decided case closes the requests left open."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from app.cases.models import Task
from app.db import session
from app.supervision import services as supervision
from app.supervision.models import WarningCard
from tests.apiclient import POSTS, Api, sample_form
from tests.test_authz import PEOPLE
from tests.test_time_limits import Clock, utc
from tests.verified import assert_verified
from tests.webclient import Web

ITEM = "planning-permit"
LAND = "land_review"  # 用地预审岗: another department's post


def test_an_opinion_is_asked_answered_in_time_and_carded_when_late(demo_app):
    clock = Clock(utc(2026, 11, 2, 10))  # Monday 2 Nov 2026, 18:00 in the centre
    demo_app.config["CLOCK"] = clock
    api = Api(demo_app.test_client())
    case_no = api.apply(ITEM, sample_form(ITEM, floor_area=5000))["case_no"]
    [lead] = api.open_tasks(case_no)
    asked = api.call("POST", f"/tasks/{lead['id']}/ask-opinion", lead["assignee"], 201,
                     json={"post": LAND, "question": "是否涉及基本农田？", "days": 3})  # fmt: skip
    land_a = POSTS[LAND]["a"]
    mine = {t["id"] for t in api.call("GET", "/tasks?assignee=me", land_a)["tasks"]}
    assert asked["task_id"] in mine
    assert 'data-kind="opinion"' in Web(demo_app, land_a).get("/inbox").text
    # the case goes on: the lead stage is decided while the opinion is out
    api.work(case_no, "Task_lead")
    assert "Task_deputy" in [t["spec_id"] for t in api.open_tasks(case_no)]
    with demo_app.app_context():
        row = session().get(Task, uuid.UUID(asked["task_id"]))
        due, yellow = row.due_at, row.yellow_at
        def cards() -> list[str]:
            return sorted(session().scalars(sa.select(WarningCard.level).where(
                WarningCard.task_id == row.id)))  # fmt: skip

        supervision.scan()
        assert cards() == []
        clock.now = yellow
        supervision.scan()
        supervision.scan()
        assert cards() == ["yellow"]  # its yellow card, once
        clock.now = due + dt.timedelta(minutes=1)
        supervision.scan()
        assert cards() == ["red", "yellow"]
    api.call("POST", f"/tasks/{asked['task_id']}/complete", land_a, 400,
             json={"outcome": "approve", "comment": "", "data": {}})  # the opinion is needed
    api.call("POST", f"/tasks/{asked['task_id']}/complete", land_a,
             json={"outcome": "approve", "comment": "不涉及基本农田", "data": {}})  # fmt: skip
    page = Web(demo_app, "auditor_sun").get(f"/cases/{case_no}").text
    assert "不涉及基本农田" in page and "是否涉及基本农田" in page
    assert_verified(demo_app, case_no)


def test_only_the_holder_asks_and_a_decided_case_closes_what_is_open(demo_app):
    api = Api(demo_app.test_client())
    case_no = api.apply(ITEM, sample_form(ITEM, floor_area=5000))["case_no"]
    [lead] = api.open_tasks(case_no)
    body = {"post": LAND, "question": "请提出意见"}
    for role, user in PEOPLE.items():
        if user is not None and user != lead["assignee"]:
            status = api.client.post(
                f"/api/v1/tasks/{lead['id']}/ask-opinion", json=body,
                headers={"Authorization": f"Bearer {api.token(user)}"}).status_code  # fmt: skip
            assert status in (403, 404), (role, status)
    for bad in ({"post": "no_such_post", "question": "x"}, {"post": LAND, "question": " "},
                {"post": LAND, "question": "x", "days": 0},
                {"post": LAND, "question": "x", "days": "5"}):  # fmt: skip
        api.call("POST", f"/tasks/{lead['id']}/ask-opinion", lead["assignee"], 400, json=bad)
    asked = api.call("POST", f"/tasks/{lead['id']}/ask-opinion", lead["assignee"], 201,
                     json=body)  # fmt: skip
    for spec in ("Task_lead", "Task_deputy", "Task_head", "Task_issue"):
        api.work(case_no, spec)
    assert api.case(case_no)["decision"] == "approved"
    with demo_app.app_context():
        row = session().get(Task, uuid.UUID(asked["task_id"]))
        assert row.state == "cancelled"
    assert_verified(demo_app, case_no)


def test_a_withdrawn_case_closes_its_open_opinion_and_still_verifies(demo_app):
    api = Api(demo_app.test_client())
    case_no = api.apply(ITEM, sample_form(ITEM, floor_area=5000))["case_no"]
    [lead] = api.open_tasks(case_no)
    api.call("POST", f"/tasks/{lead['id']}/ask-opinion", lead["assignee"], 201,
             json={"post": LAND, "question": "请提出意见"})  # fmt: skip
    api.call("POST", f"/cases/{case_no}/withdraw", "clerk_liu", json={"reason": "申请人撤回"})
    events = [e["type"] for e in api.call("GET", f"/cases/{case_no}/events",
                                          "auditor_sun")["events"]]  # fmt: skip
    assert events.count("task_closed") == 1 and events.count("task_cancelled") == 1
    assert_verified(demo_app, case_no)
