"""What an auditor sees: per-branch data changes at a parallel stage, the replay's case data
complete at every step, which notice was given to whom, and every column labelled for what
it holds (issue 20)."""

from __future__ import annotations

import html
import re

import sqlalchemy as sa

from app.audit.models import Event
from app.cases.models import Case
from app.db import session
from tests.apiclient import Api, sample_form
from tests.webclient import Web

JOINT = "joint-investment"
OPINIONS = (("Task_ndrc", "ndrc_opinion", "符合产业政策，同意核准。"),
            ("Task_land", "land_opinion", "用地符合国土空间规划。"),
            ("Task_construction", "construction_opinion", "设计方案符合规范。"),
            ("Task_env", "env_opinion", "环评文件符合要求，同意。"))  # fmt: skip


# the labels of the opinion fields in bpmn/joint-investment.bpmn
LABELS = {"ndrc_opinion": "核准意见", "land_opinion": "预审意见",
          "construction_opinion": "审查意见", "env_opinion": "环评审批意见"}  # fmt: skip


def _joint_case(app) -> tuple[str, dict[str, int]]:
    """A joint investment case whose four parallel departments each record an opinion;
    return its number and the seq of each department's task_completed event."""
    api = Api(app.test_client())
    case_no = api.apply(JOINT, sample_form(JOINT))["case_no"]
    for spec, field, text in OPINIONS:
        api.work(case_no, spec, comment="同意", data={field: text})
    with app.app_context():
        rows = session().execute(
            sa.select(Event.seq, Event.data).join(Case, Case.id == Event.case_id)
            .where(Case.case_no == case_no, Event.type == "task_completed")
        ).all()  # fmt: skip
    return case_no, {data["spec"]: seq for seq, data in rows}


def _row(page: str, seq: int) -> str:
    found = re.search(rf'<tr class="ev-[a-z_]+" id="e{seq}">(.*?)</tr>', page, re.S)
    assert found, seq
    return found.group(1)


def _changes(row: str) -> dict[str, str]:
    """The data changes listed in a timeline row: field id -> "label · before → after"."""
    block = re.search(r'<ul class="changes">(.*?)</ul>', row, re.S)
    items = re.findall(r"<li>(.*?)</li>", block.group(1), re.S) if block else []
    out = {}
    for item in items:
        label, field, change = re.fullmatch(r"(.*?)<code>(.*?)</code>:(.*)", item, re.S).groups()
        out[field] = f"{_text(label)} · {_text(change)}"
    return out


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))).strip()


def test_a_parallel_branch_is_compared_with_its_own_previous_step(demo_app):
    case_no, seqs = _joint_case(demo_app)
    page = Web(demo_app, "auditor_sun", lang="zh").get(f"/audit/cases/{case_no}").text
    for spec, field, text in OPINIONS:
        changes = _changes(_row(page, seqs[spec]))
        # each department's row shows its own opinion set (named as its form names it),
        # and nothing of the others
        assert changes[field] == f"{LABELS[field]} · — → {text}", (spec, changes)
        assert not set(changes) & (set(LABELS) - {field}), (spec, changes)
        # the comment went from the acceptance's (the step before in this branch) to this one
        assert changes["comment"] == "办理意见 · 受理 → 同意", (spec, changes)
        assert not [c for c in changes.values() if c.endswith("→ —")], (spec, changes)


def _replay_data(web: Web, case_no: str, step: int) -> dict[str, str]:
    page = web.get(f"/audit/cases/{case_no}/replay?step={step}").text
    facts = re.search(r"<h2>[^<]*</h2>\s*<dl class=\"facts\">(.*?)</dl>", page, re.S)
    assert facts, step
    pairs = re.findall(r"<dt>[^<]*<code>(.*?)</code></dt><dd>(.*?)</dd>", facts.group(1), re.S)
    return {key: _text(value) for key, value in pairs}


def test_the_replay_holds_every_branch_s_data_at_every_step(demo_app):
    case_no, seqs = _joint_case(demo_app)
    web = Web(demo_app, "auditor_sun", lang="zh")
    with demo_app.app_context():
        seq_list = session().scalars(
            sa.select(Event.seq).join(Case, Case.id == Event.case_id)
            .where(Case.case_no == case_no).order_by(Event.seq)
        ).all()  # fmt: skip
    steps = {seq: n for n, seq in enumerate(seq_list, 1)}  # a step is a place in the log
    recorded: dict[str, str] = {}
    for spec, field, text in OPINIONS:
        at = steps[seqs[spec]]
        recorded[field] = text
        # at the completion and at the step after it, every opinion recorded so far is there
        for step in (at, at + 1):
            data = _replay_data(web, case_no, step)
            assert {f: data.get(f) for f in recorded} == recorded, (spec, step, data)
    before = _replay_data(web, case_no, steps[seqs["Task_ndrc"]] - 1)
    assert "ndrc_opinion" not in before and before["project_name"] == "示例"


def test_each_notice_event_says_which_notice_and_to_whom(demo_app):
    api = Api(demo_app.test_client())
    case_no = api.apply(JOINT, sample_form(JOINT))["case_no"]
    clerk = Web(demo_app, "clerk_liu", lang="zh")
    clerk.post(f"/cases/{case_no}/notices/receipt/hand-over")
    api.call(
        "POST",
        f"/cases/{case_no}/pause",
        "clerk_liu",
        json={"kind": "expert_review", "reason": "组织专家评审", "expected_days": 5},
    )
    clerk.post(f"/cases/{case_no}/notices/pause/hand-over?n=1")
    timeline = Web(demo_app, "auditor_sun", lang="zh").get(f"/audit/cases/{case_no}").text
    rows = [_text(r) for r in re.findall(r'<tr class="ev-notice_issued"[^>]*>(.*?)</tr>',
                                         timeline, re.S)]  # fmt: skip
    assert len(rows) == 2, rows
    assert "受理通知书 · 交申请人，经办人：刘芳" in rows[0]
    assert "第 1 次中止计算期限告知书 · 交申请人，经办人：刘芳" in rows[1]
    # the case page's history says the same
    history = _text(clerk.get(f"/cases/{case_no}").text)
    assert "受理通知书 · 交申请人，经办人：刘芳" in history


def _tables(page: str) -> list[tuple[list[str], list[list[str]]]]:
    """Each table's header cells and body rows (cell texts); a row spanning the table (an
    empty list's message) is left out."""
    out = []
    for table in re.findall(r"<table[^>]*>(.*?)</table>", page, re.S):
        head = [_text(th) for th in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)]
        body = re.search(r"<tbody>(.*?)</tbody>", table, re.S)
        rows = []
        for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1) if body else "", re.S):
            if "colspan" not in tr:
                rows.append([_text(td) for td in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)])
        out.append((head, rows))
    return out


def test_every_audit_column_is_labelled_for_what_it_holds(demo_app):
    case_no, _seqs = _joint_case(demo_app)
    # the clerk prints the commitment notice: a view of the phone number, from 127.0.0.1
    Web(demo_app, "clerk_liu").get(f"/cases/{case_no}/notices/commitment.pdf")
    auditor = Web(demo_app, "auditor_sun", lang="zh")
    [(head, rows)] = _tables(auditor.get("/audit/personal-data").text)
    assert head == ["时间", "人员", "查看对象", "字段", "原因", "访问地址（IP）"]
    assert rows and rows[0][head.index("访问地址（IP）")] == "127.0.0.1"
    assert rows[0][head.index("人员")] == "clerk_liu"
    for path in (f"/audit/cases/{case_no}", f"/audit/cases/{case_no}/replay?step=14",
                 "/audit/personal-data", "/audit/checkpoints"):  # fmt: skip
        for head, rows in _tables(auditor.get(path).text):
            assert head and all(head), (path, head)  # no column without a label
            assert all(len(row) == len(head) for row in rows), (path, head, rows[:2])
