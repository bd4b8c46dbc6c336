"""Append events to a case's chain and verify the chain.

Every event is sealed with an HMAC-SHA256 under the audit key (`OW_AUDIT_KEY`, never in the
database; app/audit/keys.py) over its content and the previous event's seal, and names the
key by its id. Events written before the keys existed (`key_id` NULL) carry a plain SHA-256:
they are accepted only before a case's first sealed event and only as far as a signed
checkpoint (app/audit/anchor.py) covers them. Verification checks the chain, the key and the
latest checkpoint, and says what was rewritten, removed, truncated or added.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..db import queue_write, utcnow
from ..jsonio import canonical, round_trip
from .keys import AuditKeys, keyring
from .models import Event

GENESIS = "0" * 64
# built once: every step appends with it (the compiled cache then hits without rebuilding)
INSERT_EVENTS = Event.__table__.insert().inline()  # no RETURNING: nothing reads the ids


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def event_text(
    case_no: str,
    seq: int,
    type_: str,
    actor: str,
    at: dt.datetime,
    task_id: uuid.UUID | str | None,
    data: dict,
    prev_hash: str,
) -> str:
    """The canonical text of one event that its seal covers (with the previous seal)."""
    body = {
        "case_no": case_no,
        "seq": seq,
        "type": type_,
        "actor": actor,
        "at": _canonical(at),
        "task_id": str(task_id) if task_id else None,
        "data": data,
        "prev_hash": prev_hash,
    }
    return canonical(body)  # json.dumps(sort_keys, compact, UTF-8, default=str), byte for byte


def event_hash(*args, **kwargs) -> str:
    """The unkeyed SHA-256 of an event, as events were sealed before the audit key existed."""
    return hashlib.sha256(event_text(*args, **kwargs).encode("utf-8")).hexdigest()


def event_seal(keys: AuditKeys, kid: str, *args) -> str:
    """The keyed seal of an event under audit key `kid` (arguments as `event_text`)."""
    return keys.mac(kid, event_text(*args))


def jsonable(value: Any) -> Any:
    """Return a copy of a value that survives a JSON round trip unchanged."""
    return round_trip(value, _canonical)


@dataclass
class EventBatch:
    """Events of one case collected during one operation, written with one INSERT.

    Hashes chain on the case number, which exists before the case row does, so a new
    case and its first events are written without a second round trip.
    """

    case_no: str
    case_id: int | None
    seq: int
    last_hash: str
    actor_id: int | None
    actor: str
    at: dt.datetime = field(default_factory=utcnow)
    rows: list[dict] = field(default_factory=list)
    keys: AuditKeys = field(default_factory=keyring)

    def add(self, type_: str, data: dict | None = None, task_id: uuid.UUID | None = None) -> None:
        """Append one event to the batch, sealed under the current audit key."""
        self.seq += 1
        payload = jsonable(data or {})
        kid, digest = self.keys.seal(
            event_text(
                self.case_no, self.seq, type_, self.actor, self.at, task_id, payload,
                self.last_hash,
            )
        )  # fmt: skip
        self.rows.append(
            {
                "seq": self.seq,
                "type": type_,
                "actor_id": self.actor_id,
                "actor": self.actor,
                "at": self.at,
                "task_id": task_id,
                "data": payload,
                "prev_hash": self.last_hash,
                "hash": digest,
                "key_id": kid,
            }
        )
        self.last_hash = digest

    def mark(self) -> tuple[int, str, int]:
        """Return where the batch stands, to rewind to if the step that follows is undone."""
        return self.seq, self.last_hash, len(self.rows)

    def rewind(self, mark: tuple[int, str, int]) -> None:
        """Drop the events added since `mark` (their step was rolled back)."""
        self.seq, self.last_hash, count = mark
        del self.rows[count:]

    def write(self, db: Session) -> None:
        """Insert the collected events in one statement."""
        if self.case_id is None:
            raise ValueError("events need the case row first")
        if self.rows:
            rows = [{**row, "case_id": self.case_id} for row in self.rows]
            queue_write(db, INSERT_EVENTS, rows)  # PostgreSQL: sent with the step's COMMIT


# what a failed check found, named for the auditor (the pages translate each kind)
REWRITTEN = "rewritten"  # content or link no longer matches its seal or the checkpoint
REMOVED = "removed"  # an event inside the chain is missing
TRUNCATED = "truncated"  # the chain ends before what the checkpoint (or case row) recorded
ADDED = "added"  # an event sealed without the audit key after the anchored part
UNKNOWN_KEY = "unknown_key"  # sealed with a key this installation does not have
UNANCHORED = "unanchored"  # an unkeyed (pre-key) event that no checkpoint covers
LOG_BROKEN = "log_broken"  # the checkpoint log itself fails its signatures or chain


@dataclass
class ChainReport:
    """Result of checking one case's chain (and the checkpoint that covers it)."""

    case_id: int
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None
    kind: str | None = None
    params: dict = field(default_factory=dict)
    anchored: int = 0  # events covered by the latest checkpoint
    checkpoint: int | None = None  # that checkpoint's line number
    checkpoint_at: dt.datetime | None = None  # and its time (UTC)


AUTO = object()


def _anchors_here():
    """The latest checkpoint state of the current app's log (None: no log configured)."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return None
    from .anchor import current_state

    return current_state(current_app)


def verify_chain(db: Session, case_id: int, anchors: Any = AUTO) -> ChainReport:
    """Check the case's chain: every seal under its key, every link, the case row, and the
    latest signed checkpoint (`anchors`: the checkpoint state, by default the current app's
    log; None checks key and links only). The report names the first thing rewritten,
    removed, truncated or added."""
    from ..cases.models import Case
    from .anchor import LogBroken

    case = db.execute(
        sa.select(Case.case_no, Case.event_seq, Case.last_hash).where(Case.id == case_id)
    ).one_or_none()
    if case is None:
        return ChainReport(case_id, False, 0, None, "case not found", REMOVED)
    try:
        state = _anchors_here() if anchors is AUTO else anchors
    except LogBroken as exc:
        return ChainReport(case_id, False, 0, None, str(exc), LOG_BROKEN, {"why": str(exc)})
    anchor = state.get(case.case_no) if state is not None else None
    events = db.scalars(sa.select(Event).where(Event.case_id == case_id).order_by(Event.seq)).all()
    check = _ChainCheck(case.case_no, anchor, keyring(), anchoring=state is not None)
    report = check.run(case_id, events)
    if report is not None:
        return report
    n = len(events)
    if anchor is not None and n < anchor.count:
        return check.fail(case_id, n, n + 1, TRUNCATED,
                          f"events {n + 1} to {anchor.count} were removed: checkpoint "
                          f"{anchor.line} recorded {anchor.count}",
                          last=anchor.count)  # fmt: skip
    if case.event_seq != n or case.last_hash != check.prev:
        kind = TRUNCATED if case.event_seq > n else ADDED
        return check.fail(case_id, n, n + 1, kind,
                          f"the case records {case.event_seq} events but {n} are stored",
                          recorded=case.event_seq, stored=n)  # fmt: skip
    if anchor is None:
        return ChainReport(case_id, True, n)
    return ChainReport(case_id, True, n, anchored=check.anchored, checkpoint=anchor.line,
                       checkpoint_at=dt.datetime.fromisoformat(anchor.at.rstrip("Z")))  # fmt: skip


@dataclass
class _ChainCheck:
    """Walk one case's events in order, from the genesis seal."""

    case_no: str
    anchor: Any  # CaseAnchor | None
    keys: AuditKeys
    anchoring: bool = True  # False: no checkpoint log to check against (key and links only)
    prev: str = GENESIS
    anchored: int = 0

    def fail(self, case_id, n, seq, kind, problem, **params) -> ChainReport:
        params = {"seq": seq, **params}
        if self.anchor is not None:
            params.setdefault("line", self.anchor.line)
        return ChainReport(case_id, False, n, seq, problem, kind, params, self.anchored,
                           self.anchor.line if self.anchor else None)  # fmt: skip

    def run(self, case_id: int, events) -> ChainReport | None:
        """The first problem of the chain itself, or None (the caller checks the ends)."""
        n, anchor, keyed = len(events), self.anchor, False
        # unkeyed events pass as far as a checkpoint covers them (all of them, when there is
        # no log to check against), and only before the case's first keyed event
        covered = anchor.count if anchor is not None else 0 if self.anchoring else sys.maxsize
        for expected, ev in enumerate(events, start=1):
            if ev.seq != expected:
                return self.fail(case_id, n, expected, REMOVED, f"event {expected} is missing")
            if ev.prev_hash != self.prev:
                return self.fail(case_id, n, ev.seq, REWRITTEN, "previous-hash link broken")
            args = (self.case_no, ev.seq, ev.type, ev.actor, ev.at, ev.task_id, ev.data,
                    ev.prev_hash)  # fmt: skip
            if ev.key_id is None:
                if keyed or ev.seq > covered:
                    return self.fail(case_id, n, ev.seq, UNANCHORED if not keyed else ADDED,
                                     f"event {ev.seq} carries no audit key and no checkpoint "
                                     "covers it")  # fmt: skip
                digest = event_hash(*args)
            elif ev.key_id not in self.keys.mac_keys:
                return self.fail(case_id, n, ev.seq, UNKNOWN_KEY,
                                 f"event {ev.seq} was sealed with key {ev.key_id}, which "
                                 "OW_AUDIT_KEY lacks", key=ev.key_id)  # fmt: skip
            else:
                keyed = True
                digest = event_seal(self.keys, ev.key_id, *args)
            if not hmac.compare_digest(digest, ev.hash):
                kind = ADDED if ev.seq > covered and anchor is not None else REWRITTEN
                return self.fail(case_id, n, ev.seq, kind,
                                 f"event {ev.seq} does not match its seal")  # fmt: skip
            if ev.seq == covered and not hmac.compare_digest(ev.hash, anchor.head):
                return self.fail(case_id, n, ev.seq, REWRITTEN,
                                 f"events up to {ev.seq} differ from what checkpoint "
                                 f"{anchor.line} recorded")  # fmt: skip
            self.prev = ev.hash
            self.anchored = min(ev.seq, covered)
        return None
