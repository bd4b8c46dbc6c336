"""BPMN timers in cases: stored with their due time, fired once by the scheduler on time."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
import sqlalchemy as sa

from app.audit.services import verify_chain
from app.cases.models import Case, Timer
from app.cases.services import fire_timer
from app.catalogue.models import Item
from app.catalogue.services import deploy_version
from app.db import session, utcnow
from app.org.models import Department
from app.scheduler import TimerScheduler
from tests.apiclient import POSTS, Api
from tests.workflows.test_timers import TIMER

DIAGRAM = TIMER.replace(
    'camunda:candidateGroups="review_post"', 'camunda:candidateGroups="housing_review"'
).replace('camunda:candidateGroups="leader_post"', 'camunda:candidateGroups="housing_chief"')


@pytest.fixture
def timer_app(demo_app):
    """Add an item whose procedure waits for a public-notice period (公示期)."""
    with demo_app.app_context():
        db = session()
        department = db.scalars(sa.select(Department)).first()
        item = Item(
            code="notice-test", name="公示期测试事项", kind="promised", department_id=department.id,
            process_id="P", statutory_days=20, promised_days=10,
            entry={"materials": [], "form": [
                {"id": "notice_ends", "label": "公示截止", "type": "string", "required": True}]},
        )  # fmt: skip
        db.add(item)
        db.flush()
        deploy_version(item, DIAGRAM.encode(), "notice.bpmn", None, "test")
        db.commit()
    return demo_app


def _apply(api: Api, due: dt.datetime) -> str:
    return api.apply("notice-test", {"notice_ends": due.isoformat() + "+00:00"}, materials=[])[
        "case_no"
    ]


def _timers(app, case_no: str) -> list[Timer]:
    with app.app_context():
        db = session()
        case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
        return list(db.scalars(sa.select(Timer).where(Timer.case_id == case_id)))


def test_timer_is_stored_and_fires_only_when_due(timer_app, monkeypatch):
    api = Api(timer_app.test_client())
    due = utcnow() + dt.timedelta(hours=2)
    case_no = _apply(api, due)
    [timer] = _timers(timer_app, case_no)
    assert timer.state == "waiting" and timer.node_id == "wait"
    assert abs((timer.due_at - due).total_seconds()) < 1
    assert api.open_tasks(case_no) == []
    with timer_app.app_context():
        assert fire_timer(timer.id) is False  # two hours early
    import SpiffWorkflow.bpmn.specs.event_definitions.timer as timer_module

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.now(tz) + dt.timedelta(hours=3)

    monkeypatch.setattr(timer_module, "datetime", Later)
    monkeypatch.setattr("app.cases.steps.utcnow", lambda: utcnow() + dt.timedelta(hours=3))
    with timer_app.app_context():
        assert fire_timer(timer.id) is True
        assert fire_timer(timer.id) is False  # twice does not fire twice
    [review] = api.open_tasks(case_no)
    assert review["spec_id"] == "review" and review["assignee"] == POSTS["housing_review"]["a"]
    states = {t.node_id: t.state for t in _timers(timer_app, case_no)}
    assert states == {"wait": "fired", "remind": "waiting"}  # the 2-hour reminder now waits
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    assert [e["data"]["node"] for e in events if e["type"] == "timer_fired"] == ["wait"]
    with timer_app.app_context():
        db = session()
        assert verify_chain(db, db.scalar(sa.select(Case.id).where(Case.case_no == case_no))).ok


def test_withdrawal_stops_the_timers(timer_app):
    api = Api(timer_app.test_client())
    case_no = _apply(api, utcnow() + dt.timedelta(days=5))
    api.call("POST", f"/cases/{case_no}/withdraw", "clerk_liu", json={"reason": "申请人撤回"})
    assert [t.state for t in _timers(timer_app, case_no)] == ["done"]


def test_scheduler_wakes_at_the_due_time_without_polling(timer_app):
    api = Api(timer_app.test_client())
    scheduler = TimerScheduler(timer_app)
    timer_app.extensions["ow_scheduler"] = scheduler
    scheduler.start()
    try:
        time.sleep(0.3)  # the first round finds nothing due and sleeps (fallback: 30 s)
        due = utcnow() + dt.timedelta(seconds=1.5)
        case_no = _apply(api, due)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not api.open_tasks(case_no):
            time.sleep(0.05)
        [review] = api.open_tasks(case_no)
        [fired] = [t for t in _timers(timer_app, case_no) if t.node_id == "wait"]
        assert fired.state == "fired"
        lateness = (fired.fired_at - fired.due_at).total_seconds()
        assert 0 <= lateness < 2, lateness
        assert review["spec_id"] == "review"
        assert scheduler.fired == 1
    finally:
        scheduler.shutdown()


def _fire_concurrently(app, schedulers: list[TimerScheduler]) -> None:
    """Run the firing loop of several schedulers at the same moment, past the leader lock (as
    if leadership changed hands while the old leader was still firing)."""
    import threading

    barrier = threading.Barrier(len(schedulers))
    errors: list[BaseException] = []

    def run(scheduler: TimerScheduler) -> None:
        try:
            with app.app_context():
                barrier.wait()
                scheduler._fire_until_none_due()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def _due_burst(api: Api, count: int) -> list[str]:
    due = utcnow() + dt.timedelta(seconds=2)
    numbers = [_apply(api, due + dt.timedelta(milliseconds=i)) for i in range(count)]
    time.sleep(max(0.0, (due - utcnow()).total_seconds()) + 0.3)
    return numbers


def _fired_once(api: Api, app, numbers: list[str]) -> None:
    for case_no in numbers:
        events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
        assert [e["data"]["node"] for e in events if e["type"] == "timer_fired"] == ["wait"]
        [review] = api.open_tasks(case_no)
        assert review["spec_id"] == "review"
    with app.app_context():
        db = session()
        for case_no in numbers:
            case = db.scalars(sa.select(Case).where(Case.case_no == case_no)).one()
            assert case.status != "fault" and verify_chain(db, case.id).ok


def test_two_schedulers_with_several_lanes_fire_each_due_timer_exactly_once(timer_app):
    api = Api(timer_app.test_client())
    timer_app.config["TIMER_WORKERS"] = 3
    timer_app.config["TIMER_BATCH"] = 4  # several batches, each cut into lanes
    due = utcnow() + dt.timedelta(seconds=2)
    numbers = [_apply(api, due) for _ in range(10)]
    time.sleep(max(0.0, (due - utcnow()).total_seconds()) + 0.2)
    engine = timer_app.extensions["ow_engine"]
    commits: list[int] = []

    def count(_conn) -> None:
        commits.append(1)

    sa.event.listen(engine, "commit", count)
    schedulers = [TimerScheduler(timer_app), TimerScheduler(timer_app)]
    try:
        _fire_concurrently(timer_app, schedulers)
    finally:
        sa.event.remove(engine, "commit", count)
        for scheduler in schedulers:
            if scheduler._pool is not None:
                scheduler._pool.shutdown(wait=True)
    assert sum(s.fired for s in schedulers) == len(numbers)
    assert all(s.workers == 3 for s in schedulers)
    for case_no in numbers:
        states = {t.node_id: t.state for t in _timers(timer_app, case_no)}
        assert states == {"wait": "fired", "remind": "waiting"}, (case_no, states)
    _fired_once(api, timer_app, numbers)
    # each firing is its own transaction with one commit; a timer the other scheduler took
    # meanwhile costs at most a commit of nothing
    assert len(numbers) <= len(commits) <= 2 * len(numbers)


def test_a_burst_on_four_lanes_fires_every_due_timer_once(timer_app):
    api = Api(timer_app.test_client())
    timer_app.config["TIMER_WORKERS"] = 4
    numbers = _due_burst(api, 8)
    scheduler = TimerScheduler(timer_app)
    try:
        with timer_app.app_context():
            scheduler._fire_until_none_due()
            from app.cases.timers import due_timers

            assert due_timers(session(), utcnow()) == []
    finally:
        if scheduler._pool is not None:
            scheduler._pool.shutdown(wait=True)
    assert scheduler.fired == len(numbers)
    _fired_once(api, timer_app, numbers)


@pytest.fixture
def lane_processes(timer_app, monkeypatch):
    """A scheduler whose burst goes to two lane processes (small sends, a low threshold)."""
    import app.scheduler as scheduler_module
    import app.timerlanes as lanes_module

    monkeypatch.setattr(scheduler_module, "PROCESS_MIN_GROUPS", 2)
    monkeypatch.setattr(lanes_module, "GROUPS_PER_SEND", 2)
    timer_app.config["TIMER_PROCESSES"] = 2
    scheduler = TimerScheduler(timer_app)
    scheduler.lanes.warm()
    deadline = time.monotonic() + 90
    while not scheduler.lanes.ready() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert scheduler.lanes.ready(), "the lane processes did not start"
    yield scheduler
    scheduler.lanes.shutdown()
    if scheduler._pool is not None:
        scheduler._pool.shutdown(wait=True)


def test_a_burst_on_lane_processes_fires_every_due_timer_once(timer_app, lane_processes):
    api = Api(timer_app.test_client())
    numbers = _due_burst(api, 7)
    pids = set(lane_processes.lanes._pool._processes)
    assert len(pids) == 2 and os.getpid() not in pids  # two other interpreters
    commits: list[int] = []

    def count(_conn) -> None:
        commits.append(1)

    engine = timer_app.extensions["ow_engine"]
    sa.event.listen(engine, "commit", count)
    try:
        with timer_app.app_context():
            lane_processes._fire_until_none_due()
            from app.cases.timers import due_timers

            assert due_timers(session(), utcnow()) == []
    finally:
        sa.event.remove(engine, "commit", count)
    assert lane_processes.fired == len(numbers)
    assert commits == []  # every firing was committed by a lane process, none here
    _fired_once(api, timer_app, numbers)


def test_when_the_lane_processes_die_the_leader_fires_their_timers(timer_app, lane_processes):
    api = Api(timer_app.test_client())
    numbers = _due_burst(api, 5)
    for process in list(lane_processes.lanes._pool._processes.values()):
        process.kill()
        process.join(10)
    with timer_app.app_context():
        lane_processes._fire_until_none_due()
    assert lane_processes.fired == len(numbers)
    assert lane_processes.lanes._pool is None  # given up; the next round starts new ones
    _fired_once(api, timer_app, numbers)
