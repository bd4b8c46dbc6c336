"""Time limits on a controllable clock: due dates in working days, pauses, extensions,
provisional dates, yellow and red cards, escalation by a boundary timer."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audit.models import Event
from app.calendar.models import CalendarDay, CalendarYear
from app.calendar.services import WorkCalendar, calendar, forget
from app.cases import deadlines
from app.cases.models import Case, Task
from app.db import session
from app.supervision import services as supervision
from app.supervision.models import Notification, WarningCard
from config import BASE_DIR
from tests.apiclient import Api, sample_form

SHANGHAI = ZoneInfo("Asia/Shanghai")
PACKAGE_YEARS = range(2004, 2027)


def utc(year, month, day, hour=10, minute=0) -> dt.datetime:
    """Return a centre-local time as stored (naive UTC)."""
    local = dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def local(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC).astimezone(SHANGHAI).replace(tzinfo=None)


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self, at: dt.datetime) -> None:
        self.now = at

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock(demo_app):
    tick = Clock(utc(2026, 9, 29))
    demo_app.config["CLOCK"] = tick
    return tick


def _case(app, case_no: str) -> Case:
    with app.app_context():
        row = session().scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        session().expunge(row)
        return row


def _tasks(app, case_no: str) -> dict[str, Task]:
    with app.app_context():
        db = session()
        rows = db.scalars(sa.select(Task).join(Case, Case.id == Task.case_id)
                          .where(Case.case_no == case_no, Task.state == "open")).all()  # fmt: skip
        for r in rows:
            db.expunge(r)
        return {t.spec_id: t for t in rows}


# --- the calendar ------------------------------------------------------------------------------


def _package_calendar() -> WorkCalendar:
    from chinese_calendar import constants

    return WorkCalendar(set(PACKAGE_YEARS), dict(constants.holidays), dict(constants.workdays),
                        "Asia/Shanghai", "09:00-17:00")  # fmt: skip


def test_office_time_between_counts_office_hours_of_working_days_only():
    cal = _package_calendar()
    hours = lambda a, b: cal.office_time_between(a, b).total_seconds() / 3600  # noqa: E731
    assert hours(utc(2026, 11, 20, 16), utc(2026, 11, 23, 10)) == 2  # Friday 16:00 to Monday
    assert hours(utc(2026, 11, 20, 18), utc(2026, 11, 21, 12)) == 0  # after hours, Saturday
    assert hours(utc(2026, 11, 23, 8), utc(2026, 11, 23, 20)) == 8  # one whole office day
    # National Day 2026: 1-7 October off; Thursday 8, Friday 9 and Saturday 10 (调休) worked
    assert hours(utc(2026, 9, 30, 16), utc(2026, 10, 10, 10)) == 1 + 8 + 8 + 1
    assert hours(utc(2026, 11, 23, 12), utc(2026, 11, 23, 11)) == 0  # backwards: nothing
    assert cal.office_day == dt.timedelta(hours=8)


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=dt.date(2004, 1, 1), max_value=dt.date(2026, 12, 31)))
def test_every_day_of_every_published_year_agrees_with_chinese_calendar(day):
    assert _package_calendar().is_working_day(day) == chinese_calendar.is_workday(day)


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=dt.date(2004, 1, 1), max_value=dt.date(2026, 11, 30)),
       st.integers(min_value=0, max_value=25))  # fmt: skip
def test_adding_working_days_counts_what_chinese_calendar_counts(start, days):
    cal = _package_calendar()
    end, provisional = cal.add_working_days(start, days)
    if end.year > 2026:
        return
    assert not provisional
    between = chinese_calendar.get_workdays(start + dt.timedelta(days=1), end)
    assert len(between) == days
    assert days == 0 or chinese_calendar.is_workday(end)


def test_a_case_accepted_before_national_day_2026_is_due_on_the_right_day(demo_app, clock):
    # accepted Tuesday 29 September 2026 at 10:00; 7 working days: 30 Sep, then the holiday
    # 1-7 Oct, then 8, 9, 10 (a Saturday worked in exchange), 12, 13, 14 October
    api = Api(demo_app.test_client())
    case_no = api.apply("house-initial", sample_form("house-initial", certificates=5))["case_no"]
    case = _case(demo_app, case_no)
    assert case.promised_days == 7
    assert local(case.due_at) == dt.datetime(2026, 10, 14, 17, 0)
    assert not case.due_provisional
    # statutory 30 working days (不动产登记暂行条例 art. 20): 14 Oct is the 7th, 23 Oct the
    # 14th, 30 Oct the 19th, 2 Nov the 20th, 6 Nov the 24th, 13 Nov the 29th, 16 Nov
    assert local(case.statutory_due_at) == dt.datetime(2026, 11, 16, 17, 0)
    # the yellow card is one working day before: 13 October at close of office
    assert local(case.yellow_at) == dt.datetime(2026, 10, 13, 17, 0)
    # the review stage (3 working days) starts on the day of acceptance
    review = _tasks(demo_app, case_no)["Task_review"]
    assert review.time_limit == "3d"
    assert local(review.due_at) == dt.datetime(2026, 10, 9, 17, 0)


def test_after_hours_and_immediate_items(demo_app, clock):
    api = Api(demo_app.test_client())
    clock.now = utc(2026, 11, 20, 17, 30)  # Friday after hours: counts from Monday 23rd
    case_no = api.apply("house-initial", sample_form("house-initial", certificates=5))["case_no"]
    assert local(_case(demo_app, case_no).due_at) == dt.datetime(2026, 12, 2, 17, 0)
    clock.now = utc(2026, 11, 23, 11, 0)  # 即办件: due the same day
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    assert local(_case(demo_app, case_no).due_at) == dt.datetime(2026, 11, 23, 17, 0)
    # the 4-hour window stage ends at 15:00 the same day
    assert local(_tasks(demo_app, case_no)["Task_review"].due_at) == dt.datetime(2026, 11, 23, 15)


def test_a_due_date_in_a_year_without_a_calendar_is_provisional_until_the_year_is_added(
    demo_app, clock
):
    api = Api(demo_app.test_client())
    clock.now = utc(2026, 12, 28)
    case_no = api.apply("house-initial", sample_form("house-initial", certificates=5))["case_no"]
    case = _case(demo_app, case_no)
    # 2027 by the law's fixed holidays and the weekends: 29, 30, 31 Dec, then 1 Jan 2027
    # (元旦) and the weekend off, 4, 5, 6, 7 Jan (tests/test_calendar_fallback.py has more)
    assert case.due_provisional
    assert local(case.due_at) == dt.datetime(2027, 1, 7, 17, 0)
    page = Api(demo_app.test_client()).case(case_no)
    assert page["due_provisional"] is True
    with demo_app.app_context():
        from app.calendar.admin import add_year
        from app.org.models import User

        admin = session().scalars(sa.select(User).where(User.username == "admin")).one()
        add_year(admin, 2027, "国办发明电〔2026〕X号", holidays=[
            (dt.date(2027, 1, 1), "元旦"), (dt.date(2027, 1, 2), "元旦"),
            (dt.date(2027, 1, 3), "元旦")], workdays=[])  # fmt: skip
    case = _case(demo_app, case_no)
    assert not case.due_provisional
    assert local(case.due_at) == dt.datetime(2027, 1, 7, 17, 0)
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    assert [e["type"] for e in events].count("due_dates_recomputed") == 1


def test_a_pause_of_three_working_days_moves_every_due_date_by_exactly_that(demo_app, clock):
    api = Api(demo_app.test_client())
    clock.now = utc(2026, 11, 2)  # Monday
    case_no = api.apply("house-initial", sample_form("house-initial", certificates=5))["case_no"]
    before, task_before = _case(demo_app, case_no), _tasks(demo_app, case_no)["Task_review"]
    clock.now = utc(2026, 11, 3, 10)  # Tuesday
    api.call("POST", f"/cases/{case_no}/pause", "official_zhao", json={
        "kind": "expert_review", "reason": "组织专家评审", "expected_days": 3})  # fmt: skip
    assert _case(demo_app, case_no).paused_at == clock.now
    clock.now = utc(2026, 11, 6, 11)  # Friday: Tue, Wed, Thu paused
    body = api.call("POST", f"/cases/{case_no}/resume", "official_zhao")
    after, task_after = _case(demo_app, case_no), _tasks(demo_app, case_no)["Task_review"]
    assert body["paused_days"] == 3 and after.paused_at is None
    assert local(before.due_at) == dt.datetime(2026, 11, 11, 17)
    assert local(after.due_at) == dt.datetime(2026, 11, 16, 17)  # 3 working days later
    assert local(after.statutory_due_at) - local(before.statutory_due_at) == dt.timedelta(days=3)
    assert local(task_before.due_at) == dt.datetime(2026, 11, 5, 17)
    assert local(task_after.due_at) == dt.datetime(2026, 11, 10, 17)


def test_extension_needs_the_authoritys_head_and_stays_within_the_law(demo_app, clock):
    api = Api(demo_app.test_client())
    case_no = api.apply("planning-permit", sample_form("planning-permit"))["case_no"]
    body = {"days": 5, "reason": "需补充现场核查"}
    api.call("POST", f"/cases/{case_no}/extend", "official_lu", 403, json=body)
    # the section chief (规划科科长) is not the licensing authority's head (art. 42)
    api.call("POST", f"/cases/{case_no}/extend", "leader_gao", 403, json=body)
    api.call("POST", f"/cases/{case_no}/extend", "head_lin", 400,
             json={"days": 11, "reason": "超过法定延期"})  # fmt: skip
    before = _case(demo_app, case_no)
    api.call("POST", f"/cases/{case_no}/extend", "head_lin", json=body)
    after = _case(demo_app, case_no)
    cal = _package_calendar()
    assert (
        local(after.statutory_due_at).date()
        == cal.add_working_days(local(before.statutory_due_at).date(), 5)[0]
    )
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    extended = [e for e in events if e["type"] == "case_extended"]
    assert extended[0]["actor"] == "head_lin" and extended[0]["data"]["days"] == 5


def test_a_registration_is_never_extended(demo_app, clock):
    """不动产登记暂行条例 art. 20: 30 working days, with no extension; not even the registration
    agency's head (不动产登记中心主任) extends it."""
    api = Api(demo_app.test_client())
    case_no = api.apply("house-initial", sample_form("house-initial", certificates=5))["case_no"]
    before = _case(demo_app, case_no)
    for who in ("director_fang", "deputy_qin", "leader_wang"):
        refused = api.call("POST", f"/cases/{case_no}/extend", who, 409,
                           json={"days": 5, "reason": "需补充现场核查"})  # fmt: skip
        assert "第二十条" in refused["message"]
    assert _case(demo_app, case_no).statutory_due_at == before.statutory_due_at


# --- warnings ----------------------------------------------------------------------------------


def _cards(app) -> list[tuple[str, str]]:
    with app.app_context():
        return sorted(session().execute(sa.select(WarningCard.subject, WarningCard.level)).all())


def test_yellow_then_red_exactly_once_each_and_told_to_the_right_people(demo_app, clock):
    api = Api(demo_app.test_client())
    clock.now = utc(2026, 11, 2, 10)
    case_no = api.apply("house-initial", sample_form("house-initial", certificates=5))["case_no"]
    review = _tasks(demo_app, case_no)["Task_review"]  # due Thu 5 Nov 17:00, yellow Wed 17:00
    with demo_app.app_context():
        assert supervision.scan() == 0
        clock.now = utc(2026, 11, 4, 17, 1)
        assert supervision.scan() == 1  # the task's yellow card
        assert supervision.scan() == 0  # not twice
        clock.now = utc(2026, 11, 5, 17, 1)
        assert supervision.scan() == 1  # red
        assert supervision.scan() == 0
    assert _cards(demo_app) == [(f"task:{review.id.hex}", "red"),
                                (f"task:{review.id.hex}", "yellow")]  # fmt: skip
    with demo_app.app_context():
        told = (
            session()
            .execute(sa.select(Notification.kind, sa.func.count()).group_by(Notification.kind))
            .all()
        )
        # the holder (official_zhao), the post's leader (leader_wang), two supervisors
        assert dict(told) == {"yellow": 4, "red": 4}
    inbox = api.call("GET", "/tasks", "official_zhao")["tasks"]
    assert inbox[0]["warning"] == "red"
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    assert [e["data"]["level"] for e in events if e["type"] == "warning_issued"] == [
        "yellow",
        "red",
    ]
    # done: the cards close
    api.work(case_no, "Task_review", data={"review_opinion": "同意"})
    with demo_app.app_context():
        supervision.scan()
        assert session().scalar(sa.select(sa.func.count()).select_from(WarningCard)
                                .where(WarningCard.closed_at.is_(None))) == 0  # fmt: skip


SCANNER = """
import datetime as dt, sys, time
from app import create_app
from app.supervision.services import scan
from config import BASE_DIR, TestConfig
now = dt.datetime.fromisoformat(sys.argv[2])
app = create_app(TestConfig, DATABASE_URL=sys.argv[1], BPMN_DIR=BASE_DIR / "bpmn",
                 CLOCK=lambda: now)
start = float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))  # both processes begin at the same moment
issued = 0
with app.app_context():
    for _ in range(3):  # and each scans three times
        issued += scan()
print(issued)
"""


def test_two_scheduler_processes_issue_each_card_once(demo_app, clock, database_url):
    import subprocess
    import sys
    import time

    api = Api(demo_app.test_client())
    clock.now = utc(2026, 11, 2, 10)
    for _ in range(3):
        api.apply("house-initial", sample_form("house-initial", certificates=5))
    later = utc(2026, 11, 30, 10)  # every task and case past both its yellow and red time
    start = time.time() + 3
    procs = [
        subprocess.Popen([sys.executable, "-c", SCANNER, database_url, later.isoformat(),
                          str(start)], cwd=BASE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _out, err in outputs]
    issued = [int(out.strip().splitlines()[-1]) for out, _err in outputs]
    cards = _cards(demo_app)
    # 3 review tasks and 3 cases, each a yellow and a red card, each once
    assert len(cards) == 12 and len(set(cards)) == 12
    assert sum(issued) == 12, issued
    with demo_app.app_context():
        logged = session().scalar(
            sa.select(sa.func.count()).select_from(Event).where(Event.type == "warning_issued")
        )
        told = session().scalar(sa.select(sa.func.count()).select_from(Notification))
    assert logged == 12
    # each task card: holder, leader, two supervisors; each case card: the same four
    assert told == 12 * 4


def test_a_paused_case_gets_no_cards(demo_app, clock):
    api = Api(demo_app.test_client())
    clock.now = utc(2026, 11, 2, 10)
    case_no = api.apply("house-initial", sample_form("house-initial", certificates=5))["case_no"]
    api.call("POST", f"/cases/{case_no}/pause", "clerk_zhang", json={
        "kind": "inspection", "reason": "现场检验", "expected_days": 10})  # fmt: skip
    clock.now = utc(2026, 11, 30, 10)
    with demo_app.app_context():
        assert supervision.scan() == 0


def test_a_boundary_timer_escalates_the_review_to_the_leader(demo_app, clock, monkeypatch):
    import SpiffWorkflow.bpmn.specs.event_definitions.timer as timer_module

    from app.scheduler import TimerScheduler

    class ClockTime(dt.datetime):  # the engine's timers follow the test's clock too
        @classmethod
        def now(cls, tz=None):
            return clock.now.replace(tzinfo=dt.UTC).astimezone(tz) if tz else clock.now

    monkeypatch.setattr(timer_module, "datetime", ClockTime)
    api = Api(demo_app.test_client())
    clock.now = utc(2026, 11, 2, 10)
    case_no = api.apply("house-initial", sample_form("house-initial", certificates=5))["case_no"]
    assert _tasks(demo_app, case_no)["Task_review"].assignee_id is not None
    clock.now = utc(2026, 11, 7, 11)  # five days later: the P5D boundary timer is due
    scheduler = TimerScheduler(demo_app)
    with demo_app.app_context():
        scheduler._fire_until_none_due()
    review = _tasks(demo_app, case_no)["Task_review"]
    with demo_app.app_context():
        from app.org.models import User

        leader = session().scalars(sa.select(User).where(User.username == "leader_wang")).one()
        told = session().scalars(sa.select(Notification.kind)
                                 .where(Notification.user_id == leader.id)).all()  # fmt: skip
    assert review.assignee_id == leader.id and review.state == "open"
    with demo_app.test_request_context():  # stored as a code, worded when read (zh)
        from app.org.reasons import decode, reason_text

        assert decode(review.assignment_reason)["reason"] == "escalated"
        assert reason_text(review.assignment_reason) == "升级给房屋登记审核岗的负责人：环节时限已过"
    assert "escalation" in told
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    kinds = [e["type"] for e in events]
    assert "timer_fired" in kinds and "task_escalated" in kinds
    # the leader decides it
    api.call("POST", f"/tasks/{review.id}/complete", "leader_wang",
             json={"outcome": "approve", "data": {"review_opinion": "督办后办结"}})  # fmt: skip


def test_calendar_table_is_seeded_from_the_package(demo_app):
    with demo_app.app_context():
        db = session()
        years = set(db.scalars(sa.select(CalendarYear.year)))
        assert set(PACKAGE_YEARS) <= years
        national = db.get(CalendarDay, dt.date(2026, 10, 1))
        assert national.kind == "holiday"
        assert db.get(CalendarDay, dt.date(2026, 10, 10)).kind == "workday"
        forget()
        assert calendar().is_working_day(dt.date(2026, 10, 10))
        assert deadlines.parse_limit("4h") == (4.0, "h")


def test_the_transfer_card_of_a_late_case_names_the_stage_and_handler_who_overran(demo_app, clock):
    from tests.webclient import Web

    api = Api(demo_app.test_client())
    clock.now = utc(2026, 11, 2, 10)
    case_no = api.apply("house-initial", sample_form("house-initial", certificates=5))["case_no"]
    clock.now = utc(2026, 11, 9, 11)  # review due Thu 5 Nov 17:00: done Mon 9 Nov 11:00
    api.work(case_no, "Task_review", data={"review_opinion": "同意"})
    clock.now = utc(2026, 11, 9, 15)  # the chief is on time
    api.work(case_no, "Task_chief", data={"chief_opinion": "同意"})
    clock.now = utc(2026, 11, 16, 10)  # issue: due 2 days after 9 Nov (11 Nov), done 16 Nov
    api.work(case_no, "Task_issue", data={"certificate_no": "示2026第001号"})
    card = api.call("GET", f"/cases/{case_no}/card", "supervisor_wu")
    stages = {s["task"]: s for s in card["stages"]}
    # review: Fri 6 Nov 09-17 (8 h) + Mon 9 Nov 09-11 (2 h) after its due time
    assert stages["登记审核"]["overrun_hours"] == 10 and stages["登记审核"]["handler"] == (
        "official_zhao"
    )
    assert stages["科长审核"]["overran"] is False
    assert {c["handler"] for c in card["culprits"]} == {"official_zhao", "clerk_zhang"}
    assert card["late_hours"] > 0 and card["status"] == "decided"
    page = Web(demo_app, "supervisor_wu").get(f"/cases/{case_no}/card").text
    assert "赵刚" in page and 'class="row-overdue"' in page  # official_zhao, by his name
    report = Web(demo_app, "supervisor_wu").get("/supervision").text
    assert case_no in report and "赵刚" in report
