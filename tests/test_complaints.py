"""The complaints and hotline (12345) register: reply deadlines in working days, who may do
what, overdue cards once each, the completion and on-time rates, and the pages."""

from __future__ import annotations

import datetime as dt
import random
import re
import threading
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import sqlalchemy as sa

from app.calendar import admin as calendar_admin
from app.calendar.services import load as calendar_load
from app.cases.services import Applicant, receive_case
from app.complaints import access as complaint_access
from app.complaints import deadlines as complaint_deadlines
from app.complaints import figures as complaint_figures
from app.complaints import queries as complaint_queries
from app.complaints import services as complaints
from app.complaints.models import (
    CHANNELS,
    REPLY_DAYS,
    Complaint,
    ComplaintEvent,
    ComplaintNote,
    ComplaintWarning,
)
from app.db import session
from app.errors import Conflict, Forbidden, InvalidInput
from app.org.models import Department, User
from app.supervision.models import Notification
from tests.apiclient import required_materials, sample_form
from tests.webclient import Web

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLOSES = dt.time(17, 0)  # the centre's office hours end at 17:00 (TestConfig: 09:00-17:00)


def utc(year, month, day, hour=10, minute=0) -> dt.datetime:
    """Return a centre-local time as stored (naive UTC)."""
    local = dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def local(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC).astimezone(SHANGHAI).replace(tzinfo=None)


def hand_due(received: dt.datetime, days: int) -> dt.datetime:
    """The reply deadline counted by hand with chinese_calendar: the day of receipt does not
    count (after 17:00 or on a day off, the next working day is the day of receipt); the
    deadline is 17:00 on the `days`-th working day after it."""
    moment = local(received)
    day = moment.date()
    if not chinese_calendar.is_workday(day) or moment.time() >= CLOSES:
        day += dt.timedelta(days=1)
        while not chinese_calendar.is_workday(day):
            day += dt.timedelta(days=1)
    for _ in range(days):
        day += dt.timedelta(days=1)
        while not chinese_calendar.is_workday(day):
            day += dt.timedelta(days=1)
    return utc(day.year, day.month, day.day, 17, 0)


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self, at: dt.datetime) -> None:
        self.now = at

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock(demo_app):
    tick = Clock(utc(2026, 9, 30, 10))
    demo_app.config["CLOCK"] = tick
    return tick


def _user(username: str) -> User:
    return session().scalars(sa.select(User).where(User.username == username)).one()


def _dept(code: str) -> int:
    return session().scalar(sa.select(Department.id).where(Department.code == code))


def _new(channel: str = "phone", **kw) -> complaints.NewComplaint:
    values = {"complainant_name": "王小明", "complainant_phone": "13912345678",
              "subject": "窗口办理时间过长",
              "content": "上周三上午在住建窗口排队两个小时。"}  # fmt: skip
    values.update(kw)
    return complaints.NewComplaint(channel=channel, **values)


def _register(app, channel: str = "phone", dept: str | None = "ndrc", **kw) -> str:
    with app.app_context():
        new = _new(channel, department_id=_dept(dept) if dept else None, **kw)
        return complaints.register(_user("supervisor_wu"), new).number


def _state(app, number: str) -> tuple:
    """Everything a refused change must leave as it was."""
    with app.app_context():
        db = session()
        t = db.scalars(sa.select(Complaint).where(Complaint.number == number)).one()
        notes = db.scalar(sa.select(sa.func.count()).select_from(ComplaintNote)
                          .where(ComplaintNote.complaint_id == t.id))  # fmt: skip
        events = db.scalar(sa.select(sa.func.count()).select_from(ComplaintEvent)
                           .where(ComplaintEvent.complaint_id == t.id))  # fmt: skip
        return (t.status, t.version, t.department_id, t.reply, t.replied_at, t.archived_at,
                notes, events)  # fmt: skip


# --- reply deadlines ---------------------------------------------------------------------------


def test_reply_deadlines_follow_the_working_day_calendar(demo_app, clock):
    # Wednesday 2026-09-30, the last working day before National Day (10-01..10-07 off,
    # Saturday 10-10 a make-up working day): 3 working days are 10-08, 10-09, 10-10.
    phone = _register(demo_app, "phone")
    letter = _register(demo_app, "letter")
    clock.now = utc(2026, 9, 30, 18)  # after office hours: counts from 10-08
    late_call = _register(demo_app, "phone")
    visit = _register(demo_app, "visit", complainant_phone="")
    online = _register(demo_app, "online", complainant_phone="")
    with demo_app.app_context():
        rows = {t.number: t for t in session().scalars(sa.select(Complaint))}
    assert phone == "TS-20260930-0001" and letter == "TS-20260930-0002"
    assert online == "TS-20260930-0005"
    assert local(rows[phone].due_at) == dt.datetime(2026, 10, 10, 17, 0)
    assert local(rows[phone].yellow_at) == dt.datetime(2026, 10, 9, 17, 0)
    # 7 working days: 10-08, 10-09, 10-10, 10-12, 10-13, 10-14, 10-15
    assert local(rows[letter].due_at) == dt.datetime(2026, 10, 15, 17, 0)
    # received 09-30 18:00: the day of receipt is 10-08; then 10-09, 10-10, 10-12
    assert local(rows[late_call].due_at) == dt.datetime(2026, 10, 12, 17, 0)
    for number, ticket in rows.items():
        assert ticket.due_at == hand_due(ticket.received_at, REPLY_DAYS[ticket.channel]), number
        assert not ticket.due_provisional
    assert REPLY_DAYS == {"phone": 3, "visit": 3, "letter": 7, "online": 7}
    assert rows[visit].due_at == rows[late_call].due_at


def test_a_received_time_in_the_past_counts_and_a_future_one_is_refused(demo_app, clock):
    clock.now = utc(2026, 10, 12, 9, 30)
    received = utc(2026, 9, 30, 16, 55)  # a letter that arrived before the holiday
    number = _register(demo_app, "letter", received_at=received)
    with demo_app.app_context():
        ticket = session().scalars(sa.select(Complaint).where(Complaint.number == number)).one()
        assert number == "TS-20261012-0001"  # numbered on the day it is registered
        assert ticket.received_at == received
        assert local(ticket.due_at) == dt.datetime(2026, 10, 15, 17, 0)
        with pytest.raises(InvalidInput) as exc:
            complaints.register(_user("supervisor_wu"),
                                _new(received_at=clock.now + dt.timedelta(hours=2)))  # fmt: skip
        assert exc.value.details["field"] == "received_at"


def test_a_ticket_on_a_year_without_a_calendar_is_provisional(demo_app, clock):
    clock.now = utc(2026, 12, 30, 10)  # 3 working days reach into 2027, not yet published
    number = _register(demo_app, "phone")
    with demo_app.app_context():
        db = session()
        ticket = db.scalars(sa.select(Complaint).where(Complaint.number == number)).one()
        # 12-31, then 01-01 (元旦, off by the law's fallback until 2027 is published), 01-04,
        # 01-05
        assert ticket.due_provisional
        assert local(ticket.due_at) == dt.datetime(2027, 1, 5, 17, 0)
        # the State Council publishes 2027: New Year's Day is off, as the fallback had it
        # adding the year recomputes the ticket (calendar.admin.add_year calls it)
        calendar_admin.add_year(_user("admin"), 2027, "国办发明电〔2026〕1号",
                                [(dt.date(2027, 1, 1), "元旦")], [])  # fmt: skip
        assert complaints.recompute_provisional(db, calendar_load(db)) == 0
        db.expire_all()
        ticket = db.scalars(sa.select(Complaint).where(Complaint.number == number)).one()
        assert not ticket.due_provisional
        assert local(ticket.due_at) == dt.datetime(2027, 1, 5, 17, 0)
        assert complaint_queries.history_of(ticket)[-1][0].action == "due_recomputed"


# --- input -------------------------------------------------------------------------------------


def test_a_ticket_naming_a_case_that_does_not_exist_is_refused(demo_app, clock):
    with demo_app.app_context():
        with pytest.raises(InvalidInput) as exc:
            complaints.register(_user("supervisor_wu"), _new(case_no="2026093099999999"))
        assert exc.value.details["field"] == "case_no"
        assert exc.value.message == "办件编号：没有案件“2026093099999999”；请核对办件编号"
        assert session().scalar(sa.select(sa.func.count()).select_from(Complaint)) == 0
    web = Web(demo_app, "supervisor_wu")
    resp = web.post("/complaints/new", {
        "channel": "phone", "complainant_name": "王小明", "complainant_phone": "13912345678",
        "case_no": "2026093099999999", "subject": "催办", "content": "我的件一直没有结果",
        "department_id": "0"}, expect=400)  # fmt: skip
    assert "there is no case &#39;2026093099999999&#39;" in resp.text
    assert 'value="催办"' in resp.text  # the input is kept
    # a case that exists is linked, and its page is one click away
    with demo_app.app_context():
        case_no = receive_case(
            _user("clerk_liu"), "joint-investment",
            Applicant("某某新能源有限公司", "91330100MA2H000001"),
            required_materials("joint-investment"), sample_form("joint-investment"),
        ).subject.case_no  # fmt: skip
    resp = web.post("/complaints/new", {
        "channel": "letter", "complainant_name": "王小明", "case_no": case_no,
        "subject": "催办", "content": "我的件一直没有结果", "department_id": "0"})  # fmt: skip
    page = web.get(resp.headers["Location"]).text
    assert f'href="/cases/{case_no}"' in page


def test_register_form_errors_name_the_field(demo_app, clock):
    web = Web(demo_app, "supervisor_wu")
    body = {"channel": "phone", "complainant_name": "王小明", "subject": "态度", "content": "x",
            "department_id": "0"}  # fmt: skip
    resp = web.post("/complaints/new", body, expect=400)
    assert "a hotline ticket needs the caller&#39;s number" in resp.text
    resp = web.post("/complaints/new", {**body, "complainant_phone": "call me maybe"}, expect=400)
    assert "digits, spaces" in resp.text
    with demo_app.app_context():
        sup = _dept("supervision")
        with pytest.raises(InvalidInput) as exc:  # the form does not even offer it
            complaints.register(_user("supervisor_wu"), _new(department_id=sup))
        assert exc.value.details["field"] == "department_id"
        assert "监察室负责登记和答复" in exc.value.message
    web.post("/complaints/new", {**body, "complainant_phone": "13912345678",
                                 "department_id": str(sup)}, expect=400)  # fmt: skip
    resp = web.post("/complaints/new", {**body, "channel": "fax"}, expect=400)
    with demo_app.app_context():
        assert session().scalar(sa.select(sa.func.count()).select_from(Complaint)) == 0


# --- transitions and who may make them ---------------------------------------------------------


def _post(app, username: str, number: str, action: str, data: dict | None = None,
          expect: int | None = 302):  # fmt: skip
    web = Web(app, username)
    resp = web.post(f"/complaints/{number}/{action}", data or {}, expect=expect)
    if resp.status_code == 302:
        return web.get(resp.headers["Location"]).text
    return resp.text


def test_every_transition_and_who_may_make_it(demo_app, clock):
    web = Web(demo_app, "supervisor_wu")
    resp = web.post("/complaints/new", {
        "channel": "phone", "complainant_name": "王小明", "complainant_phone": "13912345678",
        "subject": "项目核准超时", "content": "材料交齐后两周没有消息",
        "department_id": "0"})  # fmt: skip
    number = resp.headers["Location"].rsplit("/", 1)[1]
    with demo_app.app_context():
        ndrc, env = _dept("ndrc"), _dept("environment")
    assert _state(demo_app, number)[0] == "registered"

    def refused(username: str, action: str, data: dict | None = None, status: int = 403):
        before = _state(demo_app, number)
        Web(demo_app, username).post(f"/complaints/{number}/{action}", data or {},
                                     expect=status)  # fmt: skip
        assert _state(demo_app, number) == before, (username, action)

    def flashed_error(username: str, action: str, data: dict | None = None) -> str:
        before = _state(demo_app, number)
        page = _post(demo_app, username, number, action, data)
        assert 'class="flash error"' in page, (username, action)
        assert _state(demo_app, number) == before, (username, action)
        return page

    # only the office assigns; nobody notes or replies before the department has it
    for who in ("official_xiao", "leader_yuan", "auditor_sun", "clerk_liu"):
        refused(who, "assign", {"department_id": str(ndrc)})
    refused("official_xiao", "notes", {"text": "已核查"})
    assert "assign it first" in flashed_error("supervisor_wu", "reply", {"text": "已答复"})
    _post(demo_app, "supervisor_zheng", number, "assign", {"department_id": str(ndrc)})
    assert _state(demo_app, number)[:3] == ("assigned", 2, ndrc)
    assert "already with" in flashed_error("supervisor_wu", "assign",
                                           {"department_id": str(ndrc)})  # fmt: skip
    # the department sees it and investigates; others of other departments are refused
    page = Web(demo_app, "official_xiao").get(f"/complaints/{number}").text
    assert "Add an investigation note" in page and "Record the reply" not in page
    assert "王**" in page and "13912345678" not in page and "139****5678" in page
    for who in ("official_zhao", "official_shi", "leader_fang"):
        Web(demo_app, who).get(f"/complaints/{number}", expect=403)
        refused(who, "notes", {"text": "与我无关"})
    for who in ("supervisor_wu", "auditor_sun", "clerk_liu", "analyst_zhou"):
        refused(who, "notes", {"text": "越权"})
    refused("official_xiao", "reply", {"text": "越权答复"})
    refused("official_xiao", "archive")
    assert "not yet reported" in flashed_error("supervisor_wu", "reply", {"text": "已答复"})
    _post(demo_app, "official_xiao", number, "notes", {"text": "经查，材料于 9 月 18 日补齐。"})
    _post(demo_app, "leader_yuan", number, "notes", {"text": "已督促承办人当日办结。"})
    assert _state(demo_app, number)[0] == "investigating"
    # the auditor reads everything and changes nothing
    page = Web(demo_app, "auditor_sun").get(f"/complaints/{number}").text
    assert "经查" in page and "<form" not in page.split("<main ", 1)[1]
    for action in ("assign", "reply", "archive"):
        refused("auditor_sun", action, {"department_id": str(env), "text": "x"})
    # the office replies and archives
    flashed_error("supervisor_wu", "archive")
    page = _post(demo_app, "supervisor_wu", number, "reply", {"text": "已办结，向您致歉。"})
    assert "on time" in page
    refused("official_xiao", "archive")
    assert "replied" in flashed_error("official_xiao", "notes", {"text": "补充"})
    assert "no longer be assigned" in flashed_error("supervisor_wu", "assign",
                                                    {"department_id": str(env)})  # fmt: skip
    _post(demo_app, "admin", number, "archive")
    assert _state(demo_app, number)[0] == "archived"
    flashed_error("supervisor_wu", "archive")
    Web(demo_app, "supervisor_wu").post("/complaints/TS-20991231-0001/archive", expect=404)
    with demo_app.app_context():
        db = session()
        ticket = db.scalars(sa.select(Complaint).where(Complaint.number == number)).one()
        history = [(e.seq, e.action, u) for e, u in complaint_queries.history_of(ticket)]
        assert history == [(1, "registered", "吴建国"), (2, "assigned", "郑红"),
                           (3, "note_added", "肖雨"), (4, "note_added", "袁斌"),
                           (5, "replied", "吴建国"), (6, "archived", "赵磊")]  # fmt: skip
        assert ticket.replied_by_id == _user("supervisor_wu").id
        # the history and the notes are append-only, whoever holds the database
        for table in ("complaint_events", "complaint_notes"):
            with pytest.raises(sa.exc.DatabaseError):
                db.execute(sa.text(f"UPDATE {table} SET at = at WHERE complaint_id = :i"),
                           {"i": ticket.id})  # fmt: skip
            db.rollback()
            with pytest.raises(sa.exc.DatabaseError):
                db.execute(sa.text(f"DELETE FROM {table} WHERE complaint_id = :i"),
                           {"i": ticket.id})  # fmt: skip
            db.rollback()


def test_reassigning_moves_who_may_see_and_investigate(demo_app, clock):
    number = _register(demo_app, "letter", dept="ndrc")
    with demo_app.app_context():
        env = _dept("environment")
        xiao, yuan = _user("official_xiao").id, _user("leader_yuan").id
        told = session().scalars(sa.select(Notification.user_id)
                                 .where(Notification.kind == "complaint")).all()  # fmt: skip
        assert told == [yuan]  # the department's leader hears of the new ticket
    _post(demo_app, "official_xiao", number, "notes", {"text": "不属于本委职责"})
    _post(demo_app, "supervisor_wu", number, "assign", {"department_id": str(env)})
    assert _state(demo_app, number)[:3] == ("assigned", 4, env)
    Web(demo_app, "official_xiao").get(f"/complaints/{number}", expect=403)
    before = _state(demo_app, number)
    Web(demo_app, "official_xiao").post(f"/complaints/{number}/notes", {"text": "x"}, expect=403)
    assert _state(demo_app, number) == before
    _post(demo_app, "official_shi", number, "notes", {"text": "已核查排污许可办理情况"})
    with demo_app.app_context():
        ticket = session().scalars(sa.select(Complaint).where(Complaint.number == number)).one()
        events = complaint_queries.history_of(ticket)
        assert events[3][0].action == "reassigned"
        assert events[3][0].data["from_department_id"] != env
        assert xiao not in complaint_access.department_leaders(session(), env)
        # the services refuse the same way as the pages
        with pytest.raises(Forbidden):
            complaints.add_note(_user("official_xiao"), number, "x")
        with pytest.raises(Forbidden):
            complaints.reply(_user("official_shi"), number, "x")
        with pytest.raises(Conflict):
            complaints.archive(_user("supervisor_wu"), number)


def test_a_section_without_a_leader_answers_through_its_post_leader(demo_app, clock):
    # 建设科 (construction) has no leader of its own; its post's leader is the deputy head
    number = _register(demo_app, "phone", dept="construction")
    with demo_app.app_context():
        leaders = complaint_access.department_leaders(session(), _dept("construction"))
        assert leaders == {_user("deputy_qin").id}
    page = Web(demo_app, "deputy_qin").get(f"/complaints/{number}").text
    assert "Add an investigation note" in page
    _post(demo_app, "official_tang", number, "notes", {"text": "已核查"})


# --- overdue cards -----------------------------------------------------------------------------


def _cards(app) -> list[tuple[str, str]]:
    with app.app_context():
        rows = session().execute(
            sa.select(Complaint.number, ComplaintWarning.level)
            .join(Complaint, Complaint.id == ComplaintWarning.complaint_id)
            .order_by(Complaint.number, ComplaintWarning.level)
        ).all()  # fmt: skip
        return [tuple(r) for r in rows]


def _told(app, kind: str) -> dict[str, int]:
    with app.app_context():
        rows = session().execute(
            sa.select(User.username, sa.func.count()).select_from(Notification)
            .join(User, User.id == Notification.user_id)
            .where(Notification.kind == kind).group_by(User.username)
        ).all()  # fmt: skip
        return dict(rows)


def test_overdue_cards_come_once_each(demo_app, clock):
    clock.now = utc(2026, 11, 2, 10)  # Monday
    late = _register(demo_app, "phone", dept="ndrc")  # due Thursday 11-05 17:00
    unassigned = _register(demo_app, "phone", dept=None)
    replied = _register(demo_app, "phone", dept="environment")
    with demo_app.app_context():
        complaints.add_note(_user("official_shi"), replied, "已核查")
        complaints.reply(_user("supervisor_wu"), replied, "已答复")
        assert complaint_deadlines.next_threshold(session(), clock.now) == utc(2026, 11, 4, 17)
    clock.now = utc(2026, 11, 4, 16, 59)
    with demo_app.app_context():
        assert complaint_deadlines.scan() == 0
    clock.now = utc(2026, 11, 4, 17, 1)  # one working day left
    with demo_app.app_context():
        assert complaint_deadlines.scan() == 2
        assert complaint_deadlines.scan() == 0
    assert _cards(demo_app) == [(late, "yellow"), (unassigned, "yellow")]
    # the office hears of both, the department's leader of its own one
    assert _told(demo_app, "yellow") == {"supervisor_wu": 2, "supervisor_zheng": 2,
                                         "leader_yuan": 1}  # fmt: skip
    clock.now = utc(2026, 11, 5, 17, 1)  # overdue
    from app.scheduler import TimerScheduler

    scheduler = TimerScheduler(demo_app)  # the scheduler's warning round, twice
    try:
        scheduler.warning_round()
        scheduler.warning_round()
    finally:
        scheduler.leader.release()
    assert scheduler.warned == 2
    assert _cards(demo_app) == [(late, "red"), (late, "yellow"), (unassigned, "red"),
                                (unassigned, "yellow")]  # fmt: skip
    assert _told(demo_app, "red") == {"supervisor_wu": 2, "supervisor_zheng": 2,
                                      "leader_yuan": 1}  # fmt: skip
    with demo_app.app_context():
        ticket = session().scalars(sa.select(Complaint).where(Complaint.number == late)).one()
        actions = [(e.action, e.data.get("level"), who)
                   for e, who in complaint_queries.history_of(ticket)]  # fmt: skip
        assert actions[-2:] == [("warning_issued", "yellow", None), ("warning_issued", "red", None)]
    page = Web(demo_app, "supervisor_wu").get(f"/complaints/{late}").text
    assert "red card" in page and "overdue" in page
    overdue = Web(demo_app, "supervisor_wu").get("/complaints?overdue=1&since=2026-11-01").text
    assert late in overdue and unassigned in overdue and replied not in overdue


def test_a_ticket_found_overdue_gets_its_red_card_only_and_racing_scans_issue_it_once(
    demo_app, clock
):
    clock.now = utc(2026, 11, 2, 10)
    number = _register(demo_app, "letter", dept="land")
    clock.now = utc(2026, 11, 20, 10)  # long past 11-11 17:00; the scheduler was down
    barrier = threading.Barrier(4)
    issued: list[int] = []

    def scan():
        with demo_app.app_context():
            barrier.wait()
            issued.append(complaint_deadlines.scan())

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(issued) == 1
    assert _cards(demo_app) == [(number, "red")]
    assert _told(demo_app, "red") == {"supervisor_wu": 1, "supervisor_zheng": 1,
                                      "leader_dong": 1}  # fmt: skip


# --- figures -----------------------------------------------------------------------------------


def test_figures_match_a_hand_count(demo_app, clock):
    rnd = random.Random(12319)
    with demo_app.app_context():
        depts = {code: _dept(code) for code in ("ndrc", "environment", "housing_reg", "land")}
        staff = {depts["ndrc"]: "official_xiao", depts["environment"]: "official_shi",
                 depts["housing_reg"]: "official_zhao", depts["land"]: "official_pan"}  # fmt: skip
    start = utc(2026, 10, 27, 0)
    tickets = []
    for _ in range(60):
        received = start + dt.timedelta(minutes=rnd.randrange(0, 40 * 24 * 60))
        channel = rnd.choice(CHANNELS)
        dept = rnd.choice([None, *depts.values()])
        clock.now = received + dt.timedelta(minutes=rnd.randrange(0, 90))
        with demo_app.app_context():
            number = complaints.register(_user("supervisor_wu"), _new(
                channel, received_at=received, department_id=dept,
                complainant_phone="0571-88001234")).number  # fmt: skip
        replied_at = None
        if dept is not None and rnd.random() < 0.8:
            clock.now += dt.timedelta(hours=rnd.uniform(1, 48))
            with demo_app.app_context():
                complaints.add_note(_user(staff[dept]), number, "已核查")
            if rnd.random() < 0.85:
                clock.now += dt.timedelta(hours=rnd.uniform(1, 24 * 12))
                replied_at = clock.now
                with demo_app.app_context():
                    complaints.reply(_user("supervisor_zheng"), number, "已答复")
                    if rnd.random() < 0.5:
                        complaints.archive(_user("supervisor_zheng"), number)
        tickets.append({"received": received, "channel": channel, "dept": dept,
                        "due": hand_due(received, REPLY_DAYS[channel]),
                        "replied": replied_at})  # fmt: skip
    now = utc(2026, 12, 10, 12)
    clock.now = now
    any_dept = object()  # any department, unassigned ones too

    def hand(since, until, dept=any_dept, channel=None) -> complaint_figures.Figures:
        chosen = [t for t in tickets if since <= local(t["received"]).date() <= until
                  and (dept is any_dept or t["dept"] == dept)
                  and (channel is None or t["channel"] == channel)]  # fmt: skip
        done = [t for t in chosen if t["replied"]]
        return complaint_figures.Figures(
            received=len(chosen), completed=len(done),
            on_time=sum(t["replied"] <= t["due"] for t in done),
            overdue_open=sum(not t["replied"] and t["due"] < now for t in chosen),
        )  # fmt: skip

    periods = [(dt.date(2026, 11, 1), dt.date(2026, 11, 30)),
               (dt.date(2026, 10, 27), dt.date(2026, 12, 10)),
               (dt.date(2026, 11, 9), dt.date(2026, 11, 9))]  # fmt: skip
    with demo_app.app_context():
        stored = {t.received_at: t for t in session().scalars(sa.select(Complaint))}
        assert [stored[t["received"]].due_at for t in tickets] == [t["due"] for t in tickets]
        for since, until in periods:
            expected = hand(since, until)
            got = complaint_figures.figures(since, until)
            assert got == expected, (since, until)
            for dept in depts.values():
                assert complaint_figures.figures(since, until, department_id=dept) == hand(
                    since, until, dept=dept
                )
            for channel, figs in complaint_figures.by_channel(since, until):
                assert figs == hand(since, until, channel=channel), channel
            for dept_id, _name, figs in complaint_figures.by_department(since, until):
                assert figs == hand(since, until, dept=dept_id), dept_id
            assert sum(f.received for _d, _n, f in complaint_figures.by_department(
                since, until)) == expected.received  # fmt: skip
        month = hand(*periods[0])
        assert month.received > 30 and 0 < month.on_time < month.completed < month.received
        assert month.overdue_open > 0
        figs = complaint_figures.figures(*periods[0])
        assert figs.completion_rate == complaint_figures.rate(month.completed, month.received)
        assert float(figs.completion_rate) == pytest.approx(
            100 * month.completed / month.received, abs=0.05
        )
        assert float(figs.on_time_rate) == pytest.approx(
            100 * month.on_time / month.completed, abs=0.05
        )
    # the page shows the month's figures at the top
    page = Web(demo_app, "auditor_sun").get("/complaints?since=2026-11-01&until=2026-11-30").text
    assert f"<b>{month.received}</b>" in page and f"<b>{figs.completion_rate}%</b>" in page
    assert f"<b>{figs.on_time_rate}%</b>" in page


def test_rates_round_half_up_and_are_empty_without_tickets():
    assert complaint_figures.rate(0, 0) is None
    assert str(complaint_figures.rate(1, 3)) == "33.3"
    assert str(complaint_figures.rate(1, 8)) == "12.5"
    assert str(complaint_figures.rate(12459 * 997 // 1000, 12459)) == "99.7"
    assert complaint_figures.Figures().on_time_rate is None


# --- pages -------------------------------------------------------------------------------------


def test_the_register_lists_filters_and_masks(demo_app, clock):
    phone_ndrc = _register(demo_app, "phone", dept="ndrc", complainant_phone="13912345678")
    letter_env = _register(demo_app, "letter", dept="environment", complainant_phone="")
    clock.now = utc(2026, 10, 20, 10)
    later = _register(demo_app, "online", dept=None, complainant_phone="")
    office = Web(demo_app, "supervisor_wu")
    page = office.get("/complaints?since=2026-09-01&until=2026-10-31").text
    assert all(n in page for n in (phone_ndrc, letter_env, later))
    assert "139****5678" in page and "13912345678" not in page
    assert "Register a complaint" in page
    page = office.get("/complaints?since=2026-09-01&until=2026-10-31&channel=letter").text
    assert letter_env in page and phone_ndrc not in page
    page = office.get("/complaints?since=2026-09-01&until=2026-10-31&status=registered").text
    assert later in page and phone_ndrc not in page
    with demo_app.app_context():
        env = _dept("environment")
    page = office.get(f"/complaints?since=2026-09-01&until=2026-10-31&department_id={env}").text
    assert letter_env in page and phone_ndrc not in page
    page = office.get("/complaints?since=2026-09-01&until=2026-10-31&overdue=1").text
    assert phone_ndrc in page and letter_env in page and later not in page
    page = office.get("/complaints").text  # this month so far: October
    assert later in page and phone_ndrc not in page
    page = office.get("/complaints?since=junk&status=nonsense", expect=400).text
    assert "not understood" in page and later in page
    # the department's staff see their own tickets only, and no complainant's name in full
    page = Web(demo_app, "official_xiao").get("/complaints?since=2026-09-01").text
    assert phone_ndrc in page and letter_env not in page and later not in page
    assert "王**" in page and "王小明" not in page and "Register a complaint" not in page
    page = Web(demo_app, "official_zhao").get("/complaints?since=2026-09-01").text
    assert "No complaint matches" in page
    for who in ("clerk_liu", "analyst_zhou"):
        Web(demo_app, who).get("/complaints", expect=403)
        Web(demo_app, who).get(f"/complaints/{phone_ndrc}", expect=403)
    for who in ("auditor_sun", "official_xiao", "clerk_liu"):
        Web(demo_app, who).get("/complaints/new", expect=403)
    Web(demo_app).get("/complaints", expect=302)
    office.get("/complaints/TS-20991231-0001", expect=404)


def test_markup_in_a_complaint_renders_as_text(demo_app, clock):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    web = Web(demo_app, "supervisor_wu")
    resp = web.post("/complaints/new", {
        "channel": "online", "complainant_name": payload, "subject": payload,
        "content": payload + "\n第二行", "department_id": "0"})  # fmt: skip
    number = resp.headers["Location"].rsplit("/", 1)[1]
    with demo_app.app_context():
        ndrc = _dept("ndrc")
    _post(demo_app, "supervisor_wu", number, "assign", {"department_id": str(ndrc)})
    _post(demo_app, "official_xiao", number, "notes", {"text": payload})
    _post(demo_app, "supervisor_wu", number, "reply", {"text": payload})
    for path in (f"/complaints/{number}", "/complaints"):
        page = web.get(path).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
        assert "default-src 'self'" in web.get(path).headers["Content-Security-Policy"]
    page = web.get(f"/complaints/{number}").text
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") >= 4  # name, subject, content, note
    assert "<br>第二行" in page


def test_numbers_are_unique_when_registered_at_the_same_moment(demo_app, clock):
    barrier = threading.Barrier(6)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def register(i: int):
        try:
            with demo_app.app_context():
                user = _user("supervisor_wu")
                barrier.wait()
                numbers.append(complaints.register(user, _new(subject=f"并发 {i}")).number)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(numbers) == [f"TS-20260930-{i:04d}" for i in range(1, 7)]
    assert all(re.fullmatch(r"TS-\d{8}-\d{4}", n) for n in numbers)
