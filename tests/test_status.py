"""Case statuses, task states and their guards: what each status allows."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.cases import status
from app.cases.status import CaseStatus, TaskState

ALLOWED = {
    status.may_refuse: {"received", "supplement_required"},
    status.may_accept_supplement: {"supplement_required"},
    status.may_withdraw: {"received", "supplement_required", "accepted", "in_progress", "fault"},
    status.may_close: {"decided"},
    status.may_retry: {"fault"},
    status.is_working: {"accepted", "in_progress"},
    status.is_open: {"received", "supplement_required", "accepted", "in_progress", "fault"},
}


@pytest.mark.parametrize("guard", list(ALLOWED), ids=lambda g: g.__name__)
def test_each_guard_allows_exactly_its_statuses(guard):
    allowed = {s.value for s in CaseStatus if guard(SimpleNamespace(status=s))}
    assert allowed == ALLOWED[guard]
    # rows read from the database hold plain strings: the guards answer the same
    assert {s.value for s in CaseStatus if guard(SimpleNamespace(status=s.value))} == allowed


def test_statuses_are_stored_as_their_plain_values():
    assert CaseStatus.SUPPLEMENT_REQUIRED == "supplement_required"
    assert f"{CaseStatus.FAULT}" == "fault" and str(TaskState.OPEN) == "open"
    assert status.OPEN_CASES_SQL == (
        "status IN ('received', 'supplement_required', 'accepted', 'in_progress', 'fault')"
    )


def test_only_the_holder_works_an_open_task():
    task = SimpleNamespace(state="open", assignee_id=5)
    assert status.may_complete(task, 5)
    assert not status.may_complete(task, 6)
    assert not status.may_complete(SimpleNamespace(state="completed", assignee_id=5), 5)


def test_a_holder_of_the_post_claims_an_unassigned_open_task():
    free = SimpleNamespace(state="open", assignee_id=None)
    assert status.may_claim(free, {5, 6}, 6)
    assert not status.may_claim(free, {5}, 6)
    assert not status.may_claim(SimpleNamespace(state="open", assignee_id=5), {5, 6}, 6)
    assert not status.may_claim(SimpleNamespace(state="cancelled", assignee_id=None), {6}, 6)
