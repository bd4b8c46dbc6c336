"""The analyst's change pages in headless Chromium (issue 22): a what-if of a draft over the
planning permit's decided cases (progress, summary, table, diagram with counts, filter), a
plan that moves running cases to a version with a renamed, an added and a removed stage,
and its approval by the bureau's head, who is not its author.

Uses the browser and server fixtures of tests/test_browser.py; screenshots go to
build/screens/<database>/changes/.
"""

from __future__ import annotations

import time

from tests.apiclient import Api
from tests.test_browser import Person
from tests.test_migration import ANALYST, HEAD, ITEM, _case_at, _deploy_v2
from tests.test_screens_browser import _screens
from tests.test_whatif import _history


def _until(page, selector: str, seconds: float = 60) -> None:
    """Reload until `selector` is on the page (the pages refresh themselves every 2 s)."""
    deadline = time.monotonic() + seconds
    while page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, page.content()[-3000:]
        page.wait_for_timeout(500)
        page.reload()


def test_what_if_then_a_plan_approved_by_a_second_person(browser, live_server, demo_app,
                                                        request):  # fmt: skip
    item, content, _filename = _history(demo_app)
    api = Api(demo_app.test_client())
    draft = content.replace(b"floor_area &gt; 20000", b"floor_area &gt; 50000")
    resp = api.client.put(f"/api/v1/items/{ITEM}/draft", data=draft,
                          headers={"Authorization": f"Bearer {api.token(ANALYST)}",
                                   "Content-Type": "application/xml"})  # fmt: skip
    assert resp.status_code == 200
    shots = _screens(request, "changes")
    analyst = Person(browser, live_server, shots)
    analyst.login(ANALYST)
    page = analyst.page
    page.goto(f"{live_server}/analyst/items/{ITEM}/what-if")
    page.select_option("#whatif-start select[name=source]", "draft")
    page.click("#whatif-start button")
    _until(page, '#whatif-run[data-status="done"]')
    rows = page.locator("#whatif-cases tbody tr")
    changed = page.locator('#whatif-cases tbody tr[data-same="no"]')
    assert rows.count() >= 20 and 0 < changed.count() < rows.count()
    assert page.locator("#whatif-summary").inner_text().count("\n") >= 2
    assert page.locator(".diagram svg").count() == 1
    assert "跳过的环节" in page.content() and "Task_collective" in page.content()
    analyst.shot("whatif")
    page.select_option("#whatif-filter select[name=show]", "changed")
    page.click("#whatif-filter button")
    assert page.locator("#whatif-cases tbody tr").count() == changed.count()
    assert page.locator('#whatif-cases tbody tr[data-same="yes"]').count() == 0
    analyst.shot("whatif-changed")

    deputy, collective = _case_at(api, "Task_deputy"), _case_at(api, "Task_collective")
    _deploy_v2(api)
    page.goto(f"{live_server}/analyst/items/{ITEM}/migrations")
    page.select_option("#migration-form select[name=source]", "1")
    page.select_option("#migration-form select[name=target]", "2")
    page.fill("#migration-form textarea[name=mapping]",
              "Task_deputy = Task_vice\nTask_collective = Task_head")  # fmt: skip
    page.click("#migration-form button")
    page.wait_for_load_state()
    assert "/migrations/" in page.url and page.locator("#plan-decision").count() == 0
    for case_no in (deputy, collective):
        assert page.locator(f'#plan-cases tr[data-case="{case_no}"][data-ok="yes"]').count() == 1
    assert "原任务、原承办人" in page.content() and "由岗位 局长审批岗 新建任务" in page.content()
    analyst.shot("plan")
    plan_url = page.url

    head = Person(browser, live_server, shots)
    head.login(HEAD)
    hp = head.page
    hp.goto(f"{live_server}/migrations")
    hp.click(f'#plans-waiting a[href="{plan_url[len(live_server):]}"]')
    hp.wait_for_load_state()
    assert hp.locator("#plan-decision").count() == 1
    head.shot("plan-for-approval")
    hp.on("dialog", lambda dialog: dialog.accept())  # confirm.js asks before approving
    hp.click("#plan-decision form:first-child button")
    _until(hp, '#plan-summary[data-status="done"]')
    assert hp.locator('#plan-cases tr[data-ok="yes"]').count() == 2
    head.shot("plan-done")
    assert api.case(deputy)["diagram_version"] == 2
    assert [t["spec_id"] for t in api.open_tasks(collective)] == ["Task_head"]
    analyst.close()
    head.close()
