"""The approval verbs in headless Chromium, in Chinese (issue 23): 抄送, 委派, 加签 (the legal
section before the decision, a colleague after it), 撤回 and the demo's 会签 of the bureau's
three leaders, each done on the pages by the people who do it; screenshots go to
build/screens/<database>/verbs/.
"""

from __future__ import annotations

from tests.apiclient import Api, sample_form
from tests.test_browser import Person
from tests.test_countersign import _to_collective
from tests.test_screens_browser import _screens

ITEM = "planning-permit"
COLLEAGUE, READER = "official_jiang", "official_qian"
LEGAL, SIGNER = "planning_legal", "official_ren"  # the legal section's 法制审核岗 and its A


def _names(demo_app) -> dict[str, str]:
    import sqlalchemy as sa

    from app.db import session
    from app.org.models import User

    with demo_app.app_context():
        return dict(session().execute(sa.select(User.username, User.name)).all())


def test_copy_delegate_add_a_signer_and_recall_on_the_pages(browser, live_server, demo_app,
                                                           request):  # fmt: skip
    api = Api(demo_app.test_client())
    names = _names(demo_app)
    case_no = api.apply(ITEM, sample_form(ITEM, floor_area=5000))["case_no"]
    [lead] = api.open_tasks(case_no)
    shots = _screens(request, "verbs")
    holder = Person(browser, live_server, shots)
    holder.login(lead["assignee"])
    page = holder.page

    # 抄送: from the case page, to a colleague of another section
    page.goto(f"{live_server}/cases/{case_no}")
    page.select_option("#copy-form select[name=to]", READER)
    page.fill("#copy-form input[name=reason]", "涉及房屋登记，请知悉")
    page.click("#copy-form button")
    page.wait_for_load_state()
    assert page.locator(f'#copies tr:has-text("{names[READER]}")').count() == 1
    holder.shot("copy-sent")
    reader = Person(browser, live_server, shots)
    reader.login(READER)
    reader.page.goto(f"{live_server}/inbox")
    assert reader.page.locator(f'tr[data-copied="{case_no}"]').count() == 1
    reader.shot("copy-inbox")

    # 加签: the holder asks the legal section (its post: the A signs) to sign first, who
    # gives an opinion on the pages
    page.goto(f"{live_server}/tasks/{lead['id']}")
    page.select_option("#add-signer select[name=to]", f"post:{LEGAL}")
    page.fill("#add-signer input[name=reason]", "请法制审核")
    page.click("#add-signer button")
    page.wait_for_load_state()
    assert page.locator('#added-signers tr[data-state="open"]').count() == 1
    assert names[SIGNER] in page.locator("#added-signers").inner_text()
    holder.shot("signer-added")
    signer = Person(browser, live_server, shots)
    signer.login(SIGNER)
    signer.page.goto(f"{live_server}/inbox")
    signer.page.click('span[data-kind="added"] >> xpath=.. >> a')
    signer.page.wait_for_load_state()
    signer.page.fill("textarea[name=comment]", "符合规划条件，同意")
    signer.page.click('button[name=outcome][value=approve]')
    signer.page.wait_for_load_state()
    page.goto(f"{live_server}/tasks/{lead['id']}")
    assert "符合规划条件，同意" in page.locator("#added-signers").inner_text()
    holder.shot("signer-opinion")

    # 委派: the work goes to a colleague and comes back filled in
    page.select_option("#delegate select[name=to]", COLLEAGUE)
    page.fill("#delegate input[name=reason]", "请先拟写承办意见")
    page.click("#delegate button")
    page.wait_for_load_state()
    assert page.locator("#delegated").count() == 1
    holder.shot("delegated")
    colleague = Person(browser, live_server, shots)
    colleague.login(COLLEAGUE)
    colleague.page.goto(f"{live_server}/inbox")
    colleague.page.click(f'tr[data-delegated="{case_no}"] a')
    colleague.page.wait_for_load_state()
    first = colleague.page.locator("#hand-back input[type=text], #hand-back textarea").first
    first.fill("经审查，符合控制性详细规划")
    colleague.page.fill("#hand-back textarea[name=comment]", "已拟写，请审定")
    colleague.shot("delegated-work")
    colleague.page.click("#hand-back button")
    colleague.page.wait_for_load_state()
    page.goto(f"{live_server}/tasks/{lead['id']}")
    assert page.locator("#handed-back").count() == 1
    holder.shot("handed-back")

    # the holder decides, then 撤回 from the Done page before the deputy opens the task
    page.click('button[name=outcome][value=approve]')
    page.wait_for_load_state()
    page.goto(f"{live_server}/done")
    form = page.locator(f'form[data-recall="{lead["id"]}"]')
    form.locator("input[name=reason]").fill("意见需修改")
    form.locator("button").click()
    page.wait_for_load_state()
    assert f"/tasks/{lead['id']}" in page.url
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_lead"]
    holder.shot("recalled")

    # 加签 after: the holder decides again and asks the colleague to sign after; the decision
    # waits for that signature, then goes through as the holder's
    page.click("#sign-after summary")
    page.select_option("#sign-after select[name=after_to]", COLLEAGUE)
    page.fill("#sign-after input[name=after_reason]", "请复核后报出")
    page.fill("textarea[name=comment]", "拟同意")
    page.click('button[name=outcome][value=approve]')
    page.wait_for_load_state()
    page.goto(f"{live_server}/tasks/{lead['id']}")
    assert page.locator("#waits-after").count() == 1
    holder.shot("waits-after")
    colleague.page.goto(f"{live_server}/inbox")
    colleague.page.click('span[data-kind="added"] >> xpath=.. >> a')
    colleague.page.wait_for_load_state()
    assert "拟同意" in colleague.page.locator("#decided-before").inner_text()
    colleague.shot("sign-after")
    colleague.page.fill("textarea[name=comment]", "复核同意")
    colleague.page.click('button[name=outcome][value=approve]')
    colleague.page.wait_for_load_state()
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_deputy"]
    for person in (holder, reader, signer, colleague):
        person.close()


def test_the_demo_countersign_of_the_three_leaders_on_the_pages(browser, live_server, demo_app,
                                                               request):  # fmt: skip
    """The planning permit's collective decision as deployed: each of the bureau's three
    leaders signs their part on their own pages; then the head's stage opens."""
    api = Api(demo_app.test_client())
    members = ["head_lin", "deputy_luo", "deputy_xie"]
    case_no = _to_collective(api)
    shots = _screens(request, "verbs")
    for user in members:
        person = Person(browser, live_server, shots)
        person.login(user)
        person.page.goto(f"{live_server}/inbox")
        row = person.page.locator(f'tr:has-text("{case_no}")').first
        row.locator("a").first.click()
        person.page.wait_for_load_state()
        if user == members[0]:
            person.shot("countersign-task")
        person.page.fill("textarea[name=comment]", "同意")
        person.page.click('button[name=outcome][value=approve]')
        person.page.wait_for_load_state()
        person.close()
    auditor = Person(browser, live_server, shots)
    auditor.login("auditor_sun")
    auditor.page.goto(f"{live_server}/cases/{case_no}")
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_head"]
    assert auditor.page.locator("text=集体研究审批").count() >= 3
    auditor.shot("countersign-done")
    auditor.close()
