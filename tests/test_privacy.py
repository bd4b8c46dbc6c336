"""Personal data (PIPL): ID and phone numbers sealed at rest under a key from the
environment, rotated without loss, masked on pages, exports and logs, and every full view
of them logged with who, whose, why and from where."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from app import create_app, privacy
from app.db import session
from app.migrate import upgrade_database
from app.org.models import User
from app.privacy import Cipher, DataKeyError, PersonalDataView
from config import BASE_DIR, TestConfig
from tests.apiclient import Api, sample_form
from tests.conftest import new_pg_database
from tests.webclient import Web

ID_NUMBER, PHONE = "330102199001011234", "13800001111"  # tests.apiclient.Api.apply's applicant
HE_ID = "330102199003071230"  # the demo applicant applicant_he (bpmn/centre.toml)
COMPLAINANT_PHONE = "13912345678"
ITEM = "house-cancellation"


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def scene(client, demo_app):
    """A case received through the API and a complaint with a phone number."""
    api = Api(client)
    case_no = api.apply(ITEM, sample_form(ITEM))["case_no"]
    web = Web(demo_app, "supervisor_wu")
    resp = web.post("/complaints/new", {
        "channel": "phone", "complainant_name": "王小明", "complainant_phone": COMPLAINANT_PHONE,
        "subject": "办理超时", "content": "材料交齐两周无消息", "department_id": "0",
    })  # fmt: skip
    number = resp.headers["Location"].rsplit("/", 1)[-1]
    return api, case_no, number


def _raw(app, table: str, column: str) -> list[str]:
    with app.extensions["ow_engine"].connect() as conn:
        return [v for (v,) in conn.execute(sa.text(f"SELECT {column} FROM {table}")) if v]


def test_numbers_are_sealed_at_rest_and_read_back_plain(demo_app, scene, database_url):
    _api, case_no, number = scene
    plain = {ID_NUMBER, PHONE, COMPLAINANT_PHONE, HE_ID}
    for table, _pk, column in privacy.SEALED_COLUMNS:
        for stored in _raw(demo_app, table, column):
            assert stored.startswith("ow1:"), (table, column, stored)
            assert stored not in plain and not any(p in stored for p in plain)
    with demo_app.app_context():
        row = session().execute(sa.text("SELECT applicant_id_number FROM cases")).scalar()
        assert row.startswith("ow1:")
        from app.cases.models import Case
        from app.complaints.models import Complaint

        case = session().scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        assert (case.applicant_id_number, case.applicant_phone) == (ID_NUMBER, PHONE)
        ticket = session().scalars(sa.select(Complaint).where(Complaint.number == number)).one()
        assert ticket.complainant_phone == COMPLAINANT_PHONE
        he = session().scalars(sa.select(User).where(User.username == "applicant_he")).one()
        assert he.id_number == HE_ID
    # nowhere in the database in plain: every row of every table, or the file's bytes
    if database_url.startswith("postgresql"):
        with demo_app.extensions["ow_engine"].connect() as conn:
            for table in sorted(privacy.Base.metadata.tables):
                for value in plain:
                    query = sa.text(f'SELECT count(*) FROM "{table}" t WHERE t::text LIKE :p')
                    hits = conn.execute(query, {"p": f"%{value}%"})
                    assert hits.scalar() == 0, (table, value)
    else:
        with demo_app.extensions["ow_engine"].connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        path = sa.engine.make_url(database_url).database
        data = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if os.path.exists(p))
        for value in plain:
            assert value.encode() not in data, value


def test_a_sealed_value_cannot_be_read_or_altered_without_its_key():
    old, new = os.urandom(32), os.urandom(32)
    sealed = Cipher([old]).seal(PHONE)
    assert sealed != Cipher([old]).seal(PHONE)  # a fresh nonce each time
    assert Cipher([new, old]).open(sealed) == PHONE
    with pytest.raises(DataKeyError, match=Cipher.key_id(old)):
        Cipher([new]).open(sealed)
    head, body = sealed.rsplit(":", 1)
    raw = bytearray(base64.b64decode(body))
    raw[-1] ^= 1
    with pytest.raises(DataKeyError, match="fails its check"):
        Cipher([old]).open(f"{head}:{base64.b64encode(bytes(raw)).decode()}")
    assert Cipher([old]).open("13800001111") == "13800001111"  # written before sealing


def test_the_key_comes_from_the_environment_and_production_needs_one():
    with pytest.raises(DataKeyError, match="OW_DATA_KEY is not set"):
        privacy.keys_from_config({"SECRET_KEY": "a-real-secret", "TESTING": False})
    with pytest.raises(DataKeyError, match="key 2 of OW_DATA_KEY is not 32 bytes"):
        privacy.keys_from_config({"DATA_KEY": f"{_key()},c2hvcnQ="})
    with pytest.raises(DataKeyError, match="not 32 bytes"):
        privacy.keys_from_config({"DATA_KEY": "not base64 at all!"})
    two = privacy.keys_from_config({"DATA_KEY": f" {_key()} , {_key()} "})
    assert len(two) == 2 and all(len(k) == 32 for k in two)
    # a development installation (the default secret) runs on a derived key, with a warning
    dev = privacy.keys_from_config({"SECRET_KEY": "dev-only-change-me", "DEMO": True})
    assert len(dev) == 1 and len(dev[0]) == 32
    with pytest.raises(DataKeyError):
        create_app(TestConfig, TESTING=False, SECRET_KEY="a-real-secret", DATA_KEY="")
    privacy.configure(TestConfig.__dict__ | {"TESTING": True})


def test_a_key_is_rotated_by_putting_the_new_one_first_and_reencrypting(demo_app, scene):
    _api, case_no, _number = scene
    old_id = privacy.cipher().primary
    new = _key()
    kinds = {v.split(":")[1] for v in _raw(demo_app, "cases", "applicant_id_number")}
    assert kinds == {old_id}
    dev_key = base64.b64encode(privacy.keys_from_config(demo_app.config)[0]).decode()
    try:
        demo_app.config["DATA_KEY"] = f"{new},{dev_key}"
        current = privacy.configure(demo_app.config)
        out = demo_app.test_cli_runner().invoke(args=["reencrypt"])
        assert out.exit_code == 0, out.output
        total = sum(len(_raw(demo_app, t, c)) for t, _p, c in privacy.SEALED_COLUMNS)
        assert f"re-sealed {total} values under key {current.primary}" in out.output
        for table, _pk, column in privacy.SEALED_COLUMNS:
            assert {v.split(":")[1] for v in _raw(demo_app, table, column)} <= {current.primary}
        again = demo_app.test_cli_runner().invoke(args=["reencrypt"])
        assert "re-sealed 0 values" in again.output
        demo_app.config["DATA_KEY"] = new  # the old key can go now
        privacy.configure(demo_app.config)
        web = Web(demo_app, "clerk_liu")
        page = web.post(f"/cases/{case_no}/personal-data", {"purpose": "核验身份"}, expect=200)
        assert ID_NUMBER in page.text and PHONE in page.text
        demo_app.config["DATA_KEY"] = dev_key  # the old key alone opens nothing any more
        privacy.configure(demo_app.config)
        with demo_app.app_context(), pytest.raises(DataKeyError, match=current.primary):
            session().scalars(sa.select(User).where(User.username == "applicant_he")).one()
    finally:
        demo_app.config["DATA_KEY"] = ""
        privacy.configure(demo_app.config)


def _alembic(url: str) -> AlembicConfig:
    cfg = AlembicConfig(str(BASE_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(BASE_DIR / "migrations"))
    cfg.attributes["database_url"] = url
    return cfg


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_url(request, tmp_path):
    """An empty database of each kind, not migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'blank.sqlite3'}"
        return
    request.getfixturevalue("pg_url")  # fails under CI=true when PostgreSQL is missing
    with new_pg_database("ow_blank") as url:
        yield url


def test_the_migration_seals_what_was_stored_plain_and_its_downgrade_opens_it(blank_url):
    command.upgrade(_alembic(blank_url), "0014")
    engine = sa.create_engine(blank_url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO users (username, name, password_hash, roles, phone, id_number, active, "
            "created_at) VALUES ('old_hand', '老员工', 'x', 'official', :p, :i, true, "
            "CURRENT_TIMESTAMP)"), {"p": PHONE, "i": ID_NUMBER})  # fmt: skip
    upgrade_database(blank_url)
    with engine.connect() as conn:
        phone, number = conn.execute(sa.text("SELECT phone, id_number FROM users")).one()
    assert phone.startswith("ow1:") and number.startswith("ow1:")
    assert privacy.cipher().open(phone) == PHONE and privacy.cipher().open(number) == ID_NUMBER
    if blank_url.startswith("postgresql"):  # widened for the sealed form
        with engine.connect() as conn:
            query = sa.text("SELECT character_maximum_length FROM information_schema.columns "
                            "WHERE table_name = 'cases' AND column_name = :c")  # fmt: skip
            width = conn.execute(query, {"c": "applicant_id_number"}).scalar()
        assert width == 255
    command.downgrade(_alembic(blank_url), "0014")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT phone, id_number FROM users")).one() == (
            PHONE, ID_NUMBER)  # fmt: skip
    engine.dispose()


def _views(app) -> list[PersonalDataView]:
    with app.app_context():
        rows = session().scalars(sa.select(PersonalDataView).order_by(PersonalDataView.id))
        return list(rows)


def test_every_full_view_is_logged_with_its_reason(demo_app, scene):
    _api, case_no, number = scene
    clerk = Web(demo_app, "clerk_liu")
    page = clerk.get(f"/cases/{case_no}").text
    assert ID_NUMBER not in page and PHONE not in page  # masked on the case page
    assert "330***********1234" in page and 'id="personal-data"' in page
    assert _views(demo_app) == []
    # no reason, no numbers
    resp = clerk.post(f"/cases/{case_no}/personal-data", {"purpose": "  "})
    assert ID_NUMBER not in clerk.get(resp.headers["Location"]).text
    assert _views(demo_app) == []
    full = clerk.post(f"/cases/{case_no}/personal-data", {"purpose": "领证时核验身份证"},
                      expect=200)  # fmt: skip
    assert ID_NUMBER in full.text and PHONE in full.text
    assert full.headers["Cache-Control"] == "no-store"
    [view] = _views(demo_app)
    assert (view.username, view.subject, view.subject_ref, view.fields, view.purpose) == (
        "clerk_liu", "case", case_no, "id_number phone", "领证时核验身份证")  # fmt: skip
    assert view.client == "127.0.0.1"
    # who may not: officials, auditors (they replay, they do not call applicants), anyone else
    for username in ("official_xiao", "auditor_sun", "analyst_zhou", "applicant_he"):
        resp = Web(demo_app, username).post(f"/cases/{case_no}/personal-data",
                                            {"purpose": "看看"}, expect=None)  # fmt: skip
        assert resp.status_code in (403, 404), (username, resp.status_code)
        assert ID_NUMBER not in resp.text
    anonymous = Web(demo_app).post(f"/cases/{case_no}/personal-data", {"purpose": "x"},
                                   expect=302)  # fmt: skip
    assert "/login" in anonymous.headers["Location"]
    assert len(_views(demo_app)) == 1
    # the commitment notice prints the phone in full: logged
    Web(demo_app, "supervisor_wu").get(f"/cases/{case_no}/notices/commitment.pdf")
    # the supervision office sees a complainant's phone to call back: logged
    detail = Web(demo_app, "supervisor_wu").get(f"/complaints/{number}").text
    assert COMPLAINANT_PHONE in detail
    # the admin's edit form holds an account's numbers: logged
    with demo_app.app_context():
        he = session().scalars(sa.select(User).where(User.username == "applicant_he")).one()
    form = Web(demo_app, "admin").get(f"/admin/users/{he.id}").text
    assert HE_ID in form
    seen = [(v.username, v.subject, v.subject_ref, v.fields, v.purpose) for v in _views(demo_app)]
    assert seen[1:] == [
        ("supervisor_wu", "case", case_no, "phone", "notice: commitment notice"),
        ("supervisor_wu", "complaint", number, "phone", "complaint: calling the complainant back"),
        ("admin", "user", "applicant_he", "id_number phone", "admin: editing the account"),
    ]
    # a ticket with no phone shows no number: nothing to log
    office = Web(demo_app, "supervisor_wu")
    resp = office.post("/complaints/new", {
        "channel": "letter", "complainant_name": "匿名", "complainant_phone": "",
        "subject": "窗口态度", "content": "来信反映", "department_id": "0",
    })  # fmt: skip
    office.get(resp.headers["Location"])
    assert len(_views(demo_app)) == len(seen) == 4
    # the log is readable by audit and supervision, filtered by whose data or by whom
    listing = Web(demo_app, "auditor_sun").get(f"/audit/personal-data?ref={case_no}").text
    assert "领证时核验身份证" in listing and ">printing the commitment notice<" in listing
    assert "editing the account" not in listing
    by_admin = Web(demo_app, "auditor_sun").get("/audit/personal-data?user=admin").text
    assert ">editing the account<" in by_admin and "领证时核验身份证" not in by_admin
    zh = Web(demo_app, "auditor_sun", lang="zh").get("/audit/personal-data?user=admin").text
    assert ">修改账号<" in zh and "证件号码" in zh
    for username in ("clerk_liu", "official_xiao", "applicant_he"):
        resp = Web(demo_app, username).get("/audit/personal-data", expect=None)
        assert resp.status_code == 403, username


def test_masked_where_the_viewer_does_not_need_them(demo_app, scene, caplog):
    api, case_no, number = scene
    caplog.set_level(logging.DEBUG)
    numbers = (ID_NUMBER, PHONE, COMPLAINANT_PHONE)
    # lists and pages of every staff role that reads the case
    pages = {"clerk_liu": [f"/cases/{case_no}", f"/cases?q={case_no}", "/window"],
             "official_xiao": ["/inbox"],
             "auditor_sun": [f"/cases/{case_no}", f"/audit/cases/{case_no}", "/complaints",
                             f"/complaints/{number}"],
             "supervisor_wu": ["/supervision", "/complaints"]}  # fmt: skip
    for username, paths in pages.items():
        web = Web(demo_app, username)
        for path in paths:
            text = web.get(path).text
            for value in numbers:
                assert value not in text, (username, path, value)
    # exports and public pages
    auditor = Web(demo_app, "auditor_sun")
    for path in ("/audit/export.csv", "/audit/export.xes", "/stats/export.csv?period=2026-11"):
        body = auditor.get(path).get_data(as_text=True)
        for value in numbers:
            assert value not in body, (path, value)
    for path in ("/results", "/results.atom", f"/guide/{ITEM}"):
        body = Web(demo_app).get(path).get_data(as_text=True)
        for value in numbers:
            assert value not in body, (path, value)
    # the API's case and its events
    body = str(api.case(case_no)) + str(api.call("GET", f"/cases/{case_no}/events", "auditor_sun"))
    for value in numbers:
        assert value not in body
    # the logs of all the above, the receipt of the case and the complaint included
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    for value in numbers + (HE_ID,):
        assert value not in caplog.text, value
