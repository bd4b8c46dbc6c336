"""A case's workflow rebuilt from its events when its snapshot is gone (both databases).

The events are the truth of a case's workflow and the stored state only a cache of them
(app/cases/rebuild.py). Each of the four demo items is driven through the API twice, the
same way: a subject case and its twin. Before every step (accepted, each stage, parallel
branches part done, returned, paused, waiting on a timer, decided or denied) the subject's
snapshot is killed — deleted, corrupted, filed under an older serializer, made stale (an
older seq for a later state), or left intact — and its live workflow dropped. The workflow
rebuilt from the events must be the live one: the same ready tasks (ids and specs), data
and waiting timers (ids, nodes, due times). The next step then goes through the API on
both cases (the subject's rebuilds inside the request) and must give the same result. A
log that does not rebuild to the database stops the case in the fault state, visibly.
"""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from app.audit.models import Event
from app.cases import rebuild, store
from app.cases.models import Case, Timer
from app.db import session
from tests.apiclient import Api, sample_form

LEGAL = {"legal_basis": "《中华人民共和国行政许可法》第三十八条第二款"}
AUDITOR = "auditor_sun"
PAUSE = {"kind": "expert_review", "reason": "组织专家评审", "expected_days": 3}
ENGINE_INPUTS = ("case_accepted", "task_completed", "timer_fired")
OLDER_SERIALIZER = "ow0/spiff1.4"

# item -> (form, steps); a step is a task to complete (spec, outcome, comment, data) or a
# window operation ("/pause", body, user)
PATHS = {
    "planning-permit": (
        {"floor_area": 50000},
        [
            ("Task_lead",),
            ("/pause", PAUSE, "clerk_liu"),
            ("/resume", {}, "clerk_liu"),
            ("Task_deputy", "return", "补充日照分析"),
            ("Task_lead",),
            ("Task_deputy",),
            ("Task_collective",),
            ("Task_head", "return", "请分管领导复核容积率"),
            ("Task_deputy",),
            ("Task_collective",),
            ("Task_head",),
            ("Task_issue",),
        ],
    ),
    "joint-investment": (
        {},
        [
            ("Task_ndrc",),
            ("Task_land",),
            ("Task_env", "reject", "项目位于饮用水水源保护区", LEGAL),
            ("Task_construction",),
            ("Task_denial",),
        ],
    ),
    "house-initial": (
        {"certificates": 45},
        [
            ("Task_survey",),
            ("Task_review",),  # waits on its P5D escalation timer until here
            ("Task_chief", "return", "查勘面积与申报不符，请复核"),
            ("Task_survey",),
            ("Task_review",),
            ("Task_chief",),
            ("Task_issue",),
        ],
    ),
    "house-cancellation": ({}, [("Task_review",), ("Task_issue",)]),
}
KILLS = ("deleted", "corrupted", "older-serializer", "stale", "stale-restamped", "intact")


@pytest.fixture
def api(client, demo_app) -> Api:
    demo_app.extensions["ow_runtime"].snapshot_every = 2  # snapshots at many points to kill
    return Api(client)


def _head(case_no: str) -> store.Head:
    row = (
        session()
        .execute(sa.select(Case.id, *store.HEAD_COLUMNS).where(Case.case_no == case_no))
        .one()
    )
    return store.Head.of(row, row.id)


def _view(run) -> tuple:
    """What a rebuilt workflow must have in common with the live one."""
    ready = sorted((str(t.id), t.spec_id) for t in run.ready_tasks())
    timers = sorted((str(t.task_id), t.node_id, t.due_at) for t in run.waiting_timers())
    data = json.loads(json.dumps(run.data, sort_keys=True, default=str))
    return ready, data, timers, run.is_completed, run.result()


def _engine_inputs(case_id: int, upto: int) -> list[int]:
    return list(
        session().scalars(
            sa.select(Event.seq)
            .where(Event.case_id == case_id, Event.type.in_(ENGINE_INPUTS), Event.seq <= upto)
            .order_by(Event.seq)
        )
    )


def _kill(case_id: int, how: str) -> str:
    """Spoil the stored snapshot of a case as `how` says; return what was done."""
    db = session()
    cases = Case.__table__
    row = db.execute(
        sa.select(cases.c.state, cases.c.state_seq, cases.c.event_seq).where(cases.c.id == case_id)
    ).one()
    state, seq = row.state, row.state_seq
    values: dict = {}
    if how == "deleted":
        values = {"state": None, "state_seq": None}
    elif how == "corrupted":
        values = {"state": (state or "{")[: len(state or "{") // 2] + "~garbage",
                  "state_seq": seq if seq is not None else row.event_seq}  # fmt: skip
    elif how == "older-serializer":
        values = {"serializer_version": OLDER_SERIALIZER}
        if state:
            values["state"] = state.replace(
                '"serializer_version": "ow1/', f'"serializer_version": "{OLDER_SERIALIZER}', 1
            )
    elif how.startswith("stale") and state is not None and seq is not None:
        # file the state under the seq before the last engine move it covers
        inputs = _engine_inputs(case_id, seq)
        older = inputs[-1] - 1
        values = {"state_seq": older}
        if how == "stale-restamped":
            values["state"] = re.sub(r'^\{"ow_state_seq":\d+,', f'{{"ow_state_seq":{older},',
                                     state)  # fmt: skip
    if values:
        db.execute(cases.update().where(cases.c.id == case_id).values(**values))
        db.commit()
    return f"{how}: {sorted(values)}"


def _rebuilt_is_live(app, case_no: str, how: str, decision: str | None, known=None) -> tuple:
    """Kill the snapshot, drop the live workflow, rebuild: the same workflow as the live one
    (or as `known`, the live one seen before a window operation that left it alone)."""
    with app.app_context():
        rt = app.extensions["ow_runtime"]
        head = _head(case_no)
        diagram = rt.diagram(session(), head.diagram_version_id)
        live = rt.cache.take_any(head.id, head.version)
        before = known
        if live is not None:  # a window operation (a pause) left it at an older row version
            assert live.seq <= head.event_seq
            before = _view(live.run)
        assert decision is not None or before is not None, "no live workflow"
        _kill(head.id, how)
        run = rebuild.rebuild(session(), diagram, head)
        if decision is None:
            assert _view(run) == before, how
        else:  # a decided case keeps no live workflow: its rebuilt one has ended the same way
            assert (run.is_completed, run.result(), run.ready_tasks()) == (True, decision, [])
        session().rollback()
        return before


def _outcome(api: Api, app, case_no: str) -> tuple:
    """What a user sees of a case, without ids and times."""
    case = api.case(case_no, AUDITOR)
    events = api.call("GET", f"/cases/{case_no}/events", AUDITOR)["events"]
    told = [(e["type"], e["data"].get("spec"), e["data"].get("outcome"), e["data"].get("flows"),
             e["data"].get("decision")) for e in events]  # fmt: skip
    with app.app_context():
        timers = sorted(
            session()
            .execute(
                sa.select(Timer.node_id, Timer.state)
                .join(Case, Case.id == Timer.case_id)
                .where(Case.case_no == case_no)
            )
            .all()
        )
    return (case["status"], case["decision"], sorted(t["spec_id"] for t in case["open_tasks"]),
            told, timers)  # fmt: skip


def _step(api: Api, case_no: str, step: tuple) -> None:
    if step[0].startswith("/"):
        path, body, user = step
        api.call("POST", f"/cases/{case_no}{path}", user, json=body)
    else:
        spec, outcome, comment, data = (*step, *("approve", "", None)[len(step) - 1 :])
        api.work(case_no, spec, outcome, comment, data)


@pytest.mark.parametrize("how", KILLS)
@pytest.mark.parametrize("code", sorted(PATHS))
def test_a_killed_snapshot_is_rebuilt_from_the_events(api, demo_app, code, how):
    form, steps = PATHS[code]
    subject = api.apply(code, sample_form(code, **form))["case_no"]
    twin = api.apply(code, sample_form(code, **form))["case_no"]
    known = None
    for step in steps:
        known = _rebuilt_is_live(demo_app, subject, how, None, known)
        _step(api, subject, step)  # the subject's workflow is rebuilt inside this request
        _step(api, twin, step)
        assert _outcome(api, demo_app, subject) == _outcome(api, demo_app, twin), step
    decision = api.case(subject, AUDITOR)["decision"]
    assert decision == ("denied" if code == "joint-investment" else "approved")
    _rebuilt_is_live(demo_app, subject, how, decision)


def test_the_snapshot_is_stored_every_n_moves_and_at_the_end(api, demo_app):
    demo_app.extensions["ow_runtime"].snapshot_every = 3
    case_no = api.apply("planning-permit", sample_form("planning-permit", floor_area=5000))[
        "case_no"
    ]
    stored = []
    back = ("return", "请复核")
    for step in [("Task_lead",), ("Task_deputy", *back), ("Task_lead",), ("Task_deputy",),
                 ("Task_head", *back), ("Task_deputy",), ("Task_head", *back), ("Task_deputy",),
                 ("Task_head",), ("Task_issue",)]:  # fmt: skip
        _step(api, case_no, step)
        with demo_app.app_context():
            row = (
                session()
                .execute(
                    sa.select(Case.state, Case.state_seq, Case.event_seq).where(
                        Case.case_no == case_no
                    )
                )
                .one()
            )
        stored.append(row.state_seq)
        if row.state_seq is not None:
            assert row.state.startswith(f'{{"ow_state_seq":{row.state_seq},')
    # the start stores none (a rebuild replays the log from its start) and counts as one
    # move; then a snapshot every third move: at the 2nd, 5th and 8th completions; none at
    # the end (the 10th: a workflow that has ended never steps again)
    assert stored[0] is None
    written = [i for i, seq in enumerate(stored) if seq is not None and
               (i == 0 or seq != stored[i - 1])]  # fmt: skip
    assert written == [1, 4, 7] and len(stored) == 10, stored


def _tamper(app, case_no: str, how: str) -> None:
    with app.app_context():
        db = session()
        head = _head(case_no)
        _kill(head.id, "deleted")
        app.extensions["ow_runtime"].cache.clear()
        events = Event.__table__
        conn = db.connection()
        if conn.dialect.name == "sqlite":  # play the attacker: the append-only guard off
            conn.exec_driver_sql("DROP TRIGGER events_no_update")
            conn.exec_driver_sql("DROP TRIGGER events_no_delete")
        else:
            conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_append_only")
        if how == "outcome":  # the deputy's return made an approval
            seq, data = db.execute(
                sa.select(events.c.seq, events.c.data)
                .where(events.c.case_id == head.id, events.c.type == "task_completed")
                .order_by(events.c.seq.desc())
            ).first()
            assert data["spec"] == "Task_deputy" and data["outcome"] == "return"
            data = {**data, "outcome": "approve"}
            db.execute(
                events.update()
                .where(events.c.case_id == head.id, events.c.seq == seq)
                .values(data=data)
            )
        else:  # an event of the log deleted
            seq = db.scalar(
                sa.select(sa.func.max(events.c.seq)).where(
                    events.c.case_id == head.id, events.c.type == "task_created"
                )
            )
            db.execute(events.delete().where(events.c.case_id == head.id, events.c.seq == seq))
        if conn.dialect.name != "sqlite":
            conn.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER events_append_only")
        db.commit()


@pytest.mark.parametrize("how", ["outcome", "deleted-event"])
def test_a_log_that_does_not_rebuild_stops_the_case_visibly(api, demo_app, how):
    case_no = api.apply("planning-permit", sample_form("planning-permit", floor_area=50000))[
        "case_no"
    ]
    api.work(case_no, "Task_lead")
    api.work(case_no, "Task_deputy", "return", "补充日照分析")
    open_before = api.open_tasks(case_no)
    _tamper(demo_app, case_no, how)
    answer = api.work(case_no, "Task_lead", expect=409)
    assert answer["code"] == "rebuild", answer
    case = api.case(case_no, AUDITOR)
    assert case["status"] == "fault" and case["decision"] is None
    assert [t["id"] for t in case["open_tasks"]] == [t["id"] for t in open_before]
    with demo_app.app_context():
        last = (
            session()
            .execute(
                sa.select(Event.type, Event.data)
                .join(Case, Case.id == Event.case_id)
                .where(Case.case_no == case_no)
                .order_by(Event.seq.desc())
            )
            .first()
        )
    assert last.type == "case_faulted" and last.data["code"] == "rebuild"
    assert last.data["step"]["kind"] == "complete"
