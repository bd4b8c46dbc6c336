"""Hostile input to the JSON API: schemathesis fuzzes every operation of /api/v1/openapi.json.

The Flask app is called in process (WSGI) on the demo centre, on SQLite and on PostgreSQL.
Each operation is called by the staff member who may use it (so bodies reach the service
code instead of stopping at a 403), with data that fits the schema (positive: half of these
on the scene's real case or task, so bodies reach the case lifecycle instead of stopping at a
404) and data that does not (negative). Nothing may answer 5xx; every response must
match the document's status codes, content type and (for data that fits) response schema.
Reproducible: hypothesis is derandomized, so a failure shows the same example every run.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CHECKS
from schemathesis.generation import GenerationMode

from tests.apiclient import Api, sample_form

JOINT = "joint-investment"
EXAMPLES = 10  # per operation and generation mode: 20 calls per operation

# who calls each operation: someone allowed to, so the body reaches the service code
CALLER = {
    ("POST", "/cases"): "clerk_liu",
    ("POST", "/cases/{case_no}/supplement"): "clerk_liu",
    ("POST", "/cases/{case_no}/refuse"): "clerk_liu",
    ("POST", "/cases/{case_no}/withdraw"): "clerk_liu",
    ("POST", "/cases/{case_no}/close"): "clerk_liu",
    ("POST", "/cases/{case_no}/pause"): "clerk_liu",
    ("POST", "/cases/{case_no}/resume"): "clerk_liu",
    ("POST", "/cases/{case_no}/extend"): "leader_yuan",
    ("POST", "/cases/{case_no}/urge"): "supervisor_wu",
    ("GET", "/tasks"): "official_xiao",
    ("GET", "/tasks/queue"): "official_shi",
    ("GET", "/tasks/{id}"): "official_xiao",
    ("POST", "/tasks/{id}/complete"): "official_xiao",
    ("POST", "/tasks/{id}/transfer"): "leader_yuan",
    ("POST", "/tasks/{id}/claim"): "official_shi",
    ("POST", "/absences"): "admin",
    ("DELETE", "/absences/{absence_id}"): "admin",
    ("POST", "/checkin"): "official_xiao",
    ("GET", "/items/{code}/versions"): "analyst_zhou",
    ("GET", "/items/{code}/versions/{number}/bpmn"): "analyst_zhou",
    ("PUT", "/items/{code}/draft"): "analyst_zhou",
    ("POST", "/items/{code}/deploy"): "analyst_zhou",
}
DEFAULT_CALLER = "admin"  # reads every case
# left out: checks that expect the domain to accept any schema-valid request (it does not: a
# case in the wrong state is a 409, an unknown case a 404), and the one that expects every
# schema-violating request refused (unknown query parameters are ignored, as HTTP APIs do);
# a negative example still must not get a 5xx and its answer must match the document
SKIPPED_CHECKS = {
    "positive_data_acceptance",
    "negative_data_rejection",
}


def _skipped_checks():
    return [CHECKS.get_one(name) for name in sorted(SKIPPED_CHECKS)]


@pytest.fixture
def fuzz_scene(demo_app):
    """The demo centre with one joint case (four open tasks) and one absence to end."""
    api = Api(demo_app.test_client())
    case_no = api.apply(JOINT, sample_form(JOINT))["case_no"]
    tasks = api.open_tasks(case_no)
    leave = {"kind": "leave", "starts_at": "2030-01-01T09:00", "ends_at": "2030-01-03T09:00"}
    absence = api.call("POST", "/absences", "official_shi", 201, json=leave)["id"]
    real = {
        "case_no": case_no,
        "id": next(t["id"] for t in tasks if t["spec_id"] == "Task_ndrc"),
        "absence_id": str(absence),
        "code": JOINT,
        "number": "1",
    }
    tokens = {user: api.token(user) for user in {*CALLER.values(), DEFAULT_CALLER}}
    return demo_app, real, tokens


def _fuzz(operation, mode: GenerationMode, auth: dict, real: dict, skipped: list) -> None:
    """Run one operation's examples in one generation mode; raise on the first failure."""
    names = [p.name for p in operation.path_parameters]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,  # the same examples every run: a failure is reproducible
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), use_real=st.booleans())
    def run(case, use_real):
        if use_real and mode is GenerationMode.POSITIVE:
            for name in names:
                if name in real:
                    case.path_parameters[name] = real[name]
        case.call_and_validate(headers=auth, excluded_checks=skipped)

    run()


def test_every_operation_withstands_fuzzing(fuzz_scene):
    app, real, tokens = fuzz_scene
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    skipped = _skipped_checks()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    failures: list[str] = []
    for operation in operations:
        user = CALLER.get((operation.method.upper(), operation.path), DEFAULT_CALLER)
        auth = {"Authorization": f"Bearer {tokens[user]}"}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, auth, real, skipped)
            except Unsatisfiable:  # nothing to break in the negative mode (no parameters)
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as exc:  # report every operation's failure
                failures.append(f"{operation.label} ({mode}): {exc}")
    assert not failures, "\n\n".join(failures)


def test_a_draft_thousands_of_tasks_long_gets_its_report(demo_app):
    """The draft report walks the longest path of stage limits: without recursion (it was a 500)."""
    from tests.workflows.test_loader_fuzz import _chain

    api = Api(demo_app.test_client())
    resp = api.client.put(
        f"/api/v1/items/{JOINT}/draft",
        data=_chain(3_000),
        headers={"Authorization": f"Bearer {api.token('analyst_zhou')}"},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.get_json()["findings"], resp.get_json()
    refused = api.call("POST", f"/items/{JOINT}/deploy", "analyst_zhou", 400,
                       json={"comment": "一条很长的链"})  # fmt: skip
    assert refused["message"], refused


def test_text_longer_than_its_column_is_refused_not_a_500(demo_app):
    """Found by probing the columns' lengths: each was a 500 (DataError) on PostgreSQL."""
    from tests.test_xss import _user_id
    from tests.webclient import Web

    api = Api(demo_app.test_client())
    body = {"item_code": JOINT, "form": sample_form(JOINT), "materials": []}
    for field, size in (("name", 201), ("id_number", 41), ("phone", 31)):
        applicant = {"name": "某公司", "id_number": "91330100MA2H000009", field: "长" * size}
        refused = api.call(
            "POST", "/cases", "clerk_liu", 400, json={**body, "applicant": applicant}
        )
        limit = f"超过 {size - 1} 个字符"  # "the applicant's <field> is longer than …", in zh
        assert refused["message"].startswith("申请人的") and limit in refused["message"]
    leave = {"kind": "trip", "starts_at": "2031-01-01T09:00", "ends_at": "2031-01-02T09:00"}
    refused = api.call("POST", "/absences", "admin", 400, json={**leave, "reason": "长" * 301})
    assert refused["message"] == "理由超过 300 个字符"
    case_no = api.apply(JOINT, sample_form(JOINT))["case_no"]
    [ndrc] = [t for t in api.open_tasks(case_no) if t["spec_id"] == "Task_ndrc"]
    move = {"to_user_id": _user_id(demo_app, "official_cheng"), "reason": "长" * 141}
    refused = api.call("POST", f"/tasks/{ndrc['id']}/transfer", "official_xiao", 400, json=move)
    assert refused["message"] == "转交理由最多 140 个字符"
    web = Web(demo_app, "official_xiao")
    web.get(f"/tasks/{ndrc['id']}")
    too_long = {"to_user": str(move["to_user_id"]), "reason": "长" * 300}
    page = web.post(f"/tasks/{ndrc['id']}/transfer", too_long, expect=None)
    assert page.status_code in (302, 400), page.status_code
    move["reason"] = "长" * 140
    api.call("POST", f"/tasks/{ndrc['id']}/transfer", "official_xiao", json=move)
