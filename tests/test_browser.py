"""In a real browser: a joint approval from the window to the decision, one official on leave.

Headless Debian Chromium driven by Playwright against the app served on 127.0.0.1. The
test saves screenshots of the inboxes, the task pages and the decided case to
OW_SCREENSHOTS (default build/screenshots/<database>/).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.cases.models import Case, Task
from app.db import session
from app.org.models import User
from config import BASE_DIR
from tests.apiclient import PASSWORD, item_entry

IN_CI = os.environ.get("CI", "").lower() == "true"
SHOTS = Path(os.environ.get("OW_SCREENSHOTS", BASE_DIR / "build" / "screenshots"))
JOINT = "joint-investment"
# the four departments of the joint approval: post code, A, B, the task's form field
DEPARTMENTS = [
    ("ndrc_review", "official_xiao", "Task_ndrc", "ndrc_opinion"),
    ("land_review", "official_pan", "Task_land", "land_opinion"),
    ("construction_review", "official_tang", "Task_construction", "construction_opinion"),
    ("env_review", "official_lv", "Task_env", "env_opinion"),  # B: A (official_shi) on leave
]


class Person:
    """One person's browser tab."""

    def __init__(self, browser, base: str, shots: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1366, "height": 900},
                                           locale="zh-CN")  # fmt: skip
        self.page = self.context.new_page()
        self.base, self.shots = base, shots

    def login(self, username: str) -> None:
        page = self.page
        page.goto(f"{self.base}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_load_state()
        assert "/login" not in page.url, page.content()[-2000:]

    def shot(self, name: str) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def fill_joint_application(page, base: str) -> None:
    """At the window: fill in a company's joint-approval application, every material ticked."""
    page.goto(f"{base}/window/receive/{JOINT}")
    page.fill("input[name=applicant_name]", "绿洲新能源科技有限公司")
    page.fill("input[name=applicant_id_number]", "91330100MA2H7Q8X1K")
    page.fill("input[name=applicant_phone]", "057188886666")
    values = {"project_name": "年产储能电池项目", "site_location": "经济开发区七号地块",
              "total_investment": "86000", "land_area": "120000"}  # fmt: skip
    for field in item_entry(JOINT)["form"]:
        if field["type"] == "enum":
            page.select_option(f"select[name=a_{field['id']}]", field["options"][0])
        else:
            page.fill(f"input[name=a_{field['id']}]", values[field["id"]])
    for box in page.locator("input[name=materials]").all():
        box.check()


def _local(at: dt.datetime) -> str:
    return at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


def test_joint_approval_in_the_browser_with_one_official_on_leave(
    browser, live_server, demo_app, request
):
    shots = SHOTS / request.node.callspec.params["database_url"]
    now = dt.datetime.now(dt.UTC)

    # official_shi (A of the environment post) registers leave for the coming days
    shi = Person(browser, live_server, shots)
    shi.login("official_shi")
    shi.page.goto(f"{live_server}/absences")
    shi.page.select_option("select[name=kind]", "leave")
    shi.page.fill("input[name=starts_at]", _local(now - dt.timedelta(hours=1)))
    shi.page.fill("input[name=ends_at]", _local(now + dt.timedelta(days=3)))
    shi.page.fill("input[name=reason]", "年休假")
    shi.page.click("form[novalidate] button[type=submit]")
    assert shi.page.locator(".flash.success").count() == 1, shi.page.content()[-2000:]
    shi.shot("0-absence-registered")
    shi.close()

    # the clerk receives the application with every material and accepts it
    clerk = Person(browser, live_server, shots)
    clerk.login("clerk_liu")
    page = clerk.page
    fill_joint_application(page, live_server)
    clerk.shot("1-window-receive")
    page.click("form.receive button.primary")
    page.wait_for_load_state()
    match = re.search(r"/cases/(\d+)", page.url)
    assert match, page.content()[-2000:]
    case_no = match.group(1)
    clerk.shot("2-case-accepted")

    # each department's official finds the task in the inbox and approves it
    for post, username, _spec, field_id in DEPARTMENTS:
        person = Person(browser, live_server, shots)
        person.login(username)
        person.page.goto(f"{live_server}/inbox")
        row = person.page.locator("table.inbox tr", has_text=case_no)
        assert row.count() == 1, (username, person.page.content()[-3000:])
        if username == "official_lv":
            assert row.locator(".tag.b").count() == 1  # held as B for official_shi
        person.shot(f"3-inbox-{username}")
        row.locator("a[href^='/tasks/']").first.click()
        person.page.wait_for_load_state()
        person.page.fill(f"input[name=f_{field_id}]", "同意。符合相关规定。")
        person.page.fill("textarea[name=comment]", f"{post} 审查通过")
        person.shot(f"4-task-{username}")
        person.page.click("button[name=outcome][value=approve]")
        person.page.wait_for_load_state()
        assert person.page.url.endswith("/inbox"), person.page.content()[-2000:]
        assert person.page.locator(".flash.success").count() == 1
        person.close()

    # the window issues the joint decision
    page.goto(f"{live_server}/inbox")
    clerk.page.locator("table.inbox tr", has_text=case_no).locator(
        "a[href^='/tasks/']"
    ).first.click()
    page.wait_for_load_state()
    page.fill("input[name=f_approval_no]", "开发核准〔2026〕18号")
    page.click("button[name=outcome][value=approve]")
    page.wait_for_load_state()
    page.goto(f"{live_server}/cases/{case_no}")
    clerk.shot("5-case-decided")
    history = page.locator("table.history").inner_text()
    with demo_app.app_context():  # the page names people by name, not by user name
        lv = session().scalar(sa.select(User.name).where(User.username == "official_lv"))
    # the reason in zh: B of the environment post holds the task while A is on leave
    assert "分派给环评审批岗的B角：A角休假至" in history and f"→ {lv}" in history
    clerk.close()

    with demo_app.app_context():
        db = session()
        case = db.scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        assert (case.status, case.decision) == ("decided", "approved")
        env = db.scalars(
            sa.select(Task).where(Task.case_id == case.id, Task.spec_id == "Task_env")
        ).one()
        assert env.acting_for_id is not None and env.outcome == "approve"
        assert env.assignment_reason.startswith('{"reason":"b_acting"')
    for name in ("3-inbox-official_lv", "4-task-official_lv", "5-case-decided"):
        assert (shots / f"{name}.png").stat().st_size > 10_000


def _ids(page, selector: str) -> set[str]:
    """Return the BPMN element ids of the SVG groups a selector matches."""
    script = "els => els.map(e => e.getAttribute('data-element-id'))"
    return set(page.locator(selector).evaluate_all(script))


def test_replaying_a_joint_approval_step_by_step(browser, live_server, demo_app, request):
    """The auditor steps through the case; at each step the diagram marks exactly the tasks
    the log says were done and open at that moment."""
    from tests.apiclient import Api, sample_form

    shots = SHOTS / request.node.callspec.params["database_url"] / "replay"
    api = Api(demo_app.test_client())
    case_no = api.apply(JOINT, sample_form(JOINT))["case_no"]
    for _post, _user, spec, field_id in DEPARTMENTS:
        api.work(case_no, spec, data={field_id: "同意"})
    api.work(case_no, "Task_issue", data={"approval_no": "核准〔2026〕9号"})
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]

    auditor = Person(browser, live_server, shots)
    auditor.login("auditor_sun")
    page = auditor.page
    page.goto(f"{live_server}/audit/cases/{case_no}/replay?step=0")
    done: list[str] = []
    open_: set[str] = set()
    specs: dict[str, str] = {}
    for index, event in enumerate(events, start=1):
        page.click("a[data-step=next]")
        page.wait_for_load_state()
        assert page.locator("[data-current]").get_attribute("data-current") == str(index)
        data = event["data"] or {}
        if event["type"] == "task_created":
            specs[event["task_id"]] = data["spec"]
            open_.add(data["spec"])
        elif event["type"] == "task_completed":
            open_.discard(data["spec"])
            done.append(data["spec"])
        elif event["type"] == "task_cancelled":
            open_.discard(specs.get(event["task_id"], ""))
        shown_active = _ids(page, "svg g[data-state=active]")
        shown_done = _ids(page, "svg g[data-state=completed], svg g[data-state=late]")
        # One operation writes a batch of events with one time; inside a batch the engine
        # is already past the step the log is still describing, so the tasks it opened may
        # show before their task_created event. At the end of each batch the two agree.
        later = [e for e in events[index:] if e["at"] == event["at"]]
        if not later:
            assert shown_active == open_, (index, event["type"], shown_active, open_)
        else:
            batch = {e["data"]["spec"] for e in later if e["type"] == "task_created"}
            assert open_ - batch <= shown_active <= open_ | batch, (index, shown_active, open_)
        assert set(done) <= shown_done, (index, done, shown_done)
        if event["type"] in ("case_accepted", "task_completed", "case_decided"):
            auditor.shot(f"step-{index:02d}-{event['type']}")
    assert page.locator("svg g[data-element-id=Event_approved][data-state=completed]").count() == 1
    auditor.close()
