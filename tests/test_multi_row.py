"""A step's several new rows of one prebuilt INSERT go as one statement on PostgreSQL.

`app.db.execute_direct` turns an executemany of a plain INSERT into one multi-row INSERT
there (psycopg would send one statement a row). What is written must be the same as row by
row: every row, every value converted by its column's type (JSON, UUID, times), and a
statement it cannot rewrite (parentheses inside VALUES, RETURNING) keeps the executemany.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from app.audit.models import Event
from app.audit.services import INSERT_EVENTS
from app.cases.models import Case
from app.db import _multi_row, execute_direct, session
from tests.apiclient import Api, sample_form


def test_rewrite_is_one_values_list_with_suffixed_names():
    sql = "INSERT INTO t (a, b) VALUES (%(a)s::INTEGER, %(b)s::JSON)"
    assert _multi_row(sql, 3) == (
        "INSERT INTO t (a, b) VALUES (%(a__0)s::INTEGER, %(b__0)s::JSON), "
        "(%(a__1)s::INTEGER, %(b__1)s::JSON), (%(a__2)s::INTEGER, %(b__2)s::JSON)"
    )
    assert _multi_row("INSERT INTO t (a) VALUES (%(a)s::NUMERIC(10, 2))", 2) is None
    assert _multi_row("INSERT INTO t (a) VALUES (%(a)s) RETURNING t.id", 2) is None
    assert _multi_row("UPDATE t SET a=%(a)s", 2) is None


def test_events_of_a_batch_are_one_statement_and_all_written(demo_app, client):
    statements: list[tuple[str, bool]] = []

    def seen(_conn, _cursor, sql, _params, _context, many):
        statements.append((sql, many))

    case_no = Api(client).apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    engine = demo_app.extensions["ow_engine"]
    at = dt.datetime(2026, 12, 5, 7, 30, 0, 123456)
    task_id = uuid.uuid4()
    with demo_app.app_context():
        db = session()
        case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
        first = db.scalar(sa.select(sa.func.max(Event.seq)).where(Event.case_id == case_id))
        rows = [
            {"case_id": case_id, "seq": first + n, "type": "note", "actor_id": None,
             "actor": "测试", "at": at, "task_id": task_id if n == 2 else None,
             "data": {"n": n, "text": f"第{n}条"}, "prev_hash": f"p{n}", "hash": f"h{n}",
             "key_id": "k"}
            for n in (1, 2, 3)
        ]  # fmt: skip
        sa.event.listen(engine, "before_cursor_execute", seen)
        try:
            written = execute_direct(db, INSERT_EVENTS, rows)
        finally:
            sa.event.remove(engine, "before_cursor_execute", seen)
        assert written.rowcount == 3
        db.commit()
        stored = (
            db.execute(
                sa.select(Event)
                .where(Event.case_id == case_id, Event.seq > first)
                .order_by(Event.seq)
            )
            .scalars()
            .all()
        )
    assert len(statements) == 1
    sql, many = statements[0]
    if engine.dialect.name == "postgresql":
        assert not many and sql.count("), (") == 2, sql
    else:
        assert many
    assert [(e.seq, e.data, e.task_id, e.at, e.hash) for e in stored] == [
        (first + n, {"n": n, "text": f"第{n}条"}, task_id if n == 2 else None, at, f"h{n}")
        for n in (1, 2, 3)
    ]
