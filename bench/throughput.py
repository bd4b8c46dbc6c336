"""Task completions per second on the joint-approval item: raw engine, service layer, HTTP.

    python -m bench.throughput [--cases N] [--database URL]

(a) raw SpiffWorkflow: parse once, run each case, serialize and deserialize the whole
    workflow (spec included, as the library does by default) after every step;
(b) OneWindow's service layer with its database (SQLite in a temporary folder unless
    --database is given): receive_case, then complete_task for every user task;
(c) the same through the HTTP API, served by gunicorn in a child process.
All three run the same diagram and the same decisions, in one run, and the ratios b/a
and c/a are printed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.camunda.parser import CamundaParser  # noqa: E402
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

ITEM = "joint-investment"
DIAGRAM = ROOT / "bpmn" / f"{ITEM}.bpmn"
PROCESS = "Process_joint_investment"
TASKS_PER_CASE = 6  # acceptance, four parallel reviews, the joint decision


def _form() -> dict:
    import tomllib

    entry = tomllib.loads((ROOT / "bpmn" / f"{ITEM}.toml").read_text("utf-8"))
    values = {"string": "示例", "long": 10, "boolean": True, "date": "2026-11-20"}
    form = {
        f["id"]: f["options"][0] if f["type"] == "enum" else values.get(f["type"], "x")
        for f in entry.get("form", [])
    }
    materials = [m["code"] for m in entry["materials"] if m.get("required", True)]
    return {"form": form, "materials": materials}


def bench_raw(cases: int) -> float:
    """Return tasks/s of the bare engine, serializing and deserializing after every step."""
    parser = CamundaParser()
    parser.add_bpmn_file(str(DIAGRAM))
    spec = parser.get_spec(PROCESS)
    subs = parser.get_subprocess_specs(PROCESS)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(CAMUNDA_CONFIG))
    form = _form()["form"]
    done = 0
    started = time.perf_counter()
    for _ in range(cases):
        workflow = BpmnWorkflow(spec, subs)
        for start in workflow.get_tasks(state=TaskState.READY):
            start.data.update(form)
        workflow.do_engine_steps()
        state = serializer.serialize_json(workflow)
        while True:
            workflow = serializer.deserialize_json(state)
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                break
            task = ready[0]
            task.data.update({"outcome": "approve", "comment": "同意", **form})
            var = task.task_spec.extensions.get("outcomeVar")
            if var:
                task.data[var] = "approve"
            task.run()
            workflow.do_engine_steps()
            state = serializer.serialize_json(workflow)
            done += 1
    elapsed = time.perf_counter() - started
    assert done == cases * TASKS_PER_CASE, done
    return done / elapsed


def _prepare_database(url: str) -> None:
    from app import create_app
    from app.cli import upgrade_database
    from app.demo import load_demo
    from config import Config

    upgrade_database(url)
    app = create_app(Config, DATABASE_URL=url, PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    with app.app_context():
        load_demo(ROOT / "bpmn")
    app.extensions["ow_engine"].dispose()


def bench_service(url: str, cases: int) -> float:
    """Return tasks/s through the service functions, with the database."""
    import sqlalchemy as sa

    from app import create_app
    from app.cases import services
    from app.db import session
    from app.org.models import User
    from config import Config

    app = create_app(Config, DATABASE_URL=url)
    payload = _form()
    done = 0
    with app.app_context():
        users = {u.id: u for u in session().scalars(sa.select(User))}
        clerk = next(u for u in users.values() if u.has_role("clerk"))
        started = time.perf_counter()
        for _ in range(cases):
            with app.app_context():
                case = services.receive_case(
                    clerk,
                    ITEM,
                    services.Applicant("李华", "330102199001011234", "13800001111"),
                    payload["materials"],
                    payload["form"],
                )
                done += 1  # the acceptance task
                case_no = case.case_no
            while True:
                with app.app_context():
                    _case, _item, _v, tasks = services.get_case(clerk, case_no)
                    open_tasks = [t for t, _who in tasks if t.state == "open"]
                if not open_tasks:
                    break
                for task in open_tasks:
                    with app.app_context():
                        services.complete_task(users[task.assignee_id], task.id, "approve", "同意")
                    done += 1
        elapsed = time.perf_counter() - started
    app.extensions["ow_engine"].dispose()
    assert done == cases * TASKS_PER_CASE, done
    return done / elapsed


class _Http:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

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


def bench_http(url: str, cases: int) -> float:
    """Return tasks/s through the HTTP API served by gunicorn (one worker)."""
    import tomllib

    port = _free_port()
    env = dict(os.environ, DATABASE_URL=url)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--threads",
            "4",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        client = _Http(port)
        centre = tomllib.loads((ROOT / "bpmn" / "centre.toml").read_text("utf-8"))
        password = centre["centre"]["demo_password"]
        tokens = {
            u["username"]: client.call(
                "POST", "/auth/token", body={"username": u["username"], "password": password}
            )["token"]
            for u in centre["users"]
        }
        clerk = next(u["username"] for u in centre["users"] if "clerk" in u["roles"])
        payload = _form()
        body = {
            "item_code": ITEM,
            "applicant": {"name": "李华", "id_number": "330102199001011234"},
            **payload,
        }
        done = 0
        started = time.perf_counter()
        for _ in range(cases):
            case_no = client.call("POST", "/cases", tokens[clerk], body)["case_no"]
            done += 1
            while True:
                open_tasks = client.call("GET", f"/cases/{case_no}", tokens[clerk])["open_tasks"]
                if not open_tasks:
                    break
                for task in open_tasks:
                    client.call(
                        "POST",
                        f"/tasks/{task['id']}/complete",
                        tokens[task["assignee"]],
                        {"outcome": "approve", "comment": "同意"},
                    )
                    done += 1
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert done == cases * TASKS_PER_CASE, done
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--database", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database or f"sqlite:///{tmp}/bench.sqlite3"
        _prepare_database(url)
        bench_raw(max(5, args.cases // 10))  # warm up imports and caches
        raw = bench_raw(args.cases)
        service = bench_service(url, args.cases)
        http_rate = bench_http(url, args.cases)
    db_kind = url.split(":", 1)[0]
    print(f"joint-approval item, {args.cases} cases x {TASKS_PER_CASE} user tasks, {db_kind}")
    print(f"(a) raw SpiffWorkflow, serialize+deserialize every step: {raw:8.1f} tasks/s")
    print(
        f"(b) service layer + database:                            {service:8.1f} tasks/s"
        f"   b/a = {service / raw:.2f}"
    )
    print(
        f"(c) HTTP API (gunicorn, 1 worker):                        {http_rate:8.1f} tasks/s"
        f"   c/a = {http_rate / raw:.2f}"
    )


if __name__ == "__main__":
    main()
