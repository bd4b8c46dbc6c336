"""The modeler page shows a draft's last report again when the analyst reopens it: kept with
the draft on the server (a save's, or a refused deployment's), worded in the reader's
language; and it leads to the draft's difference and dry run."""

from __future__ import annotations

import re

from tests.apiclient import Api
from tests.test_analysts import PLANNING, _save
from tests.webclient import Web

EDIT = "/analyst/items/planning-permit/edit"
# a user task no flow leads to: an error (it can never run) and a dead end (a warning)
LOOSE = PLANNING.replace(
    "</bpmn:process>",
    '<bpmn:userTask id="Task_loose" name="孤立环节" camunda:candidateGroups="planning_lead"/>'
    "</bpmn:process>",
    1,
)


def _status(page: str) -> str:
    found = re.search(r'<span id="status"[^>]*>([^<]*)</span>', page)
    assert found, page[-3000:]
    return found.group(1)


def _deploy(web: Web, comment: str):
    return web.client.post(
        "/analyst/items/planning-permit/deploy", json={"comment": comment, "confirm": True},
        headers={"X-CSRFToken": web.token},
    )  # fmt: skip


def test_the_last_report_is_shown_again_in_the_readers_language(demo_app):
    api = Api(demo_app.test_client())
    english, chinese = Web(demo_app, "analyst_zhou"), Web(demo_app, "analyst_zhou", lang="zh")
    page = english.get(EDIT).text
    assert re.search(r'<span id="status"[^>]* hidden>', page)  # nothing to say yet: no badge
    saved = _save(api, LOOSE)
    loose = [f for f in saved["findings"] if f["element_id"] == "Task_loose"]
    assert ("unreachable", "error") in {(f["code"], f["severity"]) for f in loose}
    errors, warnings = saved["errors"], saved["warnings"]

    page = english.get(EDIT).text
    assert _status(page).startswith("Draft saved at ")
    assert _status(page).endswith(f": {errors} errors, {warnings} warnings.")
    assert 'data-code="unreachable" data-element="Task_loose">Error: ' in page
    page = chinese.get(EDIT).text
    assert _status(page).startswith("草稿保存于 ")
    assert _status(page).endswith(f"：{errors} 个错误，{warnings} 个警告。")
    assert 'data-code="unreachable" data-element="Task_loose">错误：' in page or (
        'data-code="unreachable" data-element="Task_loose">错误: ' in page
    )

    refused = _deploy(english, "加一个环节")
    body = refused.get_json()
    assert refused.status_code == 400 and "findings" in body, body
    assert _status(english.get(EDIT).text).startswith("Deployment refused at ")
    assert _status(chinese.get(EDIT).text).startswith("发布被拒绝（")


def test_the_modeler_leads_to_the_difference_and_the_dry_run(demo_app):
    web = Web(demo_app, "analyst_zhou")
    page = web.get(f"{EDIT}?version=1").text
    diff = re.search(r'id="to-diff" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    dry = re.search(r'id="to-dryrun" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert diff.startswith("/analyst/items/planning-permit/diff?") and "new=1" in diff
    assert dry.startswith("/analyst/items/planning-permit/dryrun?") and "source=1" in dry
    assert web.get(diff).status_code == 200 and web.get(dry).status_code == 200
