"""Real cases through the API, replayed from the audit log the auditor reads (both databases)."""

from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa

from app.cases.models import Case
from app.db import session
from tests.apiclient import Api, required_materials, sample_form, users_with_role
from workflows.replay import replay, replay_all, verify

LEGAL = {"legal_basis": "《中华人民共和国行政许可法》第三十八条第二款"}
AUDITOR = "auditor_sun"


class Recorded:
    """A case driven through the API, with the open tasks the API showed after each call."""

    def __init__(self, api: Api, demo_app, created: dict) -> None:
        self.api, self.app = api, demo_app
        self.case_no = created["case_no"]
        self.seen: list[tuple[int, list[tuple[str, str]], list[str]]] = []
        self.look()

    def events(self) -> list[dict]:
        return self.api.call("GET", f"/cases/{self.case_no}/events", AUDITOR)["events"]

    def look(self) -> None:
        """Remember the last event seq and the open tasks the API shows now."""
        tasks = self.api.case(self.case_no, AUDITOR)["open_tasks"]
        last = self.events()[-1]["seq"]
        self.seen.append(
            (
                last,
                sorted((t["spec_id"], t["name"]) for t in tasks),
                sorted(t["id"] for t in tasks),
            )
        )

    def work(self, spec: str, outcome: str = "approve", comment: str = "", data=None) -> None:
        self.api.work(self.case_no, spec, outcome, comment, data)
        self.look()

    def window(self, operation: str, body: dict) -> None:
        clerk = users_with_role("clerk")[0]
        self.api.call("POST", f"/cases/{self.case_no}/{operation}", clerk, json=body)
        self.look()

    def diagram(self):
        """Return the compiled diagram of the version the case is pinned to."""
        with self.app.app_context():
            version_id = session().scalar(
                sa.select(Case.diagram_version_id).where(Case.case_no == self.case_no)
            )
            return self.app.extensions["ow_runtime"].diagram(session(), version_id)

    def check(self) -> list[dict]:
        """Verify the log and compare each replayed step with what the API showed."""
        events, diagram = self.events(), self.diagram()
        assert verify(diagram, events) is None
        for seq, tasks, ids in self.seen:
            state = replay(diagram, events, upto_seq=seq)
            assert state.seq == seq and state.divergence is None
            assert sorted((t.spec_id, t.name) for t in state.open_tasks) == tasks, seq
            assert sorted(state.open_task_ids) == ids, seq
        return events


@pytest.fixture
def api(client) -> Api:
    return Api(client)


def test_planning_permit_with_returns_and_collective_decision(api, demo_app):
    form = sample_form("planning-permit", floor_area=50000)
    case = Recorded(api, demo_app, api.apply("planning-permit", form))
    case.work("Task_lead")
    case.work("Task_deputy", "return", "补充日照分析")
    case.work("Task_lead")
    case.work("Task_deputy")
    case.work("Task_collective")
    case.work("Task_head", "return", "请分管领导复核容积率")
    case.work("Task_deputy")
    case.work("Task_collective")
    case.work("Task_head")
    case.work("Task_issue")
    events = case.check()
    final = replay(case.diagram(), events)
    assert (final.finished, final.result) == (True, "approved")
    assert final.gateways["Gateway_deputy"] == [
        "Flow_deputy_return", "Flow_deputy_approve", "Flow_deputy_approve",
    ]  # fmt: skip
    assert final.gateways["Gateway_head"] == ["Flow_head_return", "Flow_head_approve"]
    assert final.data["floor_area"] == 50000
    history = [h["spec_id"] for h in api.case(case.case_no, AUDITOR)["history"]]
    assert sorted(final.completed_tasks) == sorted(history)
    # a log whose deputy approval is turned into a rejection diverges at that event
    tampered = copy.deepcopy(events)
    [deputy] = [
        e
        for e in tampered
        if e["type"] == "task_completed"
        and e["data"]["spec"] == "Task_deputy"
        and e["data"]["outcome"] == "approve"
    ][:1]
    deputy["data"]["outcome"] = "reject"
    found = verify(case.diagram(), tampered)
    assert found is not None and found.seq == deputy["seq"]


def test_joint_item_with_a_parallel_rejection(api, demo_app):
    case = Recorded(api, demo_app, api.apply("joint-investment", sample_form("joint-investment")))
    case.work("Task_ndrc")
    case.work("Task_env", "reject", "项目位于饮用水水源保护区", LEGAL)
    case.work("Task_land")
    case.work("Task_construction")
    case.work("Task_denial")
    events = case.check()
    states = replay_all(case.diagram(), events)
    assert states[-1].result == "denied" and states[-1].data["env_outcome"] == "reject"
    assert states[-1].gateways == {"Gateway_result": ["Flow_any_reject"]}
    decided = [e for e in events if e["type"] == "case_decided"]
    assert [e["data"]["decision"] for e in decided] == ["denied"]
    # the gateway after the join is where a rejection turned into approval shows
    tampered = copy.deepcopy(events)
    for event in tampered:
        if event["type"] == "task_completed" and event["data"]["spec"] == "Task_env":
            event["data"]["outcome"] = "approve"
    found = verify(case.diagram(), tampered)
    gateway = next(e["seq"] for e in events if e["type"] == "gateway_taken")
    assert found.seq == gateway and found.expected["flows"] == ["Flow_all_approve"]


def test_supplemented_then_withdrawn_case(api, demo_app):
    needed = required_materials("house-initial")
    created = api.apply(
        "house-initial", sample_form("house-initial", certificates=45), materials=needed[:1]
    )
    assert created["status"] == "supplement_required"
    case = Recorded(api, demo_app, created)
    case.window("supplement", {"materials": needed})
    case.work("Task_survey")
    case.work("Task_review")
    case.work("Task_chief", "return", "查勘面积与申报不符，请复核")
    case.window("withdraw", {"reason": "申请人撤回"})
    case.check()
    final = replay(case.diagram(), case.events())
    assert final.withdrawn and final.open_tasks == [] and not final.finished
    assert final.gateways["Gateway_chief"] == ["Flow_chief_resurvey"]
