"""The modeler opens the diagram the page chose and switches between the diagrams of a file.

Headless Chromium (fixtures of tests/conftest.py), the bundle of scripts/build_modeler.sh.
The file is version 2 of planning-permit from tests/test_diagram_chooser.py: a descriptive
process whose diagram comes first, then the executable collaboration.
"""

from __future__ import annotations

from tests.apiclient import PASSWORD
from tests.test_browser import SHOTS, Person
from tests.test_diagram_chooser import ARCHIVE, ITEM, MAIN, deploy_two_diagrams
from tests.test_modeler_browser import _save, built  # noqa: F401 - built is a fixture

ROOT = "() => window.oneWindowModeler.get('canvas').getRootElement().businessObject.id"
RENAME = """(name) => {
  const m = window.oneWindowModeler;
  m.get('modeling').updateLabel(m.get('elementRegistry').get('Archive_task'), name);
}"""


def _wait_for(page, diagram_id: str) -> None:
    page.wait_for_selector(f"#modeler[data-diagram='{diagram_id}']", state="attached")


def test_the_modeler_opens_and_switches_the_diagrams_of_a_file(
    built,  # noqa: F811
    browser,
    live_server,
    demo_app,
    request,
):
    deploy_two_diagrams(demo_app)
    shots = SHOTS / request.node.callspec.params["database_url"] / "modeler"
    analyst = Person(browser, live_server, shots)
    analyst.login("analyst_zhou")
    page = analyst.page
    page.goto(f"{live_server}/analyst/items/{ITEM}/edit")
    page.wait_for_selector("#modeler[data-loaded=true]", state="attached")
    # the executable collaboration, not the first diagram of the file
    assert page.evaluate(ROOT) == "Collaboration_planning_permit"
    options = page.locator("#diagram option").evaluate_all(
        "os => os.map(o => [o.value, o.textContent, o.selected])"
    )
    assert options == [
        [ARCHIVE, "流程：档案归档说明", False],
        [MAIN, "协作图：建设工程规划许可证核发", True],
    ]
    page.select_option("#diagram", ARCHIVE)
    _wait_for(page, ARCHIVE)
    assert page.evaluate(ROOT) == "Process_archive"
    assert page.locator("g[data-element-id=Archive_task]").count() == 1
    assert page.locator("g[data-element-id=Task_lead]").count() == 0
    assert f"diagram={ARCHIVE}" in page.url
    analyst.shot("diagram-archive")
    # an edit made on one diagram stays when the analyst looks at another and comes back
    page.evaluate(RENAME, "整理并装订归档")
    page.select_option("#diagram", MAIN)
    _wait_for(page, MAIN)
    assert page.locator("g[data-element-id=Task_lead]").count() == 1
    page.select_option("#diagram", ARCHIVE)
    _wait_for(page, ARCHIVE)
    names = "() => window.oneWindowModeler.get('elementRegistry').get('Archive_task')"
    assert page.evaluate(names + ".businessObject.name") == "整理并装订归档"
    findings = _save(page)
    assert page.get_attribute("#modeler", "data-errors") == "0", findings
    # the draft the modeler saved is the whole file: both diagrams, the edit in it
    draft = page.request.get(f"{live_server}/analyst/items/{ITEM}/bpmn").text()
    assert "整理并装订归档" in draft and draft.count("BPMNDiagram ") == 2
    # the page opened at a chosen diagram shows it at once
    page.goto(f"{live_server}/analyst/items/{ITEM}/edit?diagram={ARCHIVE}")
    page.wait_for_selector("#modeler[data-loaded=true]", state="attached")
    assert page.evaluate(ROOT) == "Process_archive"
    analyst.close()


def test_the_pages_switch_diagrams_without_javascript(browser, live_server, demo_app, request):
    """With scripts off, the chooser's links and the dry run's buttons switch the drawing."""
    deploy_two_diagrams(demo_app)
    shots = SHOTS / request.node.callspec.params["database_url"] / "diagrams"
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN",
                                  java_script_enabled=False)  # fmt: skip
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.fill("input[name=username]", "analyst_zhou")
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.goto(f"{live_server}/analyst/items/{ITEM}/stuck?version=2")
    assert page.locator("svg g[data-element-id=Task_lead]").count() == 1
    page.click(f"#diagram-chooser a[data-diagram={ARCHIVE}]")
    page.wait_for_load_state()
    assert "version=2" in page.url and f"diagram={ARCHIVE}" in page.url
    assert page.locator("svg g[data-element-id=Archive_task]").count() == 1
    assert page.locator("svg g[data-element-id=Task_lead]").count() == 0
    page.screenshot(path=str(shots / "stuck-archive.png"), full_page=True)
    page.goto(f"{live_server}/analyst/items/{ITEM}/dryrun")
    page.click("button[data-outcome=approve]")
    page.wait_for_load_state()
    page.click(f"#diagram-chooser button[data-diagram={ARCHIVE}]")
    page.wait_for_load_state()
    assert page.locator("svg g[data-element-id=Archive_task]").count() == 1
    steps = page.locator("#dry-steps li[data-step-task]").evaluate_all(
        "ls => ls.map(l => l.dataset.stepTask)"
    )
    assert steps == ["Task_accept"]  # the choice made before is kept
    page.screenshot(path=str(shots / "dryrun-archive.png"), full_page=True)
    context.close()
