"""SQLite's writers queue on one lock: the threads of a process and the processes on a file.

Several gunicorn workers on one SQLite file used to meet SQLite's busy handler, which sleeps
1, 2, 5, 10 … ms between tries; they now wait on an flock of `<database>.write-lock`, which
the kernel hands to the next waiter as soon as it is released.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa

from app import create_app
from app.db import session, transactional
from app.org.models import Department
from app.writelock import WriteLock
from config import TestConfig

HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
with open(sys.argv[2], "a") as log:
    log.write("other process takes it\\n")
print("held", flush=True)
time.sleep(0.5)
with open(sys.argv[2], "a") as log:
    log.write("other process lets it go\\n")
fcntl.flock(fd, fcntl.LOCK_UN)
"""


def test_another_process_holding_the_lock_makes_a_writer_wait(tmp_path):
    database = tmp_path / "centre.sqlite3"
    log = tmp_path / "order.log"
    lock = WriteLock(str(database))
    other = subprocess.Popen(
        [sys.executable, "-c", HOLDER, f"{database}.write-lock", str(log)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert other.stdout.readline().strip() == "held"
    started = time.monotonic()
    with lock:
        waited = time.monotonic() - started
        with log.open("a") as out:
            out.write("this process writes\n")
    other.wait(timeout=10)
    other.stdout.close()
    assert log.read_text().splitlines() == [
        "other process takes it",
        "other process lets it go",
        "this process writes",
    ]
    assert waited >= 0.3  # it waited for the other process, not for a fixed sleep


def test_threads_queue_and_a_thread_may_take_it_again(tmp_path):
    lock = WriteLock(str(tmp_path / "centre.sqlite3"))
    inside, order = threading.Event(), []

    def first() -> None:
        with lock:
            with lock:  # reentrant: an operation inside an operation
                inside.set()
                time.sleep(0.2)
                order.append("first")
            order.append("first again")

    def second() -> None:
        inside.wait()
        with lock:
            order.append("second")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["first", "first again", "second"]


def test_an_in_memory_database_has_the_thread_lock_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a lock file for ":memory:" would land here
    for name in (":memory:", None):
        with WriteLock(name):
            pass
    with WriteLock("centre.sqlite3"):  # a file database gets its lock file, as a check
        pass
    assert [p.name for p in tmp_path.iterdir()] == ["centre.sqlite3.write-lock"]


@pytest.fixture
def sqlite_app(sqlite_template, tmp_path):
    """An app on SQLite, the database with a writers' lock (PostgreSQL locks rows itself)."""
    path = tmp_path / "onewindow.sqlite3"
    shutil.copy(sqlite_template, path)
    application = create_app(TestConfig, DATABASE_URL=f"sqlite:///{path}")
    yield application
    application.extensions["ow_engine"].dispose()


def test_an_operation_reads_while_another_writes_and_queues_only_to_write(sqlite_app):
    # another operation holds the writers' lock (it is writing); an operation that only
    # reads goes through at once, one that writes waits for the lock and then writes
    app = sqlite_app
    lock = app.extensions["ow_write_lock"]
    released, order = threading.Event(), []

    @transactional
    def read() -> int:
        return session().scalar(sa.select(sa.func.count()).select_from(Department))

    @transactional
    def write() -> None:
        session().execute(sa.update(Department).values(name=Department.name))
        order.append("wrote")

    def other_writer() -> None:
        with lock:
            order.append("other writes")
            released.wait(timeout=10)
            order.append("other done")

    holder = threading.Thread(target=other_writer)
    holder.start()
    while not order:
        time.sleep(0.01)
    with app.app_context():
        read()  # not blocked: it never writes
        order.append("read")
        writing = threading.Thread(target=lambda: _in_context(app, write))
        writing.start()
        time.sleep(0.2)
        assert order == ["other writes", "read"]  # the writer waits for the lock
        released.set()
        writing.join(timeout=10)
    holder.join(timeout=10)
    assert order == ["other writes", "read", "other done", "wrote"]


def _in_context(app, func) -> None:
    with app.app_context():
        func()
