"""The four demo items run end to end through the HTTP API, on both databases."""

from __future__ import annotations

import pytest

from tests.apiclient import POSTS, Api, required_materials, sample_form, users_with_role

LEGAL = {"legal_basis": "《中华人民共和国行政许可法》第三十八条第二款"}


@pytest.fixture
def api(client) -> Api:
    return Api(client)


def _assignee_of(post_code: str) -> str:
    return POSTS[post_code]["a"]


def _history(api: Api, case_no: str) -> list[tuple[str, str, str | None]]:
    return [(t["spec_id"], t["state"], t["outcome"]) for t in api.case(case_no)["history"]]


def test_house_cancellation_is_done_on_the_spot(api):
    created = api.apply("house-cancellation", sample_form("house-cancellation"))
    assert created["status"] == "accepted" and len(created["query_code"]) == 6
    case_no = created["case_no"]
    [review] = api.open_tasks(case_no)
    assert review["spec_id"] == "Task_review"
    assert review["assignee"] == _assignee_of("housing_review")
    assert review["assignment_reason"] == "分派给房屋登记审核岗的A角"
    api.work(case_no, "Task_review", "approve", "材料属实")
    api.work(case_no, "Task_issue")
    case = api.case(case_no)
    assert (case["status"], case["decision"]) == ("decided", "approved")
    assert case["open_tasks"] == []
    assert [h[0] for h in _history(api, case_no)] == ["Task_accept", "Task_review", "Task_issue"]
    api.call("POST", f"/cases/{case_no}/close", users_with_role("clerk")[0],
             json={"method": "in_person", "recipient": "李华"})  # fmt: skip
    assert api.case(case_no)["status"] == "closed"


def test_house_cancellation_rejected_with_reason_and_legal_basis(api):
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    api.work(case_no, "Task_review", "reject", "", LEGAL, expect=400)
    api.work(case_no, "Task_review", "reject", "房屋存在查封登记", {}, expect=400)
    api.work(case_no, "Task_review", "reject", "房屋存在查封登记", LEGAL)
    case = api.case(case_no)
    assert (case["status"], case["decision"]) == ("decided", "denied")
    assert case["decision_reason"] == "房屋存在查封登记"
    assert case["legal_basis"] == LEGAL["legal_basis"]


def test_missing_materials_are_listed_at_once_then_supplemented(api):
    needed = required_materials("house-initial")
    assert len(needed) >= 2
    created = api.apply(
        "house-initial", sample_form("house-initial", certificates=5), materials=needed[:1]
    )
    assert created["status"] == "supplement_required"
    assert [m["code"] for m in created["missing"]] == needed[1:]
    case_no = created["case_no"]
    assert api.open_tasks(case_no) == []
    clerk = users_with_role("clerk")[0]
    after = api.call("POST", f"/cases/{case_no}/supplement", clerk, json={"materials": needed[1:2]})
    assert after["status"] == ("accepted" if len(needed) == 2 else "supplement_required")
    after = api.call("POST", f"/cases/{case_no}/supplement", clerk, json={"materials": needed})
    assert after["status"] == "accepted"
    assert after["missing"] == []
    assert [t["spec_id"] for t in after["open_tasks"]] == ["Task_review"]


def test_house_initial_many_certificates_go_through_field_survey(api):
    case_no = api.apply("house-initial", sample_form("house-initial", certificates=45))["case_no"]
    [survey] = api.open_tasks(case_no)
    assert survey["spec_id"] == "Task_survey"
    assert survey["assignee"] == _assignee_of("survey_field")
    api.work(case_no, "Task_survey", data=_task_form(api, case_no, "Task_survey"))
    api.work(case_no, "Task_review", data=_task_form(api, case_no, "Task_review"))
    api.work(case_no, "Task_chief", "return", "查勘面积与申报不符，请复核")
    # a large project is returned to the field survey, then reviewed again
    api.work(case_no, "Task_survey", data=_task_form(api, case_no, "Task_survey"))
    api.work(case_no, "Task_review", data=_task_form(api, case_no, "Task_review"))
    api.work(case_no, "Task_chief", "approve", "同意")
    api.work(case_no, "Task_issue")
    case = api.case(case_no)
    assert case["decision"] == "approved"
    outcomes = [(h[0], h[2]) for h in _history(api, case_no)]
    assert ("Task_chief", "return") in outcomes
    assert [o[0] for o in outcomes].count("Task_review") == 2


def test_house_initial_few_certificates_skip_survey(api):
    case_no = api.apply("house-initial", sample_form("house-initial", certificates=3))["case_no"]
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_review"]


def _task_form(api: Api, case_no: str, spec_id: str) -> dict:
    return {}


def test_planning_permit_returns_and_collective_decision(api):
    form = sample_form("planning-permit", floor_area=50000)
    case_no = api.apply("planning-permit", form)["case_no"]
    api.work(case_no, "Task_lead")
    api.work(case_no, "Task_deputy", "return", "补充日照分析")
    api.work(case_no, "Task_lead")
    api.work(case_no, "Task_deputy")
    # 会签: one part for each of the bureau's leaders the item names, the deputy who just
    # decided signing his own part beside the others
    collective = api.open_tasks(case_no)
    assert {t["spec_id"] for t in collective} == {"Task_collective"}
    assert sorted(t["assignee"] for t in collective) == ["deputy_luo", "deputy_xie", "head_lin"]
    api.work(case_no, "Task_collective")
    api.work(case_no, "Task_head", "return", "请分管领导复核容积率")
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_deputy"]
    api.work(case_no, "Task_deputy")
    api.work(case_no, "Task_collective")
    api.work(case_no, "Task_head")
    api.work(case_no, "Task_issue")
    assert api.case(case_no)["decision"] == "approved"


def test_planning_permit_small_project_skips_collective_and_head_can_reject(api):
    case_no = api.apply("planning-permit", sample_form("planning-permit", floor_area=800))[
        "case_no"
    ]
    api.work(case_no, "Task_lead")
    api.work(case_no, "Task_deputy")
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_head"]
    api.work(case_no, "Task_head", "reject", "不符合控制性详细规划", LEGAL)
    case = api.case(case_no)
    assert case["decision"] == "denied" and case["decision_reason"] == "不符合控制性详细规划"


def test_joint_investment_parallel_all_approve(api):
    case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    lanes = {t["spec_id"]: t["assignee"] for t in api.open_tasks(case_no)}
    assert lanes == {
        "Task_ndrc": _assignee_of("ndrc_review"),
        "Task_land": _assignee_of("land_review"),
        "Task_construction": _assignee_of("construction_review"),
        "Task_env": _assignee_of("env_review"),
    }
    for spec in ("Task_env", "Task_ndrc", "Task_land"):
        api.work(case_no, spec)
        assert "Task_issue" not in [t["spec_id"] for t in api.open_tasks(case_no)]
    api.work(case_no, "Task_construction")
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_issue"]
    api.work(case_no, "Task_issue")
    assert api.case(case_no)["decision"] == "approved"


def test_joint_investment_one_lane_rejects_gives_reasoned_denial(api):
    case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    api.work(case_no, "Task_ndrc")
    api.work(case_no, "Task_env", "reject", "项目位于饮用水水源保护区", LEGAL)
    api.work(case_no, "Task_land")
    api.work(case_no, "Task_construction")
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_denial"]
    api.work(case_no, "Task_denial")
    case = api.case(case_no)
    assert (case["status"], case["decision"]) == ("decided", "denied")
    assert case["decision_reason"] == "项目位于饮用水水源保护区"
    events = api.call("GET", f"/cases/{case_no}/events", users_with_role("auditor")[0])["events"]
    taken = [e["data"] for e in events if e["type"] == "gateway_taken"]
    assert taken, "the exclusive gateway after the join must be logged"


def test_refusal_at_the_window_needs_reason_and_basis(api):
    refused = api.apply(
        "house-initial",
        sample_form("house-initial"),
        refusal={"reason": "不属于本机关职权范围"},
        expect=400,
    )
    assert refused["message"] == "不予受理需要写明理由和法律依据"
    refused = api.apply(
        "house-initial",
        sample_form("house-initial"),
        refusal={"reason": "不属于本机关职权范围", **LEGAL},
    )
    assert refused["status"] == "refused"


def test_withdrawal_cancels_open_tasks(api):
    case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    clerk = users_with_role("clerk")[0]
    case = api.call("POST", f"/cases/{case_no}/withdraw", clerk, json={"reason": "申请人撤回"})
    assert case["status"] == "withdrawn" and case["open_tasks"] == []
    assert {h[1] for h in _history(api, case_no) if h[0] != "Task_accept"} == {"cancelled"}
