"""The working-day calendar's fallback for a year the State Council has not published yet
(app/calendar/fallback.py), and the provisional mark wherever such a date is shown.

Only the years up to 2026 are known here (chinese-calendar's published years); 2027 counts
by 《全国年节及纪念日放假办法》 (2024 revision): 元旦, 春节 (除夕 and 初一-初三), 清明,
劳动节 (1-2 May), 端午, 中秋, 国庆 (1-3 October), a weekday made up for each of those
days that falls on a weekend (article 6, 补假), and Saturdays and Sundays.

2027 worked out by hand (a lunar calendar: 农历丙午年腊月 has 29 days, so 除夕 is 腊月廿九):
  元旦 Fri 1 Jan.
  春节: 除夕 Fri 5 Feb, 初一 Sat 6 Feb, 初二 Sun 7 Feb, 初三 Mon 8 Feb; two of them on the
        weekend, made up on Tue 9 and Wed 10 Feb.
  清明 Mon 5 Apr (the solar term falls on 5 April 2027).
  劳动节 Sat 1 and Sun 2 May, made up on Mon 3 and Tue 4 May.
  端午 (五月初五) Wed 9 Jun.   中秋 (八月十五) Wed 15 Sep.
  国庆节 Fri 1, Sat 2, Sun 3 Oct, made up on Mon 4 and Tue 5 Oct.
National Day 2026 is published: 1-7 October off (Thu-Wed), Sun 20 Sep and Sat 10 Oct worked.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import sqlalchemy as sa
from chinese_calendar import constants

from app.calendar import fallback
from app.calendar.models import CalendarDay, CalendarYear
from app.calendar.services import WorkCalendar, forget
from app.cases.models import Case
from app.db import session
from tests.apiclient import Api, sample_form, users_with_role
from tests.webclient import Web

SHANGHAI = ZoneInfo("Asia/Shanghai")
KNOWN = range(2004, 2027)
D = dt.date


def utc(year, month, day, hour=10, minute=0) -> dt.datetime:
    """A centre-local time as stored (naive UTC)."""
    local = dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def local(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC).astimezone(SHANGHAI).replace(tzinfo=None)


def _calendar() -> WorkCalendar:
    """The published years up to 2026, as chinese-calendar has them; 2027 unknown."""
    holidays = {d: str(n) for d, n in constants.holidays.items() if d.year in KNOWN}
    workdays = {d: str(n) for d, n in constants.workdays.items() if d.year in KNOWN}
    return WorkCalendar(set(KNOWN), holidays, workdays, "Asia/Shanghai", "09:00-17:00")


def _due(start: dt.datetime, days: int) -> tuple[dt.datetime, bool]:
    due = _calendar().due_in_days(start, days)
    return local(due.at), due.provisional


# --- the rule itself ---------------------------------------------------------------------------


def test_the_days_off_of_2027_by_the_law():
    assert fallback.days_off(2027) == {
        D(2027, 1, 1): "元旦",
        D(2027, 2, 5): "春节", D(2027, 2, 6): "春节", D(2027, 2, 7): "春节",
        D(2027, 2, 8): "春节", D(2027, 2, 9): "春节（补假）", D(2027, 2, 10): "春节（补假）",
        D(2027, 4, 5): "清明节",
        D(2027, 5, 1): "劳动节", D(2027, 5, 2): "劳动节",
        D(2027, 5, 3): "劳动节（补假）", D(2027, 5, 4): "劳动节（补假）",
        D(2027, 6, 9): "端午节", D(2027, 9, 15): "中秋节",
        D(2027, 10, 1): "国庆节", D(2027, 10, 2): "国庆节", D(2027, 10, 3): "国庆节",
        D(2027, 10, 4): "国庆节（补假）", D(2027, 10, 5): "国庆节（补假）",
    }  # fmt: skip


@pytest.mark.parametrize("year", [2025, 2026])
def test_under_the_2024_decree_every_fallback_day_is_off_in_the_published_notice(year):
    # 2025 and 2026 are the years published under the revised decree: every day the rule
    # gives off is off in the State Council's notice (the notice adds longer breaks)
    days = fallback.days_off(year)
    assert [d for d in days if not chinese_calendar.is_holiday(d)] == []
    # the four days of 春节 are there: 2025 除夕 Tue 28 Jan, 初一-初三 29-31 Jan;
    # 2026 除夕 Mon 16 Feb, 初一-初三 17-19 Feb
    spring = sorted(d for d, n in days.items() if n == "春节")
    assert spring == ([D(2025, 1, 28 + n) for n in range(4)] if year == 2025
                      else [D(2026, 2, 16 + n) for n in range(4)])  # fmt: skip
    # the weekday made up for a festival day on a weekend is the one the notice gave:
    # 2025 端午 Sat 31 May -> Mon 2 Jun; 2026 清明 Sun 5 Apr -> Mon 6 Apr, 劳动节 Sat 2 May ->
    # Mon 4 May, 国庆 Sat 3 Oct -> Mon 5 Oct
    made_up = sorted(d for d, n in days.items() if n.endswith("（补假）"))
    assert made_up == ([D(2025, 6, 2)] if year == 2025
                       else [D(2026, 4, 6), D(2026, 5, 4), D(2026, 10, 5)])  # fmt: skip


def test_the_fallback_reaches_no_known_year_and_names_its_days():
    cal = _calendar()
    # 1 Jan 2026 is published (元旦, a holiday) and the fallback is not asked
    assert cal.day_off(D(2026, 1, 1)) == (str(constants.holidays[D(2026, 1, 1)]), False)
    assert cal.day_off(D(2027, 1, 1)) == ("元旦", True)
    assert cal.day_off(D(2027, 1, 4)) is None and cal.is_working_day(D(2027, 1, 4))
    assert cal.day_off(D(2027, 1, 2)) is None and not cal.is_working_day(D(2027, 1, 2))  # Sat
    assert not cal.is_working_day(D(2027, 1, 1))
    assert cal.provisional_days_off(2026) == {}
    assert cal.provisional_days_off(2027)[D(2027, 10, 4)] == "国庆节（补假）"


# --- limits counted into 2027 -----------------------------------------------------------------


def test_twenty_working_days_from_late_december_2026_skip_new_year_2027():
    # accepted Mon 28 Dec 2026 10:00: Tue 29 (1), Wed 30 (2), Thu 31 (3); Fri 1 Jan 元旦 and
    # the weekend off; 4-8 Jan (4-8), 11-15 (9-13), 18-22 (14-18), Mon 25 (19), Tue 26 (20)
    assert _due(utc(2026, 12, 28), 20) == (dt.datetime(2027, 1, 26, 17), True)
    # 3 working days end on Thu 31 Dec, inside 2026: certain
    assert _due(utc(2026, 12, 28), 3) == (dt.datetime(2026, 12, 31, 17), False)
    # the 4th is Mon 4 Jan 2027 (not Fri 1 Jan): provisional
    assert _due(utc(2026, 12, 28), 4) == (dt.datetime(2027, 1, 4, 17), True)


def test_a_limit_across_national_day_2026_into_2027():
    # accepted Tue 29 Sep 2026: Wed 30 Sep (1); 1-7 Oct off; Thu 8 (2), Fri 9 (3), Sat 10
    # worked (4); 12-16 Oct (5-9), 19-23 (10-14), 26-30 (15-19), 2-6 Nov (20-24), 9-13
    # (25-29), 16-20 (30-34), 23-27 (35-39), 30 Nov-4 Dec (40-44), 7-11 (45-49), 14-18
    # (50-54), 21-25 (55-59), Mon 28 Dec (60), 29 (61), 30 (62), 31 (63); 1 Jan off;
    # Mon 4 Jan 2027 (64), Tue 5 Jan (65)
    assert _due(utc(2026, 9, 29), 7) == (dt.datetime(2026, 10, 14, 17), False)
    assert _due(utc(2026, 9, 29), 63) == (dt.datetime(2026, 12, 31, 17), False)
    assert _due(utc(2026, 9, 29), 65) == (dt.datetime(2027, 1, 5, 17), True)


@pytest.mark.parametrize(("start", "days", "due", "why"), [
    # Wed 3 Feb: Thu 4 (1); Fri 5 除夕, Sat 6-Mon 8 初一-初三, Tue 9 and Wed 10 made up;
    # Thu 11 (2), Fri 12 (3), Mon 15 (4), Tue 16 (5)
    ((2027, 2, 3), 5, (2027, 2, 16), "春节"),
    # Thu 1 Apr: Fri 2 (1); weekend; Mon 5 清明; Tue 6 (2), Wed 7 (3)
    ((2027, 4, 1), 3, (2027, 4, 7), "清明"),
    # Thu 29 Apr: Fri 30 (1); Sat 1, Sun 2 劳动节, Mon 3, Tue 4 made up; Wed 5 (2), Thu 6 (3)
    ((2027, 4, 29), 3, (2027, 5, 6), "劳动节"),
    # Mon 7 Jun: Tue 8 (1); Wed 9 端午; Thu 10 (2), Fri 11 (3)
    ((2027, 6, 7), 3, (2027, 6, 11), "端午"),
    # Mon 13 Sep: Tue 14 (1); Wed 15 中秋; Thu 16 (2), Fri 17 (3)
    ((2027, 9, 13), 3, (2027, 9, 17), "中秋"),
    # Wed 29 Sep: Thu 30 (1); Fri 1-Sun 3 国庆, Mon 4, Tue 5 made up; Wed 6 (2), Thu 7 (3),
    # Fri 8 (4), Mon 11 (5)
    ((2027, 9, 29), 5, (2027, 10, 11), "国庆"),
])  # fmt: skip
def test_limits_across_the_festivals_of_2027(start, days, due, why):
    assert _due(utc(*start), days) == (dt.datetime(*due, 17), True), why


def test_a_case_accepted_on_a_fallback_holiday_counts_from_the_next_working_day():
    # received on 国庆 Fri 1 Oct 2027: counts from Wed 6 Oct; 1 working day: Thu 7 Oct
    assert _due(utc(2027, 10, 1), 1) == (dt.datetime(2027, 10, 7, 17), True)
    # 4 office hours from 国庆: Wed 6 Oct 09:00-13:00
    due = _calendar().due_in_hours(utc(2027, 10, 1), 4)
    assert (local(due.at), due.provisional) == (dt.datetime(2027, 10, 6, 13), True)


# --- cases on both databases ----------------------------------------------------------------------


class Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.now = at

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock(demo_app):
    """The demo with the calendar known up to 2026 only, and a clock the test moves."""
    with demo_app.app_context():
        db = session()
        db.execute(sa.delete(CalendarDay).where(CalendarDay.day >= D(2027, 1, 1)))
        db.execute(sa.delete(CalendarYear).where(CalendarYear.year >= 2027))
        db.commit()
        forget()
    tick = Clock(utc(2026, 12, 28))
    demo_app.config["CLOCK"] = tick
    return tick


def _case(app, case_no: str) -> Case:
    with app.app_context():
        row = session().scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        session().expunge(row)
        return row


def _apply(app) -> str:
    form = sample_form("house-initial", certificates=5)
    return Api(app.test_client()).apply("house-initial", form)["case_no"]


def _marks(html: str, block_id: str) -> int:
    """How many provisional marks the element with this id holds (up to its closing tag)."""
    found = re.search(rf'id="{block_id}"[^>]*>(.*?)</(dd|span)>', html, re.S)
    assert found, block_id
    return found.group(1).count("data-provisional")


def _add_2027(app, holidays, workdays=()) -> None:
    from app.calendar.admin import add_year
    from app.org.models import User

    with app.app_context():
        admin = session().scalars(sa.select(User).where(User.username == "admin")).one()
        add_year(admin, 2027, "测试用通知", holidays=list(holidays), workdays=list(workdays))


def test_a_case_into_2027_is_due_after_new_year_and_marked_until_2027_is_added(demo_app, clock):
    # accepted Mon 28 Dec 2026 10:00; promised 7 working days: 29, 30, 31 Dec (1-3); Fri 1
    # Jan 元旦 and the weekend off; Mon 4 (4), 5 (5), 6 (6), Thu 7 Jan (7)
    case_no = _apply(demo_app)
    case = _case(demo_app, case_no)
    assert case.promised_days == 7
    assert local(case.due_at) == dt.datetime(2027, 1, 7, 17)
    # statutory 30 working days (不动产登记暂行条例 art. 20): 29-31 Dec (1-3), 4-8 Jan (4-8),
    # 11-15 (9-13), 18-22 (14-18), 25-29 (19-23), 1-4 Feb (24-27); the fallback's 春节: Fri
    # 5 Feb 除夕, Sat 6-Mon 8 初一-初三, Tue 9 and Wed 10 made up; Thu 11 (28), Fri 12 (29),
    # Mon 15 Feb (30)
    assert local(case.statutory_due_at) == dt.datetime(2027, 2, 15, 17)
    assert case.due_provisional
    # the 2027 notice as the test has it: 元旦 1-3 Jan, nothing else in January
    _add_2027(demo_app, [(D(2027, 1, n), "元旦") for n in (1, 2, 3)])
    case = _case(demo_app, case_no)
    assert not case.due_provisional
    assert local(case.due_at) == dt.datetime(2027, 1, 7, 17)
    events = Api(demo_app.test_client()).call("GET", f"/cases/{case_no}/events",
                                              users_with_role("auditor")[0])["events"]  # fmt: skip
    assert [e["type"] for e in events].count("due_dates_recomputed") == 1


def test_adding_2027_recomputes_a_date_the_fallback_had_guessed(demo_app, clock):
    # accepted Wed 3 Feb 2027 10:00, 7 working days by the fallback: Thu 4 Feb (1); 5-10 Feb
    # 春节 and its made-up days; Thu 11 (2), Fri 12 (3), Mon 15 (4), Tue 16 (5), Wed 17 (6),
    # Thu 18 Feb (7)
    clock.now = utc(2027, 2, 3)
    case_no = _apply(demo_app)
    case = _case(demo_app, case_no)
    assert (local(case.due_at), case.due_provisional) == (dt.datetime(2027, 2, 18, 17), True)
    # a notice (made up for the test) giving 5-13 Feb off and Sat 20 Feb as a working day:
    # Thu 4 (1); Mon 15 (2), 16 (3), 17 (4), 18 (5), Fri 19 (6), Sat 20 (7)
    _add_2027(demo_app, [(D(2027, 2, n), "春节") for n in range(5, 14)],
              [(D(2027, 2, 20), "春节调休")])  # fmt: skip
    case = _case(demo_app, case_no)
    assert (local(case.due_at), case.due_provisional) == (dt.datetime(2027, 2, 20, 17), False)


def _pages(app, case_no: str) -> dict[str, str]:
    """The case page (a clerk), its first open task's page, the transfer card, the progress
    query, and the API's case and card."""
    case = _case(app, case_no)
    clerk = Web(app, users_with_role("clerk")[0])
    api = Api(app.test_client())
    body = api.case(case_no)
    task = body["open_tasks"][0]
    holder = Web(app, "admin")
    public = Web(app)
    track = public.post("/track", {"case_no": case_no, "code": case.query_code}, expect=200)
    return {
        "case": clerk.get(f"/cases/{case_no}").text,
        "task": holder.get(f"/tasks/{task['id']}").text,
        "card": clerk.get(f"/cases/{case_no}/card").text,
        "track": track.text,
        "api": body,
        "api_card": api.call("GET", f"/cases/{case_no}/card", users_with_role("auditor")[0]),
    }


def test_the_mark_shows_on_the_case_page_the_task_the_progress_query_and_the_api(demo_app, clock):
    # a 7-day case accepted Mon 28 Dec 2026 runs into 2027 (due Thu 7 Jan, statutory 15 Feb)
    case_no = _apply(demo_app)
    pages = _pages(demo_app, case_no)
    html = pages["case"]
    assert "2027-01-07 17:00" in html and "2027-02-15 17:00" in html
    assert html.count("data-provisional") == 2  # the promised and the statutory date
    assert "the date may change" in html and ">provisional<" in html
    # the transfer card: both case dates marked, the first stage (due 31 Dec 2026) not
    assert _marks(pages["card"], "card-due") == 1
    assert _marks(pages["card"], "card-statutory") == 1
    assert pages["card"].count("data-provisional") == 2
    assert pages["api_card"]["due_provisional"] is True
    assert pages["api_card"]["stages"][0]["due_provisional"] is False
    assert _marks(pages["track"], "progress-due") == 1
    assert "2027-01-07 17:00" in pages["track"]
    assert pages["api"]["due_provisional"] is True
    # the first stage (3 working days from 28 Dec) ends on Thu 31 Dec 2026: certain
    task = pages["api"]["open_tasks"][0]
    assert task["due_provisional"] is False
    assert 'id="task-due"' in pages["task"]
    assert _marks(pages["task"], "task-due") == 0
    assert pages["task"].count("data-provisional") == 2  # the case summary's two dates


def test_a_promised_date_in_2026_with_a_statutory_date_in_2027_marks_only_the_latter(
    demo_app, clock
):
    # accepted Fri 18 Dec 2026: promised 7 working days: 21-25 Dec (1-5), 28 (6), Tue 29
    # (7): certain; statutory 30: 30, 31 Dec (8, 9), 4-8 Jan (10-14), 11-15 (15-19), 18-22
    # (20-24), 25-29 (25-29), Mon 1 Feb 2027 (30): provisional
    clock.now = utc(2026, 12, 18)
    case_no = _apply(demo_app)
    case = _case(demo_app, case_no)
    assert local(case.due_at) == dt.datetime(2026, 12, 29, 17)
    assert local(case.statutory_due_at) == dt.datetime(2027, 2, 1, 17)
    assert case.due_provisional
    pages = _pages(demo_app, case_no)
    assert pages["case"].count("data-provisional") == 1
    assert re.search(r"2027-02-01 17:00 <span class=\"tag provisional\"", pages["case"])
    assert _marks(pages["track"], "progress-due") == 0  # the applicant sees the promised date


def test_no_mark_for_a_case_whose_dates_are_all_in_known_years(demo_app, clock):
    # accepted Tue 3 Nov 2026: promised 7 working days end Thu 12 Nov, statutory 30 end
    # Tue 15 Dec (4-6 Nov, 9-13, 16-20, 23-27, 30 Nov-4 Dec, 7-11, 14, 15): all in 2026
    clock.now = utc(2026, 11, 3)
    case_no = _apply(demo_app)
    pages = _pages(demo_app, case_no)
    for name in ("case", "task", "card", "track"):
        assert "data-provisional" not in pages[name], name
    assert pages["api"]["due_provisional"] is False
    assert pages["api_card"]["due_provisional"] is False
    assert all(t["due_provisional"] is False for t in pages["api"]["open_tasks"])


def test_the_chinese_page_says_zan_ding(demo_app, clock):
    case_no = _apply(demo_app)
    html = Web(demo_app, users_with_role("clerk")[0], lang="zh").get(f"/cases/{case_no}").text
    assert ">暂定<" in html


def test_the_admin_calendar_page_lists_the_fallback_days_of_2027(demo_app, clock):
    html = Web(demo_app, "admin").get("/admin/calendar").text
    section = html[html.index('id="fallback-2027"') :]
    assert 'data-day="2027-02-05"' in section and "春节" in section
    assert 'data-day="2027-10-04"' in section and "国庆节（补假）" in section
    assert 'data-day="2027-01-04"' not in section  # a plain working day


def test_the_applicants_own_application_page_marks_a_provisional_date(demo_app, clock):
    import io

    # an immediate item (即办件, 0 working days) applied for online and accepted on Mon 4 Jan
    # 2027 at 10:00 (a working day by the fallback) is due that day at 17:00: provisional
    clock.now = utc(2027, 1, 4)
    he = Web(demo_app, "applicant_he")
    form = {"a_certificate_no": "示房权证第0012345号", "a_house_address": "示范市东路 8 号",
            "a_cancel_reason": "房屋灭失"}  # fmt: skip
    number = he.post("/apply/house-cancellation", form).headers["Location"].rsplit("/", 1)[-1]
    for material in ("application", "identity", "certificate", "cancel_proof"):
        he.post(f"/my/applications/{number}/upload",
                {"material": material, "file": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), "a.pdf")},
                content_type="multipart/form-data")  # fmt: skip
    he.post(f"/my/applications/{number}/submit", {"confirm_missing": "1"})
    Web(demo_app, users_with_role("clerk")[0]).post(f"/window/online/{number}/accept")
    page = he.get(f"/my/applications/{number}").text
    assert "2027-01-04 17:00" in page
    assert _marks(page, "case-due") == 1
