"""Parallel branches completed at the same moment both land and the join fires once."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from app.audit.services import verify_chain
from app.cases.models import Case, Task
from app.db import session
from tests.apiclient import Api, sample_form

ROUNDS = 50
BRANCHES = ("Task_ndrc", "Task_land", "Task_construction", "Task_env")


def _complete_all_at_once(app, api: Api, tasks: list[dict]) -> list[int]:
    """Complete every task from its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(tasks))
    statuses: list[int] = []
    lock = threading.Lock()

    def worker(task: dict) -> None:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {api.token(task['assignee'])}"}
        barrier.wait()
        resp = client.post(
            f"/api/v1/tasks/{task['id']}/complete",
            json={"outcome": "approve", "comment": "同意"},
            headers=headers,
        )
        with lock:
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=worker, args=(t,)) for t in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


@pytest.mark.parametrize("write_lock", [True, False], ids=["queued", "racing"])
def test_four_parallel_approvals_at_once_fire_the_join_once(demo_app, client, write_lock):
    # on SQLite the threads of one process queue on the write lock (the default); without it
    # they race, and the version check on the case row must stop the losers
    lock = demo_app.extensions.pop("ow_write_lock", None)
    if write_lock and lock is not None:
        demo_app.extensions["ow_write_lock"] = lock
    queued = write_lock and lock is not None
    api = Api(client)
    for _ in range(ROUNDS):
        case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
        tasks = api.open_tasks(case_no)
        assert sorted(t["spec_id"] for t in tasks) == sorted(BRANCHES)
        for task in tasks:
            api.token(task["assignee"])
        statuses = _complete_all_at_once(demo_app, api, tasks)
        assert statuses == [200] * len(BRANCHES)
        case = api.case(case_no)
        assert [t["spec_id"] for t in case["open_tasks"]] == ["Task_issue"]
        assert sorted(h["spec_id"] for h in case["history"] if h["state"] == "completed") == sorted(
            ("Task_accept", *BRANCHES)
        )
        with demo_app.app_context():
            db = session()
            case_id = db.scalar(sa.select(Case.id).where(Case.case_no == case_no))
            issue_tasks = db.scalar(
                sa.select(sa.func.count()).where(
                    Task.case_id == case_id, Task.spec_id == "Task_issue"
                )
            )
            assert issue_tasks == 1
            assert verify_chain(db, case_id).ok
    # racing, the completions really overlapped: some lost the race on the case row and
    # retried (queued, they may too: the lock is taken at an operation's first write, so
    # operations read and step side by side and the version check decides, as on PostgreSQL)
    retries = demo_app.extensions.get("ow_stats", {}).get("retries", 0)
    if not queued:
        assert retries > 0
