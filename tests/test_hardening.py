"""Hardening of issue 18: reads that never write, exports without formulas, a configured
public URL, safe download names, no oracles at log-in and registration, production
refusing the development defaults."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import sqlalchemy as sa

from app.audit.models import Event
from app.cases.models import Case
from app.db import session
from app.notices.facts import qr_payload
from tests.apiclient import Api, required_materials, sample_form
from tests.webclient import Web

ITEM = "house-cancellation"
FORM = {"a_certificate_no": "示房权证第0012345号", "a_house_address": "示范市东路 8 号",
        "a_cancel_reason": "房屋灭失"}  # fmt: skip
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
REFUSAL = {"reason": "不属于本中心职权范围", "legal_basis": "《行政许可法》第三十二条"}


def _state(app, case_no: str) -> tuple[int, int, list[str]]:
    with app.app_context():
        case = session().scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        types = (
            session()
            .scalars(sa.select(Event.type).where(Event.case_id == case.id).order_by(Event.id))
            .all()
        )
        return case.version, case.event_seq, list(types)


def _cases_with_every_notice(app) -> dict[str, str]:
    """kind -> a case that has that notice."""
    api = Api(app.test_client())
    short = required_materials(ITEM)[:-1]
    accepted = api.apply(ITEM, sample_form(ITEM))["case_no"]
    supplement = api.apply(ITEM, sample_form(ITEM), materials=short)["case_no"]
    refused = api.apply(ITEM, sample_form(ITEM), materials=short)["case_no"]
    Web(app, "clerk_liu").post(f"/cases/{refused}/refuse", {**REFUSAL, "confirm": "y"})
    decided = api.apply(ITEM, sample_form(ITEM))["case_no"]
    api.work(decided, "Task_review", data={"review_opinion": "同意"})
    api.work(decided, "Task_issue")
    return {"receipt": accepted, "commitment": accepted, "supplement": supplement,
            "refusal": refused, "decision": decided}  # fmt: skip


def test_read_only_roles_download_every_notice_and_nothing_is_written(demo_app):
    cases = _cases_with_every_notice(demo_app)
    before = {no: _state(demo_app, no) for no in set(cases.values())}
    for username in ("auditor_sun", "supervisor_wu", "clerk_liu"):
        web = Web(demo_app, username)
        for kind, case_no in cases.items():
            page = web.get(f"/cases/{case_no}").text
            assert f'data-notice="{kind}"' in page
            # only the window hands a notice over
            assert (f'data-hand-over="{kind}"' in page) == (username == "clerk_liu")
            pdf = web.get(f"/cases/{case_no}/notices/{kind}.pdf")
            assert pdf.data.startswith(b"%PDF")
    assert {no: _state(demo_app, no) for no in set(cases.values())} == before
    # the auditor and the supervisor may not hand a notice over; nothing changes
    no = cases["decision"]
    for username in ("auditor_sun", "supervisor_wu"):
        Web(demo_app, username).post(f"/cases/{no}/notices/decision/hand-over", expect=403)
    assert _state(demo_app, no) == before[no]
    # the clerk's hand-over records exactly one notice_issued and bumps the case once
    clerk = Web(demo_app, "clerk_liu")
    handed = clerk.post(f"/cases/{no}/notices/decision/hand-over")
    assert "recorded as handed over" in clerk.get(handed.headers["Location"]).text
    version, seq, types = _state(demo_app, no)
    assert types == before[no][2] + ["notice_issued"]
    assert seq == before[no][1] + 1 and version > before[no][0]
    # a notice the case does not have is refused, and nothing is logged
    resp = clerk.post(f"/cases/{no}/notices/refusal/hand-over")
    assert 'class="flash error"' in clerk.get(resp.headers["Location"]).text
    assert _state(demo_app, no)[2] == types


FORMULA = '=HYPERLINK("http://x","y")'


def test_every_export_neutralises_formulas(demo_app):
    import csv
    import io

    from openpyxl import load_workbook

    from app.cases.models import Task
    from app.catalogue.models import Item

    api = Api(demo_app.test_client())
    case_no = api.apply(ITEM, sample_form(ITEM))["case_no"]
    api.work(case_no, "Task_review", data={"review_opinion": "同意"})
    with demo_app.app_context():
        db = session()
        case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
        db.execute(sa.update(Task).where(Task.case_id == case_id).values(name=FORMULA))
        db.execute(sa.update(Item).where(Item.code == ITEM).values(name=FORMULA))
        db.commit()
    # the audit export: the task's name
    text = Web(demo_app, "auditor_sun").get(f"/audit/export.csv?item={ITEM}").text
    rows = list(csv.reader(io.StringIO(text)))
    assert any(r[2] == "'" + FORMULA for r in rows), rows
    assert not any(cell.startswith("=") for r in rows for cell in r)
    # the statistics exports: the item's name as a row label
    month = dt.date.today().strftime("%Y-%m")
    web = Web(demo_app, "supervisor_wu")
    query = f"period={month}&grouping=item"
    text = web.get(f"/stats/export.csv?{query}").data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert any(r and r[0] == "'" + FORMULA for r in rows), rows
    assert not any(cell.startswith("=") for r in rows for cell in r)
    book = load_workbook(io.BytesIO(web.get(f"/stats/export.xlsx?{query}").data))
    cells = [c for sheet in book.worksheets for r in sheet.iter_rows() for c in r]
    found = [c for c in cells if c.value == FORMULA]
    assert found and all(c.data_type == "s" and c.quotePrefix for c in found)
    assert not any(c.data_type == "f" for c in cells)


def test_absolute_links_use_the_configured_public_url_not_the_host_header(demo_app, monkeypatch):
    from lxml import etree

    from app.applicants import documents
    from app.org.models import User

    api = Api(demo_app.test_client())
    case_no = api.apply(ITEM, sample_form(ITEM))["case_no"]
    api.work(case_no, "Task_review", data={"review_opinion": "同意"})
    api.work(case_no, "Task_issue")
    forged = {"Host": "evil.example"}
    seen = []
    real = documents.decision_docs.letters.decision_letter

    def spy(here, facts, *args, **kwargs):
        seen.append(facts)
        return real(here, facts, *args, **kwargs)

    monkeypatch.setattr(documents.decision_docs.letters, "decision_letter", spy)
    # the default (the demo's address), then a configured one
    for base in ("http://127.0.0.1:5000", "https://zwfw.example.gov.cn/ow"):
        demo_app.config["PUBLIC_URL"] = base
        feed = demo_app.test_client().get("/results.atom", headers=forged)
        assert feed.status_code == 200
        assert b"evil.example" not in feed.data
        root = etree.fromstring(feed.data)
        links = [e.get("href") for e in root.iter("{http://www.w3.org/2005/Atom}link")]
        ids = [e.text for e in root.iter("{http://www.w3.org/2005/Atom}id")]
        assert len(links) > 2 and all(link.startswith(base + "/results") for link in links)
        assert ids[0].startswith(base + "/results.atom")
        assert any(case_no in i and urlsplit(base).hostname in i for i in ids[1:])
        # the QR code of a decision letter (a new case's: a letter is signed and kept the
        # first time it is issued): its verification page on the configured URL; the
        # progress query the other notices carry, too
        decided = api.apply(ITEM, sample_form(ITEM))["case_no"]
        api.work(decided, "Task_review", data={"review_opinion": "同意"})
        api.work(decided, "Task_issue")
        with demo_app.test_request_context(f"/cases/{decided}", headers=forged):
            clerk = session().scalars(sa.select(User).where(User.username == "clerk_liu")).one()
            assert documents.case_notice(clerk, decided, "decision").startswith(b"%PDF")
        assert seen[-1].case_no == decided and seen[-1].verify_url.startswith(base + "/l/")
        payload = qr_payload(seen[-1])
        assert payload.startswith(base + "/track?") and decided in payload


def test_a_download_carries_the_stored_types_extension_and_a_safe_name(demo_app):
    import io

    from app.applicants.models import Upload

    he = Web(demo_app, "applicant_he")
    number = he.post(f"/apply/{ITEM}", FORM).headers["Location"].rsplit("/", 1)[-1]
    for name in ("poly.html", "../x y;z.pdf.html"):
        he.post(f"/my/applications/{number}/upload",
                {"material": "application", "file": (io.BytesIO(PDF), name)},
                content_type="multipart/form-data")  # fmt: skip
    with demo_app.app_context():
        ids = session().scalars(sa.select(Upload.id).order_by(Upload.id)).all()[-2:]
    names = []
    for upload_id in ids:
        resp = he.get(f"/my/applications/{number}/files/{upload_id}")
        assert resp.data == PDF and resp.mimetype == "application/pdf"
        names.append(resp.headers["Content-Disposition"])
    assert names[0] == "attachment; filename=poly.pdf"
    assert names[1] == "attachment; filename=x_y_z_pdf.pdf"
    assert not any(".html" in n for n in names)


def test_log_in_runs_the_same_hash_check_for_a_missing_user(demo_app, monkeypatch):
    import pytest

    from app.auth import services
    from app.errors import Unauthorized
    from app.org import services as org_services

    checked: list[tuple[str, str]] = []

    def spy(module):
        real = module.check_password_hash

        def check(pwhash, password):
            checked.append((pwhash.split("$", 1)[0], password))
            return real(pwhash, password)

        return check

    monkeypatch.setattr(services, "check_password_hash", spy(services))
    monkeypatch.setattr(org_services, "check_password_hash", spy(org_services))
    method = demo_app.config["PASSWORD_HASH_METHOD"]
    with demo_app.test_request_context():
        for name in ("no_such_user", "clerk_liu"):
            with pytest.raises(Unauthorized):
                services.authenticate(name, "wrong-password-1")
    # one hash check of the same method for the missing user as for the existing one
    assert checked == [(method, "wrong-password-1")] * 2


def test_registration_is_throttled_for_every_attempt(demo_app):
    web = Web(demo_app)
    body = {"username": "applicant_he", "name": "张三", "id_number": "110105198511020046",
            "phone": "13912345000", "password": "long-enough-pw"}  # fmt: skip
    answers = [web.post("/register", body, expect=None) for _ in range(40)]
    codes = [a.status_code for a in answers]
    taken = sum("此用户名已被使用" in a.text for a in answers)  # the public's default, zh
    assert codes[0] == 400 and taken < 40 and codes[-1] == 429, codes
    assert taken == codes.count(400) == demo_app.config.get("REGISTRATION_ATTEMPTS_PER_CLIENT", 20)
    # the throttle holds for a free name too: nothing is looked up any more
    free = web.post("/register", {**body, "username": "new_name_1"}, expect=429)
    assert "此用户名已被使用" not in free.text


def _random_secret() -> str:
    import secrets

    return secrets.token_urlsafe(48)


def test_production_refuses_the_development_defaults(database_url, tmp_path):
    import base64
    import os

    import pytest

    from app import create_app, privacy
    from app.audit.keys import AuditKeyError
    from config import BASE_DIR, TestConfig

    data_key = base64.b64encode(os.urandom(32)).decode()
    audit_key = base64.b64encode(os.urandom(32)).decode()
    prod = {"TESTING": False, "DEMO": False, "DATABASE_URL": database_url,
            "BPMN_DIR": BASE_DIR / "bpmn", "UPLOAD_DIR": tmp_path / "uploads",
            "AUDIT_KEY": audit_key}  # fmt: skip
    try:
        for secret in ("dev-only-change-me", "test-secret", ""):
            with pytest.raises(privacy.WeakDefaultError, match="OW_SECRET_KEY"):
                create_app(TestConfig, **prod, SECRET_KEY=secret, DATA_KEY=data_key)
        with pytest.raises(privacy.DataKeyError, match="OW_DATA_KEY is not set"):
            create_app(TestConfig, **prod, SECRET_KEY=_random_secret(), DATA_KEY="")
        with pytest.raises(AuditKeyError, match="OW_AUDIT_KEY is not set"):
            create_app(TestConfig, **{**prod, "AUDIT_KEY": ""}, SECRET_KEY=_random_secret(),
                       DATA_KEY=data_key)  # fmt: skip
        with pytest.raises(AuditKeyError, match="key 1 of OW_AUDIT_KEY is not 32 bytes"):
            create_app(TestConfig, **{**prod, "AUDIT_KEY": "c2hvcnQ="},
                       SECRET_KEY=_random_secret(), DATA_KEY=data_key)  # fmt: skip
        # with all three set it starts; the demo starts with the development defaults
        started = create_app(TestConfig, **prod, SECRET_KEY=_random_secret(), DATA_KEY=data_key)
        started.extensions["ow_engine"].dispose()
        demo = create_app(TestConfig, **{**prod, "DEMO": True, "AUDIT_KEY": ""},
                          SECRET_KEY="dev-only-change-me", DATA_KEY="")  # fmt: skip
        demo.extensions["ow_engine"].dispose()
    finally:
        privacy.configure(TestConfig.__dict__ | {"TESTING": True})
    # make run is the demo, and says so
    run = (BASE_DIR / "scripts" / "run.sh").read_text()
    assert "export OW_DEMO=1" in run and "THIS IS A DEMO" in run


def test_hsts_and_secure_cookies_when_served_behind_https(demo_app):
    plain = Web(demo_app)
    resp = plain.get("/login")
    assert "Strict-Transport-Security" not in resp.headers
    demo_app.config["SESSION_COOKIE_SECURE"] = True
    web = Web(demo_app)
    resp = web.get("/login")
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    web.get("/login")
    token = web.token
    logged = web.client.post("/login", data={"username": "clerk_liu", "password": "onewindow",
                                             "csrf_token": token})  # fmt: skip
    cookies = logged.headers.getlist("Set-Cookie")
    assert cookies and all("; Secure" in c for c in cookies), cookies
