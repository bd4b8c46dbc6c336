"""Analysts' views of a procedure: the dry run of a draft and where cases get stuck.

The heat map's figures are checked against a count made here from the case event log
(task_created, task_completed, task_cancelled, warning_issued) and chinese-calendar
directly, not from the task rows and the work calendar the page uses.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import statistics
from collections import defaultdict
from zoneinfo import ZoneInfo

import chinese_calendar
import sqlalchemy as sa
from lxml import html as lxml_html

from app.audit.models import Event
from app.cases.models import Case
from app.catalogue.models import Item
from app.db import session
from app.supervision import services as supervision
from tests.apiclient import Api, sample_form
from tests.casegen import generate
from tests.test_analysts import _save, _with_precheck
from tests.webclient import Web

JOINT = "joint-investment"
PARALLEL = ("Task_ndrc", "Task_land", "Task_construction", "Task_env")


def _steps(page) -> list[tuple[str, str]]:
    doc = lxml_html.fromstring(page.text)
    return [(li.get("data-step-task"), li.get("data-step-outcome"))
            for li in doc.xpath("//ol[@id='dry-steps']/li[@data-step-task]")]  # fmt: skip


def _ready(page) -> list[str]:
    return [d.get("data-ready") for d in lxml_html.fromstring(page.text).xpath("//*[@data-ready]")]


def _hidden(page, name: str) -> str:
    doc = lxml_html.fromstring(page.text)
    return doc.xpath(f"//form[@id='dryrun']//input[@name='{name}']")[0].get("value")


def _choose(web: Web, page, action: str, fields: dict | None = None, data: str | None = None):
    body = {"source": _hidden(page, "source"), "steps": _hidden(page, "steps"),
            "data": data if data is not None else
            lxml_html.fromstring(page.text).xpath("//textarea[@name='data']")[0].text_content(),
            "action": action, **(fields or {})}  # fmt: skip
    return web.post(f"/analyst/items/{JOINT}/dryrun", body, expect=200)


def test_a_dry_run_follows_the_outcomes_chosen_and_stores_nothing(demo_app):
    web = Web(demo_app, "analyst_zhou")
    with demo_app.app_context():
        before = session().scalar(sa.select(sa.func.count()).select_from(Case))
    page = web.get(f"/analyst/items/{JOINT}/dryrun")
    assert _ready(page) == ["Task_accept"]
    page = _choose(web, page, "choose:Task_accept:approve")
    assert sorted(_ready(page)) == sorted(PARALLEL)  # the parallel fork opened all four
    for spec in PARALLEL:
        field = {
            "ndrc": "ndrc_opinion",
            "land": "land_opinion",
            "construction": "construction_opinion",
            "env": "env_opinion",
        }[spec[5:]]
        outcome = "reject" if spec == "Task_env" else "approve"
        page = _choose(web, page, f"choose:{spec}:{outcome}", {f"f_{spec}_{field}": "意见"})
    # one department said no: the exclusive gateway sends the case to the denial
    assert _ready(page) == ["Task_denial"]
    doc = lxml_html.fromstring(page.text)
    data = json.loads(doc.xpath("//pre")[0].text_content())
    assert data["ndrc_opinion"] == "意见" and data["env_outcome"] == "reject"
    marked = doc.xpath("//*[local-name()='g'][@data-state]")
    states = {g.get("data-element-id"): g.get("data-state") for g in marked}
    assert states["Task_denial"] == "active" and states["Task_env"] == "completed"
    assert states.get("Task_issue") is None
    page = _choose(web, page, "choose:Task_denial:approve", {"f_Task_denial_denial_no": "否-1"})
    assert "dry-end" in page.text
    assert _steps(page)[0] == ("Task_accept", "approve") and len(_steps(page)) == 6
    # undo goes back one choice
    page = _choose(web, page, "undo")
    assert _ready(page) == ["Task_denial"] and len(_steps(page)) == 5
    with demo_app.app_context():
        assert session().scalar(sa.select(sa.func.count()).select_from(Case)) == before


def test_a_dry_run_runs_the_draft_and_reports_bad_input_where_it_is(demo_app):
    api = Api(demo_app.test_client())
    _save(api, _with_precheck("planning_lead"))
    web = Web(demo_app, "analyst_zhou")
    page = web.get("/analyst/items/planning-permit/dryrun")
    assert _hidden(page, "source") == "draft"
    url = "/analyst/items/planning-permit/dryrun"
    body = {"source": "draft", "steps": "[]", "data": json.dumps(sample_form("planning-permit")),
            "action": "choose:Task_accept:approve"}  # fmt: skip
    page = web.post(url, body, expect=200)
    assert _ready(page) == ["Task_precheck"]  # the draft's new stage, not version 1's
    page = web.post(url, {**body, "source": "1"}, expect=200)
    assert _ready(page) == ["Task_lead"]
    bad = web.post(url, {**body, "data": '{"floor_area": 800,'}, expect=200)
    assert "The sample data is not valid" in bad.text and "line 1 column" in bad.text
    wrong = web.post(url, {**body, "steps": '[{"task": "Task_nope", "outcome": "approve"}]'},
                     expect=200)  # fmt: skip
    assert "Task_nope" in wrong.text and "is not waiting for a decision" in wrong.text
    # an outcome the task does not offer
    odd = web.post(url, {**body, "action": "choose:Task_accept:reject"}, expect=200)
    assert "is not allowed here" in odd.text
    # only analysts run it
    Web(demo_app, "official_xiao").post(url, body, expect=403)


class _Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.now = at

    def __call__(self) -> dt.datetime:
        return self.now


def _office_days(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> float:
    """Working time between two UTC times, in 8-hour office days, from chinese-calendar."""
    first = start.replace(tzinfo=dt.UTC).astimezone(zone)
    last = end.replace(tzinfo=dt.UTC).astimezone(zone)
    seconds = 0.0
    day = first.date()
    while day <= last.date():
        if chinese_calendar.is_workday(day):
            lo = max(first, dt.datetime.combine(day, dt.time(9), zone))
            hi = min(last, dt.datetime.combine(day, dt.time(17), zone))
            seconds += max(0.0, (hi - lo).total_seconds())
        day += dt.timedelta(days=1)
    return seconds / (8 * 3600)


def timed_joint_cases(app, count: int, seed: int = 5) -> _Clock:
    """Generate joint-approval cases on a clock that moves before every step, with the
    warning scan run at each step; return the clock (left at the last step)."""
    clock = _Clock(dt.datetime(2025, 3, 3, 1, 0))
    app.config["CLOCK"] = clock

    def advance(rnd):  # mostly hours, sometimes weeks: some stages run late and draw cards
        if rnd.random() < 0.1:
            clock.now += dt.timedelta(days=rnd.randint(3, 16), minutes=rnd.randint(0, 600))
        else:
            clock.now += dt.timedelta(minutes=rnd.randint(10, 900))
        supervision.scan(clock.now)

    generate(app, count, seed=seed, finish=0.8, items=[JOINT], before_step=advance)
    return clock


def test_the_heat_map_of_joint_approval_matches_a_hand_count(demo_app):
    clock = timed_joint_cases(demo_app, 30)
    assert clock.now.year <= 2026  # chinese-calendar knows every day counted

    # the hand count, from the event log
    zone = ZoneInfo(demo_app.config["CENTRE_TIMEZONE"])
    with demo_app.app_context():
        rows = session().execute(
            sa.select(Event.case_id, Event.type, Event.task_id, Event.at, Event.data)
            .join(Case, Case.id == Event.case_id).join(Item, Item.id == Case.item_id)
            .where(Item.code == JOINT).order_by(Event.case_id, Event.seq)
        ).all()  # fmt: skip
    spec_of, created, ended = {}, {}, set()
    passed, waiting = defaultdict(set), defaultdict(int)
    took, yellow, red = defaultdict(list), defaultdict(int), defaultdict(int)
    for case_id, kind, task_id, at, data in rows:
        if kind == "task_created":
            spec_of[task_id], created[task_id] = data["spec"], at
        elif kind == "task_completed":
            ended.add(task_id)
            passed[spec_of[task_id]].add(case_id)
            took[spec_of[task_id]].append(_office_days(created[task_id], at, zone))
        elif kind == "task_cancelled":
            ended.add(task_id)
        elif kind == "warning_issued" and task_id is not None:
            (yellow if data["level"] == "yellow" else red)[spec_of[task_id]] += 1
    for task_id, spec in spec_of.items():
        if task_id not in ended:
            waiting[spec] += 1
    assert sum(waiting.values()) >= 3 and sum(yellow.values()) + sum(red.values()) >= 3

    page = Web(demo_app, "supervisor_wu").get(f"/analyst/items/{JOINT}/stuck")
    doc = lxml_html.fromstring(page.text)
    shown = {tr.get("data-task"): {td.get("data-k"): td.text_content().strip()
                                   for td in tr.xpath("td[@data-k]")}
             for tr in doc.xpath("//table[@id='stuck']/tbody/tr")}  # fmt: skip
    assert set(shown) == {"Task_accept", *PARALLEL, "Task_issue", "Task_denial"}
    for spec, figures in shown.items():
        durations = sorted(took[spec])
        expected = {
            "passed": str(len(passed[spec])),
            "completions": str(len(durations)),
            "waiting": str(waiting[spec]),
            "median": f"{statistics.median(durations):.2f}" if durations else "—",
            "p90": f"{durations[math.ceil(0.9 * len(durations)) - 1]:.2f}" if durations else "—",
            "yellow": str(yellow[spec]),
            "red": str(red[spec]),
        }
        assert figures == expected, spec
    # the heat map: the slowest task (by its 90th percentile) is the hottest, and each
    # task with figures carries them on the diagram
    p90 = {s: sorted(took[s])[math.ceil(0.9 * len(took[s])) - 1] for s in took if took[s]}
    slowest = max(p90, key=p90.get)
    groups = {g.get("data-element-id"): g.get("data-state")
              for g in doc.xpath("//*[local-name()='g'][@data-element-id]")}  # fmt: skip
    assert groups[slowest] == "heat5"
    for spec in p90:
        level = max(1, math.ceil(5 * p90[spec] / p90[slowest]))
        assert groups[spec] == f"heat{level}", spec
    noted = doc.xpath("//*[local-name()='g'][@data-note-for]")
    notes = {g.get("data-note-for"): g.text_content() for g in noted}
    for spec in p90:
        assert re.match(rf"{len(passed[spec])} \| {waiting[spec]} \| ", notes[spec]), notes[spec]


def test_every_deploy_is_listed_with_its_author_time_and_comment(demo_app):
    api = Api(demo_app.test_client())
    _save(api, _with_precheck("planning_lead"))
    api.call("POST", "/items/planning-permit/deploy", "analyst_zhou", 201,
             json={"comment": "受理后增加规划条件预审"})  # fmt: skip
    page = Web(demo_app, "analyst_zhou").get("/analyst")
    doc = lxml_html.fromstring(page.text)
    row = [tr for tr in doc.xpath("//tr") if "planning-permit" in tr.text_content()][0]
    text = row.text_content()
    assert "v2" in text and "v1" in text and "受理后增加规划条件预审" in text
    assert "周婷" in text  # who deployed it
    diff_link = row.xpath(".//a[contains(@href, '/diff?')]")[0].get("href")
    assert "old=1" in diff_link and "new=2" in diff_link
    diff = Web(demo_app, "analyst_zhou").get(diff_link)
    assert 'data-element="Task_precheck"' in diff.text
