"""The analysts' modeler in headless Chromium: edit a procedure in the browser and deploy it.

Uses the browser and server fixtures of tests/test_browser.py. The modeler's bundle is
built by scripts/setup.sh (scripts/build_modeler.sh) from the npm registry.
"""

from __future__ import annotations

import re
import time

import pytest

from config import BASE_DIR
from tests.apiclient import Api, sample_form
from tests.test_browser import IN_CI, SHOTS, Person
from tests.workflows.test_reference_models import REFERENCE_DIR

BUNDLE = BASE_DIR / "app" / "static" / "modeler" / "modeler.js"
ADD_TASK = """() => {
  const m = window.oneWindowModeler;
  const reg = m.get('elementRegistry'), modeling = m.get('modeling');
  const lead = reg.get('Task_lead'), lane = reg.get('Lane_planning_lead');
  const shape = m.get('elementFactory').createShape({ type: 'bpmn:UserTask' });
  const at = { x: lead.x + lead.width / 2 - 130, y: lead.y + lead.height / 2 + 90 };
  const placed = modeling.createShape(shape, at, lane);
  modeling.reconnectEnd(reg.get('Flow_accepted'), placed,
                        { x: placed.x, y: placed.y + placed.height / 2 });
  const flow = modeling.connect(placed, lead, { type: 'bpmn:SequenceFlow' });
  return { task: placed.id, flow: flow.id };
}"""


@pytest.fixture
def built():
    if not BUNDLE.exists():
        message = "the modeler is not built (scripts/build_modeler.sh needs npm)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def _open(person: Person, base: str, code: str) -> None:
    person.login("analyst_zhou")
    person.page.goto(f"{base}/analyst/items/{code}/edit")
    person.page.wait_for_selector("#modeler[data-loaded=true]", state="attached")


def _header(page, title: str):
    """The properties panel group titled exactly `title` (as shown: in Chinese on zh pages)."""
    exact = page.locator(".bio-properties-panel-group-header-title",
                         has_text=re.compile(f"^{re.escape(title)}$"))  # fmt: skip
    return page.locator(".bio-properties-panel-group-header").filter(has=exact).first


def _group(page, title: str):
    header = _header(page, title)
    if "open" not in (header.get_attribute("class") or ""):
        header.click()
    return header


def _add_entry(page, title: str) -> None:
    _header(page, title).locator("button.bio-properties-panel-add-entry").click()
    time.sleep(0.2)


def _save(page) -> list[dict]:
    page.evaluate("() => { delete document.getElementById('modeler').dataset.errors; }")
    page.click("#save")
    page.wait_for_selector("#modeler[data-errors]", state="attached")
    return page.locator("#report li").evaluate_all(
        "els => els.map(e => ({code: e.dataset.code, element: e.dataset.element || null}))"
    )


def test_an_analyst_adds_a_stage_in_the_browser_and_deploys_it(
    built, browser, live_server, demo_app, request
):
    shots = SHOTS / request.node.callspec.params["database_url"] / "modeler"
    api = Api(demo_app.test_client())
    before = api.apply("planning-permit", sample_form("planning-permit"))["case_no"]

    analyst = Person(browser, live_server, shots)
    _open(analyst, live_server, "planning-permit")
    page = analyst.page
    added = page.evaluate(ADD_TASK)
    task_id = added["task"]
    page.click(f"g[data-element-id={task_id}]")
    # name, post and a form field, in the properties panel
    _group(page, "常规")
    page.fill("#bio-properties-panel-name", "规划条件预审")
    _group(page, "用户分配")
    page.fill("#bio-properties-panel-candidateGroups", "planning_lead")
    _group(page, "表单")
    page.select_option("#bio-properties-panel-formType", "formData")
    time.sleep(0.2)
    _group(page, "表单字段")
    _add_entry(page, "表单字段")
    prefix = f"#bio-properties-panel-{task_id}-formField-0-formField"
    page.fill(prefix + "ID", "precheck_opinion")
    page.fill(prefix + "Label", "预审意见")
    page.select_option(prefix + "Type", "string")
    analyst.shot("1-stage-added")
    # save: the lint warns that the new stage has no time limit (and no stage name)
    findings = _save(page)
    mine = [f["code"] for f in findings if f["element"] == task_id]
    assert "missing-time-limit" in mine, findings
    assert page.get_attribute("#modeler", "data-errors") == "0"
    page.locator(f"#report li[data-element={task_id}]").first.click()
    assert page.locator(f".djs-element.selected[data-element-id={task_id}]").count() == 1
    analyst.shot("2-lint-warning")
    # fix it: stage and time limit as extension properties, in the panel
    _group(page, "扩展属性")
    for name, value in (("stage", "lead"), ("timeLimit", "1d")):
        _add_entry(page, "扩展属性")
        # open every entry of the list, then fill the one with an empty name
        group = page.locator(".bio-properties-panel-group").filter(has=_header(page, "扩展属性"))
        for entry_box in group.locator(".bio-properties-panel-collapsible-entry").all():
            if "open" not in (entry_box.get_attribute("class") or "").split():
                entry_box.locator(".bio-properties-panel-collapsible-entry-header").click()
        names = page.locator(f"input[id^='bio-properties-panel-{task_id}-extensionProperty-']"
                             "[id$='-name']:visible")  # fmt: skip
        fresh = [el for el in names.all() if not el.input_value()][0]
        entry = fresh.get_attribute("id").removesuffix("name")
        page.fill(f"#{entry}name", name)
        page.fill(f"#{entry}value", value)
    findings = _save(page)
    assert not [f for f in findings if f["element"] == task_id], findings
    page.fill("#comment", "受理后增加规划条件预审环节")
    page.once("dialog", lambda dialog: dialog.accept())  # the modeler asks to confirm
    page.click("#deploy")
    page.wait_for_selector("#modeler[data-deployed]", state="attached")
    assert page.get_attribute("#modeler", "data-deployed") == "2"
    analyst.shot("3-deployed")
    # the difference of the two versions names exactly the new task and the flows changed
    page.goto(f"{live_server}/analyst/items/planning-permit/diff?old=1&new=2")
    rows = page.locator("#differences tbody tr").evaluate_all(
        "trs => trs.map(t => [t.dataset.change, t.dataset.element])"
    )
    assert sorted(map(tuple, rows)) == sorted(
        [("added", task_id), ("added", added["flow"]), ("changed", "Flow_accepted")]
    ), rows
    changed = page.locator("#differences tr[data-element=Flow_accepted]").inner_text()
    assert "Task_lead" in changed and task_id in changed  # target: the lead, now the new task
    states = page.locator("svg g[data-state]").evaluate_all(
        "gs => gs.map(g => [g.dataset.elementId, g.dataset.state])"
    )
    assert sorted(map(tuple, states)) == sorted(
        [(task_id, "added"), (added["flow"], "added"), ("Flow_accepted", "changed")]
    )
    analyst.shot("4-difference")
    analyst.close()

    after = api.apply("planning-permit", sample_form("planning-permit"))["case_no"]
    old, new = api.case(before), api.case(after)
    assert (old["diagram_version"], new["diagram_version"]) == (1, 2)
    assert [t["spec_id"] for t in old["open_tasks"]] == ["Task_lead"]
    assert [t["name"] for t in new["open_tasks"]] == ["规划条件预审"]
    done = api.work(after, new["open_tasks"][0]["spec_id"], data={"precheck_opinion": "符合"})
    assert [t["spec_id"] for t in done["next_tasks"]] == ["Task_lead"]


def test_every_reference_model_opens_in_the_modeler(built, browser, live_server, demo_app):
    analyst = Person(browser, live_server, SHOTS)
    _open(analyst, live_server, "planning-permit")
    failures = {}
    for path in sorted(REFERENCE_DIR.glob("*.bpmn")):
        result = analyst.page.evaluate(
            "xml => window.oneWindowModeler.importXML(xml)"
            ".then(r => ({ok: true, warnings: r.warnings.length}))"
            ".catch(e => ({ok: false, error: String(e)}))",
            path.read_text("utf-8"),
        )
        if not result["ok"]:
            failures[path.name] = result["error"]
    analyst.close()
    assert failures == {}
    assert len(list(REFERENCE_DIR.glob("*.bpmn"))) >= 20


def test_an_analyst_dry_runs_a_procedure_and_sees_where_cases_get_stuck(
    browser, live_server, demo_app, request
):
    from tests.test_analysts_runs import timed_joint_cases

    shots = SHOTS / request.node.callspec.params["database_url"] / "analyst"
    timed_joint_cases(demo_app, 16)
    analyst = Person(browser, live_server, shots)
    analyst.login("analyst_zhou")
    page = analyst.page
    page.goto(f"{live_server}/analyst/items/joint-investment/stuck")
    rows = page.locator("#stuck tbody tr").count()
    assert rows == 7
    hot = page.locator("svg g[data-state=heat5]").count()
    assert hot >= 1 and page.locator("svg g[data-note-for]").count() >= 6
    analyst.shot("1-where-cases-get-stuck")
    page.goto(f"{live_server}/analyst/items/joint-investment/dryrun")
    page.click("button[value='choose:Task_accept:approve']")
    ready = page.locator("[data-ready]").evaluate_all("els => els.map(e => e.dataset.ready)")
    assert sorted(ready) == sorted(["Task_ndrc", "Task_land", "Task_construction", "Task_env"])
    page.fill("input[name=f_Task_env_env_opinion]", "不符合环评要求")
    page.click("button[value='choose:Task_env:reject']")
    assert "Task_env" not in page.locator("[data-ready]").evaluate_all(
        "els => els.map(e => e.dataset.ready)"
    )
    assert page.locator("svg g[data-element-id=Task_env][data-state=completed]").count() == 1
    analyst.shot("2-dry-run")
    analyst.close()
