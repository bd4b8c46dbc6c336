"""抄送 (issue 23): a case sent to officials for information, by the holder of its open task or
by the diagram, on both databases: the recipient reads the case and nothing more, the copy
is marked read when they open it, the chain records it and the re-execution passes it by.
"""

from __future__ import annotations

import sqlalchemy as sa

from app.cases.models import CaseCopy
from app.db import session
from tests.apiclient import Api, sample_form
from tests.test_authz import PEOPLE
from tests.variants import demo
from tests.verified import assert_verified
from tests.webclient import Web

ITEM = "planning-permit"
READER = "official_zhao"  # house registration: nothing to do with a planning permit


def _case(api: Api) -> tuple[str, dict]:
    case_no = api.apply(ITEM, sample_form(ITEM, floor_area=5000))["case_no"]
    [task] = api.open_tasks(case_no)
    return case_no, task


def test_the_holder_sends_a_case_for_information_and_the_reader_only_reads(demo_app):
    api = Api(demo_app.test_client())
    case_no, task = _case(api)
    holder = task["assignee"]
    api.call("GET", f"/cases/{case_no}", READER, 404)  # not theirs to read before
    sent = api.call("POST", f"/cases/{case_no}/copies", holder, 201,
                    json={"to": [READER], "reason": "涉及房屋登记，请知悉"})  # fmt: skip
    assert sent["sent"] == 1
    [copy] = api.call("GET", "/copies", READER)["copies"]
    assert (copy["case_no"], copy["read"], copy["stage"]) == (case_no, False, "Task_lead")
    assert api.call("GET", f"/cases/{case_no}", READER)["case_no"] == case_no
    assert api.call("GET", "/copies", READER)["copies"][0]["read"] is True
    # reading is all: the task is not theirs, nor the case's time
    api.call("POST", f"/tasks/{task['id']}/complete", READER, 403,
             json={"outcome": "approve", "comment": "", "data": {}})  # fmt: skip
    api.call("POST", f"/cases/{case_no}/pause", READER, 404,  # a copy admits reading only
             json={"kind": "expert_review", "reason": "x", "expected_days": 3})  # fmt: skip
    # the chain records it; the re-execution of the workflow passes it by
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    copied = [e for e in events if e["type"] == "case_copied"]
    assert len(copied) == 1 and copied[0]["data"]["reason"] == "涉及房屋登记，请知悉"
    assert_verified(demo_app, case_no)
    api.work(case_no, "Task_lead")
    assert_verified(demo_app, case_no)
    # the reader's case list holds it too
    web = Web(demo_app, READER)
    assert case_no in web.get("/cases?q=" + case_no).text


def test_only_the_holder_sends_and_only_to_officials(demo_app):
    api = Api(demo_app.test_client())
    case_no, task = _case(api)
    holder = task["assignee"]
    body = {"to": [READER], "reason": "请知悉"}
    for role, user in PEOPLE.items():
        if user is None:
            assert api.client.post(f"/api/v1/cases/{case_no}/copies", json=body).status_code == 401
        elif user != holder:
            status = api.client.post(
                f"/api/v1/cases/{case_no}/copies", json=body,
                headers={"Authorization": f"Bearer {api.token(user)}"}).status_code  # fmt: skip
            assert status in (403, 404), (role, status)
    for to, why in ((["applicant_he"], "applicant_he"), (["nobody_here"], "nobody_here"),
                    ([holder], "自己"), ([], "至少")):  # fmt: skip
        bad = api.call("POST", f"/cases/{case_no}/copies", holder, 400,
                       json={"to": to, "reason": "请知悉"})  # fmt: skip
        assert why in bad["message"], bad
    api.call("POST", f"/cases/{case_no}/copies", holder, 400, json={"to": [READER], "reason": ""})
    with demo_app.app_context():
        assert session().scalar(sa.select(sa.func.count()).select_from(CaseCopy)) == 0


def test_a_stage_with_cc_sends_the_case_to_a_post_when_done(demo_app):
    api = Api(demo_app.test_client())
    headers = {"Authorization": f"Bearer {api.token('analyst_zhou')}",
               "Content-Type": "application/xml"}  # fmt: skip
    xml = with_cc(demo(ITEM).decode())
    assert api.client.put(f"/api/v1/items/{ITEM}/draft", data=xml.encode(),
                          headers=headers).status_code == 200  # fmt: skip
    api.call("POST", f"/items/{ITEM}/deploy", "analyst_zhou", 201, json={"comment": "抄送局长"})
    case_no, _task = _case(api)
    api.work(case_no, "Task_lead")
    [copy] = api.call("GET", "/copies", "head_lin")["copies"]  # the head's post's A
    assert copy["case_no"] == case_no and copy["stage"] == "Task_lead"
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    [copied] = [e for e in events if e["type"] == "case_copied"]
    assert copied["data"]["by"] == "diagram"
    assert_verified(demo_app, case_no)
    web = Web(demo_app, "head_lin")
    inbox = web.get("/inbox").text
    assert f'data-copied="{case_no}"' in inbox and "unread" in inbox
    page = web.get(f"/cases/{case_no}").text
    assert "Sent for information" in page
    assert "unread" not in web.get("/inbox").text.split('id="copied"')[1]


def with_cc(xml: str) -> str:
    """The planning permit whose lead stage sends the case to the head's post when done."""
    marker = '<camunda:property name="stage" value="lead"/>'
    assert marker in xml
    return xml.replace(marker, marker + '<camunda:property name="cc" value="planning_head"/>', 1)


def test_the_page_sends_a_copy(demo_app):
    api = Api(demo_app.test_client())
    case_no, task = _case(api)
    holder = Web(demo_app, task["assignee"])
    page = holder.get(f"/cases/{case_no}").text
    assert 'id="copy-form"' in page
    holder.post(f"/cases/{case_no}/copies", {"to": [READER], "reason": "请知悉"})
    assert "请知悉" in holder.get(f"/cases/{case_no}").text
    reader = Web(demo_app, READER)
    assert f'data-copied="{case_no}"' in reader.get("/inbox").text
    assert 'id="copy-form"' not in reader.get(f"/cases/{case_no}").text
