"""Backup and restore of a whole centre: the database and the uploaded material files.

`flask backup FILE` writes one tar archive, safe to take while the service runs:

- `database.sqlite3` — on SQLite, a copy made with SQLite's online backup API (a consistent
  snapshot; writers carry on meanwhile);
- `database.pgdump` — on PostgreSQL, `pg_dump --format=custom` of the DATABASE_URL database,
  taken in an exported snapshot so that the counts in the manifest are those of the dump;
- `uploads/<stored name>` — every file of UPLOAD_DIR, copied after the database snapshot, so
  every upload the snapshot refers to is already complete on disk;
- `manifest.json` (last) — kind of database, schema revision, counts of cases, events, tasks
  and uploads in the snapshot, and the SHA-256 of every member.

`flask restore FILE` checks the whole archive first (every checksum, the database copy's
integrity, the schema revision) and only then replaces the DATABASE_URL database (SQLite:
the backup API into the target file; PostgreSQL: `pg_restore --clean --if-exists --no-owner
--single-transaction`, all or nothing) and copies the files into UPLOAD_DIR. A target that
has cases is left alone unless `--force`. After restoring it verifies every case's hash
chain, the counts against the manifest and every upload against its recorded SHA-256, and
exits non-zero if anything disagrees. The encryption key of personal data (OW_DATA_KEY) is
not in the backup; it must be kept separately.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from .migrate import alembic_config, upgrade_database

FORMAT = "onewindow-backup/1"
MANIFEST = "manifest.json"
DB_MEMBER = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
COUNTED = ("cases", "events", "tasks", "uploads")
CHUNK = 1024 * 1024


class BackupError(click.ClickException):
    """A backup or restore that cannot go on; the message says why (exit status 1)."""


def _kind(url: str) -> str:
    backend = sa.engine.make_url(url).get_backend_name()
    if backend not in DB_MEMBER:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {backend}")
    return backend


def _sqlite_path(url: str) -> Path:
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _pg_target(url: str) -> tuple[str, dict[str, str]]:
    """Return a libpq URI without the password, and the environment carrying it."""
    parsed = sa.engine.make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    libpq = parsed.set(drivername="postgresql", password=None)
    return libpq.render_as_string(hide_password=False), env


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _counts(conn: sa.Connection) -> dict[str, int]:
    tables = set(sa.inspect(conn).get_table_names())
    return {
        name: conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()  # noqa: S608
        if name in tables
        else 0
        for name in COUNTED
    }


def _revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _run(args: list[str], env: dict[str, str] | None, what: str) -> None:
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BackupError(f"{args[0]} is not installed (PostgreSQL client programs)") from None
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip()
        if "lock timeout" in detail:
            detail += " (is the service still running? stop it before restoring)"
        raise BackupError(f"{what} failed (exit {done.returncode}): {detail}")


# --- backup ---------------------------------------------------------------------------------


def _snapshot_sqlite(url: str, target: Path) -> tuple[dict[str, int], str | None]:
    source_path = _sqlite_path(url)
    if not source_path.exists():
        raise BackupError(f"the database file {source_path} does not exist")
    source = sqlite3.connect(source_path, timeout=30)  # only read by the backup API
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # all pages in one step: one consistent snapshot
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        check = copy.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        copy.close()
        source.close()
    if check != "ok":
        raise BackupError(f"the copy of the database failed its integrity check: {check}")
    engine = sa.create_engine(f"sqlite:///{target}")
    try:
        with engine.connect() as conn:
            return _counts(conn), _revision(conn)
    finally:
        engine.dispose()


def _snapshot_pg(url: str, target: Path) -> tuple[dict[str, int], str | None]:
    engine = sa.create_engine(url, isolation_level="REPEATABLE READ", poolclass=sa.pool.NullPool)
    libpq, env = _pg_target(url)
    try:
        with engine.connect() as conn:
            snapshot = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
            counts, revision = _counts(conn), _revision(conn)
            _run(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={target}",
                  f"--dbname={libpq}"], env, "pg_dump")  # fmt: skip
            conn.rollback()
    finally:
        engine.dispose()
    return counts, revision


class _HashingReader(io.RawIOBase):
    def __init__(self, fh) -> None:
        self.fh, self.digest = fh, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.digest.update(data)
        return data


def _add_uploads(tar: tarfile.TarFile, upload_dir: Path) -> dict[str, str]:
    sums: dict[str, str] = {}
    if not upload_dir.is_dir():
        return sums
    for path in sorted(upload_dir.iterdir()):
        if path.name.startswith("."):
            continue  # a file a restore was writing, not an upload
        try:
            fh = open(path, "rb")  # noqa: SIM115
        except (FileNotFoundError, IsADirectoryError):
            continue  # discarded meanwhile (a rolled-back upload), or not ours
        with fh:
            stat = os.fstat(fh.fileno())
            if not path.is_file():
                continue
            info = tarfile.TarInfo(f"uploads/{path.name}")
            info.size, info.mtime, info.mode = stat.st_size, int(stat.st_mtime), 0o640
            reader = _HashingReader(fh)
            tar.addfile(info, reader)
            sums[info.name] = reader.digest.hexdigest()
    return sums


def make_backup(url: str, upload_dir: Path, out: Path) -> dict:
    """Write the backup archive `out` (atomically); return its manifest."""
    kind = _kind(url)
    out = out.resolve()
    partial = out.with_name(out.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="ow-backup-") as tmp:
        dump = Path(tmp) / DB_MEMBER[kind]
        snapshot = _snapshot_sqlite if kind == "sqlite" else _snapshot_pg
        counts, revision = snapshot(url, dump)
        manifest = {
            "format": FORMAT,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "database": kind,
            "schema_revision": revision,
            "counts": counts,
            "members": {DB_MEMBER[kind]: _sha256(dump)},
        }
        try:
            # the archive holds personal data: readable by its owner only
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
                tar.add(dump, arcname=DB_MEMBER[kind])
                manifest["members"].update(_add_uploads(tar, upload_dir))
                manifest["counts"]["files"] = len(manifest["members"]) - 1
                data = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime = len(data), int(dt.datetime.now().timestamp())
                tar.addfile(info, io.BytesIO(data))
            fd = os.open(partial, os.O_RDONLY)
            try:
                os.fsync(fd)  # on disk before it takes the name of a finished backup
            finally:
                os.close(fd)
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    return manifest


# --- restore --------------------------------------------------------------------------------


def _damaged(path: Path, why: str) -> BackupError:
    return BackupError(f"{path} is not a usable backup ({why}); nothing was restored")


def read_backup(path: Path, into: Path) -> dict:
    """Unpack the archive into the directory `into` and check every member; the manifest."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                name = member.name
                parts = Path(name).parts
                ok_name = name in (MANIFEST, *DB_MEMBER.values()) or (
                    len(parts) == 2 and parts[0] == "uploads" and parts[1] not in ("..", ".")
                )
                if not member.isfile() or not ok_name:
                    raise _damaged(path, f"unexpected member {name!r}")
                tar.extract(member, into, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise _damaged(path, f"the archive is truncated or corrupted: {exc}") from None
    manifest_path = into / MANIFEST
    if not manifest_path.exists():
        raise _damaged(path, "no manifest: the archive is truncated or not a OneWindow backup")
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as exc:
        raise _damaged(path, f"the manifest is not valid JSON: {exc}") from None
    if manifest.get("format") != FORMAT:
        raise _damaged(path, f"unknown format {manifest.get('format')!r}")
    members = manifest.get("members", {})
    if DB_MEMBER.get(manifest.get("database")) not in members:
        raise _damaged(path, "the manifest names no database dump")
    present = {str(p.relative_to(into)) for p in into.rglob("*") if p.is_file()} - {MANIFEST}
    if present != set(members):
        missing = sorted(set(members) - present)[:3]
        extra = sorted(present - set(members))[:3]
        raise _damaged(path, f"members missing {missing} or not in the manifest {extra}")
    for name, expected in members.items():
        if _sha256(into / name) != expected:
            raise _damaged(path, f"{name} does not match its checksum")
    return manifest


def _check_dump(kind: str, dump: Path, backup: Path) -> None:
    if kind == "sqlite":
        try:
            conn = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
            try:
                check = conn.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise _damaged(backup, f"the database copy is unreadable: {exc}") from None
        if check != "ok":
            raise _damaged(backup, f"the database copy fails its integrity check: {check}")
    else:
        try:
            _run(["pg_restore", "--list", str(dump)], None, "reading the dump")
        except BackupError as exc:
            raise _damaged(backup, exc.message) from None


def _check_revision(revision: str | None) -> list[str]:
    """Return the revisions to upgrade through after restoring (empty: at head)."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    if revision is None:
        raise BackupError("the backup has no schema revision (alembic_version); not restoring")
    try:
        script.get_revision(revision)
    except Exception:  # noqa: BLE001 - alembic raises several kinds for an unknown revision
        raise BackupError(
            f"the backup's schema revision {revision} is unknown to this version of OneWindow "
            "(a backup of a newer release?); not restoring"
        ) from None
    return [] if revision in script.get_heads() else [revision]


def _target_cases(url: str) -> int:
    if _kind(url) == "sqlite" and not _sqlite_path(url).exists():
        return 0
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("cases"):
                return 0
            return conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
    except sa.exc.OperationalError as exc:
        raise BackupError(f"cannot reach the target database: {exc.orig}") from None
    finally:
        engine.dispose()


def _restore_sqlite(dump: Path, url: str) -> None:
    target = _sqlite_path(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
    dest = sqlite3.connect(target, timeout=30)
    try:
        source.backup(dest)  # one transaction on the target: all pages or none
    except sqlite3.Error as exc:
        raise BackupError(f"restoring into {target} failed: {exc}") from None
    finally:
        dest.close()
        source.close()


def _restore_pg(dump: Path, url: str) -> None:
    libpq, env = _pg_target(url)
    # a table still in use (the service running) fails the restore instead of hanging it
    env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c lock_timeout=60s").strip()
    _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
          "--exit-on-error", f"--dbname={libpq}", str(dump)], env, "pg_restore")  # fmt: skip


def _restore_uploads(unpacked: Path, upload_dir: Path) -> int:
    source = unpacked / "uploads"
    if not source.is_dir():
        return 0
    upload_dir.mkdir(parents=True, exist_ok=True)
    n = 0
    for path in source.iterdir():
        tmp = upload_dir / f".{path.name}.restoring"
        shutil.copyfile(path, tmp)
        os.replace(tmp, upload_dir / path.name)
        n += 1
    return n


@dataclass
class Verification:
    """What `verify_database` found."""

    counts: dict[str, int]
    cases: int = 0
    events: int = 0
    broken: list[str] = field(default_factory=list)
    bad_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken and not self.bad_files


def verify_database(db, upload_dir: Path | None = None) -> Verification:
    """Check every case's chain under the audit key (and, given the directory, every current
    upload). Not against the checkpoint log: a restored backup is older than the log by
    design; `flask audit-checkpoint --rebase` records the restore there."""
    from .audit.services import verify_chain
    from .cases.models import Case

    result = Verification(_counts(db.connection()))
    for case_id, case_no in db.execute(sa.select(Case.id, Case.case_no).order_by(Case.id)):
        report = verify_chain(db, case_id, anchors=None)
        result.cases += 1
        result.events += report.events
        if not report.ok:
            result.broken.append(f"{case_no}: event {report.first_bad_seq}: {report.problem}")
    if upload_dir is not None and result.counts["uploads"]:
        from .applicants.models import Upload

        for stored_name, sha in db.execute(sa.select(Upload.stored_name, Upload.sha256)):
            path = upload_dir / stored_name
            if not path.is_file():
                result.bad_files.append(f"{stored_name}: missing")
            elif _sha256(path) != sha:
                result.bad_files.append(f"{stored_name}: content does not match its SHA-256")
    return result


def restore_backup(path: Path, url: str, upload_dir: Path, force: bool = False) -> dict:
    """Check the archive, then replace the database and add the files; return the manifest."""
    kind = _kind(url)
    with tempfile.TemporaryDirectory(prefix="ow-restore-") as tmp:
        unpacked = Path(tmp)
        manifest = read_backup(path, unpacked)
        if manifest["database"] != kind:
            raise BackupError(
                f"{path} is a {manifest['database']} backup; the target is {kind} "
                "(restore into the same kind of database)"
            )
        dump = unpacked / DB_MEMBER[kind]
        _check_dump(kind, dump, path)
        upgrade = _check_revision(manifest.get("schema_revision"))
        existing = _target_cases(url)
        if existing and not force:
            raise BackupError(
                f"the target database already holds {existing} cases; restoring would replace "
                "them. Stop the service and use --force if that is what you want"
            )
        (_restore_sqlite if kind == "sqlite" else _restore_pg)(dump, url)
        if upgrade:
            upgrade_database(url)
        manifest["restored_files"] = _restore_uploads(unpacked, upload_dir)
        manifest["upgraded_from"] = upgrade[0] if upgrade else None
    return manifest


# --- commands -------------------------------------------------------------------------------


@click.command("backup")
@with_appcontext
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup_command(file: Path) -> None:
    """Back up the database and the uploaded files into FILE (safe while the service runs)."""
    config = current_app.config
    manifest = make_backup(config["DATABASE_URL"], Path(config["UPLOAD_DIR"]), file)
    c = manifest["counts"]
    click.echo(
        f"{file}: {manifest['database']} database at schema {manifest['schema_revision']}, "
        f"{c['cases']} cases, {c['events']} events, {c['tasks']} tasks, {c['files']} files"
    )


@click.command("restore")
@with_appcontext
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="replace a database that already holds cases")
def restore_command(file: Path, force: bool) -> None:
    """Restore FILE into DATABASE_URL and UPLOAD_DIR (service stopped), then verify it."""
    from .db import session

    config = current_app.config
    url, upload_dir = config["DATABASE_URL"], Path(config["UPLOAD_DIR"])
    current_app.extensions["ow_engine"].dispose()  # no pooled connection holds the old one
    manifest = restore_backup(file, url, upload_dir, force)
    current_app.extensions["ow_engine"].dispose()
    click.echo(
        f"restored {file} (taken {manifest['created_at']}, schema "
        f"{manifest['schema_revision']}) and {manifest['restored_files']} files"
    )
    if manifest["upgraded_from"]:
        click.echo(f"schema upgraded from {manifest['upgraded_from']} to the newest")
    db = session()
    result = verify_database(db, upload_dir)
    db.rollback()
    expected = manifest["counts"]
    problems = [
        f"{name}: {result.counts[name]} in the database, {expected[name]} in the backup"
        for name in COUNTED
        if result.counts[name] != expected.get(name)
    ]
    for line in problems + result.broken + result.bad_files:
        click.echo(f"  {line}", err=True)
    click.echo(
        f"{result.cases} cases, {result.events} events verified: "
        f"{len(result.broken)} broken chains; {result.counts['tasks']} tasks; "
        f"{result.counts['uploads']} uploads, {len(result.bad_files)} missing or altered"
    )
    if problems or not result.ok:
        raise SystemExit(1)
    click.echo(
        "the checkpoint log still records the chains as they were before the restore: record "
        f'it with flask audit-checkpoint --rebase "restored {file.name}"'
    )
