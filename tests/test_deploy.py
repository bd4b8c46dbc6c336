"""Deploying diagrams: bad files are refused with element and line, nothing stored is lost;
running cases stay on their version while new cases take the newest."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.catalogue.models import DiagramVersion, Item
from app.db import session
from tests.apiclient import BPMN, Api, sample_form
from tests.workflows.test_reference_models import REFERENCE_DIR

PLANNING = (BPMN / "planning-permit.bpmn").read_text("utf-8")


def _versions(app, code: str = "planning-permit") -> list[int]:
    with app.app_context():
        return list(
            session().scalars(
                sa.select(DiagramVersion.version)
                .join(Item, Item.id == DiagramVersion.item_id)
                .where(Item.code == code)
                .order_by(DiagramVersion.version)
            )
        )


def _deploy(demo_app, tmp_path, content: str | bytes, name: str = "planning-permit.bpmn"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    runner = demo_app.test_cli_runner()
    return runner.invoke(args=["deploy", "planning-permit", str(path), "--comment", "test"])


def test_unsafe_condition_is_refused_with_element_and_line(demo_app, tmp_path):
    bad = PLANNING.replace("floor_area &gt; 20000", "__import__('os').system('id')", 1)
    assert bad != PLANNING
    result = _deploy(demo_app, tmp_path, bad)
    assert result.exit_code != 0
    assert "无法发布" in result.output  # the CLI speaks the centre's default language, zh
    assert "unsafe-expression" not in result.output or "line" in result.output
    assert "__import__" in result.output and "不允许调用" in result.output
    assert "line " in result.output and "element Flow_" in result.output
    assert "Traceback" not in result.output
    assert _versions(demo_app) == [1]


def test_entity_bomb_and_oversize_files_are_refused(demo_app, tmp_path):
    bomb = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol2;'
        "</bpmn:definitions>"
    )
    result = _deploy(demo_app, tmp_path, bomb)
    assert result.exit_code != 0 and "DOCTYPE" in result.output
    huge = PLANNING.encode("utf-8") + b"<!--" + b"x" * (50 * 1024 * 1024) + b"-->"
    result = _deploy(demo_app, tmp_path, huge)
    assert result.exit_code != 0 and "上限为 5242880 字节" in result.output
    assert "Traceback" not in result.output
    assert _versions(demo_app) == [1]


@pytest.mark.parametrize("path", sorted(REFERENCE_DIR.glob("*.bpmn")), ids=lambda p: p.name)
def test_reference_models_are_refused_with_a_clear_message(demo_app, tmp_path, path):
    result = _deploy(demo_app, tmp_path, path.read_bytes(), path.name)
    assert result.exit_code != 0
    assert "无法发布" in result.output
    assert "Traceback" not in result.output
    assert _versions(demo_app) == [1]


def test_new_version_for_new_cases_running_cases_stay(demo_app, client, tmp_path):
    api = Api(client)
    old_case = api.apply("planning-permit", sample_form("planning-permit", floor_area=900))[
        "case_no"
    ]
    changed = PLANNING.replace('name="主办科室承办"', 'name="主办科室审查"', 1)
    result = _deploy(demo_app, tmp_path, changed)
    assert result.exit_code == 0, result.output
    assert "version 2 deployed" in result.output
    assert _versions(demo_app) == [1, 2]
    new_case = api.apply("planning-permit", sample_form("planning-permit", floor_area=900))[
        "case_no"
    ]
    assert api.case(old_case)["diagram_version"] == 1
    assert api.case(new_case)["diagram_version"] == 2
    assert api.open_tasks(old_case)[0]["name"] == "主办科室承办"
    assert api.open_tasks(new_case)[0]["name"] == "主办科室审查"
    api.work(old_case, "Task_lead")
    assert [t["spec_id"] for t in api.open_tasks(old_case)] == ["Task_deputy"]
    # deploying the same bytes again does not make a new version
    assert "version 2 deployed" in _deploy(demo_app, tmp_path, changed).output
