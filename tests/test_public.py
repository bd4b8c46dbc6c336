"""The public pages: catalogue and search, service guide, published results and their feed.

Cases are made through the real services (received at the window, worked by the officials
their tasks go to); the pages are read anonymously. What a page shows is compared with the
catalogue files and with the database, and every page and the feed are scanned for every
case's ID number, phone and form data.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import tomllib
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from lxml import etree

from app.cases import services as cases
from app.cases.models import Case, Task
from app.catalogue import guide as public
from app.catalogue.models import Item
from app.db import session
from app.org.models import User
from config import BASE_DIR
from tests.apiclient import item_entry, required_materials, sample_form
from tests.casegen import generate, item_codes
from tests.webclient import Web

ATOM = "{http://www.w3.org/2005/Atom}"
CENTRE = tomllib.loads((BASE_DIR / "bpmn" / "centre.toml").read_text("utf-8"))
CANCEL = "house-cancellation"
ZONE = ZoneInfo("Asia/Shanghai")
SECRET_FORM = "秘密证号甲一二三"  # in a form, never on a public page
XSS_PERSON = "<script>alert(1)</script>"
XSS_COMPANY = "<script>alert(2)</script>建设有限公司"


def utc(*args) -> dt.datetime:
    return dt.datetime(*args)


def _codes(html: str, attr: str = "data-item") -> list[str]:
    return re.findall(rf'{attr}="([^"]+)"', html)


def _search(web: Web, **params) -> set[str]:
    html = web.get("/guide", query_string=params).text
    found = set(_codes(html))
    assert bool(found) != ('data-empty="items"' in html), html
    return found


# --- the catalogue and its search ----------------------------------------------------------


# the planning permit's licence items (issue 24); its revocation is started by the authority
# of its own motion (ex officio) and is not in the public catalogue
LICENCE_ITEMS = {"planning-permit-renewal", "planning-permit-change",
                 "planning-permit-cancellation"}  # fmt: skip
LISTED = set(item_codes()) | LICENCE_ITEMS


def test_catalogue_lists_every_active_item_by_department(demo_app):
    with demo_app.app_context():
        active = set(session().scalars(sa.select(Item.code).where(Item.active.is_(True))))
    assert active == LISTED | {"planning-permit-revocation"}
    html = Web(demo_app).get("/guide").text
    assert set(_codes(html)) == LISTED and len(_codes(html)) == len(LISTED)
    Web(demo_app).get("/guide/planning-permit-revocation", expect=404)
    for code in LISTED:
        entry = item_entry(code)
        assert entry["name"] in html and entry["fee"] in html
    sections = re.split(r'data-department="', html)[1:]
    by_department = {s.split('"', 1)[0]: set(_codes(s)) for s in sections}
    assert by_department == {
        "housing": {"house-cancellation", "house-initial"},
        "natural_resources": {"planning-permit"} | LICENCE_ITEMS,
        "ndrc": {"joint-investment"},
    }
    # promised and statutory days of the joint item, in its row
    row = html.split('data-item="joint-investment"', 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'class="num">(\d+)<', row) == ["20", "45"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("测绘报告", {"house-initial"}),  # a material name
        ("日照分析", {"planning-permit"}),
        ("授权委托书", set(item_codes())),  # a material every item lists
        ("房屋", {"house-initial", "house-cancellation"}),  # item names
        ("planning-permit", {"planning-permit"} | LICENCE_ITEMS),  # the code (and codes it starts)
        ("房屋登记科", {"house-initial", "house-cancellation"}),  # the handling section
        ("发展和改革委员会", {"joint-investment"}),  # the department
        ("城乡规划法", {"planning-permit", "planning-permit-renewal",
                        "planning-permit-change"}),  # the legal basis
        ("实地查勘", {"house-initial"}),  # a condition
        ("授权委托书 日照", {"planning-permit"}),  # two words: both must match
        ("授权委托书　民法典", {"house-initial", "house-cancellation"}),  # ideographic space
        ("授权委托书 没有这个词", set()),
        ("ＰＬＡＮＮＩＮＧ－ＰＥＲＭＩＴ", {"planning-permit"} | LICENCE_ITEMS),  # full-width
        ("规划核实(验收)", {"house-initial"}),  # half-width brackets match full-width ones
        ("发证30本", {"house-initial"}),  # the text says "发证 30 本"
        ("测 绘 报 告", {"house-initial"}),  # single characters: each must match
        ("没有这个事项", set()),
    ],
)
def test_search_finds_exactly_the_matching_items(demo_app, query, expected):
    assert _search(Web(demo_app), q=query) == expected


def test_search_filters_by_department_and_kind(demo_app):
    web = Web(demo_app)
    assert _search(web, dept="housing") == {"house-initial", "house-cancellation"}
    assert _search(web, dept="housing_reg") == {"house-initial", "house-cancellation"}
    assert _search(web, dept="natural_resources") == {"planning-permit"} | LICENCE_ITEMS
    assert _search(web, kind="promised") == {"house-initial", "planning-permit"} | LICENCE_ITEMS
    assert _search(web, kind="immediate") == {"house-cancellation"}
    assert _search(web, kind="joint") == {"joint-investment"}
    assert _search(web, kind="reported") == set()
    assert _search(web, dept="housing", kind="promised") == {"house-initial"}
    assert _search(web, dept="housing", kind="promised", q="注销") == set()
    assert _search(web, dept="ndrc", q="授权委托书") == {"joint-investment"}
    assert _search(web, kind="nonsense") == LISTED  # an unknown kind is no filter
    html = web.get("/guide?q=%3Cscript%3Ealert(1)%3C/script%3E").text
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- the service guide ---------------------------------------------------------------------


STAFF_PHONES = [u["phone"] for u in CENTRE["users"] if u.get("phone")]


@pytest.mark.parametrize("code", item_codes())
def test_guide_shows_the_seven_disclosures_materials_diagram_and_phones(demo_app, code):
    entry = item_entry(code)
    html = Web(demo_app).get(f"/guide/{code}").text
    materials = _codes(html, "data-material")
    assert materials == [m["code"] for m in entry["materials"]]
    for material in entry["materials"]:
        assert material["name"] in html
        if material["note"]:
            assert material["note"] in html
    for key in ("legal_basis", "procedure_basis", "fee", "fee_basis", "window", "result"):
        assert entry[key] in html, key
    for condition in entry["conditions"]:
        assert condition in html
    for key in ("consult_phone", "supervision_phone"):
        assert f'data-field="{key}">{entry[key]}<' in html
    for key in ("statutory_days", "promised_days"):
        if entry[key] == 0:  # an immediate item (即办件) is done on the spot
            assert f'data-field="{key}">即办（当场办结）<' in html, key
            continue
        assert re.search(rf'data-field="{key}">\D*{entry[key]}\D', html), key
    # who decides: the item's authority (the registration agency for a registration)
    decided_by = html.split('data-field="decided_by">', 1)[1].split("<", 1)[0]
    agency = "示范市不动产登记中心"
    deciding = {"house-cancellation": agency, "house-initial": agency,
                "planning-permit": "示范市自然资源和规划局",
                "joint-investment": "示范市发展和改革委员会、"}  # fmt: skip
    assert decided_by.startswith(deciding[code])
    assert html.count('data-field="promised_rule"') == len(entry.get("promised_rules", []))
    svg = html.split('id="procedure"', 1)[1].split("</section>", 1)[0]
    assert "<svg" in svg and "受理" in svg  # the acceptance task of every demo diagram
    assert not any(phone in html for phone in STAFF_PHONES)  # no one's personal number


def test_guide_describes_the_promised_rules_with_the_form_labels(demo_app):
    html = Web(demo_app).get("/guide/house-initial").text
    assert "申请发证数量（本） &gt; 100" in html and "申请发证数量（本） ≥ 30" in html
    assert "certificates" not in html


def test_guide_of_an_unknown_or_retired_item_is_a_404_page(demo_app):
    web = Web(demo_app)
    assert "<h1>404</h1>" in web.get("/guide/no-such-item", expect=404).text
    with demo_app.app_context():
        session().execute(sa.update(Item).where(Item.code == CANCEL).values(active=False))
        session().commit()
    web.get(f"/guide/{CANCEL}", expect=404)
    assert CANCEL not in _search(web)


def test_guide_draws_the_newest_diagram_version(demo_app):
    from app.catalogue.services import deploy_file

    xml = (BASE_DIR / "bpmn" / f"{CANCEL}.bpmn").read_text("utf-8")
    renamed = xml.replace('name="登记审核"', 'name="登记审核（新版）"', 1)
    assert renamed != xml
    with demo_app.app_context():
        deploy_file(CANCEL, renamed.encode(), f"{CANCEL}.bpmn", None, "test")
    assert "登记审核（新版）" in Web(demo_app).get(f"/guide/{CANCEL}").text


# --- published results -----------------------------------------------------------------------


@dataclass
class Scene:
    """Cases of every fate, some with names to look for, decided at known times."""

    named: dict[str, str] = field(default_factory=dict)  # label -> case number
    generated: list[str] = field(default_factory=list)


_NUMBERS = itertools.count(1)


def _field_value(spec: dict):
    kind = spec.get("type")
    if kind == "long":
        return 5
    if kind == "boolean":
        return True
    if kind == "enum":
        return spec["options"][0]["id"]
    if kind == "date":
        return "2026-03-02"
    if spec.get("id", "").endswith("_no"):  # a document number is given once: a fresh one
        return f"测试〔2026〕{next(_NUMBERS)}号"
    return "同意"


def _work(app, case_no: str, outcome: str = "approve") -> str:
    """Work a case to its end as the people its tasks go to; reject where `outcome` says."""
    with app.app_context():
        db = session()
        users = {u.id: u for u in db.scalars(sa.select(User))}
        for _step in range(40):
            db.expire_all()
            case = db.scalars(sa.select(Case).where(Case.case_no == case_no)).one()
            task = db.scalars(
                sa.select(Task).where(Task.case_id == case.id, Task.state == "open")
                .order_by(Task.created_at, Task.name).limit(1)
            ).first()  # fmt: skip
            if task is None:
                return case.status
            pick = outcome if outcome in task.outcomes.split(",") else "approve"
            actor = users[task.assignee_id]
            fields = cases.open_task(actor, task.id).fields
            data = {f["id"]: _field_value(f) for f in fields}
            comment, basis = "同意", ""
            if pick == "reject":
                comment, basis = "不符合法定条件", "《不动产登记暂行条例》第二十二条"
            cases.complete_task(actor, task.id, pick, comment, data, basis)
    raise AssertionError(f"{case_no} did not end")


def _receive(app, name: str, n: int) -> str:
    """Receive a cancellation case with its own ID number and phone, and a secret in its form."""
    with app.app_context():
        clerk = session().scalars(sa.select(User).where(User.username == "clerk_liu")).one()
        applicant = cases.Applicant(name=name, id_number=f"11010119850101{n:04d}",
                                    phone=f"1391234{n:04d}")  # fmt: skip
        form = sample_form(CANCEL, certificate_no=SECRET_FORM)
        received = cases.receive_case(clerk, CANCEL, applicant, required_materials(CANCEL), form)
        return received.subject.case_no


def _scene(app) -> Scene:
    clock = {"now": utc(2026, 3, 2, 1, 0)}
    app.config["CLOCK"] = lambda: clock["now"]
    scene = Scene()

    def make(label: str, name: str, when: dt.datetime, outcome: str | None = "approve"):
        clock["now"] = when
        case_no = _receive(app, name, len(scene.named) + 1)
        scene.named[label] = case_no
        if outcome is not None:
            _work(app, case_no, outcome)
        return case_no

    make("person", "张三明", utc(2026, 3, 2, 1, 0))  # local 2026-03-02 09:00
    make("xss_person", XSS_PERSON, utc(2026, 3, 2, 17, 30))  # local 2026-03-03 01:30
    make("company", XSS_COMPANY, utc(2026, 3, 4, 2, 0))
    make("two_chars", "李华", utc(2026, 3, 4, 3, 0))
    make("denied", "王五明", utc(2026, 3, 4, 4, 0), "reject")
    make("open", "钱七明", utc(2026, 3, 4, 5, 0), None)
    withdrawn = make("withdrawn", "赵六明", utc(2026, 3, 4, 6, 0), None)
    with app.app_context():
        clerk = session().scalars(sa.select(User).where(User.username == "clerk_liu")).one()
        cases.withdraw_case(clerk, withdrawn, "申请人撤回申请")
    clock["now"] = utc(2026, 3, 5, 2, 0)

    def tick(_rnd):
        clock["now"] += dt.timedelta(minutes=7)

    scene.generated = generate(app, 10, seed=3, finish=0.7, before_step=tick)
    return scene


def _published_in_db(app) -> list[str]:
    with app.app_context():
        return list(session().scalars(
            sa.select(Case.case_no).where(Case.decision == "approved")
            .order_by(Case.decided_at.desc(), Case.id.desc())
        ))  # fmt: skip


def _every_case(app) -> list[Case]:
    with app.app_context():
        rows = list(session().scalars(sa.select(Case)))
        for row in rows:
            session().expunge(row)
        return rows


def _assert_nothing_personal(text: str, every_case: list[Case]) -> None:
    for case in every_case:
        assert case.applicant_id_number not in text, case.case_no
        assert case.applicant_phone not in text, case.case_no
        if public.public_name(case.applicant_name) != case.applicant_name:
            assert case.applicant_name not in text, case.case_no
    assert SECRET_FORM not in text
    assert "<script>" not in text


def test_results_publish_exactly_the_granted_licences(demo_app):
    scene = _scene(demo_app)
    every_case = _every_case(demo_app)
    statuses = {c.case_no: (c.status, c.decision) for c in every_case}
    assert statuses[scene.named["denied"]] == ("decided", "denied")
    assert statuses[scene.named["withdrawn"]] == ("withdrawn", None)
    assert statuses[scene.named["open"]][0] in ("accepted", "in_progress")
    kinds = {statuses[n] for n in scene.generated}
    assert ("decided", "approved") in kinds and ("decided", "denied") in kinds
    assert any(status in ("accepted", "in_progress") for status, _d in kinds)

    expected = _published_in_db(demo_app)
    html = Web(demo_app).get("/results").text
    assert _codes(html, "data-case") == expected  # the same cases, newest decision first
    for label in ("denied", "withdrawn", "open"):
        assert scene.named[label] not in html
    assert f'data-total="{len(expected)}"' in html
    _assert_nothing_personal(html, every_case)
    # a person's name masked, an organisation's in full (escaped)
    assert ">张*明<" in html and ">李*<" in html
    assert "&lt;" + "*" * (len(XSS_PERSON) - 2) + "&gt;" in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;建设有限公司" in html
    row = html.split(f'data-case="{scene.named["person"]}"', 1)[1].split("</tr>", 1)[0]
    assert "2026-03-02" in row and item_entry(CANCEL)["result"] in row and "房屋注销登记" in row


def test_results_filter_by_item_and_local_dates(demo_app):
    scene = _scene(demo_app)
    web = Web(demo_app)
    expected = _published_in_db(demo_app)

    def shown(**params) -> list[str]:
        return _codes(web.get("/results", query_string=params).text, "data-case")

    with demo_app.app_context():
        by_item = dict(session().execute(
            sa.select(Case.case_no, Item.code).join(Item, Item.id == Case.item_id)
        ).all())  # fmt: skip
    for code in item_codes():
        assert shown(item=code) == [n for n in expected if by_item[n] == code]
    person, night = scene.named["person"], scene.named["xss_person"]
    # decided 17:30 UTC on 2 March is 01:30 on 3 March in the centre
    assert shown(**{"from": "2026-03-02", "to": "2026-03-02"}) == [person]
    assert shown(**{"from": "2026-03-03", "to": "2026-03-03"}) == [night]
    assert shown(**{"to": "2026-03-03"}) == [night, person]
    assert shown(**{"from": "2026-03-05"}) == [n for n in expected if n in scene.generated]
    assert shown(**{"from": "2026-03-06"}) == []
    assert 'data-empty="results"' in web.get("/results?from=2030-01-01").text
    web.get("/results?from=yesterday", expect=400)


def test_results_are_paginated_newest_first(demo_app, monkeypatch):
    _scene(demo_app)
    expected = _published_in_db(demo_app)
    assert len(expected) > 6
    monkeypatch.setattr(public, "RESULTS_PER_PAGE", 3)
    web = Web(demo_app)
    pages, seen, page = -(-len(expected) // 3), [], 1
    while True:
        html = web.get(f"/results?page={page}").text
        seen += _codes(html, "data-case")
        assert f'data-page="{page}"' in html
        if 'rel="next"' not in html:
            break
        page += 1
    assert page == pages and seen == expected
    # past the last page: the last page; nonsense: the first
    assert _codes(web.get("/results?page=999").text, "data-case") == expected[(pages - 1) * 3 :]
    assert _codes(web.get("/results?page=x").text, "data-case") == expected[:3]


def test_feed_has_the_same_entries_masked_and_escaped(demo_app):
    scene = _scene(demo_app)
    every_case = _every_case(demo_app)
    expected = _published_in_db(demo_app)
    resp = Web(demo_app).get("/results.atom")
    assert resp.mimetype == "application/atom+xml"
    _assert_nothing_personal(resp.text, every_case)
    feed = etree.fromstring(resp.data)
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    titles = [e.findtext(f"{ATOM}title").split(" ", 1)[0] for e in entries]
    assert titles == expected[: public.FEED_ENTRIES]
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(set(ids)) == len(ids) and all(i.startswith("tag:") for i in ids)
    summaries = {e.findtext(f"{ATOM}title").split(" ", 1)[0]: e.findtext(f"{ATOM}summary")
                 for e in entries}  # fmt: skip
    assert "张*明" in summaries[scene.named["person"]]
    assert XSS_COMPANY in summaries[scene.named["company"]]  # text, escaped in the XML
    assert "&lt;script&gt;alert(2)" in resp.text
    assert feed.findtext(f"{ATOM}updated") == entries[0].findtext(f"{ATOM}updated")
    self_link = feed.find(f"{ATOM}link[@rel='self']").get("href")
    assert self_link.endswith("/results.atom")
    # the feed takes the page's filters
    only = etree.fromstring(Web(demo_app).get(f"/results.atom?item={CANCEL}").data)
    cancel = set(_codes(Web(demo_app).get(f"/results?item={CANCEL}").text, "data-case"))
    numbers = {e.findtext(f"{ATOM}title").split(" ", 1)[0] for e in only.iter(f"{ATOM}entry")}
    assert numbers == cancel


def test_an_empty_feed_is_valid(demo_app):
    feed = etree.fromstring(Web(demo_app).get("/results.atom").data)
    assert feed.findtext(f"{ATOM}updated") and feed.findall(f"{ATOM}entry") == []


def test_item_text_with_markup_renders_as_text_everywhere(demo_app):
    payload = '<img src=x onerror="alert(3)">'
    with demo_app.app_context():
        item = session().scalars(sa.select(Item).where(Item.code == CANCEL)).one()
        entry = dict(item.entry)
        entry["result"] = f"证书{payload}"
        first, *others = entry["materials"]
        entry["materials"] = [{**first, "name": f"材料{payload}"}, *others]
        item.name, item.entry = f"注销{payload}", entry
        session().commit()
    case_no = _receive(demo_app, "孙八明", 1)
    assert _work(demo_app, case_no) == "decided"
    web = Web(demo_app)
    for path in ("/guide", f"/guide/{CANCEL}", "/results", "/results.atom"):
        text = web.get(path).text
        assert "<img" not in text and "&lt;img src=x" in text, path


def test_public_pages_need_no_log_in_and_change_nothing(demo_app):
    anonymous, clerk = Web(demo_app), Web(demo_app, "clerk_liu")
    for path in ("/guide", f"/guide/{CANCEL}", "/results", "/results.atom"):
        assert anonymous.get(path).status_code == 200
        assert clerk.get(path).status_code == 200
    for path in ("/guide", f"/guide/{CANCEL}", "/results", "/results.atom"):
        assert anonymous.client.post(path).status_code in (400, 405)


# --- masking and matching, without a database ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("张三明", "张*明"),
        ("李华", "李*"),
        ("欧阳小明", "欧**明"),
        ("王", "王*"),
        ("  张三明 ", "张*明"),
        ("张三明、李华", "张*明、李*"),
        ("示范市某某建设有限公司", "示范市某某建设有限公司"),
        ("红星机械厂", "红星机械厂"),
        ("绿源农民专业合作社", "绿源农民专业合作社"),
        ("某某律师事务所（特殊普通合伙）", "某某律师事务所（特殊普通合伙）"),
        ("张厂", "张*"),  # too short to be an organisation
        ("", "—"),
        (None, "—"),
    ],
)
def test_public_name(name, shown):
    assert public.public_name(name) == shown


def test_normalise_and_query_words():
    assert public.normalise("Ｐｌａｎ　（验收）\t30 本") == "plan(验收)30本"
    assert public.query_words(" 测绘，报告　规划 ") == ["测绘", "报告", "规划"]
    assert public.query_words("   ") == []
