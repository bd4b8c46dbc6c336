"""加签 (before) and 减签 (issue 23), on both databases: the holder adds a signer whose opinion
comes before their decision, or removes one who has not acted; the workflow never moves for
it, the chain records it and the re-execution passes it by."""

from __future__ import annotations

import sqlalchemy as sa

from app.cases.models import Case
from app.cases.runtime import runtime
from app.db import session
from tests.apiclient import Api, sample_form
from tests.test_authz import PEOPLE
from tests.verified import assert_verified
from tests.webclient import Web

ITEM = "planning-permit"
SIGNER = "official_zhao"


def _case(api: Api) -> tuple[str, dict]:
    case_no = api.apply(ITEM, sample_form(ITEM, floor_area=5000))["case_no"]
    [lead] = api.open_tasks(case_no)
    return case_no, lead


def _complete(api: Api, task_id: str, user: str, expect: int = 200, outcome: str = "approve",
              comment: str = "同意"):  # fmt: skip
    return api.call("POST", f"/tasks/{task_id}/complete", user, expect,
                    json={"outcome": outcome, "comment": comment, "data": {}})  # fmt: skip


def test_the_added_signer_gives_an_opinion_before_the_holder_decides(demo_app):
    api = Api(demo_app.test_client())
    case_no, lead = _case(api)
    holder = lead["assignee"]
    added = api.call("POST", f"/tasks/{lead['id']}/add-signer", holder, 201,
                     json={"to": SIGNER, "reason": "请法制审核"})  # fmt: skip
    assert added["assignee_id"] and added["due_at"]
    mine = api.call("GET", "/tasks?assignee=me", SIGNER)["tasks"]
    assert added["task_id"] in {t["id"] for t in mine}
    _complete(api, lead["id"], holder, 409)  # the added signer goes first
    # the next step rebuilds the workflow from the events alone: the added task is none of it
    with demo_app.app_context():
        db = session()
        db.execute(sa.update(Case).values(state=None, state_seq=None))
        db.commit()
        runtime().cache.clear()
    _complete(api, added["task_id"], SIGNER, comment="符合规划条件")
    page = Web(demo_app, holder).get(f"/tasks/{lead['id']}").text
    assert "符合规划条件" in page and 'id="added-signers"' in page
    _complete(api, lead["id"], holder)
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_deputy"]
    events = [e["type"] for e in api.call("GET", f"/cases/{case_no}/events",
                                          "auditor_sun")["events"]]  # fmt: skip
    assert events.count("signer_added") == 1 and events.count("signer_signed") == 1
    assert_verified(demo_app, case_no)


def test_the_holder_removes_the_signer_who_has_not_acted(demo_app):
    api = Api(demo_app.test_client())
    case_no, lead = _case(api)
    holder = lead["assignee"]
    body = {"to": SIGNER, "reason": "请法制审核"}
    for role, user in PEOPLE.items():
        if user is not None and user != holder:
            status = api.client.post(
                f"/api/v1/tasks/{lead['id']}/add-signer", json=body,
                headers={"Authorization": f"Bearer {api.token(user)}"}).status_code  # fmt: skip
            assert status in (403, 404), (role, status)
    api.call("POST", f"/tasks/{lead['id']}/add-signer", holder, 400,
             json={"to": "applicant_he", "reason": "x"})  # fmt: skip
    added = api.call("POST", f"/tasks/{lead['id']}/add-signer", holder, 201, json=body)
    api.call("POST", f"/tasks/{lead['id']}/add-signer", holder, 409, json=body)  # one waits
    api.call("POST", f"/tasks/{added['task_id']}/remove-signer", SIGNER, 403,
             json={"reason": "x"})  # fmt: skip
    api.call("POST", f"/tasks/{added['task_id']}/remove-signer", holder,
             json={"reason": "不再需要"})  # fmt: skip
    _complete(api, added["task_id"], SIGNER, 409)  # removed: nothing to sign
    _complete(api, lead["id"], holder)
    # once the signer acted, they cannot be removed
    [deputy] = api.open_tasks(case_no)
    again = api.call("POST", f"/tasks/{deputy['id']}/add-signer", deputy["assignee"], 201,
                     json={"to": SIGNER, "reason": "请复核"})  # fmt: skip
    _complete(api, again["task_id"], SIGNER, comment="复核同意")
    api.call("POST", f"/tasks/{again['task_id']}/remove-signer", deputy["assignee"], 409,
             json={"reason": "x"})  # fmt: skip
    assert_verified(demo_app, case_no)


def _holder_of(app, task_id: str) -> tuple[str | None, str | None]:
    """The username holding a task and the one they act for (B for A)."""
    from app.cases.models import Task
    from app.org.models import User

    with app.app_context():
        db = session()
        task = db.get(Task, __import__("uuid").UUID(task_id))
        name = {u.id: u.username for u in db.scalars(sa.select(User))}
        return name.get(task.assignee_id), name.get(task.acting_for_id)


def test_the_planning_permit_asks_the_legal_section_and_its_b_signs_when_a_is_away(demo_app):
    api = Api(demo_app.test_client())
    case_no, lead = _case(api)
    holder = lead["assignee"]
    api.call("POST", f"/tasks/{lead['id']}/add-signer", holder, 400,
             json={"post": "no_such_post", "reason": "x"})  # fmt: skip
    added = api.call("POST", f"/tasks/{lead['id']}/add-signer", holder, 201,
                     json={"post": "planning_legal", "reason": "请法制审核"})  # fmt: skip
    assert _holder_of(demo_app, added["task_id"]) == ("official_ren", None)  # the post's A
    _complete(api, added["task_id"], "official_ren", comment="设计方案合法")
    _complete(api, lead["id"], holder)
    # the deputy asks again while the legal section's A is on leave: B signs for A
    api.call("POST", "/absences", "official_ren", 201,
             json={"kind": "leave", "starts_at": "2026-01-01T08:00",
                   "ends_at": "2036-01-01T18:00", "reason": "年休假"})  # fmt: skip
    [deputy] = api.open_tasks(case_no)
    again = api.call("POST", f"/tasks/{deputy['id']}/add-signer", deputy["assignee"], 201,
                     json={"post": "planning_legal", "reason": "请复核"})  # fmt: skip
    assert _holder_of(demo_app, again["task_id"]) == ("leader_yu", "official_ren")
    _complete(api, again["task_id"], "leader_yu", comment="复核同意")
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    posts = [e["data"].get("post") for e in events if e["type"] == "signer_added"]
    assert len(posts) == 2 and posts[0] == posts[1] is not None
    assert_verified(demo_app, case_no)


def test_a_signer_after_the_decision_lets_it_through_or_sends_it_back(demo_app):
    api = Api(demo_app.test_client())
    case_no, lead = _case(api)
    holder = lead["assignee"]
    body = {"outcome": "approve", "comment": "拟同意", "data": {},
            "then_sign": {"post": "planning_legal", "reason": "请法制审核后再报"}}  # fmt: skip
    api.call("POST", f"/tasks/{lead['id']}/complete", holder, 400,
             json={**body, "then_sign": {"post": "planning_legal"}})  # no reason: nothing
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_lead"]
    api.call("POST", f"/tasks/{lead['id']}/complete", holder, json=body)
    # the decision waits: the lead's task is open beside the signer's, the case has not moved
    assert sorted(t["spec_id"] for t in api.open_tasks(case_no)) == [
        "Task_lead", "Task_lead+signer"]
    _complete(api, lead["id"], holder, 409)
    [signing] = [t for t in api.call("GET", "/tasks?assignee=me", "official_ren")["tasks"]
                 if t["case_no"] == case_no]  # fmt: skip
    page = Web(demo_app, "official_ren").get(f"/tasks/{signing['id']}").text
    assert 'id="decided-before"' in page and "拟同意" in page
    # the legal section disagrees: the task is the holder's again, the decision dropped
    _complete(api, signing["id"], "official_ren", outcome="reject", comment="缺少规划条件核实")
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_lead"]
    page = Web(demo_app, holder).get(f"/tasks/{lead['id']}").text
    assert "缺少规划条件核实" in page and 'id="waits-after"' not in page
    # decided again with the signer after; this time they approve and the case moves on as
    # the holder decided (the holder completed the stage, not the signer)
    api.call("POST", f"/tasks/{lead['id']}/complete", holder,
             json={**body, "comment": "已补充核实，同意"})  # fmt: skip
    assert 'id="waits-after"' in Web(demo_app, holder).get(f"/tasks/{lead['id']}").text
    [signing] = [t for t in api.call("GET", "/tasks?assignee=me", "official_ren")["tasks"]
                 if t["case_no"] == case_no]  # fmt: skip
    done = _complete(api, signing["id"], "official_ren", comment="同意")
    assert [t["spec_id"] for t in done["next_tasks"]] == ["Task_deputy"]
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_deputy"]
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    [completed] = [e for e in events if e["type"] == "task_completed"
                   and e["data"].get("outcome") == "approve" and e.get("task_id") == lead["id"]]
    assert completed["actor"] == holder
    assert [e["data"].get("after") for e in events if e["type"] == "signer_added"] == [
        "approve", "approve"]
    assert_verified(demo_app, case_no)


def test_a_signer_after_removed_gives_the_decision_back(demo_app):
    api = Api(demo_app.test_client())
    case_no, lead = _case(api)
    holder = lead["assignee"]
    api.call("POST", f"/tasks/{lead['id']}/complete", holder,
             json={"outcome": "approve", "comment": "拟同意", "data": {},
                   "then_sign": {"to": SIGNER, "reason": "请复核"}})  # fmt: skip
    [signing] = [t for t in api.call("GET", "/tasks?assignee=me", SIGNER)["tasks"]
                 if t["case_no"] == case_no]  # fmt: skip
    assert sorted(t["spec_id"] for t in api.open_tasks(case_no)) == [
        "Task_lead", "Task_lead+signer"]
    api.call("POST", f"/tasks/{signing['id']}/remove-signer", holder, json={"reason": "不再需要"})
    _complete(api, signing["id"], SIGNER, 409)
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_lead"]
    _complete(api, lead["id"], holder)
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_deputy"]
    assert_verified(demo_app, case_no)
