"""No existence oracle: who may not act on cases learns nothing of a case number.

Issue 18 found that pause, resume and extend looked the case up before checking who asked,
so an analyst learned "is decided" of a case they may not see. The gate now checks the
purpose's roles before any lookup: the answer is the same for a real, decided case and for
a number that does not exist.
"""

from __future__ import annotations

import pytest

from tests.apiclient import Api, sample_form

MISSING = "20991231" + "99999999"
PAUSE = {"kind": "expert_review", "reason": "组织专家评审", "expected_days": 3}
CHANGES = [
    ("pause", PAUSE),
    ("resume", None),
    ("extend", {"days": 5, "reason": "需补充现场核查"}),
]


def _answer(api: Api, user: str, case_no: str, change: str, body: dict | None):
    headers = {"Authorization": f"Bearer {api.token(user)}"}
    resp = api.client.post(f"/api/v1/cases/{case_no}/{change}", headers=headers,
                           json=body if body is not None else {})  # fmt: skip
    message = (resp.get_json() or {}).get("message", "").replace(case_no, "<no>")
    return resp.status_code, message


@pytest.mark.parametrize("user", ["analyst_zhou", "auditor_sun", "supervisor_wu"])
@pytest.mark.parametrize(("change", "body"), CHANGES, ids=[c for c, _b in CHANGES])
def test_time_changes_answer_alike_for_a_real_and_a_missing_case(demo_app, user, change, body):
    api = Api(demo_app.test_client())
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    for spec_id in ("Task_review", "Task_issue"):
        api.work(case_no, spec_id)
    assert api.call("GET", f"/cases/{case_no}", "clerk_liu")["status"] == "decided"
    real = _answer(api, user, case_no, change, body)
    missing = _answer(api, user, MISSING, change, body)
    assert real == missing
    # refused before anything is looked up: an analyst reads no case, so for them the case
    # is not there (404); auditors and supervisors read every case but keep no time (403)
    assert real[0] == (404 if user == "analyst_zhou" else 403)
    assert "decided" not in real[1]


def test_an_official_unrelated_to_the_case_gets_not_found_for_both(demo_app):
    """An official may keep time on cases they handle; for others the case is not there."""
    api = Api(demo_app.test_client())
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    holder = api.open_tasks(case_no)[0]["assignee"]
    stranger = next(u for u in ("official_lu", "official_jiang", "official_pan")
                    if u != holder)  # fmt: skip
    real = _answer(api, stranger, case_no, "pause", PAUSE)
    missing = _answer(api, stranger, MISSING, "pause", PAUSE)
    assert real == missing and real[0] == 404
