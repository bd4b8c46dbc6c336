"""The applicant's and the public's paths of issue 20: a complaint or suggestion without an
account, into the register and throttled per address; a warning before handing in with a
required material missing; a failed rating that keeps what was typed; the online supplement
notice with one instruction that fits online handling."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from app import create_app
from app.complaints.models import Complaint, ComplaintEvent
from app.db import session
from app.org.models import User
from config import BASE_DIR, TestConfig
from tests.apiclient import Api, sample_form
from tests.pdftools import render, require_poppler, run
from tests.test_applicants import _apply, _row, _upload
from tests.test_notices_pdf import OUT
from tests.test_time_limits import Clock, utc
from tests.webclient import TOKEN, Web


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _value(page: str, name: str) -> str | None:
    """The value an input of the page's forms carries (the first of that name)."""
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    value = re.search(r'value="([^"]*)"', tag.group(0)) if tag else None
    return html.unescape(value.group(1)) if value else None


# --- the public's complaints and suggestions ---------------------------------------------------

ENTRY = {"kind": "complaint", "complainant_name": "王小明", "complainant_phone": "13900002222",
         "case_no": "", "subject": "窗口排队时间过长",
         "content": "12月3日上午在综合窗口排队一个多小时，希望增加窗口。"}  # fmt: skip


class Visitor:
    """Someone without an account, at one address; posts with the page's CSRF token."""

    def __init__(self, app, address: str = "203.0.113.7") -> None:
        self.client = app.test_client()
        self.env = {"REMOTE_ADDR": address}
        self.client.post("/language", data={"lang": "zh", "next": "/feedback",
                                            "csrf_token": self._token("/feedback")},
                         environ_base=self.env)  # fmt: skip

    def _token(self, path: str) -> str:
        return TOKEN.search(self.client.get(path, environ_base=self.env).text).group(1)

    def send(self, entry: dict, csrf: bool = True):
        body = dict(entry)
        if csrf:
            body["csrf_token"] = self._token("/feedback")
        return self.client.post("/feedback", data=body, environ_base=self.env)


def _tickets(app) -> list[tuple[Complaint, dict, str]]:
    with app.app_context():
        rows = session().execute(
            sa.select(Complaint, ComplaintEvent.data, User.username)
            .join(ComplaintEvent, sa.and_(ComplaintEvent.complaint_id == Complaint.id,
                                          ComplaintEvent.seq == 1))
            .join(User, User.id == Complaint.registered_by_id).order_by(Complaint.id)
        ).all()  # fmt: skip
        for row in rows:
            session().expunge(row[0])
        return [tuple(r) for r in rows]


def test_anyone_sends_a_complaint_or_a_suggestion_into_the_register(demo_app):
    # Wed 2 Dec 2026 17:30 UTC is Thu 3 Dec 01:30 at the centre: the ticket is of the 3rd
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 3, 1, 30))
    visitor = Visitor(demo_app)
    assert visitor.send(ENTRY, csrf=False).status_code == 400  # no token, nothing written
    assert _tickets(demo_app) == []
    page = visitor.send(ENTRY)
    assert page.status_code == 200
    shown = _text(page.text)
    assert "您的投诉已登记" in shown and "登记编号 TS-20261203-0001" in shown
    assert "收件时间 2026-12-03 01:30" in shown
    # written 7 working days ahead: Thu 3 Dec + 7 working days = Mon 14 Dec (no holiday)
    assert "答复期限 2026-12-14" in shown
    suggestion = {**ENTRY, "kind": "suggestion", "subject": "建议增设自助打印机"}
    assert "您的意见建议已登记" in _text(visitor.send(suggestion).text)
    [(first, noted, by), (second, noted2, _by)] = _tickets(demo_app)
    assert (first.number, first.channel, first.status) == (
        "TS-20261203-0001",
        "online",
        "registered",
    )
    assert by == "system" and noted["kind"] == "complaint" and noted["public"] is True
    assert first.complainant_name == "王小明" and first.subject == "窗口排队时间过长"
    assert second.subject == "【意见建议】建议增设自助打印机" and noted2["kind"] == "suggestion"
    # the office finds both in its register
    office = Web(demo_app, _first_with_role(demo_app, "supervisor")).get("/complaints").text
    assert "TS-20261203-0001" in office and "TS-20261203-0002" in office


def _first_with_role(app, role: str) -> str:
    with app.app_context():
        users = session().scalars(sa.select(User).order_by(User.id)).all()
        return next(u.username for u in users if u.has_role(role))


def test_a_refused_entry_says_why_and_keeps_what_was_typed(demo_app):
    visitor = Visitor(demo_app)
    no_phone = visitor.send({**ENTRY, "complainant_phone": ""})
    assert no_phone.status_code == 400
    assert "联系电话：请填写便于答复的电话号码" in _text(no_phone.text)
    assert _value(no_phone.text, "complainant_name") == "王小明"
    assert _value(no_phone.text, "subject") == "窗口排队时间过长"
    too_long = visitor.send({**ENTRY, "content": "很" * 4001})
    assert too_long.status_code == 400 and "内容：不能超过 4000 个字" in _text(too_long.text)
    unknown_case = visitor.send({**ENTRY, "case_no": "NO-SUCH-CASE"})
    assert unknown_case.status_code == 400
    assert _tickets(demo_app) == []


def test_entries_are_throttled_per_address_across_workers(demo_app, database_url, tmp_path):
    demo_app.config["FEEDBACK_PER_CLIENT"] = 2
    # a second worker process: another app on the same database
    other = create_app(TestConfig, DATABASE_URL=database_url, BPMN_DIR=BASE_DIR / "bpmn",
                       UPLOAD_DIR=tmp_path / "uploads2", FEEDBACK_PER_CLIENT=2)  # fmt: skip
    try:
        assert Visitor(demo_app).send(ENTRY).status_code == 200
        assert Visitor(other).send(ENTRY).status_code == 200
        refused = Visitor(demo_app).send({**ENTRY, "subject": "第三次"})
        assert refused.status_code == 429
        assert "您所在地址提交次数过多，请稍后再试" in _text(refused.text)
        assert _value(refused.text, "subject") == "第三次"
        assert Visitor(other).send(ENTRY).status_code == 429
        assert Visitor(demo_app, "198.51.100.1").send(ENTRY).status_code == 200
    finally:
        other.extensions["ow_engine"].dispose()
    assert len(_tickets(demo_app)) == 3


def test_an_account_is_optional_and_fills_in_who(demo_app):
    he = Web(demo_app, "applicant_he", lang="zh")
    page = he.get("/feedback").text
    assert _value(page, "complainant_name") == "何晓峰"
    he.post("/feedback", {**ENTRY, "complainant_name": "何晓峰"}, expect=200)
    [(_ticket, noted, _by)] = _tickets(demo_app)
    with demo_app.app_context():
        he_id = session().scalar(sa.select(User.id).where(User.username == "applicant_he"))
    assert noted["account_id"] == he_id


# --- handing in with a required material missing ---------------------------------------------


def test_handing_in_without_a_required_material_needs_a_confirmation(demo_app):
    he = Web(demo_app, "applicant_he", lang="zh")
    number = _apply(he)
    _upload(he, number, "application")
    _upload(he, number, "identity")
    page = he.get(f"/my/applications/{number}").text
    warned = re.findall(r'data-missing-required="(\w+)"', page)
    assert warned == ["certificate", "cancel_proof"]
    assert 'name="confirm_missing"' in page and "以下必需材料尚未上传" in page
    refused = he.post(f"/my/applications/{number}/submit", expect=400)
    shown = _text(refused.text)
    assert "以下必需材料尚未上传：不动产权证书" in shown, shown[:2000]
    assert _row(demo_app, number).status == "draft"
    he.post(f"/my/applications/{number}/submit", {"confirm_missing": "1"})
    assert _row(demo_app, number).status == "submitted"


def test_with_every_required_material_no_confirmation_is_asked(demo_app):
    he = Web(demo_app, "applicant_he", lang="zh")
    number = _apply(he)
    for code in ("application", "identity", "certificate", "cancel_proof"):
        _upload(he, number, code)
    page = he.get(f"/my/applications/{number}").text
    assert "missing-warning" not in page and 'name="confirm_missing"' not in page
    he.post(f"/my/applications/{number}/submit")
    assert _row(demo_app, number).status == "submitted"


# --- a failed rating keeps its context -------------------------------------------------------


def _decided(app) -> tuple[str, str]:
    api = Api(app.test_client())
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    api.work(case_no, "Task_review", "approve", "同意注销")
    api.work(case_no, "Task_issue")
    from app.cases.models import Case

    with app.app_context():
        code = session().scalar(sa.select(Case.query_code).where(Case.case_no == case_no))
    return case_no, code


def test_a_refused_rating_keeps_the_case_number_code_and_what_was_typed(demo_app):
    case_no, code = _decided(demo_app)
    visitor = Web(demo_app, lang="zh")
    visitor.get("/track")
    # very dissatisfied without a word: refused, the rating form stays with what was chosen
    page = visitor.post("/track/rate", {"case_no": case_no, "code": code, "level": "1",
                                        "comment": ""}, expect=400).text  # fmt: skip
    assert "请告诉我们哪里做得不好，以便改正" in _text(page)  # why, on the page
    assert 'id="rate"' in page and 'id="progress"' in page
    rate_form = page[page.index('id="rate"') :]
    assert _value(rate_form, "case_no") == case_no and _value(rate_form, "code") == code
    assert re.search(r'value="1" required checked', rate_form)
    # a wrong code: the query form keeps both as typed
    page = visitor.post("/track/rate", {"case_no": case_no, "code": "WRONG1", "level": "5",
                                        "comment": "很好"}, expect=404).text  # fmt: skip
    assert _value(page, "case_no") == case_no and _value(page, "code") == "WRONG1"
    # put right, the rating is taken
    page = visitor.post("/track/rate", {"case_no": case_no, "code": code, "level": "2",
                                        "comment": "等待时间较长"}, expect=200).text  # fmt: skip
    assert 'id="rated"' in page


# --- the online supplement notice --------------------------------------------------------------


@pytest.fixture
def poppler() -> None:
    require_poppler(OUT)


def test_the_online_supplement_notice_fits_online_handling(demo_app, poppler):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 2, 10))
    he = Web(demo_app, "applicant_he")
    number = _apply(he)
    _upload(he, number, "application")
    _upload(he, number, "identity")
    he.post(f"/my/applications/{number}/submit", {"confirm_missing": "1"})
    Web(demo_app, "clerk_liu").post(f"/window/online/{number}/supplements",
                                    {"missing": ["certificate", "cancel_proof"],
                                     "note": "请上传清晰的彩色扫描件"})  # fmt: skip
    data = he.get(f"/my/applications/{number}/supplement-notice.pdf").data
    pdf, pages = render(OUT, "supplement-online-application", data, dpi=80)
    assert len(pages) == 1
    text = re.sub(r"\s+", "", run("pdftotext", "-raw", pdf, "-"))
    # the header: the application's number and where to follow it, no query code or QR
    assert f"申请编号：{number}" in text
    assert "查询码" not in text and "扫码查询" not in text
    assert "审查意见：请上传清晰的彩色扫描件。" in text  # the clerk's note
    # one instruction, online: upload and hand in again; not also "come to the window"
    upload = f"请登录网上办事大厅，在本申请（申请编号{number}）中上传上述全部材料后重新提交。"
    assert f"补正要求：{upload}" in text
    assert "窗口" not in text.split("补正要求")[1].split("受理人")[0]
    assert "携带" not in text
