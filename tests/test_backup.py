"""Backup and restore (`flask backup`, `flask restore`) on each database.

A backup is taken while another thread keeps receiving cases, restored into a new database
(a fresh SQLite file, a freshly created PostgreSQL database), and checked there: every hash
chain verifies, the counts are those of the source, the uploaded files came along, and an
open task can still be completed. A damaged or truncated archive is refused and leaves the
target as it was; so is a target that already holds cases, unless --force.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import sqlite3
import tarfile
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from app.applicants import applications
from app.applicants.models import Upload
from app.audit.services import verify_chain
from app.backup import verify_database
from app.cases import services as cases
from app.cases.models import Case, Task
from app.db import session
from app.org.models import User
from config import BASE_DIR, TestConfig
from tests.apiclient import required_materials, sample_form
from tests.casegen import _value, generate
from tests.conftest import new_pg_database

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def target_url(database_url, tmp_path):
    """A new, empty database of the same kind as the source (no schema at all)."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'onewindow.sqlite3'}"
        return
    with new_pg_database("ow_restore") as url:
        yield url


@pytest.fixture
def target_app(target_url, tmp_path):
    application = create_app(TestConfig, DATABASE_URL=target_url, BPMN_DIR=BASE_DIR / "bpmn",
                             UPLOAD_DIR=tmp_path / "restored-uploads")  # fmt: skip
    yield application
    application.extensions["ow_engine"].dispose()


def _cli(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def _upload_some(app) -> list[str]:
    """An online application with two material files; return their stored names."""
    with app.app_context():
        he = session().scalars(sa.select(User).where(User.username == "applicant_he")).one()
        number = applications.start(
            he, "house-cancellation", sample_form("house-cancellation")
        ).number
        applications.attach(he, number, "application", io.BytesIO(PDF), "申请书.pdf")
        applications.attach(he, number, "identity", io.BytesIO(PNG), "身份证.png")
        return list(session().scalars(sa.select(Upload.stored_name)))


def _per_case(app) -> dict[str, tuple[int, str, int]]:
    """case number → (events, last hash, tasks)."""
    with app.app_context():
        per_task = sa.select(Task.case_id, sa.func.count()).group_by(Task.case_id)
        tasks = dict(session().execute(per_task).all())
        return {
            no: (seq, last, tasks.get(cid, 0))
            for cid, no, seq, last in session().execute(
                sa.select(Case.id, Case.case_no, Case.event_seq, Case.last_hash)
            )
        }


def _fingerprint(app) -> tuple:
    """Everything a restore could change: counts, every event hash, the upload files."""
    with app.app_context():
        db = session()
        if not sa.inspect(db.connection()).has_table("events"):
            return ()
        hashes = hashlib.sha256(
            "".join(db.scalars(sa.text("SELECT hash FROM events ORDER BY id"))).encode()
        ).hexdigest()
        counts = verify_database(db).counts
        db.rollback()
    files = sorted(p.name for p in Path(app.config["UPLOAD_DIR"]).glob("*"))
    return counts, hashes, files


def _writer(app, stop: threading.Event, started: threading.Event, made: list[str]) -> None:
    """Receive cases one after another until told to stop (the service at work)."""
    with app.app_context():
        clerk = session().scalars(sa.select(User).where(User.username == "clerk_liu")).one()
        code = "house-cancellation"
        while not stop.is_set():
            n = len(made)
            applicant = cases.Applicant(name=f"并发{n}", id_number=f"3301021991{n:08d}",
                                        phone="13900000000")  # fmt: skip
            received = cases.receive_case(clerk, code, applicant, required_materials(code),
                                          sample_form(code))  # fmt: skip
            made.append(received.subject.case_no)
            started.set()


def test_a_live_backup_restores_into_a_new_database_that_verifies_and_works(
    demo_app, target_app, tmp_path
):
    generated = generate(demo_app, 30, seed=11, finish=0.6)
    stored = _upload_some(demo_app)
    before = _per_case(demo_app)
    assert len(before) == 30

    stop, started, made = threading.Event(), threading.Event(), []
    writer = threading.Thread(target=_writer, args=(demo_app, stop, started, made))
    writer.start()
    try:
        assert started.wait(30), "the writer did not start"
        file = tmp_path / "centre.owbackup"
        result = _cli(demo_app, "backup", str(file))
    finally:
        stop.set()
        writer.join(60)
    assert result.exit_code == 0, result.output + result.stderr
    assert made, "no case was received while the backup ran"
    with tarfile.open(file) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["counts"]["files"] == 2

    result = _cli(target_app, "restore", str(file))
    assert result.exit_code == 0, result.output + result.stderr
    c = manifest["counts"]
    assert f"{c['cases']} cases, {c['events']} events verified: 0 broken chains" in result.output

    after = _per_case(target_app)
    # every case made before the backup is there exactly as in the source (events, last
    # hash, tasks); of the cases received during the backup, those in the snapshot
    assert {no: after[no] for no in before} == before
    assert set(after) - set(before) <= set(made)
    assert len(after) == c["cases"] and 30 <= c["cases"] <= 30 + len(made)
    with target_app.app_context():
        db = session()
        check = verify_database(db, Path(target_app.config["UPLOAD_DIR"]))
        assert check.ok and check.cases == c["cases"] and check.events == c["events"]
        assert {k: check.counts[k] for k in ("cases", "events", "tasks", "uploads")} == {
            k: c[k] for k in ("cases", "events", "tasks", "uploads")
        }
        db.rollback()
    for name in stored:
        restored = Path(target_app.config["UPLOAD_DIR"]) / name
        assert restored.read_bytes() == (Path(demo_app.config["UPLOAD_DIR"]) / name).read_bytes()

    # the restored centre works: complete an open task of a generated case
    with target_app.app_context():
        db = session()
        task = db.scalars(
            sa.select(Task).join(Case, Case.id == Task.case_id)
            .where(Task.state == "open", Task.assignee_id.is_not(None),
                   Case.case_no.in_(generated))
            .order_by(Case.case_no).limit(1)
        ).first()  # fmt: skip
        assert task is not None, "casegen left no open task"
        case_id, holder = task.case_id, db.get(User, task.assignee_id)
        events_before = before[db.get(Case, case_id).case_no][0]
        fields = cases.open_task(holder, task.id).fields
        data = {f["id"]: _value(f, random.Random(1)) for f in fields}
        cases.complete_task(holder, task.id, "approve", "同意", data)
        db.expire_all()
        report = verify_chain(db, case_id)
        assert report.ok and report.events > events_before
        assert db.get(Task, task.id).state == "completed"


def test_a_damaged_backup_or_a_target_with_cases_is_refused_and_left_alone(
    demo_app, target_app, tmp_path
):
    generate(demo_app, 4, seed=3, finish=0.5)
    _upload_some(demo_app)
    file = tmp_path / "centre.owbackup"
    assert _cli(demo_app, "backup", str(file)).exit_code == 0
    assert _cli(target_app, "restore", str(file)).exit_code == 0
    restored = _fingerprint(target_app)
    assert restored[0]["cases"] == 4

    # a target that holds cases is not overwritten without --force
    refused = _cli(target_app, "restore", str(file))
    assert refused.exit_code == 1
    assert "already holds 4 cases" in refused.stderr and "--force" in refused.stderr
    assert _fingerprint(target_app) == restored

    data = file.read_bytes()
    with tarfile.open(file) as tar:
        dump = next(m for m in tar if m.name.startswith("database."))
    corrupted = tmp_path / "corrupted.owbackup"  # one byte of the database dump changed
    flipped = bytearray(data)
    flipped[dump.offset_data + dump.size // 2] ^= 0x5A
    corrupted.write_bytes(bytes(flipped))
    scrambled = tmp_path / "scrambled.owbackup"  # bytes changed all over, headers too
    flipped = bytearray(data)
    for at in range(700, len(data), 4099):
        flipped[at] ^= 0x5A
    scrambled.write_bytes(bytes(flipped))
    truncated = tmp_path / "truncated.owbackup"
    truncated.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty.owbackup"
    empty.write_bytes(b"")
    for bad in (corrupted, scrambled, truncated, empty, tmp_path / "missing.owbackup"):
        result = _cli(target_app, "restore", "--force", str(bad))
        assert result.exit_code == 1, (bad.name, result.output)
        assert "Error:" in result.stderr and str(bad) in result.stderr, result.stderr
        assert _fingerprint(target_app) == restored, bad.name
    assert "does not match its checksum" in _cli(target_app, "restore", "--force",
                                                 str(corrupted)).stderr  # fmt: skip

    # --force replaces a database with cases; the source gained a case meanwhile
    generate(demo_app, 1, seed=5, finish=0.0)
    assert _cli(demo_app, "backup", str(file)).exit_code == 0
    forced = _cli(target_app, "restore", "--force", str(file))
    assert forced.exit_code == 0, forced.output + forced.stderr
    assert "5 cases" in forced.output and "0 broken chains" in forced.output


def test_a_backup_of_an_older_schema_is_upgraded_after_restoring(tmp_path):
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from app.backup import make_backup

    old = tmp_path / "old.sqlite3"
    cfg = AlembicConfig(str(BASE_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(BASE_DIR / "migrations"))
    cfg.attributes["database_url"] = f"sqlite:///{old}"
    command.upgrade(cfg, "0013")
    file = tmp_path / "old.owbackup"
    manifest = make_backup(f"sqlite:///{old}", tmp_path / "no-uploads", file)
    assert manifest["schema_revision"] == "0013"
    assert file.stat().st_mode & 0o077 == 0  # personal data: the owner's only

    app = create_app(TestConfig, DATABASE_URL=f"sqlite:///{tmp_path / 'new.sqlite3'}",
                     UPLOAD_DIR=tmp_path / "uploads")  # fmt: skip
    result = _cli(app, "restore", str(file))
    app.extensions["ow_engine"].dispose()
    assert result.exit_code == 0, result.output
    assert "schema upgraded from 0013 to the newest" in result.output
    with sqlite3.connect(tmp_path / "new.sqlite3") as conn:
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert revision != "0013"
