"""Deemed acceptance (Licensing Law art. 32(1)(4)): an online application that the window
does not tell within five working days what is missing is accepted as of the day its
materials were received, by the system, once; the window can no longer send it back.

The centre works 09:00-17:00 Asia/Shanghai (UTC+8): 17:00 local is 09:00 UTC. The calendar
is the chinese-calendar package's, as the demo seeds it.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import threading

import chinese_calendar
import sqlalchemy as sa

from app.applicants import applications
from app.applicants.models import OnlineApplication
from app.audit.models import Event
from app.audit.review import verify_case
from app.cases.models import Case
from app.db import session
from app.supervision.models import Notification
from tests.webclient import Web

ITEM = "house-cancellation"  # an immediate item (0 promised days), statutory 30 working days
FORM = {"a_certificate_no": "示房权证第0012345号", "a_house_address": "示范市东路 8 号",
        "a_cancel_reason": "房屋灭失"}  # fmt: skip
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ALL = ("application", "identity", "certificate", "cancel_proof")  # its required materials


def utc(local: str) -> dt.datetime:
    """A local (UTC+8) 'YYYY-MM-DD HH:MM' as the naive UTC the database stores."""
    return dt.datetime.fromisoformat(local) - dt.timedelta(hours=8)


def at(demo_app, local: str) -> None:
    moment = utc(local)
    demo_app.config["CLOCK"] = lambda: moment


def hand_in(demo_app, local: str, materials=ALL) -> str:
    """The applicant applies, uploads and hands in at `local` time; return the number."""
    at(demo_app, local)
    he = Web(demo_app, "applicant_he")
    number = he.post(f"/apply/{ITEM}", FORM).headers["Location"].rsplit("/", 1)[-1]
    for code in materials:
        he.post(f"/my/applications/{number}/upload",
                {"material": code, "file": (io.BytesIO(PDF), f"{code}.pdf")},
                content_type="multipart/form-data")  # fmt: skip
    he.post(f"/my/applications/{number}/submit", {"confirm_missing": "1"})
    return number


def scan(demo_app, local: str) -> int:
    """Run the deemed-acceptance scan at `local` time (the app's clock there too)."""
    at(demo_app, local)
    with demo_app.app_context():
        return applications.scan_deemed(utc(local))


def row(demo_app, number: str) -> OnlineApplication:
    with demo_app.app_context():
        found = session().scalars(sa.select(OnlineApplication)
                                  .where(OnlineApplication.number == number)).one()  # fmt: skip
        session().expunge(found)
        return found


def test_a_thursday_application_is_deemed_accepted_after_the_fifth_working_day(demo_app):
    # Handed in Thu 5 Nov 2026 10:00. The day of receipt does not count; the working days
    # after it: Fri 6 (1), Mon 9 (2), Tue 10 (3), Wed 11 (4), Thu 12 Nov (5): deemed accepted
    # at 17:00 on Thu 12 Nov (09:00 UTC), not at the end of Wed 11 Nov (the fourth).
    number = hand_in(demo_app, "2026-11-05 10:00")
    app = row(demo_app, number)
    assert app.review_due_at == dt.datetime(2026, 11, 12, 9, 0)
    # the clerk's list on Mon 9 Nov: deemed accepted on 12 Nov, working days left after
    # today: Tue 10, Wed 11, Thu 12 = 3
    at(demo_app, "2026-11-09 11:00")
    queue = Web(demo_app, "clerk_liu").get("/window/online").text
    assert re.search(rf'data-application="{number}".*?data-on="2026-11-12" data-left="3"',
                     queue, re.S)  # fmt: skip
    assert scan(demo_app, "2026-11-11 17:30") == 0  # after the fourth working day
    assert scan(demo_app, "2026-11-12 16:59") == 0  # the fifth, before its close of office
    assert row(demo_app, number).status == "submitted"
    assert scan(demo_app, "2026-11-12 17:01") == 1
    app = row(demo_app, number)
    assert app.status == "accepted" and app.case_id
    with demo_app.app_context():
        case = session().get(Case, app.case_id)
        # accepted (and received) on Thu 5 Nov 10:00, when the materials came in
        assert case.status == "accepted"
        assert case.accepted_at == case.received_at == dt.datetime(2026, 11, 5, 2, 0)
        # promised 0 days (即办件): close of office on the day of receipt, 5 Nov 17:00;
        # statutory 30 working days (不动产登记暂行条例 art. 20) after 5 Nov: Nov 6, 9-13,
        # 16-20, 23-27, 30, Dec 1-4, 7-11, 14-17 (6: 1, 13: 6, 20: 11, 27: 16, 30: 17,
        # Dec 4: 21, 11: 26, 17: 30) -> Thu 17 Dec 17:00
        assert case.due_at == dt.datetime(2026, 11, 5, 9, 0)
        assert case.statutory_due_at == dt.datetime(2026, 12, 17, 9, 0)
        assert case.applicant_user_id == app.applicant_user_id
        event = session().scalars(sa.select(Event).where(
            Event.case_id == case.id, Event.type == "deemed_accepted")).one()  # fmt: skip
        assert event.actor == "system"
        assert "第三十二条" in event.data["legal_basis"]
        assert event.data["received_at"] == "2026-11-05T02:00:00"
        # its sealed log verifies and re-executes against its diagram like any case's
        assert verify_case(session(), case).ok
        case_no, code = case.case_no, case.query_code
    # the applicant's page and the public progress query say so, with the day
    he = Web(demo_app, "applicant_he", lang="zh")
    page = he.get(f"/my/applications/{number}").text
    assert 'id="deemed-accepted" data-day="2026-11-05"' in page and "依法视为受理" in page
    visitor = Web(demo_app)  # anyone with the case number and query code, in Chinese
    visitor.post("/language", {"lang": "zh", "next": "/track"})
    track = visitor.post("/track", {"case_no": case_no, "code": code}, expect=200)
    assert 'id="progress-deemed" data-day="2026-11-05"' in track.text
    assert "依法视为受理" in track.text and "第三十二条" in track.text
    # the case's log on the window's case page names the event
    case_page = Web(demo_app, "clerk_liu", lang="zh").get(f"/cases/{case_no}").text
    assert "依法视为受理（五个工作日内未一次告知）" in case_page


def test_across_national_day_2026_the_five_days_skip_the_holiday(demo_app):
    # chinese-calendar 2026: 1-7 Oct off (National Day), Sat 10 Oct a make-up working day
    # (as is Sun 20 Sep); 8 Oct is a working day. (Not 1-8 Oct off with 27 Sep worked.)
    assert not any(chinese_calendar.is_workday(dt.date(2026, 10, d)) for d in range(1, 8))
    assert chinese_calendar.is_workday(dt.date(2026, 10, 8))
    assert chinese_calendar.is_workday(dt.date(2026, 10, 10))
    assert not chinese_calendar.is_workday(dt.date(2026, 9, 27))
    # Handed in Mon 28 Sep 10:00: Tue 29 (1), Wed 30 (2), [1-7 Oct off], Thu 8 (3),
    # Fri 9 (4), Sat 10 Oct (5, make-up): deemed accepted at 17:00 on Sat 10 Oct.
    number = hand_in(demo_app, "2026-09-28 10:00")
    assert row(demo_app, number).review_due_at == dt.datetime(2026, 10, 10, 9, 0)
    # on Tue 29 Sep: Wed 30, Thu 8, Fri 9, Sat 10 Oct are left = 4
    at(demo_app, "2026-09-29 09:30")
    queue = Web(demo_app, "clerk_liu").get("/window/online").text
    assert f'data-application="{number}"' in queue
    assert 'data-on="2026-10-10" data-left="4"' in queue
    assert scan(demo_app, "2026-10-09 17:30") == 0
    assert scan(demo_app, "2026-10-10 17:05") == 1
    with demo_app.app_context():
        case = session().get(Case, row(demo_app, number).case_id)
        assert case.accepted_at == dt.datetime(2026, 9, 28, 2, 0)


def test_the_round_twice_or_at_once_accepts_once(demo_app):
    from app.scheduler import TimerScheduler

    # handed in Thu 5 Nov 2026 10:00, deemed accepted after Thu 12 Nov 17:00 (see above);
    # one of the four required materials missing: deemed accepted all the same
    number = hand_in(demo_app, "2026-11-05 10:00", ALL[:3])
    other = hand_in(demo_app, "2026-11-05 10:05")
    # two scans at once (two processes' rounds): each application is accepted by one
    at(demo_app, "2026-11-12 18:00")
    results = []

    def round_in_a_thread():
        with demo_app.app_context():
            results.append(applications.scan_deemed(utc("2026-11-12 18:00")))

    threads = [threading.Thread(target=round_in_a_thread) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 2 and len(results) == 2
    # then the scheduler's warning round, twice: nothing more
    scheduler = TimerScheduler(demo_app)
    try:
        scheduler.warning_round()
        scheduler.warning_round()
    finally:
        scheduler.leader.release()
    with demo_app.app_context():
        for num in (number, other):
            app = session().scalars(sa.select(OnlineApplication)
                                    .where(OnlineApplication.number == num)).one()  # fmt: skip
            assert app.status == "accepted"
            assert session().scalar(sa.select(sa.func.count()).select_from(Event).where(
                Event.case_id == app.case_id, Event.type == "deemed_accepted")) == 1  # fmt: skip
            told = (
                session()
                .scalars(
                    sa.select(Notification.text).where(
                        Notification.kind == "deemed_accepted", Notification.text.contains(num)
                    )
                )
                .all()
            )
            assert len(told) == 1 and "依法视为受理" in told[0] and "2026-11-05" in told[0]
        assert session().scalar(sa.select(sa.func.count()).select_from(Case)) == 2
        missing = session().scalars(sa.select(Event.data).join(Case, Case.id == Event.case_id)
                                    .where(Event.type == "deemed_accepted")).all()  # fmt: skip
        assert sorted(len(d["missing"]) for d in missing) == [0, 1]


def test_after_five_days_the_window_cannot_send_it_back(demo_app):
    # handed in Thu 5 Nov 2026 10:00; at 17:30 on Thu 12 Nov the five working days are over,
    # and no round has run yet
    number = hand_in(demo_app, "2026-11-05 10:00", ALL[:2])
    at(demo_app, "2026-11-12 17:30")
    clerk = Web(demo_app, "clerk_liu")
    page = clerk.get(f"/my/applications/{number}").text
    assert 'id="deemed-due" data-day="2026-11-05"' in page
    assert 'id="pre-review"' not in page  # no form to send it back
    said = ("this application is deemed accepted as of 2026-11-05, the day its materials "
            "were received (Licensing Law art. 32)")  # fmt: skip
    assert said in page
    refused = clerk.post(f"/window/online/{number}/supplements",
                         {"missing": ["certificate"], "note": ""}, expect=409)  # fmt: skip
    assert said in refused.text and "can no longer be sent back" in refused.text
    clerk.post(f"/window/online/{number}/invite", {"note": "带原件"}, expect=409)
    assert row(demo_app, number).status == "submitted"
    # the Chinese catalogue says it too
    zh = Web(demo_app, "clerk_liu", lang="zh")
    text = zh.post(f"/window/online/{number}/supplements", {"missing": ["certificate"]},
                   expect=409).text  # fmt: skip
    assert "视为受理" in text and "2026-11-05" in text and "第三十二条" in text
    # the clerk's acceptance now is the deemed one: dated the day of receipt, by the system
    clerk.post(f"/window/online/{number}/accept")
    with demo_app.app_context():
        case = session().get(Case, row(demo_app, number).case_id)
        assert case.accepted_at == dt.datetime(2026, 11, 5, 2, 0)
        kinds = session().scalars(sa.select(Event.type).where(Event.case_id == case.id)).all()
        assert kinds.count("deemed_accepted") == 1
    assert scan(demo_app, "2026-11-13 09:00") == 0


def test_an_application_sent_back_in_time_is_not_deemed_accepted(demo_app):
    # handed in Thu 5 Nov 2026 10:00; the window asks for the proof on Tue 10 Nov (the third
    # working day), within the five
    number = hand_in(demo_app, "2026-11-05 10:00", ALL[:3])
    at(demo_app, "2026-11-10 10:00")
    clerk = Web(demo_app, "clerk_liu")
    page = clerk.get(f"/my/applications/{number}").text
    # working days after Tue 10 Nov up to Thu 12 Nov: Wed 11, Thu 12 = 2
    assert 'id="deemed-waiting" data-on="2026-11-12" data-left="2"' in page
    clerk.post(f"/window/online/{number}/supplements", {"missing": ["cancel_proof"]})
    assert scan(demo_app, "2026-11-13 10:00") == 0
    assert scan(demo_app, "2026-12-01 10:00") == 0
    app = row(demo_app, number)
    assert app.status == "supplement_required" and app.case_id is None
    with demo_app.app_context():
        assert session().scalar(sa.select(sa.func.count()).select_from(Notification).where(
            Notification.kind == "deemed_accepted")) == 0  # fmt: skip
    # handed in again on Wed 2 Dec 10:00 with the proof: its materials are received anew and
    # the five working days run again: Thu 3 (1), Fri 4 (2), Mon 7 (3), Tue 8 (4), Wed 9 Dec
    # (5) -> deemed accepted after 17:00 on Wed 9 Dec, as of 2 Dec 10:00
    at(demo_app, "2026-12-02 10:00")
    he = Web(demo_app, "applicant_he")
    he.post(f"/my/applications/{number}/upload",
            {"material": "cancel_proof", "file": (io.BytesIO(PDF), "proof.pdf")},
            content_type="multipart/form-data")  # fmt: skip
    he.post(f"/my/applications/{number}/submit", {"confirm_missing": "1"})
    assert row(demo_app, number).review_due_at == dt.datetime(2026, 12, 9, 9, 0)
    assert scan(demo_app, "2026-12-09 16:00") == 0
    assert scan(demo_app, "2026-12-09 17:01") == 1
    with demo_app.app_context():
        case = session().get(Case, row(demo_app, number).case_id)
        assert case.accepted_at == dt.datetime(2026, 12, 2, 2, 0)
