"""Electronic licences (issue 24), on both databases: an approval records a licence in the
authority's series with its term and reminder day; a renewal case started from it extends
its term; a change replaces it; a revocation marks it and every check says so; a renewal
reminder fires once, on the right working day (counted over the 2026 National Day holiday);
the licence and the decision letter are signed documents, kept whole, that poppler's pdfsig
trusts to the demo CA and that fail with the reason when one byte is edited.

The licence document is rendered to PNG under build/licences/ (looked at while writing)."""

from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import sqlalchemy as sa

from app.db import session
from app.licences import reminders
from app.licences.models import Licence, LicenceEvent, SignedDocument
from app.org.models import Department, DepartmentHead, User
from app.supervision.models import Notification
from tests import pdftools
from tests.apiclient import Api, sample_form
from tests.test_signing import _flip_in_a_stream, _pdfsig
from tests.test_time_limits import Clock, utc
from tests.webclient import Web

OUT = Path(__file__).resolve().parent.parent / "build" / "licences"
HOLDER = "李华"  # the applicant tests.apiclient applies as


def _planning(api: Api, name: str = "滨江花园二期") -> str:
    form = sample_form("planning-permit", project_name=name, site_location="示范市滨江路 18 号",
                       land_use="居住", floor_area=12000)  # fmt: skip
    case_no = api.apply("planning-permit", form)["case_no"]
    for spec in ("Task_lead", "Task_deputy", "Task_head", "Task_issue"):
        api.work(case_no, spec)
    return case_no


def _licence(app, case_no: str) -> Licence:
    with app.app_context():
        from app.cases.models import Case

        db = session()
        lic = db.scalars(sa.select(Licence).join(Case, Case.id == Licence.case_id)
                         .where(Case.case_no == case_no)).one()  # fmt: skip
        db.expunge(lic)
        return lic


def _history(app, licence_id: int) -> list[str]:
    """The licence's history after its issue (the licence row records the issue)."""
    with app.app_context():
        return list(session().scalars(sa.select(LicenceEvent.kind)
                                      .where(LicenceEvent.licence_id == licence_id)
                                      .order_by(LicenceEvent.id)))  # fmt: skip


def _act(api: Api, item: str, number: str, **form) -> str:
    """Receive a licence case at the window and take it through to approval."""
    case_no = api.apply(item, sample_form(item, licence_no=number, **form))["case_no"]
    for spec in ("Task_lead", "Task_deputy", "Task_issue"):
        api.work(case_no, spec)
    assert api.case(case_no)["decision"] == "approved"
    return case_no


def test_an_approval_records_a_licence_and_a_renewal_extends_it(demo_app):
    # decided on Tue 18 Nov 2025: a year's term ends on 17 Nov 2026; a renewal is applied for
    # by 18 Oct 2026 (30 days before); the reminder ten working days before that day
    clock = demo_app.config["CLOCK"] = Clock(utc(2025, 11, 18, 10))
    api = Api(demo_app.test_client())
    case_no = _planning(api)
    lic = _licence(demo_app, case_no)
    assert lic.number == "示自然资规许证〔2025〕1号" and lic.status == "in_force"
    assert (lic.holder_name, lic.title, lic.matter) == (HOLDER, "建设工程规划许可证",
                                                        "建设工程规划许可")  # fmt: skip
    assert "同意滨江花园二期在示范市滨江路 18 号建设" in lic.content
    assert lic.issued_on == dt.date(2025, 11, 18) and lic.valid_until == dt.date(2026, 11, 17)
    # back from Sun 18 Oct: 16, 15, 14, 13, 12 Oct, the Saturday 10 Oct worked for the
    # holiday, 9, 8 Oct, then over the National Day holiday (1–7 Oct) to 30 and 29 Sep
    assert lic.remind_on == dt.date(2026, 9, 29)
    assert len(lic.code) == 10
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    issued = [e["data"] for e in events if e["type"] == "licence_issued"]
    assert issued == [{"number": lic.number, "code": lic.code, "valid_until": "2026-11-17"}]
    # the next approval of the bureau takes the next number of its licence series
    assert _licence(demo_app, _planning(api, "城东小学")).number == "示自然资规许证〔2025〕2号"

    # the renewal, applied for at the window on 12 Oct 2026 by the holder
    clock.now = utc(2026, 10, 12, 10)
    unknown = "示自然资规许证〔2025〕9号"
    wrong = api.apply("planning-permit-renewal",
                      sample_form("planning-permit-renewal", licence_no=unknown), expect=400)
    assert "licence_no" in wrong["message"] and unknown in wrong["message"]
    renewal = _act(api, "planning-permit-renewal", lic.number)
    renewed = _licence(demo_app, case_no)
    assert renewed.valid_until == dt.date(2027, 11, 17) and renewed.status == "in_force"
    assert renewed.remind_on is not None and renewed.remind_on > dt.date(2027, 9, 1)
    assert _history(demo_app, lic.id) == ["renewed"]
    events = api.call("GET", f"/cases/{renewal}/events", "auditor_sun")["events"]
    assert [e["data"]["valid_until"] for e in events if e["type"] == "licence_renewed"] == \
        ["2027-11-17"]  # fmt: skip
    # the renewal's own approval grants no new licence
    with demo_app.app_context():
        assert session().scalar(sa.select(sa.func.count()).select_from(Licence)) == 2


def test_the_renewal_reminder_fires_once_on_its_working_day(demo_app):
    clock = demo_app.config["CLOCK"] = Clock(utc(2025, 11, 18, 10))
    lic = _licence(demo_app, _planning(Api(demo_app.test_client())))
    with demo_app.app_context():
        db = session()
        authority = db.scalar(sa.select(Department.id)
                              .where(Department.code == "natural_resources"))  # fmt: skip
        heads = set(db.scalars(sa.select(DepartmentHead.user_id)
                               .where(DepartmentHead.department_id == authority)))  # fmt: skip
        assert heads
        # the scheduler's next look is the start of the reminder's day in the centre
        assert reminders.next_threshold(clock.now) == utc(2026, 9, 29, 0)
    clock.now = utc(2026, 9, 28, 23, 30)  # the evening before: nothing yet
    with demo_app.app_context():
        assert reminders.scan() == 0
    clock.now = utc(2026, 9, 29, 0, 5)
    with demo_app.app_context():
        assert reminders.scan() == 1
        assert reminders.scan() == 0  # once
    clock.now = utc(2026, 10, 12, 9)
    with demo_app.app_context():
        assert reminders.scan() == 0  # and not again on a later day
        told = session().execute(sa.select(Notification.user_id, Notification.text)
                                 .where(Notification.kind == "licence")).all()  # fmt: skip
        assert {u for u, _t in told} == heads and len(told) == len(heads)
        assert all(lic.number in t and "2026-11-17" in t for _u, t in told)
        head = session().scalar(sa.select(User.username).where(User.id == min(heads)))
    # the head reads it among their messages, in Chinese
    page = Web(demo_app, head, lang="zh").get("/notifications").text
    assert "许可证延续提醒" in page and lic.number in page and "第五十条" in page
    with demo_app.app_context():
        # next: the day after the term, when the licence expires
        assert reminders.next_threshold(clock.now) == utc(2026, 11, 18, 0)
    assert _history(demo_app, lic.id) == ["reminded"]
    clock.now = utc(2026, 11, 18, 0, 1)
    with demo_app.app_context():
        reminders.scan()
    assert _licence(demo_app, _case_no(demo_app, lic.case_id)).status == "expired"
    assert _history(demo_app, lic.id) == ["reminded", "expired"]


def _case_no(app, case_id: int) -> str:
    with app.app_context():
        from app.cases.models import Case

        return session().scalar(sa.select(Case.case_no).where(Case.id == case_id))


def _pdf(app, case_no: str, kind: str, user: str = "clerk_wei") -> bytes:
    resp = Web(app, user).get(f"/cases/{case_no}/notices/{kind}.pdf")
    assert resp.headers["Content-Type"] == "application/pdf"
    return resp.data


def _upload(web: Web, data: bytes) -> str:
    page = web.get("/verify").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = web.client.post("/verify", data={"csrf_token": token,
                                            "file": (io.BytesIO(data), "许可证.pdf")},
                           content_type="multipart/form-data")  # fmt: skip
    assert resp.status_code == 200, resp.text[:300]
    return resp.text


def test_the_signed_licence_verifies_and_a_revocation_shows_everywhere(demo_app, tmp_path):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 4, 10))
    api = Api(demo_app.test_client())
    case_no = _planning(api)
    lic = _licence(demo_app, case_no)
    document = _pdf(demo_app, case_no, "licence")
    assert _pdf(demo_app, case_no, "licence", "auditor_sun") == document  # kept: the same file
    letter = _pdf(demo_app, case_no, "decision")
    assert _pdf(demo_app, case_no, "decision") == letter
    OUT.mkdir(parents=True, exist_ok=True)
    pdftools.require_poppler(OUT)
    pdf, pages = pdftools.render(OUT, "licence", document)
    text = "".join(pdftools.text(pdf).split())
    assert "建设工程规划许可证" in text and f"编号：{lic.number}" in text
    assert f"验证码：{lic.code}" in text and "自2026年12月4日至2027年12月3日" in text
    assert len(pages) == 1
    # poppler's pdfsig: valid, and the chain trusted to the demo CA (and only to it)
    said = _pdfsig(pdf, Path(demo_app.config["SIGNING_DIR"]) / "trust.pem", tmp_path)
    assert "Signature is Valid." in said and "Certificate is Trusted." in said, said
    with demo_app.app_context():
        stored = session().execute(sa.select(SignedDocument.kind, SignedDocument.size)
                                   .order_by(SignedDocument.kind)).all()  # fmt: skip
    assert stored == [("decision", len(letter)), ("licence", len(document))]

    public = Web(demo_app)  # a bank officer: no account
    page = public.get(f"/l/{lic.code}").text
    assert 'data-status="in_force"' in page and lic.number in page and HOLDER in page
    assert public.get(f"/l/{lic.code.lower()}").status_code == 200  # typed in lower case
    assert public.get("/l/AAAAAAAAAA", expect=404).status_code == 404
    checked = _upload(public, document)
    assert 'data-authentic="yes"' in checked and 'id="registry-match"' in checked
    assert 'data-status="in_force"' in checked
    edited = _upload(public, _flip_in_a_stream(document))
    assert 'data-authentic="no"' in edited and "文书在签名后被改动" in edited
    # the decision letter's own code (printed on it) opens the same licence's status
    with demo_app.app_context():
        code = session().scalar(sa.select(SignedDocument.code)
                                .where(SignedDocument.kind == "decision"))  # fmt: skip
    letter_pdf, _pages = pdftools.render(OUT, "decision-for-code", letter)
    assert f"验证码：{code}" in "".join(pdftools.text(letter_pdf).split())
    assert 'data-status="in_force"' in public.get(f"/l/{code}").text

    # revoked (art. 69) by a case of its own; every check says so from now on
    revocation = _act(api, "planning-permit-revocation", lic.number)
    assert _licence(demo_app, case_no).status == "revoked"
    assert 'data-status="revoked"' in public.get(f"/l/{lic.code}").text
    checked = _upload(public, document)
    assert 'data-authentic="yes"' in checked and 'data-status="revoked"' in checked
    assert 'id="no-longer-in-force"' in checked
    assert _history(demo_app, lic.id) == ["revoked"]
    # a revoked licence cannot be renewed: refused at the window, naming the field
    refused = api.apply("planning-permit-renewal",
                        sample_form("planning-permit-renewal", licence_no=lic.number),
                        expect=400)  # fmt: skip
    assert "licence_no" in refused["message"] and lic.number in refused["message"]
    assert revocation != case_no


def test_a_change_replaces_the_licence_and_the_registry_is_searchable(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 4, 10))
    api = Api(demo_app.test_client())
    case_no = _planning(api)
    old = _licence(demo_app, case_no)
    change = _act(api, "planning-permit-change", old.number,
                  changed_content="总建筑面积调整为11500平方米", change_reason="方案优化")
    new = _licence(demo_app, change)
    assert _licence(demo_app, case_no).status == "changed"
    assert new.number == "示自然资规许证〔2026〕2号"
    assert new.content == "总建筑面积调整为11500平方米"
    assert new.valid_until == old.valid_until and new.status == "in_force"
    assert _history(demo_app, old.id) == ["changed"]
    # staff search the registry; the public register shows no identity data
    staff = Web(demo_app, "clerk_wei").get(f"/licences?q={HOLDER}").text
    assert old.number in staff and new.number in staff
    for status, listed in (("changed", old), ("in_force", new)):
        found = Web(demo_app, "clerk_wei").get(f"/licences?status={status}").text
        others = new if listed is old else old
        assert listed.number in found and f">{others.number}<" not in found, status
    assert new.number not in Web(demo_app, "clerk_wei").get("/licences?status=expiring").text
    detail = Web(demo_app, "auditor_sun").get(f"/licences/{old.id}").text
    assert 'data-kind="issued"' in detail and 'data-kind="changed"' in detail
    assert new.number in detail
    # who may read a licence's page: the staff who read cases; nobody else, before any lookup
    for user, status in (("clerk_wei", 200), ("official_lu", 200), ("leader_gao", 200),
                         ("supervisor_wu", 200), ("auditor_sun", 200), ("admin", 200),
                         ("analyst_zhou", 403), ("applicant_he", 403)):  # fmt: skip
        assert Web(demo_app, user).get(f"/licences/{old.id}", expect=None).status_code == status
        assert Web(demo_app, user).get("/licences/999999", expect=None).status_code == \
            (404 if status == 200 else 403)  # fmt: skip
    anonymous = Web(demo_app).get(f"/licences/{old.id}", expect=None)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    register = Web(demo_app).get("/licence-register").text
    assert new.number in register and "330102199001011234" not in register
    assert HOLDER not in register  # a person's name is masked


def test_the_decision_letter_is_signed_with_its_code_whoever_fetches_it_first(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 4, 10))
    case_no = _planning(Api(demo_app.test_client()))
    letter = _pdf(demo_app, case_no, "decision", "auditor_sun")  # an English-speaking reader
    OUT.mkdir(parents=True, exist_ok=True)
    pdftools.require_poppler(OUT)
    pdf, pages = pdftools.render(OUT, "decision-signed", letter)
    with demo_app.app_context():
        code = session().scalar(sa.select(SignedDocument.code)
                                .where(SignedDocument.kind == "decision"))  # fmt: skip
    text = "".join(pdftools.text(pdf).split())
    assert f"验证码：{code}" in text and "准予行政许可决定书" in text
    stamp = Web(demo_app).get(f"/l/{code}").text
    assert 'data-status="in_force"' in stamp


def test_a_renewal_denied_or_overtaken_by_a_revocation_changes_nothing(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 4, 10))
    api = Api(demo_app.test_client())
    lic = _licence(demo_app, _planning(api))
    form = sample_form("planning-permit-renewal", licence_no=lic.number)
    # denied: the licence stays as it was; its history says so
    denied = api.apply("planning-permit-renewal", form)["case_no"]
    api.work(denied, "Task_lead")
    api.work(denied, "Task_deputy", "reject", "延续理由不充分",
             {"legal_basis": "《中华人民共和国行政许可法》第五十条"})  # fmt: skip
    assert api.case(denied)["decision"] == "denied"
    kept = _licence(demo_app, _case_no(demo_app, lic.case_id))
    assert (kept.status, kept.valid_until) == ("in_force", lic.valid_until)
    assert _history(demo_app, lic.id) == ["renewal_denied"]
    # approved after the licence was revoked meanwhile: the case stops in the fault state,
    # nothing of the renewal is written
    late = api.apply("planning-permit-renewal", form)["case_no"]
    api.work(late, "Task_lead")
    api.work(late, "Task_deputy")
    _act(api, "planning-permit-revocation", lic.number)
    faulted = api.work(late, "Task_issue", expect=409)
    assert lic.number in faulted["message"]
    assert api.case(late)["status"] == "fault" and api.case(late)["decision"] is None
    revoked = _licence(demo_app, _case_no(demo_app, lic.case_id))
    assert (revoked.status, revoked.valid_until) == ("revoked", lic.valid_until)
    assert _history(demo_app, lic.id) == ["renewal_denied", "revoked"]


def test_online_the_applicant_applies_only_for_a_licence_of_theirs(demo_app):
    web = Web(demo_app, "applicant_he", lang="zh")
    unknown = "示自然资规许证〔2026〕99号"
    page = web.post("/apply/planning-permit-renewal",
                    {"a_licence_no": unknown, "a_extension_reason": "工期顺延"}, expect=400)
    assert unknown in page.text and "登记簿中没有编号为" in page.text
    # the revocation is the authority's own: not applied for online
    assert web.get("/apply/planning-permit-revocation", expect=404).status_code == 404


def test_an_authority_without_its_key_issues_nothing_unsigned(demo_app, tmp_path):
    """Outside the demo, an authority whose key and certificate are not installed gets no
    document at all: the clerk reads why (409), nothing is kept."""
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 4, 10))
    case_no = _planning(Api(demo_app.test_client()))
    demo_app.config.update(SIGNING_DIR=tmp_path / "none", SIGNING_DEMO_CA=False)
    clerk = Web(demo_app, "clerk_wei")
    for kind in ("decision", "licence", "receipt"):
        page = clerk.get(f"/cases/{case_no}/notices/{kind}.pdf", expect=409).text
        assert "示范市自然资源和规划局" in page and "natural_resources.key.pem" in page, kind
        assert "%PDF" not in page
    with demo_app.app_context():
        assert session().scalar(sa.select(sa.func.count()).select_from(SignedDocument)) == 0


def test_one_application_at_a_time_and_two_renewals_never_extend_twice(demo_app, monkeypatch):
    """A licence has one application of its holder open at a time (the authority's own
    revocation is never held up); two renewals that came in together (a race past the
    window) are decided once: the second approval stops in the fault state, naming the
    first, and the term runs on once."""
    from app.licences import registry

    clock = demo_app.config["CLOCK"] = Clock(utc(2026, 12, 4, 2))
    api = Api(demo_app.test_client())
    lic = _licence(demo_app, _planning(api))
    renewal = sample_form("planning-permit-renewal", licence_no=lic.number)
    clock.now = utc(2026, 12, 4, 3)
    first = api.apply("planning-permit-renewal", renewal)["case_no"]
    for item, form in (("planning-permit-renewal", renewal),
                       ("planning-permit-cancellation",
                        sample_form("planning-permit-cancellation", licence_no=lic.number))):
        refused = api.apply(item, form, expect=400)["message"]  # the clerk reads, in Chinese:
        assert refused == (f"licence_no（许可证号）：许可证 {lic.number} 已有在办案件 {first}："
                           "该案件办结后方可再次申请"), item

    # both came in at once: the second passed the window before the first was a case
    monkeypatch.setattr(registry, "_open_case", lambda db, licence, terms: "")
    second = api.apply("planning-permit-renewal", renewal)["case_no"]
    monkeypatch.undo()
    for case_no in (first, second):
        api.work(case_no, "Task_lead")
        api.work(case_no, "Task_deputy")
    clock.now = utc(2026, 12, 4, 5)
    api.work(first, "Task_issue")
    clock.now = utc(2026, 12, 4, 6)
    once = _licence(demo_app, _case_no(demo_app, lic.case_id))
    assert once.valid_until == registry.term_end(lic.valid_until + dt.timedelta(days=1), 12)
    faulted = api.work(second, "Task_issue", expect=409)["message"]
    assert lic.number in faulted and first in faulted
    assert api.case(second)["status"] == "fault" and api.case(second)["decision"] is None
    assert _licence(demo_app, _case_no(demo_app, lic.case_id)).valid_until == once.valid_until
    assert _history(demo_app, lic.id) == ["renewed"]
    # the stopped case still holds the licence until an admin withdraws it
    api.apply("planning-permit-renewal", renewal, expect=400)
    withdrawn = {"reason": "重复申请，已由另案办结"}
    api.call("POST", f"/cases/{second}/withdraw", "admin", json=withdrawn)
    assert api.apply("planning-permit-renewal", renewal)["case_no"] not in (first, second)
    # the authority's revocation goes ahead beside an open application of the holder
    _act(api, "planning-permit-revocation", lic.number)
    assert _licence(demo_app, _case_no(demo_app, lic.case_id)).status == "revoked"
