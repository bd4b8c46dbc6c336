"""Layout in headless Chromium: the 五制 register keeps its header row and first column in
view, task tables read in both languages, and the transfer card runs in time order, marks
the B handler and prints.

Uses the browser and server fixtures of tests/test_browser.py; screenshots go to
build/screens/<database>/.
"""

from __future__ import annotations

from config import BASE_DIR
from tests.apiclient import POSTS, Api, sample_form
from tests.test_browser import Person

SCREENS = BASE_DIR / "build" / "screens"
LEAVE = {"kind": "leave", "starts_at": "2026-01-01T08:00", "ends_at": "2036-01-01T18:00",
         "reason": "年休假"}  # fmt: skip
# the parallel reviews of the joint approval, in the order they are done (not by name)
DONE_IN_ORDER = ["Task_land", "Task_env", "Task_ndrc", "Task_construction"]


def _joint_case_with_b(api: Api) -> str:
    """A joint approval whose environment review B handled (A on leave), the four parallel
    reviews done in DONE_IN_ORDER."""
    api.call("POST", "/absences", POSTS["env_review"]["a"], 201, json=LEAVE)
    case_no = api.apply("joint-investment", sample_form("joint-investment"))["case_no"]
    fields = {"Task_ndrc": "ndrc_opinion", "Task_land": "land_opinion",
              "Task_construction": "construction_opinion", "Task_env": "env_opinion"}  # fmt: skip
    for spec in DONE_IN_ORDER:
        api.work(case_no, spec, "approve", "同意", {fields[spec]: "符合要求，同意。"})
    return case_no


def _screens(request, name: str):
    return SCREENS / request.node.callspec.params["database_url"] / name


def _line_count(page, selector: str) -> list[int]:
    """How many lines each matched cell's text takes (the distinct tops of its line boxes)."""
    return page.locator(selector).evaluate_all(
        """els => els.map(e => {
             const range = document.createRange();
             range.selectNodeContents(e);
             return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
           })"""
    )


def test_the_transfer_card_runs_in_time_order_marks_b_and_prints(
    browser, live_server, demo_app, request
):
    api = Api(demo_app.test_client())
    case_no = _joint_case_with_b(api)
    tasks = {t["spec_id"]: t["name"] for t in api.case(case_no)["history"]}
    shots = _screens(request, "card")
    auditor = Person(browser, live_server, shots)
    auditor.login("auditor_sun")
    page = auditor.page
    page.goto(f"{live_server}/cases/{case_no}/card")
    names = page.locator("table.card-table tbody tr td:nth-child(2)").all_inner_texts()
    assert names[1:5] == [tasks[s] for s in DONE_IN_ORDER], names
    b_cell = page.locator("table.card-table td[data-b]")
    assert b_cell.count() == 1
    assert "B角" in b_cell.inner_text(), b_cell.inner_text()
    assert b_cell.locator("xpath=..").locator("td:nth-child(2)").inner_text() == tasks["Task_env"]
    auditor.shot("1-card")
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden()
    assert page.locator("table.card-table").is_visible()
    assert page.locator("table.card-table .tag.b").is_visible()
    auditor.shot("2-card-print")
    page.pdf(path=str(shots / "card.pdf"), format="A4")
    auditor.close()


def test_case_task_table_reads_in_both_languages(browser, live_server, demo_app, request):
    api = Api(demo_app.test_client())
    case_no = _joint_case_with_b(api)
    shots = _screens(request, "case")
    clerk = Person(browser, live_server, shots)
    clerk.login("clerk_liu")
    page = clerk.page
    for lang in ("zh", "en"):
        page.goto(f"{live_server}/cases/{case_no}")
        if lang == "en":
            page.click("button[name=lang][value=en]")
            page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang").startswith(lang)
        lines = _line_count(page, "table.tasks td.task-name, table.tasks td.stage-name")
        assert len(lines) == 12 and max(lines) <= 2, (lang, lines)
        # the whole table inside its card: no column cut off or scrolled out of sight
        widths = page.locator("table.tasks").evaluate(
            "t => [t.getBoundingClientRect().right, t.closest('.card').getBoundingClientRect()"
            ".right, t.closest('.card').scrollWidth - t.closest('.card').clientWidth]"
        )
        assert widths[0] <= widths[1] and widths[2] == 0, (lang, widths)
        clerk.shot(f"case-{lang}")
    clerk.close()


def test_the_register_keeps_its_header_and_first_column_in_view(
    browser, live_server, demo_app, request
):
    api = Api(demo_app.test_client())
    _joint_case_with_b(api)
    shots = _screens(request, "stats")
    supervisor = Person(browser, live_server, shots)
    supervisor.login("supervisor_wu")
    page = supervisor.page
    page.goto(f"{live_server}/stats")
    register = page.locator("#register")
    assert register.locator("thead th").count() >= 20
    first_cell = register.locator("tbody tr").first.locator("td").first
    corner = register.locator("thead th").first
    before = (first_cell.bounding_box()["x"], corner.bounding_box()["y"])
    # a short box (as the register of a year by item is long): scroll it both ways
    page.locator(".wide").evaluate(
        "box => { box.style.maxHeight = '9rem'; box.scrollLeft = 600; box.scrollTop = 60; }"
    )
    scrolled = page.locator(".wide").evaluate("box => [box.scrollLeft, box.scrollTop]")
    assert min(scrolled) > 0, scrolled
    after = (first_cell.bounding_box()["x"], corner.bounding_box()["y"])
    assert after == before, (before, after)
    register.scroll_into_view_if_needed()
    supervisor.shot("register-scrolled")
    supervisor.close()
