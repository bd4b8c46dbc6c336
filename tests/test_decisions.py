"""Decisions in the licensing authority's name, on both databases: who heads, numbers and seals
the letter; numbers in each authority's yearly series, or the number the issuing official
entered, given once; what an approval says (from the form, as the item's template says);
a denial's reasons, basis and reconsideration body; registration items as the registration
regulations have them; a joint item's letters, one per department, under the centre's
delivery notice.

Each letter is rendered to PNG under build/notices/ (looked at while writing this)."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from tests import pdftools
from tests.apiclient import Api, required_materials, sample_form
from tests.test_time_limits import Clock, utc
from tests.webclient import Web

OUT = Path(__file__).resolve().parent.parent / "build" / "notices"


def _letter(app, case_no: str, name: str, user: str = "auditor_sun") -> tuple[str, list[Path]]:
    data = Web(app, user).get(f"/cases/{case_no}/notices/decision.pdf").data
    pdftools.require_poppler(OUT)
    pdf, pages = pdftools.render(OUT, name, data)
    text = pdftools.text(pdf)
    assert "验证码：" in "".join(text.split())  # a signed letter carries its code
    return text, pages


def _flat(text: str) -> str:
    """The letter's text without spaces and without its verification header (its case
    number, code and link, and the QR code's caption: tests/test_licences.py reads them)."""
    flat = "".join(text.split())
    header = re.match(r"办件编号：\d+验证码：[2-9A-Z]{10}验证网址：http\S*?/l/[2-9A-Z]{10}", flat)
    if header is None:  # a notice, not a decision: its progress query header stays
        return flat
    return flat[header.end():].replace("扫码验证真伪", "")


def _planning(api: Api, **form) -> str:
    values = {"project_name": "滨江花园二期", "site_location": "示范市滨江路 18 号",
              "land_use": "居住", "floor_area": 12000, **form}  # fmt: skip
    return api.apply("planning-permit", sample_form("planning-permit", **values))["case_no"]


def _approve_planning(api: Api, case_no: str, permit_no: str = "") -> None:
    for spec in ("Task_lead", "Task_deputy", "Task_head"):
        api.work(case_no, spec)
    api.work(case_no, "Task_issue", data={"permit_no": permit_no} if permit_no else None)


def test_a_planning_permit_is_the_bureaus_numbered_in_its_series(demo_app):
    # decided on Fri 4 Dec 2026, 10:00 local
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 4, 10))
    api = Api(demo_app.test_client())
    first, second = _planning(api), _planning(api, project_name="城东小学")
    _approve_planning(api, first, permit_no="建字第320100202600188号")
    _approve_planning(api, second)
    text, pages = _letter(demo_app, first, "decision-planning-approved")
    flat = _flat(text)
    # headed, numbered and sealed by the bureau; the centre only accepts and delivers
    assert flat.startswith("示范市自然资源和规划局准予行政许可决定书示自然资规许〔2026〕1号")
    assert "在示范市政务服务中心依法受理" in flat
    assert "受理、送达单位：示范市政务服务中心" in flat
    assert "本中心决定" not in flat and "本机关决定准予行政许可" in flat
    # what is granted: the form's project, site, use and scale, and the substantive basis
    assert "同意滨江花园二期在示范市滨江路18号建设，用地性质为居住，总建筑面积12000平方米" in flat
    assert (
        "根据《中华人民共和国城乡规划法》第四十条和《中华人民共和国行政许可法》第三十八条第一款"
        in flat
    )
    assert "建设工程规划许可证（编号：建字第320100202600188号）" in flat
    assert "有效期限：自核发之日起一年内未开工建设又未申请延期的，本许可自行失效" in flat
    assert "第四十三条" in flat and "第四十五条" in flat  # the conditions
    assert "2026年12月4日" in flat
    assert len(pages) == 1
    # the next decision of the same bureau takes the next number of its series
    assert "示自然资规许〔2026〕2号" in _flat(_letter(demo_app, second, "decision-planning-2")[0])
    numbers = [
        e
        for e in api.call("GET", f"/cases/{first}/events", "auditor_sun")["events"]
        if e["type"] == "decisions_numbered"
    ]
    assert numbers[0]["data"]["decisions"] == [
        {
            "authority": "natural_resources",
            "outcome": "approved",
            "number": "示自然资规许〔2026〕1号",
        }
    ]


def test_the_series_starts_again_each_local_year(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 28, 10))
    api = Api(demo_app.test_client())
    late, early = _planning(api), _planning(api)
    for spec in ("Task_lead", "Task_deputy", "Task_head"):
        api.work(late, spec)
        api.work(early, spec)
    # 31 Dec 2026 23:30 local (15:30 UTC): still 2026 at the centre
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 31, 23, 30))
    api.work(late, "Task_issue")
    # 1 Jan 2027 00:30 local, still 31 Dec 16:30 in UTC: the centre's year is 2027
    demo_app.config["CLOCK"] = Clock(utc(2027, 1, 1, 0, 30))
    api.work(early, "Task_issue")
    assert "示自然资规许〔2026〕1号" in _flat(_letter(demo_app, late, "decision-year-end")[0])
    assert "示自然资规许〔2027〕1号" in _flat(_letter(demo_app, early, "decision-new-year")[0])


def test_an_entered_number_is_given_once_per_authority(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 7, 10))
    api = Api(demo_app.test_client())
    # the joint item's lead department takes the number the issuing clerk enters
    first = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    second = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    for case_no in (first, second):
        for spec in ("Task_ndrc", "Task_land", "Task_construction", "Task_env"):
            api.work(case_no, spec)
    api.work(first, "Task_issue", data={"approval_no": "示发改核准〔2026〕88号"})
    refused = api.work(second, "Task_issue", data={"approval_no": "示发改核准〔2026〕88号"},
                       expect=400)  # fmt: skip
    assert "approval_no" in refused["message"] and first in refused["message"]
    assert api.case(second)["status"] == "in_progress"  # nothing was written
    api.work(second, "Task_issue", data={"approval_no": "示发改核准〔2026〕89号"})
    flat = _flat(_letter(demo_app, first, "decision-joint-approved")[0])
    assert "示发改核准〔2026〕88号" in flat


def test_a_joint_case_gets_each_departments_letter_under_the_centres_notice(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 7, 10))  # Mon 7 Dec 2026
    api = Api(demo_app.test_client())
    form = sample_form(
        "joint-investment",
        project_name="示范新材料产业园",
        site_location="示范市高新区创新大道 9 号",
        total_investment=52000,
    )
    case_no = api.apply("joint-investment", form)["case_no"]
    for spec in ("Task_ndrc", "Task_land", "Task_construction", "Task_env"):
        api.work(case_no, spec)
    api.work(case_no, "Task_issue")
    text, pages = _letter(demo_app, case_no, "decision-joint")
    flat = _flat(text)
    assert flat.startswith("示范市政务服务中心并联审批决定送达通知书")
    assert "一并送达（共4份）" in flat
    # each department's own letter, numbered in its own series, after the notice
    for authority, number in (("示范市发展和改革委员会", "示发改许〔2026〕1号"),
                              ("示范市自然资源和规划局", "示自然资规许〔2026〕1号"),
                              ("示范市住房和城乡建设局", "示住建许〔2026〕1号"),
                              ("示范市生态环境局", "示环审〔2026〕1号")):  # fmt: skip
        assert f"{authority}准予行政许可决定书{number}" in flat
    assert "同意示范新材料产业园项目核准" in flat and "总投资52000万元" in flat
    assert (
        "颁发证件：建筑工程施工许可证" in flat and "《中华人民共和国建筑法》第七条、第八条" in flat
    )
    assert "本中心已于2026年12月7日受理" in flat and flat.count("2026年12月7日") >= 6
    assert "《中华人民共和国环境影响评价法》第二十二条" in flat
    assert len(pages) >= 5  # the notice, then one letter per department


def test_a_joint_denial_is_the_rejecting_departments_naming_the_reconsideration_body(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 7, 10))
    api = Api(demo_app.test_client())
    case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    for spec in ("Task_ndrc", "Task_land", "Task_construction"):
        api.work(case_no, spec)
    api.work(case_no, "Task_env", "reject", "项目选址位于饮用水水源二级保护区内",
             data={"legal_basis": "《中华人民共和国水污染防治法》第六十六条"})  # fmt: skip
    # the number the clerk enters for the 不予许可决定书 is the refusing department's
    api.work(case_no, "Task_denial", data={"denial_no": "示环审不许〔2026〕5号"})
    assert api.case(case_no)["decision"] == "denied"
    flat = _flat(_letter(demo_app, case_no, "decision-joint-denied")[0])
    assert "示范市生态环境局不予行政许可决定书示环审不许〔2026〕5号" in flat
    # the departments that approved keep their approvals, numbered in their own series
    assert "示范市发展和改革委员会准予行政许可决定书示发改许〔2026〕1号" in flat
    assert "项目选址位于饮用水水源二级保护区内" in flat
    assert (
        "《中华人民共和国水污染防治法》第六十六条和《中华人民共和国行政许可法》第三十八条第二款"
        in flat
    )
    assert "向示范市人民政府申请行政复议" in flat and "六个月内依法向人民法院提起行政诉讼" in flat


def test_a_house_registration_is_the_registration_agencys(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 1, 10))
    api = Api(demo_app.test_client())
    form = sample_form("house-initial", project_name="滨江花园一期",
                       house_address="示范市滨江路 16 号", building_area=8600, certificates=5,
                       house_use="住宅")  # fmt: skip
    case_no = api.apply("house-initial", form)["case_no"]
    case = api.case(case_no)
    # 30 working days (不动产登记暂行条例 art. 20) from Tue 1 Dec 2026: Dec 2–4, 7–11, 14–18,
    # 21–25, 28–31 (22 days; 1 Jan 2027 元旦 is off, provisional), Jan 4–8 (27), 11–13 (30)
    assert case["statutory_due_at"].startswith("2027-01-13T09:00")
    while api.case(case_no)["status"] in ("accepted", "in_progress"):
        spec = api.open_tasks(case_no)[0]["spec_id"]
        data = (
            {"certificate_no": "示(2026)示范市不动产权第0012345号"}
            if spec == "Task_issue"
            else None
        )
        api.work(case_no, spec, data=data)
    flat = _flat(_letter(demo_app, case_no, "decision-registration")[0])
    assert flat.startswith("示范市不动产登记中心不动产登记结果通知书示不动产登〔2026〕1号")
    assert "房屋所有权首次登记" in flat and "准予办理房屋所有权首次登记" in flat
    assert "示范市滨江路16号" in flat and "8600平方米" in flat
    assert "本机构已于" in flat and "记载于不动产登记簿" in flat
    assert "行政许可" not in flat  # a registration is not a licensing decision


def test_a_refused_registration_is_a_notice_not_to_register(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 7, 10))
    api = Api(demo_app.test_client())
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    assert api.case(case_no)["statutory_due_at"]  # 30 working days, counted like the others
    api.work(case_no, "Task_review", "reject", "申请注销的房屋已被人民法院查封",
             data={"legal_basis": "《不动产登记暂行条例》第二十二条第（三）项"})  # fmt: skip
    while api.case(case_no)["status"] in ("accepted", "in_progress"):
        api.work(case_no, api.open_tasks(case_no)[0]["spec_id"])
    flat = _flat(_letter(demo_app, case_no, "decision-registration-refused")[0])
    assert flat.startswith("示范市不动产登记中心不予登记告知书示不动产登〔2026〕1号")
    assert "申请注销的房屋已被人民法院查封" in flat and "本机构决定不予登记" in flat
    assert "根据《不动产登记暂行条例》第二十二条第（三）项的规定，本机构决定不予登记" in flat
    assert "行政许可法" not in flat and "如不服本告知" in flat
    assert "收到本告知书之日起六十日内向示范市人民政府申请行政复议" in flat


def test_a_decision_without_its_authority_stops_in_the_fault_state(demo_app):
    from app.catalogue.models import Item
    from app.db import session

    with demo_app.app_context():
        item = session().scalars(sa.select(Item).where(Item.code == "planning-permit")).one()
        entry = dict(item.entry)
        entry["decision"] = {**entry["decision"], "authority": "no_such_bureau"}
        item.entry = entry
        session().commit()
    api = Api(demo_app.test_client())
    case_no = _planning(api)
    for spec in ("Task_lead", "Task_deputy", "Task_head"):
        api.work(case_no, spec)
    api.work(case_no, "Task_issue", expect=409)
    case = api.case(case_no)
    assert case["status"] == "fault" and case["decision"] is None
    Web(demo_app, "auditor_sun").get(f"/cases/{case_no}/notices/decision.pdf", expect=409)


def test_a_template_field_the_case_lacks_is_not_printed(demo_app):
    from app.catalogue.models import Item
    from app.db import session

    api = Api(demo_app.test_client())
    case_no = _planning(api)
    _approve_planning(api, case_no)
    with demo_app.app_context():
        item = session().scalars(sa.select(Item).where(Item.code == "planning-permit")).one()
        entry = dict(item.entry)
        entry["decision"] = {**entry["decision"], "content": "同意{project_name}，层数{floors}"}
        item.entry = entry
        session().commit()
    page = Web(demo_app, "auditor_sun").get(f"/cases/{case_no}/notices/decision.pdf", expect=409)
    assert b"floors" in page.data


def test_a_registrations_supplement_is_told_on_the_spot_under_the_registration_rules(demo_app):
    """不动产登记暂行条例 art. 17(1)(3): incomplete materials are refused on the spot, in
    writing, with everything to supplement at once; not the Licensing Law's art. 32."""
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 7, 10))
    api = Api(demo_app.test_client())
    given = [c for c in required_materials("house-cancellation") if c != "cancel_proof"]
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"),
                        materials=given)["case_no"]  # fmt: skip
    data = Web(demo_app, "clerk_liu").get(f"/cases/{case_no}/notices/supplement.pdf").data
    pdftools.require_poppler(OUT)
    pdf, _pages = pdftools.render(OUT, "supplement-registration", data)
    flat = _flat(pdftools.text(pdf))
    assert "根据《不动产登记暂行条例》第十七条第一款第（三）项的规定，现当场书面告知" in flat
    assert "行政许可法" not in flat and "房屋灭失或放弃所有权的证明材料" in flat
