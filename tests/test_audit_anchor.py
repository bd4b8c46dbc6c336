"""The audit trail anchored outside the database (issue 18): events sealed with a key the
database does not hold, signed checkpoints in a log file, and verification that names what a
database writer rewrote, truncated or added, on both databases."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest
import sqlalchemy as sa

from app.audit import anchor
from app.audit.keys import keyring, keys_from_config
from app.audit.models import Event
from app.audit.services import (
    ADDED,
    REWRITTEN,
    TRUNCATED,
    UNANCHORED,
    UNKNOWN_KEY,
    event_hash,
    event_seal,
    verify_chain,
)
from app.cases.models import Case
from app.db import Base, get_engine, session
from tests.apiclient import Api, sample_form, users_with_role
from tests.test_audit_chain import _bypass_append_only
from tests.webclient import Web

ITEM = "house-cancellation"


def _decided(app) -> str:
    api = Api(app.test_client())
    case_no = api.apply(ITEM, sample_form(ITEM))["case_no"]
    api.work(case_no, "Task_review", "approve", "同意")
    api.work(case_no, "Task_issue")
    return case_no


def _case(app, case_no: str) -> tuple[int, list[Event]]:
    with app.app_context():
        db = session()
        case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
        events = list(db.scalars(sa.select(Event).where(Event.case_id == case_id)
                                 .order_by(Event.seq)))  # fmt: skip
        db.expunge_all()
        return case_id, events


def _verify(app, case_no: str):
    with app.app_context():
        db = session()
        db.expire_all()
        case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
        return verify_chain(db, case_id)


def _checkpoint(app, **kw):
    with app.app_context():
        return anchor.write_checkpoint(app, session(), **kw)


def _cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def _rewrite(app, case_id: int, rows: list[tuple], seq: int, last_hash: str) -> None:
    """Play the database writer: replace events' content and seals, then fix the case row."""
    with app.app_context(), get_engine().begin() as conn:
        _bypass_append_only(conn)
        table = Event.__table__
        for event_id, values in rows:
            conn.execute(table.update().where(table.c.id == event_id).values(**values))
        conn.execute(sa.update(Case.__table__).where(Case.__table__.c.id == case_id)
                     .values(event_seq=seq, last_hash=last_hash))  # fmt: skip


def _resealed(case_no: str, events: list[Event], forged_seq: int, seal) -> list[tuple]:
    """The whole chain recomputed by `seal` after changing the comment of event `forged_seq`."""
    rows, prev = [], events[0].prev_hash
    for e in events:
        data = dict(e.data or {})
        if e.seq == forged_seq:
            data["comment"] = "不同意"
        args = (case_no, e.seq, e.type, e.actor, e.at, e.task_id, data, prev)
        kid, digest = seal(args)
        rows.append((e.id, {"data": data, "prev_hash": prev, "hash": digest, "key_id": kid}))
        prev = digest
    return rows


def test_every_event_is_sealed_with_the_audit_key_not_a_plain_hash(demo_app):
    case_no = _decided(demo_app)
    _, events = _case(demo_app, case_no)
    with demo_app.app_context():
        keys = keyring()
    assert {e.key_id for e in events} == {keys.current}
    for e in events:
        args = (case_no, e.seq, e.type, e.actor, e.at, e.task_id, e.data, e.prev_hash)
        assert e.hash == event_seal(keys, e.key_id, *args)
        assert e.hash != event_hash(*args)  # nobody without the key can recompute it
    report = _verify(demo_app, case_no)
    assert report.ok and report.checkpoint is None  # no checkpoint yet: the key alone


@pytest.mark.parametrize("how", ["keyless-mac", "plain-sha256"])
def test_a_recomputed_chain_is_detected_and_named(demo_app, how):
    """The database writer edits a comment and recomputes every seal after it, with the case
    row fixed: without the key, as a plain SHA-256 chain or an HMAC under a guessed key."""
    case_no = _decided(demo_app)
    written = _checkpoint(demo_app)
    assert written.line == 1 and written.cases == 1 and written.held == []
    case_id, events = _case(demo_app, case_no)
    forged = next(e.seq for e in events if e.type == "task_completed"
                  and (e.data or {}).get("comment") == "同意")  # fmt: skip
    guessed = os.urandom(32)
    if how == "keyless-mac":

        def seal(args):
            import hmac

            from app.audit.services import event_text

            text = event_text(*args).encode()
            return events[0].key_id, hmac.new(guessed, text, hashlib.sha256).hexdigest()
    else:

        def seal(args):
            return None, event_hash(*args)

    rows = _resealed(case_no, events, forged, seal)
    _rewrite(demo_app, case_id, rows, len(events), rows[-1][1]["hash"])
    report = _verify(demo_app, case_no)
    assert not report.ok
    if how == "keyless-mac":  # the first forged seal is named
        assert (report.kind, report.first_bad_seq) == (REWRITTEN, 1)
    else:  # unkeyed events after the checkpoint's sealed ones: they do not match what it recorded
        assert report.kind == REWRITTEN and report.checkpoint == 1
    out = _cli(demo_app, "verify-chains")
    assert out.exit_code == 1 and f"{case_no}: event {report.first_bad_seq}" in out.output
    # the case page says it in words, and the next checkpoint does not record it
    web = Web(demo_app, users_with_role("auditor")[0])
    page = web.get(f"/audit/cases/{case_no}/verify").text
    assert 'data-kind="rewritten"' in page and "Rewritten: event" in page
    again = _checkpoint(demo_app)
    assert again.held == [case_no] and again.cases == 0


def test_a_forger_with_the_key_but_not_the_log_is_caught_by_the_checkpoint(demo_app):
    case_no = _decided(demo_app)
    assert _checkpoint(demo_app).cases == 1
    case_id, events = _case(demo_app, case_no)
    with demo_app.app_context():
        keys = keyring()
    forged = next(e.seq for e in events if (e.data or {}).get("comment") == "同意")
    rows = _resealed(
        case_no, events, forged, lambda args: (keys.current, event_seal(keys, keys.current, *args))
    )
    _rewrite(demo_app, case_id, rows, len(events), rows[-1][1]["hash"])
    report = _verify(demo_app, case_no)
    assert not report.ok and report.kind == REWRITTEN
    assert report.first_bad_seq == len(events) and report.params["line"] == 1
    assert "differ from what checkpoint 1 recorded" in report.problem


def test_truncation_with_a_fixed_case_row_is_detected_and_named(demo_app):
    case_no = _decided(demo_app)
    keep = _decided(demo_app)
    assert _checkpoint(demo_app).cases == 2
    case_id, events = _case(demo_app, case_no)
    n = len(events)
    with demo_app.app_context(), get_engine().begin() as conn:
        _bypass_append_only(conn)
        conn.execute(sa.delete(Event).where(Event.case_id == case_id, Event.seq >= n - 1))
        conn.execute(sa.update(Case.__table__).where(Case.__table__.c.id == case_id)
                     .values(event_seq=n - 2, last_hash=events[n - 3].hash))  # fmt: skip
    report = _verify(demo_app, case_no)
    assert not report.ok and report.kind == TRUNCATED
    assert report.first_bad_seq == n - 1 and report.params["last"] == n
    assert report.problem == f"events {n - 1} to {n} were removed: checkpoint 1 recorded {n}"
    assert _verify(demo_app, keep).ok  # the other case is untouched
    # without the checkpoint the truncated chain would look intact: that is what it adds
    with demo_app.app_context():
        assert verify_chain(session(), case_id, anchors=None).ok
    out = _cli(demo_app, "verify-chains")
    assert out.exit_code == 1
    assert f"{case_no}: event {n - 1}: events {n - 1} to {n} were removed" in out.output
    assert "2 cases checked against 1 checkpoints, 1 with a broken chain" in out.output
    web = Web(demo_app, users_with_role("auditor")[0])
    page = web.get(f"/audit/cases/{case_no}/verify").text
    assert f"Truncated: events {n - 1} to {n} were removed; signed checkpoint 1" in page


def test_an_event_added_without_the_key_is_named(demo_app):
    case_no = _decided(demo_app)
    _checkpoint(demo_app)
    case_id, events = _case(demo_app, case_no)
    last = events[-1]
    args = (case_no, last.seq + 1, "case_decided", "chief_a", last.at, None,
            {"outcome": "approve"}, last.hash)  # fmt: skip
    forged = event_hash(*args)
    with demo_app.app_context(), get_engine().begin() as conn:
        conn.execute(
            Event.__table__.insert().values(
                case_id=case_id,
                seq=last.seq + 1,
                type="case_decided",
                actor="chief_a",
                at=last.at,
                data={"outcome": "approve"},
                prev_hash=last.hash,
                hash=forged,
                key_id=last.key_id,
            )
        )
        conn.execute(sa.update(Case.__table__).where(Case.__table__.c.id == case_id)
                     .values(event_seq=last.seq + 1, last_hash=forged))  # fmt: skip
    report = _verify(demo_app, case_no)
    assert not report.ok and (report.kind, report.first_bad_seq) == (ADDED, last.seq + 1)


def test_a_deleted_case_is_named_missing(demo_app):
    case_no = _decided(demo_app)
    _checkpoint(demo_app)
    case_id, _ = _case(demo_app, case_no)
    with demo_app.app_context(), get_engine().begin() as conn:
        _bypass_append_only(conn)
        for table in reversed(Base.metadata.sorted_tables):
            if "case_id" in table.c:
                conn.execute(table.delete().where(table.c.case_id == case_id))
        conn.execute(sa.text("DELETE FROM cases WHERE id = :id"), {"id": case_id})
    out = _cli(demo_app, "verify-chains")
    assert out.exit_code == 1, out.output
    assert f"{case_no}: recorded by checkpoint 1 with" in out.output
    assert _checkpoint(demo_app).missing == [case_no]


def test_the_log_is_append_only_signed_and_chained(demo_app, tmp_path):
    first = _decided(demo_app)
    assert _checkpoint(demo_app).line == 1
    assert _checkpoint(demo_app) is None  # nothing changed, nothing written
    second = _decided(demo_app)
    two = _checkpoint(demo_app)
    assert (two.line, two.cases, two.total_cases) == (2, 1, 2)
    path = anchor.log_path(demo_app)
    lines = path.read_bytes().splitlines(keepends=True)
    body = json.loads(lines[1])
    assert list(body["cases"]) == [second] and body["prev"] == json.loads(lines[0])["sig"]
    kept = tmp_path / "kept.log"
    kept.write_bytes(path.read_bytes())
    out = _cli(demo_app, "audit-verify-log", "--kept", str(kept))
    assert out.exit_code == 0 and "2 checkpoints intact, 2 cases recorded" in out.output
    with demo_app.app_context():
        keys = keyring()

    def broken(content: bytes) -> str:
        path.write_bytes(content)
        with pytest.raises(anchor.LogBroken) as exc:
            anchor.read_log(path, keys)
        return str(exc.value)

    # an edited count, a removed line, a line signed by someone else: each named by its line
    edited = json.loads(lines[0])
    edited["cases"][first][0] -= 1
    assert "line 1: its signature does not match" in broken(
        json.dumps(edited).encode() + b"\n" + lines[1]
    )
    assert "line 1: not chained" in broken(lines[1])
    forger = keys_from_config({"AUDIT_KEY": base64.b64encode(os.urandom(32)).decode()})
    forged = {k: v for k, v in json.loads(lines[1]).items() if k != "sig"}
    forged["key"] = forger.signing_id
    forged["sig"] = base64.b64encode(forger.signing.sign(anchor._signed_bytes(forged))).decode()
    assert "line 2: signed by key" in broken(lines[0] + json.dumps(forged).encode() + b"\n")
    # garbage, a signature that is no base64 text, a line cut short: named, never a crash
    assert "line 2: not a JSON line" in broken(lines[0] + b"\x00garbage\n")
    odd = {**json.loads(lines[1]), "sig": 5}
    assert "line 2: its signature does not match" in broken(
        lines[0] + json.dumps(odd).encode() + b"\n"
    )
    assert "line 2: incomplete" in broken(lines[0] + lines[1][:-40])
    # against the kept copy: a shortened log is refused; the process that read it notices
    path.write_bytes(lines[0])
    out = _cli(demo_app, "audit-verify-log", "--kept", str(kept))
    assert out.exit_code == 1 and "line 2: differs from the kept copy" in out.output
    with pytest.raises(anchor.LogBroken, match="line 2: changed or removed"):
        _checkpoint(demo_app)
    report = _verify(demo_app, first)
    assert not report.ok and report.kind == "log_broken"


def test_unkeyed_events_from_before_the_keys_pass_only_where_a_checkpoint_covers_them(demo_app):
    """After migration 0018 the old events carry no key: the log's first checkpoint anchors
    them as found; an unkeyed event after a keyed one, or beyond the checkpoint, fails."""
    case_no = _decided(demo_app)
    case_id, events = _case(demo_app, case_no)
    rows, prev = [], events[0].prev_hash
    for e in events:  # what the events of an installation before the keys look like
        digest = event_hash(case_no, e.seq, e.type, e.actor, e.at, e.task_id, e.data, prev)
        rows.append((e.id, {"prev_hash": prev, "hash": digest, "key_id": None}))
        prev = digest
    _rewrite(demo_app, case_id, rows, len(events), prev)
    report = _verify(demo_app, case_no)
    assert not report.ok and (report.kind, report.first_bad_seq) == (UNANCHORED, 1)
    assert _checkpoint(demo_app).cases == 1  # the first line anchors the history it finds
    assert _verify(demo_app, case_no).ok
    # new work on the case is sealed with the key, continuing the old chain
    api = Api(demo_app.test_client())
    later = _decided(demo_app)
    assert _checkpoint(demo_app).cases == 1 and _verify(demo_app, later).ok
    # an unkeyed event appended later is not anchored by any later line
    _, events = _case(demo_app, later)
    last = events[-1]
    digest = event_hash(later, last.seq + 1, "note", "x", last.at, None, {}, last.hash)
    with demo_app.app_context(), get_engine().begin() as conn:
        conn.execute(
            Event.__table__.insert().values(
                case_id=_case(demo_app, later)[0],
                seq=last.seq + 1,
                type="note",
                actor="x",
                at=last.at,
                data={},
                prev_hash=last.hash,
                hash=digest,
                key_id=None,
            )
        )
        conn.execute(sa.update(Case.__table__).where(Case.__table__.c.case_no == later)
                     .values(event_seq=last.seq + 1, last_hash=digest))  # fmt: skip
    assert _verify(demo_app, later).kind == ADDED
    assert _checkpoint(demo_app).held == [later]
    assert api  # the API client was only needed to add work


def test_the_audit_key_rotates_old_events_verify_with_the_retired_key(demo_app):
    case_no = _decided(demo_app)
    old = base64.b64encode(keyring_of(demo_app).mac_keys[keyring_of(demo_app).current]).decode()
    new = base64.b64encode(os.urandom(32)).decode()
    demo_app.config["AUDIT_KEY"] = f"{new},{old}"
    from app.audit import keys as audit_keys

    audit_keys.configure(demo_app)
    try:
        later = _decided(demo_app)
        _, events = _case(demo_app, later)
        assert {e.key_id for e in events} == {keyring_of(demo_app).current}
        assert _verify(demo_app, case_no).ok and _verify(demo_app, later).ok
        demo_app.config["AUDIT_KEY"] = new  # the retired key dropped too early
        audit_keys.configure(demo_app)
        report = _verify(demo_app, case_no)
        assert not report.ok and (report.kind, report.first_bad_seq) == (UNKNOWN_KEY, 1)
    finally:
        demo_app.config["AUDIT_KEY"] = ""
        audit_keys.configure(demo_app)


def keyring_of(app):
    with app.app_context():
        return keyring()


def test_a_restore_is_recorded_by_a_rebase_with_its_reason(demo_app):
    case_no = _decided(demo_app)
    _checkpoint(demo_app)
    case_id, events = _case(demo_app, case_no)
    n = len(events)
    with demo_app.app_context(), get_engine().begin() as conn:  # an older backup, restored
        _bypass_append_only(conn)
        conn.execute(sa.delete(Event).where(Event.case_id == case_id, Event.seq == n))
        conn.execute(sa.update(Case.__table__).where(Case.__table__.c.id == case_id)
                     .values(event_seq=n - 1, last_hash=events[n - 2].hash))  # fmt: skip
    out = _cli(demo_app, "audit-checkpoint")
    assert out.exit_code == 1 and f"held back: {case_no}" in out.output
    out = _cli(demo_app, "audit-checkpoint", "--rebase", "restored the backup of 12-04")
    assert out.exit_code == 0 and "checkpoint 3 written" in out.output, out.output
    assert _verify(demo_app, case_no).ok
    body = json.loads(anchor.log_path(demo_app).read_bytes().splitlines()[-1])
    assert body["rebase"] == "restored the backup of 12-04" and body["cases"][case_no][0] == n - 1


def test_the_scheduler_writes_checkpoints_and_auditors_take_the_log(demo_app):
    from app.scheduler import TimerScheduler

    case_no = _decided(demo_app)
    scheduler = TimerScheduler(demo_app)
    try:
        assert scheduler.checkpoint_round() is True
        assert scheduler.checkpoint_round() is False  # nothing changed since
    finally:
        scheduler.leader.release()
    auditor = Web(demo_app, users_with_role("auditor")[0])
    page = auditor.get("/audit/checkpoints").text
    assert "Intact: 1 checkpoints" in page and 'data-line="1"' in page
    auditor.post("/audit/checkpoints", {})
    page = auditor.get("/audit/checkpoints").text
    assert 'data-line="2"' in page and "Checkpoint 2 written" in page
    log = auditor.get("/audit/checkpoints.log")
    assert log.data == anchor.log_path(demo_app).read_bytes()
    assert "attachment" in log.headers["Content-Disposition"]
    pem = auditor.get("/audit/checkpoints.pem")
    assert pem.data.startswith(b"-----BEGIN PUBLIC KEY-----")
    # officials and applicants do not see it; a supervisor reads but does not write
    official = Web(demo_app, users_with_role("official")[0])
    official.get("/audit/checkpoints", expect=403)
    supervisor = Web(demo_app, users_with_role("supervisor")[0])
    supervisor.get("/audit/checkpoints")
    supervisor.post("/audit/checkpoints", {}, expect=403)
    assert json.loads(log.data.splitlines()[0])["cases"][case_no][0] > 0


def test_production_needs_the_audit_key_and_checks_its_form():
    from app.audit.keys import AuditKeyError

    base = {"SECRET_KEY": "a-real-secret"}
    with pytest.raises(AuditKeyError, match="OW_AUDIT_KEY is not set"):
        keys_from_config(base)
    with pytest.raises(AuditKeyError, match="key 2 of OW_AUDIT_KEY"):
        keys_from_config({**base, "AUDIT_KEY": base64.b64encode(os.urandom(32)).decode()
                          + ",c2hvcnQ="})  # fmt: skip
    two = keys_from_config(
        {**base, "AUDIT_KEY": ",".join(base64.b64encode(os.urandom(32)).decode() for _ in range(2))}
    )
    assert len(two.mac_keys) == 2 and two.current == next(iter(two.mac_keys))
    seed = base64.b64encode(os.urandom(32)).decode()
    a = keys_from_config({**base, "AUDIT_KEY": seed, "CHECKPOINT_KEY": seed})
    b = keys_from_config({**base, "AUDIT_KEY": seed})
    assert a.signing_id != b.signing_id  # a separate signing key, when set, is used


def test_a_retired_signing_key_still_verifies_its_lines(demo_app):
    """Rotation of the signing key: the old public key (as `audit-public-key --raw` prints
    it) goes into OW_CHECKPOINT_TRUSTED_KEYS; the log goes on under the new key."""
    from app.audit import keys as audit_keys

    _decided(demo_app)
    assert _checkpoint(demo_app).line == 1
    out = _cli(demo_app, "audit-public-key", "--raw")
    old_id, old_raw = out.output.split()
    assert old_id == keyring_of(demo_app).signing_id
    demo_app.config["CHECKPOINT_KEY"] = base64.b64encode(os.urandom(32)).decode()
    try:
        audit_keys.configure(demo_app)
        with pytest.raises(anchor.LogBroken, match="line 1: signed by key"):
            anchor.read_log(anchor.log_path(demo_app), keyring_of(demo_app))
        demo_app.config["CHECKPOINT_TRUSTED_KEYS"] = old_raw
        audit_keys.configure(demo_app)
        _decided(demo_app)
        assert _checkpoint(demo_app).line == 2
        lines = anchor.log_path(demo_app).read_bytes().splitlines()
        assert json.loads(lines[0])["key"] == old_id != json.loads(lines[1])["key"]
        out = _cli(demo_app, "audit-verify-log")
        assert out.exit_code == 0 and "2 checkpoints intact" in out.output
    finally:
        demo_app.config["CHECKPOINT_KEY"] = demo_app.config["CHECKPOINT_TRUSTED_KEYS"] = ""
        audit_keys.configure(demo_app)
