"""A case that waits for "a reply, or 30 days" (an event-based gateway) times out on time.

The timer behind the gateway is stored with its due time, the scheduler's fire_timer fires it
then (not before), the case takes the timeout branch and the auditor's verification of the
log passes. A diagram whose gateway waits for two timers is refused at deployment, naming the
gateway and its line. Both databases.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from app.audit.review import verify_case
from app.cases.models import Case, Timer
from app.cases.services import fire_timer
from app.catalogue.models import Item
from app.catalogue.services import deploy_version
from app.db import session, utcnow
from app.org.models import Department
from tests import movingclock
from tests.apiclient import POSTS, Api
from tests.movingclock import Clock
from tests.workflows.test_event_gateway_timers import ONE_DAY, reply_or_timeout

ANALYST, AUDITOR = "analyst_zhou", "auditor_sun"


def _diagram(**kw) -> str:
    return reply_or_timeout(**kw).replace(
        'camunda:candidateGroups="review_post"', 'camunda:candidateGroups="housing_review"'
    )


@pytest.fixture
def gateway_app(demo_app, monkeypatch):
    """Add an item whose procedure waits for the applicant's reply or 30 days."""
    movingclock.use(demo_app, monkeypatch)
    with demo_app.app_context():
        db = session()
        department = db.scalars(sa.select(Department)).first()
        item = Item(
            code="reply-test", name="补正答复测试事项", kind="promised",
            department_id=department.id, process_id="P", statutory_days=20, promised_days=10,
            entry={"materials": [], "form": []},
        )  # fmt: skip
        db.add(item)
        db.flush()
        deploy_version(item, _diagram().encode(), "reply.bpmn", None, "test")
        db.commit()
    return demo_app


def _timers(app, case_no: str) -> list[Timer]:
    with app.app_context():
        db = session()
        case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
        return list(db.scalars(sa.select(Timer).where(Timer.case_id == case_id)))


def _verify(app, case_no: str):
    with app.app_context():
        db = session()
        case = db.scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        return verify_case(db, case)


def test_the_case_times_out_after_30_days_and_verifies(gateway_app):
    api = Api(gateway_app.test_client())
    case_no = api.apply("reply-test", {}, materials=[])["case_no"]
    [timer] = _timers(gateway_app, case_no)
    assert timer.state == "waiting" and timer.node_id == "timeout"
    with gateway_app.app_context():
        assert abs((timer.due_at - (utcnow() + dt.timedelta(days=30))).total_seconds()) < 5
    assert api.open_tasks(case_no) == []
    assert api.case(case_no)["status"] in ("accepted", "in_progress")

    Clock.offset = dt.timedelta(days=29)  # a day early: the timer does not fire
    with gateway_app.app_context():
        assert fire_timer(timer.id) is False
    assert api.open_tasks(case_no) == []
    [timer] = _timers(gateway_app, case_no)
    assert timer.state == "waiting"

    Clock.offset = timer.due_at - Clock.now() + Clock.offset + dt.timedelta(seconds=1)
    with gateway_app.app_context():
        assert fire_timer(timer.id) is True
        assert fire_timer(timer.id) is False  # twice does not fire twice
    [lapse] = api.open_tasks(case_no)
    assert lapse["spec_id"] == "lapse" and lapse["assignee"] == POSTS["housing_review"]["a"]
    assert [t.state for t in _timers(gateway_app, case_no)] == ["fired"]
    events = api.call("GET", f"/cases/{case_no}/events", AUDITOR)["events"]
    [fired] = [e for e in events if e["type"] == "timer_fired"]
    assert fired["data"]["node"] == "timeout"
    assert fired["data"]["steps"] == ["Gateway_wait", "timeout"]
    verification = _verify(gateway_app, case_no)
    assert verification.ok, verification.divergence or verification.error

    api.call(
        "POST", f"/tasks/{lapse['id']}/complete", lapse["assignee"],
        json={"outcome": "approve", "comment": "逾期未补正", "data": {}},
    )  # fmt: skip
    assert api.case(case_no)["decision"] == "approved"
    verification = _verify(gateway_app, case_no)
    assert verification.ok, verification.divergence or verification.error


def test_a_gateway_waiting_for_two_timers_is_refused_at_deployment(gateway_app):
    api = Api(gateway_app.test_client())
    xml = _diagram(reply=ONE_DAY)
    api.call("PUT", "/items/reply-test/draft", ANALYST, data=xml.encode(),
             content_type="application/xml")  # fmt: skip
    body = api.call("POST", "/items/reply-test/deploy", ANALYST, expect=400,
                    json={"comment": "两个定时器"})  # fmt: skip
    [finding] = [f for f in body["findings"] if f["code"] == "event-gateway-timers"]
    line = next(
        i for i, text in enumerate(xml.splitlines(), 1) if "<bpmn:eventBasedGateway" in text
    )
    assert finding["element_id"] == "Gateway_wait" and finding["line"] == line
    assert finding["severity"] == "error"
    assert "等待 2 个定时器（reply, timeout）" in finding["message"]  # the API answers in zh
    versions = api.call("GET", "/items/reply-test/versions", ANALYST)["versions"]
    assert [v["version"] for v in versions] == [1]
