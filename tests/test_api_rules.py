"""What the API refuses, and how: clear JSON messages with the right status."""

from __future__ import annotations

import pytest

from tests.apiclient import Api, sample_form, users_with_role


@pytest.fixture
def api(client) -> Api:
    return Api(client)


def test_catalogue_is_public(api):
    items = api.call("GET", "/items")["items"]
    assert {i["code"] for i in items} == {
        "house-cancellation",
        "house-initial",
        "planning-permit",
        "joint-investment",
        # the planning permit's licence items (issue 24); the API lists the revocation too,
        # which the authority starts of its own motion (not in the public guide)
        "planning-permit-renewal",
        "planning-permit-change",
        "planning-permit-revocation",
        "planning-permit-cancellation",
    }
    item = api.call("GET", "/items/house-initial")
    entry = item["entry"]
    for key in ("legal_basis", "procedure_basis", "conditions", "materials", "fee",
                "supervision_phone"):  # fmt: skip
        assert entry[key], key
    assert item["diagram_version"] == 1
    api.call("GET", "/items/no-such-item", expect=404)


def test_openapi_document_lists_every_endpoint(api):
    doc = api.call("GET", "/openapi.json")
    assert doc["openapi"].startswith("3.")
    assert {"/cases", "/tasks", "/tasks/{id}/complete", "/cases/{case_no}/events"} <= set(
        doc["paths"]
    )


def test_bad_login_and_missing_token(api):
    resp = api.client.post("/api/v1/auth/token", json={"username": "admin", "password": "wrong"})
    assert resp.status_code == 401 and resp.get_json()["message"] == "用户名或密码错误"
    assert api.client.get("/api/v1/tasks").status_code == 401
    resp = api.client.get("/api/v1/tasks", headers={"Authorization": "Bearer forged"})
    assert resp.status_code == 401


def test_bad_case_input_says_what_is_wrong(api):
    clerk = users_with_role("clerk")[0]
    body = api.call("POST", "/cases", clerk, 400, json={"item_code": "house-initial"})
    assert "applicant" in body["message"]
    body = api.apply("house-initial", sample_form("house-initial", certificates="many"), expect=400)
    assert "certificates" in body["fields"]
    body = api.apply(
        "house-initial", sample_form("house-initial"), materials=["no-such"], expect=400
    )
    assert body["materials"] == ["no-such"]
    body = api.apply("nothing-like-this", {}, materials=[], expect=404)
    assert "nothing-like-this" in body["message"]
    resp = api.client.post(
        "/api/v1/cases", data="not json", headers={"Authorization": f"Bearer {api.token(clerk)}"}
    )
    assert resp.status_code == 400


def test_only_the_assignee_completes_a_task_and_only_once(api):
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    [task] = api.open_tasks(case_no)
    other = next(u for u in users_with_role("official") if u != task["assignee"])
    path = f"/tasks/{task['id']}/complete"
    body = api.call("POST", path, other, 403, json={"outcome": "approve"})
    assert body["message"] == "此任务未分派给您"  # the API answers in Chinese
    api.call("POST", path, task["assignee"], 400, json={"outcome": "maybe"})
    api.call("POST", path, task["assignee"], json={"outcome": "approve"})
    body = api.call("POST", path, task["assignee"], 409, json={"outcome": "approve"})
    assert body["message"] == f"任务 {task['id']} 已经“已完成”"
    api.call(
        "POST", "/tasks/not-a-uuid/complete", task["assignee"], 404, json={"outcome": "approve"}
    )


def test_inbox_lists_the_callers_open_tasks(api):
    case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    tasks = api.open_tasks(case_no)
    for task in tasks:
        inbox = api.call("GET", "/tasks?assignee=me", task["assignee"])["tasks"]
        assert task["id"] in {t["id"] for t in inbox}
        assert all(t["state"] == "open" for t in inbox)
        mine = next(t for t in inbox if t["id"] == task["id"])
        assert mine["case_no"] == case_no


def test_inbox_comes_a_page_at_a_time_oldest_first(api):
    numbers = [api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
               for _ in range(3)]  # fmt: skip
    holder = api.open_tasks(numbers[0])[0]["assignee"]
    everything = api.call("GET", "/tasks", holder)
    assert everything["next_offset"] is None
    ids = [t["id"] for t in everything["tasks"]]
    assert len(ids) >= 3 and len(set(ids)) == len(ids)
    created = [t["created_at"] for t in everything["tasks"]]
    assert created == sorted(created)
    pages, offset = [], 0
    while offset is not None:
        page = api.call("GET", f"/tasks?limit=2&offset={offset}", holder)
        assert len(page["tasks"]) <= 2
        pages.append([t["id"] for t in page["tasks"]])
        offset = page["next_offset"]
    assert [i for page in pages for i in page] == ids  # every task once, in the same order
    assert all(len(page) == 2 for page in pages[:-1])
    for bad in ("limit=0", "limit=501", "limit=x", "offset=-1"):
        error = api.call("GET", f"/tasks?{bad}", holder, 400)
        assert bad.split("=")[0] in error["message"], error


def test_officials_cannot_receive_cases(api):
    official = users_with_role("official")[0]
    body = {"item_code": "house-initial", "applicant": {"name": "a", "id_number": "b"}}
    api.call("POST", "/cases", official, 403, json=body)


def test_deactivated_user_and_changed_password_revoke_tokens(demo_app, api):
    import sqlalchemy as sa

    from app.db import session
    from app.org.models import User
    from app.org.services import hash_password

    official = users_with_role("official")[0]
    api.call("GET", "/tasks", official)
    with demo_app.app_context():
        db = session()
        db.execute(
            sa.update(User)
            .where(User.username == official)
            .values(password_hash=hash_password("a-new-secret"))
        )
        db.commit()
    body = api.call("GET", "/tasks", official, 401)
    assert body["message"] == "令牌无效"
    clerk = users_with_role("clerk")[0]
    api.call("GET", "/tasks", clerk)
    with demo_app.app_context():
        db = session()
        db.execute(sa.update(User).where(User.username == clerk).values(active=False))
        db.commit()
    api.call("GET", "/tasks", clerk, 401)


def test_unknown_endpoint_and_wrong_method_answer_json(api):
    resp = api.client.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.get_json()["message"]
    resp = api.client.delete("/api/v1/items")
    assert resp.status_code == 405 and resp.get_json()["error"] == "Method Not Allowed"
