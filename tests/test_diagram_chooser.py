"""Pages that draw a BPMN file with several diagrams let the reader choose which one.

Version 2 of planning-permit gets a second, descriptive process (not executable) whose
diagram comes first in the file. Each page that draws the version (differences, dry run,
where cases get stuck, the auditor's replay, the public service guide) lists both diagrams,
draws the executable one by default, switches with ?diagram=<id> (or the dry run's form)
keeping its other parameters and its highlights, and answers an unknown id with a 404 page
that names it.
"""

from __future__ import annotations

from flask import render_template_string
from flask_babel import force_locale
from lxml import html as lxml_html

from config import BASE_DIR
from tests.apiclient import Api, sample_form
from tests.test_analysts import PLANNING, _save
from tests.webclient import Web
from workflows.render import list_diagrams

ITEM = "planning-permit"
MAIN = "BPMNDiagram_planning_permit"
ARCHIVE = "Diagram_archive"
ARCHIVE_PROCESS = """
  <bpmn:process id="Process_archive" name="档案归档说明" isExecutable="false">
    <bpmn:startEvent id="Archive_start"><bpmn:outgoing>Archive_f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:task id="Archive_task" name="{task}">
      <bpmn:incoming>Archive_f1</bpmn:incoming><bpmn:outgoing>Archive_f2</bpmn:outgoing>
    </bpmn:task>
    <bpmn:endEvent id="Archive_end"><bpmn:incoming>Archive_f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="Archive_f1" sourceRef="Archive_start" targetRef="Archive_task"/>
    <bpmn:sequenceFlow id="Archive_f2" sourceRef="Archive_task" targetRef="Archive_end"/>
  </bpmn:process>"""
ARCHIVE_DIAGRAM = """<bpmndi:BPMNDiagram id="Diagram_archive">
    <bpmndi:BPMNPlane id="Plane_archive" bpmnElement="Process_archive">
      <bpmndi:BPMNShape id="Archive_start_di" bpmnElement="Archive_start">
        <dc:Bounds x="100" y="100" width="36" height="36"/></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Archive_task_di" bpmnElement="Archive_task">
        <dc:Bounds x="190" y="78" width="100" height="80"/></bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="Archive_end_di" bpmnElement="Archive_end">
        <dc:Bounds x="342" y="100" width="36" height="36"/></bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="Archive_f1_di" bpmnElement="Archive_f1">
        <di:waypoint x="136" y="118"/><di:waypoint x="190" y="118"/></bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="Archive_f2_di" bpmnElement="Archive_f2">
        <di:waypoint x="290" y="118"/><di:waypoint x="342" y="118"/></bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
  """


def two_diagrams(archive_task: str = "整理归档", lead: str = "主办科室承办") -> str:
    """The planning-permit diagram with a descriptive process whose diagram comes first."""
    xml = PLANNING.replace('name="主办科室承办"', f'name="{lead}"', 1)
    end = xml.index("</bpmn:process>") + len("</bpmn:process>")
    xml = xml[:end] + ARCHIVE_PROCESS.format(task=archive_task) + xml[end:]
    first = xml.index(f'<bpmndi:BPMNDiagram id="{MAIN}"')
    return xml[:first] + ARCHIVE_DIAGRAM + xml[first:]


def deploy_two_diagrams(app) -> Api:
    """Deploy version 2 (two diagrams) and leave a draft that renames a task of each."""
    api = Api(app.test_client())
    assert _save(api, two_diagrams())["errors"] == 0
    api.call("POST", f"/items/{ITEM}/deploy", "analyst_zhou", 201, json={"comment": "归档说明"})
    assert _save(api, two_diagrams("整理并归档", "主办科室审查"))["errors"] == 0
    return api


def chooser(page) -> list[tuple[str, str, bool]]:
    """Return (diagram id, label, chosen) of each choice the page offers."""
    doc = lxml_html.fromstring(page.text)
    return [
        (c.get("data-diagram"), " ".join(c.text_content().split()), bool(c.get("aria-current")))
        for c in doc.xpath("//nav[@id='diagram-chooser']//*[@data-diagram]")
    ]


def links(page) -> dict[str, str]:
    doc = lxml_html.fromstring(page.text)
    return {
        a.get("data-diagram"): a.get("href") for a in doc.xpath("//nav[@id='diagram-chooser']//a")
    }


def drawn(page, section: int = 0) -> dict[str, str | None]:
    """Return element id -> highlight state of what the page's n-th drawing shows."""
    doc = lxml_html.fromstring(page.text)
    svg = doc.xpath("//section[contains(@class, 'diagram')]//svg")[section]
    return {g.get("data-element-id"): g.get("data-state") for g in svg.iter("g")
            if g.get("data-element-id")}  # fmt: skip


def labels(page) -> list[tuple[str, str, bool]]:
    """Like chooser(), with each choice's title (its number of shapes) in the label."""
    doc = lxml_html.fromstring(page.text)
    out = []
    for choice in doc.xpath("//nav[@id='diagram-chooser']/span[@class='diagram-choice']"):
        [target] = choice.xpath("./*[@data-diagram]")
        text = " ".join(choice.text_content().split())
        out.append((target.get("data-diagram"), text, bool(target.get("aria-current"))))
    return out


def test_the_difference_is_drawn_on_the_diagram_chosen(demo_app):
    deploy_two_diagrams(demo_app)
    web = Web(demo_app, "analyst_zhou")
    page = web.get(f"/analyst/items/{ITEM}/diff")  # the draft against version 2
    assert [(i, chosen) for i, _label, chosen in chooser(page)] == [(ARCHIVE, False), (MAIN, True)]
    shown = drawn(page)
    assert shown["Task_lead"] == "changed" and "Archive_task" not in shown
    href = links(page)[ARCHIVE]
    assert "new=draft" not in href  # no parameter the page did not have is added
    page = web.get(f"/analyst/items/{ITEM}/diff?old=2&new=draft&diagram={ARCHIVE}")
    assert [(i, chosen) for i, _label, chosen in chooser(page)] == [(ARCHIVE, True), (MAIN, False)]
    shown = drawn(page)
    assert shown["Archive_task"] == "changed" and "Task_lead" not in shown
    # the links keep the versions compared
    assert "old=2" in links(page)[MAIN] and "new=draft" in links(page)[MAIN]
    page = web.get(f"/analyst/items/{ITEM}/diff?old=1&new=draft&diagram={ARCHIVE}")
    assert drawn(page)["Archive_task"] == "added"  # version 1 had no archive process
    page = web.get(f"/analyst/items/{ITEM}/diff?old=2&diagram=Diagram_nowhere", expect=404)
    assert "This diagram file has no diagram with the id Diagram_nowhere." in page.text


def test_the_chooser_is_labelled_in_the_readers_language(demo_app):
    deploy_two_diagrams(demo_app)
    page = Web(demo_app, "analyst_zhou").get(f"/analyst/items/{ITEM}/stuck")
    assert [(i, text, chosen) for i, text, chosen in labels(page)] == [
        (ARCHIVE, "Process: 档案归档说明", False),
        (MAIN, "Collaboration: 建设工程规划许可证核发 executable", True),
    ]
    doc = lxml_html.fromstring(page.text)
    titles = doc.xpath("//nav[@id='diagram-chooser']/span/@title")
    assert titles == ["Shapes: 3", "Shapes: 23"]
    page = Web(demo_app, "analyst_zhou", lang="zh").get(f"/analyst/items/{ITEM}/stuck")
    assert [text for _i, text, _c in labels(page)] == [
        "流程：档案归档说明",
        "协作图：建设工程规划许可证核发 可执行",
    ]
    assert "本文件中的图" in page.text


def test_the_heat_map_page_switches_diagram_and_keeps_the_version(demo_app):
    api = deploy_two_diagrams(demo_app)
    api.apply(ITEM, sample_form(ITEM))  # a case of version 2, waiting at Task_lead
    web = Web(demo_app, "supervisor_wu")
    page = web.get(f"/analyst/items/{ITEM}/stuck?version=2")
    shown = drawn(page)
    assert "Task_lead" in shown and "Archive_task" not in shown
    assert "version=2" in links(page)[ARCHIVE]
    notes = lxml_html.fromstring(page.text).xpath("//g[@data-note-for]/@data-note-for")
    assert "Task_lead" in notes  # the figures are written on the executable diagram
    page = web.get(links(page)[ARCHIVE])
    assert [(i, chosen) for i, _label, chosen in chooser(page)] == [(ARCHIVE, True), (MAIN, False)]
    assert set(drawn(page)) == {"Archive_start", "Archive_task", "Archive_end",
                                "Archive_f1", "Archive_f2"}  # fmt: skip
    page = web.get(f"/analyst/items/{ITEM}/stuck?version=2&diagram=%23nope", expect=404)
    assert "no diagram with the id #nope" in page.text


def test_the_dry_run_keeps_its_steps_when_the_diagram_changes(demo_app):
    deploy_two_diagrams(demo_app)
    web = Web(demo_app, "analyst_zhou")
    page = web.get(f"/analyst/items/{ITEM}/dryrun")
    assert [(i, chosen) for i, _label, chosen in chooser(page)] == [(ARCHIVE, False), (MAIN, True)]
    doc = lxml_html.fromstring(page.text)
    buttons = doc.xpath("//nav[@id='diagram-chooser']//button")
    assert [b.get("form") for b in buttons] == ["dryrun", "dryrun"]  # no JavaScript needed

    def post(page, **extra):
        doc = lxml_html.fromstring(page.text)
        form = {i.get("name"): i.get("value") for i in doc.xpath("//form[@id='dryrun']//input")
                if i.get("type") == "hidden" and i.get("name") != "csrf_token"}  # fmt: skip
        form["data"] = doc.xpath("//textarea[@name='data']")[0].text_content()
        return web.post(f"/analyst/items/{ITEM}/dryrun", {**form, **extra}, expect=200)

    page = post(page, action="choose:Task_accept:approve")
    assert drawn(page)["Task_accept"] == "completed" and drawn(page)["Task_lead"] == "active"
    page = post(page, show_diagram=ARCHIVE)
    assert [(i, chosen) for i, _label, chosen in chooser(page)] == [(ARCHIVE, True), (MAIN, False)]
    assert "Task_accept" not in drawn(page) and "Archive_task" in drawn(page)
    # the step taken is still there, and the next choice keeps the diagram
    assert lxml_html.fromstring(page.text).xpath("//li[@data-step-task]/@data-step-task") == [
        "Task_accept"
    ]
    page = post(page, action="undo")
    assert "Archive_task" in drawn(page)
    page = post(page, action="choose:Task_accept:approve", show_diagram=MAIN)
    assert drawn(page)["Task_lead"] == "active"
    page = web.post(f"/analyst/items/{ITEM}/dryrun", {"source": "draft", "show_diagram": "x"},
                    expect=404)  # fmt: skip
    assert "no diagram with the id x" in page.text


def test_the_auditors_replay_keeps_the_diagram_from_step_to_step(demo_app):
    api = deploy_two_diagrams(demo_app)
    case_no = api.apply(ITEM, sample_form(ITEM))["case_no"]
    web = Web(demo_app, "auditor_sun")
    page = web.get(f"/audit/cases/{case_no}/replay")
    assert [(i, chosen) for i, _label, chosen in chooser(page)] == [(ARCHIVE, False), (MAIN, True)]
    assert drawn(page)["Task_lead"] == "active"
    page = web.get(f"/audit/cases/{case_no}/replay?step=1&diagram={ARCHIVE}")
    assert "Archive_task" in drawn(page) and "Task_lead" not in drawn(page)
    doc = lxml_html.fromstring(page.text)
    for step in doc.xpath("//nav[@class='stepper']/a/@href"):
        assert f"diagram={ARCHIVE}" in step
    assert doc.xpath("//nav[@class='stepper']//input[@name='diagram']/@value") == [ARCHIVE]
    assert "step=1" in links(page)[MAIN]
    page = web.get(f"/audit/cases/{case_no}/replay?diagram=nope", expect=404)
    assert "no diagram with the id nope" in page.text


def test_the_public_guide_offers_every_diagram(demo_app):
    deploy_two_diagrams(demo_app)
    web = Web(demo_app)
    page = web.get(f"/guide/{ITEM}")
    assert [(i, chosen) for i, _label, chosen in chooser(page)] == [(ARCHIVE, False), (MAIN, True)]
    assert "Task_lead" in drawn(page)
    page = web.get(links(page)[ARCHIVE])
    assert "Archive_task" in drawn(page) and "Task_lead" not in drawn(page)
    page = web.get(f"/guide/{ITEM}?diagram=<b>x</b>", expect=404)
    assert "<b>x</b>" not in page.text and "&lt;b&gt;x&lt;/b&gt;" in page.text


def test_a_file_of_one_diagram_shows_no_chooser(demo_app):
    page = Web(demo_app, "analyst_zhou").get(f"/analyst/items/{ITEM}/stuck")
    assert chooser(page) == [] and "Task_lead" in drawn(page)
    assert 'id="diagram-chooser"' not in page.text


def test_labels_name_the_diagram_or_what_it_shows(app):
    """A sub-process drill-down is named by its sub-process; an id shows only as code."""
    several = BASE_DIR / "tests" / "workflows" / "data" / "several-diagrams.bpmn"
    listed = list_diagrams(several.read_bytes().replace(' name="归档说明"'.encode(), b""))
    template = (
        '{% from "_diagrams.html" import diagram_label %}'
        "{% for d in listed %}{{ diagram_label(d) }}|{% endfor %}"
    )
    expected = {
        "en": "Sub-process: 补正材料|Diagram 2 <code>Diagram_archive</code>|受理主流程|",
        "zh": "子流程：补正材料|图 2 <code>Diagram_archive</code>|受理主流程|",
    }
    for language, labels_there in expected.items():
        with app.test_request_context(), force_locale(language):
            assert render_template_string(template, listed=listed) == labels_there
