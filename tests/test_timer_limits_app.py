"""Timer limits in the service: a timer value out of range stops its case (流程异常), never the
scheduler, and the other cases' timers go on (issue 16). Both databases, through the JSON API.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
import sqlalchemy as sa

from app.audit.models import Event
from app.cases.models import Case, Timer
from app.cases.runtime import runtime
from app.cases.services import fire_timer
from app.cases.timers import due_ids
from app.catalogue.models import Item
from app.catalogue.services import deploy_version
from app.db import session, utcnow
from app.org.models import Department
from tests.apiclient import Api

RESULT = (
    "<bpmn:extensionElements><camunda:properties>"
    '<camunda:property name="result" value="approved" />'
    "</camunda:properties></bpmn:extensionElements>"
)
DIAGRAM = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="P" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:intermediateCatchEvent id="wait" name="公示期满">
      <bpmn:timerEventDefinition><bpmn:timeDate>notice_ends</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="review" />
    <bpmn:userTask id="review" name="审核" camunda:candidateGroups="housing_review" />
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end" />
    <bpmn:endEvent id="end">{RESULT}</bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def notice_app(demo_app):
    """Add an item whose procedure waits until a date the application gives (公示截止)."""
    with demo_app.app_context():
        db = session()
        department = db.scalars(sa.select(Department)).first()
        item = Item(
            code="notice-limits", name="公示期限制测试", kind="promised",
            department_id=department.id, process_id="P", statutory_days=20, promised_days=10,
            entry={"materials": [], "form": [
                {"id": "notice_ends", "label": "公示截止", "type": "string", "required": True}]},
        )  # fmt: skip
        db.add(item)
        db.flush()
        deploy_version(item, DIAGRAM.encode(), "notice-limits.bpmn", None, "test")
        db.commit()
    return demo_app


def _apply(api: Api, notice_ends: str) -> str:
    return api.apply("notice-limits", {"notice_ends": notice_ends}, materials=[])["case_no"]


def _case_id(app, case_no: str) -> int:
    with app.app_context():
        return session().scalar(sa.select(Case.id).where(Case.case_no == case_no))


def _last_event(app, case_no: str) -> tuple[str, dict]:
    with app.app_context():
        event = (
            session()
            .scalars(
                sa.select(Event)
                .where(Event.case_id == _case_id(app, case_no))
                .order_by(Event.seq.desc())
                .limit(1)
            )
            .one()
        )
        return event.type, dict(event.data or {})


def _timer(app, case_no: str) -> Timer:
    with app.app_context():
        return (
            session().scalars(sa.select(Timer).where(Timer.case_id == _case_id(app, case_no))).one()
        )


def test_a_date_beyond_the_horizon_stops_the_case_at_once_naming_the_range(notice_app):
    api = Api(notice_app.test_client())
    started = time.perf_counter()
    case_no = _apply(api, "2099-01-01T09:00:00+08:00")
    assert time.perf_counter() - started < 5  # a sanity bound: the service answers, no spin
    case = api.case(case_no)
    assert case["status"] == "fault" and case["open_tasks"] == []
    kind, fault = _last_event(notice_app, case_no)
    assert kind == "case_faulted"
    assert (fault["code"], fault["element"]) == ("timer", "wait")
    assert "2099-01-01T09:00:00+08:00" in fault["message"]
    assert "在 5 年之后" in fault["message"]  # stored in the centre's default language, zh
    assert "允许：不超过 5 年之后的日期和时间" in fault["message"]


def test_a_logged_timer_that_cannot_fire_fails_alone_and_other_timers_go_on(
    notice_app, monkeypatch
):
    api = Api(notice_app.test_client())
    due = (utcnow() + dt.timedelta(hours=1)).isoformat() + "+00:00"
    broken, sound = _apply(api, due), _apply(api, due)
    # a case whose log gives a due time nobody can read (written before the limits): its
    # workflow is rebuilt from that log (no snapshot is trusted over it) and cannot wait
    with notice_app.app_context():
        db = session()
        case_id = _case_id(notice_app, broken)
        events = Event.__table__
        conn = db.connection()
        if conn.dialect.name == "sqlite":  # past the append-only guard, as an old row would be
            conn.exec_driver_sql("DROP TRIGGER events_no_update")
        else:
            conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_append_only")
        seq, data = db.execute(
            sa.select(events.c.seq, events.c.data).where(
                events.c.case_id == case_id, events.c.type == "case_accepted"
            )
        ).one()
        data = {**data, "form": {**data["form"], "notice_ends": "soon"}}
        db.execute(
            events.update()
            .where(events.c.case_id == case_id, events.c.seq == seq)
            .values(data=data)
        )
        if conn.dialect.name != "sqlite":
            conn.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER events_append_only")
        # written past the ORM, which never updates a case row (app.cases.store does)
        db.execute(sa.update(Case).where(Case.id == case_id).values(state=None))
        db.commit()
        runtime().cache.clear()

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return dt.datetime.now(tz) + dt.timedelta(hours=2)

    monkeypatch.setattr(spiff_timer, "datetime", Later)
    monkeypatch.setattr("app.cases.steps.utcnow", lambda: utcnow() + dt.timedelta(hours=2))
    later = utcnow() + dt.timedelta(hours=2)
    with notice_app.app_context():
        assert set(due_ids(session(), later)) == {
            _timer(notice_app, broken).id,
            _timer(notice_app, sound).id,
        }
        assert fire_timer(_timer(notice_app, broken).id) is True  # it stopped its case
        assert fire_timer(_timer(notice_app, sound).id) is True
        # nothing is due any more: no scheduler round comes back to the broken timer
        assert due_ids(session(), later) == []
    # the broken case stops in the fault state, its timer held with it (an administrator's
    # retry or withdrawal decides); the reason names the step and the date nobody can read
    assert _timer(notice_app, broken).state == "held"
    assert api.case(broken)["status"] == "fault"
    kind, fault = _last_event(notice_app, broken)
    assert (kind, fault["code"], fault["step"]["kind"]) == ("case_faulted", "rebuild", "timer")
    assert "第 2 条事件：无法启动：定时器 `wait` 被拒绝" in fault["message"], fault["message"]
    assert "不是 ISO 8601 日期" in fault["message"]
    assert _timer(notice_app, sound).state == "fired"
    assert [t["spec_id"] for t in api.open_tasks(sound)] == ["review"]
