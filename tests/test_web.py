"""The staff web pages, as a user sees them: log-in, the inbox, the task page, the window."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from app.cases.models import Case, Task
from app.db import session
from app.org.models import Post, User
from app.org.reasons import decode
from tests.apiclient import POSTS, Api, required_materials, sample_form
from tests.webclient import Web

JOINT = "joint-investment"


def _task_ids(html: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r"/tasks/([0-9a-f-]{36})", html)))


def _user_id(app, username: str) -> int:
    with app.app_context():
        return session().scalar(sa.select(User.id).where(User.username == username))


def _case(app, case_no: str) -> Case:
    with app.app_context():
        case = session().scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        session().expunge(case)
        return case


def _open_tasks(app, case_no: str) -> dict[str, Task]:
    with app.app_context():
        db = session()
        rows = db.scalars(
            sa.select(Task)
            .join(Case, Case.id == Task.case_id)
            .where(Case.case_no == case_no, Task.state == "open")
        ).all()
        for row in rows:
            db.expunge(row)
        return {t.spec_id: t for t in rows}


def test_login_logout_and_wrong_password(demo_app):
    web = Web(demo_app)
    resp = web.get("/inbox", expect=302)
    assert "/login" in resp.headers["Location"]
    bad = web.login("official_xiao", "wrong-password", expect=401)
    assert "Wrong username or password" in bad.text
    web.login("official_xiao")
    assert "项目核准" not in web.get("/inbox").text  # empty inbox
    assert "Nothing waiting for you" in web.get("/inbox").text
    web.post("/logout")
    assert "/login" in web.get("/inbox", expect=302).headers["Location"]


def test_deactivated_account_and_password_change_end_sessions(demo_app):
    web = Web(demo_app, "official_xiao")
    admin = Web(demo_app, "admin")
    xiao = _user_id(demo_app, "official_xiao")
    page = admin.get(f"/admin/users/{xiao}").text
    assert 'value="official_xiao"' in page
    admin.post(
        f"/admin/users/{xiao}",
        {"username": "official_xiao", "name": "肖明", "roles": ["official"], "department_id": "0",
         "password": "a-new-password-1", "active": "y"},
    )  # fmt: skip
    assert web.get("/inbox", expect=302).headers["Location"].startswith("/login")
    Web(demo_app).login("official_xiao", "a-new-password-1")


def test_session_ends_after_the_maximum_length(demo_app):
    now = [dt.datetime(2026, 11, 23, 1, 0)]
    demo_app.config["CLOCK"] = lambda: now[0]
    web = Web(demo_app, "official_xiao")
    web.get("/inbox")
    now[0] += dt.timedelta(hours=demo_app.config["WEB_SESSION_MAX_HOURS"], minutes=1)
    assert "/login" in web.get("/inbox", expect=302).headers["Location"]


def test_forms_without_a_valid_csrf_token_are_refused_and_change_nothing(demo_app):
    web = Web(demo_app, "official_shi")
    for token in (None, "forged-token"):
        data = {"kind": "leave", "starts_at": "2026-12-01T09:00", "ends_at": "2026-12-02T09:00",
                "user_id": str(_user_id(demo_app, "official_shi"))}  # fmt: skip
        if token:
            data["csrf_token"] = token
        resp = web.post("/absences", data, expect=400, csrf=False)
        assert "not sent from this site" in resp.text
    assert "2026-12-01" not in web.get("/absences").text


def test_clerk_receives_with_missing_materials_then_supplements(demo_app):
    clerk = Web(demo_app, "clerk_liu")
    form = {f"a_{k}": str(v) for k, v in sample_form(JOINT).items()}
    materials = required_materials(JOINT)
    resp = clerk.post(
        f"/window/receive/{JOINT}",
        {"applicant_name": "某某新能源有限公司", "applicant_id_number": "91330100MA2H000001",
         "applicant_phone": "057188880000", "decision": "accept",
         "materials": materials[:-1], **form},
    )  # fmt: skip
    case_page = clerk.get(resp.headers["Location"]).text
    case_no = re.search(r"/cases/(\d+)", resp.headers["Location"]).group(1)
    assert "needs supplements" in case_page
    missing = [m for m in required_materials(JOINT) if m not in materials[:-1]]
    assert _case(demo_app, case_no).status == "supplement_required"
    assert "913*" in case_page and "91330100MA2H000001" not in case_page  # masked
    clerk.post(f"/cases/{case_no}/supplement", {"materials": missing})
    assert _case(demo_app, case_no).status == "accepted"
    assert set(_open_tasks(demo_app, case_no)) == {"Task_ndrc", "Task_land", "Task_construction",
                                                    "Task_env"}  # fmt: skip


def test_receive_form_errors_name_the_field_and_keep_the_input(demo_app):
    clerk = Web(demo_app, "clerk_liu")
    form = {f"a_{k}": str(v) for k, v in sample_form(JOINT).items()}
    form["a_total_investment"] = "a lot"
    resp = clerk.post(
        f"/window/receive/{JOINT}",
        {"applicant_name": "某公司", "applicant_id_number": "91330100MA2H000001",
         "decision": "accept", "materials": required_materials(JOINT), **form},
        expect=400,
    )  # fmt: skip
    assert "总投资（万元） must be a whole number" in resp.text
    assert 'value="某公司"' in resp.text and 'value="a lot"' in resp.text
    with demo_app.app_context():
        assert session().scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_official_decides_from_the_task_page_with_the_diagram_form(demo_app):
    api = Api(demo_app.test_client())
    case_no = api.apply(JOINT, sample_form(JOINT))["case_no"]
    xiao = Web(demo_app, "official_xiao")
    inbox = xiao.get("/inbox").text
    assert case_no in inbox and "项目核准" in inbox and "李华" in inbox
    [task_id] = _task_ids(inbox)
    page = xiao.get(f"/tasks/{task_id}").text
    assert 'name="f_ndrc_opinion"' in page and 'value="approve"' in page
    assert "assigned to A of 发改项目核准岗" in page  # the post by name, not its code
    # a return without a reason is refused with the reason on the page; nothing changes
    resp = xiao.post(f"/tasks/{task_id}/complete", {"outcome": "reject"}, expect=400)
    assert "a rejection needs a reason" in resp.text
    assert _open_tasks(demo_app, case_no)["Task_ndrc"].state == "open"
    decision = {"outcome": "approve", "comment": "符合产业政策", "f_ndrc_opinion": "同意核准"}
    xiao.post(f"/tasks/{task_id}/complete", decision)
    assert "Task_ndrc" not in _open_tasks(demo_app, case_no)
    done = xiao.get("/done").text
    assert case_no in done and "符合产业政策" in done
    assert case_no not in xiao.get("/inbox").text


def test_the_inbox_counts_tasks_held_as_b_and_filters_them(demo_app):
    api = Api(demo_app.test_client())
    lv = Web(demo_app, "official_lv")  # B of env_review
    leave = {"kind": "leave", "starts_at": "2026-01-01T00:00", "ends_at": "2099-01-01T00:00"}
    api.call("POST", "/absences", "official_shi", 201, json=leave)
    first = api.apply(JOINT, sample_form(JOINT))["case_no"]
    page = lv.get("/inbox").text
    assert first in page and re.search(r'data-count="as_b">1<', page)
    assert "B for" in page
    assert first in lv.get("/inbox?as_b=1").text
    assert first not in lv.get("/inbox?item=house-initial").text
    assert first in lv.get(f"/inbox?q={first[-6:]}").text


def test_transfer_to_the_other_holder_stays_there_and_is_logged(demo_app):
    api = Api(demo_app.test_client())
    case_no = api.apply(JOINT, sample_form(JOINT))["case_no"]
    shi = Web(demo_app, "official_shi")
    [task_id] = _task_ids(shi.get("/inbox").text)
    lv_id = _user_id(demo_app, "official_lv")
    resp = shi.post(f"/tasks/{task_id}/transfer", {"to_user": str(lv_id), "reason": ""},
                    expect=400)  # fmt: skip
    assert "give a reason" in resp.text
    shi.post(f"/tasks/{task_id}/transfer", {"to_user": str(lv_id), "reason": "出差前移交"})
    task = _open_tasks(demo_app, case_no)["Task_env"]
    assert task.assignee_id == lv_id and task.acting_for_id is None
    assert "出差前移交" in task.assignment_reason
    lv = Web(demo_app, "official_lv")
    assert case_no in lv.get("/inbox").text
    # the absence machinery does not undo a deliberate transfer
    api.call("POST", "/checkin", "official_shi")
    assert _open_tasks(demo_app, case_no)["Task_env"].assignee_id == lv_id
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    assert [e for e in events if e["type"] == "task_transferred"][0]["actor"] == "official_shi"
    # and the task is no longer shi's to see
    shi.get(f"/tasks/{task_id}", expect=403)


def test_a_shared_post_offers_the_task_and_the_first_claim_wins(demo_app):
    admin = Web(demo_app, "admin")
    with demo_app.app_context():
        post = session().scalars(sa.select(Post).where(Post.code == "env_review")).one()
        post_id, dept = post.id, post.department_id
    spec = POSTS["env_review"]
    ids = {name: _user_id(demo_app, name) for name in (spec["a"], spec["b"], spec["leader"])}
    admin.post(
        f"/admin/posts/{post_id}",
        {"code": "env_review", "name": spec["name"], "department_id": str(dept),
         "a_user_id": str(ids[spec["a"]]), "b_user_id": str(ids[spec["b"]]),
         "leader_user_id": str(ids[spec["leader"]]), "return_to_a": "y", "shared": "y"},
    )  # fmt: skip
    api = Api(demo_app.test_client())
    case_no = api.apply(JOINT, sample_form(JOINT))["case_no"]
    task = _open_tasks(demo_app, case_no)["Task_env"]
    assert task.assignee_id is None and decode(task.assignment_reason)["reason"] == "shared"
    a, b = Web(demo_app, spec["a"]), Web(demo_app, spec["b"])
    assert "Waiting to be claimed" in a.get("/inbox").text
    assert str(task.id) in b.get("/inbox").text
    Web(demo_app, "official_xiao").post(f"/tasks/{task.id}/claim", expect=403)
    b.post(f"/tasks/{task.id}/claim")
    assert _open_tasks(demo_app, case_no)["Task_env"].assignee_id == ids[spec["b"]]
    resp = a.post(f"/tasks/{task.id}/claim")
    assert "already been claimed" in a.get(resp.headers["Location"]).text
    assert _open_tasks(demo_app, case_no)["Task_env"].assignee_id == ids[spec["b"]]


def test_changing_a_posts_a_moves_its_open_tasks(demo_app):
    api = Api(demo_app.test_client())
    case_no = api.apply(JOINT, sample_form(JOINT))["case_no"]
    spec = POSTS["ndrc_review"]
    with demo_app.app_context():
        post = session().scalars(sa.select(Post).where(Post.code == "ndrc_review")).one()
        post_id, dept = post.id, post.department_id
    admin = Web(demo_app, "admin")
    new_a = _user_id(demo_app, "official_zhao")
    resp = admin.post(
        f"/admin/posts/{post_id}",
        {"code": "ndrc_review", "name": spec["name"], "department_id": str(dept),
         "a_user_id": str(new_a), "b_user_id": str(_user_id(demo_app, spec["b"])),
         "leader_user_id": str(_user_id(demo_app, spec["leader"])), "return_to_a": "y"},
    )  # fmt: skip
    assert "1 open tasks moved" in admin.get(resp.headers["Location"]).text
    task = _open_tasks(demo_app, case_no)["Task_ndrc"]
    moved = decode(task.assignment_reason)  # stored structured: who changed the post, then why
    assert task.assignee_id == new_a and moved["reason"] == "post_changed"
    assert moved["by"] == _user_id(demo_app, "admin") and moved["then"]["reason"] == "a_holds"
    # A and B must differ
    resp = admin.post(
        f"/admin/posts/{post_id}",
        {"code": "ndrc_review", "name": spec["name"], "department_id": str(dept),
         "a_user_id": str(new_a), "b_user_id": str(new_a)},
        expect=400,
    )  # fmt: skip
    assert "two different people" in resp.text


def test_absence_registered_on_the_page_moves_tasks_to_b(demo_app):
    api = Api(demo_app.test_client())
    case_no = api.apply(JOINT, sample_form(JOINT))["case_no"]
    shi = Web(demo_app, "official_shi")
    shi.post("/absences", {"user_id": str(_user_id(demo_app, "official_shi")), "kind": "leave",
                           "starts_at": "2020-01-01T08:00", "ends_at": "2099-01-01T08:00",
                           "reason": "年假"})  # fmt: skip
    task = _open_tasks(demo_app, case_no)["Task_env"]
    assert task.assignee_id == _user_id(demo_app, "official_lv")
    assert '["A","leave","2099-01-01T08:00"]' in task.assignment_reason  # stored structured
    # the partner cannot go away as well without the leader's confirmation
    lv = Web(demo_app, "official_lv")
    resp = lv.post("/absences", {"user_id": str(_user_id(demo_app, "official_lv")),
                                 "kind": "trip", "starts_at": "2030-01-01T08:00",
                                 "ends_at": "2030-01-05T08:00"}, expect=409)  # fmt: skip
    assert "may not be away together" in resp.text


def test_language_switch(demo_app):
    web = Web(demo_app, "official_xiao", lang="zh")
    assert "待办" in web.get("/inbox").text
    web.post("/language", {"lang": "en", "next": "/inbox"})
    assert ">Inbox<" in web.get("/inbox").text


def test_pages_carry_security_headers(demo_app):
    web = Web(demo_app, "official_xiao")
    resp = web.get("/inbox")
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script" not in resp.text
