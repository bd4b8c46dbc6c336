"""An analyst's draft drawn for Camunda: one button rewrites its JUEL/FEEL expressions in place."""

from __future__ import annotations

import re

import pytest

from config import BASE_DIR
from tests.apiclient import Api
from tests.webclient import Web

PLANNING = (BASE_DIR / "bpmn" / "planning-permit.bpmn").read_text("utf-8")
EDIT = "/analyst/items/planning-permit/edit"
REWRITE = "/analyst/items/planning-permit/draft/rewrite"


def _condition(xml: str, flow_id: str, condition: str) -> str:
    """Return the diagram with the condition of one sequence flow replaced (XML-escaped text)."""
    pattern = re.compile(
        rf'(<bpmn:sequenceFlow id="{flow_id}"[^>]*>\s*<bpmn:conditionExpression[^>]*>)'
        r"[^<]*(</bpmn:conditionExpression>)"
    )
    changed, count = pattern.subn(lambda m: m.group(1) + condition + m.group(2), xml)
    assert count == 1, flow_id
    return changed


# the demo diagram as Camunda Modeler users would have written three of its conditions
CAMUNDA_STYLE = _condition(
    _condition(
        _condition(PLANNING, "Flow_lead_reject", "${outcome == 'reject'}"),
        "Flow_large",
        "${floor_area gt 20000}",
    ),
    "Flow_head_return",
    '= outcome = "return"',
)


def _save(demo_app, xml: str) -> dict:
    api = Api(demo_app.test_client())
    resp = api.client.put(
        "/api/v1/items/planning-permit/draft", data=xml.encode("utf-8"),
        headers={"Authorization": f"Bearer {api.token('analyst_zhou')}",
                 "Content-Type": "application/xml"},
    )  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _findings(page: str, code: str) -> list[str]:
    """Return the text of the findings with `code`; ids and expressions in them are <code>."""
    return re.findall(
        rf'<li class="finding \w+" data-code="{code}"[^>]*>((?:[^<]|<code>[^<]*</code>)*)</li>',
        page,
    )


def test_the_suggested_rewrites_are_applied_and_the_new_report_shown(demo_app):
    saved = _save(demo_app, CAMUNDA_STYLE)
    assert {f["element_id"] for f in saved["findings"] if f["code"] == "juel-expression"} == {
        "Flow_lead_reject",
        "Flow_large",
    }
    web = Web(demo_app, "analyst_zhou")
    page = web.get(EDIT).text
    assert "apply the suggested rewrites" in page
    assert "3 JUEL/FEEL expressions of the draft can be written" in page
    advice = _findings(page, "juel-expression") + _findings(page, "feel-expression")
    assert any(
        "write <code>floor_area &gt; 20000</code> instead of <code>${floor_area gt 20000}</code>"
        in a
        for a in advice
    )
    assert any("write <code>outcome == &#34;return&#34;</code> instead of" in a for a in advice), (
        advice
    )

    resp = web.post(REWRITE, {}, expect=302)
    assert resp.headers["Location"].endswith(EDIT)
    page = web.get(EDIT).text
    assert "3 expressions rewritten; draft saved: 0 errors" in page
    assert not _findings(page, "juel-expression") and not _findings(page, "feel-expression")
    assert "apply the suggested rewrites" not in page
    # the stored draft is the original diagram again, byte for byte, declaration included
    assert web.get("/analyst/items/planning-permit/bpmn").text == PLANNING


def test_what_cannot_be_translated_stays_and_is_still_reported(demo_app):
    xml = _condition(
        CAMUNDA_STYLE, "Flow_collective_return", "${outcome == 'return' ? true : false}"
    )
    _save(demo_app, xml)
    web = Web(demo_app, "analyst_zhou")
    web.post(REWRITE, {}, expect=302)
    page = web.get(EDIT).text
    assert "3 expressions rewritten; draft saved: 1 errors" in page
    (refused,) = _findings(page, "juel-expression")
    assert "cannot be translated: the conditional <code>a ? b : c</code>" in refused
    stored = web.get("/analyst/items/planning-permit/bpmn").text
    assert stored == _condition(PLANNING, "Flow_collective_return",
                                "${outcome == 'return' ? true : false}")  # fmt: skip
    # nothing left to rewrite: the button is gone and posting again changes nothing
    assert "apply the suggested rewrites" not in page
    web.post(REWRITE, {}, expect=302)
    assert "no JUEL or FEEL expression that can be rewritten" in web.get(EDIT).text
    assert web.get("/analyst/items/planning-permit/bpmn").text == stored


def test_the_button_speaks_chinese(demo_app):
    _save(demo_app, CAMUNDA_STYLE)
    page = Web(demo_app, "analyst_zhou", lang="zh").get(EDIT).text
    assert "应用建议的改写" in page
    assert "草稿中有 3 个 JUEL/FEEL 表达式" in page


def test_only_analysts_may_post_it_and_only_with_the_form_token(demo_app):
    _save(demo_app, CAMUNDA_STYLE)
    official = Web(demo_app, "official_lu")
    official.post(REWRITE, {}, expect=403)
    analyst = Web(demo_app, "analyst_zhou")
    analyst.post(REWRITE, {}, csrf=False, expect=400)
    assert analyst.get("/analyst/items/planning-permit/bpmn").text == CAMUNDA_STYLE


def test_an_item_without_a_draft_has_nothing_to_rewrite(demo_app):
    web = Web(demo_app, "analyst_zhou")
    page = web.get(EDIT).text
    assert "apply the suggested rewrites" not in page
    web.post(REWRITE, {}, expect=404)


def test_expression_limits_come_from_the_app_config(database_url, monkeypatch):
    from app import create_app
    from config import TestConfig
    from workflows import expressions
    from workflows.errors import ExpressionError

    try:
        tight = create_app(TestConfig, DATABASE_URL=database_url, EXPRESSION_MAX_INT_BITS=64)
        assert expressions.LIMITS.max_int_bits == 64
        with pytest.raises(ExpressionError, match="max_int_bits = 64 bits"):
            expressions.evaluate("2 ** 70 > 1", {})
        tight.extensions["ow_engine"].dispose()
        monkeypatch.setenv("OW_EXPRESSION_MAX_SECONDS", "0.25")
        default = create_app(TestConfig, DATABASE_URL=database_url)
        assert expressions.Limits(max_seconds=0.25) == expressions.LIMITS
        default.extensions["ow_engine"].dispose()
    finally:
        expressions.LIMITS = expressions.Limits()


def test_a_gbk_draft_is_rewritten_as_the_loader_stored_it(demo_app):
    """The loader stores a GBK upload as text relabelled UTF-8; the rewrite keeps that."""
    gbk = CAMUNDA_STYLE.replace("<?xml version='1.0' encoding='UTF-8'?>",
                                '<?xml version="1.0" encoding="GBK"?>')  # fmt: skip
    assert gbk != CAMUNDA_STYLE
    api = Api(demo_app.test_client())
    resp = api.client.put(
        "/api/v1/items/planning-permit/draft", data=gbk.encode("gbk"),
        headers={"Authorization": f"Bearer {api.token('analyst_zhou')}",
                 "Content-Type": "application/xml"},
    )  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    web = Web(demo_app, "analyst_zhou")
    web.post(REWRITE, {}, expect=302)
    assert "3 expressions rewritten; draft saved: 0 errors" in web.get(EDIT).text
    expected = PLANNING.replace("<?xml version='1.0' encoding='UTF-8'?>",
                                '<?xml version="1.0" encoding="UTF-8"?>')  # fmt: skip
    assert web.get("/analyst/items/planning-permit/bpmn").text == expected
