"""The demo's past (app/demo_history.py, `flask load-demo-history`, run by `make run`):
weeks of cases worked through the services on a moving clock fill supervision, the cards,
the statistics and the heat map at once, with every case's audit chain intact; a second
load adds nothing and OW_DEMO_HISTORY=0 loads none. And the quiet server log: no
APScheduler chatter, no development-key warning at every process start."""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from lxml import html as lxml_html

from app import create_app
from app.audit.models import Event
from app.audit.services import verify_chain
from app.cases.models import OPEN_CASE_STATUSES, Case, Task
from app.catalogue.models import Item
from app.db import session
from app.org.models import Post, User
from app.supervision.models import WarningCard
from config import BASE_DIR, TestConfig

SHANGHAI = ZoneInfo("Asia/Shanghai")
# the history ends on Friday 2026-12-04, 17:30 in the centre (09:30 UTC); six weeks back
# from that Friday's week is Monday 2026-10-19, so November is a whole month
END = dt.datetime(2026, 12, 4, 9, 30)
WEEKS = "6"


def _load(app, *args: str) -> str:
    """Run `flask load-demo-history` as make run does, at END; return what it printed."""
    app.config["CLOCK"] = lambda: END
    result = app.test_cli_runner().invoke(args=["load-demo-history", "--weeks", WEEKS, *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _user(username: str) -> User:
    return session().scalars(sa.select(User).where(User.username == username)).one()


def _login(app, username: str):
    from tests.webclient import Web

    return Web(app, username)


def _section_table(doc, heading: str):
    """The table right after a heading of the page, or None."""
    found = doc.xpath(f"//h2[normalize-space(.)='{heading}']/following-sibling::*[1]")
    return found[0] if found and found[0].tag == "table" else None


def test_supervision_shows_open_cards_and_the_overdue_cases_at_once(demo_app):
    out = _load(demo_app)
    assert out.startswith("history since 2026-10-19:"), out
    page = _login(demo_app, "supervisor_wu").get("/supervision")
    doc = lxml_html.fromstring(page.text)
    cards = _section_table(doc, "Open cards by department and item")
    assert cards is not None, "no open cards shown"
    shown = [(tr[2].text_content().strip(), int(tr[3].text_content()))
             for tr in cards.xpath("tbody/tr")]  # fmt: skip
    levels = {level for level, _count in shown}
    assert levels == {"red card", "yellow card"}, shown
    overdue = _section_table(doc, "Overdue cases")
    assert overdue is not None, "no overdue case shown"
    listed = {tr[0].text_content().strip() for tr in overdue.xpath("tbody/tr")}
    with demo_app.app_context():
        db = session()
        open_cards = db.scalar(sa.select(sa.func.count()).select_from(WarningCard)
                               .where(WarningCard.closed_at.is_(None)))  # fmt: skip
        running = sa.and_(Case.status.in_(OPEN_CASE_STATUSES), Case.paused_at.is_(None))
        late = set(db.scalars(sa.select(Case.case_no).where(running, Case.due_at < END)))
        # the case no one works, received 12 working days before END: Wednesday 2026-11-18
        # at the day's first moment, 09:10 in the centre (01:10 UTC)
        # (another case drawn at that moment may be open too: the stalled one is the case
        # whose tasks no official has completed)
        worked = sa.exists().where(Task.case_id == Case.id, Task.state == "completed",
                                   Task.stage != "acceptance")  # fmt: skip
        [stalled] = db.scalars(sa.select(Case).join(Item).where(
            Case.received_at == dt.datetime(2026, 11, 18, 1, 10), Item.code == "house-initial",
            Case.status.in_(OPEN_CASE_STATUSES), ~worked)).all()  # fmt: skip
    assert sum(count for _level, count in shown) == open_cards
    assert listed == late and stalled.case_no in listed
    # where the time went: late cases with the stages that overran
    assert _section_table(doc, "Where the time went") is not None


def test_statistics_show_last_months_figures_and_the_heat_map_has_data(demo_app):
    _load(demo_app)
    web = _login(demo_app, "supervisor_wu")
    page = web.get("/stats?period=2026-11&grouping=total")
    doc = lxml_html.fromstring(page.text)
    row = {td.get("data-k"): td.text_content().strip()
           for td in doc.xpath("//table[@id='register']/tbody/tr[1]/td[@data-k]")}  # fmt: skip
    with demo_app.app_context():
        db = session()
        since = dt.datetime(2026, 11, 1, tzinfo=SHANGHAI).astimezone(dt.UTC).replace(tzinfo=None)
        until = dt.datetime(2026, 12, 1, tzinfo=SHANGHAI).astimezone(dt.UTC).replace(tzinfo=None)
        received = db.scalar(sa.select(sa.func.count()).select_from(Case).where(
            Case.received_at >= since, Case.received_at < until))  # fmt: skip
    assert received > 40  # about three and a half a working day over 21 working days
    assert int(row["received"]) == received
    assert int(row["completed"]) > 0 and int(row["approved"]) > 0
    # and the public monthly figures, without logging in
    public = lxml_html.fromstring(demo_app.test_client().get("/figures?month=2026-11").text)
    total = public.xpath("//table[@id='public-figures']/tfoot/tr/td[@data-k='received']")[0]
    assert int(total.text_content()) == received
    # the heat map of an item: its stages coloured by how long they took, with figures
    stuck = lxml_html.fromstring(web.get("/analyst/items/house-initial/stuck").text)
    states = {g.get("data-element-id"): g.get("data-state")
              for g in stuck.xpath("//*[local-name()='g'][@data-element-id]")}  # fmt: skip
    assert states["Task_review"].startswith("heat") and "heat5" in states.values(), states
    notes = {g.get("data-note-for") for g in stuck.xpath("//*[local-name()='g'][@data-note-for]")}
    assert {"Task_review", "Task_chief"} <= notes
    waiting = stuck.xpath("//table[@id='stuck']/tbody/tr/td[@data-k='waiting']")
    assert sum(int(td.text_content()) for td in waiting) >= 1  # the stalled case, at least
    # the approval verbs in the demo: planning permits asked the legal section by 加签, and
    # the collective decisions were signed as a 会签 of the bureau's leaders; both counted
    verbs = doc.xpath("//table[@id='verbs']//tr[@data-department='规划科']/td[@data-k]")
    counts = {td.get("data-k"): int(td.text_content()) for td in verbs}
    with demo_app.app_context():
        db = session()
        legal = db.scalar(sa.select(Post.id).where(Post.code == "planning_legal"))
        added = db.scalars(sa.select(Event.data).where(Event.type == "signer_added")).all()
        parts = db.scalars(sa.select(Task.assignee_id).where(
            Task.spec_id == "Task_collective", Task.state == "completed")).all()  # fmt: skip
        leaders = set(db.scalars(sa.select(User.id).where(
            User.username.in_(("head_lin", "deputy_luo", "deputy_xie")))))  # fmt: skip
    assert added and all(a.get("post") == legal for a in added)
    assert parts and set(parts) <= leaders
    assert counts["signers_before"] > 0 and counts["countersigned"] > 0


def test_the_past_is_sealed_in_time_a_second_load_adds_nothing_and_a_b_covered(demo_app):
    _load(demo_app)
    with demo_app.app_context():
        db = session()
        ids = db.scalars(sa.select(Case.id)).all()
        events = db.scalar(sa.select(sa.func.count()).select_from(Event))
        reports = [verify_chain(db, case_id) for case_id in ids]
        assert all(r.ok for r in reports), [r for r in reports if not r.ok][:3]
        assert sum(r.events for r in reports) == events
        # the events happened over the weeks, not at the moment of loading
        first, last = db.execute(sa.select(sa.func.min(Event.at), sa.func.max(Event.at))).one()
        assert first < dt.datetime(2026, 10, 20) and last <= END
        statuses = set(db.scalars(sa.select(Case.status).distinct()))
        assert {"supplement_required", "refused", "in_progress", "decided", "closed",
                "withdrawn"} <= statuses  # fmt: skip
        assert db.scalar(sa.select(sa.func.count()).where(Case.paused_at.is_not(None))) >= 1
        assert db.scalar(sa.select(sa.func.count()).where(Case.extended_days > 0)) >= 1
        # official_shi (A of the environment post) on leave: official_lv (B) acted for him
        shi, lv = _user("official_shi"), _user("official_lv")
        covered = db.scalar(sa.select(sa.func.count()).select_from(Task).where(
            Task.acting_for_id == shi.id, Task.completed_by_id == lv.id))  # fmt: skip
        assert covered >= 1
    assert "already has cases" in _load(demo_app)
    with demo_app.app_context():
        db = session()
        assert db.scalar(sa.select(sa.func.count()).select_from(Case)) == len(ids)
        assert db.scalar(sa.select(sa.func.count()).select_from(Event)) == events


def test_ow_demo_history_0_starts_empty(demo_app):
    demo_app.config["DEMO_HISTORY"] = False
    assert "OW_DEMO_HISTORY=0" in _load(demo_app)
    with demo_app.app_context():
        assert session().scalar(sa.select(sa.func.count()).select_from(Case)) == 0


# --- the quiet log -----------------------------------------------------------------------------


def test_development_keys_are_named_once_by_init_db_not_at_each_start(database_url, caplog):
    caplog.set_level(logging.INFO)
    app = create_app(TestConfig, DATABASE_URL=database_url, BPMN_DIR=BASE_DIR / "bpmn",
                     CHECKPOINT_LOG="")  # fmt: skip
    create_app(TestConfig, DATABASE_URL=database_url, CHECKPOINT_LOG="")
    assert not [r for r in caplog.records if "development key" in r.getMessage()]
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "OW_DATA_KEY, OW_AUDIT_KEY not set" in result.stderr
    app.extensions["ow_engine"].dispose()


def test_apscheduler_keeps_to_warnings_unless_configured(demo_app):
    aps = logging.getLogger("apscheduler")
    try:
        assert aps.getEffectiveLevel() == logging.WARNING
        assert logging.getLogger("onewindow.scheduler").getEffectiveLevel() <= logging.WARNING
        other = create_app(TestConfig, DATABASE_URL=demo_app.config["DATABASE_URL"],
                           CHECKPOINT_LOG="", SCHEDULER_LOG_LEVEL="INFO")  # fmt: skip
        assert aps.getEffectiveLevel() == logging.INFO
        other.extensions["ow_engine"].dispose()
    finally:
        aps.setLevel(logging.WARNING)
