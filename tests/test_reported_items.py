"""上报件 (Licensing Law arts. 35, 43), on both databases: the centre reviews first within 20
working days of acceptance, reports its opinion and all the materials directly to the upper
authority, whose decision it then records and delivers. The test item and its diagram live
in tests/data/reported/ (the demo centre's bpmn/ folder does not hold them)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.errors import Conflict, InvalidInput
from tests.apiclient import Api
from tests.test_time_limits import Clock, local, utc

DATA = Path(__file__).parent / "data" / "reported"
ITEM = "land-conversion"
UPPER = "示范省自然资源厅"
REPORT = {"report_no": "示自然资用〔2026〕31号", "report_date": "2026-10-27",
          "opinion": "经初步审查，申请材料齐全，符合法定形式，拟同意转用，报请审批。"}  # fmt: skip


def _load(app, path: Path | None = None) -> None:
    """Load the test item (TOML and diagram) as the demo centre loads its own."""
    from app.db import session
    from app.demo import _load_item
    from app.org.models import Department

    with app.app_context():
        db = session()
        departments = {d.code: d for d in db.scalars(sa.select(Department))}
        _load_item(path or DATA / f"{ITEM}.toml", departments)
        db.commit()


@pytest.fixture
def reported_app(demo_app):
    _load(demo_app)
    return demo_app


def _apply(app, clock: Clock) -> tuple[Api, str]:
    app.config["CLOCK"] = clock
    api = Api(app.test_client())
    case = api.apply(ITEM, {"project_name": "示范产业园二期"}, materials=["application"])
    return api, case["case_no"]


def _query_code(app, case_no: str) -> str:
    from app.cases.models import Case
    from app.db import session

    with app.app_context():
        return session().scalar(sa.select(Case.query_code).where(Case.case_no == case_no))


def _track(app, case_no: str) -> str:
    from tests.webclient import Web

    visitor = Web(app, lang="zh")
    visitor.get("/login")  # a form's token for the query
    return visitor.post("/track", {"case_no": case_no, "code": _query_code(app, case_no)},
                        expect=200).text  # fmt: skip


def _cards(app, case_no: str, now: dt.datetime) -> list[tuple[str, str]]:
    """Scan for cards at `now`; return the (level, subject) of the case's cards."""
    from app.cases.models import Case
    from app.db import session
    from app.supervision.models import WarningCard
    from app.supervision.services import scan

    with app.app_context():
        scan(now)
        db = session()
        case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
        return sorted(db.execute(sa.select(WarningCard.level, WarningCard.subject)
                                 .where(WarningCard.case_id == case_id)).all())  # fmt: skip


def test_the_first_instance_runs_20_working_days_across_national_day(reported_app):
    # accepted Mon 28 Sep 2026 10:00. The calendar (chinese_calendar 1.11.0, the State
    # Council's 2026 notice): 1–7 Oct off, Sat 10 Oct a make-up working day. The 20 working
    # days after the day of acceptance: 29, 30 Sep (2); 8, 9, 10 Oct (5); 12–16 Oct (10);
    # 19–23 Oct (15); 26–30 Oct (20): Fri 30 Oct 2026, 17:00 local = 09:00 UTC
    api, case_no = _apply(reported_app, Clock(utc(2026, 9, 28, 10)))
    case = api.case(case_no)
    assert case["item"]["kind"] == "reported"
    assert case["statutory_due_at"].startswith("2026-10-30T09:00")
    assert local(dt.datetime.fromisoformat(case["statutory_due_at"])) == dt.datetime(
        2026, 10, 30, 17)  # fmt: skip
    assert case["reported_at"] is None


def test_no_card_after_the_report_and_the_upper_decision_decides_the_case(reported_app):
    clock = Clock(utc(2026, 9, 28, 10))
    api, case_no = _apply(reported_app, clock)
    _, other = _apply(reported_app, clock)  # the same item, never reported: the control
    api.work(case_no, "Task_review")
    clock.now = utc(2026, 10, 27, 15)  # Tue 27 Oct, within the 20 days (due Fri 30 Oct)
    api.work(case_no, "Task_report", data=REPORT)
    case = api.case(case_no)
    assert case["reported_at"].startswith("2026-10-27T07:00")  # 15:00 local
    assert case["status"] == "in_progress" and case["decision"] is None
    [upper] = case["open_tasks"]
    assert upper["spec_id"] == "Task_upper"
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    [reported] = [e for e in events if e["type"] == "case_reported"]
    assert reported["actor"] == "official_pan"
    assert reported["data"]["to"] == UPPER and reported["data"]["report_no"] == REPORT["report_no"]
    assert reported["data"]["within_first_instance"] is True
    # the centre's clock has stopped: it is neither paused nor extended any more
    pause = {"kind": "expert_review", "reason": "组织专家评审", "expected_days": 3}
    refused = api.call("POST", f"/cases/{case_no}/pause", "clerk_liu", 409, json=pause)
    assert refused["message"].startswith("本件已报送上级行政机关，本级办理时限已停止计算")
    extension = {"days": 5, "reason": "需组织专家论证"}
    api.call("POST", f"/cases/{case_no}/extend", "head_lin", 409, json=extension)

    # Tue 10 Nov: the first instance ran out on 30 Oct. The unreported case gets its red
    # card; the reported one none, though the province has not decided yet
    now = utc(2026, 11, 10, 10)
    assert ("red", f"case:{_case_id(reported_app, other)}") in _cards(reported_app, other, now)
    assert _cards(reported_app, case_no, now) == []
    clock.now = now
    from tests.webclient import Web

    page = Web(reported_app, "supervisor_wu", lang="zh").get("/supervision").text
    overdue = page[page.index("超期办件") :]
    overdue = overdue[: overdue.index("</table>")]
    assert other in overdue and case_no not in overdue
    listed = page[page.index('id="reported-cases"') :]
    assert case_no in listed[: listed.index("</table>")] and "已上报" in listed

    # the applicant is told where and when it went, and that nothing is to be handed in again
    page = _track(reported_app, case_no)
    record = page[page.index('id="report-record"') :]
    record = record[: record.index("</section>")]
    assert ("已报送示范省自然资源厅（2026-10-27）审批，初步审查意见和全部申请材料已直接报送，"
            "无需重复提交") in record  # fmt: skip
    assert "示范省自然资源厅依其法定期限作出决定" in record

    # Mon 16 Nov: the province's decision arrives, dated Fri 13 Nov, and the window records it
    clock.now = utc(2026, 11, 16, 9, 30)
    decision = {"upper_decision_no": "示自然资农转〔2026〕15号",
                "upper_decision_date": "2026-11-13"}  # fmt: skip
    api.work(case_no, "Task_upper", data=decision)
    case = api.case(case_no)
    assert (case["status"], case["decision"]) == ("decided", "approved")
    assert case["decided_at"].startswith("2026-11-16T01:30")
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    [recorded] = [e for e in events if e["type"] == "upper_decision_recorded"]
    assert recorded["data"] == {"authority": UPPER, "decision": "approved",
                                "decision_no": "示自然资农转〔2026〕15号",
                                "decision_date": "2026-11-13"}  # fmt: skip
    page = _track(reported_app, case_no)
    assert "示范省自然资源厅已于 2026-11-13 作出决定（示自然资农转〔2026〕15号）：准予许可" in page
    staff = Web(reported_app, "clerk_wei", lang="zh").get(f"/cases/{case_no}").text
    assert "示自然资农转〔2026〕15号" in staff[staff.index('id="case-upper-decision"') :]
    assert REPORT["opinion"] in staff
    # the decision is the province's, numbered by it: no letter of the city bureau's series
    assert "decisions_numbered" not in {e["type"] for e in events}
    assert api.case(case_no)["decisions"] == []
    refused = Web(reported_app, "clerk_wei", lang="zh").get(
        f"/cases/{case_no}/notices/decision.pdf", expect=409).text  # fmt: skip
    assert "上级行政机关" in refused
    # the statistics count it on time: its first instance ended with the report on 27 Oct,
    # before the limit of 30 Oct, though the province decided on 13 Nov
    from app.calendar.services import calendar
    from app.db import session
    from app.stats.queries import case_facts

    with reported_app.app_context():
        facts = case_facts(session(), calendar(), utc(2026, 11, 16, 0), utc(2026, 11, 17, 0))
    assert {f.name for f in facts} >= {"approved", "on_time_promised", "on_time_statutory"}


def _case_id(app, case_no: str) -> int:
    from app.cases.models import Case
    from app.db import session

    with app.app_context():
        return session().scalar(sa.select(Case.id).where(Case.case_no == case_no))


def test_a_denial_by_the_upper_authority_needs_its_reason_and_basis(reported_app):
    clock = Clock(utc(2026, 11, 2, 10))
    api, case_no = _apply(reported_app, clock)
    api.work(case_no, "Task_review")
    api.work(case_no, "Task_report", data={**REPORT, "report_date": "2026-11-02"})
    upper = {"upper_decision_no": "示自然资农转〔2026〕16号", "upper_decision_date": "2026-11-02"}
    api.work(case_no, "Task_upper", "reject", "", upper, expect=400)  # no reason, no basis
    api.work(case_no, "Task_upper", "reject", "占用永久基本农田",
             {**upper, "legal_basis": "《中华人民共和国土地管理法》第三十五条"})  # fmt: skip
    case = api.case(case_no)
    assert (case["status"], case["decision"]) == ("decided", "denied")
    assert case["decision_reason"] == "占用永久基本农田"
    assert case["legal_basis"] == "《中华人民共和国土地管理法》第三十五条"


def test_a_report_needs_its_number_date_and_opinion(reported_app):
    clock = Clock(utc(2026, 11, 2, 10))
    api, case_no = _apply(reported_app, clock)
    api.work(case_no, "Task_review")
    api.work(case_no, "Task_report", data={**REPORT, "report_no": ""}, expect=400)
    # dated before the acceptance (Mon 2 Nov): refused
    early = api.work(case_no, "Task_report", data={**REPORT, "report_date": "2026-10-30"},
                     expect=400)  # fmt: skip
    assert early["message"] == "上报日期须在受理之日至今日之间。"
    assert api.case(case_no)["reported_at"] is None


def test_an_upper_decision_before_the_report_is_refused(reported_app):
    """The guard behind the diagram check: a completion of the upper-decision stage on a case
    not reported is refused before the engine runs."""
    from app.cases import reported
    from app.cases.models import Case, Task
    from app.cases.steps import Completion
    from app.db import session

    api, case_no = _apply(reported_app, Clock(utc(2026, 11, 2, 10)))
    with reported_app.test_request_context(headers={"Accept-Language": "zh"}):
        db = session()
        case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
        task = Task(spec_id="Task_upper", name="登记上级审批决定", stage="upper_decision")
        data = {"upper_decision_no": "示自然资农转〔2026〕17号",
                "upper_decision_date": "2026-11-02"}  # fmt: skip
        with pytest.raises(Conflict) as refused:
            reported.prepare(db, case_id, Completion(task, 1, "approve", "", data),
                             utc(2026, 11, 2, 11))  # fmt: skip
        assert "示范省自然资源厅" in refused.value.message
    case = api.case(case_no)
    assert (case["status"], case["decision"], case["reported_at"]) == ("accepted", None, None)


def test_a_diagram_that_reaches_the_upper_decision_without_the_report_is_refused(reported_app):
    from app.catalogue.services import deploy_file

    diagram = (DATA / f"{ITEM}.bpmn").read_text("utf-8")
    # a gateway after the review lets one path go straight to the upper decision; the
    # report stays reachable by the other, so the skipping path is the only defect
    skipping = diagram.replace(
        '<bpmn:sequenceFlow id="Flow_reviewed" sourceRef="Task_review" targetRef="Task_report"/>',
        '<bpmn:sequenceFlow id="Flow_reviewed" sourceRef="Task_review" targetRef="Gateway_skip"/>'
        '<bpmn:exclusiveGateway id="Gateway_skip" name="是否上报" default="Flow_to_report"/>'
        '<bpmn:sequenceFlow id="Flow_to_report" sourceRef="Gateway_skip" targetRef="Task_report"/>'
        '<bpmn:sequenceFlow id="Flow_skip" sourceRef="Gateway_skip" targetRef="Task_upper"'
        ' name="不上报"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
        'opinion == "无需上报"</bpmn:conditionExpression></bpmn:sequenceFlow>',
    )
    assert skipping != diagram
    with reported_app.app_context(), pytest.raises(InvalidInput) as refused:
        deploy_file(ITEM, skipping.encode(), "skipping.bpmn", None)
    # the task named as the analyst reads it, its id marked as code
    message = refused.value.message
    assert "环节登记上级审批决定（`Task_upper`）可不经上报到达" in message, message
    opinion = '<camunda:formField id="opinion" label="初步审查意见" type="string"/>'
    unnamed = diagram.replace(opinion, "")
    with reported_app.app_context(), pytest.raises(InvalidInput) as refused:
        deploy_file(ITEM, unnamed.encode(), "unnamed.bpmn", None)
    assert "opinion" in refused.value.message


def test_a_reported_item_without_its_upper_authority_is_refused_at_load(demo_app, tmp_path):
    text = (DATA / f"{ITEM}.toml").read_text("utf-8").replace(f'to = "{UPPER}"\n', "")
    (tmp_path / f"{ITEM}.toml").write_text(text, "utf-8")
    (tmp_path / f"{ITEM}.bpmn").write_bytes((DATA / f"{ITEM}.bpmn").read_bytes())
    with pytest.raises(InvalidInput) as refused:
        _load(demo_app, tmp_path / f"{ITEM}.toml")
    assert f"{ITEM}.toml" in refused.value.message and "[reported] to" in refused.value.message
    from app.catalogue.models import Item
    from app.db import session

    with demo_app.app_context():
        assert session().scalar(sa.select(Item).where(Item.code == ITEM)) is None


def test_the_guide_shows_the_first_instance_and_the_deciding_authority(reported_app):
    page = reported_app.test_client().get(f"/guide/{ITEM}",
                                          headers={"Accept-Language": "zh"}).text  # fmt: skip
    limits = page[page.index('id="time-limits"') :]
    assert "初审时限" in limits and "20 个工作日" in limits
    assert "直接报送示范省自然资源厅" in limits and "第三十五条、第四十二条和第四十三条" in limits
    assert UPPER in page[page.index('data-field="reported_to"') :]
    listing = reported_app.test_client().get("/guide", headers={"Accept-Language": "zh"}).text
    row = listing[listing.index(f'data-item="{ITEM}"') :]
    assert "初审，其后由示范省自然资源厅决定" in row[: row.index("</tr>")]
