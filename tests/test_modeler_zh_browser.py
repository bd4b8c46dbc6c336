"""The analysts' modeler in Chinese, in headless Chromium: palette, context pad and properties
panel through the translation module; the way to the difference and dry-run pages; the last
report kept with the draft and shown on reopening; a disconnected task refused as an error.

Uses the browser and server fixtures of tests/test_browser.py and the bundle built by
scripts/build_modeler.sh.
"""

from __future__ import annotations

from tests.test_browser import SHOTS, Person
from tests.test_modeler_browser import _open, _save, built  # noqa: F401 (a fixture)

# a user task in the planning lead's lane, connected to nothing
ADD_LOOSE_TASK = """() => {
  const m = window.oneWindowModeler;
  const reg = m.get('elementRegistry');
  const lead = reg.get('Task_lead'), lane = reg.get('Lane_planning_lead');
  const shape = m.get('elementFactory').createShape({ type: 'bpmn:UserTask' });
  const at = { x: lead.x + lead.width / 2 - 130, y: lead.y + lead.height / 2 + 90 };
  return m.get('modeling').createShape(shape, at, lane).id;
}"""


def _titles(page, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label') || e.title || e.textContent)"
    )


def test_the_modeler_in_chinese_keeps_its_last_report(
    built,  # noqa: F811 (the fixture imported above)
    browser,
    live_server,
    demo_app,
    request,
):
    shots = SHOTS / request.node.callspec.params["database_url"] / "modeler-zh"
    analyst = Person(browser, live_server, shots)
    _open(analyst, live_server, "planning-permit")
    page = analyst.page
    # nothing said yet: no empty badge beside the deploy button
    assert page.locator("#status").is_hidden()
    palette = _titles(page, ".djs-palette .entry")
    assert {"创建任务", "创建网关", "创建开始事件", "启用抓手工具"} <= set(palette), palette
    assert "Create task" not in palette
    page.click("g[data-element-id=Task_lead]")
    pad = _titles(page, ".djs-context-pad .entry")
    assert {"追加任务", "追加结束事件", "删除", "连接到其他元素"} <= set(pad), pad
    groups = _titles(page, ".bio-properties-panel-group-header-title")
    assert {"常规", "用户分配", "表单", "扩展属性"} <= set(groups), groups
    assert page.inner_text(".bio-properties-panel-header-type") == "用户任务"
    analyst.shot("1-panel-in-chinese")

    # a disconnected task is an error naming the element and its line
    loose = page.evaluate(ADD_LOOSE_TASK)
    findings = _save(page)
    assert {"code": "unreachable", "element": loose} in findings, findings
    assert int(page.get_attribute("#modeler", "data-errors")) >= 1
    item = page.locator(f"#report li[data-code=unreachable][data-element={loose}]")
    said = item.inner_text()
    assert said.startswith("错误") and loose in said and "行" in said, said
    assert page.locator("#status").is_visible()

    # reopened, the page shows the stored report and says when it was made
    page.goto(f"{live_server}/analyst/items/planning-permit/edit")
    page.wait_for_selector("#modeler[data-loaded=true]", state="attached")
    assert page.locator(f"#report li[data-code=unreachable][data-element={loose}]").count() == 1
    status = page.inner_text("#status")
    assert status.startswith("草稿保存于") and "错误" in status, status
    analyst.shot("2-reopened-with-report")

    # a refused deployment becomes the last report
    page.fill("#comment", "试增环节")
    page.once("dialog", lambda dialog: dialog.accept())  # the modeler asks to confirm
    with page.expect_response(lambda r: r.url.endswith("/deploy")) as refused:
        page.click("#deploy")
    assert refused.value.status == 400
    page.goto(f"{live_server}/analyst/items/planning-permit/edit")
    page.wait_for_selector("#modeler[data-loaded=true]", state="attached")
    assert page.inner_text("#status").startswith("发布被拒绝"), page.inner_text("#status")
    assert page.locator(f"#report li[data-element={loose}]").count() >= 1

    # the modeler leads to the draft's difference and dry run
    page.click("#to-diff")
    assert "/analyst/items/planning-permit/diff" in page.url
    assert page.locator(f"#differences tr[data-element={loose}]").count() == 1
    page.go_back()
    page.click("#to-dryrun")
    assert "/analyst/items/planning-permit/dryrun" in page.url
    assert page.locator("h1").count() == 1
    analyst.shot("3-dry-run-from-modeler")
    analyst.close()
