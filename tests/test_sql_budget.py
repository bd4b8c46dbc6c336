"""The performance budget as exact counts: SQL statements and commits per operation.

Budget: a task completion costs at most 12 statements and exactly one commit. The counts
below are exact, so any new round trip shows up here first. Each request also looks up
its user (1 statement) because the tests switch the token cache off.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tests.apiclient import Api, sample_form

BUDGET = 12
AUTH = 1  # the user behind the bearer token


class Counter:
    """Count statements and commits on an engine while active."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        self.commits = 0
        self.active = False
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, conn, cursor, statement, params, context, executemany):
        if self.active:
            self.statements.append(" ".join(statement.split()[:4]))

    def _commit(self, conn):
        if self.active:
            self.commits += 1

    @contextmanager
    def measure(self):
        self.statements, self.commits, self.active = [], 0, True
        try:
            yield self
        finally:
            self.active = False


@pytest.fixture
def counted(demo_app, client):
    api = Api(client)
    counter = Counter(demo_app.extensions["ow_engine"])
    # warm up: compile every demo diagram in this process and issue every token
    for code, form in [
        ("house-cancellation", {}),
        ("house-initial", {"certificates": 5}),
        ("planning-permit", {"floor_area": 500}),
        ("joint-investment", {}),
    ]:
        api.apply(code, sample_form(code, **form))
    yield api, counter
    event.remove(counter.engine, "before_cursor_execute", counter._statement)
    event.remove(counter.engine, "commit", counter._commit)


def _complete(
    api: Api, counter: Counter, case_no: str, spec_id: str, outcome="approve", comment="", data=None
) -> tuple[int, int, bool]:
    before = {t["id"] for t in api.open_tasks(case_no)}
    task = next(t for t in api.open_tasks(case_no) if t["spec_id"] == spec_id)
    api.token(task["assignee"])
    with counter.measure():
        api.call(
            "POST",
            f"/tasks/{task['id']}/complete",
            task["assignee"],
            json={"outcome": outcome, "comment": comment, "data": data or {}},
        )
    created = bool({t["id"] for t in api.open_tasks(case_no)} - before)
    return len(counter.statements), counter.commits, created


def _expected(
    created: bool, denied: bool = False, timer: str = "", pg: bool = False, decided: str = "",
    signing: bool = False, licensed: bool = False,
) -> int:
    # read task+case, UPDATE case (state, version), UPDATE task, INSERT events;
    # new tasks: SELECT posts with holders and who of them is away (one statement), INSERT
    # tasks;
    # a denial: SELECT earlier rejections;
    # a boundary timer starting: INSERT timers (and on PostgreSQL one pg_notify that wakes
    # the schedulers); a boundary timer ending with its task: UPDATE timers
    # the decision: SELECT the item, SELECT the departments (its authority), for a joint
    # item SELECT the departments' decided tasks; one upsert numbering every authority's
    # decision in its series, INSERT the decisions; UPDATE the case's tasks no stage made that
    # are still open (opinions asked, signers added: closed with the case);
    # a 会签 stage opening: SELECT its signers, the posts they are A of (who stands in for
    # them), those stand-ins' ID numbers, and which of them are away
    # an approval that grants licences: INSERT the licences (one per approving authority;
    # numbered by the same upsert as the decisions, their history starts with the row)
    decision = {"single": 5, "joint": 6}.get(decided, 0) + (1 if licensed else 0)
    timers = {"start": 1 + pg, "close": 1}.get(timer, 0)
    return (AUTH + 4 + (2 if created else 0) + (1 if denied else 0) + timers + decision
            + (4 if signing else 0))


# steps that start or close a timer: house-initial's review has a P5D escalation timer
TIMER_STEPS = {("house-initial", "Task_survey"): "start", ("house-initial", "Task_review"): "close"}
# the step that opens the planning permit's collective decision, a 会签 of three leaders
SIGNING_STEPS = {("planning-permit", "Task_deputy")}
# the items whose approval grants licences (house cancellation registers, grants none)
LICENSED = {"house-initial", "planning-permit", "joint-investment"}


PATHS = {
    "house-cancellation": ({}, ["Task_review", "Task_issue"]),
    "house-initial": (
        {"certificates": 45},
        ["Task_survey", "Task_review", "Task_chief", "Task_issue"],
    ),
    "planning-permit": (
        {"floor_area": 50000},
        ["Task_lead", "Task_deputy", *["Task_collective"] * 3, "Task_head", "Task_issue"],
    ),
    "joint-investment": (
        {},
        ["Task_ndrc", "Task_land", "Task_construction", "Task_env", "Task_issue"],
    ),
}


@pytest.mark.parametrize("code", sorted(PATHS))
def test_every_completion_of_each_item_keeps_the_budget(counted, code):
    api, counter = counted
    form, path = PATHS[code]
    case_no = api.apply(code, sample_form(code, **form))["case_no"]
    pg = counter.engine.dialect.name == "postgresql"
    for spec_id in path:
        statements, commits, created = _complete(api, counter, case_no, spec_id)
        timer = TIMER_STEPS.get((code, spec_id), "")
        decided = "" if spec_id != path[-1] else "joint" if code == "joint-investment" else "single"
        expected = _expected(created, timer=timer, pg=pg, decided=decided,
                             signing=(code, spec_id) in SIGNING_STEPS,
                             licensed=bool(decided) and code in LICENSED)  # fmt: skip
        assert (spec_id, statements) == (spec_id, expected), counter.statements
        assert statements <= BUDGET
        assert commits == 1
    assert api.case(case_no)["decision"] == "approved"


def test_a_denial_after_a_parallel_rejection_keeps_the_budget(counted):
    api, counter = counted
    case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    legal = {"legal_basis": "《环境影响评价法》第二十二条"}
    for spec_id in ("Task_ndrc", "Task_land", "Task_construction"):
        _complete(api, counter, case_no, spec_id)
    statements, commits, created = _complete(
        api, counter, case_no, "Task_env", "reject", "位于水源保护区", legal
    )
    assert created and (statements, commits) == (_expected(True), 1)
    statements, commits, created = _complete(api, counter, case_no, "Task_denial")
    expected = _expected(False, denied=True, decided="joint")
    assert not created and (statements, commits) == (expected, 1), "\n".join(counter.statements)


def test_case_creation_and_inbox_counts(counted):
    api, counter = counted
    with counter.measure():
        created = api.apply("joint-investment", sample_form("joint-investment"))
    # SELECT item with its newest version, SELECT posts with holders and who of them is
    # away, INSERT case, INSERT tasks, INSERT events
    assert created["status"] == "accepted"
    assert (len(counter.statements), counter.commits) == (AUTH + 5, 1), counter.statements
    with counter.measure():
        missing = api.apply("house-initial", sample_form("house-initial"), materials=[])
    assert missing["status"] == "supplement_required"
    assert (len(counter.statements), counter.commits) == (AUTH + 3, 1), counter.statements
    assignee = api.open_tasks(created["case_no"])[0]["assignee"]
    api.token(assignee)
    with counter.measure():
        inbox = api.call("GET", "/tasks?assignee=me", assignee)["tasks"]
    assert inbox and (len(counter.statements), counter.commits) == (AUTH + 1, 0)


def test_a_step_taken_by_another_process_reloads_the_state(counted, demo_app):
    api, counter = counted
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    demo_app.extensions["ow_runtime"].cache.clear()  # as if another process had the case
    statements, commits, created = _complete(api, counter, case_no, "Task_review")
    assert (statements, commits) == (_expected(created) + 1, 1)  # + SELECT state
