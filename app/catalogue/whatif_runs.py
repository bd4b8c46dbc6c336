"""What-if runs: an analyst asks what a draft (or a deployed version) would have done with an
item's decided cases; the run works in the background and keeps its progress and its report
in `what_if_runs`, so any worker answers the analyst's next look (app/catalogue/whatif.py).

Analysts and admins start and read runs; the role is checked before anything is looked up.
The diagram run is copied into the row when the run starts: the report stays what that
diagram did, whatever happens to the draft afterwards. One run at a time per item.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

import sqlalchemy as sa
from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy.orm import Mapped, mapped_column

from workflows.errors import DiagramError

from ..calendar.services import calendar
from ..db import Base, session, utcnow
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..org.models import User
from .drafts import draft_of
from .models import DiagramVersion, Item
from .whatif import WhatIfReport, what_if

log = logging.getLogger("onewindow.whatif")
RUNNING = ("queued", "running")
# a run not finished this long after it was asked for stopped with the process that ran it
# (a restart, a killed worker): it is shown as failed and no longer holds the item
MAX_RUN = dt.timedelta(minutes=30)
INTERNAL = "internal"  # stored as the error of a run that failed on something not its diagram
DECISIONS = ("approved", "denied")


class WhatIfRun(Base):
    """One what-if run: what was asked, how far it got, what it found."""

    __tablename__ = "what_if_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id"), index=True)
    source: Mapped[str] = mapped_column(sa.String(20))  # "draft" or "v<number>"
    content: Mapped[str] = mapped_column(sa.Text)
    filename: Mapped[str] = mapped_column(sa.String(255))
    since: Mapped[dt.date | None]  # received on or after (centre local day)
    until: Mapped[dt.date | None]  # received on or before
    decision: Mapped[str | None] = mapped_column(sa.String(20))
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(sa.String(20), default="queued")
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    report: Mapped[dict | None] = mapped_column(sa.JSON)
    error: Mapped[str | None] = mapped_column(sa.Text)
    finished_at: Mapped[dt.datetime | None]


def _require_analyst(actor: User) -> None:
    if not actor.has_role("analyst", "admin"):
        raise Forbidden(_("what-if runs are for process analysts and admins"))


def _diagram(item: Item, source: str) -> tuple[str, str]:
    """The XML and file name a run uses: the item's draft, or a deployed version `v<n>`."""
    if source == "draft":
        draft = draft_of(item)
        if draft is None:
            raise Conflict(_("item %(code)s has no draft to try", code=item.code))
        return draft.content, f"{item.code}-draft.bpmn"
    number = source[1:] if source.startswith("v") else ""
    found = number.isdigit() and session().scalars(
        sa.select(DiagramVersion).where(DiagramVersion.item_id == item.id,
                                        DiagramVersion.version == int(number))).first()  # fmt: skip
    if not found:
        raise InvalidInput(_("source must be 'draft' or a deployed version such as 'v2'"))
    return found.content, found.filename


def start_run(actor: User, code: str, source: str, since: dt.date | None = None,
              until: dt.date | None = None, decision: str | None = None) -> WhatIfRun:  # fmt: skip
    """Start a what-if run of `source` over the item's decided cases; return its row."""
    _require_analyst(actor)
    if decision not in (None, *DECISIONS):
        raise InvalidInput(_("decision must be 'approved' or 'denied'"))
    if since and until and until < since:
        raise InvalidInput(_("the period ends before it starts"))
    db = session()
    item = db.scalars(sa.select(Item).where(Item.code == code)).first()
    if item is None:
        raise NotFound(_("no item with code '%(code)s'", code=code))
    busy = db.scalar(sa.select(WhatIfRun.id).where(
        WhatIfRun.item_id == item.id, WhatIfRun.status.in_(RUNNING),
        WhatIfRun.requested_at > utcnow() - MAX_RUN))  # fmt: skip
    if busy is not None:
        raise Conflict(_("a what-if run of this item is under way (run %(run)s)", run=busy))
    content, filename = _diagram(item, source)
    run = WhatIfRun(item_id=item.id, source=source, content=content, filename=filename,
                    since=since, until=until, decision=decision,
                    requested_by_id=actor.id)  # fmt: skip
    db.add(run)
    db.commit()
    app = current_app._get_current_object()
    threading.Thread(target=_work, args=(app, run.id), name=f"ow-whatif-{run.id}",
                     daemon=True).start()  # fmt: skip
    return run


def get_run(actor: User, run_id: int) -> WhatIfRun:
    """Return a run for an analyst or admin to read."""
    _require_analyst(actor)
    run = session().get(WhatIfRun, run_id)
    if run is None:
        raise NotFound(_("no what-if run %(run)s", run=run_id))
    return run


def runs_of(actor: User, code: str, limit: int = 10) -> list[WhatIfRun]:
    """The item's latest runs, newest first, for an analyst or admin."""
    _require_analyst(actor)
    item = session().scalars(sa.select(Item).where(Item.code == code)).first()
    if item is None:
        raise NotFound(_("no item with code '%(code)s'", code=code))
    return list(session().scalars(sa.select(WhatIfRun).where(WhatIfRun.item_id == item.id)
                                  .order_by(WhatIfRun.id.desc()).limit(limit)))  # fmt: skip


def drawing(report: dict) -> tuple[dict[str, str], dict[str, str]]:
    """How a finished report is drawn on its diagram: each stage's completions before → after
    and each gateway flow's choices, coloured where they change (added, removed, changed)."""
    highlight: dict[str, str] = {}
    notes: dict[str, str] = {}
    for key, (before, after) in {**report.get("stages", {}), **report.get("flows", {})}.items():
        notes[key] = f"{before}→{after}" if before != after else str(after)
        if before == after:
            highlight[key] = "taken" if after else highlight.get(key, "")
        elif not before:
            highlight[key] = "added"
        elif not after:
            highlight[key] = "removed"
        else:
            highlight[key] = "changed"
    return {k: v for k, v in highlight.items() if v}, notes


def run_json(run: WhatIfRun) -> dict:
    """A run as the API answers it: what was asked, how far it got, its report or error."""
    status, error = run.status, run.error
    if status in RUNNING and run.requested_at <= utcnow() - MAX_RUN:
        status, error = "failed", _("the run stopped with the process that ran it; start it again")
    elif status == "failed" and error == INTERNAL:
        error = _("the run stopped on an internal error; the service log has the details")
    out = {"run": run.id, "item": session().get(Item, run.item_id).code, "source": run.source,
           "status": status, "done": run.done, "total": run.total,
           "since": run.since.isoformat() if run.since else None,
           "until": run.until.isoformat() if run.until else None,
           "decision": run.decision}  # fmt: skip
    if status == "done":
        out["report"] = run.report
    if status == "failed":
        out["error"] = error
    return out


def _work(app: Flask, run_id: int) -> None:
    with app.app_context():
        db = session()
        run = db.get(WhatIfRun, run_id)
        item = db.get(Item, run.item_id)
        cal = calendar()
        since = cal.utc(run.since, dt.time()) if run.since else None
        until = cal.utc(run.until + dt.timedelta(days=1), dt.time()) if run.until else None
        run.status = "running"
        db.commit()

        def progress(done: int, total: int) -> None:
            db.execute(sa.update(WhatIfRun).where(WhatIfRun.id == run_id)
                       .values(done=done, total=total))  # fmt: skip
            db.commit()

        try:
            found = what_if(item, run.content.encode(), run.filename, since=since, until=until,
                            decision=run.decision, progress=progress)  # fmt: skip
            run = db.get(WhatIfRun, run_id)
            run.report, run.status = report_json(found), "done"
        except DiagramError as exc:  # the diagram does not load: the analyst reads why
            db.rollback()
            run = db.get(WhatIfRun, run_id)
            run.status, run.error = "failed", str(exc)[:4000]
        except Exception:  # the database gone, a bug: logged, the analyst told so
            log.exception("what-if run %s failed", run_id)
            db.rollback()
            run = db.get(WhatIfRun, run_id)
            run.status, run.error = "failed", INTERNAL
        run.finished_at = utcnow()
        db.commit()


def report_json(report: WhatIfReport) -> dict:
    """The report as stored and answered: the totals, the stages, the posts, every case."""
    cal = calendar()
    stages = sorted(set(report.stages_before) | set(report.stages_after))
    return {
        "summary": {
            "cases": len(report.cases), "unchanged": report.unchanged,
            "changed": len(report.cases) - report.unchanged,
            "days_saved": round(report.days_saved, 2), "days_added": round(report.days_added, 2),
            **{f"{kind}_met_{when}": report.met(kind, when == "after")
               for kind in ("promised", "statutory") for when in ("before", "after")},
        },
        "stages": {s: [report.stages_before[s], report.stages_after[s]] for s in stages},
        "load_moved": report.load_moved(),
        "flows": {f: [report.flows_before[f], report.flows_after[f]]
                  for f in sorted(set(report.flows_before) | set(report.flows_after))},
        "cases": [
            {"case_no": c.case_no,
             "received_on": cal.local(c.received_at).date().isoformat(),
             "decision": c.decision, "result": c.result, "same": c.same,
             "diverges_at": c.diverges_at, "skipped": c.skipped, "added": c.added,
             "changed": c.changed,
             "days_saved": c.days_saved, "days_added": c.days_added,
             "days_taken": c.days_taken, "days_after": round(c.days_after, 2),
             "promised_met": [c.met(c.promised_limit, False), c.met(c.promised_limit, True)],
             "statutory_met": [c.met(c.statutory_limit, False),
                               c.met(c.statutory_limit, True)],
             "error": c.error}
            for c in report.cases
        ],
    }  # fmt: skip
