"""The approval verbs in the statistics (issue 23), on both databases: each verb used on a
planning permit (and a copy on a house cancellation, another department) is counted once
under the item's department, in the period it was used, on the statistics page that
leaders, supervisors, auditors and admins see; the period before shows none."""

from __future__ import annotations

import datetime as dt
import re

from app.calendar.services import calendar
from app.db import utcnow
from tests.apiclient import Api, sample_form
from tests.webclient import Web

ITEM = "planning-permit"
COLLEAGUE, READER = "official_jiang", "official_qian"
DONE = {"outcome": "approve", "comment": "同意", "data": {}}


def _mine(api: Api, user: str, case_no: str) -> dict:
    [task] = [t for t in api.call("GET", "/tasks?assignee=me", user)["tasks"]
              if t["case_no"] == case_no]  # fmt: skip
    return task


def _use_every_verb(api: Api) -> str:
    case_no = api.apply(ITEM, sample_form(ITEM, floor_area=30000))["case_no"]
    [lead] = api.open_tasks(case_no)
    holder = lead["assignee"]
    api.call("POST", f"/cases/{case_no}/copies", holder, 201,
             json={"to": [READER, "official_zhao"], "reason": "请知悉"})  # 2 readers
    made = api.call("POST", f"/tasks/{lead['id']}/delegate", holder, 201,
                    json={"to": COLLEAGUE, "reason": "请先拟写"})  # fmt: skip
    api.call("POST", f"/tasks/{lead['id']}/take-back", holder)
    made = api.call("POST", f"/tasks/{lead['id']}/delegate", holder, 201,
                    json={"to": COLLEAGUE, "reason": "请先拟写"})  # fmt: skip
    api.call("POST", f"/delegations/{made['delegation']}/hand-back", COLLEAGUE,
             json={"data": {}, "comment": "已拟写"})  # fmt: skip
    added = api.call("POST", f"/tasks/{lead['id']}/add-signer", holder, 201,
                     json={"post": "planning_legal", "reason": "请法制审核"})  # fmt: skip
    api.call("POST", f"/tasks/{added['task_id']}/remove-signer", holder, json={"reason": "不必"})
    api.call("POST", f"/tasks/{lead['id']}/add-signer", holder, 201,
             json={"post": "planning_legal", "reason": "请法制审核"})  # fmt: skip
    api.call("POST", f"/tasks/{_mine(api, 'official_ren', case_no)['id']}/complete",
             "official_ren", json=DONE)  # fmt: skip
    api.call("POST", f"/tasks/{lead['id']}/ask-opinion", holder, 201,
             json={"post": "land_review", "question": "是否涉及基本农田？", "days": 3})
    opinion = next(t for t in api.open_tasks(case_no) if t["spec_id"] != "Task_lead")
    api.call("POST", f"/tasks/{opinion['id']}/complete", opinion["assignee"],
             json={**DONE, "comment": "不涉及"})  # fmt: skip
    api.call("POST", f"/tasks/{lead['id']}/complete", holder, json=DONE)
    api.call("POST", f"/tasks/{lead['id']}/recall", holder, json={"reason": "意见需修改"})
    api.call("POST", f"/tasks/{lead['id']}/complete", holder,
             json={**DONE, "then_sign": {"to": COLLEAGUE, "reason": "请复核"}})  # fmt: skip
    api.call("POST", f"/tasks/{_mine(api, COLLEAGUE, case_no)['id']}/complete", COLLEAGUE,
             json=DONE)  # fmt: skip
    api.work(case_no, "Task_deputy")
    api.work(case_no, "Task_collective")  # the three leaders' parts
    other = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    [review] = api.open_tasks(other)
    api.call("POST", f"/cases/{other}/copies", review["assignee"], 201,
             json={"to": ["official_lu"], "reason": "请知悉"})  # fmt: skip
    return case_no


def _table(page: str) -> dict[str, dict[str, int]]:
    """The verbs table of the statistics page: department -> verb -> count."""
    body = page[page.index('id="verbs"'):]
    body = body[: body.index("</table>")]
    out = {}
    for row in re.findall(r'<tr data-department="([^"]*)"[^>]*>(.*?)</tr>', body, re.S):
        cells = dict(re.findall(r'data-k="(\w+)">(\d+)<', row[1]))
        out[row[0] or "total"] = {k: int(v) for k, v in cells.items()}
    return out


def test_each_verb_is_counted_once_under_its_department_in_its_period(demo_app):
    api = Api(demo_app.test_client())
    _use_every_verb(api)
    with demo_app.app_context():
        month = calendar().local(utcnow()).strftime("%Y-%m")
        earlier = (calendar().local(utcnow()).replace(day=1) - dt.timedelta(days=1)).strftime(
            "%Y-%m")
    for user in ("supervisor_wu", "auditor_sun", "leader_chen", "admin"):
        page = Web(demo_app, user).get(f"/stats?period={month}").text
        table = _table(page)
        assert table["规划科"] == {
            "copies": 2, "delegated": 2, "handed_back": 1, "taken_back": 1,
            "signers_before": 2, "signers_after": 1, "signers_removed": 1, "signed": 2,
            "countersigned": 3, "recalled": 1, "opinions_asked": 1, "opinions_given": 1,
        }, user  # fmt: skip
        assert table["房屋登记科"]["copies"] == 1
        assert sum(table["房屋登记科"].values()) == 1
        assert table["total"]["copies"] == 3 and table["total"]["countersigned"] == 3
    before = Web(demo_app, "supervisor_wu").get(f"/stats?period={earlier}").text
    assert 'id="verbs"' not in before and "No approval verb was used" in before
    for user in ("official_lu", "clerk_liu", "analyst_zhou"):
        assert Web(demo_app, user).get(f"/stats?period={month}", expect=403).status_code == 403
