"""What-if on history (issue 22, first part): a diagram run against the recorded history of an
item's decided cases reports, per case, whether it would have gone the same way, the stages
skipped and the office days they took; checked against a count made here from the tasks.
"""

from __future__ import annotations

import datetime as dt
import time

import sqlalchemy as sa

from app.audit.models import Event
from app.calendar.services import calendar
from app.cases.models import Case, Task
from app.catalogue.models import DiagramVersion, Item
from app.catalogue.whatif import what_if
from app.db import session
from tests.apiclient import Api
from tests.casegen import generate
from tests.test_authz import PEOPLE
from tests.test_stats import START, Clock
from tests.variants import bypass
from tests.webclient import Web

ITEM = "planning-permit"
COLLECTIVE = "Task_collective"
ANALYST = "analyst_zhou"  # the collective decision, for a floor area over 20,000 m²


def _history(app) -> tuple[Item, bytes, str]:
    clock = Clock(START)
    app.config["CLOCK"] = clock

    def later(rnd) -> None:
        clock.now += dt.timedelta(hours=rnd.randint(2, 30))

    generate(app, 30, seed=11, items=[ITEM], before_step=later)
    with app.app_context():
        db = session()
        item = db.scalars(sa.select(Item).where(Item.code == ITEM)).one()
        version = db.scalars(sa.select(DiagramVersion).where(DiagramVersion.item_id == item.id)
                             .order_by(DiagramVersion.version.desc()).limit(1)).one()  # fmt: skip
        db.expunge(item)
        return item, version.content.encode(), version.filename


def _by_hand(app) -> dict[str, dict]:
    """Per decided case: its floor area and its collective stages' office days, from the
    tasks as stored."""
    out = {}
    with app.app_context():
        db, cal = session(), calendar()
        cases = db.execute(sa.select(Case.id, Case.case_no, Case.form).join(Item)
                           .where(Item.code == ITEM, Case.decision.is_not(None))).all()  # fmt: skip
        for case_id, case_no, form in cases:
            stages = db.execute(
                sa.select(Task.spec_id, Task.outcome, Task.created_at, Task.completed_at)
                .where(Task.case_id == case_id, Task.state == "completed")
            ).all()  # fmt: skip
            # 会签: the parts opened together are one pass of the stage, open from then until
            # its last part was signed; it ends approved only when every part approved
            passes: dict = {}
            for s in stages:
                if s.spec_id == COLLECTIVE:
                    passes.setdefault(s.created_at, []).append(s)
            collective = [cal.office_time_between(at, max(p.completed_at for p in parts))
                          / cal.office_day for at, parts in sorted(passes.items())]  # fmt: skip
            outcomes = [next((p.outcome for p in parts if p.outcome != "approve"), "approve")
                        for _at, parts in sorted(passes.items())]  # fmt: skip
            out[case_no] = {"area": form["floor_area"], "collective": collective,
                            "outcomes": outcomes,
                            "parts": sum(len(parts) for parts in passes.values()),
                            "last_pass": len(passes[max(passes)]) if passes else 0}  # fmt: skip
    return out


def test_an_unchanged_diagram_reports_every_case_unchanged(demo_app):
    item, content, filename = _history(demo_app)
    with demo_app.app_context():
        report = what_if(item, content, filename)
    by_hand = _by_hand(demo_app)
    assert {c.case_no for c in report.cases} == set(by_hand) and len(by_hand) >= 20
    assert all(c.same and not c.skipped and not c.added for c in report.cases), [
        (c.case_no, c.diverges_at, c.skipped, c.added) for c in report.cases if not c.same
    ]
    assert report.unchanged == len(report.cases) and report.days_saved == 0
    assert report.load_moved() == {}
    assert report.stages_after == report.stages_before
    # the same flows chosen at the gateways, as the events recorded them
    assert report.flows_after == report.flows_before and report.flows_before["Flow_large"] > 0
    assert report.met("promised", True) == report.met("promised", False)


def test_a_draft_that_drops_the_collective_stage_below_50000_reports_who_skips_it(demo_app):
    item, content, filename = _history(demo_app)
    draft = content.replace(b"floor_area &gt; 20000", b"floor_area &gt; 50000")
    assert draft != content
    with demo_app.app_context():
        seen = []
        report = what_if(item, draft, filename, progress=lambda done, total: seen.append(done))
    by_hand = _by_hand(demo_app)
    skipping = {no for no, case in by_hand.items() if case["collective"]}
    assert skipping and all(by_hand[no]["area"] > 20000 for no in skipping)
    assert len(skipping) < len(by_hand)  # some cases never met the stage
    assert any(by_hand[no]["outcomes"] == ["approve"] for no in skipping)
    lines = {c.case_no: c for c in report.cases}
    assert {no for no, c in lines.items() if COLLECTIVE in c.skipped} == skipping
    assert {no for no, c in lines.items() if c.same} == set(by_hand) - skipping
    for no in skipping:
        line, case = lines[no], by_hand[no]
        assert line.diverges_at == COLLECTIVE
        assert line.skipped.count(COLLECTIVE) == case["parts"]
        if case["outcomes"] == ["approve"]:  # nothing else of the case changes
            assert line.skipped == [COLLECTIVE] * case["parts"] and not line.added
            assert abs(line.days_saved - case["collective"][0]) < 0.01
            assert line.result == line.decision
        if case["outcomes"] == ["reject"]:  # denied there; the draft goes on to the head
            assert line.decision == "denied" and line.result == "approved"
            assert line.added == ["Task_head", "Task_issue"] and line.days_added > 0
    saved_here = sum(sum(by_hand[no]["collective"]) for no in skipping)
    assert report.days_saved >= saved_here - 0.01
    assert report.stages_before[COLLECTIVE] - report.stages_after[COLLECTIVE] == sum(
        by_hand[no]["parts"] for no in skipping
    )
    assert report.load_moved()["planning_collective"] == -report.stages_before[COLLECTIVE]
    assert seen == [len(by_hand)]
    # on the flows: the large-project branch is never taken; the head is reached by the
    # small one alone, once per visit
    assert report.flows_before["Flow_large"] > 0 and report.flows_after["Flow_large"] == 0
    assert report.flows_after["Flow_small"] == report.stages_after["Task_head"]
    assert report.flows_after["Flow_small"] > report.flows_before["Flow_small"]


def _until_finished(api, run: int, user: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = api.call("GET", f"/what-if/{run}", user)
        if found["status"] not in ("queued", "running"):
            return found
        time.sleep(0.1)
    raise AssertionError(f"what-if run {run} did not finish")


def test_an_analyst_runs_the_draft_in_the_background_and_reads_the_report(demo_app):
    item, content, filename = _history(demo_app)
    api = Api(demo_app.test_client())
    draft = content.replace(b"floor_area &gt; 20000", b"floor_area &gt; 50000")
    api.client.put(f"/api/v1/items/{ITEM}/draft", data=draft,
                   headers={"Authorization": f"Bearer {api.token(ANALYST)}"})  # fmt: skip
    # who may: analysts and admins, checked before anything is looked up
    for role, user in PEOPLE.items():
        if user is None:
            assert api.client.post(f"/api/v1/items/{ITEM}/what-if", json={}).status_code == 401
            assert api.client.get("/api/v1/what-if/1").status_code == 401
        elif role not in ("analyst", "admin"):
            api.call("POST", "/items/no-such-item/what-if", user, 403, json={})
            api.call("POST", f"/items/{ITEM}/what-if", user, 403, json={})
            api.call("GET", "/what-if/999999", user, 403)
    api.call("POST", "/items/no-such-item/what-if", ANALYST, 404, json={})
    api.call("GET", "/what-if/999999", "admin", 404)
    api.call("POST", f"/items/{ITEM}/what-if", ANALYST, 400, json={"source": "v99"})
    api.call("POST", f"/items/{ITEM}/what-if", ANALYST, 400, json={"since": "yesterday"})
    api.call("POST", f"/items/{ITEM}/what-if", ANALYST, 400, json={"decision": "maybe"})

    started = api.call("POST", f"/items/{ITEM}/what-if", ANALYST, 202, json={"source": "draft"})
    assert started["status"] in ("queued", "running", "done") and started["source"] == "draft"
    finished = _until_finished(api, started["run"], ANALYST)
    assert finished["status"] == "done", finished
    assert finished["done"] == finished["total"] == finished["report"]["summary"]["cases"]
    with demo_app.app_context():
        direct = what_if(item, draft, filename)
    summary = finished["report"]["summary"]
    assert summary["cases"] == len(direct.cases) and summary["unchanged"] == direct.unchanged
    assert summary["changed"] > 0 and summary["days_saved"] == round(direct.days_saved, 2)
    lines = {c["case_no"]: c for c in finished["report"]["cases"]}
    assert {no for no, c in lines.items() if COLLECTIVE in c["skipped"]} == {
        c.case_no for c in direct.cases if COLLECTIVE in c.skipped
    }
    assert finished["report"]["load_moved"]["planning_collective"] < 0
    # the deployed version, only the approved cases: nothing changes
    again = api.call("POST", f"/items/{ITEM}/what-if", "admin", 202,
                     json={"source": 1, "decision": "approved", "since": "2026-01-01"})  # fmt: skip
    same = _until_finished(api, again["run"], ANALYST)["report"]
    assert same["summary"]["changed"] == 0 and same["summary"]["cases"] > 0
    assert all(c["decision"] == "approved" for c in same["cases"])


def test_a_broken_draft_or_a_lost_run_is_shown_failed_and_frees_the_item(demo_app):
    from app.catalogue.whatif_runs import MAX_RUN, WhatIfRun
    from app.db import utcnow

    api = Api(demo_app.test_client())
    headers = {"Authorization": f"Bearer {api.token(ANALYST)}"}
    api.client.put(f"/api/v1/items/{ITEM}/draft", data=b"<not-bpmn/>", headers=headers)
    started = api.call("POST", f"/items/{ITEM}/what-if", ANALYST, 202, json={})
    failed = _until_finished(api, started["run"], ANALYST)
    assert failed["status"] == "failed" and failed["error"] and "report" not in failed
    assert "Traceback" not in failed["error"]
    # a run whose process went away long ago no longer holds the item
    with demo_app.app_context():
        db = session()
        item_id = db.scalar(sa.select(Item.id).where(Item.code == ITEM))
        lost = WhatIfRun(item_id=item_id, source="v1", content="", filename="x.bpmn",
                         requested_by_id=1, status="running",
                         requested_at=utcnow() - MAX_RUN - dt.timedelta(minutes=1))  # fmt: skip
        db.add(lost)
        db.commit()
        lost_id = lost.id
    shown = api.call("GET", f"/what-if/{lost_id}", ANALYST)
    assert shown["status"] == "failed" and "重新发起" in shown["error"]  # zh by default
    again = api.call("POST", f"/items/{ITEM}/what-if", ANALYST, 202, json={"source": "v1"})
    assert _until_finished(api, again["run"], ANALYST)["status"] == "done"


def test_an_outcome_the_draft_no_longer_allows_changes_the_stage_not_its_load(demo_app):
    """A draft without the collective decision's denial: the cases denied there are run with
    an approval instead; the part worked is neither skipped nor added, so it stays on its
    post's load; the 会签's parts the denial cancelled are added (the draft would have needed
    their signatures), and the head's and the window's load grow by the stages that follow."""
    item, content, filename = _history(demo_app)
    text = content.decode()
    at = text.index('<bpmn:userTask id="Task_collective"')
    end = text.index("</bpmn:userTask>", at)
    part = text[at:end].replace('value="approve,return,reject"', 'value="approve,return"')
    draft = (text[:at] + part + text[end:]).encode()
    assert draft != content
    with demo_app.app_context():
        report = what_if(item, draft, filename)
    by_hand = _by_hand(demo_app)
    denied_there = {no for no, case in by_hand.items() if "reject" in case["outcomes"]}
    assert denied_there, "the generated history has no collective denial"
    lines = {c.case_no: c for c in report.cases}
    assert {no for no, c in lines.items() if c.changed} == denied_there
    signers = 3  # the bureau's three leaders sign each pass of the 会签
    for no in denied_there:
        line, case = lines[no], by_hand[no]
        assert line.changed == [COLLECTIVE]
        # the denying pass (the last) gets the signatures its denial cancelled
        assert line.added.count(COLLECTIVE) == signers - case["last_pass"]
        assert line.diverges_at == COLLECTIVE and not line.same
        assert line.decision == "denied" and line.result == "approved"
    cancelled = sum(lines[no].added.count(COLLECTIVE) for no in denied_there)
    assert cancelled > 0
    assert report.stages_after[COLLECTIVE] == report.stages_before[COLLECTIVE] + cancelled
    moved = report.load_moved()
    assert moved.get("planning_collective", 0) == cancelled
    assert moved["planning_head"] == sum(
        lines[no].added.count("Task_head") for no in denied_there
    ) > 0


def test_the_page_runs_a_draft_and_shows_the_table_and_the_diagram(demo_app):
    item, content, filename = _history(demo_app)
    web = Web(demo_app, ANALYST)
    page = f"/analyst/items/{ITEM}/what-if"
    bad = web.post(page, {"source": "v1", "since": "yesterday"}, expect=200)
    assert "must be a date" in bad.text and 'value="yesterday"' in bad.text
    started = web.post(page, {"source": "v1", "decision": "denied"})
    target = started.headers["Location"]
    deadline = time.monotonic() + 60
    while 'data-status="done"' not in (html := web.get(target).text):
        assert 'data-status="failed"' not in html and time.monotonic() < deadline
        time.sleep(0.1)
    by_hand = _by_hand(demo_app)
    with demo_app.app_context():
        denied = set(session().scalars(sa.select(Case.case_no).where(Case.decision == "denied")))
    assert denied and all(f'data-case="{no}"' in html for no in denied)
    assert not any(f'data-case="{no}"' in html for no in set(by_hand) - denied)
    assert "<svg" in html and "Task_collective" in html  # the diagram, with its counts
    changed = web.get(target + "&show=changed").text
    assert 'data-same="yes"' not in changed


# each demo item and the stage a draft drops (the joint approval's verdict no longer reads
# the environment review's outcome)
DROPPED = {"planning-permit": "Task_collective", "house-initial": "Task_survey",
           "house-cancellation": "Task_review", "joint-investment": "Task_env"}  # fmt: skip
PER_ITEM = 200  # "hundreds of cases of each demo item"


def _from_events(app, code: str, dropped: str) -> tuple[dict[str, float], dict[str, float]]:
    """Per decided case of an item that completed `dropped`: the office days it saves
    without it, counted from its events (the time some stage of it was open, less that time
    without the dropped stage's completions), and the dropped stage's own office days."""
    out, own = {}, {}
    with app.app_context():
        db, cal = session(), calendar()
        rows = db.execute(
            sa.select(Case.case_no, Event.type, Event.task_id, Event.at, Event.data)
            .join(Event, Event.case_id == Case.id).join(Item, Item.id == Case.item_id)
            .where(Item.code == code, Case.decision.is_not(None),
                   Event.type.in_(("task_created", "task_completed")))
            .order_by(Event.case_id, Event.seq)
        ).all()  # fmt: skip
        created, spans = {}, {}
        for case_no, kind, task_id, at, data in rows:
            if kind == "task_created":
                created[task_id] = at
            elif task_id in created:
                spans.setdefault(case_no, []).append((data["spec"], created[task_id], at))

        def busy(intervals) -> float:
            total, end = dt.timedelta(0), None
            for start, stop in sorted((a, b) for _, a, b in intervals):
                if end is not None and start < end:
                    start = end
                if stop > start:
                    total += cal.office_time_between(start, stop)
                end = stop if end is None else max(end, stop)
            return total / cal.office_day

        for case_no, done in spans.items():
            if any(spec == dropped for spec, _, _ in done):
                kept = [s for s in done if s[0] != dropped]
                out[case_no] = busy(done) - busy(kept)
                own[case_no] = busy([s for s in done if s[0] == dropped])
    return out, own


def test_a_draft_dropping_a_stage_of_each_demo_item_over_hundreds_of_cases(demo_app):
    clock = Clock(START)
    demo_app.config["CLOCK"] = clock

    def later(rnd) -> None:
        clock.now += dt.timedelta(hours=rnd.randint(1, 20))

    generate(demo_app, PER_ITEM * len(DROPPED), seed=5, items=sorted(DROPPED),
             before_step=later)  # fmt: skip
    for code, dropped in DROPPED.items():
        with demo_app.app_context():
            db = session()
            item = db.scalars(sa.select(Item).where(Item.code == code)).one()
            version = db.scalars(sa.select(DiagramVersion)
                                 .where(DiagramVersion.item_id == item.id)).one()  # fmt: skip
            draft = bypass(version.content.encode(), dropped)
            if code == "joint-investment":
                draft = draft.replace(b", env_outcome)", b")")
            report = what_if(item, draft, version.filename)
        expected, own = _from_events(demo_app, code, dropped)
        lines = {c.case_no: c for c in report.cases}
        assert len(lines) >= 150 and expected, (code, len(lines), len(expected))
        assert {no for no, c in lines.items() if dropped in c.skipped} == set(expected), code
        alone = [no for no in expected if not lines[no].added and not lines[no].changed
                 and set(lines[no].skipped) == {dropped}]  # fmt: skip
        assert alone, code
        if code != "joint-investment":  # in turn: the stage's whole time is saved
            assert any(expected[no] > 0.1 for no in alone), code
        else:  # beside three other reviews: only what the others did not cover, less than
            # the stage's own time
            assert any(expected[no] + 0.1 < own[no] for no in alone), code
        for no in alone:
            assert abs(lines[no].days_saved - expected[no]) < 0.01, (code, no)
        untouched = set(lines) - set(expected)
        assert all(lines[no].same for no in untouched), code
