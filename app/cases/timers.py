"""The timers table: which BPMN timer events cases wait for, and when they are due."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from workflows.engine import WaitingTimer

from ..db import queue_write
from ..hooks import TIMERS_CHANNEL, announce_timers
from .models import Timer

TIMERS = Timer.__table__


def write_changes(
    db: Session,
    case_id: int,
    before: list[WaitingTimer],
    after: list[WaitingTimer],
    fired: tuple[uuid.UUID, ...],
    at: dt.datetime,
) -> None:
    """Insert timers the step started waiting for; close the ones it no longer waits for."""
    known = {t.task_id for t in before}
    still = {t.task_id for t in after}
    new = [t for t in after if t.task_id not in known]
    fired_now = [t for t in fired if t not in still]
    gone = [t for t in known - still if t not in fired_now]
    if new:
        queue_write(db, _INSERT_TIMERS, [
            {"id": t.task_id, "case_id": case_id, "node_id": t.node_id, "due_at": t.due_at,
             "state": "waiting", "created_at": at, "fired_at": None}
            for t in new
        ])  # fmt: skip
        announce(db, min(t.due_at for t in new))
    for ids, one, many, values in ((fired_now, _FIRED_ONE, _FIRED, {"at": at}),
                                   (gone, _DONE_ONE, _DONE, {})):  # fmt: skip
        if len(ids) == 1:  # the common case, on the DB-API cursor (no expanding list)
            queue_write(db, one, {"id": next(iter(ids)), **values})
        elif ids:
            queue_write(db, many, {"ids": list(ids), **values})


# a step's timer writes, built once and queued with the step's other writes (app.db)
_INSERT_TIMERS = TIMERS.insert().inline()
_FIRED = (
    TIMERS.update()
    .where(TIMERS.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(state="fired", fired_at=sa.bindparam("at"))
)
_DONE = (
    TIMERS.update().where(TIMERS.c.id.in_(sa.bindparam("ids", expanding=True))).values(state="done")
)
_FIRED_ONE = (
    TIMERS.update()
    .where(TIMERS.c.id == sa.bindparam("id"))
    .values(state="fired", fired_at=sa.bindparam("at"))
)
_DONE_ONE = TIMERS.update().where(TIMERS.c.id == sa.bindparam("id")).values(state="done")
_NOTIFY = sa.select(sa.func.pg_notify(TIMERS_CHANNEL, sa.bindparam("due", type_=sa.String)))


def postpone(db: Session, timer_id: uuid.UUID, due: dt.datetime) -> None:
    """Move a waiting timer to the time the engine will fire it."""
    db.connection().execute(
        TIMERS.update()
        .where(TIMERS.c.id == timer_id, TIMERS.c.state == "waiting")
        .values(due_at=due)
    )
    announce(db, due)


def close_all(db: Session, case_id: int) -> None:
    """Stop waiting for any timer of a case (it was withdrawn)."""
    db.connection().execute(
        TIMERS.update()
        .where(TIMERS.c.case_id == case_id, TIMERS.c.state.in_(("waiting", "held")))
        .values(state="done")
    )


def announce(db: Session, due: dt.datetime) -> None:
    """Announce a new due time: to this process's scheduler through the timers hook once the
    transaction commits, to other processes through PostgreSQL's NOTIFY (sent on commit)."""
    if db.get_bind().dialect.name == "postgresql":  # queued: sent with the step's writes
        queue_write(db, _NOTIFY, {"due": due.isoformat()})
    announce_timers(due)


def next_due(db: Session) -> dt.datetime | None:
    """Return the earliest due time of a waiting timer."""
    return db.scalar(sa.select(sa.func.min(Timer.due_at)).where(Timer.state == "waiting"))


def due_ids(db: Session, now: dt.datetime, limit: int = 200) -> list[uuid.UUID]:
    """Return waiting timers that are due, earliest first."""
    return [timer_id for timer_id, _case_id in due_timers(db, now, limit)]


def due_timers(db: Session, now: dt.datetime, limit: int = 1000) -> list[tuple[uuid.UUID, int]]:
    """Return (timer id, case id) of the waiting timers that are due, earliest first: one
    statement on the partial index of waiting timers, whatever the size of the history."""
    query = (
        sa.select(TIMERS.c.id, TIMERS.c.case_id)
        .where(TIMERS.c.state == "waiting", TIMERS.c.due_at <= now)
        .order_by(TIMERS.c.due_at)
        .limit(limit)
    )
    return [(r.id, r.case_id) for r in db.execute(query)]
