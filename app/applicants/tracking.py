"""The public progress query (办件查询): case number and query code, throttled.

Every failed query is written down under two keys, the client's address and the case
number asked for. Once either has too many failures within the window, every query under
it is refused (429) before any case is looked at, so neither one client nor many clients
together can guess their way into a case. The answer to a wrong number and to a wrong
code is the same.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from ..cases.deadlines import clock_changes
from ..cases.models import Case, Task
from ..cases.reported import Report, case_report
from ..cases.status import CaseStatus, TaskState, awaits_supplement, is_faulted
from ..catalogue.models import Item
from ..clock import local_date
from ..db import session, transactional, utcnow
from ..errors import NotFound, TooManyRequests
from .models import Evaluation, QueryAttempt

MAX_TEXT = 40


@dataclass
class Progress:
    """What the applicant sees of their case: no one else's name, no internal notes."""

    case_no: str
    item_name: str
    window: str
    status: str
    decision: str | None
    stages: list[str]
    received_at: dt.datetime
    accepted_at: dt.datetime | None
    due_at: dt.datetime | None
    decided_at: dt.datetime | None
    paused: bool
    due_provisional: bool = False  # the due date rests on a year's calendar not yet published
    missing: list[str] = field(default_factory=list)
    may_rate: bool = False
    rated: int | None = None
    # the pauses (art. 45) and extensions (art. 42) of the limit, each with why and how long
    clock: list = field(default_factory=list)
    # a 上报件's report to the upper authority and its decision (arts. 35, 43)
    report: Report | None = None
    delivered_on: dt.date | None = None  # the local day its result was delivered (已送达)


def _limits() -> tuple[int, int, dt.timedelta]:
    cfg = current_app.config
    return (int(cfg["QUERY_FAILURES_PER_CLIENT"]), int(cfg["QUERY_FAILURES_PER_CASE"]),
            dt.timedelta(minutes=int(cfg["QUERY_WINDOW_MINUTES"])))  # fmt: skip


def _failures(key: str, since: dt.datetime) -> int:
    return session().scalar(
        sa.select(sa.func.count()).select_from(QueryAttempt)
        .where(QueryAttempt.key == key, QueryAttempt.at > since)
    ) or 0  # fmt: skip


@transactional
def _record_failure(keys: list[str]) -> None:
    now = utcnow()
    session().execute(sa.insert(QueryAttempt), [{"key": k, "at": now} for k in keys])


def check_throttle(client: str, case_no: str) -> None:
    """Refuse (429) when the client or the case number has failed too often lately."""
    per_client, per_case, window = _limits()
    since = utcnow() - window
    if _failures(f"ip:{client}", since) >= per_client:
        raise TooManyRequests(_("too many wrong queries from your address; try again later"))
    if _failures(f"case:{case_no}", since) >= per_case:
        raise TooManyRequests(_("too many wrong queries for this case number; try again later"))


# every outcome can be rated (一次一评): decided (and closed after it), refused, withdrawn
RATEABLE = (CaseStatus.DECIDED, CaseStatus.CLOSED, CaseStatus.REFUSED, CaseStatus.WITHDRAWN)


def may_rate(case: Case) -> bool:
    """A case is rated once its handling has ended, whatever the outcome."""
    return case.status in RATEABLE


def rated_level(case_id: int) -> int | None:
    """The level of the case's one rating (None while it is not rated)."""
    return session().scalar(sa.select(Evaluation.level).where(Evaluation.case_id == case_id,
                                                              Evaluation.round == 1))  # fmt: skip


def find_case(client: str, case_no: str, code: str) -> Case:
    """Return the case whose number and query code both match, or fail and count it."""
    case_no = (case_no or "").strip()[:MAX_TEXT]
    code = (code or "").strip().upper()[:MAX_TEXT]
    check_throttle(client, case_no)
    case = None
    if case_no and code:
        case = session().scalars(sa.select(Case).where(Case.case_no == case_no)).first()
    if case is None or not hmac.compare_digest(case.query_code.encode(), code.encode()):
        _record_failure([f"ip:{client}", f"case:{case_no}"])
        raise NotFound(_("no case matches this case number and query code"))
    return case


def progress(case: Case) -> Progress:
    """Return what the applicant may see of their case."""
    db = session()
    item = db.get(Item, case.item_id)
    stages = list(dict.fromkeys(db.scalars(
        sa.select(Task.name).where(Task.case_id == case.id, Task.state == TaskState.OPEN)
        .order_by(Task.created_at)
    )))  # fmt: skip
    rated = rated_level(case.id)
    return Progress(
        case_no=case.case_no, item_name=item.name, window=item.entry.get("window", ""),
        # a workflow fault is the centre's to repair: the applicant sees the case in progress
        status=CaseStatus.IN_PROGRESS if is_faulted(case) else case.status,
        decision=case.decision, stages=stages,
        received_at=case.received_at, accepted_at=case.accepted_at, due_at=case.due_at,
        due_provisional=bool(case.due_provisional), decided_at=case.decided_at,
        paused=case.paused_at is not None,
        missing=[m.get("name", "") for m in (case.missing_materials or [])]
        if awaits_supplement(case) else [],
        may_rate=may_rate(case) and rated is None, rated=rated,
        clock=clock_changes(case.id) if case.accepted_at else [],
        report=case_report(case.id) if case.accepted_at else None,
        delivered_on=local_date(case.closed_at)
        if case.status == CaseStatus.CLOSED and case.closed_at else None,
    )  # fmt: skip


def forget_before(at: dt.datetime) -> int:
    """Delete failure records older than `at` (the scheduler keeps the table small)."""
    done = session().execute(sa.delete(QueryAttempt).where(QueryAttempt.at < at))
    session().commit()
    return done.rowcount or 0


def require_found(case: Case | None) -> Case:
    if case is None:
        raise NotFound(_("no case matches this case number and query code"))
    return case
