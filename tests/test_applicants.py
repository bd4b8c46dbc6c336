"""Applicants online: apply and upload, pre-review with a one-time supplement notice,
acceptance, the throttled progress query, ratings and the follow-up of bad ones."""

from __future__ import annotations

import datetime as dt
import random
import re
import sys

import chinese_calendar
import pytest
import sqlalchemy as sa

from app.applicants.models import Evaluation, FollowUp, OnlineApplication, QueryAttempt, Upload
from app.audit.models import Event
from app.cases.models import Case
from app.db import session
from app.supervision.models import Notification
from tests.apiclient import Api, sample_form
from tests.webclient import Web

ITEM = "house-cancellation"
FORM = {"a_certificate_no": "示房权证第0012345号", "a_house_address": "示范市东路 8 号",
        "a_cancel_reason": "房屋灭失"}  # fmt: skip
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _apply(web: Web) -> str:
    resp = web.post(f"/apply/{ITEM}", FORM)
    return resp.headers["Location"].rsplit("/", 1)[-1]


def _upload(web: Web, number: str, material: str, content: bytes = PDF, name: str = "a.pdf",
            expect: int = 302):  # fmt: skip
    import io

    return web.post(f"/my/applications/{number}/upload",
                    {"material": material, "file": (io.BytesIO(content), name)},
                    expect=expect, content_type="multipart/form-data")  # fmt: skip


def _row(app, number: str) -> OnlineApplication:
    with app.app_context():
        row = session().scalars(sa.select(OnlineApplication)
                                .where(OnlineApplication.number == number)).one()  # fmt: skip
        session().expunge(row)
        return row


def test_apply_online_supply_what_is_missing_and_be_accepted(demo_app):
    he = Web(demo_app, "applicant_he")
    number = _apply(he)
    _upload(he, number, "application")
    _upload(he, number, "identity", PNG, "身份证.png")
    he.post(f"/my/applications/{number}/submit", {"confirm_missing": "1"})
    assert _row(demo_app, number).status == "submitted"
    clerk = Web(demo_app, "clerk_liu")
    assert number in clerk.get("/window/online").text
    page = clerk.get(f"/my/applications/{number}").text
    # the two required materials not uploaded are ticked for the notice
    ticked = re.findall(r'name="missing" value="(\w+)" checked', page)
    assert ticked == ["certificate", "cancel_proof"]
    clerk.post(f"/window/online/{number}/supplements",
               {"missing": ticked, "note": "请上传清晰的扫描件"})  # fmt: skip
    row = _row(demo_app, number)
    assert row.status == "supplement_required"
    assert [m["name"] for m in row.missing] == [
        "不动产权证书",
        "房屋灭失或放弃所有权等证明材料",
    ] or ([m["code"] for m in row.missing] == ["certificate", "cancel_proof"])
    mine = he.get(f"/my/applications/{number}").text
    for code in ("certificate", "cancel_proof"):
        assert f'data-missing="{code}"' in mine
    notice = he.get(f"/my/applications/{number}/supplement-notice.pdf")
    assert notice.data.startswith(b"%PDF") and notice.mimetype == "application/pdf"
    with demo_app.app_context():
        told = session().scalars(sa.select(Notification.text).where(
            Notification.kind == "supplement")).all()  # fmt: skip
    assert len(told) == 1 and number in told[0]
    # the applicant supplies both; accepting before is refused, after works
    _upload(he, number, "certificate")
    clerk.post(f"/window/online/{number}/accept", expect=409)  # not handed in again yet
    _upload(he, number, "cancel_proof")
    he.post(f"/my/applications/{number}/submit", {"confirm_missing": "1"})
    clerk.post(f"/window/online/{number}/accept")
    row = _row(demo_app, number)
    assert row.status == "accepted" and row.case_id
    with demo_app.app_context():
        case = session().get(Case, row.case_id)
        assert case.status == "accepted" and case.applicant_name == "何晓峰"
        assert sorted(case.materials) == ["application", "cancel_proof", "certificate", "identity"]
        case_no, code, applicant = case.case_no, case.query_code, case.applicant_user_id
    mine = he.get(f"/my/applications/{number}").text
    assert case_no in mine and code in mine
    pdf = he.get(f"/cases/{case_no}/notices/commitment.pdf")
    assert pdf.data.startswith(b"%PDF")
    with demo_app.app_context():
        kinds = session().scalars(sa.select(Event.data).where(
            Event.case_id == row.case_id, Event.type == "notice_issued")).all()  # fmt: skip
        assert [k["kind"] for k in kinds] == ["commitment"]
        assert applicant == session().scalar(sa.text(
            "select id from users where username = 'applicant_he'"))  # fmt: skip
    # another applicant sees none of it
    other = Web(demo_app, "applicant_hengtai")
    other.get(f"/my/applications/{number}", expect=404)
    other.get(f"/cases/{case_no}/notices/commitment.pdf", expect=404)
    other.post(f"/my/applications/{number}/upload", {"material": "identity"}, expect=404)


def test_uploads_are_checked_by_content_size_and_scanner(demo_app, tmp_path):
    he = Web(demo_app, "applicant_he")
    number = _apply(he)
    stored_before = (
        set((tmp_path / "uploads").glob("*")) if (tmp_path / "uploads").exists() else set()
    )
    bad = _upload(he, number, "application", b"MZ\x90\x00 not a pdf", "report.pdf", expect=400)
    assert "is not a PDF, JPEG or PNG" in bad.text
    demo_app.config["UPLOAD_MAX_BYTES"] = 1024
    big = _upload(he, number, "application", PDF + b"0" * 2048, "big.pdf", expect=400)
    assert "larger than" in big.text
    demo_app.config["UPLOAD_MAX_BYTES"] = 5 * 1024 * 1024
    _upload(he, number, "application", b"", "empty.pdf", expect=400)
    _upload(he, number, "no_such_material", PDF, "x.pdf", expect=400)
    stored_now = set((tmp_path / "uploads").glob("*")) if (tmp_path / "uploads").exists() else set()
    assert stored_now == stored_before  # nothing refused was kept
    _upload(he, number, "application", PDF, "../../etc/passwd.pdf")
    with demo_app.app_context():
        up = session().scalars(sa.select(Upload)).one()
        assert up.filename == "passwd.pdf" and re.fullmatch(r"[0-9a-f]{32}\.pdf", up.stored_name)
        assert up.scan == "unscanned"
    # a scanner that finds malware: the file is refused and not kept
    scanner = tmp_path / "scan.py"
    scanner.write_text("import sys\nsys.exit(1 if b'EICAR' in open(sys.argv[1], 'rb').read() "
                       "else 0)\n")  # fmt: skip
    demo_app.config["UPLOAD_SCAN_COMMAND"] = f"{sys.executable} {scanner}"
    infected = _upload(he, number, "identity", PDF + b"EICAR", "virus.pdf", expect=400)
    assert "malware" in infected.text
    _upload(he, number, "identity", PDF, "clean.pdf")
    with demo_app.app_context():
        scans = session().scalars(sa.select(Upload.scan).order_by(Upload.id)).all()
    assert scans == ["unscanned", "clean"]
    assert len(list((tmp_path / "uploads").glob("*"))) == 2


def _case(demo_app) -> tuple[str, str]:
    api = Api(demo_app.test_client())
    case_no = api.apply(ITEM, sample_form(ITEM))["case_no"]
    with demo_app.app_context():
        code = session().scalar(sa.select(Case.query_code).where(Case.case_no == case_no))
    return case_no, code


@pytest.fixture
def no_csrf(demo_app):
    demo_app.config["WTF_CSRF_ENABLED"] = False
    return demo_app


def test_a_thousand_guesses_find_nothing_and_get_throttled(no_csrf):
    demo_app = no_csrf
    case_no, code = _case(demo_app)
    other_no, _other_code = _case(demo_app)
    client = demo_app.test_client()
    rnd = random.Random(3)
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    statuses, found = [], 0
    for n in range(1000):
        guess = "".join(rnd.choice(alphabet) for _ in range(6))
        target = case_no if n % 2 else f"2026{rnd.randrange(10**12):012d}"
        resp = client.post("/track", data={"case_no": target, "code": guess},
                           environ_base={"REMOTE_ADDR": "10.0.0.1"})  # fmt: skip
        statuses.append(resp.status_code)
        found += 'id="progress"' in resp.text
    assert found == 0
    assert statuses[:10] == [404] * 10 and set(statuses[10:]) == {429}
    # the right code from the throttled address is refused too, while the window lasts
    right = client.post("/track", data={"case_no": case_no, "code": code},
                        environ_base={"REMOTE_ADDR": "10.0.0.1"})  # fmt: skip
    assert right.status_code == 429 and 'id="progress"' not in right.text
    # another address still gets its own case
    mine = client.post("/track", data={"case_no": other_no, "code": _other_code},
                       environ_base={"REMOTE_ADDR": "10.0.0.2"})  # fmt: skip
    assert mine.status_code == 200 and 'id="progress"' in mine.text
    # many addresses guessing one case number: the number locks after 20 failures in all
    with demo_app.app_context():
        before = session().scalar(sa.select(sa.func.count()).select_from(QueryAttempt)
                                  .where(QueryAttempt.key == f"case:{other_no}"))  # fmt: skip
    assert before == 0
    codes = []
    for n in range(40):
        resp = client.post("/track", data={"case_no": other_no, "code": f"WRONG{n}"},
                           environ_base={"REMOTE_ADDR": f"10.1.{n}.9"})  # fmt: skip
        codes.append(resp.status_code)
    assert codes[:20] == [404] * 20 and set(codes[20:]) == {429}
    # once the window has passed, the owner gets in again
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=61)
    demo_app.config["CLOCK"] = lambda: later
    again = client.post("/track", data={"case_no": case_no, "code": code},
                        environ_base={"REMOTE_ADDR": "10.0.0.1"})  # fmt: skip
    assert again.status_code == 200 and 'id="progress"' in again.text


def test_the_progress_page_shows_the_state_and_no_personal_data(no_csrf):
    demo_app = no_csrf
    case_no, code = _case(demo_app)
    page = demo_app.test_client().post("/track", data={"case_no": case_no, "code": code.lower()})
    assert page.status_code == 200
    text = page.text
    assert 'data-status="accepted"' in text and "登记审核" in text  # the stage it is at
    with demo_app.app_context():
        case = session().scalars(sa.select(Case).where(Case.case_no == case_no)).one()
    assert case.applicant_id_number not in text and case.applicant_phone not in text
    assert case.applicant_name not in text


def _decide(demo_app, case_no: str) -> None:
    api = Api(demo_app.test_client())
    api.work(case_no, "Task_review", data={"review_opinion": "同意"})
    api.work(case_no, "Task_issue")
    assert api.case(case_no)["status"] == "decided"


def test_a_bad_rating_opens_a_follow_up_that_the_supervision_office_closes(no_csrf):
    demo_app = no_csrf
    case_no, code = _case(demo_app)
    client = demo_app.test_client()
    early = client.post("/track/rate", data={"case_no": case_no, "code": code, "level": "5"})
    assert early.status_code == 409  # not decided yet
    _decide(demo_app, case_no)
    silent = client.post("/track/rate", data={"case_no": case_no, "code": code, "level": "2"})
    assert silent.status_code == 400 and "请告诉我们哪里做得不好" in silent.text  # the public's zh
    done = client.post("/track/rate", data={"case_no": case_no, "code": code, "level": "2",
                                            "comment": "窗口让我跑了两趟"})  # fmt: skip
    assert done.status_code == 200 and 'id="rated"' in done.text
    twice = client.post("/track/rate", data={"case_no": case_no, "code": code, "level": "5"})
    assert twice.status_code == 409
    with demo_app.app_context():
        db = session()
        follow = db.scalars(sa.select(FollowUp)).one()
        opened = db.scalar(sa.select(Evaluation.created_at))
        told = db.scalars(sa.select(Notification.user_id).where(
            Notification.kind == "follow_up")).all()  # fmt: skip
        supervisors = db.execute(sa.text(
            "select id from users where roles like '%supervisor%'")).scalars().all()  # fmt: skip
    assert sorted(told) == sorted(supervisors)
    # due: the close of office on the fifth working day after the rating
    local = (opened + dt.timedelta(hours=8)).date()
    start = (
        local
        if chinese_calendar.is_workday(local) and (opened + dt.timedelta(hours=8)).hour < 17
        else None
    )
    day, left = (start or local), 5
    if start is None:
        day += dt.timedelta(days=1)
        while not chinese_calendar.is_workday(day):
            day += dt.timedelta(days=1)
    while left:
        day += dt.timedelta(days=1)
        left -= chinese_calendar.is_workday(day)
    assert follow.due_at == dt.datetime.combine(day, dt.time(9))  # 17:00 local = 09:00 UTC
    sup = Web(demo_app, "supervisor_wu")
    assert case_no in sup.get("/followups").text
    Web(demo_app, "auditor_sun").post(f"/followups/{follow.id}", {"contact_note": "x",
                                      "rectification": "y"}, expect=403)  # fmt: skip
    missing = sup.post(f"/followups/{follow.id}", {"contact_note": "", "rectification": ""},
                       expect=400)  # fmt: skip
    assert "say what was put right" in missing.text
    sup.post(f"/followups/{follow.id}", {"contact_note": "申请人反映取件排队久",
                                         "rectification": "增设取件专窗", "second_level": "4",
                                         "second_comment": "改进了"})  # fmt: skip
    with demo_app.app_context():
        db = session()
        follow = db.get(FollowUp, follow.id)
        second = db.get(Evaluation, follow.second_evaluation_id)
        kinds = db.scalars(sa.select(Event.type).join(Case, Case.id == Event.case_id)
                           .where(Case.case_no == case_no).order_by(Event.seq)).all()  # fmt: skip
        from app.audit.review import verify_case

        intact = verify_case(db, db.scalars(sa.select(Case).where(Case.case_no == case_no)).one())
    assert follow.status == "closed" and second.level == 4 and second.round == 2
    assert kinds[-3:] == ["evaluated", "follow_up_opened", "follow_up_closed"]
    assert intact.ok, intact


def test_the_window_tablet_takes_a_rating_for_a_decided_case(demo_app):
    case_no, _code = _case(demo_app)
    _decide(demo_app, case_no)
    Web(demo_app, "official_xiao").post(f"/window/rate/{case_no}", {"level": "5"}, expect=403)
    clerk = Web(demo_app, "clerk_liu")
    # issue 18: the clerk's own rating is refused; the clerk opens the kiosk, the applicant rates
    clerk.post(f"/window/rate/{case_no}", {"level": "5"}, expect=403)
    kiosk = clerk.post(f"/window/rate/{case_no}").headers["Location"]
    clerk.post(kiosk, {"level": "5"}, expect=200)
    with demo_app.app_context():
        row = session().scalars(sa.select(Evaluation)).one()
    assert (row.level, row.channel, row.round) == (5, "window", 1)
    with demo_app.app_context():
        assert session().scalar(sa.select(sa.func.count()).select_from(FollowUp)) == 0


def test_published_monthly_figures_match_a_hand_count(demo_app):
    from app.applicants import evaluations
    from app.org.models import User
    from tests.casegen import generate

    numbers = generate(demo_app, 36, seed=4, items=["house-cancellation", "planning-permit"])
    zone = dt.timezone(dt.timedelta(hours=8))
    rnd = random.Random(9)
    months = {"2026-10": [], "2026-11": []}
    edge = {  # the last minutes of October and the first of November, local time
        0: dt.datetime(2026, 10, 31, 23, 30, tzinfo=zone),
        1: dt.datetime(2026, 11, 1, 0, 30, tzinfo=zone),
    }
    with demo_app.app_context():
        db = session()
        sup = db.scalars(sa.select(User).where(User.username == "supervisor_wu")).one()
        decided = [c for c in db.scalars(sa.select(Case).where(Case.case_no.in_(numbers)))
                   if c.status == "decided"]  # fmt: skip
        assert len(decided) >= 20
        for n, case in enumerate(decided):
            local = edge.get(n) or dt.datetime(2026, rnd.choice([10, 11]), rnd.randint(2, 27),
                                               rnd.randint(9, 16), tzinfo=zone)  # fmt: skip
            at = local.astimezone(dt.UTC).replace(tzinfo=None)
            demo_app.config["CLOCK"] = lambda at=at: at
            level = rnd.choice([5, 5, 5, 4, 4, 3, 2, 1])
            channel = rnd.choice(["window", "online"])
            # a window rating comes from the kiosk opened for the case (issue 18)
            evaluations.rate(case, level, "办事慢" if level <= 2 else "", channel,
                             kiosk_case_id=case.id if channel == "window" else None)  # fmt: skip
            record = {"level": level, "dept": case.item_id, "closed": None, "second": None}
            if level <= 2 and rnd.random() < 0.8:
                late = rnd.random() < 0.4
                closing = at + (dt.timedelta(days=20) if late else dt.timedelta(hours=1))
                demo_app.config["CLOCK"] = lambda closing=closing: closing
                follow = db.scalars(sa.select(FollowUp).where(FollowUp.case_id == case.id)).one()
                second = rnd.choice([None, 1, 3, 4])
                evaluations.close_follow_up(sup, follow.id, "已回访", "已整改", second)
                record.update(closed="late" if late else "on_time", second=second)
            months[local.strftime("%Y-%m")].append(record)
        from app.catalogue.models import Item
        from app.org.models import Department

        dept_of = {i.id: db.get(Department, i.department_id).name
                   for i in db.scalars(sa.select(Item))}  # fmt: skip
    assert months["2026-10"] and months["2026-11"]
    web = Web(demo_app)
    for month, records in months.items():
        page = web.get(f"/figures/evaluations?month={month}").text
        shown = dict(re.findall(r'data-k="(\w+)">([^<]*)<', page))
        bad = [r for r in records if r["level"] <= 2]
        satisfied = sum(r["level"] >= 3 for r in records)
        expected = {
            "total": str(len(records)),
            **{f"level{lv}": str(sum(r["level"] == lv for r in records)) for lv in range(1, 6)},
            "rate": f"{100 * satisfied / len(records):.1f} %",
            "follow_ups": str(len(bad)),
            "closed": str(sum(r["closed"] is not None for r in bad)),
            "closed_on_time": str(sum(r["closed"] == "on_time" for r in bad)),
            "better_after": str(sum(r["second"] is not None and r["second"] > r["level"]
                                    for r in bad)),
        }  # fmt: skip
        assert shown == expected, month
        per_dept: dict[str, list[int]] = {}
        for r in records:
            row = per_dept.setdefault(dept_of[r["dept"]], [0, 0])
            row[0] += 1
            row[1] += r["level"] <= 2
        table = re.search(r'id="evaluation-departments">(.*?)</table>', page, re.S).group(1)
        rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td>"
                          r"<td class=\"num\">(\d+)</td></tr>", table)  # fmt: skip
        assert {name: [int(a), int(b)] for name, a, b in rows} == per_dept
    # no personal data on the public page
    assert "何晓峰" not in page and "办事慢" not in page


def test_an_open_follow_up_warns_the_supervision_office_once_yellow_once_red(no_csrf):
    from app.applicants import evaluations

    demo_app = no_csrf
    case_no, code = _case(demo_app)
    _decide(demo_app, case_no)
    demo_app.test_client().post("/track/rate", data={"case_no": case_no, "code": code,
                                                     "level": "1", "comment": "太慢"})  # fmt: skip
    with demo_app.app_context():
        follow = session().scalars(sa.select(FollowUp)).one()
        due, opened = follow.due_at, follow.opened_at
        supervisors = len(session().execute(sa.text(
            "select id from users where roles like '%supervisor%'")).all())  # fmt: skip

    def cards(kind: str) -> int:
        return session().scalar(sa.select(sa.func.count()).select_from(Notification)
                                .where(Notification.kind == kind))  # fmt: skip

    with demo_app.app_context():
        assert evaluations.scan_follow_ups(opened + dt.timedelta(minutes=5)) == 0
        warn = evaluations.next_follow_up_threshold(opened)
        assert opened < warn < due
        assert evaluations.scan_follow_ups(warn) == 1
        assert evaluations.scan_follow_ups(warn + dt.timedelta(hours=1)) == 0
        assert (cards("yellow"), cards("red")) == (supervisors, 0)
        assert evaluations.next_follow_up_threshold(warn) == due
    late = due + dt.timedelta(seconds=1)
    demo_app.config["CLOCK"] = lambda: late
    with demo_app.app_context():  # two failed queries: one two days old, one just now
        session().add_all([QueryAttempt(key="ip:10.9.9.9", at=late - dt.timedelta(days=2)),
                           QueryAttempt(key="ip:10.9.9.9", at=late)])  # fmt: skip
        session().commit()
    from app.scheduler import TimerScheduler

    scheduler = TimerScheduler(demo_app)  # the scheduler's warning round, twice
    try:
        scheduler.warning_round()
        scheduler.warning_round()
    finally:
        scheduler.leader.release()
    with demo_app.app_context():
        assert (cards("yellow"), cards("red")) == (supervisors, supervisors)
        assert evaluations.next_follow_up_threshold(late) is None
        # failed-query records older than a day are purged by the round
        assert session().scalars(sa.select(QueryAttempt.at)).all() == [late]


@pytest.mark.parametrize("kind", ["receipt", "commitment", "supplement", "refusal", "decision"])
def test_the_window_prints_each_notice_of_a_case_and_it_is_logged(demo_app, kind):
    from tests.apiclient import required_materials

    api = Api(demo_app.test_client())
    materials = required_materials(ITEM)[:-1] if kind in ("supplement", "refusal") else None
    case_no = api.apply(ITEM, sample_form(ITEM), materials=materials)["case_no"]
    clerk = Web(demo_app, "clerk_liu")
    if kind == "refusal":
        refusal = {"reason": "不属于本中心职权范围", "legal_basis": "《行政许可法》第三十二条",
                   "confirm": "y"}  # fmt: skip
        clerk.post(f"/cases/{case_no}/refuse", refusal)
    if kind == "decision":
        _decide(demo_app, case_no)
    page = clerk.get(f"/cases/{case_no}").text
    assert f'data-notice="{kind}"' in page
    assert f'data-hand-over="{kind}"' in page
    handed = clerk.post(f"/cases/{case_no}/notices/{kind}/hand-over")
    assert "recorded as handed over" in clerk.get(handed.headers["Location"]).text
    pdf = clerk.get(f"/cases/{case_no}/notices/{kind}.pdf")
    assert pdf.data.startswith(b"%PDF") and pdf.headers["Cache-Control"] == "no-store"
    with demo_app.app_context():
        logged = session().scalars(
            sa.select(Event.data).join(Case, Case.id == Event.case_id)
            .where(Case.case_no == case_no, Event.type == "notice_issued")
        ).all()  # fmt: skip
    assert [d["kind"] for d in logged] == [kind]
    # a notice the case does not have (yet) is a clear 409 page, and nothing is logged
    other = {"decision": "refusal"}.get(kind, "decision")
    clerk.get(f"/cases/{case_no}/notices/{other}.pdf", expect=409)


def test_an_applicant_opens_an_account_with_a_checked_id_number(demo_app):
    from app.applicants.accounts import valid_credit_code, valid_resident_id

    assert valid_resident_id("330102199003071230") and not valid_resident_id("330102199003071231")
    assert not valid_resident_id("330102199002301230")  # 30 February
    assert valid_credit_code("91330100MA2H00000L") and not valid_credit_code("91330100MA2H00000M")
    web = Web(demo_app)
    body = {"username": "zhang_san", "name": "张三", "id_number": "110105198511020046",
            "phone": "13912345000", "password": "long-enough-pw"}  # fmt: skip
    bad = web.post("/register", {**body, "id_number": "110105198511020047", "phone": "123",
                                 "password": "short"}, expect=400)  # fmt: skip
    # the public pages speak the default language, zh
    assert "不是有效的居民身份证号码" in bad.text and "至少 10 个字符" in bad.text
    web.post("/register", body)
    taken = web.post("/register", body, expect=400)
    assert "此用户名已被使用" in taken.text
    me = Web(demo_app)
    me.login("zhang_san", password="long-enough-pw")
    assert me.get("/my").status_code == 200
    me.get("/inbox", expect=403)  # an applicant is no staff member
    with demo_app.app_context():
        from app.org.models import User

        user = session().scalars(sa.select(User).where(User.username == "zhang_san")).one()
        assert (user.roles, user.id_number, user.name) == (
            "applicant",
            "110105198511020046",
            "张三",
        )
    # registration is throttled per address
    demo_app.config["REGISTRATIONS_PER_CLIENT"] = 2
    web.post("/register", {**body, "username": "li_si"})
    blocked = web.post("/register", {**body, "username": "wang_wu"}, expect=429)
    assert "您所在地址注册的账户过多" in blocked.text
