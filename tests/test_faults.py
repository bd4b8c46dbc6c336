"""Faults: a worker killed in the middle of a completion, the database going away, the
scheduler's leader killed. Each test runs the real pieces (gunicorn, scheduler processes,
PostgreSQL behind a TCP proxy) and checks what a user would see and what the database holds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app import create_app
from app.audit.services import verify_chain
from app.db import session
from app.demo import load_demo
from app.scheduler import ADVISORY_KEY
from config import BASE_DIR, TestConfig
from tests.apiclient import Api, required_materials, sample_form
from tests.conftest import empty_pg
from tests.webclient import Web

WSGI = """
import os
from app import create_app
from config import TestConfig
app = create_app(TestConfig, TESTING=False, DEMO=True, DATABASE_URL=os.environ["DATABASE_URL"])
"""

SCHEDULER = """
import os, signal
from app import create_app
from app.scheduler import start_scheduler
from config import TestConfig
app = create_app(TestConfig, DATABASE_URL=os.environ["DATABASE_URL"],
                 SCHEDULER_FALLBACK_SECONDS=float(os.environ["OW_SCHEDULER_FALLBACK_SECONDS"]))
start_scheduler(app)
print("started", flush=True)
signal.pause()
"""


def wait_for(check, timeout: float = 30.0, every: float = 0.05, what: str = "condition"):
    """Poll `check` until it returns something true; return that, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


class Http:
    """Plain HTTP against a served app (one connection per request)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method: str, path: str, token: str | None = None, body: dict | None = None,
             timeout: float = 60):  # fmt: skip
        import json
        import urllib.error
        import urllib.request

        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def token(self, username: str) -> str:
        from tests.apiclient import PASSWORD

        status, body = self.call("POST", "/api/v1/auth/token", None,
                                 {"username": username, "password": PASSWORD})  # fmt: skip
        assert status == 200, body
        return body["token"]


@contextmanager
def gunicorn(url: str, tmp_path: Path):
    """Serve the app on `url` with gunicorn, one worker; yield (master process, port)."""
    (tmp_path / "ow_fault_wsgi.py").write_text(WSGI)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "OW_SCHEDULER": "false",
           "PYTHONPATH": f"{tmp_path}{os.pathsep}{BASE_DIR}"}  # fmt: skip
    log = (tmp_path / "gunicorn.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "4",
         "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2", "ow_fault_wsgi:app"],
        cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        http = Http(port)

        def serving():
            assert proc.poll() is None, (tmp_path / "gunicorn.log").read_text()[-3000:]
            try:
                return http.call("GET", "/api/v1/items", timeout=5)[0] == 200
            except OSError:
                return False

        wait_for(serving, 60, 0.1, "gunicorn to serve")
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def case_snapshot(engine: sa.Engine, case_no: str) -> dict:
    """What the database holds of a case: row, tasks, events, and whether its chain verifies."""
    with engine.connect() as conn:
        case = conn.execute(
            sa.text("SELECT id, version, event_seq, last_hash, status, state FROM cases "
                    "WHERE case_no = :n"), {"n": case_no},
        ).one()  # fmt: skip
        tasks = conn.execute(
            sa.text("SELECT id, spec_id, state FROM tasks WHERE case_id = :c ORDER BY id"),
            {"c": case.id},
        ).all()
        events = conn.execute(
            sa.text("SELECT seq, type, task_id FROM events WHERE case_id = :c ORDER BY seq"),
            {"c": case.id},
        ).all()
    with Session(engine) as db:  # verify_chain needs no app
        chain = verify_chain(db, case.id)
    return {
        "version": case.version,
        "event_seq": case.event_seq,
        "last_hash": case.last_hash,
        "status": case.status,
        "state": case.state,
        "tasks": [(_uuid(t.id), t.spec_id, t.state) for t in tasks],
        "events": [(e.seq, e.type, _uuid(e.task_id) if e.task_id else None) for e in events],
        "chain_ok": chain.ok,
    }


def _uuid(value) -> str:
    return str(uuid.UUID(str(value)))  # SQLite keeps the hex digits only


# --- a. a worker killed with -9 in the middle of a completion ----------------------------------


def _pg_backend_waiting(admin: sa.Connection, statement: str) -> dict | None:
    """The backend of this database that waits for a lock while running `statement`."""
    row = admin.execute(
        sa.text(
            "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query ILIKE :q"
        ),
        {"q": f"{statement}%"},
    ).first()
    return row._asdict() if row else None


def _sqlite_worker_waiting(pid: int) -> bool:
    """Whether a thread of the worker sleeps in SQLite's busy handler (a sleep syscall, several
    samples in a row: request threads otherwise wait on futexes and sockets)."""
    sleeps = {35, 230} if os.uname().machine == "x86_64" else {101, 115}  # nanosleep, clock_
    for _ in range(5):
        found = False
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                number = (task / "syscall").read_text().split()[0]
            except (OSError, IndexError):
                continue
            found = found or (number.isdigit() and int(number) in sleeps)
        if not found:
            return False
        time.sleep(0.02)
    return True


def test_a_worker_killed_mid_completion_leaves_the_case_as_before(demo_app, tmp_path):
    url = demo_app.config["DATABASE_URL"]
    engine = sa.create_engine(url)
    with gunicorn(url, tmp_path) as (master, port):
        http = Http(port)
        clerk, xiao = http.token("clerk_liu"), http.token("official_xiao")
        body = {"item_code": "joint-investment",
                "materials": required_materials("joint-investment"),
                "applicant": {"name": "李华", "id_number": "330102199001011234",
                              "phone": "13800001111"},
                "form": sample_form("joint-investment")}  # fmt: skip
        status, created = http.call("POST", "/api/v1/cases", clerk, body)
        assert status == 201, created
        case_no = created["case_no"]
        task = next(t for t in created["open_tasks"] if t["spec_id"] == "Task_ndrc")
        before = case_snapshot(engine, case_no)
        assert before["chain_ok"] and ("Task_ndrc" in str(before["tasks"]))
        worker = _children(master.pid)
        assert len(worker) == 1, worker
        answers: list = []

        def complete():
            try:
                answers.append(http.call("POST", f"/api/v1/tasks/{task['id']}/complete", xiao,
                                         {"outcome": "approve", "comment": "同意"}))  # fmt: skip
            except OSError as exc:  # the worker died under the request
                answers.append(exc)

        postgres = url.startswith("postgresql")
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        # pg_stat_activity is read once per transaction: watch from outside the blocker's
        blocker, watch = admin.connect(), admin.connect()
        raw = None
        try:
            if postgres:
                # the events go last: the worker writes the case row and the task, then waits
                blocker.exec_driver_sql("BEGIN")
                blocker.exec_driver_sql("LOCK TABLE events IN EXCLUSIVE MODE")
            else:
                raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
                raw.execute("BEGIN IMMEDIATE")  # the write lock: the worker's first write waits
            request = threading.Thread(target=complete)
            request.start()
            if postgres:
                waiting = wait_for(
                    lambda: _pg_backend_waiting(watch, "INSERT INTO events"),
                    what="the completion to wait inside its transaction",
                )
                held = watch.execute(
                    sa.text("SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = "
                            "l.relation WHERE l.pid = :p AND l.mode = 'RowExclusiveLock'"),
                    {"p": waiting["pid"]},
                ).scalars().all()  # fmt: skip
                assert {"cases", "tasks"} <= set(held), held  # it has written both already
            else:
                wait_for(
                    lambda: _sqlite_worker_waiting(worker[0]),
                    what="the worker to wait for SQLite's write lock",
                )
            os.kill(worker[0], signal.SIGKILL)
            request.join(timeout=30)
            assert not request.is_alive()
            assert isinstance(answers[0], OSError), answers  # the client never heard "done"
        finally:
            if postgres:
                blocker.exec_driver_sql("ROLLBACK")
            elif raw is not None:
                raw.execute("ROLLBACK")
                raw.close()
        if postgres:  # the orphaned backend goes on, finds its client gone and rolls back
            wait_for(lambda: not watch.execute(
                sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :p"), {"p": waiting["pid"]},
            ).first(), what="the dead worker's backend to end")  # fmt: skip
        blocker.close()
        watch.close()
        admin.dispose()
        after_kill = case_snapshot(engine, case_no)
        assert after_kill == before  # same version, task still open, no new event, chain intact

        # the master has started a new worker; the same completion now goes through
        wait_for(lambda: (new := _children(master.pid)) and new != worker,
                 what="gunicorn to start a new worker")  # fmt: skip
        status, done = wait_for(
            lambda: (answer := _try(http.call, "POST", f"/api/v1/tasks/{task['id']}/complete",
                                    xiao, {"outcome": "approve", "comment": "同意"})) and answer,
            what="the new worker to answer",
        )  # fmt: skip
        assert status == 200, done
        after = case_snapshot(engine, case_no)
    engine.dispose()
    assert after["version"] == before["version"] + 1 and after["chain_ok"]
    assert (task["id"], "Task_ndrc", "completed") in after["tasks"]
    completed = [e for e in after["events"] if e[1] == "task_completed" and e[2] == task["id"]]
    assert len(completed) == 1
    assert after["events"][: len(before["events"])] == before["events"]


def _try(func, *args):
    try:
        return func(*args)
    except OSError:
        return None


# --- b. the database goes away (a TCP proxy between the app and PostgreSQL) --------------------


class TcpProxy:
    """Forward a local port to PostgreSQL; down() cuts every connection and refuses new ones."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = _free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept() or recv()
    sock.close()


@pytest.fixture
def pg_demo_url(pg_url, tmp_path) -> str:
    """The run's PostgreSQL database, emptied and holding the demo centre."""
    empty_pg(pg_url)
    app = create_app(TestConfig, DATABASE_URL=pg_url, UPLOAD_DIR=tmp_path / "uploads")
    with app.app_context():
        load_demo(BASE_DIR / "bpmn")
    app.extensions["ow_engine"].dispose()
    return pg_url


def _unavailable(resp) -> None:
    assert resp.status_code == 503, (resp.status_code, resp.text[:500])
    assert int(resp.headers["Retry-After"]) > 0


def test_b_database_outage_answers_503_then_recovers_with_nothing_half_written(
    pg_demo_url, tmp_path
):
    direct = sa.engine.make_url(pg_demo_url)
    proxy = TcpProxy((direct.host or "127.0.0.1", direct.port or 5432))
    via_proxy = direct.set(host="127.0.0.1", port=proxy.port)
    app = create_app(TestConfig, DATABASE_URL=via_proxy.render_as_string(hide_password=False),
                     UPLOAD_DIR=tmp_path / "uploads")  # fmt: skip
    engine = sa.create_engine(pg_demo_url, isolation_level="AUTOCOMMIT")
    try:
        api = Api(app.test_client())
        case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
        task = next(t for t in api.open_tasks(case_no) if t["spec_id"] == "Task_ndrc")
        xiao = api.token("official_xiao")
        web = Web(app, "official_xiao")
        assert case_no in web.get("/inbox").text
        before = case_snapshot(engine, case_no)
        cases_before = _count(engine, "cases")

        # 1. the connection drops while a completion is inside its transaction
        blocker, watch = engine.connect(), engine.connect()
        blocker.exec_driver_sql("BEGIN")
        blocker.exec_driver_sql("LOCK TABLE events IN EXCLUSIVE MODE")
        answers = []

        def complete():
            answers.append(app.test_client().post(
                f"/api/v1/tasks/{task['id']}/complete", json={"outcome": "approve"},
                headers={"Authorization": f"Bearer {xiao}"}))  # fmt: skip

        request = threading.Thread(target=complete)
        request.start()
        waiting = wait_for(lambda: _pg_backend_waiting(watch, "INSERT INTO events"),
                           what="the completion to wait inside its transaction")  # fmt: skip
        proxy.down()
        request.join(timeout=30)
        _unavailable(answers[0])
        assert "无法连接数据库" in answers[0].get_json()["message"]
        blocker.exec_driver_sql("ROLLBACK")
        wait_for(lambda: not watch.execute(
            sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :p"), {"p": waiting["pid"]},
        ).first(), what="the cut-off backend to end")  # fmt: skip
        blocker.close()
        watch.close()
        assert case_snapshot(engine, case_no) == before

        # 2. while it is down: API and pages answer 503 with a clear message
        headers = {"Authorization": f"Bearer {xiao}"}
        resp = api.client.get("/api/v1/tasks?assignee=me", headers=headers)
        _unavailable(resp)
        assert resp.get_json() == {"error": "Unavailable", "message": resp.get_json()["message"]}
        assert "请稍后再试" in resp.get_json()["message"]
        clerk = {"Authorization": f"Bearer {api.token('clerk_liu')}"}
        _unavailable(api.client.post("/api/v1/cases", headers=clerk,
                                     json={"item_code": "joint-investment"}))  # fmt: skip
        _unavailable(api.client.post("/api/v1/auth/token",
                                     json={"username": "clerk_liu", "password": "x"}))  # fmt: skip
        page = web.get("/inbox", expect=503)
        _unavailable(page)
        assert "The service is temporarily unavailable" in page.text
        assert "数据库暂时无法连接" in page.text and "Traceback" not in page.text
        _unavailable(api.client.post(f"/api/v1/tasks/{task['id']}/complete",
                                     json={"outcome": "approve"}, headers=headers))  # fmt: skip

        # 3. back up: the same requests succeed, and the case moved exactly once
        proxy.up()
        done = api.call("POST", f"/tasks/{task['id']}/complete", "official_xiao",
                        json={"outcome": "approve", "comment": "同意"})  # fmt: skip
        assert done["state"] == "completed"
        web.get("/inbox")  # the web session goes on
        assert task["id"] not in [t["id"] for t in api.call("GET", "/tasks", "official_xiao")
                                  ["tasks"]]  # fmt: skip
        after = case_snapshot(engine, case_no)
        assert after["chain_ok"] and after["version"] == before["version"] + 1
        assert after["event_seq"] == len(after["events"])
        assert len([e for e in after["events"]
                    if e[1] == "task_completed" and e[2] == task["id"]]) == 1  # fmt: skip
        assert _count(engine, "cases") == cases_before  # the refused application left nothing
        assert api.client.post("/api/v1/auth/token", json={"username": "clerk_liu",
                               "password": "x"}).status_code == 401  # fmt: skip
        api.apply("joint-investment", sample_form("joint-investment"))
        assert _count(engine, "cases") == cases_before + 1
        with app.app_context():
            assert all(verify_chain(session(), cid).ok for cid in _ids(engine))
    finally:
        proxy.down()
        app.extensions["ow_engine"].dispose()
        engine.dispose()


def test_b_a_connection_lost_after_the_answer_was_made_is_no_error(pg_demo_url, tmp_path):
    direct = sa.engine.make_url(pg_demo_url)
    proxy = TcpProxy((direct.host or "127.0.0.1", direct.port or 5432))
    via_proxy = direct.set(host="127.0.0.1", port=proxy.port)
    app = create_app(TestConfig, DATABASE_URL=via_proxy.render_as_string(hide_password=False),
                     UPLOAD_DIR=tmp_path / "uploads")  # fmt: skip
    try:
        with app.test_request_context("/api/v1/tasks"):
            assert session().execute(sa.text("SELECT 1")).scalar() == 1  # a transaction is open
            proxy.down()  # the request is done; closing its session meets a dead connection
        proxy.up()
        with app.test_request_context("/api/v1/tasks"):  # the pool recovers
            assert session().execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        proxy.down()
        app.extensions["ow_engine"].dispose()


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()


def _ids(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT id FROM cases")).scalars())


def test_c_a_leader_whose_connection_died_no_longer_believes_it_leads(pg_demo_url, tmp_path):
    from app.scheduler import LeaderLock

    direct = sa.engine.make_url(pg_demo_url)
    proxy = TcpProxy((direct.host or "127.0.0.1", direct.port or 5432))
    url = direct.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    app = create_app(TestConfig, DATABASE_URL=url, UPLOAD_DIR=tmp_path / "uploads")
    engine = sa.create_engine(pg_demo_url, isolation_level="AUTOCOMMIT")
    other = engine.connect()
    lock = LeaderLock(url)
    try:
        with app.app_context():
            assert lock.acquire()
            proxy.down()  # the database restarts: the session, and its lock, are gone
            proxy.up()
            lock_sql = sa.text("SELECT pg_try_advisory_lock(:k)")
            assert wait_for(lambda: other.execute(lock_sql, {"k": ADVISORY_KEY}).scalar(),
                            what="another process to take the lock")  # fmt: skip
            assert not lock.acquire()  # it sees it lost the lock instead of firing alongside
            other.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            assert lock.acquire()
            lock.release()
    finally:
        proxy.down()
        other.close()
        engine.dispose()
        app.extensions["ow_engine"].dispose()


# --- c. the scheduler's leader killed --------------------------------------------------------


def _leader(conn: sa.Connection) -> str | None:
    """The application_name of the process holding the scheduler's lock in this database."""
    return conn.execute(
        sa.text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = :k AND l.database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"k": ADVISORY_KEY},
    ).scalar()


def _make_overdue(conn: sa.Connection, task_id: str) -> None:
    """Put a task's yellow and red times in the past, as if its days had run out."""
    conn.execute(
        sa.text("UPDATE tasks SET yellow_at = now() AT TIME ZONE 'utc' - interval '2 hours', "
                "due_at = now() AT TIME ZONE 'utc' - interval '1 hour' WHERE id = :t"),
        {"t": uuid.UUID(task_id)},
    )  # fmt: skip


def _cards(conn: sa.Connection, task_id: str) -> list[str]:
    return sorted(conn.execute(
        sa.text("SELECT level FROM warnings WHERE task_id = :t"), {"t": uuid.UUID(task_id)}
    ).scalars())  # fmt: skip


def _warned(conn: sa.Connection, task_id: str) -> list[str]:
    return sorted(conn.execute(
        sa.text("SELECT data->>'level' FROM events WHERE type = 'warning_issued' AND task_id = :t"),
        {"t": uuid.UUID(task_id)},
    ).scalars())  # fmt: skip


def test_c_scheduler_leader_killed_the_other_takes_over_and_cards_go_out_once(
    pg_demo_url, tmp_path
):
    period = 1.0
    app = create_app(TestConfig, DATABASE_URL=pg_demo_url, UPLOAD_DIR=tmp_path / "uploads")
    api = Api(app.test_client())
    first = api.apply("house-cancellation", sample_form("house-cancellation"))["open_tasks"][0]
    engine = sa.create_engine(pg_demo_url, isolation_level="AUTOCOMMIT")
    conn = engine.connect()
    _make_overdue(conn, first["id"])
    script = tmp_path / "scheduler.py"
    script.write_text(SCHEDULER)
    procs = {}
    try:
        for name in ("sched_a", "sched_b"):
            url = f"{pg_demo_url}?application_name={name}"
            env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(BASE_DIR),
                   "OW_SCHEDULER_FALLBACK_SECONDS": str(period)}  # fmt: skip
            with (tmp_path / f"{name}.log").open("w") as log:
                procs[name] = subprocess.Popen(
                    [sys.executable, str(script)],
                    cwd=BASE_DIR,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        leader = wait_for(lambda: _leader(conn), what="a scheduler to take the leader lock")
        # the leader issues the overdue task's cards, yellow and red, once each
        wait_for(lambda: _warned(conn, first["id"]) == ["red", "yellow"], what="the cards")
        assert all(p.poll() is None for p in procs.values())

        procs[leader].kill()  # -9: no chance to give the lock back
        procs[leader].wait()
        other = next(n for n in procs if n != leader)
        # the killed process's server backend lingers (holding the lock under its name) until
        # PostgreSQL notices the closed socket; what counts is that the other one gets the lock
        took_over = wait_for(
            lambda: _leader(conn) not in (None, leader) and _leader(conn),
            timeout=3 * period + 10,
            what="the other scheduler to take over",
        )
        assert took_over == other

        # the new leader warns about a task that falls overdue now, and only about that one
        second = api.apply("house-cancellation", sample_form("house-cancellation"))["open_tasks"][0]
        _make_overdue(conn, second["id"])
        wait_for(lambda: _warned(conn, second["id"]) == ["red", "yellow"], what="new cards")
        rounds_done = time.monotonic() + 2 * period  # two more rounds of the new leader
        wait_for(lambda: time.monotonic() > rounds_done, what="two more rounds")
        assert procs[other].poll() is None
        for task in (first, second):
            assert _cards(conn, task["id"]) == ["red", "yellow"]
            assert _warned(conn, task["id"]) == ["red", "yellow"]
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=15)
        conn.close()
        engine.dispose()
        app.extensions["ow_engine"].dispose()


def test_a_write_that_loses_every_race_is_a_clear_409_not_a_500(app):
    """After WRITE_RETRIES lost races the caller gets a conflict with a message, and the
    operation ran once per attempt."""
    from app.db import LOST_EVERY_RACE, transactional
    from app.errors import Conflict, StaleCase

    tries = []

    @transactional
    def always_stale():
        tries.append(1)
        raise StaleCase("the case row moved")

    app.config["WRITE_RETRIES"] = 2
    with app.app_context(), pytest.raises(Conflict) as caught:
        always_stale()
    assert caught.value.status == 409
    with app.app_context():  # raised in the default language, zh
        assert str(caught.value) == str(LOST_EVERY_RACE) and "刷新后重试" in str(caught.value)
    assert len(tries) == 3
