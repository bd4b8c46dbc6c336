"""Server memory over a long run: does resident memory stay bounded?

    python -m bench.soak --database URL [--minutes 5] [--clients 4] [--workers 2]
                         [--cache-size 2000] [--out PATH]

Serves the given database (for the budget: the 1,000,000-case `ow_scale` made by
bench.generate, which holds the demo centre) with gunicorn, and keeps several client
threads busy: each applies for joint-approval cases through the HTTP API and completes two
random waiting tasks per application, so open cases pile up (far more than the live-workflow
cache holds), and reads inboxes and case pages in between. Every 5 seconds it samples the
resident memory of the server (all workers). It prints the samples and the growth over the
second half of the run; with the live-workflow cache full, that growth should be near zero.
The samples are saved as JSON to --out (default build/bench/soak-<time>.json).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.output import add_out_argument, save  # noqa: E402
from bench.throughput import ITEM, _free_port, _Http, _payload, _rss_mb, _tokens  # noqa: E402


def _guarded(errors: list[str], *args) -> None:
    """Run a client; keep what stopped it (a client that dies fails the run)."""
    try:
        _client(*args)
    except Exception as exc:  # reported and failing the run below, not swallowed
        errors.append(f"{type(exc).__name__}: {exc}")


def _client(port: int, tokens: dict[int, str], clerk: str, stop: threading.Event,
            counts: dict[str, int], lock: threading.Lock) -> None:  # fmt: skip
    """Apply, then work two random waiting tasks: open cases pile up like in a real centre."""
    client = _Http(port)
    body = {"item_code": ITEM, "applicant": {"name": "李华", "id_number": "330102199001011234"},
            **_payload()}  # fmt: skip
    waiting: list[dict] = []
    rng = random.Random()
    while not stop.is_set():
        created = client.call("POST", "/cases", clerk, body)
        waiting.extend(created["open_tasks"])
        done = 1
        for _ in range(2):
            task = waiting.pop(rng.randrange(len(waiting)))
            result = client.call("POST", f"/tasks/{task['id']}/complete",
                                 tokens[task["assignee_id"]], {"outcome": "approve"})  # fmt: skip
            waiting.extend(result["next_tasks"])
            done += 1
        # the inbox of a holder of work (the centre's users include auditors and analysts,
        # whom the task API refuses)
        client.call("GET", "/tasks?assignee=me", tokens[task["assignee_id"]])
        client.call("GET", f"/cases/{created['case_no']}", clerk)
        with lock:
            counts["tasks"] += done
            counts["cases"] += 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache-size", type=int, default=2000)
    add_out_argument(parser, "soak")
    args = parser.parse_args(argv)
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=args.database, OW_SCHEDULER="false",
               OW_WORKFLOW_CACHE_SIZE=str(args.cache_size))  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(args.workers), "--threads", "4",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "app.wsgi:app"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    stop, lock = threading.Event(), threading.Lock()
    counts = {"tasks": 0, "cases": 0}
    errors: list[str] = []
    samples: list[tuple[float, float]] = []
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        tokens, clerk = _tokens(args.database, _Http(port))
        threads = [
            threading.Thread(
                target=_guarded, args=(errors, port, tokens, clerk, stop, counts, lock)
            )
            for _ in range(args.clients)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        while time.monotonic() - started < args.minutes * 60:
            samples.append((time.monotonic() - started, _rss_mb(server.pid)))
            print(f"  {samples[-1][0]:6.0f} s  {samples[-1][1]:7.1f} MB  "
                  f"{counts['tasks']:7d} tasks", flush=True)  # fmt: skip
            time.sleep(5)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        server.terminate()
        server.wait(timeout=20)
    half = [mb for at, mb in samples if at >= args.minutes * 30] or [samples[-1][1]]
    print(
        f"\n{args.workers} workers, cache {args.cache_size} live workflows per worker, "
        f"{counts['cases']} cases, {counts['tasks']} task completions in {args.minutes} min"
    )
    print(
        f"resident memory: start {samples[0][1]:.0f} MB, max {max(m for _, m in samples):.0f}"
        f" MB, end {samples[-1][1]:.0f} MB; second half grew {half[-1] - half[0]:+.0f} MB"
    )
    save(args.out, "soak", {"minutes": args.minutes, "workers": args.workers,
                            "clients": args.clients, "cache_size": args.cache_size, **counts,
                            "samples": [{"at_s": at, "rss_mb": mb} for at, mb in samples],
                            "second_half_growth_mb": half[-1] - half[0],
                            "client_errors": errors})  # fmt: skip
    if errors:
        print(f"{len(errors)} client(s) stopped: " + "; ".join(errors))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
