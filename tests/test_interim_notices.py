"""The written notices of a case's extensions (延长行政许可期限告知书, Licensing Law art. 42) and
pauses (中止计算行政许可期限告知书, art. 45), on both databases: one notice per change,
numbered, dated the day of the change, in the licensing authority's name; who may have them;
the applicant's download logged as issued; the links where the applicant sees the change.

Each notice is rendered to PNG under build/notices/ (to look at) and read back with
pdftotext. Dates are worked by hand in the comments (the demo calendar knows 2026, not 2027).
"""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from app.audit.models import Event
from app.cases.models import Case
from app.db import session
from tests.apiclient import Api, sample_form
from tests.pdftools import render, require_poppler, text
from tests.test_notices_pdf import OUT
from tests.test_time_limits import Clock, utc
from tests.webclient import Web

ITEM = "planning-permit"
FORM = {"a_project_name": "示范市滨江商务楼", "a_site_location": "示范市滨江路 18 号",
        "a_land_use": "商业", "a_floor_area": "12000"}  # fmt: skip
REQUIRED = ("application", "identity", "land_proof", "project_approval", "design_scheme")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def poppler() -> None:
    require_poppler(OUT)


def _online_case(app) -> str:
    """示范市恒泰实业有限公司 applies online; the window accepts: the case is theirs."""
    firm = Web(app, "applicant_hengtai")
    number = firm.post(f"/apply/{ITEM}", FORM).headers["Location"].rsplit("/", 1)[-1]
    for code in REQUIRED:
        firm.post(f"/my/applications/{number}/upload",
                  {"material": code, "file": (io.BytesIO(PDF), f"{code}.pdf")},
                  content_type="multipart/form-data")  # fmt: skip
    firm.post(f"/my/applications/{number}/submit", {"confirm_missing": "1"})
    Web(app, "clerk_liu").post(f"/window/online/{number}/accept")
    with app.app_context():
        return session().scalar(sa.select(Case.case_no).where(Case.applicant_user_id.is_not(None)))


def _extend(api: Api, case_no: str, user: str, days: int, reason: str) -> None:
    api.call("POST", f"/cases/{case_no}/extend", user, json={"days": days, "reason": reason})


def _pause(api: Api, case_no: str, kind: str, reason: str, days: int) -> None:
    body = {"kind": kind, "reason": reason, "expected_days": days}
    api.call("POST", f"/cases/{case_no}/pause", "clerk_liu", json=body)


def _issued(app, case_no: str) -> list[tuple[str, dict]]:
    """The case's notice_issued events: who, and the data (kind, n)."""
    from app.org.models import User

    with app.app_context():
        rows = session().execute(
            sa.select(User.username, Event.data).join(Case, Case.id == Event.case_id)
            .outerjoin(User, User.id == Event.actor_id)
            .where(Case.case_no == case_no, Event.type == "notice_issued").order_by(Event.seq)
        ).all()  # fmt: skip
    return [(who, {k: v for k, v in data.items() if k != "bytes"}) for who, data in rows]


def _read(name: str, data: bytes) -> str:
    """Render build/notices/<name>.pdf to PNG (one page) and return its text, unwrapped."""
    assert data.startswith(b"%PDF")
    pdf, pages = render(OUT, name, data, dpi=80)
    assert len(pages) == 1, f"{name} runs to {len(pages)} pages"
    return "".join(text(pdf).split())


def test_each_extension_has_its_notice_by_the_head_with_the_dates_worked_out(demo_app):
    clock = Clock(utc(2026, 11, 3, 10))  # Tue 3 Nov 2026, 10:00 in the centre
    demo_app.config["CLOCK"] = clock
    case_no = _online_case(demo_app)
    api = Api(demo_app.test_client())
    clock.now = utc(2026, 11, 9, 15)  # Mon 9 Nov
    _extend(api, case_no, "head_lin", 5, "需组织专家对建筑退让距离进行论证")
    clock.now = utc(2026, 11, 10, 9)  # Tue 10 Nov
    _extend(api, case_no, "deputy_luo", 5, "需补充现场踏勘")
    firm = Web(demo_app, "applicant_hengtai")
    first = _read("interim-extension-1",
                  firm.get(f"/cases/{case_no}/notices/extension.pdf?n=1").data)  # fmt: skip
    # issued by the licensing authority, numbered, dated the day the head approved it
    assert f"办件编号：{case_no}" in first  # the header band, with the query code and QR
    assert "示范市自然资源和规划局延长行政许可期限告知书" in first
    assert f"〔2026〕{case_no[-8:]}-延期1号" in first
    assert "示范市恒泰实业有限公司：" in first
    # received and accepted Tue 3 Nov; 20 working days from it end Tue 1 Dec (4–6, 9–13,
    # 16–20, 23–27, 30 Nov, 1 Dec); 5 more: 2, 3, 4, 7, 8 Dec -> Tue 8 Dec
    assert "于2026年11月3日提出的建设工程规划许可证核发申请" in first
    assert "本机关已于2026年11月3日依法受理，法定办理期限为20个工作日" in first
    assert "因需组织专家对建筑退让距离进行论证，本机关不能在上述期限内作出行政许可决定" in first
    assert "《中华人民共和国行政许可法》第四十二条第一款" in first
    assert "经示范市自然资源和规划局局长批准，办理期限延长5个工作日" in first
    assert "延长期限5个工作日（第1次延长）" in first
    assert "累计延长5个工作日（依法最多10个工作日）" in first
    assert "原届满日期2026年12月1日" in first and "延长后届满日期2026年12月8日" in first
    assert "示范市政务服务中心（中心二楼12号窗口）" in first  # where the applicant is served
    assert "本机关将另行书面告知所需时间" in first  # art. 45 periods are told apart
    assert "示范市自然资源和规划局2026年11月9日监督电话" in first  # signed on the day
    assert "暂定" not in first and "林国栋" not in first and "head_lin" not in first
    # the second: approved by a deputy head on Tue 10 Nov; Tue 8 Dec + 9, 10, 11, 14, 15 Dec
    second = _read("interim-extension-2",
                   firm.get(f"/cases/{case_no}/notices/extension.pdf?n=2").data)  # fmt: skip
    assert f"〔2026〕{case_no[-8:]}-延期2号" in second
    assert "经示范市自然资源和规划局副局长批准，办理期限延长5个工作日" in second
    assert "原届满日期2026年12月8日" in second and "延长后届满日期2026年12月15日" in second
    assert "示范市自然资源和规划局2026年11月10日" in second
    assert "延长期限5个工作日（第2次延长）累计延长10个工作日" in second
    assert "需补充现场踏勘" in second
    assert "罗志明" not in second
    # each download by the applicant is the notice handed to them
    assert _issued(demo_app, case_no) == [
        ("applicant_hengtai", {"kind": "extension", "n": 1, "via": "online"}),
        ("applicant_hengtai", {"kind": "extension", "n": 2, "via": "online"}),
    ]


def test_a_pause_notice_names_what_is_done_why_and_how_long(demo_app):
    clock = Clock(utc(2026, 11, 3, 10))
    demo_app.config["CLOCK"] = clock
    api = Api(demo_app.test_client())
    case_no = api.apply(ITEM, sample_form(ITEM))["case_no"]
    clock.now = utc(2026, 11, 4, 10)  # Wed 4 Nov
    _pause(api, case_no, "expert_review", "建筑高度超过 100 米，需组织专家评审", 3)
    clock.now = utc(2026, 11, 9, 10)  # resumed Mon 9 Nov: Wed 4, Thu 5, Fri 6 not counted
    api.call("POST", f"/cases/{case_no}/resume", "clerk_liu", json={})
    clock.now = utc(2026, 11, 10, 10)  # Tue 10 Nov: materials to supplement
    _pause(api, case_no, "supplement", "日照分析报告缺少冬至日分析", 5)
    clerk = Web(demo_app, "clerk_liu")
    hearing = _read("interim-pause-1",
                    clerk.get(f"/cases/{case_no}/notices/pause.pdf?n=1").data)  # fmt: skip
    assert "示范市自然资源和规划局中止计算行政许可期限告知书" in hearing
    assert f"〔2026〕{case_no[-8:]}-中止1号" in hearing
    assert "该申请依法需要专家评审" in hearing
    assert "根据《中华人民共和国行政许可法》第四十五条的规定，专家评审所需时间不计算在行政许可" \
           "办理期限内，自2026年11月4日起中止计算办理期限" in hearing  # fmt: skip
    assert "需要办理的事项专家评审" in hearing
    assert "原因建筑高度超过100米，需组织专家评审" in hearing
    assert "预计所需时间3个工作日（自2026年11月4日起）" in hearing
    # as it stood on Wed 4 Nov: 20 working days from Tue 3 Nov end Tue 1 Dec
    assert "中止前届满日期2026年12月1日" in hearing
    assert "法律依据《中华人民共和国行政许可法》第四十五条" in hearing
    # the supplement rests on the centre's rules: no article cited; the due date as it stood
    # on Tue 10 Nov: Tue 1 Dec + the 3 days paused = Fri 4 Dec
    supplement = _read("interim-pause-2",
                       clerk.get(f"/cases/{case_no}/notices/pause.pdf?n=2").data)  # fmt: skip
    assert f"〔2026〕{case_no[-8:]}-中止2号" in supplement
    assert "需要你（单位）补正有关材料" in supplement and "日照分析报告缺少冬至日分析" in supplement
    assert "预计所需时间5个工作日（自2026年11月10日起）" in supplement
    assert "2026年12月4日" in supplement
    assert "第四十五条" not in supplement and "行政许可法" not in supplement
    # looking is not handing over: nothing logged until the clerk hands one over
    assert _issued(demo_app, case_no) == []
    page = clerk.get(f"/cases/{case_no}").text
    assert 'data-notice="pause-1"' in page and 'data-hand-over="pause-2"' in page
    clerk.post(f"/cases/{case_no}/notices/pause/hand-over?n=2")
    assert _issued(demo_app, case_no) == [("clerk_liu", {"kind": "pause", "n": 2, "via": "window"})]


def test_a_provisional_new_end_is_marked(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 2, 10))  # Wed 2 Dec 2026
    api = Api(demo_app.test_client())
    case_no = api.apply(ITEM, sample_form(ITEM))["case_no"]
    _extend(api, case_no, "head_lin", 5, "需征求相关部门意见")
    notice = Web(demo_app, "auditor_sun").get(f"/cases/{case_no}/notices/extension.pdf?n=1")
    read = _read("interim-extension-provisional", notice.data)
    # 20 working days from Wed 2 Dec: 3, 4, 7–11, 14–18, 21–25, 28, 29, 30 Dec -> Wed 30 Dec
    # (2026 is published); 5 more: Thu 31 Dec, then 2027, not published: Fri 1 Jan is New
    # Year's Day by law, Mon 4, Tue 5, Wed 6, Thu 7 Jan -> Thu 7 Jan 2027, provisional
    assert "原届满日期2026年12月30日延长后" in read
    assert "延长后届满日期2027年1月7日（暂定）" in read
    assert "2026年12月30日（暂定）" not in read
    assert "标注“暂定”的日期所在年度的节假日安排国务院尚未公布" in read


def test_a_joint_cases_extension_is_told_by_the_centre_under_art_42_2(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 11, 3, 10))  # Tue 3 Nov 2026
    api = Api(demo_app.test_client())
    case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    _extend(api, case_no, "vice_mayor_song", 10, "需征求省级主管部门意见")
    notice = Web(demo_app, "clerk_liu").get(f"/cases/{case_no}/notices/extension.pdf?n=1")
    read = _read("interim-extension-joint", notice.data)
    # handled for the government (art. 26(2)): the centre tells, under its own seal's name
    assert "示范市政务服务中心延长行政许可期限告知书" in read
    assert "本中心已于2026年11月3日依法受理，法定办理期限为45个工作日" in read
    assert "本中心不能在上述期限内办结" in read and "第四十二条第二款" in read
    assert "经示范市人民政府副市长批准，办理期限延长10个工作日" in read
    assert "累计延长10个工作日（依法最多15个工作日）" in read
    # 45 working days from Tue 3 Nov: 4–6, 9–13, 16–20, 23–27, 30 Nov (19), 1–4, 7–11,
    # 14–18, 21–25, 28–31 Dec (42), then 2027 (not published): Fri 1 Jan is New Year's Day,
    # Mon 4, Tue 5, Wed 6 Jan (45) -> Wed 6 Jan 2027; 10 more: 7, 8, 11–15, 18, 19, 20 Jan
    assert "原届满日期2027年1月6日（暂定）" in read
    assert "延长后届满日期2027年1月20日（暂定）" in read
    assert "宋立新" not in read


def test_a_registration_is_no_licence_its_pause_cites_no_article(demo_app):
    clock = Clock(utc(2026, 11, 3, 10))
    demo_app.config["CLOCK"] = clock
    api = Api(demo_app.test_client())
    case_no = api.apply("house-initial", sample_form("house-initial"))["case_no"]
    clock.now = utc(2026, 11, 4, 10)
    _pause(api, case_no, "inspection", "需对房屋进行实地查看", 5)
    clerk = Web(demo_app, "clerk_liu", lang="zh")
    read = _read("interim-pause-registration",
                 clerk.get(f"/cases/{case_no}/notices/pause.pdf?n=1").data)  # fmt: skip
    # the registration agency registers in its own name (不动产登记暂行条例 arts. 6–7)
    assert "示范市不动产登记中心中止计算办理期限告知书" in read
    assert "该申请需要检验，所需时间不计算在办理期限内，自2026年11月4日起中止计算" in read
    # 30 working days from Tue 3 Nov: 4–6, 9–13, 16–20, 23–27, 30 Nov (19), 1–4, 7–11 Dec
    # (28), 14, 15 Dec (30) -> Tue 15 Dec
    assert "中止前届满日期2026年12月15日" in read
    assert "行政许可" not in read and "第四十五条" not in read


def test_who_may_have_the_notices_and_where_they_are_linked(demo_app):
    clock = Clock(utc(2026, 11, 3, 10))
    demo_app.config["CLOCK"] = clock
    case_no = _online_case(demo_app)
    api = Api(demo_app.test_client())
    with demo_app.app_context():
        code, number = (
            session()
            .execute(sa.select(Case.query_code, Case.case_no).where(Case.case_no == case_no))
            .one()
        )
    url = f"/cases/{case_no}/notices/extension.pdf?n=1"
    firm = Web(demo_app, "applicant_hengtai", lang="zh")
    firm.get(url, expect=409)  # no extension yet: nothing to print, nothing logged
    _extend(api, case_no, "head_lin", 5, "需组织专家论证")
    clock.now = utc(2026, 11, 4, 10)
    _pause(api, case_no, "hearing", "涉及相邻权利人重大利益，依申请举行听证", 10)
    firm = Web(demo_app, "applicant_hengtai", lang="zh")  # a day later: a new session
    # another applicant, an official with no part in the case, the approving head himself
    # (not one of the staff who hand notices over) and an anonymous visitor get nothing
    for user in ("applicant_he", "official_shi", "head_lin"):
        Web(demo_app, user).get(url, expect=404)
        Web(demo_app, user).get(f"/cases/{case_no}/notices/pause.pdf?n=1", expect=404)
    assert Web(demo_app).get(url, expect=302).headers["Location"].startswith("/login")
    # which notice, said clearly
    firm.get(f"/cases/{case_no}/notices/extension.pdf", expect=400)
    firm.get(f"/cases/{case_no}/notices/extension.pdf?n=abc", expect=400)
    firm.get(f"/cases/{case_no}/notices/extension.pdf?n=2", expect=404)
    firm.get(f"/cases/{case_no}/notices/receipt.pdf?n=1", expect=400)
    assert _issued(demo_app, case_no) == []
    # the applicant's own page and the progress query link each change's notice to them
    mine = firm.get("/my").text
    app_no = mine[mine.index("/my/applications/") + len("/my/applications/") :].split('"')[0]
    page = firm.get(f"/my/applications/{app_no}").text
    record = page[page.index('id="clock-record"') :]
    assert f'href="/cases/{case_no}/notices/extension.pdf?n=1"' in record
    assert f'href="/cases/{case_no}/notices/pause.pdf?n=1"' in record
    assert "书面告知书（PDF）" in record
    # the notice names the approver as the record does (clock_changes): authority and title
    assert "经示范市自然资源和规划局局长批准" in record and "林国栋" not in record
    firm.get("/track")
    tracked = firm.post("/track", {"case_no": number, "code": code}, expect=200).text
    assert 'data-notice="extension-1"' in tracked and 'data-notice="pause-1"' in tracked
    # a visitor with the query code alone sees the record, and no link to the notices
    visitor = Web(demo_app, lang="zh")
    visitor.get("/track")
    public = visitor.post("/track", {"case_no": number, "code": code}, expect=200).text
    assert 'id="clock-record"' in public and "notices/" not in public
    # the applicant's download is logged as issued; the pause notice names the hearing
    heard = _read("interim-pause-hearing", firm.get(f"/cases/{case_no}/notices/pause.pdf?n=1").data)
    assert "该申请依法需要听证" in heard and "预计所需时间10个工作日" in heard
    assert "中止前届满日期2026年12月8日" in heard  # Tue 1 Dec + the 5 days extended on 3 Nov
    assert _issued(demo_app, case_no) == [
        ("applicant_hengtai", {"kind": "pause", "n": 1, "via": "online"})
    ]


def test_a_notice_is_not_drawn_without_what_the_law_asks_it_to_say():
    from datetime import date

    from app.notices.interim import DueDay, Extension, Pause, extension_notice, pause_notice
    from tests.test_notices_pdf import CENTRE, FACTS

    due = DueDay(date(2025, 3, 31))
    told = Extension(1, date(2025, 3, 20), 5, "需论证", "示范市发展和改革委员会", "主任", due,
                     due, 5, 10)  # fmt: skip
    assert extension_notice(CENTRE, FACTS, told).startswith(b"%PDF")
    with pytest.raises(ValueError, match="reason"):
        extension_notice(CENTRE, FACTS, Extension(**{**told.__dict__, "reason": " "}))
    with pytest.raises(ValueError, match="approver"):
        extension_notice(CENTRE, FACTS, Extension(**{**told.__dict__, "approver_title": ""}))
    paused = Pause(1, date(2025, 3, 20), "hearing", "依申请举行听证", 10, due)
    assert pause_notice(CENTRE, FACTS, paused).startswith(b"%PDF")
    with pytest.raises(ValueError, match="no pause of kind 'lunch'"):
        pause_notice(CENTRE, FACTS, Pause(**{**paused.__dict__, "kind": "lunch"}))
    with pytest.raises(ValueError, match="working days"):
        pause_notice(CENTRE, FACTS, Pause(**{**paused.__dict__, "expected_days": 0}))
