"""The auditor's checks: tampering found at the first broken event, forged data found by
re-execution, exports that process-mining tools read and that conform to the diagrams."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest
import sqlalchemy as sa

from app.audit import export
from app.audit.keys import keyring
from app.audit.models import AuditView, Event
from app.audit.review import verify_case
from app.audit.services import event_seal
from app.cases.models import Case
from app.db import get_engine, session
from config import BASE_DIR
from tests.apiclient import Api, sample_form
from tests.casegen import generate, item_codes
from tests.test_audit_chain import _bypass_append_only


@pytest.fixture
def finished(demo_app):
    """A decided house-initial case (survey, review, chief, issue) and an untouched twin."""
    api = Api(demo_app.test_client())
    numbers = []
    for _ in range(2):
        case_no = api.apply("house-initial", sample_form("house-initial", certificates=45))[
            "case_no"
        ]
        for spec in ("Task_survey", "Task_review", "Task_chief", "Task_issue"):
            api.work(case_no, spec)
        numbers.append(case_no)
    return numbers


def _check(app, case_no: str):
    with app.app_context():
        db = session()
        case = db.scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        return verify_case(db, case)


def _tamper(app, case_no: str, *statements: str) -> None:
    """Play the attacker with database access: run raw SQL on the case's events."""
    with app.app_context():
        case_id = session().scalar(sa.select(Case.id).where(Case.case_no == case_no))
        with get_engine().begin() as conn:
            _bypass_append_only(conn)
            for sql in statements:
                conn.execute(sa.text(sql), {"case_id": case_id})


@pytest.mark.parametrize(
    "how, sql, first_bad",
    [
        ("delete", "DELETE FROM events WHERE case_id = :case_id AND seq = 9", 9),
        ("edit", "UPDATE events SET actor = 'someone_else' WHERE case_id = :case_id AND seq = 7",
         7),
        ("reorder", None, 5),
    ],
)  # fmt: skip
def test_tampering_names_the_first_broken_event(demo_app, finished, how, sql, first_bad):
    tampered, untouched = finished
    if how == "reorder":  # swap events 5 and 6 (seq is unique per case: through a spare)
        moves = [(5, 1000), (6, 5), (1000, 6)]
        _tamper(demo_app, tampered, *[
            f"UPDATE events SET seq = {b} WHERE case_id = :case_id AND seq = {a}" for a, b in moves
        ])  # fmt: skip
    else:
        _tamper(demo_app, tampered, sql)
    result = _check(demo_app, tampered)
    assert not result.ok and result.chain.first_bad_seq == first_bad, result
    assert _check(demo_app, untouched).ok
    out = demo_app.test_cli_runner().invoke(args=["verify-cases"])
    assert out.exit_code == 1
    assert f"{tampered}: chain broken at event {first_bad}" in out.output
    assert "2 cases verified: 1 intact, 1 not" in out.output


def test_forged_data_with_rewritten_hashes_is_caught_by_re_execution(demo_app):
    """An insider holding the audit key rewrites the chief's approval as a rejection and
    re-seals the chain (no checkpoint was written yet): re-execution still catches it."""
    api = Api(demo_app.test_client())
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    api.work(case_no, "Task_review", "approve", "同意注销")
    api.work(case_no, "Task_issue")
    assert _check(demo_app, case_no).ok
    with demo_app.app_context():
        db = session()
        case = db.scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        events = list(db.scalars(sa.select(Event).where(Event.case_id == case.id)
                                 .order_by(Event.seq)))  # fmt: skip
        forged_seq = next(e.seq for e in events if e.type == "task_completed"
                          and (e.data or {}).get("spec") == "Task_review")  # fmt: skip
        rows, prev, keys = [], None, keyring()
        for e in events:
            data = dict(e.data or {})
            if e.seq == forged_seq:
                data["outcome"] = "reject"
                data["comment"] = "不予注销"
            prev = prev or e.prev_hash
            digest = event_seal(keys, e.key_id, case.case_no, e.seq, e.type, e.actor, e.at,
                                e.task_id, data, prev)  # fmt: skip
            rows.append((e.id, data, prev, digest))
            prev = digest
        case_id = case.id
    with demo_app.app_context(), get_engine().begin() as conn:
        _bypass_append_only(conn)
        events_t = Event.__table__
        for event_id, data, prev_hash, digest in rows:
            conn.execute(events_t.update().where(events_t.c.id == event_id)
                         .values(data=data, prev_hash=prev_hash, hash=digest))  # fmt: skip
        conn.execute(sa.update(Case.__table__).where(Case.__table__.c.id == case_id)
                     .values(last_hash=prev))  # fmt: skip
    result = _check(demo_app, case_no)
    assert result.chain.ok  # the forger re-sealed everything with the stolen key
    assert result.divergence is not None and not result.ok
    # re-executed, the forged rejection takes the gateway to the denial, which the log's
    # record of that very step contradicts: the divergence is reported at that step
    assert result.divergence.seq == forged_seq
    assert result.divergence.expected == ["Gateway_review", "Event_denied"]


COUNTERSIGNED = {"集体研究审批"}  # the planning permit's 会签 stage (a multi-instance task)


def _one_event_per_countersign(cases):
    """pm4py reads a multi-instance task of a BPMN file as one activity: the parts of one pass
    of a 会签 stage (its name completed in a row within a case) are one event to it."""
    before = cases.groupby("case:concept:name")["concept:name"].shift()
    repeated = cases["concept:name"].isin(COUNTERSIGNED) & cases["concept:name"].eq(before)
    return cases[~repeated]


@pytest.mark.filterwarnings("ignore")
def test_pm4py_reads_the_xes_of_1000_cases_and_they_fit_the_diagrams(demo_app, tmp_path):
    import pm4py

    generate(demo_app, 1000, seed=11, finish=0.9)
    with demo_app.app_context():
        db = session()
        ids = export.case_ids(db)
        xes = export.to_xes(export.traces(db, ids))
        csv_text = export.to_csv(export.traces(db, ids))
        completed = db.scalar(sa.select(sa.func.count()).select_from(Event)
                              .where(Event.type == "task_completed"))  # fmt: skip
    assert len(ids) == 1000
    path = tmp_path / "cases.xes"
    path.write_bytes(xes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        log = pm4py.read_xes(str(path))
    assert log["case:concept:name"].nunique() == 1000
    assert len(log) == completed == csv_text.count("\n") - 1
    assert set(log["lifecycle:transition"]) == {"complete"}
    finished_cases = log[log["case:status"].isin(["decided", "refused", "closed"])]
    for code in item_codes():
        net, im, fm = pm4py.convert_to_petri_net(pm4py.read_bpmn(str(BASE_DIR / "bpmn" /
                                                                     f"{code}.bpmn")))  # fmt: skip
        fitness = pm4py.fitness_token_based_replay(
            _one_event_per_countersign(finished_cases[finished_cases["case:item"] == code]),
            net, im, fm,
        )  # fmt: skip
        assert fitness["log_fitness"] == 1.0, (code, fitness)
    # a tampered log does not fit: the first trace's events in reverse order
    first = log["case:concept:name"].iloc[0]
    code = log[log["case:concept:name"] == first]["case:item"].iloc[0]
    one = log[log["case:concept:name"] == first].copy()
    one["time:timestamp"] = list(reversed(one["time:timestamp"].tolist()))
    one = one.sort_values("time:timestamp")
    net, im, fm = pm4py.convert_to_petri_net(pm4py.read_bpmn(str(BASE_DIR / "bpmn" /
                                                                 f"{code}.bpmn")))  # fmt: skip
    if len(one) > 1:
        assert pm4py.fitness_token_based_replay(one, net, im, fm)["log_fitness"] < 1.0


def test_exports_and_views_through_the_pages(demo_app):
    from tests.webclient import Web

    api = Api(demo_app.test_client())
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    auditor = Web(demo_app, "auditor_sun")
    xes = auditor.get("/audit/export.xes").data
    assert b"<trace>" in xes and case_no.encode() in xes
    csv_text = auditor.get("/audit/export.csv?item=house-cancellation").text
    assert csv_text.splitlines()[0].startswith("case_no,item,activity")
    assert case_no in csv_text
    # times in the centre's zone, with its offset (the same instant as the stored UTC)
    stamps = [line.split(",") for line in csv_text.splitlines()[1:] if case_no in line]
    assert stamps and all(any(f.endswith("+08:00") for f in row) for row in stamps)
    assert b"+08:00" in xes
    today = dt.date.today().isoformat()
    assert case_no not in auditor.get(f"/audit/export.csv?until={today}").text
    auditor.get(f"/audit/cases/{case_no}")
    auditor.get(f"/cases/{case_no}")
    api.call("GET", f"/cases/{case_no}/events", "auditor_sun")
    with demo_app.app_context():
        rows = session().execute(sa.select(AuditView.page, AuditView.case_id)).all()
    pages = [p for p, _c in rows]
    assert {"timeline", "export", "case", "api:events"} <= set(pages)
    assert all(c is not None for p, c in rows if p != "export")
    Web(demo_app, "official_zhao").get("/audit/export.xes", expect=403)
