"""Task completions per second on the joint-approval item: raw engine, service layer, HTTP.

    python -m bench.throughput [--cases N] [--database URL ...] [--clients K] [--workers W]
                               [--out PATH]

(a) raw SpiffWorkflow: parse once, run each case, serialize and deserialize the whole
    workflow (spec included, as the library does by default) after every step;
(b) OneWindow's service layer with its database: receive_case, then complete_task for
    every task the previous step opened (no re-reading between steps), one thread;
(c) the same through the HTTP API: gunicorn with W workers on loopback, K client threads
    each running its own cases over keep-alive connections.
All three run the same diagram with the same decisions in one run; b/a and c/a are the
ratios. Without --database it runs on a new SQLite file and, if PostgreSQL answers at
OW_BENCH_PG (default postgresql+psycopg://postgres@127.0.0.1:5432/test), on a new
PostgreSQL database that it drops afterwards. The figures are saved as JSON to --out
(default build/bench/throughput-<time>.json).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.camunda.parser import CamundaParser  # noqa: E402
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from bench.output import add_out_argument, save  # noqa: E402

ITEM = "joint-investment"
DIAGRAM = ROOT / "bpmn" / f"{ITEM}.bpmn"
PROCESS = "Process_joint_investment"
TASKS_PER_CASE = 6  # acceptance, four parallel reviews, the joint decision
PG_ADMIN = os.environ.get("OW_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass
class Run:
    """Figures of one way of running the cases."""

    name: str
    tasks: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statements: dict[str, float] = field(default_factory=dict)
    rss_mb: float | None = None
    memory: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Return completed user tasks per second."""
        return self.tasks / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float | None:
        """Return the p-th percentile latency in ms, if latencies were taken."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _payload() -> dict:
    import tomllib

    entry = tomllib.loads((ROOT / "bpmn" / f"{ITEM}.toml").read_text("utf-8"))
    values = {"string": "示例", "long": 10, "boolean": True, "date": "2026-11-20"}
    form = {
        f["id"]: f["options"][0] if f["type"] == "enum" else values.get(f["type"], "x")
        for f in entry.get("form", [])
    }
    materials = [m["code"] for m in entry["materials"] if m.get("required", True)]
    return {"form": form, "materials": materials}


def bench_raw(cases: int, serialize: bool = True) -> Run:
    """Run the bare engine, serializing and deserializing after every step (`serialize`
    False: the same moves, nothing serialized, as bench.floor's (e))."""
    parser = CamundaParser()
    parser.add_bpmn_file(str(DIAGRAM))
    spec = parser.get_spec(PROCESS)
    subs = parser.get_subprocess_specs(PROCESS)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(CAMUNDA_CONFIG))
    form = _payload()["form"]
    run = Run("(a) raw SpiffWorkflow, serialize+deserialize every step")
    started = time.perf_counter()
    for _ in range(cases):
        workflow = BpmnWorkflow(spec, subs)
        for start in workflow.get_tasks(state=TaskState.READY):
            start.data.update(form)
        workflow.do_engine_steps()
        state = serializer.serialize_json(workflow) if serialize else None
        while True:
            if serialize:
                workflow = serializer.deserialize_json(state)
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                break
            task = ready[0]
            task.data.update({"outcome": "approve", "comment": "同意"})
            var = task.task_spec.extensions.get("outcomeVar")
            if var:
                task.data[var] = "approve"
            task.run()
            workflow.do_engine_steps()
            if serialize:
                state = serializer.serialize_json(workflow)
            run.tasks += 1
    run.seconds = time.perf_counter() - started
    assert run.tasks == cases * TASKS_PER_CASE, run.tasks
    return run


def prepare_database(url: str) -> None:
    """Migrate an empty database and load the demo centre into it."""
    from app import create_app
    from app.demo import load_demo
    from app.migrate import upgrade_database
    from config import Config

    upgrade_database(url)
    app = create_app(Config, DATABASE_URL=url, PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    with app.app_context():
        load_demo(ROOT / "bpmn")
    app.extensions["ow_engine"].dispose()


def bench_service(url: str, cases: int) -> Run:
    """Run the cases through the service functions, counting statements per operation."""
    from app import create_app
    from app.cases import services
    from app.db import session
    from app.org.models import User
    from config import Config

    app = create_app(Config, DATABASE_URL=url)
    payload = _payload()
    counts = {"statements": 0, "commits": 0}

    def on_statement(*_args) -> None:
        counts["statements"] += 1

    def on_commit(_conn) -> None:
        counts["commits"] += 1

    engine = app.extensions["ow_engine"]
    run = Run("(b) service layer + database, 1 thread")
    with app.app_context():
        users = {u.id: u for u in session().scalars(sa.select(User))}
    clerk = next(u for u in users.values() if u.has_role("clerk"))
    applicant = services.Applicant("李华", "330102199001011234", "13800001111")
    sa.event.listen(engine, "before_cursor_execute", on_statement)
    sa.event.listen(engine, "commit", on_commit)
    per_op: dict[str, list[int]] = {"create": [], "complete": []}
    started = time.perf_counter()
    for _ in range(cases):
        counts["statements"] = 0
        with app.app_context():
            received = services.receive_case(
                clerk, ITEM, applicant, payload["materials"], payload["form"]
            )
        per_op["create"].append(counts["statements"])
        run.tasks += 1  # the acceptance task
        waiting = list(received.opened)
        while waiting:
            task = waiting.pop(0)
            counts["statements"] = 0
            with app.app_context():
                done = services.complete_task(
                    users[task["assignee_id"]], task["id"], "approve", "同意"
                )
            per_op["complete"].append(counts["statements"])
            waiting.extend(done.opened)
            run.tasks += 1
    run.seconds = time.perf_counter() - started
    sa.event.remove(engine, "before_cursor_execute", on_statement)
    sa.event.remove(engine, "commit", on_commit)
    engine.dispose()
    run.statements = {
        "create": statistics.mean(per_op["create"]),
        "complete": statistics.mean(per_op["complete"]),
        "complete max": max(per_op["complete"]),
        "commits/op": counts["commits"] / (len(per_op["create"]) + len(per_op["complete"])),
    }
    assert run.tasks == cases * TASKS_PER_CASE, run.tasks
    return run


class _Http:
    """One keep-alive connection speaking JSON."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, token: str | None = None, body: dict | None = None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, f"/api/v1{path}", body=data, headers=headers)
        resp = self.conn.getresponse()
        payload = json.loads(resp.read() or b"null")
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status} {payload}")
        return payload


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rss_mb(pid: int) -> float:
    """Return the resident memory of a process and its children, in MB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def _tokens(url: str, client: _Http) -> tuple[dict[int, str], str]:
    import tomllib

    centre = tomllib.loads((ROOT / "bpmn" / "centre.toml").read_text("utf-8"))
    password = centre["centre"]["demo_password"]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.text("SELECT username, id FROM users")).all())
    engine.dispose()
    tokens = {}
    for user in centre["users"]:
        body = {"username": user["username"], "password": password}
        tokens[ids[user["username"]]] = client.call("POST", "/auth/token", body=body)["token"]
    clerk = next(u["username"] for u in centre["users"] if "clerk" in u["roles"])
    return tokens, tokens[ids[clerk]]


def bench_http(url: str, cases: int, clients: int, workers: int) -> Run:
    """Run the cases through the HTTP API from several client threads."""
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=url)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", "4",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "app:create_app()"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    run = Run(f"(c) HTTP API, gunicorn {workers} workers, {clients} client threads")
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        tokens, clerk_token = _tokens(url, _Http(port))
        body = {"item_code": ITEM, "applicant": {"name": "李华", "id_number": "330102199001011234"},
                **_payload()}  # fmt: skip
        lock = threading.Lock()
        errors: list[str] = []

        def client_loop(count: int) -> None:
            client = _Http(port)
            latencies, done = [], 0
            try:
                for _ in range(count):
                    created = client.call("POST", "/cases", clerk_token, body)
                    done += 1
                    waiting = list(created["open_tasks"])
                    while waiting:
                        task = waiting.pop(0)
                        t0 = time.perf_counter()
                        result = client.call(
                            "POST", f"/tasks/{task['id']}/complete",
                            tokens[task["assignee_id"]], {"outcome": "approve", "comment": "同意"},
                        )  # fmt: skip
                        latencies.append((time.perf_counter() - t0) * 1000)
                        waiting.extend(result["next_tasks"])
                        done += 1
            except Exception as exc:  # report, don't hang the other threads
                errors.append(repr(exc))
            with lock:
                run.tasks += done
                run.latencies_ms.extend(latencies)

        shares = [cases // clients + (1 if i < cases % clients else 0) for i in range(clients)]
        threads = [threading.Thread(target=client_loop, args=(n,)) for n in shares]
        samples: list[float] = [_rss_mb(server.pid)]
        finished = threading.Event()

        def sample_memory() -> None:
            while not finished.wait(0.5):
                samples.append(_rss_mb(server.pid))

        sampler = threading.Thread(target=sample_memory)
        started = time.perf_counter()
        sampler.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        run.seconds = time.perf_counter() - started
        finished.set()
        sampler.join()
        run.rss_mb = _rss_mb(server.pid)
        run.memory = {"start": samples[0], "max": max(samples), "end": run.rss_mb}
        if errors:
            raise RuntimeError(f"{len(errors)} client errors, first: {errors[0]}")
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert run.tasks == cases * TASKS_PER_CASE, run.tasks
    return run


def _new_pg_database() -> str | None:
    """Create a fresh PostgreSQL database for the run; None if PostgreSQL is not there."""
    name = f"ow_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        return None
    finally:
        admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def run_all(url: str, cases: int, clients: int, workers: int) -> list[Run]:
    """Run (a), (b) and (c) on one database and return their figures."""
    prepare_database(url)
    bench_raw(max(5, cases // 10))  # warm up imports and caches
    return [
        bench_raw(cases),
        bench_service(url, cases),
        bench_http(url, cases, clients, workers),
    ]


def print_table(title: str, runs: list[Run]) -> None:
    """Print the figures of one database as a table."""
    raw = runs[0].rate
    print(f"\n{title}")
    print(f"{'run':62} {'tasks/s':>8} {'ratio':>6} {'p50 ms':>7} {'p95 ms':>7} {'RSS MB':>7}")
    for run in runs:
        cells = [run.percentile(50), run.percentile(95), run.rss_mb]
        extra = " ".join(f"{c:7.1f}" if c is not None else f"{'':>7}" for c in cells)
        print(f"{run.name:62} {run.rate:8.1f} {run.rate / raw:6.2f} {extra}")
    for run in runs:
        if run.memory:
            figures = ", ".join(f"{k} {v:.0f} MB" for k, v in run.memory.items())
            print(f"server resident memory (all workers) during (c): {figures}")
        if run.statements:
            figures = ", ".join(f"{k} {v:.2f}" for k, v in run.statements.items())
            print(f"SQL statements per operation (service layer): {figures}")


def figures_of(runs: list[Run]) -> list[dict]:
    """Return the figures of one database's runs as JSON-ready rows."""
    raw = runs[0].rate
    return [
        {
            "name": run.name,
            "tasks": run.tasks,
            "seconds": run.seconds,
            "tasks_per_s": run.rate,
            "ratio": run.rate / raw if raw else None,
            "p50_ms": run.percentile(50),
            "p95_ms": run.percentile(95),
            "rss_mb": run.rss_mb,
            "statements": run.statements,
            "memory": run.memory,
        }
        for run in runs
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--database", action="append", help="database URL (repeatable)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    add_out_argument(parser, "throughput")
    args = parser.parse_args(argv)
    databases: dict[str, list[dict]] = {}
    print(f"joint-approval item, {args.cases} cases x {TASKS_PER_CASE} user tasks; "
          f"{os.cpu_count()} cores")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        targets = args.database or [f"sqlite:///{tmp}/bench.sqlite3"]
        made = None
        if not args.database:
            made = _new_pg_database()
            if made:
                targets.append(made)
            else:
                print(f"(PostgreSQL not reachable at {PG_ADMIN}: SQLite only)")
        try:
            for url in targets:
                runs = run_all(url, args.cases, args.clients, args.workers)
                kind = url.split(":", 1)[0].split("+")[0]
                print_table(kind, runs)
                databases[kind] = figures_of(runs)
        finally:
            if made:
                _drop_pg_database(made)
    save(args.out, "throughput", {"cases": args.cases, "clients": args.clients,
                                  "workers": args.workers, "databases": databases})  # fmt: skip


if __name__ == "__main__":
    main()
