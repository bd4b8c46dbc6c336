"""Every change is an event; editing or removing any stored event is detected."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.audit.models import Event
from app.audit.services import verify_chain
from app.cases.models import Case
from app.db import get_engine, session
from tests.apiclient import Api, sample_form, users_with_role


@pytest.fixture
def decided_case(demo_app, client):
    api = Api(client)
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    api.work(case_no, "Task_review", "approve", "同意")
    api.work(case_no, "Task_issue")
    with demo_app.app_context():
        case_id = session().scalar(sa.select(Case.id).where(Case.case_no == case_no))
    return api, case_no, case_id


def _bypass_append_only(conn) -> None:
    """Play the attacker with database access: switch the append-only guard off."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("DROP TRIGGER events_no_update")
        conn.exec_driver_sql("DROP TRIGGER events_no_delete")
    else:
        conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_append_only")


def test_log_records_every_step_in_order(decided_case):
    api, case_no, _ = decided_case
    events = api.call("GET", f"/cases/{case_no}/events", users_with_role("auditor")[0])["events"]
    types = [e["type"] for e in events]
    # the decision, then its number in the deciding authority's series, in the same step
    assert types[0] == "case_received" and types[-2:] == ["case_decided", "decisions_numbered"]
    assert "case_accepted" in types and types.count("task_completed") == 3
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    for prev, event in zip(events, events[1:], strict=False):
        assert event["prev_hash"] == prev["hash"]
    completed = [e for e in events if e["type"] == "task_completed"]
    assert completed[1]["data"]["comment"] == "同意"


def test_the_database_refuses_updates_and_deletes_of_events(demo_app, decided_case):
    _, _, case_id = decided_case
    with demo_app.app_context():
        engine = get_engine()
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.update(Event).where(Event.case_id == case_id).values(actor="x"))
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.delete(Event).where(Event.case_id == case_id))
        assert verify_chain(session(), case_id).ok


@pytest.mark.parametrize("tamper", ["edit-data", "edit-actor", "delete-middle", "delete-last"])
def test_tampering_is_detected(demo_app, decided_case, tamper):
    _, _, case_id = decided_case
    with demo_app.app_context():
        assert verify_chain(session(), case_id).ok
        with get_engine().begin() as conn:
            _bypass_append_only(conn)
            last = conn.scalar(sa.select(sa.func.max(Event.seq)).where(Event.case_id == case_id))
            target = sa.and_(Event.case_id == case_id, Event.seq == 4)
            if tamper == "edit-data":
                conn.execute(sa.update(Event).where(target).values(data={"forged": True}))
            elif tamper == "edit-actor":
                conn.execute(sa.update(Event).where(target).values(actor="someone_else"))
            elif tamper == "delete-middle":
                conn.execute(sa.delete(Event).where(target))
            else:
                conn.execute(sa.delete(Event).where(Event.case_id == case_id, Event.seq == last))
        session().expire_all()
        report = verify_chain(session(), case_id)
        assert not report.ok
        assert report.first_bad_seq == (last if tamper == "delete-last" else 4)
