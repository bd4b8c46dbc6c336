"""Finished paths, on both databases: a decided case closed at the window with how its result
was delivered (办结送达); the case list (办件查询) with its filters and pages; the verb on each
stage's buttons; the task's due time on its page; decisive actions confirmed."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.audit.models import Event
from app.cases import queries
from app.cases.models import Case, Task
from app.catalogue.models import DiagramVersion
from app.db import session
from tests.apiclient import POSTS, Api, required_materials, sample_form
from tests.test_authz import JOINT_XML, _scene
from tests.test_browser import SHOTS, Person
from tests.test_time_limits import Clock, utc
from tests.webclient import Web

CANCEL, PLANNING, JOINT = "house-cancellation", "planning-permit", "joint-investment"
LEGAL = "《中华人民共和国行政许可法》第三十八条第二款"
MAIL = {"method": "mail", "recipient": "李华", "tracking_no": "SF1234567890", "confirm": "y"}


def _apply(api: Api, item: str, name: str = "李华") -> str:
    body = {
        "item_code": item,
        "form": sample_form(item),
        "materials": required_materials(item),
        "applicant": {"name": name, "id_number": "330102199001011234", "phone": ""},
    }
    return api.call("POST", "/cases", "clerk_liu", 201, json=body)["case_no"]  # fmt: skip


def _decide(api: Api, case_no: str) -> None:
    api.work(case_no, "Task_review", data={"review_opinion": "同意"})
    api.work(case_no, "Task_issue")
    assert api.case(case_no)["status"] == "decided"


def _case_row(app, case_no: str) -> tuple:
    with app.app_context():
        case = session().scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        return case.status, case.closed_at, case.event_seq


def _flash(web: Web, resp) -> str:
    return web.get(resp.headers["Location"]).text


# --- closing and handing over --------------------------------------------------------------


def test_a_clerk_closes_a_decided_case_recording_how_its_result_was_delivered(demo_app):
    # Tue 3 Nov 2026 10:00 in the centre (02:00 UTC)
    demo_app.config["CLOCK"] = Clock(utc(2026, 11, 3, 10))
    api = Api(demo_app.test_client())
    case_no = _apply(api, CANCEL)
    clerk = Web(demo_app, "clerk_liu")
    # not decided yet: refused on the web and through the API, nothing written
    before = _case_row(demo_app, case_no)
    assert "Close and hand over" not in clerk.get(f"/cases/{case_no}").text
    page = _flash(clerk, clerk.post(f"/cases/{case_no}/close", MAIL))
    assert "is not decided: only a decided case is closed" in page
    refused = api.call("POST", f"/cases/{case_no}/close", "clerk_liu", 409, json=MAIL)
    assert refused["message"] == f"办件 {case_no} 尚未作出决定：只有已作出决定的办件才能办结送达。"
    assert _case_row(demo_app, case_no) == before
    _decide(api, case_no)
    decided = _case_row(demo_app, case_no)
    # the window leads to the decided cases, this one among them
    window = clerk.get("/window").text
    assert 'id="to-hand-over" href="/cases?status=decided"' in window
    assert case_no in clerk.get("/cases?status=decided").text
    # others are refused before the case is looked up: a missing case gets the same answer
    for user in ("official_xiao", "leader_gao", "supervisor_wu", "auditor_sun", "analyst_zhou"):
        Web(demo_app, user).post(f"/cases/{case_no}/close", MAIL, expect=403)
        Web(demo_app, user).post("/cases/NO-SUCH-CASE/close", MAIL, expect=403)
        api.call("POST", f"/cases/{case_no}/close", user, 403, json=MAIL)
    clerk.post("/cases/NO-SUCH-CASE/close", MAIL, expect=404)
    api.call("POST", "/cases/NO-SUCH-CASE/close", "clerk_liu", 404, json=MAIL)
    # by post without a tracking number; no method; no recipient: each named, nothing written
    no_tracking = api.call("POST", f"/cases/{case_no}/close", "clerk_liu", 400,
                           json={**MAIL, "tracking_no": ""})  # fmt: skip
    assert "邮寄送达须填写邮寄单号" in no_tracking["message"]  # the API answers in Chinese
    api.call("POST", f"/cases/{case_no}/close", "clerk_liu", 400, json={"recipient": "李华"})
    api.call("POST", f"/cases/{case_no}/close", "clerk_liu", 400, json={"method": "in_person"})
    page = _flash(clerk, clerk.post(f"/cases/{case_no}/close", {**MAIL, "method": "pigeon"}))
    assert "Say how and to whom the result was delivered." in page
    # the box not ticked: refused, nothing written
    unconfirmed = {k: v for k, v in MAIL.items() if k != "confirm"}
    page = _flash(clerk, clerk.post(f"/cases/{case_no}/close", unconfirmed))
    assert "Tick the box to confirm: nothing was changed." in page
    assert _case_row(demo_app, case_no) == decided
    # the case page's form, then the close at 10:20 local (02:20 UTC; within the session)
    page = clerk.get(f"/cases/{case_no}").text
    assert 'id="close"' in page and 'name="confirm"' in page and "data-confirm=" in page
    demo_app.config["CLOCK"].now = utc(2026, 11, 3, 10, 20)
    page = _flash(clerk, clerk.post(f"/cases/{case_no}/close", MAIL))
    assert f"Case {case_no} is closed: its result was delivered." in page
    delivered = re.search(r'id="delivered".*?</section>', page, re.S).group(0)
    assert "2026-11-03 10:20" in delivered and "sent by post" in delivered
    assert "to 李华" in delivered and "tracking number SF1234567890" in delivered
    case = api.case(case_no)
    assert case["status"] == "closed" and case["closed_at"].startswith("2026-11-03T02:20")
    with demo_app.app_context():
        [event] = session().scalars(
            sa.select(Event).join(Case, Case.id == Event.case_id)
            .where(Case.case_no == case_no, Event.type == "case_closed")
        ).all()  # fmt: skip
        assert event.data == {"method": "mail", "recipient": "李华", "note": "",
                              "tracking_no": "SF1234567890"}  # fmt: skip
    # once closed, closed: a second close is refused
    api.call("POST", f"/cases/{case_no}/close", "clerk_liu", 409, json=MAIL)
    # the applicant's progress query: 已送达 with the local day, nothing more to do
    with demo_app.app_context():
        code = session().scalar(sa.select(Case.query_code).where(Case.case_no == case_no))
    public = Web(demo_app, lang="zh")
    public.get("/track")
    page = public.post("/track", {"case_no": case_no, "code": code}, expect=200).text
    assert "已送达（2026-11-03）" in page
    assert "结果已送达，本件已办结" in page


def test_a_faulted_case_is_not_closed(demo_app):
    scene = _scene(demo_app, faulted=True)
    api = Api(demo_app.test_client())
    before = _case_row(demo_app, scene.case_no)
    body = {"method": "in_person", "recipient": "李华"}
    api.call("POST", f"/cases/{scene.case_no}/close", "clerk_liu", 409, json=body)
    assert _case_row(demo_app, scene.case_no) == before


def test_the_close_in_chinese(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 11, 3, 10))
    api = Api(demo_app.test_client())
    case_no = _apply(api, CANCEL)
    _decide(api, case_no)
    clerk = Web(demo_app, "clerk_liu", lang="zh")
    page = clerk.get(f"/cases/{case_no}").text
    assert "办结送达" in page and "邮寄送达" in page and "电子送达" in page
    assert "申请人当场领取" in page and "委托代理人领取" in page
    body = {"method": "agent", "recipient": "王五（受托人）", "confirm": "y"}
    page = _flash(clerk, clerk.post(f"/cases/{case_no}/close", body))
    assert "委托代理人领取" in page and "王五（受托人）" in page


# --- the case list ---------------------------------------------------------------------------


@pytest.fixture
def listed(demo_app, monkeypatch):
    """Five cases of one test, named 甲办件一…五, received one after another (newest last)."""
    monkeypatch.setattr(queries, "CASES_PER_PAGE", 2)
    clock = Clock(utc(2026, 11, 3, 23, 30))  # Tue 3 Nov 23:30 local = 15:30 UTC
    demo_app.config["CLOCK"] = clock
    api = Api(demo_app.test_client())
    numbers = {"一": _apply(api, CANCEL, "甲办件一")}
    clock.now = utc(2026, 11, 4, 0, 30)  # Wed 4 Nov 00:30 local = 3 Nov 16:30 UTC
    numbers["二"] = _apply(api, PLANNING, "甲办件二")
    clock.now = utc(2026, 11, 5, 10)
    numbers["三"] = _apply(api, CANCEL, "甲办件三")
    clock.now = utc(2026, 11, 5, 10, 5)
    numbers["四"] = _apply(api, JOINT, "甲办件四")
    clock.now = utc(2026, 11, 5, 10, 10)
    numbers["五"] = _apply(api, CANCEL, "甲办件五")
    _decide(api, numbers["五"])
    clock.now = utc(2026, 11, 5, 12)
    return api, numbers


def _listed(web: Web, query: str, expect: int = 200) -> tuple[list[str], str]:
    page = web.get(f"/cases?q=甲办件&{query}", expect=expect).text
    body = re.search(r'<table class="grid" id="case-list">.*?</table>', page, re.S)
    names = re.findall(r"<td>(甲办件.)</td>", body.group(0)) if body else []
    return [n[-1] for n in names], page


def test_the_case_list_filters_and_pages_newest_first(demo_app, listed):
    api, numbers = listed
    clerk = Web(demo_app, "clerk_liu")
    # five cases, two a page, newest first; the last page has one
    names, page = _listed(clerk, "")
    assert names == ["五", "四"] and "5 cases · page 1 of 3" in page
    assert "page=2" in page and 'rel="prev"' not in page
    assert _listed(clerk, "page=2")[0] == ["三", "二"]
    names, page = _listed(clerk, "page=3")
    assert names == ["一"] and 'rel="next"' not in page
    assert _listed(clerk, "page=9")[0] == ["一"]  # past the end: the last page
    # by status, item and department (房屋登记科 owns the cancellations: 一, 三, 五)
    assert _listed(clerk, "status=decided")[0] == ["五"]
    names, page = _listed(clerk, "status=accepted")
    assert "4 cases" in page
    assert _listed(clerk, f"item={PLANNING}")[0] == ["二"]
    names, page = _listed(clerk, "department=housing_reg")
    assert names == ["五", "三"] and "3 cases · page 1 of 2" in page
    names, page = _listed(clerk, "department=housing_reg&status=accepted")
    assert names == ["三", "一"] and "2 cases · page 1 of 1" in page
    # received on local days: 一 at 23:30 on 3 Nov and 二 at 00:30 on 4 Nov are both 3 Nov in
    # UTC, yet each is listed under its own local day
    assert _listed(clerk, "from=2026-11-03&to=2026-11-03")[0] == ["一"]
    assert _listed(clerk, "from=2026-11-04&to=2026-11-04")[0] == ["二"]
    names, page = _listed(clerk, "from=2026-11-04")
    assert "4 cases" in page
    names, page = _listed(clerk, "to=2026-11-04")
    assert names == ["二", "一"]
    # overdue at Thu 5 Nov 12:00: 一 was promised on the spot (0 working days) and is past
    # it; 二 (12 days), 三 (due today 17:00) and 四 (20 days) are not; 五 is decided
    due = {k: api.case(v)["due_at"] for k, v in numbers.items()}
    assert due["一"] < "2026-11-05T04:00" < due["三"]  # 12:00 local = 04:00 UTC
    assert _listed(clerk, "overdue=1")[0] == ["一"]
    # nothing matches: said so
    names, page = _listed(clerk, "status=withdrawn")
    assert names == [] and "No case you may see matches" in page


def test_wrong_filters_are_named_and_nothing_is_listed(demo_app, listed):
    clerk = Web(demo_app, "clerk_liu")
    names, page = _listed(clerk, "from=2026-13-01&status=lost&item=nothing&page=0", expect=400)
    assert names == []
    assert "Received from is not a date (YYYY-MM-DD): 2026-13-01" in page
    assert "There is no such status: lost" in page and "There is no such item: nothing" in page
    assert "There is no page 0." in page
    names, page = _listed(clerk, "from=2026-11-05&to=2026-11-04", expect=400)
    assert "The first day comes after the last." in page


def test_each_role_lists_only_the_cases_it_may_read(demo_app, listed, monkeypatch):
    api, numbers = listed
    monkeypatch.setattr(queries, "CASES_PER_PAGE", 25)
    # the ndrc post's A holds a task of the joint case 四 only; the head of the natural
    # resources bureau answers for the planning permit 二 and, through its real-estate
    # registration centre, for the cancellations 一, 三, 五; the housing reviewer holds or
    # held the review of each cancellation; B of the env post, with A present, holds nothing
    names, page = _listed(Web(demo_app, "official_xiao"), "")
    assert names == ["四"] and "1 cases" in page
    assert _listed(Web(demo_app, "head_lin"), "")[0] == ["五", "三", "二", "一"]
    assert _listed(Web(demo_app, "official_zhao"), "")[0] == ["五", "三", "一"]
    names, page = _listed(Web(demo_app, "official_lv"), "")
    assert names == [] and "No case you may see matches" in page
    assert _listed(Web(demo_app, "auditor_sun"), "department=housing_reg")[0] == ["五", "三", "一"]
    Web(demo_app, "analyst_zhou").get("/cases", expect=403)
    # the list shows exactly the cases whose page the user may open
    for user in ("official_xiao", "official_zhao", "official_lv", "head_lin", "leader_gao",
                 "deputy_qin", "mayor_he", "official_lu"):  # fmt: skip
        web = Web(demo_app, user)
        readable = [k for k, no in numbers.items()
                    if web.get(f"/cases/{no}", expect=None).status_code == 200]  # fmt: skip
        assert sorted(_listed(web, "")[0]) == sorted(readable), user
    # the count is of readable cases only
    with demo_app.app_context():
        from app.org.models import User

        xiao = session().scalars(sa.select(User).where(User.username == "official_xiao")).one()
        found = queries.case_list(xiao, queries.CaseFilter(text="甲办件"))
        assert (found.total, found.pages, found.capped) == (1, 1, False)


def test_the_case_list_in_chinese(demo_app, listed):
    clerk = Web(demo_app, "clerk_liu", lang="zh")
    names, page = _listed(clerk, "department=housing_reg")
    assert names == ["五", "三"]
    for label in ("办件查询", "收件日期自", "收件日期至", "仅显示超期", "共 3 件", "第 1 / 2 页",
                  "下一页", "房屋登记科", "已办结"):  # fmt: skip
        assert label in page, label


# --- the verbs, the due time and the confirmations on the task page -------------------------


def _task_page(demo_app, api: Api, case_no: str, spec: str, lang: str = "en"):
    [task] = [t for t in api.open_tasks(case_no) if t["spec_id"] == spec]
    web = Web(demo_app, task["assignee"], lang=lang)
    return web, task["id"], web.get(f"/tasks/{task['id']}").text


def _buttons(page: str) -> dict[str, str]:
    return dict(re.findall(r'<button type="submit" name="outcome" value="(\w+)"[^>]*>([^<]+)<',
                           page))  # fmt: skip


def _open(demo_app, case_no: str) -> dict[str, str]:
    with demo_app.app_context():
        rows = session().execute(
            sa.select(Task.spec_id, Task.state).join(Case, Case.id == Task.case_id)
            .where(Case.case_no == case_no)
        ).all()  # fmt: skip
        return {r.spec_id: r.state for r in rows}


def test_a_denial_stage_issues_the_decision_and_asks_to_confirm(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 11, 3, 10))
    api = Api(demo_app.test_client())
    case_no = _apply(api, JOINT)
    # a review stage: 同意 / 否决, the rejection asks to confirm
    xiao, task_id, page = _task_page(demo_app, api, case_no, "Task_ndrc", "zh")
    assert _buttons(page) == {"approve": "同意", "reject": "否决"}
    assert 'value="reject" class="danger" data-confirm=' in page
    assert page.count('name="confirm"') == 1
    reject = {"outcome": "reject", "comment": "不符合产业政策", "legal_basis": LEGAL,
              "f_ndrc_opinion": "不同意"}  # fmt: skip
    before = _case_row(demo_app, case_no)
    refused = xiao.post(f"/tasks/{task_id}/complete", reject, expect=400).text
    assert "请勾选确认" in refused
    assert _open(demo_app, case_no)["Task_ndrc"] == "open"
    assert _case_row(demo_app, case_no) == before
    xiao.post(f"/tasks/{task_id}/complete", {**reject, "confirm": "y"})
    for spec, field in (("Task_land", "land_opinion"), ("Task_construction",
                        "construction_opinion"), ("Task_env", "env_opinion")):  # fmt: skip
        api.work(case_no, spec, data={field: "同意"})
    # the denial stage: 出具决定, not 同意, and it asks to confirm
    clerk, task_id, page = _task_page(demo_app, api, case_no, "Task_denial", "zh")
    assert POSTS["window_centre"]["a"] == clerk.username
    assert _buttons(page) == {"approve": "出具决定"} and "同意" not in _buttons(page).values()
    assert 'value="approve" class="danger" data-confirm=' in page
    before = _case_row(demo_app, case_no)
    clerk.post(f"/tasks/{task_id}/complete", {"outcome": "approve"}, expect=400)
    assert _open(demo_app, case_no)["Task_denial"] == "open"
    assert _case_row(demo_app, case_no) == before
    clerk.post(f"/tasks/{task_id}/complete", {"outcome": "approve", "confirm": "y"})
    assert api.case(case_no)["decision"] == "denied"


def test_an_issue_stage_says_so_and_the_task_page_shows_its_due_time(demo_app):
    # accepted Tue 3 Nov 2026 10:00 (a working day); the review stage's limit is 4 hours
    # (house-cancellation, a 即办件): due the same day at 14:00, within a day: "soon"
    demo_app.config["CLOCK"] = Clock(utc(2026, 11, 3, 10))
    api = Api(demo_app.test_client())
    case_no = _apply(api, CANCEL)
    [review] = api.open_tasks(case_no)
    web, _task_id, page = _task_page(demo_app, api, case_no, "Task_review")
    # in English a button reads "Approve" (capitalised), a review's outcome elsewhere "approve"
    assert _buttons(page) == {"approve": "Approve", "reject": "Reject"}
    due = re.search(r'id="task-due" class="due (\w+)"[^>]*>([^<]+)<', page)
    assert due.group(2) == "2026-11-03 14:00" == _local(review["due_at"])
    assert due.group(1) == "soon"
    # an approval needs no confirmation
    api.work(case_no, "Task_review", data={"review_opinion": "同意"})
    _web, _task_id, page = _task_page(demo_app, api, case_no, "Task_issue", "zh")
    assert _buttons(page) == {"approve": "出具决定/发证"}
    assert "data-confirm" not in page and 'name="confirm"' not in page
    assert "本环节办理期限" in page
    # a stage without a limit of its own shows the case's promised date (a 即办件: the day
    # of acceptance, Tue 3 Nov 2026, at the close of office, 17:00)
    with demo_app.app_context():
        session().execute(sa.update(Task).where(Task.spec_id == "Task_issue").values(due_at=None))
        session().commit()
    _web, _task_id, page = _task_page(demo_app, api, case_no, "Task_issue")
    assert "This stage has no time limit of its own; the case is promised by" in page
    due = re.search(r'id="task-due" class="due (\w+)"[^>]*>([^<]+)<', page)
    assert due.group(2) == "2026-11-03 17:00" == _local(api.case(case_no)["due_at"])


def _local(iso: str) -> str:
    """An API time (UTC) as the pages show it in the centre (UTC+8)."""
    import datetime as dt

    at = dt.datetime.fromisoformat(iso.rstrip("Z")) + dt.timedelta(hours=8)
    return at.strftime("%Y-%m-%d %H:%M")


def test_refusing_and_withdrawing_need_the_box_ticked(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 11, 3, 10))
    api = Api(demo_app.test_client())
    short = api.call("POST", "/cases", "clerk_liu", 201, json={
        "item_code": CANCEL, "form": sample_form(CANCEL),
        "materials": required_materials(CANCEL)[:-1],
        "applicant": {"name": "李华", "id_number": "330102199001011234"}})["case_no"]  # fmt: skip
    accepted = _apply(api, CANCEL)
    clerk = Web(demo_app, "clerk_liu")
    page = clerk.get(f"/cases/{short}").text
    assert page.count('name="confirm" value="y" required') == 2  # refuse, withdraw
    refusal = {"reason": "不属于本中心职权范围", "legal_basis": "《行政许可法》第三十二条"}
    for case_no, action, body in ((short, "refuse", refusal),
                                  (accepted, "withdraw", {"reason": "申请人撤回"})):  # fmt: skip
        before = _case_row(demo_app, case_no)
        page = _flash(clerk, clerk.post(f"/cases/{case_no}/{action}", body))
        assert "Tick the box to confirm: nothing was changed." in page, action
        assert _case_row(demo_app, case_no) == before
        clerk.post(f"/cases/{case_no}/{action}", {**body, "confirm": "y"})
    assert api.case(short)["status"] == "refused"
    assert api.case(accepted)["status"] == "withdrawn"


def test_a_deployment_is_confirmed_or_nothing_is_deployed(demo_app):
    analyst = Web(demo_app, "analyst_zhou")
    page = analyst.get(f"/analyst/items/{JOINT}/edit").text
    assert "data-deploy-confirm=" in page
    headers = {"X-CSRFToken": analyst.token}
    changed = JOINT_XML.replace('name="项目核准"', 'name="项目核准（含节能审查）"', 1)
    saved = analyst.client.post(f"/analyst/items/{JOINT}/draft", data=changed.encode(),
                                headers={**headers, "Content-Type": "application/xml"})  # fmt: skip
    assert saved.status_code == 200, saved.get_json()

    def versions() -> int:
        with demo_app.app_context():
            return session().scalar(sa.select(sa.func.count()).select_from(DiagramVersion))

    before = versions()
    for body in ({"comment": "调整"}, {"comment": "调整", "confirm": "yes"}):
        refused = analyst.client.post(f"/analyst/items/{JOINT}/deploy", json=body, headers=headers)
        assert refused.status_code == 400
        assert refused.get_json()["message"] == "Confirm the deployment: nothing was deployed."
    assert versions() == before
    done = analyst.client.post(
        f"/analyst/items/{JOINT}/deploy", json={"comment": "调整", "confirm": True}, headers=headers
    )
    assert done.status_code == 201 and versions() == before + 1


def test_in_the_browser_the_close_asks_first_and_works_by_keyboard(
    demo_app, browser, live_server, database_url
):
    api = Api(demo_app.test_client())
    case_no = _apply(api, CANCEL)
    _decide(api, case_no)
    clerk = Person(browser, live_server, SHOTS / "paths" / database_url.split(":")[0])
    try:
        clerk.login("clerk_liu")
        page = clerk.page
        page.goto(f"{live_server}/cases/{case_no}")
        # the script stands in for the box's own check: it asks instead
        assert page.get_attribute("#close input[name=confirm]", "required") is None
        page.select_option("#close select[name=method]", "in_person")
        page.fill("#close input[name=recipient]", "李华")
        clerk.shot("1-close-form")
        asked = []
        page.once("dialog", lambda d: (asked.append(d.message), d.dismiss()))
        page.focus("#close button")
        page.keyboard.press("Enter")  # by keyboard: the same question
        page.wait_for_timeout(300)
        assert asked and case_no in asked[0]
        assert api.case(case_no)["status"] == "decided"  # said no: nothing sent
        page.once("dialog", lambda d: d.accept())
        page.focus("#close button")
        page.keyboard.press("Enter")
        page.wait_for_selector("#delivered")
        clerk.shot("2-closed")
        assert "申请人当场领取" in page.inner_text("#delivered")
        assert api.case(case_no)["status"] == "closed"
        page.goto(f"{live_server}/cases?department=housing_reg")
        clerk.shot("3-case-list")
        assert case_no in page.inner_text("#case-list")
    finally:
        clerk.close()
