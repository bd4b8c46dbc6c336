"""Export case histories as XES (IEEE 1849-2016) and CSV for process mining.

One trace per case (concept:name = case number), one event per completed user task:
concept:name = the task's name in the diagram, time:timestamp, org:resource = who
completed it, lifecycle:transition = complete, plus the outcome. Events come from the
audit log, not from the task rows, so an export shows what the log says.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from lxml import etree

from ..cases.models import Case, Task
from ..catalogue.models import Item
from ..clock import local
from ..db import session
from ..exports import csv_row
from .models import Event

XES_NS = "http://www.xes-standard.org/"
EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
)
CSV_COLUMNS = (
    "case_no",
    "item",
    "activity",
    "lifecycle",
    "resource",
    "timestamp",
    "outcome",
    "task_id",
    "seq",
)


@dataclass(frozen=True)
class LogEvent:
    """One exported event."""

    case_no: str
    item: str
    activity: str
    resource: str
    at: dt.datetime
    outcome: str | None
    task_id: str | None
    seq: int


@dataclass(frozen=True)
class LogTrace:
    """One exported case."""

    case_no: str
    item_code: str
    item: str
    status: str
    decision: str | None
    events: list[LogEvent]


def case_ids(
    db,
    *,
    case_nos: Iterable[str] = (),
    item: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[int]:
    """Return the ids of the cases chosen by number, or received in a period (and item)."""
    query = sa.select(Case.id).join(Item, Item.id == Case.item_id)
    numbers = list(case_nos)
    if numbers:
        query = query.where(Case.case_no.in_(numbers))
    if item:
        query = query.where(Item.code == item)
    if since:
        query = query.where(Case.received_at >= since)
    if until:
        query = query.where(Case.received_at < until)
    return list(db.scalars(query.order_by(Case.received_at, Case.id)))


def chosen_traces(
    *,
    case_nos: Iterable[str] = (),
    item: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Iterator[LogTrace]:
    """Return the traces of the cases chosen as `case_ids` chooses them.

    The cases are chosen now; their events are read as the traces are consumed.
    """
    db = session()
    return traces(db, case_ids(db, case_nos=case_nos, item=item, since=since, until=until))


def traces(db, ids: list[int], chunk: int = 500) -> Iterator[LogTrace]:
    """Yield the traces of the given cases, reading events in chunks."""
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        cases = {
            r.id: r
            for r in db.execute(
                sa.select(
                    Case.id,
                    Case.case_no,
                    Case.status,
                    Case.decision,
                    Item.code,
                    Item.name.label("item"),
                )
                .join(Item, Item.id == Case.item_id)
                .where(Case.id.in_(part))
            )
        }
        names = dict(db.execute(sa.select(Task.id, Task.name).where(Task.case_id.in_(part))).all())
        events: dict[int, list[LogEvent]] = {i: [] for i in part}
        rows = db.execute(
            sa.select(Event.case_id, Event.seq, Event.actor, Event.at, Event.task_id, Event.data)
            .where(Event.case_id.in_(part), Event.type == "task_completed")
            .order_by(Event.case_id, Event.seq)
        )
        for r in rows:
            case = cases[r.case_id]
            data = r.data or {}
            events[r.case_id].append(
                LogEvent(
                    case.case_no,
                    case.item,
                    names.get(r.task_id, data.get("spec", "?")),
                    r.actor,
                    r.at,
                    data.get("outcome"),
                    str(r.task_id) if r.task_id else None,
                    r.seq,
                )
            )
        for case_id in part:
            case = cases.get(case_id)
            if case is not None:
                yield LogTrace(
                    case.case_no, case.code, case.item, case.status, case.decision, events[case_id]
                )


def _stamp(at: dt.datetime) -> str:
    """An event's time as the export gives it: the centre's local time with its offset
    (2026-12-05T04:00:00.000+08:00), the same instant as the stored UTC."""
    return local(at).isoformat(timespec="milliseconds")


def _attr(parent, kind: str, key: str, value: str) -> None:
    etree.SubElement(parent, kind, key=key, value=value)


def to_xes(log: Iterable[LogTrace], name: str = "OneWindow cases") -> bytes:
    """Return the traces as an XES document."""
    root = etree.Element("log", nsmap={None: XES_NS})
    root.set("xes.version", "1849-2016")
    root.set("xes.features", "")
    for ext_name, prefix, uri in EXTENSIONS:
        etree.SubElement(root, "extension", name=ext_name, prefix=prefix, uri=uri)
    for scope, keys in (
        ("trace", (("string", "concept:name", "UNKNOWN"),)),
        (
            "event",
            (
                ("string", "concept:name", "UNKNOWN"),
                ("date", "time:timestamp", "1970-01-01T00:00:00.000+00:00"),
                ("string", "org:resource", "UNKNOWN"),
                ("string", "lifecycle:transition", "complete"),
            ),
        ),
    ):
        glob = etree.SubElement(root, "global", scope=scope)
        for kind, key, value in keys:
            _attr(glob, kind, key, value)
    etree.SubElement(root, "classifier", name="Activity", keys="concept:name")
    etree.SubElement(
        root, "classifier", name="Activity and lifecycle", keys="concept:name lifecycle:transition"
    )
    _attr(root, "string", "concept:name", name)
    for trace in log:
        t = etree.SubElement(root, "trace")
        _attr(t, "string", "concept:name", trace.case_no)
        _attr(t, "string", "item", trace.item_code)
        _attr(t, "string", "item:name", trace.item)
        _attr(t, "string", "status", trace.status)
        if trace.decision:
            _attr(t, "string", "decision", trace.decision)
        for ev in trace.events:
            e = etree.SubElement(t, "event")
            _attr(e, "string", "concept:name", ev.activity)
            _attr(e, "date", "time:timestamp", _stamp(ev.at))
            _attr(e, "string", "org:resource", ev.resource)
            _attr(e, "string", "lifecycle:transition", "complete")
            if ev.outcome:
                _attr(e, "string", "outcome", ev.outcome)
            _attr(e, "int", "seq", str(ev.seq))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def to_csv(log: Iterable[LogTrace]) -> str:
    """Return the traces as CSV, one row per event; no cell is a formula (app.exports)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for trace in log:
        for ev in trace.events:
            writer.writerow(
                csv_row(
                    [
                        ev.case_no,
                        trace.item_code,
                        ev.activity,
                        "complete",
                        ev.resource,
                        _stamp(ev.at),
                        ev.outcome or "",
                        ev.task_id or "",
                        ev.seq,
                    ]
                )
            )
    return out.getvalue()
