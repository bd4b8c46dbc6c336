"""撤回 (issue 23), on both databases: the official who completed a step takes it back while
the next holder has not opened their task; refused once it was opened, once the case moved
on, for anyone else; the chain records it and the re-execution goes back the same way."""

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


def _case(api: Api) -> tuple[str, dict]:
    case_no = api.apply(ITEM, sample_form(ITEM, floor_area=5000))["case_no"]
    [lead] = api.open_tasks(case_no)
    api.work(case_no, "Task_lead", comment="同意")
    return case_no, lead


def _recall(api: Api, task_id: str, user: str, expect: int = 200):
    return api.call("POST", f"/tasks/{task_id}/recall", user, expect,
                    json={"reason": "意见写错，重新办理"})  # fmt: skip


def test_a_step_is_recalled_before_the_next_holder_opens_it(demo_app):
    api = Api(demo_app.test_client())
    case_no, lead = _case(api)
    [deputy] = api.open_tasks(case_no)
    assert deputy["spec_id"] == "Task_deputy"
    _recall(api, lead["id"], lead["assignee"])
    [again] = api.open_tasks(case_no)
    assert (again["id"], again["spec_id"], again["assignee"]) == (lead["id"], "Task_lead",
                                                                   lead["assignee"])  # fmt: skip
    assert again["due_at"] == lead["due_at"]
    history = {t["id"]: t["state"] for t in api.case(case_no, "auditor_sun")["history"]}
    assert history[deputy["id"]] == "cancelled"
    assert_verified(demo_app, case_no)
    replay = Web(demo_app, "auditor_sun").get(f"/audit/cases/{case_no}/replay").text
    assert "step recalled" in replay  # the auditor's replay goes back with it
    # the next steps go on from the recalled stage, rebuilt from the events alone
    with demo_app.app_context():
        db = session()
        db.execute(sa.update(Case).values(state=None, state_seq=None))
        db.commit()
        runtime().cache.clear()
    api.work(case_no, "Task_lead", comment="重新审查后同意")
    for spec in ("Task_deputy", "Task_head", "Task_issue"):
        api.work(case_no, spec)
    assert api.case(case_no)["decision"] == "approved"
    assert_verified(demo_app, case_no)


def test_refused_once_opened_once_moved_on_and_for_anyone_else(demo_app):
    api = Api(demo_app.test_client())
    case_no, lead = _case(api)
    [deputy] = api.open_tasks(case_no)
    for role, user in PEOPLE.items():
        if user is not None and user != lead["assignee"]:
            status = api.client.post(
                f"/api/v1/tasks/{lead['id']}/recall", json={"reason": "x"},
                headers={"Authorization": f"Bearer {api.token(user)}"}).status_code  # fmt: skip
            assert status in (403, 404), (role, status)
    Web(demo_app, deputy["assignee"]).get(f"/tasks/{deputy['id']}")  # the deputy opens it
    refused = _recall(api, lead["id"], lead["assignee"], 409)
    assert "已被承办人打开" in refused["message"]
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_deputy"]
    # a later step: the deputy's completion cannot be recalled once the head's task is
    # opened either, and the lead's never again (the case moved on)
    api.work(case_no, "Task_deputy")
    moved = _recall(api, lead["id"], lead["assignee"], 409)
    assert "继续流转" in moved["message"]
    assert_verified(demo_app, case_no)


def test_the_done_page_recalls(demo_app):
    api = Api(demo_app.test_client())
    case_no, lead = _case(api)
    web = Web(demo_app, lead["assignee"])
    page = web.get("/done").text
    assert f'data-recall="{lead["id"]}"' in page
    web.post(f"/tasks/{lead['id']}/recall", {"reason": "重新办理"})
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_lead"]
