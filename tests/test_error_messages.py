"""What a service refuses, it says in the reader's language: each error path in Chinese.

The JSON API and the public pages answer in zh by default. Every message names what is wrong
and where: the field of a form, the element of a diagram (its id marked as code), the post
and the people of an assignment. A scan of the sources keeps English sentences out of the
exceptions a user can see.
"""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po

from app.audit.anchor import LogBroken
from app.db import session
from app.org.models import Post
from app.org.reasons import reason_text
from config import BASE_DIR
from tests.apiclient import POSTS, Api, sample_form, users_with_role
from tests.webclient import Web

HAN = re.compile(r"[\u4e00-\u9fff]")
PLANNING = (BASE_DIR / "bpmn" / "planning-permit.bpmn").read_text("utf-8")
LEGAL = {"legal_basis": "《不动产登记暂行条例》第二十二条"}
LEAVE = {"kind": "leave", "starts_at": "2026-01-01T08:00", "ends_at": "2036-01-01T18:00",
         "reason": "年休假"}  # fmt: skip


@pytest.fixture
def api(client) -> Api:
    return Api(client)


def _draft(api: Api, xml: str) -> dict:
    resp = api.client.put(
        "/api/v1/items/planning-permit/draft", data=xml.encode("utf-8"),
        headers={"Authorization": f"Bearer {api.token('analyst_zhou')}",
                 "Content-Type": "application/xml"},
    )  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_a_rejection_says_in_chinese_that_it_needs_a_reason_and_a_legal_basis(api):
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    no_reason = api.work(case_no, "Task_review", "reject", "", LEGAL, expect=400)
    assert no_reason == {"error": "InvalidInput", "message": "不同意需要填写理由（意见）"}
    no_basis = api.work(case_no, "Task_review", "reject", "房屋存在查封登记", {}, expect=400)
    assert no_basis["message"] == "不同意需要填写法律依据（data.legal_basis）"
    [task] = api.open_tasks(case_no)
    other = next(u for u in users_with_role("official") if u != task["assignee"])
    body = api.call("POST", f"/tasks/{task['id']}/complete", other, 403,
                    json={"outcome": "approve"})  # fmt: skip
    assert body["message"] == "此任务未分派给您"


def test_a_form_refusal_names_the_form_and_each_field_in_chinese(api):
    body = api.apply("house-initial", sample_form("house-initial", certificates="many"),
                     expect=400)  # fmt: skip
    assert body["message"] == "申请表有错误"
    assert body["fields"]["certificates"].endswith("必须是整数")
    clerk = users_with_role("clerk")[0]
    body = api.call("POST", "/cases", clerk, 400, json={"item_code": "house-initial"})
    assert body["message"] == "“applicant”必须是包含 name、id_number 和 phone 的对象"
    missing = api.apply("nothing-like-this", {}, materials=[], expect=404)
    assert missing["message"] == "没有编码为“nothing-like-this”的事项"
    wrong = api.client.post("/api/v1/auth/token", json={"username": "admin", "password": "x"})
    assert wrong.status_code == 401 and wrong.get_json()["message"] == "用户名或密码错误"


def test_a_diagram_finding_names_the_element_as_code_in_chinese(api):
    lonely = (
        '<bpmn:userTask id="Task_lonely" name="孤立任务" camunda:candidateGroups="no_such_post"/>'
    )
    report = _draft(api, PLANNING.replace("</bpmn:process>", lonely + "</bpmn:process>", 1))
    found = {f["code"]: f for f in report["findings"] if f["element_id"] == "Task_lonely"}
    unreachable = found["unreachable"]["message"]
    # the element type in words (the catalogue's word for a userTask), its name, its id as code
    element = r"\w+任务“孤立任务”（`Task_lonely`）"
    assert re.fullmatch(element + "没有进入的顺序流，永远不会执行", unreachable)
    unknown = found["unknown-post"]["message"]
    assert re.fullmatch(
        element + "指定给“no_such_post”，而本中心没有这个岗位（请使用岗位编码或名称）", unknown
    )
    refused = api.call("POST", "/items/planning-permit/deploy", "analyst_zhou", 400,
                       json={"comment": "加一个任务"})  # fmt: skip
    assert re.fullmatch(r"草稿有 \d+ 处错误，请改正后再发布", refused["message"])


def test_a_malformed_diagram_is_reported_at_its_line_in_chinese(demo_app):
    web = Web(demo_app, "analyst_zhou", lang="zh")
    web.get("/notifications")  # reads the CSRF token
    broken = PLANNING.replace("</bpmn:process>", "</bpmn:proces>", 1).encode("utf-8")
    headers = {"X-CSRFToken": web.token, "Content-Type": "application/xml"}
    resp = web.client.post("/analyst/items/planning-permit/draft", data=broken, headers=headers)
    report = resp.get_json()
    assert resp.status_code == 200 and report["summary"] == "草稿已保存：1 个错误，0 个警告。"
    [finding] = report["findings"]
    line = PLANNING[: PLANNING.index("</bpmn:process>")].count("\n") + 1
    assert finding["code"] == "xml-syntax" and finding["line"] == line
    assert finding["message"].startswith(f"第 {line} 行第 "), finding
    assert "列的 XML 格式错误：" in finding["message"]


def test_the_public_query_refuses_and_throttles_in_chinese(demo_app):
    web = Web(demo_app)  # the public, in the default language
    body = {"case_no": "202611230000000", "code": "ABCDEF"}
    wrong = web.post("/track", body, expect=404)
    assert "没有与此办件编号和查询码相符的案件" in wrong.text
    answers = [web.post("/track", body, expect=None) for _ in range(12)]
    assert answers[-1].status_code == 429
    assert "您所在地址的错误查询过多，请稍后再试" in answers[-1].text


def test_registration_names_each_field_and_throttles_in_chinese(demo_app):
    demo_app.config["REGISTRATION_ATTEMPTS_PER_CLIENT"] = 1
    web = Web(demo_app)
    body = {"username": "applicant_he", "name": "张", "id_number": "110105198511020046",
            "phone": "123", "password": "short"}  # fmt: skip
    first = web.post("/register", body, expect=400)
    for problem in ("此用户名已被使用", "填写身份证或营业执照上的名称",
                    "手机号码（11 位）或带区号的固定电话", "至少 10 个字符"):  # fmt: skip
        assert problem in first.text, problem
    again = web.post("/register", body, expect=429)
    assert "您所在地址的注册尝试过多，请稍后再试" in again.text


def test_an_upload_refusal_names_the_file_in_chinese(demo_app):
    he = Web(demo_app, "applicant_he", lang="zh")
    form = {"a_certificate_no": "示房权证第0012345号", "a_house_address": "示范市东路 8 号",
            "a_cancel_reason": "房屋灭失"}  # fmt: skip
    number = he.post("/apply/house-cancellation", form).headers["Location"].rsplit("/", 1)[-1]
    path = f"/my/applications/{number}/upload"
    empty = he.post(path, {"material": "identity", "file": (io.BytesIO(b""), "身份证.pdf")},
                    expect=400, content_type="multipart/form-data")  # fmt: skip
    assert "“身份证.pdf”是空文件" in empty.text
    text = he.post(path, {"material": "identity", "file": (io.BytesIO(b"hello"), "a.pdf")},
                   expect=400, content_type="multipart/form-data")  # fmt: skip
    assert "“a.pdf”不是 PDF、JPEG 或 PNG 文件（按文件内容判断）" in text.text


def test_an_assignment_reason_is_stored_structured_and_read_with_names(api):
    a, b = POSTS["housing_review"]["a"], POSTS["housing_review"]["b"]
    api.call("POST", "/absences", a, 201, json=LEAVE)
    case_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
    [task] = api.open_tasks(case_no)
    with api.client.application.app_context():
        post = session().scalar(sa.select(Post).where(Post.code == "housing_review"))
        post_id, post_name = post.id, post.name
    # stored as a code with parameters: the post by id, the absence's end in local time
    assert task["assignee"] == b
    assert task["assignment_reason_code"] == {
        "reason": "b_acting", "post": post_id, "passed": [["A", "leave", "2036-01-01T18:00"]],
    }  # fmt: skip
    assert task["assignment_reason"] == f"分派给{post_name}的B角：A角休假至 2036-01-01 18:00"
    clerk = Web(api.client.application, users_with_role("clerk")[0], lang="zh")
    page = clerk.get(f"/cases/{case_no}").text
    assert f"分派给{post_name}的B角：A角休假至 2036-01-01 18:00" in page
    english = Web(api.client.application, users_with_role("clerk")[0], lang="en")
    assert (
        f"assigned to B of {post_name}: A on leave until 2036-01-01 18:00"
        in english.get(f"/cases/{case_no}").text
    )


def test_an_old_free_text_reason_is_shown_as_it_was_stored(demo_app):
    with demo_app.test_request_context():
        assert reason_text("assigned to A of ndrc_review") == "assigned to A of ndrc_review"
        assert reason_text(None) == ""


def test_the_checkpoint_log_says_what_broke_in_the_readers_language(demo_app):
    broken = LogBroken(2, "signed by key %(key)s, which is not trusted", key="'k9'")
    assert str(broken) == "checkpoint log, line 2: signed by key 'k9', which is not trusted"
    with demo_app.test_request_context():
        assert broken.reason == "由不受信任的密钥 'k9' 签名"


# --- the sources -------------------------------------------------------------------------

# the exceptions whose message a user reads, and where their message is
SHOWN = {"InvalidInput", "Unauthorized", "Forbidden", "NotFound", "Conflict",
         "TooManyRequests", "Unavailable", "AppError", "OneWindowError", "DiagramError",
         "LogBroken", "EngineError", "ExpressionError", "WorkflowFault"}  # fmt: skip
TRANSLATORS = {"_", "_l", "gettext", "lazy_gettext"}
ENGLISH = re.compile(r"[A-Za-z]{2,}[ ,;:'.][A-Za-z ]*[A-Za-z]{2,}")  # two words at least


def _message(call: ast.Call) -> ast.expr | None:
    name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
    keywords = {k.arg: k.value for k in call.keywords}
    if name in SHOWN:
        position = 1 if name == "LogBroken" else 0
        return keywords.get("message") or (call.args[position] if len(call.args) > position
                                           else None)  # fmt: skip
    lint = isinstance(call.func, ast.Attribute) and getattr(call.func.value, "id", "") == "out"
    if name == "Finding" or (lint and name in ("error", "warning")):
        return keywords.get("message") or (call.args[2] if len(call.args) > 2 else None)
    return None


def _literals(node: ast.expr) -> list[str]:
    """The English a message expression writes itself (not through a translator)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value for v in node.values if isinstance(v, ast.Constant))]
    if isinstance(node, ast.BinOp | ast.IfExp | ast.BoolOp):
        return [t for child in ast.iter_child_nodes(node) for t in _literals(child)]
    return []


def _sources() -> list[Path]:
    roots = (BASE_DIR / "app", BASE_DIR / "workflows")
    return sorted(p for root in roots for p in root.rglob("*.py"))


def _translated_ids(tree: ast.AST) -> list[str]:
    return [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in TRANSLATORS
        and node.args and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]  # fmt: skip


def test_no_english_sentence_is_raised_without_the_catalogue():
    found = []
    for path in _sources():
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or (message := _message(node)) is None:
                continue
            for text in _literals(message):
                if ENGLISH.search(text):
                    found.append(f"{path.relative_to(BASE_DIR)}:{node.lineno}: {text!r}")
    assert not found, "English messages not passed through gettext:\n" + "\n".join(found)


def test_every_message_of_a_raising_module_has_its_chinese():
    """Each module that raises for a user has every message it translates in the zh catalogue."""
    po = BASE_DIR / "app" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as handle:
        chinese = {m.id: m.string for m in read_po(handle) if m.id}
    missing = []
    for path in _sources():
        tree = ast.parse(path.read_text("utf-8"))
        raises = any(isinstance(n, ast.Call) and _message(n) is not None for n in ast.walk(tree))
        for msgid in _translated_ids(tree) if raises else []:
            words = re.search(r"[A-Za-z]{3,}", re.sub(r"%\(\w+\)s", "", msgid))
            if not chinese.get(msgid) or (words and not HAN.search(chinese[msgid])):
                missing.append(f"{path.relative_to(BASE_DIR)}: {msgid!r}")
    assert not missing, "messages without a Chinese translation:\n" + "\n".join(missing)
