"""委派 (issue 23): a task's holder hands the work to a colleague, who fills in the form and
hands it back; the holder still decides and signs. Both databases."""

from __future__ import annotations

from tests.apiclient import Api, sample_form
from tests.test_authz import PEOPLE
from tests.verified import assert_verified
from tests.webclient import Web

ITEM = "planning-permit"
COLLEAGUE = "official_jiang"  # B of the lead's post: a colleague in the same section
OUTSIDER = "official_zhao"


def _case(api: Api) -> tuple[str, dict]:
    case_no = api.apply(ITEM, sample_form(ITEM, floor_area=5000))["case_no"]
    [task] = api.open_tasks(case_no)
    return case_no, task


def test_delegate_fill_in_hand_back_and_the_holder_decides(demo_app):
    api = Api(demo_app.test_client())
    case_no, task = _case(api)
    holder = task["assignee"]
    assert holder != COLLEAGUE
    made = api.call("POST", f"/tasks/{task['id']}/delegate", holder, 201,
                    json={"to": COLLEAGUE, "reason": "请先拟写承办意见"})  # fmt: skip
    [mine] = api.call("GET", "/delegations", COLLEAGUE)["delegations"]
    assert (mine["case_no"], mine["task"], mine["delegation"]) == (case_no, task["name"],
                                                                    made["delegation"])  # fmt: skip
    # the holder waits: the task cannot be completed while the work is away
    api.call("POST", f"/tasks/{task['id']}/complete", holder, 409,
             json={"outcome": "approve", "comment": "", "data": {}})  # fmt: skip
    # the delegate reads the case, works on their page, cannot complete the task itself
    api.call("GET", f"/cases/{case_no}", COLLEAGUE)
    api.call("POST", f"/tasks/{task['id']}/complete", COLLEAGUE, 403,
             json={"outcome": "approve", "comment": "", "data": {}})  # fmt: skip
    work = api.call("GET", f"/delegations/{made['delegation']}", COLLEAGUE)
    field = work["fields"][0]["id"]
    filled = {"data": {field: "经审查，符合规划条件"}, "comment": "已拟写"}
    back = api.call("POST", f"/delegations/{made['delegation']}/hand-back", COLLEAGUE,
                    json=filled)  # fmt: skip
    assert back["handed_back"] and back["data"] == {field: "经审查，符合规划条件"}
    api.call("POST", f"/delegations/{made['delegation']}/hand-back", COLLEAGUE, 409,
             json={"data": {}, "comment": "again"})  # fmt: skip
    assert api.call("GET", "/delegations", COLLEAGUE)["delegations"] == []
    # the holder's page is filled with what came back; the holder decides and signs
    page = Web(demo_app, holder).get(f"/tasks/{task['id']}").text
    assert "经审查，符合规划条件" in page and "已拟写" in page
    api.work(case_no, "Task_lead", data={field: "经审查，符合规划条件"})
    history = api.call("GET", f"/cases/{case_no}", "auditor_sun")["history"]
    done = next(t for t in history if t["spec_id"] == "Task_lead")
    assert done["state"] == "completed"
    events = [e["type"] for e in api.call("GET", f"/cases/{case_no}/events",
                                          "auditor_sun")["events"]]  # fmt: skip
    assert events.count("task_delegated") == 1 and events.count("task_handed_back") == 1
    assert_verified(demo_app, case_no)


def test_the_holder_takes_it_back_and_only_the_holder_delegates(demo_app):
    api = Api(demo_app.test_client())
    case_no, task = _case(api)
    holder = task["assignee"]
    body = {"to": COLLEAGUE, "reason": "请协助"}
    for role, user in PEOPLE.items():
        if user is None:
            path = f"/api/v1/tasks/{task['id']}/delegate"
            assert api.client.post(path, json=body).status_code == 401
        elif user != holder:
            status = api.client.post(
                f"/api/v1/tasks/{task['id']}/delegate", json=body,
                headers={"Authorization": f"Bearer {api.token(user)}"}).status_code  # fmt: skip
            assert status in (403, 404), (role, status)
    for to in ("applicant_he", holder, "nobody_here"):
        api.call("POST", f"/tasks/{task['id']}/delegate", holder, 400,
                 json={"to": to, "reason": "请协助"})  # fmt: skip
    api.call("POST", f"/tasks/{task['id']}/delegate", holder, 400,
             json={"to": COLLEAGUE, "reason": " "})  # fmt: skip
    made = api.call("POST", f"/tasks/{task['id']}/delegate", holder, 201, json=body)
    api.call("POST", f"/tasks/{task['id']}/delegate", holder, 409, json=body)  # one at a time
    api.call("GET", f"/delegations/{made['delegation']}", OUTSIDER, 404)  # not theirs
    api.call("POST", f"/tasks/{task['id']}/take-back", COLLEAGUE, 403)
    api.call("POST", f"/tasks/{task['id']}/take-back", holder)
    api.call("POST", f"/delegations/{made['delegation']}/hand-back", COLLEAGUE, 409,
             json={"data": {}, "comment": "late"})  # fmt: skip
    api.work(case_no, "Task_lead")  # the holder completes it after taking it back
    assert_verified(demo_app, case_no)


def test_the_pages_delegate_and_hand_back(demo_app):
    api = Api(demo_app.test_client())
    case_no, task = _case(api)
    holder = Web(demo_app, task["assignee"])
    assert 'id="delegate"' in holder.get(f"/tasks/{task['id']}").text
    holder.post(f"/tasks/{task['id']}/delegate", {"to": COLLEAGUE, "reason": "请先拟写"})
    assert 'id="delegated"' in holder.get(f"/tasks/{task['id']}").text
    colleague = Web(demo_app, COLLEAGUE)
    inbox = colleague.get("/inbox").text
    assert f'data-delegated="{case_no}"' in inbox
    [mine] = api.call("GET", "/delegations", COLLEAGUE)["delegations"]
    page = colleague.get(f"/delegations/{mine['delegation']}").text
    assert 'id="hand-back"' in page
    colleague.post(f"/delegations/{mine['delegation']}", {"comment": "请审定"})
    assert 'id="handed-back"' in holder.get(f"/tasks/{task['id']}").text
