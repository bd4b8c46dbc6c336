"""One time zone (issue 19): every date a person sees, prints, exports or finds in a number is
the centre's (CENTRE_TIMEZONE, Asia/Shanghai, UTC+8), whatever the server's own date; and the
acceptance time rule: the acceptance day printed on the receipt is the day the time limits
count from.

The centre's clock is the app's CLOCK (naive UTC), set per test. The source scan at the end
keeps the server's date out of app/.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from pathlib import Path

import sqlalchemy as sa

from app.cases.models import Case
from app.db import session
from tests.apiclient import Api, required_materials, sample_form, users_with_role
from tests.pdftools import require_poppler, run
from tests.webclient import Web

# 即办件 (kind "immediate": due at the close of office on the acceptance day), statutory 20
# working days (bpmn/house-cancellation.toml)
ITEM = "house-cancellation"
APP = Path(__file__).resolve().parents[1] / "app"


def _at(app, moment: dt.datetime) -> None:
    """Set the centre's clock to a naive UTC moment."""
    app.config["CLOCK"] = lambda: moment


def _pdf_text(tmp_path: Path, name: str, data: bytes) -> str:
    """The text of a PDF in reading order (a table cell's lines together), lines joined and
    spaces dropped (the CJK text is spaced)."""
    require_poppler(tmp_path)
    assert data.startswith(b"%PDF")
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    return re.sub(r"\s+", "", run("pdftotext", "-raw", path, "-"))


def _notice(app, tmp_path: Path, case_no: str, kind: str, name: str = "") -> str:
    """The text of a notice of a case as the window prints it now (a fresh log-in: moving
    the clock ends older sessions)."""
    clerk = Web(app, users_with_role("clerk")[0])
    data = clerk.get(f"/cases/{case_no}/notices/{kind}.pdf").data
    return _pdf_text(tmp_path, name or kind, data)


def _case(app, case_no: str) -> Case:
    with app.app_context():
        return session().scalars(sa.select(Case).where(Case.case_no == case_no)).one()


# --- numbers and notices of a case received at 04:00 on Saturday 5 December 2026 ------------

# 04:00 in Beijing (UTC+8) on 5 Dec 2026 is 20:00 UTC on 4 Dec 2026.
EARLY_5_DEC = dt.datetime(2026, 12, 4, 20, 0)


def test_a_case_received_at_4_am_is_numbered_and_noticed_by_the_local_day(demo_app, tmp_path):
    _at(demo_app, EARLY_5_DEC)
    api = Api(demo_app.test_client())
    short = api.apply(ITEM, sample_form(ITEM), materials=required_materials(ITEM)[:-1])
    case_no = short["case_no"]
    assert case_no.startswith("20261205"), case_no  # not 20261204, the UTC day
    notice = _notice(demo_app, tmp_path, case_no, "supplement")
    # "于2026年12月5日提交的" and the date under the seal: both the local day, never the 4th
    assert "于2026年12月5日提交" in notice
    assert notice.count("2026年12月5日") == 2 and "2026年12月4日" not in notice
    # handed over on the 5th, reprinted on the 7th (04:00 local, 20:00 UTC on the 6th): it
    # keeps the day it was first issued
    Web(demo_app, users_with_role("clerk")[0]).post(
        f"/cases/{case_no}/notices/supplement/hand-over"
    )
    _at(demo_app, EARLY_5_DEC + dt.timedelta(days=2))
    again = _notice(demo_app, tmp_path, case_no, "supplement", "again")
    assert again.count("2026年12月5日") == 2 and "2026年12月7日" not in again
    # a notice never handed over is dated the day it is printed: the 7th, local
    _at(demo_app, EARLY_5_DEC)
    other = api.apply(ITEM, sample_form(ITEM), materials=required_materials(ITEM)[:-1])
    _at(demo_app, EARLY_5_DEC + dt.timedelta(days=2))
    fresh = _notice(demo_app, tmp_path, other["case_no"], "supplement", "fresh")
    assert "于2026年12月5日提交" in fresh and fresh.count("2026年12月7日") == 1


def test_a_case_accepted_on_a_saturday_morning_counts_from_monday(demo_app, tmp_path):
    # Received and accepted at 04:00 on Saturday 5 Dec 2026 (20:00 UTC on the 4th): a day
    # off, so it counts as accepted on the next working day, Monday 7 Dec; a 即办件 is due at
    # the close of office (17:00) of its acceptance day, Monday 7 Dec.
    _at(demo_app, EARLY_5_DEC)
    api = Api(demo_app.test_client())
    case_no = api.apply(ITEM, sample_form(ITEM))["case_no"]
    assert case_no.startswith("20261205")
    case = _case(demo_app, case_no)
    assert case.received_at == case.accepted_at == EARLY_5_DEC  # when it really came, kept
    assert case.due_at == dt.datetime(2026, 12, 7, 9, 0)  # 17:00 local on 7 Dec
    receipt = _notice(demo_app, tmp_path, case_no, "receipt")
    assert "受理时间2026年12月7日（2026年12月5日04时00分非工作时间收件" in receipt
    assert "2026年12月7日前（即办件，当日办结" in receipt
    assert "2026年12月4日" not in receipt


# --- the acceptance time rule across National Day 2026 ---------------------------------------


def test_accepted_at_18_30_on_30_september_is_accepted_on_8_october(demo_app, tmp_path):
    # 18:30 in Beijing on Wednesday 30 Sep 2026 is 10:30 UTC. Office hours close at 17:00, so
    # the rule (the guide's, the calendar's counting day) makes 8 Oct the acceptance day:
    # 1-7 Oct are the National Day holiday (国务院办公厅 2026: 10月1日至7日放假，9月20日、
    # 10月10日上班), Thursday 8 Oct is the next working day. The acceptance day does not
    # count; the limits run from the next working day:
    #   promised (即办件): the close of office on the acceptance day          -> 8 Oct 17:00
    #   statutory 30 (不动产登记暂行条例 art. 20): 9 Oct (1), Sat 10 Oct make-up (2), 12-16 Oct
    #   (3-7), 19-23 Oct (8-12), 26-30 Oct (13-17), 2-6 Nov (18-22), 9-13 Nov (23-27),
    #   16 Nov (28), 17 Nov (29), 18 Nov (30)                                 -> 18 Nov 17:00
    # The receipt used to print 受理时间 30 Sep 18:30 over a count that started on 8 Oct.
    received = dt.datetime(2026, 9, 30, 10, 30)
    _at(demo_app, received)
    api = Api(demo_app.test_client())
    case_no = api.apply(ITEM, sample_form(ITEM))["case_no"]
    case = _case(demo_app, case_no)
    assert case.received_at == case.accepted_at == received
    assert case.due_at == dt.datetime(2026, 10, 8, 9, 0)  # 17:00 local
    assert case.statutory_due_at == dt.datetime(2026, 11, 18, 9, 0)
    for kind in ("receipt", "commitment"):
        printed = _notice(demo_app, tmp_path, case_no, kind)
        moved = (
            "受理时间2026年10月8日（2026年9月30日18时30分非工作时间收件，顺延至下一个工作日受理）"
        )
        assert moved in printed, kind
        assert "2026年10月8日前（即办件，当日办结，法定30个工作日）" in printed, kind
        assert "受理当日不计入办理时限，自下一个工作日起计算" in printed, kind
    # one accepted within office hours prints its time and no note: 10:15 on 29 Sep (02:15 UTC)
    _at(demo_app, dt.datetime(2026, 9, 29, 2, 15))
    inside = api.apply(ITEM, sample_form(ITEM))["case_no"]
    printed = _notice(demo_app, tmp_path, inside, "receipt", "inside")
    assert "受理时间2026年9月29日10时15分" in printed and "非工作时间" not in printed
    assert "2026年9月29日前（即办件，当日办结" in printed  # the same day, at 17:00
    # the public guide states the rule, with the office hours
    guide = demo_app.test_client().get(f"/guide/{ITEM}", headers={"Accept-Language": "zh"})
    page = guide.get_data(as_text=True)
    rule = re.search(r'data-field="acceptance_rule">([^<]+)<', page)
    assert rule, "the guide states the acceptance rule"
    assert "17:00" in rule.group(1) and "09:00" in rule.group(1)


# --- the monthly report, the audit export and its file names ---------------------------------


def test_the_november_report_made_at_1_am_on_1_december_is_dated_1_december(demo_app, tmp_path):
    # 01:00 on 1 Dec 2026 in Beijing is 17:00 UTC on 30 Nov
    _at(demo_app, dt.datetime(2026, 11, 30, 17, 0))
    leader = Web(demo_app, users_with_role("leader")[0])
    report = leader.get("/stats/report.pdf?month=2026-11")
    printed = _pdf_text(tmp_path, "report", report.data)
    assert "编制日期：2026年12月1日" in printed


def test_the_audit_exports_default_period_holds_todays_cases_and_its_files_the_local_day(
    demo_app,
):
    # 04:00 on Saturday 21 Nov 2026 in Beijing is 20:00 UTC on 20 Nov: today is the 21st
    _at(demo_app, dt.datetime(2026, 11, 20, 20, 0))
    case_no = Api(demo_app.test_client()).apply(ITEM, sample_form(ITEM))["case_no"]
    assert case_no.startswith("20261121")
    auditor = Web(demo_app, users_with_role("auditor")[0])
    home = auditor.get("/audit").text
    until = re.search(r'name="until" value="([^"]*)"', home).group(1)
    assert until == "2026-11-22"  # "until (not included)": tomorrow, so today is in
    csv = auditor.get(f"/audit/export.csv?since=&until={until}")
    assert case_no in csv.text
    assert 'filename="onewindow-2026-11-21.csv"' in csv.headers["Content-Disposition"]
    xes = auditor.get(f"/audit/export.xes?until={until}")
    assert 'filename="onewindow-2026-11-21.xes"' in xes.headers["Content-Disposition"]
    auditor.post("/audit/checkpoints")
    log = auditor.get("/audit/checkpoints.log")
    assert "onewindow-checkpoints-2026-11-21.log" in log.headers["Content-Disposition"]


# --- the server's date stays out of app/ -----------------------------------------------------

# Each place allowed to read the server's clock without the centre's zone, and why.
ALLOWED = {
    ("app/backup.py", "datetime.now()"): (
        "the modification time of a tar member: .timestamp() is seconds since the epoch, the "
        "same in every zone, and no person reads it as a date"
    ),
}


def _name(node: ast.AST) -> str:
    """'dt.date.today' for the callee of dt.date.today(), '' for anything not a dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _name(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    if isinstance(node, ast.Call):
        inner = _name(node.func)
        return f"{inner}()" if inner else ""
    return ""


def _server_dates(tree: ast.AST) -> list[tuple[int, str]]:
    """The calls that read a date or time off the server's clock or as UTC: date.today(),
    datetime.today(), datetime.now() without a zone, datetime.utcnow(), utcnow().date()."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        last = name.rsplit(".", 2)[-2:]
        if last in (["date", "today"], ["datetime", "today"], ["datetime", "utcnow"]):
            found.append((node.lineno, f"{last[0]}.{last[1]}()"))
        elif last == ["datetime", "now"] and not node.args and not node.keywords:
            found.append((node.lineno, "datetime.now()"))
        elif name.endswith("utcnow().date"):
            found.append((node.lineno, "utcnow().date()"))
    return found


def test_no_server_date_creeps_back_into_app():
    seen, problems = set(), []
    for path in sorted(APP.rglob("*.py")):
        where = path.relative_to(APP.parent).as_posix()
        for line, call in _server_dates(ast.parse(path.read_text("utf-8"), str(path))):
            if (where, call) in ALLOWED:
                seen.add((where, call))
            else:
                problems.append(f"{where}:{line}: {call} (use app.clock: today(), local_date())")
    assert not problems, "\n".join(problems)
    assert seen == set(ALLOWED), f"allowed but no longer there: {set(ALLOWED) - seen}"


def test_the_scan_finds_each_kind_of_server_date():
    source = (
        "import datetime as dt\nfrom datetime import date, datetime\n"
        "a = dt.date.today()\nb = date.today()\nc = datetime.now()\nd = dt.datetime.now()\n"
        "e = utcnow().date()\nf = f'{datetime.utcnow():%Y}'\n"
        "ok1 = dt.datetime.now(dt.UTC)\nok2 = datetime.now(tz=zone)\nok3 = local_date(x)\n"
    )
    found = [call for _line, call in _server_dates(ast.parse(source))]
    assert sorted(found) == sorted(["date.today()", "date.today()", "datetime.now()",
                                    "datetime.now()", "utcnow().date()",
                                    "datetime.utcnow()"])  # fmt: skip
