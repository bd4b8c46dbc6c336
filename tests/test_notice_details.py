"""The details of the notices and the guide that issue 19 puts right, on both databases.

- The commitment notice (行政许可承诺通知单) names the licensing authority as 受理单位 (as the
  receipt does), carries the applicant's signature line on the two copies the
  administration keeps, and prints the supervision office's opinion (监察室意见), entered by
  a supervisor, on the office's own copy only, with the supervisor's name and the day.
- The one-time supplement notice says what is required of each missing material (form,
  count, the catalogue's note), for a case and for an online application.
- Art. 32 is cited as the law has it: one paragraph of five items, and a second paragraph
  without items.
- The service guide separates 设定依据 (the substantive law) from 办理依据 (procedure).

The notices are rendered with pdftoppm into build/notices/ (to be looked at) and read back
with pdftotext. Dates are worked by hand in the comments.
"""

from __future__ import annotations

import datetime as dt
import re
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.audit.models import Event
from app.cases.models import Case
from app.db import session
from app.notices import CaseFacts, Opinion, commitment_notice
from tests.apiclient import Api, item_entry, required_materials, sample_form
from tests.pdftools import render, require_poppler, run
from tests.test_applicants import _apply, _upload
from tests.test_notices_pdf import CENTRE, FACTS
from tests.test_time_limits import Clock, utc
from tests.webclient import Web

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "notices"
PLANNING = "planning-permit"
PLANNING_UNIT = "示范市自然资源和规划局规划科（中心二楼12号窗口）"
OPINION = "经核查，该件受理程序规范，承诺时限符合规定，请受理单位按时办结。"
LATER = "已电话回访申请人，对受理环节无异议；请规划科在承诺时限内办结并及时反馈。"
BLANK_ON_OTHER_COPIES = "（由驻厅监察室在第三联签署意见）"


@pytest.fixture
def poppler() -> None:
    require_poppler(OUT)


def _compact(text: str) -> str:
    return "".join(text.split())


def _pages(name: str, data: bytes) -> list[str]:
    """Render build/notices/<name>-N.png and return each page's text in reading order
    (pdftotext -raw: a table cell's lines together), without whitespace."""
    pdf, pages = render(OUT, name, data, dpi=80)
    return [
        _compact(run("pdftotext", "-raw", "-f", str(n), "-l", str(n), pdf, "-"))
        for n in range(1, len(pages) + 1)
    ]


def _events(app, case_no: str, kind: str) -> list[Event]:
    with app.app_context():
        case_id = session().scalar(sa.select(Case.id).where(Case.case_no == case_no))
        rows = session().scalars(sa.select(Event).where(Event.case_id == case_id,
                                                        Event.type == kind)
                                 .order_by(Event.seq)).all()  # fmt: skip
        session().expunge_all()
        return list(rows)


# --- the commitment notice: signature lines and the opinion, drawn ---------------------------


def test_the_applicant_signs_the_kept_copies_and_the_opinion_is_on_the_third_only(poppler):
    facts = CaseFacts(**{**FACTS.__dict__, "department": "示范市发展和改革委员会"})
    opinion = Opinion(OPINION, "吴建国", date(2025, 3, 4))
    signed = _pages("commitment-opinion", commitment_notice(CENTRE, facts, opinion))
    blank = _pages("commitment-no-opinion", commitment_notice(CENTRE, facts))
    assert len(signed) == len(blank) == 3
    for pages in (signed, blank):
        # the unit's stub and the supervision office's copy are signed for by the applicant,
        # with the day; the applicant's own copy carries the acceptor's line alone
        for n in (0, 2):
            assert "受理人（签名）：申请人（签名）：签收日期：年月日" in pages[n], n
        assert "受理人（签名）：" in pages[1]
        assert "申请人（签名）" not in pages[1] and "签收日期" not in pages[1]
        # the first two copies say where the opinion is given, and leave no box to sign
        for n in (0, 1):
            assert f"监察室意见{BLANK_ON_OTHER_COPIES}" in pages[n], n
            assert OPINION not in pages[n] and "签名：年月日" not in pages[n]
        assert BLANK_ON_OTHER_COPIES not in pages[2]
    # the office's copy: its opinion, signed with the supervisor's name and the day entered
    assert f"监察室意见{OPINION}驻厅监察室吴建国2025年3月4日" in signed[2]
    # none entered yet: room to write and sign by hand
    assert "监察室意见签名：年月日" in blank[2] and OPINION not in blank[2]


# --- entering the opinion ------------------------------------------------------------------


def _opine(api: Api, case_no: str, user: str, text: str, expect: int = 201) -> dict:
    return api.call("POST", f"/cases/{case_no}/supervision-opinion", user, expect,
                    json={"text": text})  # fmt: skip


def test_only_the_supervision_office_enters_an_opinion_checked_before_any_lookup(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 4, 10))
    api = Api(demo_app.test_client())
    case_no = api.apply(PLANNING, sample_form(PLANNING))["case_no"]
    history = f"/cases/{case_no}/events"
    before = api.call("GET", history, "auditor_sun")["events"]
    # staff who read cases but are not the office: 403; those who read none: 404, as for a
    # case that does not exist (the role is checked before the case is looked up)
    for user in ("clerk_liu", "auditor_sun", "admin", "head_lin", "official_zhao"):
        _opine(api, case_no, user, OPINION, 403)
    _opine(api, case_no, "analyst_zhou", OPINION, 404)
    assert _opine(api, case_no, "applicant_he", OPINION, 403)["message"] == (
        "API 仅供中心工作人员使用"  # an applicant is stopped before any case
    )
    _opine(api, "20261204999999", "clerk_liu", OPINION, 403)  # refused before any lookup
    _opine(api, "20261204999999", "supervisor_wu", OPINION, 404)
    # the text: empty or too long is refused with what is wrong
    empty = _opine(api, case_no, "supervisor_wu", "   ", 400)
    assert empty["message"] == "监察室意见为空：请填写意见内容。"
    long = _opine(api, case_no, "supervisor_wu", "意" * 301, 400)
    assert long["message"] == "监察室意见共 301 个字符，承诺通知单最多容纳 300 个字符。"
    token = {"Authorization": f"Bearer {api.token('supervisor_wu')}"}
    resp = api.client.post(f"/api/v1/cases/{case_no}/supervision-opinion", json={"text": 5},
                           headers=token)  # fmt: skip
    assert resp.status_code == 400 and resp.get_json()["message"] == "“text”必须是文本"
    assert api.call("GET", history, "auditor_sun")["events"] == before, "nothing was written"
    # a case not accepted (materials missing) has no commitment notice to give an opinion on
    short = api.apply(PLANNING, sample_form(PLANNING), materials=required_materials(PLANNING)[1:])
    assert short["status"] == "supplement_required"
    refused = _opine(api, short["case_no"], "supervisor_wu", OPINION, 409)
    assert refused["message"] == f"办件 {short['case_no']} 尚未受理，没有可签署意见的承诺通知单。"
    # exactly 300 characters fit
    assert _opine(api, case_no, "supervisor_wu", "意" * 300)["opinion"] == "意" * 300


def test_the_latest_opinion_is_printed_on_the_offices_copy_with_name_and_local_day(
    demo_app, poppler
):
    # Friday 4 Dec 2026 10:00 in the centre: received and accepted; 吴建国 gives an opinion
    clock = Clock(utc(2026, 12, 4, 10))
    demo_app.config["CLOCK"] = clock
    api = Api(demo_app.test_client())
    case_no = api.apply(PLANNING, sample_form(PLANNING))["case_no"]
    first = _opine(api, case_no, "supervisor_wu", OPINION)
    assert first == {"case_no": case_no, "opinion": OPINION, "by": "吴建国", "on": "2026-12-04"}
    # 04:00 on Saturday 5 Dec in Beijing is 20:00 UTC on Friday 4 Dec: 郑红's opinion is of
    # the 5th, the centre's day, and it is the one the notice prints
    clock.now = dt.datetime(2026, 12, 4, 20, 0)
    api = Api(demo_app.test_client())  # moving the clock ends older sessions
    later = _opine(api, case_no, "supervisor_zheng", f"  {LATER}  ")
    assert (later["opinion"], later["by"], later["on"]) == (LATER, "郑红", "2026-12-05")
    events = _events(demo_app, case_no, "supervision_opinion")
    assert [(e.actor, e.data) for e in events] == [
        ("supervisor_wu", {"opinion": OPINION}),
        ("supervisor_zheng", {"opinion": LATER}),
    ]
    pdf = Web(demo_app, "supervisor_wu").get(f"/cases/{case_no}/notices/commitment.pdf").data
    pages = _pages("commitment-supervised", pdf)
    assert len(pages) == 3
    assert f"监察室意见{LATER}驻厅监察室郑红2026年12月5日" in pages[2]
    assert OPINION not in pages[2] and "2026年12月4日" not in pages[2].split("监察室意见")[1][:80]
    for n in (0, 1):
        assert LATER not in pages[n] and f"监察室意见{BLANK_ON_OTHER_COPIES}" in pages[n]
    # the accepting unit is the bureau with its section, on every copy and on the receipt
    for page in pages:
        assert f"受理单位{PLANNING_UNIT}" in page
    receipt = Web(demo_app, "clerk_liu").get(f"/cases/{case_no}/notices/receipt.pdf").data
    assert f"受理单位{PLANNING_UNIT}" in _pages("receipt-unit", receipt)[0]


def test_the_web_form_for_supervisors_and_the_history(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 4, 10))
    api = Api(demo_app.test_client())
    case_no = api.apply(PLANNING, sample_form(PLANNING))["case_no"]
    path = f"/cases/{case_no}/supervision-opinion"
    wu = Web(demo_app, "supervisor_wu", lang="zh")
    page = wu.get(f"/cases/{case_no}").text
    assert 'id="supervision-opinion"' in page and "签署意见" in page
    assert "data-opinion" not in page  # none yet
    # another reader of the case has neither the form nor the right
    clerk = Web(demo_app, "clerk_liu")
    assert 'id="supervision-opinion"' not in clerk.get(f"/cases/{case_no}").text
    clerk.post(path, {"text": OPINION}, expect=403)
    # an empty opinion is refused with what is wrong, and nothing is recorded
    back = wu.get(wu.post(path, {"text": " "}).headers["Location"]).text
    assert 'class="flash error"' in back and "监察室意见为空：请填写意见内容。" in back
    assert _events(demo_app, case_no, "supervision_opinion") == []
    back = wu.get(wu.post(path, {"text": OPINION}).headers["Location"]).text
    assert "意见已记录" in back
    shown = re.search(r"<blockquote data-opinion>(.*?)</blockquote>", back, re.S)
    assert shown and OPINION in shown.group(1) and "吴建国 · 2026-12-04" in shown.group(1)
    # the history names the event and its text, for every reader of the case
    history = Web(demo_app, "auditor_sun", lang="zh").get(f"/cases/{case_no}").text
    assert "监察室意见" in history and OPINION in history


def test_the_applicants_own_notice_shows_no_opinion_and_no_supervisors_name(demo_app, poppler):
    # an online application, complete, accepted at the window on Wednesday 2 Dec 2026
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 2, 10))
    he = Web(demo_app, "applicant_he")
    number = _apply(he)
    for code in required_materials("house-cancellation"):
        _upload(he, number, code)
    he.post(f"/my/applications/{number}/submit", {"confirm_missing": "1"})
    Web(demo_app, "clerk_liu").post(f"/window/online/{number}/accept")
    with demo_app.app_context():
        online = sa.select(Case.case_no).where(Case.applicant_user_id.is_not(None))
        case_no = session().scalar(online)
    _opine(Api(demo_app.test_client()), case_no, "supervisor_wu", OPINION)
    mine = _pages("commitment-applicant", he.get(f"/cases/{case_no}/notices/commitment.pdf").data)
    assert all(OPINION not in p and "吴建国" not in p for p in mine)
    assert "监察室意见签名：年月日" in mine[2]
    staff = Web(demo_app, "auditor_sun").get(f"/cases/{case_no}/notices/commitment.pdf").data
    assert f"{OPINION}驻厅监察室吴建国2026年12月2日" in _pages("commitment-staff", staff)[2]


# --- the supplement notice: what is required of each material ------------------------------


def _requirement(material: dict) -> str:
    """What the notice must say of a catalogue material, written out by hand for the test."""
    forms = {"original": "原件", "copy": "复印件", "original_and_copy": "原件及复印件各"}
    text = f"{forms[material['form']]}{material['count']}份"
    return text + (f"；{material['note']}" if material["note"] else "")


def test_the_case_supplement_notice_says_what_is_required_of_each_material(demo_app, poppler):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 4, 10))
    api = Api(demo_app.test_client())
    given = [c for c in required_materials(PLANNING) if c not in ("application", "design_scheme")]
    case_no = api.apply(PLANNING, sample_form(PLANNING), materials=given)["case_no"]
    pdf = Web(demo_app, "clerk_liu").get(f"/cases/{case_no}/notices/supplement.pdf").data
    pages = _pages("supplement-requirements", pdf)
    assert len(pages) == 1
    text = pages[0]
    assert "共2项" in text and "序号需要补正的材料要求" in text
    # by hand from bpmn/planning-permit.toml: the application form, an original with the
    # builder's seal; the design scheme, two originals and the DWG files
    assert "1建设工程规划许可申请表原件1份；加盖建设单位公章" in text
    assert (
        "2建设工程设计方案（总平面图及建筑平面、立面、剖面图）原件2份；同时提交电子文件（DWG格式）"
        in text
    )
    materials = {m["code"]: m for m in item_entry(PLANNING)["materials"]}
    for n, code in enumerate(("application", "design_scheme"), 1):
        assert _compact(f"{n}{materials[code]['name']}{_requirement(materials[code])}") in text


def test_the_online_supplement_notice_gives_each_requirement_and_the_reviewers_note(
    demo_app, poppler
):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 2, 10))
    he = Web(demo_app, "applicant_he")
    number = _apply(he)
    _upload(he, number, "application")
    _upload(he, number, "identity")
    he.post(f"/my/applications/{number}/submit", {"confirm_missing": "1"})
    Web(demo_app, "clerk_liu").post(f"/window/online/{number}/supplements",
                                    {"missing": ["certificate", "cancel_proof"],
                                     "note": "请上传清晰的彩色扫描件"})  # fmt: skip
    pdf = he.get(f"/my/applications/{number}/supplement-notice.pdf").data
    text = _pages("supplement-online", pdf)[0]
    # by hand from bpmn/house-cancellation.toml
    assert "1不动产权证书（房屋所有权证）原件1份；证书遗失的，提交遗失声明登报材料" in text
    assert (
        "2房屋灭失或放弃所有权的证明材料原件及复印件各1份；"
        "拆除、倒塌证明，征收决定书，或经公证的放弃所有权声明" in text
    )
    assert "审查意见：请上传清晰的彩色扫描件。" in text
    assert "2026年12月2日" in text  # the day the review asked for them


# --- citations -----------------------------------------------------------------------------

# Art. 32 of the Licensing Law has two paragraphs; only the first has items (一)–(五): not
# accepting is 32(1)(1)–(2), supplements 32(1)(4), acceptance 32(1)(5), the written receipt
# 32(2). "32(2)(3)" or "32(4)" cite what does not exist.
NO_SUCH_PART_OF_32 = re.compile(r"\b32\((?:2\)\(\d|[3-9])")


def test_article_32_is_cited_as_the_law_has_it():
    wrong = []
    for path in sorted((ROOT / "app").rglob("*")):
        if path.suffix in (".py", ".html", ".toml", ".md"):
            for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
                if NO_SUCH_PART_OF_32.search(line):
                    wrong.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert wrong == []
    from app.notices import pdf

    assert "32(1)(1)–(2)" in pdf.refusal_notice.__doc__
    assert "32(1)(4)" in pdf.supplement_notice.__doc__


# --- the guide: 设定依据 and 办理依据 -----------------------------------------------------------


def _section(html: str, field: str) -> str:
    return html.split(f'data-field="{field}">', 1)[1].split("</div>", 1)[0]


@pytest.mark.parametrize(
    "code", ["planning-permit", "house-initial", "house-cancellation", "joint-investment"]
)
def test_the_guide_separates_the_substantive_basis_from_the_procedure(demo_app, code):
    entry = item_entry(code)
    # the substantive law only: the procedural law is the 办理依据
    assert "行政许可法" not in entry["legal_basis"] and entry["procedure_basis"]
    html = Web(demo_app, lang="zh").get(f"/guide/{code}").text
    assert "一、设定依据和办理依据" in html
    assert "<h3>设定依据</h3>" in html and "<h3>办理依据</h3>" in html
    assert entry["legal_basis"] in _section(html, "legal_basis")
    assert entry["procedure_basis"] in _section(html, "procedure_basis")
    item = Api(demo_app.test_client()).call("GET", f"/items/{code}")
    assert item["entry"]["procedure_basis"] == entry["procedure_basis"]


def test_planning_is_set_by_the_planning_law_and_handled_under_the_licensing_law(demo_app):
    html = Web(demo_app, lang="zh").get("/guide/planning-permit").text
    assert _section(html, "legal_basis") == "<p>《中华人民共和国城乡规划法》第四十条</p>"
    procedure = _section(html, "procedure_basis")
    assert "《中华人民共和国行政许可法》第三十二条" in procedure and "第四十二条" in procedure
    # real-estate registration follows its own regulations, and says what could not be
    # checked here instead of guessing
    for code in ("house-initial", "house-cancellation"):
        entry = item_entry(code)
        assert entry["procedure_basis"].startswith("《不动产登记暂行条例》")
        assert "行政许可法" not in entry["procedure_basis"]
        assert "未能在本系统中" in entry["notes"]
