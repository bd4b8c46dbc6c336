"""Diagrams arrive as the analyst's tool wrote them: read in their declared encoding (a
mismatch refused with line and column), vendor extensions kept and listed, never a 500."""

from __future__ import annotations

from tests.apiclient import BPMN, Api, sample_form
from tests.webclient import Web

PLANNING = (BPMN / "planning-permit.bpmn").read_text("utf-8")
CODE = "planning-permit"
DRAFT = f"/api/v1/items/{CODE}/draft"

# What several modelling tools add to a diagram they save (namespaces as the tools write them).
TOOLS = {
    "bioc": "http://bpmn.io/schema/bpmn/biocolor/1.0",
    "signavio": "http://www.signavio.com",
    "zeebe": "http://camunda.org/schema/zeebe/1.0",
    "modeler": "http://camunda.org/schema/modeler/1.0",
    "yaoqiang": "http://bpmn.sourceforge.net",
    "bizagi": "http://www.bizagi.com/bpmn20",
}


def with_vendor_extensions(xml: str) -> str:
    """Return the diagram as it comes back from a round of several modelling tools."""
    declarations = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in TOOLS.items())
    replacements = [
        # Camunda Modeler: attributes on the definitions
        ('id="Definitions_planning_permit"', f'{declarations} id="Definitions_planning_permit" '
         'modeler:executionPlatform="Camunda Platform" modeler:executionPlatformVersion="7.21"'),
        # Signavio and Zeebe: elements among the camunda extensions of a task
        ("<bpmn:documentation>对照控制性详细规划和规划条件审查设计方案，提出承办意见。"
         "</bpmn:documentation>\n      <bpmn:extensionElements>",
         "<bpmn:documentation>对照控制性详细规划和规划条件审查设计方案，提出承办意见。"
         "</bpmn:documentation>\n      <bpmn:extensionElements>"
         '<signavio:signavioMetaData metaKey="bgcolor" metaValue="#ffffcc"/>'
         '<zeebe:taskDefinition type="lead"/>'),
        # Bizagi: an element of its own straight inside the process (the XSD has no room for it)
        ("<bpmn:sequenceFlow id=\"Flow_accepted\"",
         '<bizagi:BizagiExtensions><bizagi:BizagiProperty name="lane" value="x"/>'
         "</bizagi:BizagiExtensions>\n    <bpmn:sequenceFlow id=\"Flow_accepted\""),
        # bpmn.io colours on a shape; yaoqiang's style inside the DI extension (strict wildcard)
        ('<bpmndi:BPMNShape id="Participant_planning_permit_di"',
         '<di:extension><yaoqiang:style fill="#fff"/></di:extension>\n'
         '      <bpmndi:BPMNShape bioc:stroke="#1e88e5" bioc:fill="#bbdefb" '
         'id="Participant_planning_permit_di"'),
    ]  # fmt: skip
    for old, new in replacements:
        assert old in xml, old
        xml = xml.replace(old, new, 1)
    return xml


def _put_draft(api: Api, body: bytes, expect: int = 200) -> dict:
    resp = api.client.put(
        DRAFT, data=body,
        headers={"Authorization": f"Bearer {api.token('analyst_zhou')}",
                 "Content-Type": "application/xml"},
    )  # fmt: skip
    assert resp.status_code == expect, resp.get_data(as_text=True)[:800]
    return resp.get_json()


def _version_xml(api: Api, number: int) -> bytes:
    auth = {"Authorization": f"Bearer {api.token('analyst_zhou')}"}
    resp = api.client.get(f"/api/v1/items/{CODE}/versions/{number}/bpmn", headers=auth)
    assert resp.status_code == 200
    return resp.get_data()


def test_vendor_extensions_are_kept_listed_and_do_not_block_deployment(demo_app):
    api = Api(demo_app.test_client())
    upload = with_vendor_extensions(PLANNING).encode("utf-8")
    report = _put_draft(api, upload)
    assert report["errors"] == 0, [f for f in report["findings"] if f["severity"] == "error"]
    # "命名空间 <namespace> 的扩展会保留…": the API answers in Chinese
    foreign = {f["message"].split()[1]: f for f in report["findings"]
               if f["code"] == "foreign-extension"}  # fmt: skip
    assert set(foreign) == set(TOOLS.values())
    bizagi = foreign[TOOLS["bizagi"]]
    assert bizagi["severity"] == "warning" and "bizagi:BizagiExtensions" in bizagi["message"]
    assert bizagi["line"] == upload.decode().count("\n", 0, upload.decode().index("<bizagi:")) + 1
    assert "@bioc:stroke" in foreign[TOOLS["bioc"]]["message"]
    deployed = api.call("POST", f"/items/{CODE}/deploy", "analyst_zhou", 201,
                        json={"comment": "从建模工具导回"})  # fmt: skip
    assert deployed["version"] == 2
    assert _version_xml(api, 2) == upload  # stored as uploaded, every extension kept
    case_no = api.apply(CODE, sample_form(CODE))["case_no"]
    assert api.case(case_no)["diagram_version"] == 2
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_lead"]


def test_latin1_bytes_declared_utf8_are_refused_with_line_and_column(demo_app):
    api = Api(demo_app.test_client())
    text = PLANNING.replace('name="主办科室承办"', 'name="Prüfung"', 1)
    body = text.encode("latin-1", errors="ignore")  # the CJK names go, 'ü' becomes byte FC
    line = text.count("\n", 0, text.index("Prüfung")) + 1
    column = text.index("Prüfung") - text.rindex("\n", 0, text.index("Prüfung")) + 2
    refused = _put_draft(api, body, expect=400)
    [finding] = refused["findings"]
    assert finding["code"] == "encoding" and finding["line"] == line
    assert f"第 {line} 行第 " in finding["message"] and "FC" in finding["message"]
    assert "UTF-8" in finding["message"]
    # nothing was stored: the modeler still opens version 1, with its Chinese names intact
    page = Web(demo_app, "analyst_zhou").get(f"/analyst/items/{CODE}/bpmn")
    assert "主办科室承办" in page.get_data(as_text=True)
    assert "Pr\ufffdfung" not in page.get_data(as_text=True)
    assert finding["message"].startswith(f"第 {line} 行第 {column} 列：")


def test_the_modeler_page_says_why_a_file_cannot_be_read_in_the_analysts_language(demo_app):
    body = (
        PLANNING.replace("主办科室承办", "klären", 1)
        .encode("utf-8")
        .replace("klären".encode(), "klären".encode("latin-1"))
    )
    for lang, words in (("en", "The diagram cannot be read: line "), ("zh", "无法读取该流程图：")):
        web = Web(demo_app, "analyst_zhou", lang=lang)
        web.get("/notifications")  # reads the CSRF token
        headers = {"X-CSRFToken": web.token, "Content-Type": "application/xml"}
        resp = web.client.post(f"/analyst/items/{CODE}/draft", data=body, headers=headers)
        assert resp.status_code == 400, resp.get_data(as_text=True)[:400]
        assert resp.get_json()["message"].startswith(words)
        assert resp.get_json()["findings"][0]["code"] == "encoding"


def test_a_gb18030_diagram_declared_so_is_read_and_runs_with_its_names(demo_app, tmp_path):
    api = Api(demo_app.test_client())
    text = PLANNING.replace("encoding='UTF-8'", "encoding='GB18030'", 1)
    text = text.replace('name="主办科室承办"', 'name="主办科室审批"', 1)
    report = _put_draft(api, text.encode("gb18030"))
    assert report["errors"] == 0
    api.call("POST", f"/items/{CODE}/deploy", "analyst_zhou", 201, json={"comment": "审批"})
    served = _version_xml(api, 2).decode("utf-8")
    assert 'name="主办科室审批"' in served and "encoding='UTF-8'" in served
    case_no = api.apply(CODE, sample_form(CODE))["case_no"]
    assert [t["name"] for t in api.open_tasks(case_no)] == ["主办科室审批"]
    # the command line reads it the same way
    path = tmp_path / "planning-permit.bpmn"
    path.write_bytes(text.replace("主办科室审批", "主办科室复审").encode("gb18030"))
    result = demo_app.test_cli_runner().invoke(
        args=["deploy", CODE, str(path), "--comment", "GB18030"]
    )
    assert result.exit_code == 0, result.output
    assert 'name="主办科室复审"' in _version_xml(api, 3).decode("utf-8")


def test_a_utf16_diagram_with_its_byte_order_mark_is_read(demo_app):
    api = Api(demo_app.test_client())
    text = PLANNING.replace("encoding='UTF-8'", "encoding='UTF-16'", 1)
    # the same document in another encoding is no new version
    assert _put_draft(api, text.encode("utf-16"))["errors"] == 0
    same = api.call("POST", f"/items/{CODE}/deploy", "analyst_zhou", 201, json={"comment": "x"})
    assert same["version"] == 1
    renamed = text.replace('name="主办科室承办"', 'name="主办科室承办（UTF-16）"', 1)
    assert _put_draft(api, renamed.encode("utf-16"))["errors"] == 0
    changed = api.call("POST", f"/items/{CODE}/deploy", "analyst_zhou", 201, json={"comment": "y"})
    assert changed["version"] == 2
    assert 'name="主办科室承办（UTF-16）"' in _version_xml(api, 2).decode("utf-8")
