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
