"""Analysts change a procedure by saving a draft and deploying it; cases keep their version."""

from __future__ import annotations

import pytest

from config import BASE_DIR
from tests.apiclient import Api, sample_form
from tests.workflows.test_reference_models import REFERENCE_DIR

PLANNING = (BASE_DIR / "bpmn" / "planning-permit.bpmn").read_text("utf-8")
EXTRA_TASK = (
    '<bpmn:userTask id="Task_precheck" name="规划条件预审" camunda:candidateGroups="{post}">'
    "<bpmn:extensionElements><camunda:properties>"
    '<camunda:property name="stage" value="lead"/>{limit}'
    '<camunda:property name="outcomes" value="approve"/>'
    "</camunda:properties></bpmn:extensionElements>"
    "<bpmn:incoming>Flow_accepted</bpmn:incoming><bpmn:outgoing>Flow_precheck_done</bpmn:outgoing>"
    "</bpmn:userTask>"
    '<bpmn:sequenceFlow id="Flow_precheck_done" sourceRef="Task_precheck" targetRef="Task_lead"/>'
)


def _with_precheck(post: str, limit: str = "1d") -> str:
    """The planning-permit diagram with a pre-check stage between acceptance and lead."""
    prop = f'<camunda:property name="timeLimit" value="{limit}"/>' if limit else ""
    xml = PLANNING.replace(
        'id="Flow_accepted" sourceRef="Task_accept" targetRef="Task_lead"',
        'id="Flow_accepted" sourceRef="Task_accept" targetRef="Task_precheck"',
    )
    process_end = xml.index("</bpmn:process>")
    return xml[:process_end] + EXTRA_TASK.format(post=post, limit=prop) + xml[process_end:]


def _save(api: Api, xml: str, user: str = "analyst_zhou", expect: int = 200) -> dict:
    resp = api.client.put(
        "/api/v1/items/planning-permit/draft", data=xml.encode("utf-8"),
        headers={"Authorization": f"Bearer {api.token(user)}", "Content-Type": "application/xml"},
    )  # fmt: skip
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def test_a_draft_with_errors_is_saved_with_its_report_and_cannot_be_deployed(demo_app):
    api = Api(demo_app.test_client())
    report = _save(api, _with_precheck("no_such_post"))
    unknown = [f for f in report["findings"] if f["code"] == "unknown-post"]
    assert report["errors"] >= 1 and unknown[0]["element_id"] == "Task_precheck"
    assert unknown[0]["line"] and "no_such_post" in unknown[0]["message"]
    refused = api.call("POST", "/items/planning-permit/deploy", "analyst_zhou", 400,
                       json={"comment": "加预审"})  # fmt: skip
    assert any(f["code"] == "unknown-post" for f in refused["findings"])
    versions = api.call("GET", "/items/planning-permit/versions", "analyst_zhou")["versions"]
    assert [v["version"] for v in versions] == [1]


def test_a_deployed_change_is_followed_by_new_cases_only(demo_app):
    api = Api(demo_app.test_client())
    before = api.apply("planning-permit", sample_form("planning-permit"))["case_no"]
    # without a time limit: a warning, which does not block
    report = _save(api, _with_precheck("planning_lead", limit=""))
    assert report["errors"] == 0
    assert any(f["code"] == "missing-time-limit" and f["element_id"] == "Task_precheck"
               for f in report["findings"])  # fmt: skip
    _save(api, _with_precheck("planning_lead"))
    deployed = api.call("POST", "/items/planning-permit/deploy", "analyst_zhou", 201,
                        json={"comment": "受理后增加规划条件预审"})  # fmt: skip
    assert deployed["version"] == 2
    versions = api.call("GET", "/items/planning-permit/versions", "analyst_zhou")["versions"]
    assert versions[0]["comment"] == "受理后增加规划条件预审" and versions[0]["deployed_by_id"]
    after = api.apply("planning-permit", sample_form("planning-permit"))["case_no"]
    old, new = api.case(before), api.case(after)
    assert old["diagram_version"] == 1 and new["diagram_version"] == 2
    assert [t["spec_id"] for t in old["open_tasks"]] == ["Task_lead"]
    assert [t["spec_id"] for t in new["open_tasks"]] == ["Task_precheck"]
    # the old case goes on along version 1 to its end
    api.work(before, "Task_lead", data={"lead_opinion": "同意"})
    assert [t["spec_id"] for t in api.open_tasks(before)] == ["Task_deputy"]


def test_only_analysts_edit_and_deploy(demo_app):
    api = Api(demo_app.test_client())
    _save(api, PLANNING, user="official_lu", expect=403)
    api.call("POST", "/items/planning-permit/deploy", "admin", 403, json={"comment": "x"})


@pytest.mark.parametrize("name", sorted(p.name for p in REFERENCE_DIR.glob("*.bpmn")))
def test_every_reference_model_gets_a_report_without_a_crash(demo_app, name):
    from app.catalogue.drafts import report
    from app.catalogue.models import Item
    from app.db import session

    with demo_app.app_context():
        item = session().query(Item).filter_by(code="planning-permit").one()
        findings = report(item, (REFERENCE_DIR / name).read_bytes(), name)
    assert all(f.severity in ("error", "warning") and f.message for f in findings)


def test_diagram_xml_is_served_so_that_nothing_in_it_runs(demo_app):
    from tests.webclient import Web

    api = Api(demo_app.test_client())
    auth = {"Authorization": f"Bearer {api.token('analyst_zhou')}"}
    resp = api.client.get("/api/v1/items/planning-permit/versions/1/bpmn", headers=auth)
    assert resp.status_code == 200 and resp.mimetype == "application/xml"
    assert "sandbox" in resp.headers["Content-Security-Policy"]
    page = Web(demo_app, "analyst_zhou").get("/analyst/items/planning-permit/bpmn")
    assert "sandbox" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
