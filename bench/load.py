"""Load and faults: many clients against gunicorn on PostgreSQL, then check nothing was lost.

    python -m bench.load [--clients 50] [--seconds 60] [--workers 4] [--restart-pg] [--out PATH]

Creates a new PostgreSQL database (at OW_BENCH_PG, like bench.throughput), migrates it and
loads the demo centre, and serves it with gunicorn (`app.wsgi:app`, the timer scheduler on
in every worker) on a free port of 127.0.0.1. Then, for --seconds, --clients threads speak
the JSON API over keep-alive connections: a fifth of them are window clerks applying for
cases of the four demo items in turn, the others officials, several per official, each
reading its inbox and completing one of the first tasks in it; a 409 (another client of the
same official was first) is counted and answered by reading the inbox again.

Afterwards, with the server stopped, it checks what the clients were told against the
database: no 5xx answer (with --restart-pg: no 5xx but 503), every completion answered 200
is in the audit log as exactly one task_completed event and its task is completed, every
case answered 201 exists, and every case's hash chain verifies. It prints requests per
second and latency percentiles by kind, and the raw SpiffWorkflow rate on the joint-approval
diagram (bench.throughput's engine-only run) measured in the same run.

With --restart-pg it restarts the PostgreSQL cluster once half-way through
(`pg_ctlcluster --skip-systemctl-redirect 15 main restart`, as root): the requests that meet
the outage are answered 503 with Retry-After (clients wait a little and try again), and
every request after it must succeed again. The server and the database are removed at the
end. The figures and checks are saved as JSON to --out (default build/bench/load-<time>.json).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.output import add_out_argument, save  # noqa: E402
from bench.throughput import (  # noqa: E402
    _drop_pg_database,
    _free_port,
    _new_pg_database,
    _rss_mb,
    bench_raw,
    prepare_database,
)
from tests.apiclient import PASSWORD, required_materials, sample_form  # noqa: E402

ITEMS = ("joint-investment", "house-cancellation", "house-initial", "planning-permit")
# who the approve path of each item reaches in the demo centre (the posts' A holders)
WORKERS = (
    "clerk_liu", "official_xiao", "official_pan", "official_tang", "official_shi",
    "official_zhao", "leader_wang", "clerk_zhang",
    "official_lu", "deputy_luo", "head_lin", "clerk_wei",
)  # fmt: skip
CLERKS = ("clerk_liu", "clerk_yang", "clerk_zhang", "clerk_li", "clerk_wei")
BACKLOG = 400  # clerks wait while this many tasks are open, so inboxes stay realistic
PG_CLUSTER = ("15", "main")
KEEPALIVE = 1.0  # reuse a connection idle this long at most (gunicorn's keep-alive is 2 s)


@dataclass
class Tally:
    """What every client saw; appended to under one lock."""

    requests: list[tuple[str, float, float, int]] = field(default_factory=list)  # kind, t, ms, st
    created: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)  # task ids answered 200
    unsure: set[str] = field(default_factory=set)  # completions answered 503 or cut off
    open_tasks: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, started: float, ms: float, status: int) -> None:
        with self.lock:
            self.requests.append((kind, started, ms, status))


class Client:
    """One keep-alive connection; a connection error is status 0 and a new connection."""

    def __init__(self, port: int, tally: Tally, t0: float) -> None:
        self.port, self.tally, self.t0 = port, tally, t0
        self.conn: http.client.HTTPConnection | None = None
        self.used = 0.0

    def call(self, kind: str, method: str, path: str, token: str, body: dict | None = None):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        started = time.monotonic()
        if self.conn is not None and started - self.used > KEEPALIVE:
            self.conn.close()  # gunicorn closes idle keep-alive connections: don't race it
            self.conn = None
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request(method, f"/api/v1{path}", body=data, headers=headers)
            resp = self.conn.getresponse()
            status, raw = resp.status, resp.read()
        except (OSError, http.client.HTTPException):
            if self.conn is not None:
                self.conn.close()
            self.conn, status, raw = None, 0, b""
        self.used = time.monotonic()
        ms = (self.used - started) * 1000
        self.tally.note(kind, started - self.t0, ms, status)
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        return status, payload


def _pause_after(status: int) -> None:
    """Back off after an outage answer (503: the server asks for seconds, we try sooner)."""
    if status in (0, 503) or status >= 500:
        time.sleep(0.25 + random.random() * 0.25)


def clerk_loop(client: Client, token: str, stop: threading.Event, tally: Tally, n: int) -> None:
    """Apply for cases of the demo items in turn while the backlog is not too long."""
    turn = n
    while not stop.is_set():
        if tally.open_tasks >= BACKLOG:
            time.sleep(0.05)
            continue
        code = ITEMS[turn % len(ITEMS)]
        body = {
            "item_code": code,
            "applicant": {
                "name": "李华",
                "id_number": "330102199001011234",
                "phone": "13800001111",
            },
            "materials": required_materials(code),
            "form": sample_form(code),
        }
        status, payload = client.call("create", "POST", "/cases", token, body)
        if status == 201:
            turn += 1
            with tally.lock:
                tally.created.append(payload["case_no"])
                tally.open_tasks += len(payload["open_tasks"])
        _pause_after(status)


def worker_loop(client: Client, token: str, stop: threading.Event, tally: Tally) -> None:
    """Read the inbox, complete one of its first tasks; on 409 read again."""
    rng = random.Random()
    while not stop.is_set():
        status, payload = client.call("inbox", "GET", "/tasks?assignee=me", token)
        if status != 200:
            _pause_after(status)
            continue
        tasks = payload["tasks"]
        if not tasks:
            time.sleep(0.02 + rng.random() * 0.03)
            continue
        task = rng.choice(tasks[:3])
        body = {"outcome": "approve", "comment": "同意", "data": {}}
        status, payload = client.call("complete", "POST", f"/tasks/{task['id']}/complete",
                                      token, body)  # fmt: skip
        if status == 200:
            with tally.lock:
                tally.completed.append(task["id"])
                tally.open_tasks += len(payload["next_tasks"]) - 1
        elif status in (0, 503):
            with tally.lock:
                tally.unsure.add(task["id"])
        _pause_after(status)


def _wait_for_port(port: int, server: subprocess.Popen, seconds: float = 60) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start listening")


def _tokens(port: int) -> dict[str, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    tokens = {}
    for username in sorted(set(WORKERS) | set(CLERKS)):
        body = json.dumps({"username": username, "password": PASSWORD}).encode()
        conn.request("POST", "/api/v1/auth/token", body=body,
                     headers={"Content-Type": "application/json"})  # fmt: skip
        resp = conn.getresponse()
        payload = json.loads(resp.read())
        if resp.status != 200:
            raise RuntimeError(f"log-in of {username}: {resp.status} {payload}")
        tokens[username] = payload["token"]
    conn.close()
    return tokens


def restart_postgresql(tally: Tally, t0: float, at: float, marks: dict) -> None:
    """Restart the cluster once, `at` seconds into the run; note when it went down and up."""
    time.sleep(max(0.0, at - (time.monotonic() - t0)))
    marks["restart_begin"] = time.monotonic() - t0
    done = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *PG_CLUSTER, "restart"],
        capture_output=True, text=True,
    )  # fmt: skip
    marks["restart_end"] = time.monotonic() - t0
    marks["restart_rc"] = done.returncode
    marks["restart_output"] = (done.stdout + done.stderr).strip()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


def verify(url: str, tally: Tally) -> dict:
    """Check the database against what the clients were told."""
    from app import create_app
    from app.audit.services import verify_chain
    from app.cases.models import Case
    from app.db import session
    from config import Config

    app = create_app(Config, DATABASE_URL=url, SCHEDULER_ENABLED=False)
    with app.app_context():
        db = session()
        rows = db.execute(
            sa.text(
                "SELECT e.task_id, count(*), min(t.spec_id), min(t.state) FROM events e "
                "JOIN tasks t ON t.id = e.task_id WHERE e.type = 'task_completed' "
                "GROUP BY e.task_id"
            )
        ).all()
        events = Counter({str(task_id): n for task_id, n, _, _ in rows})
        # the acceptance task is completed at the window, by receive_case itself
        accepted = {str(task_id) for task_id, _, spec, _ in rows if spec == "Task_accept"}
        task_states = {str(i): s for i, s in db.execute(sa.text("SELECT id, state FROM tasks"))}
        case_ids = dict(db.execute(sa.select(Case.case_no, Case.id)).all())
        broken = [no for no, cid in case_ids.items() if not verify_chain(db, cid).ok]
    app.extensions["ow_engine"].dispose()
    told = Counter(tally.completed)
    return {
        "completions answered 200": len(tally.completed),
        "completions answered 200 twice": sum(1 for n in told.values() if n > 1),
        "200 without exactly one task_completed event": sum(
            1 for t in told if events.get(t, 0) != 1
        ),
        "200 whose task is not completed": sum(
            1 for t in told if task_states.get(t) != "completed"
        ),
        "task_completed events in all": sum(events.values()),
        "of them at the window (acceptance, in receive_case)": len(accepted),
        "others not answered 200 (503 or cut off, then 409)": sum(
            1 for t in events if t not in told and t not in accepted
        ),
        "of them, not among the completions answered 503 or cut": sum(
            1 for t in events if t not in told and t not in accepted and t not in tally.unsure
        ),
        "cases answered 201": len(tally.created),
        "201 not in the database": sum(1 for no in tally.created if no not in case_ids),
        "cases in the database (some may have been answered 503)": len(case_ids),
        "cases with a broken hash chain": len(broken),
    }


def report(tally: Tally, seconds: float, checks: dict, raw_rate: float, marks: dict,
           log_text: str, restart: bool) -> bool:  # fmt: skip
    """Print the figures; return whether every check passed."""
    by_kind: dict[str, list] = defaultdict(list)
    for kind, at, ms, status in tally.requests:
        by_kind[kind].append((at, ms, status))
    print(f"\n{'kind':10} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8}  statuses")  # fmt: skip
    total = 0
    for kind in ("create", "inbox", "complete"):
        rows = by_kind.get(kind, [])
        total += len(rows)
        ms = [m for _, m, s in rows if s]
        statuses = ", ".join(f"{s or 'cut'}: {n}" for s, n in sorted(Counter(
            s for _, _, s in rows).items()))  # fmt: skip
        print(f"{kind:10} {len(rows):9d} {len(rows) / seconds:8.1f} {percentile(ms, 50):8.1f} "
              f"{percentile(ms, 95):8.1f} {percentile(ms, 99):8.1f}  {statuses}")  # fmt: skip
    print(f"{'all':10} {total:9d} {total / seconds:8.1f}")
    done = len(tally.completed)
    print(f"\ntask completions: {done / seconds:.1f}/s through HTTP under load; raw SpiffWorkflow "
          f"on the joint-approval diagram (serialize+deserialize every step): {raw_rate:.1f}/s; "
          f"ratio {done / seconds / raw_rate:.3f}")  # fmt: skip
    conflicts = sum(1 for k, _, _, s in tally.requests if k == "complete" and s == 409)
    print(f"409 conflicts (re-read and retried): {conflicts}")
    statuses = Counter(s for _, _, _, s in tally.requests)
    fives = {s: n for s, n in statuses.items() if s >= 500}
    cut = statuses.get(0, 0)
    unhandled = log_text.count("unhandled error on")
    tracebacks = log_text.count("Traceback (most recent call last)")
    print(f"5xx answers: {fives or 'none'}; connections cut: {cut}; server log: {unhandled} "
          f"unhandled errors, {tracebacks} tracebacks in all")  # fmt: skip
    lines = log_text.splitlines()
    ends = Counter(
        next((x for x in lines[i + 1 :] if x and not x.startswith((" ", "Traceback"))), "?")
        for i, line in enumerate(lines) if line.startswith("Traceback")
    )  # fmt: skip
    for text, n in ends.most_common(8):
        print(f"  {n} x {text[:160]}")
    zero = ("completions answered 200 twice", "200 ", "201 ", "cases with", "of them, not")
    if not restart:
        zero += ("others not answered 200",)
    ok = not unhandled and all(checks[k] == 0 for k in checks if k.startswith(zero))
    if restart:
        begin, end = marks.get("restart_begin"), marks.get("restart_end")
        print(f"\nPostgreSQL restart: {begin:.1f} s to {end:.1f} s into the run "
              f"(rc {marks.get('restart_rc')}) {marks.get('restart_output', '')}")  # fmt: skip
        bad = [(at, s, k) for k, at, _, s in tally.requests if s >= 500 or s == 0]
        if bad:
            first, last = min(b[0] for b in bad), max(b[0] for b in bad)
            by = Counter((k, s) for _, s, k in bad)
            print(
                f"503 window: {first:.1f} s to {last:.1f} s; "
                + ", ".join(f"{k} {s or 'cut'}: {n}" for (k, s), n in sorted(by.items()))
            )
            after = [s for _, at, _, s in tally.requests if at > last]
            good = sum(1 for s in after if s < 500 and s != 0)
            print(f"after the last 503 ({last:.1f} s): {len(after)} requests, {good} answered "
                  f"without error ({Counter(after)})")  # fmt: skip
            ok = ok and good == len(after) and len(after) > 0
        ok = ok and not {s for s in fives if s != 503}
    else:
        ok = ok and not fives and not cut
    print("\nchecks against the database:")
    for key, value in checks.items():
        print(f"  {key:55} {value}")
    print(f"\n{'PASS' if ok else 'FAIL'}")
    return ok


def figures_of(tally: Tally, seconds: float, checks: dict, raw_rate: float) -> dict:
    """Return requests per second and latencies by kind, completions against the raw engine
    and the checks, JSON-ready."""
    kinds = {}
    for kind in ("create", "inbox", "complete"):
        rows = [(ms, s) for k, _at, ms, s in tally.requests if k == kind]
        ms = [m for m, s in rows if s]
        kinds[kind] = {"requests": len(rows), "per_s": len(rows) / seconds,
                       "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95),
                       "p99_ms": percentile(ms, 99),
                       "statuses": dict(Counter(str(s) for _m, s in rows))}  # fmt: skip
    done = len(tally.completed) / seconds
    ratio = done / raw_rate if raw_rate else None
    return {"seconds": seconds, "kinds": kinds, "completions_per_s": done,
            "raw_engine_tasks_per_s": raw_rate, "ratio_to_raw": ratio,
            "checks": checks}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--raw-cases", type=int, default=200)
    parser.add_argument("--restart-pg", action="store_true")
    add_out_argument(parser, "load")
    args = parser.parse_args(argv)
    url = _new_pg_database()
    if url is None:
        raise SystemExit("PostgreSQL is not reachable")
    server = None
    tmp = tempfile.TemporaryDirectory(prefix="ow-load-")
    log = (Path(tmp.name) / "gunicorn.log").open("w+")
    try:
        prepare_database(url)
        port = _free_port()
        env = {**os.environ, "DATABASE_URL": url, "OW_SCHEDULER": "true"}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(args.workers),
             "--threads", str(args.threads), "--bind", f"127.0.0.1:{port}",
             "--graceful-timeout", "10", "app.wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait_for_port(port, server)
        tokens = _tokens(port)
        clerks = max(1, args.clients // 5)
        print(
            f"{args.clients} clients ({clerks} clerks, {args.clients - clerks} officials on "
            f"{len(WORKERS)} accounts), {args.seconds:.0f} s, gunicorn {args.workers} workers x "
            f"{args.threads} threads, PostgreSQL, items {', '.join(ITEMS)}; "
            f"{os.cpu_count()} cores"
            + ("; PostgreSQL restarted half-way" if args.restart_pg else ""),
            flush=True,
        )
        tally, stop, marks = Tally(), threading.Event(), {}
        t0 = time.monotonic()
        threads = []
        for n in range(args.clients):
            client = Client(port, tally, t0)
            if n < clerks:
                target = (clerk_loop, client, tokens[CLERKS[n % len(CLERKS)]], stop, tally, n)
            else:
                user = WORKERS[(n - clerks) % len(WORKERS)]
                target = (worker_loop, client, tokens[user], stop, tally)
            threads.append(threading.Thread(target=target[0], args=target[1:], daemon=True))
        if args.restart_pg:
            threads.append(threading.Thread(
                target=restart_postgresql, args=(tally, t0, args.seconds / 2, marks)))  # fmt: skip
        for thread in threads:
            thread.start()
        time.sleep(max(0.0, args.seconds - (time.monotonic() - t0)))
        stop.set()
        for thread in threads:
            thread.join(timeout=70)
        seconds = time.monotonic() - t0
        rss = _rss_mb(server.pid)
        server.terminate()
        server.wait(timeout=30)
        server = None
        print(f"server resident memory at the end (all workers): {rss:.0f} MB")
        checks = verify(url, tally)
        bench_raw(10)  # warm up
        raw = bench_raw(args.raw_cases)
        log.seek(0)
        ok = report(tally, seconds, checks, raw.rate, marks, log.read(), args.restart_pg)
        figures = figures_of(tally, seconds, checks, raw.rate)
        save(args.out, "load", {"clients": args.clients, "workers": args.workers,
                                "threads": args.threads, "restart_pg": args.restart_pg,
                                "ok": ok, **figures})  # fmt: skip
        if not ok:
            kept = Path(tempfile.gettempdir()) / f"ow-load-gunicorn-{int(time.time())}.log"
            kept.write_text(Path(log.name).read_text())
            print(f"server log kept at {kept}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        _drop_pg_database(url)
        log.close()
        tmp.cleanup()
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
