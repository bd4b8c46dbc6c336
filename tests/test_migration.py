"""Moving running cases to a new version (issue 22, second part), on both databases: planning
permits open at each stage are moved to a version with a renamed (Task_deputy → Task_vice),
an added (Task_legal) and a removed (Task_collective) stage, with a mapping; a plan is made
by an analyst (the dry run), approved by a second person, and each case moves in its own
transaction, keeping its tasks, holders and due dates, its chain verified by re-execution.
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from app.audit.models import Event
from app.cases import moving
from app.cases.models import Case, Task
from app.cases.runtime import runtime
from app.catalogue.migration_plans import READERS
from app.db import session
from tests.apiclient import Api, sample_form
from tests.test_authz import PEOPLE
from tests.variants import PLANNING_MAPPING, planning_v2
from tests.verified import assert_verified
from tests.webclient import Web

ITEM = "planning-permit"
ANALYST, HEAD, OTHER_LEADER = "analyst_zhou", "head_lin", "deputy_qin"
STAGES = ["Task_lead", "Task_deputy", "Task_collective", "Task_head", "Task_issue"]
NEXT = {  # the stage each case is at after the move, and the stages it then goes through
    "Task_lead": ["Task_lead", "Task_legal", "Task_vice", "Task_head", "Task_issue"],
    "Task_deputy": ["Task_vice", "Task_head", "Task_issue"],
    "Task_collective": ["Task_head", "Task_issue"],
    "Task_head": ["Task_head", "Task_issue"],
    "Task_issue": ["Task_issue"],
}


def _case_at(api: Api, stage: str) -> str:
    case_no = api.apply(ITEM, sample_form(ITEM, floor_area=30000))["case_no"]
    while (spec := api.open_tasks(case_no)[0]["spec_id"]) != stage:
        api.work(case_no, spec)
    if stage == "Task_collective":  # 会签: one of the three leaders has signed, two have not
        first = api.open_tasks(case_no)[0]
        api.call("POST", f"/tasks/{first['id']}/complete", first["assignee"],
                 json={"outcome": "approve", "comment": "同意", "data": {}})  # fmt: skip
    return case_no


def _deploy_v2(api: Api) -> None:
    resp = api.client.put(
        f"/api/v1/items/{ITEM}/draft", data=planning_v2(),
        headers={"Authorization": f"Bearer {api.token(ANALYST)}",
                 "Content-Type": "application/xml"},
    )  # fmt: skip
    assert resp.status_code == 200 and resp.get_json()["errors"] == 0, resp.get_json()
    deployed = api.call("POST", f"/items/{ITEM}/deploy", ANALYST, 201,
                        json={"comment": "副局长审批改名、增加法制审核、取消集体研究"})  # fmt: skip
    assert deployed["version"] == 2


def _rows(app, case_no: str) -> list[Task]:
    with app.app_context():
        db = session()
        case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
        rows = list(db.scalars(sa.select(Task).where(Task.case_id == case_id)
                               .order_by(Task.created_at, Task.spec_id)))  # fmt: skip
        for row in rows:
            db.expunge(row)
        return rows


def _open(rows: list[Task]) -> list[Task]:
    return [t for t in rows if t.state == "open"]


def _signature(rows: list[Task]) -> list[tuple]:
    return [(t.id, t.spec_id, t.state, t.assignee_id, t.created_at, t.due_at) for t in rows]


def _work_to_end(api: Api, case_no: str) -> list[str]:
    done = []
    while tasks := api.open_tasks(case_no):
        done.append(tasks[0]["spec_id"])
        api.work(case_no, tasks[0]["spec_id"])
    return done


# One scenario from the analyst's plan to the end of every moved case, so that what the plan
# promised is checked against what the move wrote and what the cases then did.
def test_cases_at_each_open_stage_move_and_go_on_along_the_new_version(demo_app):
    api = Api(demo_app.test_client())
    cases = {stage: _case_at(api, stage) for stage in STAGES}
    _rows_before = {stage: _rows(demo_app, no) for stage, no in cases.items()}
    before = {stage: _open(rows) for stage, rows in _rows_before.items()}
    _deploy_v2(api)

    # without a mapping, the cases at the renamed and the removed stage cannot move: why
    bare = api.call("POST", f"/items/{ITEM}/migrations", ANALYST, 201,
                    json={"target": 2})  # fmt: skip
    assert bare["source"] == 1 and bare["status"] == "planned"
    lines = {c["case_no"]: c for c in bare["cases"]}
    assert set(lines) == set(cases.values())
    for stage in ("Task_deputy", "Task_collective"):
        line = lines[cases[stage]]
        assert not line["movable"] and f"`{stage}`" in line["reasons"][0]
    assert all(lines[cases[s]]["movable"] for s in ("Task_lead", "Task_head", "Task_issue"))
    api.call("POST", f"/migrations/{bare['plan']}/decline", HEAD, json={"reason": "缺映射"})

    plan = api.call("POST", f"/items/{ITEM}/migrations", ANALYST, 201,
                    json={"target": 2, "source": 1, "mapping": PLANNING_MAPPING})  # fmt: skip
    assert plan["summary"] == {"cases": 5, "movable": 5, "refused": 0, "moved": 0, "stayed": 0,
                               "done": 0}  # fmt: skip
    lines = {c["case_no"]: c for c in plan["cases"]}
    deputy = lines[cases["Task_deputy"]]["moves"]
    assert [(m["source"], m["target"], m["kept"]) for m in deputy] == [
        ("Task_deputy", "Task_vice", True)]  # renamed, same post: the task row stays
    collective = lines[cases["Task_collective"]]["moves"]
    assert [(m["source"], m["target"], m["kept"], m["post"]) for m in collective] == [
        ("Task_collective", "Task_head", False, "planning_head")]  # another post: a new task
    assert len(collective[0]["instances"]) == 2  # the 会签 moves whole: its two open parts
    # the dry run wrote nothing
    assert {s: _signature(_rows(demo_app, no)) for s, no in cases.items()} == {
        s: _signature(_rows_before[s]) for s in cases}

    # the one who planned, an analyst, a leader of another authority: none approves
    api.call("POST", f"/migrations/{plan['plan']}/approve", ANALYST, 403)
    api.call("POST", f"/migrations/{plan['plan']}/approve", OTHER_LEADER, 403)
    from app.catalogue.migration_plans import approve
    from app.org.models import User

    with demo_app.test_request_context():
        head = session().scalars(sa.select(User).where(User.username == HEAD)).one()
        done = approve(head, plan["plan"], wait=True)
        assert done.status == "done"
    shown = api.call("GET", f"/migrations/{plan['plan']}", "supervisor_wu")
    assert shown["summary"]["moved"] == 5 and shown["decided_by"]

    for stage, case_no in cases.items():
        case = api.case(case_no)
        assert case["diagram_version"] == 2
        rows = _rows(demo_app, case_no)
        [now] = _open(rows)
        assert now.spec_id == NEXT[stage][0]
        if stage == "Task_collective":  # the removed 会签 stage: its two open parts closed (the
            # signed one stays signed), one new task opened for the head's post
            parts = before[stage]
            assert len(parts) == 2
            by_id = {r.id: r for r in rows}
            assert all(by_id[p.id].state == "cancelled" for p in parts)
            assert [r.state for r in rows if r.spec_id == stage].count("completed") == 1
            assert now.id not in {p.id for p in parts}
            assert now.post_id != parts[0].post_id and now.assignee_id and now.due_at
        else:  # kept: the same row, holder, arrival and due date
            [old] = before[stage]
            assert (now.id, now.assignee_id, now.created_at, now.due_at) == (
                old.id, old.assignee_id, old.created_at, old.due_at)
        if stage == "Task_deputy":  # the target's outcomes for the renamed stage
            assert (old.outcomes, now.outcomes) == ("approve,return,reject", "approve,reject")
        assert_verified(demo_app, case_no)
    # the auditor's replay draws the version the case ran on at each step; the history says
    auditor, deputy_case = Web(demo_app, "auditor_sun"), cases["Task_deputy"]
    events = api.call("GET", f"/cases/{deputy_case}/events", "auditor_sun")["events"]
    at = next(i for i, e in enumerate(events, 1) if e["type"] == "case_migrated")
    before_move = auditor.get(f"/audit/cases/{deputy_case}/replay?step={at - 1}").text
    after_move = auditor.get(f"/audit/cases/{deputy_case}/replay?step={at}").text
    assert "Task_collective" in before_move and "Task_collective" not in after_move
    assert "Task_vice" in after_move and "Task_vice" not in before_move
    assert "moved to a new version of the procedure" in auditor.get(
        f"/cases/{deputy_case}").text
    with demo_app.app_context():  # the move is on each chain, naming both versions
        db = session()
        moved = db.scalars(sa.select(Event).where(Event.type == "case_migrated")).all()
        assert len(moved) == 5
        assert all(e.data["from_version"] == 1 and e.data["to_version"] == 2
                   and e.data["mapping"] == PLANNING_MAPPING
                   and e.data["plan"] == plan["plan"] for e in moved)  # fmt: skip
        # the next steps rebuild the moved workflows from the events alone (no snapshot,
        # no live workflow): the replay crosses the version change
        db.execute(sa.update(Case).values(state=None, state_seq=None))
        db.commit()
        runtime().cache.clear()

    for stage, case_no in cases.items():
        assert _work_to_end(api, case_no) == NEXT[stage]
        assert api.case(case_no)["decision"] == "approved"
        assert_verified(demo_app, case_no)


def test_a_case_that_cannot_move_stays_with_its_reason(demo_app):
    api = Api(demo_app.test_client())
    stays = _case_at(api, "Task_collective")
    goes = _case_at(api, "Task_deputy")
    _deploy_v2(api)
    plan = api.call("POST", f"/items/{ITEM}/migrations", ANALYST, 201,
                    json={"target": 2, "mapping": {"Task_deputy": "Task_vice"}})  # fmt: skip
    assert plan["summary"]["movable"] == 1 and plan["summary"]["refused"] == 1
    with demo_app.test_request_context():
        from app.catalogue.migration_plans import approve
        from app.org.models import User

        admin = session().scalars(sa.select(User).where(User.username == "admin")).one()
        done = approve(admin, plan["plan"], wait=True)
    results = {r["case_no"]: r for r in done.results}
    assert results[goes]["moved"] and not results[stays]["moved"]
    assert "`Task_collective`" in results[stays]["reasons"][0]
    assert api.case(stays)["diagram_version"] == 1
    assert [t["spec_id"] for t in api.open_tasks(stays)] == ["Task_collective"] * 2
    assert _work_to_end(api, stays) == ["Task_collective", "Task_head", "Task_issue"]
    assert_verified(demo_app, stays)


def test_a_completion_during_the_move_loses_nothing(demo_app, monkeypatch):
    """The official completes the deputy stage after the move read the case and before it
    wrote: the move's version check fails, it is retried on the completed state and moves
    the case from where the completion left it."""
    api = Api(demo_app.test_client())
    case_no = _case_at(api, "Task_deputy")
    _deploy_v2(api)
    write, raced = moving._write, []

    def racing_write(*args, **kwargs):
        if not raced:
            raced.append(True)
            worker = threading.Thread(target=api.work, args=(case_no, "Task_deputy"))
            worker.start()
            worker.join()
        return write(*args, **kwargs)

    monkeypatch.setattr(moving, "_write", racing_write)
    with demo_app.test_request_context():
        db = session()
        from app.org.models import User

        admin = db.scalars(sa.select(User).where(User.username == "admin")).one()
        case = db.scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        v1, v2 = sorted(db.scalars(sa.text("SELECT id FROM diagram_versions dv WHERE item_id = "
                                           ":i ORDER BY version"), {"i": case.item_id}))
        outcome = moving.move_case(admin, case.id, v1, v2, PLANNING_MAPPING, {})
    assert raced and outcome.movable
    # the completion is there, and the move started from where it left the case
    assert [(m["source"], m["target"]) for m in outcome.moves] == [("Task_collective",
                                                                    "Task_head")]
    rows = _rows(demo_app, case_no)
    deputy = [r for r in rows if r.spec_id == "Task_deputy"]
    assert [r.state for r in deputy] == ["completed"] and deputy[0].outcome == "approve"
    assert [r.spec_id for r in _open(rows)] == ["Task_head"]
    assert_verified(demo_app, case_no)
    assert _work_to_end(api, case_no) == ["Task_head", "Task_issue"]
    assert_verified(demo_app, case_no)


def test_who_may_plan_read_and_approve(demo_app):
    """Every person of the authorization matrix against every migration route: the role is
    checked before anything is looked up (403 for a plan or item that does not exist)."""
    api = Api(demo_app.test_client())
    _case_at(api, "Task_lead")
    _deploy_v2(api)
    plan = api.call("POST", f"/items/{ITEM}/migrations", ANALYST, 201, json={"target": 2})
    routes = [("POST", f"/items/{ITEM}/migrations"), ("GET", f"/items/{ITEM}/migrations"),
              ("GET", "/migrations/999999"), ("POST", "/migrations/999999/approve"),
              ("POST", "/migrations/999999/decline")]  # fmt: skip
    for role, user in PEOPLE.items():
        if user is None:
            for method, path in routes:
                assert api.client.open(f"/api/v1{path}", method=method, json={}).status_code == 401
            continue
        planner, reader = role in ("analyst", "admin"), role in READERS
        decider = role in ("leader", "admin")
        api.call("POST", "/items/no-such-item/migrations", user, 404 if planner else 403, json={})
        api.call("GET", "/migrations/999999", user, 404 if reader else 403)
        api.call("GET", f"/migrations/{plan['plan']}", user, 200 if reader else 403)
        api.call("GET", f"/items/{ITEM}/migrations", user, 200 if reader else 403)
        api.call("POST", "/migrations/999999/approve", user, 404 if decider else 403)
        api.call("POST", "/migrations/999999/decline", user, 404 if decider else 403,
                 json={"reason": "x"})  # fmt: skip
        if role == "leader":  # a leader, but not of the planning bureau
            api.call("POST", f"/migrations/{plan['plan']}/approve", user, 403)
    bad = api.call("POST", f"/items/{ITEM}/migrations", ANALYST, 400,
                   json={"target": 2, "mapping": {"Task_nowhere": "Task_head"}})  # fmt: skip
    assert "`Task_nowhere`" in bad["message"]
    for target in (9, True, 1.5, "two", None):
        api.call("POST", f"/items/{ITEM}/migrations", ANALYST, 400, json={"target": target})
    api.call("POST", f"/migrations/{plan['plan']}/decline", HEAD, 400, json={"reason": " "})
    declined = api.call("POST", f"/migrations/{plan['plan']}/decline", HEAD,
                        json={"reason": "再议"})  # fmt: skip
    assert declined["status"] == "declined" and declined["decline_reason"] == "再议"
    api.call("POST", f"/migrations/{plan['plan']}/approve", "admin", 409)


def test_the_pages_plan_approve_and_show_the_outcome(demo_app):
    """The analyst works out a plan on the page (a bad mapping line is named and the form
    kept), the bureau's head approves it on the plan page, the page shows each case moved."""
    api = Api(demo_app.test_client())
    case_no = _case_at(api, "Task_deputy")
    _deploy_v2(api)
    analyst = Web(demo_app, ANALYST)
    page = f"/analyst/items/{ITEM}/migrations"
    analyst.get(page)
    bad = analyst.post(page, {"source": "1", "target": "2", "mapping": "Task_deputy Task_vice"},
                       expect=200)  # fmt: skip
    assert "line 1" in bad.text and "Task_deputy Task_vice" in bad.text  # the input kept
    made = analyst.post(page, {"source": "1", "target": "2",
                               "mapping": "Task_deputy = Task_vice\nTask_collective -> Task_head"})
    plan_page = made.headers["Location"]
    shown = analyst.get(plan_page).text
    assert case_no in shown and "Task_vice" in shown and 'data-ok="yes"' in shown
    assert 'id="plan-decision"' not in shown  # the planner cannot approve
    head = Web(demo_app, HEAD)
    assert plan_page.rsplit("/", 1)[1] in head.get("/migrations").text
    page_html = head.get(plan_page).text
    assert 'id="plan-decision"' in page_html
    head.post(f"{plan_page}/approve", {})  # without the box ticked: nothing happens
    assert api.case(case_no)["diagram_version"] == 1
    head.post(f"{plan_page}/approve", {"confirm": "y"})
    deadline = time.monotonic() + 30
    while "data-status=\"done\"" not in (html := head.get(plan_page).text):
        assert time.monotonic() < deadline, html[:2000]
        time.sleep(0.1)
    assert 'id="plan-outcome"' in html and api.case(case_no)["diagram_version"] == 2
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_vice"]


def test_who_may_open_the_pages(demo_app):
    api = Api(demo_app.test_client())
    _case_at(api, "Task_lead")
    _deploy_v2(api)
    plan = api.call("POST", f"/items/{ITEM}/migrations", ANALYST, 201, json={"target": 2})
    pages = {f"/analyst/items/{ITEM}/what-if": ("analyst", "admin"),
             f"/analyst/items/{ITEM}/migrations": READERS,
             f"/migrations/{plan['plan']}": READERS, "/migrations": ("leader", "admin")}
    for role, user in PEOPLE.items():
        web = Web(demo_app, user)
        for path, allowed in pages.items():
            if user is None:
                assert web.get(path, expect=302).headers["Location"].startswith("/login")
            else:
                web.get(path, expect=200 if role in allowed else 403)
        if user is not None and role not in ("leader", "admin"):
            web.post(f"/migrations/{plan['plan']}/approve", {"confirm": "y"}, expect=403)
            web.post(f"/migrations/{plan['plan']}/decline", {"reason": "x"}, expect=403)
    assert api.call("GET", f"/migrations/{plan['plan']}", HEAD)["status"] == "planned"


def test_two_people_deciding_at_once_cannot_both(demo_app):
    """The decision is a conditional write: a second decider holding the plan as it was read
    before the first decided is told it is decided, and nothing of theirs is written."""
    from app.catalogue import migration_plans
    from app.errors import Conflict
    from app.org.models import User

    api = Api(demo_app.test_client())
    _case_at(api, "Task_lead")
    _deploy_v2(api)
    made = api.call("POST", f"/items/{ITEM}/migrations", ANALYST, 201, json={"target": 2})
    with demo_app.test_request_context():
        db = session()
        users = {u.username: u for u in db.scalars(sa.select(User).where(
            User.username.in_((HEAD, "admin"))))}  # fmt: skip
        seen_by_head = migration_plans._decider(users[HEAD], made["plan"])
        seen_by_admin = migration_plans._decider(users["admin"], made["plan"])
        migration_plans._decide(seen_by_head, users[HEAD], "declined", decline_reason="再议")
        with pytest.raises(Conflict):
            migration_plans._decide(seen_by_admin, users["admin"], "approved")
    shown = api.call("GET", f"/migrations/{made['plan']}", HEAD)
    assert shown["status"] == "declined" and shown["decline_reason"] == "再议"
    assert shown["results"] == []  # nothing moved
    assert api.case(shown["cases"][0]["case_no"])["diagram_version"] == 1


def test_a_case_the_service_refuses_stays_and_the_run_goes_on(demo_app, monkeypatch):
    from app.catalogue import migration_plans
    from app.errors import Conflict
    from app.org.models import User

    api = Api(demo_app.test_client())
    first, second = _case_at(api, "Task_lead"), _case_at(api, "Task_head")
    _deploy_v2(api)
    plan = api.call("POST", f"/items/{ITEM}/migrations", ANALYST, 201, json={"target": 2})
    real = migration_plans.move_case

    def refusing(actor, case_id, *args, **kwargs):
        with demo_app.app_context():
            number = session().scalar(sa.select(Case.case_no).where(Case.id == case_id))
        if number == first:
            raise Conflict("刚被他人改动")
        return real(actor, case_id, *args, **kwargs)

    monkeypatch.setattr(migration_plans, "move_case", refusing)
    with demo_app.test_request_context():
        admin = session().scalars(sa.select(User).where(User.username == "admin")).one()
        done = migration_plans.approve(admin, plan["plan"], wait=True)
    results = {r["case_no"]: r for r in done.results}
    assert done.status == "done"
    assert not results[first]["moved"] and results[first]["reasons"] == ["刚被他人改动"]
    assert results[second]["moved"] and api.case(second)["diagram_version"] == 2
    assert api.case(first)["diagram_version"] == 1
