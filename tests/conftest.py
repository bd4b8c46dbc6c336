"""Fixtures: a fresh app and database per test, on SQLite and on PostgreSQL.

Every test that asks for `app` (or anything built on it) runs twice, once per database.
The PostgreSQL database is created for this run and dropped at its end; each test
starts from empty tables. Under CI=true a missing PostgreSQL fails the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from app.db import Base
from app.migrate import upgrade_database
from config import BASE_DIR, TestConfig

PG_ADMIN_URL = os.environ.get(
    "OW_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_admin_engine() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """Return a migrated, empty SQLite database file to copy for each test."""
    path = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_url():
    """Create a PostgreSQL database for this run, migrated; drop it at the end."""
    name = f"ow_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = _pg_admin_engine()
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc.orig}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade_database(url)
    yield url
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :n AND pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@contextlib.contextmanager
def new_pg_database(prefix: str):
    """Create a PostgreSQL database with no schema for one test; drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def empty_pg(url: str) -> None:
    """Empty every table, and switch back on any trigger a test switched off (the audit
    tests play an attacker who disables the append-only guard of the events)."""
    engine = sa.create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        disabled = conn.scalars(sa.text(
            "SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger "
            "WHERE NOT tgisinternal AND tgenabled = 'D'"
        )).all()  # fmt: skip
        for table in disabled:
            conn.execute(sa.text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Return the URL of an empty, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "onewindow.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_url")
    empty_pg(url)
    return url


@pytest.fixture(scope="session")
def signing_dir(tmp_path_factory) -> Path:
    """The run's signing folder: the demo CA and the authorities' keys, made on first need
    (SIGNING_DEMO_CA) once per run, never read from an earlier one."""
    return tmp_path_factory.mktemp("signing")


@pytest.fixture
def app(database_url, tmp_path, signing_dir):
    """Return a fresh app on an empty database (uploads go to the test's directory)."""
    application = create_app(TestConfig, DATABASE_URL=database_url, BPMN_DIR=BASE_DIR / "bpmn",
                             UPLOAD_DIR=tmp_path / "uploads", SIGNING_DIR=signing_dir,
                             CHECKPOINT_LOG=str(tmp_path / "checkpoints.log"))  # fmt: skip
    yield application
    application.extensions["ow_engine"].dispose()


@pytest.fixture
def demo_app(app):
    """Return an app whose database holds the demo centre."""
    from app.demo import load_demo

    with app.app_context():
        load_demo(app.config["BPMN_DIR"])
    return app


@pytest.fixture
def client(demo_app):
    """Return a test client of the demo centre."""
    return demo_app.test_client()


# --- browser tests: one Chromium for the whole run, the app served on 127.0.0.1 ------------

CHROMIUM = os.environ.get("OW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (one sync session per test process)."""
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM} (scripts/test.sh installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def live_server(demo_app):
    """Serve the demo app on a free port of 127.0.0.1 for the length of a test."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, demo_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
