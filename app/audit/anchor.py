"""Signed checkpoints of every case's chain, in an append-only log outside the database.

A checkpoint is one line of JSON appended to `OW_CHECKPOINT_LOG` (a file, never the
database) at a set interval (`OW_CHECKPOINT_MINUTES`, by the scheduler) and on demand
(`flask audit-checkpoint`, the auditor's button). It lists the cases whose chain changed
since the line before it, each with its event count and the seal of its last event; the
digest of every case's (count, seal) so far; and the previous line's signature. The line
is signed with Ed25519 (`OW_CHECKPOINT_KEY`, app/audit/keys.py).

So someone who can write to the database but not to this file, or who lacks the signing
key, cannot make a case's history shorter or different from what a checkpoint recorded: a
recomputed chain differs from the recorded seal, a truncated one ends before the recorded
count. The window is the interval: events newer than the latest checkpoint are protected
by the audit key alone. An auditor keeps copies of the log; a later log must start with
every line of an earlier copy.

Before recording a case, the writer checks the events added since it was last recorded
(links and seals); a case whose chain does not extend the recorded one is held back and
named on the line. After a database is restored from a backup, `flask audit-checkpoint
--rebase "<reason>"` records the restored chains as they are, with the reason, on a line of
its own.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from flask_babel import gettext
from sqlalchemy.orm import Session

from ..db import utcnow
from .keys import AuditKeys, keyring
from .models import Event
from .services import GENESIS, event_hash, event_seal

LOG_VERSION = 1


def _l(message: str) -> str:
    """Mark a LogBroken message for the catalogue; it is translated when shown (`reason`)."""
    return message


class LogBroken(RuntimeError):
    """The checkpoint log fails its own checks: a line edited, removed, reordered or forged.

    `message` is the catalogue's English text with %(name)s parameters; `reason` words it in
    the reader's language when it is shown, the exception's text (logs, the CLI) in English.
    """

    def __init__(self, line: int, message: str, **params) -> None:
        super().__init__(f"checkpoint log, line {line}: {message % params if params else message}")
        self.line = line
        self.message = message
        self.params = params

    @property
    def reason(self) -> str:
        """What is wrong with the line, in the reader's language."""
        return gettext(self.message, **self.params)


@dataclass(frozen=True)
class CaseAnchor:
    """What the latest checkpoint recorded for one case."""

    count: int
    head: str
    line: int
    at: str  # the line's time, ISO 8601 UTC


@dataclass
class Checkpoints:
    """The log as read so far: the state after its last line."""

    lines: int = 0
    last_sig: str = ""
    last_at: str | None = None
    last_raw: bytes = b""
    offset: int = 0
    state: dict[str, CaseAnchor] = field(default_factory=dict)
    entries: list[dict] = field(default_factory=list)  # kept only when asked (the page)

    def get(self, case_no: str) -> CaseAnchor | None:
        return self.state.get(case_no)

    def copy(self) -> Checkpoints:
        return replace(self, state=dict(self.state), entries=list(self.entries))


def state_root(state: dict[str, CaseAnchor]) -> str:
    """The digest of every recorded case's number, count and seal, in case-number order."""
    digest = hashlib.sha256()
    for case_no in sorted(state):
        anchor = state[case_no]
        digest.update(f"{case_no}\t{anchor.count}\t{anchor.head}\n".encode())
    return digest.hexdigest()


def _signed_bytes(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def read_log(path: Path, keys: AuditKeys, since: Checkpoints | None = None,
             keep_entries: bool = False) -> Checkpoints:  # fmt: skip
    """Read and check the log (from where `since` stopped): every line signed by a trusted
    key, numbered and chained to the one before, and the last line's digest matching the
    state its lines build. Raises LogBroken naming the first bad line."""
    cp = since.copy() if since is not None else Checkpoints()
    if not path.exists():
        if cp.lines:
            raise LogBroken(
                cp.lines,
                _l("the log is gone (%(path)s); %(lines)s lines were read"),
                path=str(path),
                lines=cp.lines,
            )
        return cp
    with path.open("rb") as f:
        if cp.lines:  # the last line read before must still be there, unchanged
            f.seek(cp.offset - len(cp.last_raw))
            if f.read(len(cp.last_raw)) != cp.last_raw:
                raise LogBroken(cp.lines, _l("changed or removed since it was read"))
        last_body = None
        for raw in f:
            n = cp.lines + 1
            if not raw.endswith(b"\n"):
                raise LogBroken(n, _l("incomplete (the write was cut off, or the line was cut)"))
            body = _parse(raw, n)
            sig, kid = body.pop("sig"), body.get("key")
            public = keys.trusted.get(kid) if isinstance(kid, str) else None
            if public is None:
                raise LogBroken(
                    n, _l("signed by key %(key)s, which is not trusted"), key=f"{kid!r:.40}"
                )
            try:
                public.verify(base64.b64decode(sig), _signed_bytes(body))
            except (InvalidSignature, ValueError, TypeError):
                raise LogBroken(n, _l("its signature does not match its content")) from None
            if body.get("n") != n or body.get("prev") != cp.last_sig:
                raise LogBroken(n, _l("not chained to the line before it (a line was removed, "
                                      "inserted or reordered)"))  # fmt: skip
            for case_no, (count, head) in body["cases"].items():
                cp.state[case_no] = CaseAnchor(count, head, n, body["at"])
            cp.lines, cp.last_sig, cp.last_at, cp.last_raw = n, sig, body["at"], raw
            cp.offset += len(raw)
            last_body = body
            if keep_entries:
                cp.entries.append(body)
    if last_body is not None and state_root(cp.state) != last_body["root"]:
        raise LogBroken(cp.lines, _l("its digest does not match the cases recorded so far"))
    return cp


def _parse(raw: bytes, n: int) -> dict:
    try:
        body = json.loads(raw)
    except ValueError:
        raise LogBroken(n, _l("not a JSON line")) from None
    needed = {"v", "n", "at", "prev", "key", "cases", "root", "sig"}
    if not isinstance(body, dict) or not needed <= body.keys():
        raise LogBroken(n, _l("not a checkpoint (fields missing)"))
    if body["v"] != LOG_VERSION or not isinstance(body["cases"], dict):
        raise LogBroken(
            n,
            _l("format version %(version)s is not %(expected)s"),
            version=body.get("v"),
            expected=LOG_VERSION,
        )
    return body


_cache: dict[str, Checkpoints] = {}
_cache_lock = threading.Lock()


def log_path(app) -> Path | None:
    value = app.config.get("CHECKPOINT_LOG")
    return Path(value) if value else None


def current_state(app, fresh: bool = False) -> Checkpoints | None:
    """The state after the latest checkpoint of the app's log (None: checkpoints are off).

    Each process reads only what was appended since its last read (checking that the line
    it read last is still there); `fresh` reads the whole log again.
    """
    path = log_path(app)
    if path is None:
        return None
    key = str(path.resolve())
    with _cache_lock:
        cached = None if fresh else _cache.get(key)
        if cached is not None and path.exists() and path.stat().st_size == cached.offset:
            return cached
        cp = read_log(path, keyring(), since=cached)
        _cache[key] = cp
        return cp


@dataclass(frozen=True)
class Written:
    """One checkpoint line just appended."""

    line: int
    at: str
    cases: int  # cases recorded on this line
    held: list[str]
    missing: list[str]
    total_cases: int
    total_events: int


def write_checkpoint(app, db: Session, force: bool = False, rebase: str | None = None,
                     now: dt.datetime | None = None) -> Written | None:  # fmt: skip
    """Append a signed checkpoint of every case whose chain changed since the last one.

    Returns None when nothing changed (unless `force`). `rebase` (a reason) records chains
    that do not extend the recorded ones, such as after a restore. Raises LogBroken when
    the log itself is broken: nothing is then written over it.
    """
    from ..cases.models import Case

    path = log_path(app)
    if path is None:
        raise LogBroken(0, _l("no checkpoint log is configured (OW_CHECKPOINT_LOG)"))
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = keyring()
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one writer at a time among this host's processes
        cp = current_state(app)
        delta: dict[str, list] = {}
        held: list[str] = []
        seen: set[str] = set()
        rows = db.execute(sa.select(Case.id, Case.case_no, Case.event_seq, Case.last_hash))
        for case_id, case_no, count, head in rows:
            seen.add(case_no)
            anchor = cp.get(case_no)
            if count == 0 or (anchor and anchor.count == count and anchor.head == head):
                continue
            start = None if rebase else anchor
            if _extends(db, keys, case_id, case_no, start, count, head, legacy_ok=not cp.lines):
                delta[case_no] = [count, head]
            else:
                held.append(case_no)
        missing = sorted(no for no in cp.state if no not in seen)
        if not (delta or held or missing or force):
            return None
        n = cp.lines + 1
        at = (now or utcnow()).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
        state = dict(cp.state)
        for case_no, (count, head) in delta.items():
            state[case_no] = CaseAnchor(count, head, n, at)
        body = {
            "v": LOG_VERSION, "n": n, "at": at, "prev": cp.last_sig, "key": keys.signing_id,
            "cases": delta, "held": sorted(held), "missing": missing,
            "total_cases": len(state), "total_events": sum(a.count for a in state.values()),
            "root": state_root(state),
        }  # fmt: skip
        if rebase:
            body["rebase"] = rebase
        sig = base64.b64encode(keys.signing.sign(_signed_bytes(body))).decode("ascii")
        line = json.dumps({**body, "sig": sig}, sort_keys=True, ensure_ascii=False,
                          separators=(",", ":")).encode() + b"\n"  # fmt: skip
        with path.open("ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        current_state(app)  # take the new line into this process's state
        return Written(n, at, len(delta), body["held"], missing, body["total_cases"],
                       body["total_events"])  # fmt: skip


def _extends(db: Session, keys: AuditKeys, case_id: int, case_no: str, anchor: CaseAnchor | None,
             count: int, head: str, legacy_ok: bool) -> bool:  # fmt: skip
    """Whether the case's events continue the recorded chain (from the genesis without
    one) to `count` events ending in `head`, every new link and seal intact. Unkeyed events
    pass only on the log's first line (they come from before the keys)."""
    start = anchor.count if anchor is not None else 0
    if count < start:
        return False
    events = db.scalars(
        sa.select(Event)
        # up to the count read with the case row: events committed since are the next line's
        .where(Event.case_id == case_id, Event.seq >= max(start, 1), Event.seq <= count)
        .order_by(Event.seq)
    ).all()  # fmt: skip
    prev = GENESIS
    if anchor is not None:
        if not events or events[0].seq != start or events[0].hash != anchor.head:
            return False
        prev, events = anchor.head, events[1:]
    keyed = False
    for expected, ev in enumerate(events, start=start + 1):
        if ev.seq != expected or ev.prev_hash != prev:
            return False
        args = (case_no, ev.seq, ev.type, ev.actor, ev.at, ev.task_id, ev.data, ev.prev_hash)
        if ev.key_id is None:
            if keyed or not legacy_ok:
                return False
            digest = event_hash(*args)
        elif ev.key_id in keys.mac_keys:
            keyed = True
            digest = event_seal(keys, ev.key_id, *args)
        else:
            return False
        if not hmac.compare_digest(digest, ev.hash):
            return False
        prev = ev.hash
    return prev == head and start + len(events) == count


def check_prefix(kept: Path, path: Path, keys: AuditKeys) -> int:
    """Check that the log at `path` starts with every line of an earlier copy `kept` (itself
    intact); return how many lines the copy holds. Raises LogBroken at the first line that
    differs."""
    earlier = read_log(kept, keys)
    with kept.open("rb") as old, path.open("rb") as new:
        for n, line in enumerate(old, start=1):
            if new.readline() != line:
                raise LogBroken(
                    n, _l("differs from the kept copy %(name)s, or is gone"), name=kept.name
                )
    return earlier.lines


@dataclass
class Audit:
    """Every case checked against its key and the latest checkpoint (`verify-chains`)."""

    cases: int = 0
    broken: list[str] = field(default_factory=list)  # "<case no>: event <n>: <problem>"
    missing: list[str] = field(default_factory=list)  # recorded, no longer in the database
    checkpoints: int = 0
    log_error: str | None = None


def verify_all(app, db: Session) -> Audit:
    """Read the log afresh, then check every case's chain against it, and name every case a
    checkpoint recorded that the database no longer holds."""
    from ..cases.models import Case
    from .services import verify_chain

    result = Audit()
    try:
        cp = current_state(app, fresh=True)
    except LogBroken as exc:
        result.log_error = str(exc)
        return result
    state = cp.state if cp is not None else None
    result.checkpoints = cp.lines if cp is not None else 0
    seen = set()
    for case_id, case_no in db.execute(sa.select(Case.id, Case.case_no).order_by(Case.id)):
        seen.add(case_no)
        report = verify_chain(db, case_id, anchors=state)
        result.cases += 1
        if not report.ok:
            result.broken.append(f"{case_no}: event {report.first_bad_seq}: {report.problem}")
    for case_no in sorted(set(state or ()) - seen):
        a = state[case_no]
        result.missing.append(f"{case_no}: recorded by checkpoint {a.line} with {a.count} "
                              "events, no longer in the database")  # fmt: skip
    return result


@dataclass
class Overview:
    """What the checkpoints page shows."""

    configured: bool
    lines: int = 0
    cases: int = 0
    latest: list[dict] = field(default_factory=list)  # newest first
    error: LogBroken | None = None


def overview(app, latest: int = 50) -> Overview:
    """Read the whole log afresh (signatures, chain, digest) for the checkpoints page."""
    path = log_path(app)
    if path is None:
        return Overview(False)
    try:
        cp = read_log(path, keyring(), keep_entries=True)
    except LogBroken as exc:
        return Overview(True, error=exc)
    return Overview(True, cp.lines, len(cp.state), cp.entries[::-1][:latest])


def checkpoint_now(app) -> Written:
    """Write a checkpoint line now, even if no chain changed (the auditor's button)."""
    from ..db import session

    db = session()
    try:
        return write_checkpoint(app, db, force=True)
    finally:
        db.rollback()  # only read
