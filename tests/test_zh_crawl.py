"""Chinese first, everywhere: every page every role can reach, in zh, has no English on it.

A demo centre with a past (cases received, worked, decided, denied, refused, supplemented,
paused, extended, withdrawn, faulted, urged, rated, complained about; online applications in
every state; an official on leave) is crawled as each demo role in Chinese: every GET route of
the app with its path filled from that past, every link found on the pages, and every form on
them submitted once empty, so its error path is seen too. The visible text (tags, scripts and
styles stripped; title, alt, placeholder, aria-label and button values kept) may hold no Latin
word outside a short list of acronyms and units; text marked as code (`<code>`, `<kbd>`,
`<samp>`) is left out: that is where an analyst or admin sees an internal id beside its name.
A failure lists, per role and route, the URL and the words found.

The crawl (about a minute) runs on SQLite only: what it checks is the pages' words, the same
on both databases.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections import defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
import sqlalchemy as sa
from werkzeug.exceptions import HTTPException

from app.applicants.models import FollowUp
from app.cases.models import Case, Task
from app.db import session
from app.org.models import Department, Post, User
from config import BASE_DIR
from tests.apiclient import Api, required_materials, sample_form
from tests.casegen import generate, item_codes
from tests.webclient import Web

# the roles of README "Roles and demo accounts"; official A and B of one post (房屋登记审核岗)
ROLES = {
    "public": None,
    "applicant": "applicant_he",
    "clerk": "clerk_liu",
    "official_a": "official_zhao",
    "official_b": "official_qian",
    "leader": "leader_wang",
    "head": "head_lin",
    "supervisor": "supervisor_wu",
    "auditor": "auditor_sun",
    "analyst": "analyst_zhou",
    "admin": "admin",
}
# acronyms and units a Chinese page may carry, and the language switch's own name
ALLOWED = {
    "a", "b", "pdf", "api", "id", "qr", "bpmn", "csv", "xes", "ok", "url", "ip", "json",
    "xml", "png", "svg", "utc", "pem", "sha", "hmac", "english", "atom", "jpeg", "dwg", "kb",
    "xlsx", "ieee",
}  # fmt: skip
WORD = re.compile(r"[A-Za-z]+")
# numbers people quote or type: online applications (WS…), complaints (TS-…), a query code in
# a message, a task's id in its address, a week or quarter typed as a period (2026-W48)
NUMBERS = re.compile(
    r"\b(?:WS|TS-)\d+(?:-\d+)?|(?<=查询码)\s*[A-Z0-9]{6}\b"
    r"|\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b\d{4}-[WQ]\d{1,2}\b"
)
CODE_TAGS = {"code", "kbd", "samp"}
HIDDEN_TAGS = {"script", "style", "template", "textarea"}  # a textarea holds what was typed
SHOWN_ATTRS = ("title", "alt", "placeholder", "aria-label")
# posts that end the crawler's own session or switch its language: not error paths
SKIP_POSTS = ("/logout", "/language", "/account/sessions/", "/sessions/end")
PER_ENDPOINT = 12  # distinct URLs of one route visited per role (cases, tasks, filters...)


class Page(HTMLParser):
    """The visible text of a page (code left out), its links and its forms."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.links: list[str] = []
        self.forms: list[dict] = []
        self._hidden = 0
        self._code = 0
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag in HIDDEN_TAGS:
            self._hidden += 1
        if tag in CODE_TAGS:
            self._code += 1
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"),
                               "fields": {}})  # fmt: skip
        if tag in ("input", "textarea", "button") and self.forms and a.get("name"):
            kind = a.get("type", "")
            keep = kind == "hidden" or (tag == "button" and a.get("value"))
            if kind not in ("checkbox", "radio", "file"):  # sent only when chosen
                self.forms[-1]["fields"].setdefault(a["name"], a.get("value", "") if keep else "")
        if tag == "select" and self.forms:
            self._select = None if "multiple" in a else a.get("name")
        if tag == "option" and self.forms and self._select:  # a browser sends the first one
            self.forms[-1]["fields"].setdefault(self._select, a.get("value", ""))
        if self._code:
            return
        shown = [a[k] for k in SHOWN_ATTRS if a.get(k)]
        if tag == "input" and a.get("type") in ("submit", "button", "reset"):
            shown.append(a.get("value", ""))
        self.text += shown

    def handle_endtag(self, tag):
        if tag in HIDDEN_TAGS and self._hidden:
            self._hidden -= 1
        if tag in CODE_TAGS and self._code:
            self._code -= 1

    def handle_data(self, data):
        if not self._hidden and not self._code:
            self.text.append(data)


def english(texts: list[str]) -> list[str]:
    """The runs of text holding a Latin word outside the allowed acronyms, each shortened."""
    found = []
    for text in texts:
        for line in text.splitlines():
            words = NUMBERS.sub(" ", line)
            words = [w for w in WORD.findall(words) if w.lower() not in ALLOWED]
            if words:
                found.append(" ".join(line.split())[:90])
    return found


# --- a centre with a past --------------------------------------------------------------------


@dataclass
class Past:
    """The objects a crawl fills route parameters from."""

    values: dict[str, list] = field(default_factory=lambda: defaultdict(list))


def _users(db) -> dict[str, User]:
    return {u.username: u for u in db.scalars(sa.select(User))}


def _window_cases(app, past: Past) -> None:
    """Cases at the window: one waiting for supplements, one supplemented, one refused, one
    withdrawn, one paused and resumed, one paused, one extended by the head."""
    from app.cases import deadlines
    from app.cases import services as cases

    api = Api(app.test_client())
    joint = "joint-investment"
    short = required_materials(joint)[:-1]
    waiting = api.apply(joint, sample_form(joint), materials=short)["case_no"]
    supplemented = api.apply(joint, sample_form(joint), materials=short)["case_no"]
    refused = api.apply(joint, sample_form(joint), materials=short)["case_no"]
    permit = "planning-permit"
    withdrawn, paused, resumed, extended = (
        api.apply(permit, sample_form(permit, floor_area=5000))["case_no"] for _ in range(4)
    )
    with app.app_context():
        db = session()
        u = _users(db)
        cases.submit_supplement(u["clerk_liu"], supplemented, required_materials(joint))
        cases.refuse_case(u["clerk_liu"], refused, "不属于本中心职权范围", "行政许可法第三十二条")
        cases.withdraw_case(u["clerk_liu"], withdrawn, "申请人书面撤回")
        deadlines.pause_case(u["clerk_liu"], paused, "expert_review", "组织专家评审", 5)
        deadlines.pause_case(u["clerk_liu"], resumed, "hearing", "听证", 3)
        deadlines.resume_case(u["clerk_liu"], resumed)
        deadlines.extend_case(u["head_lin"], extended, 5, "需现场核查")
        db.commit()
    past.values["case_no"] += [waiting, supplemented, refused, withdrawn, paused, resumed,
                               extended]  # fmt: skip


def _ended_cases(app, past: Past) -> None:
    """A joint case denied (one department refuses, the denial is issued) and one stopped in
    the fault state (a completion past the step limit)."""
    from workflows.engine import StepLimits

    api = Api(app.test_client())
    joint = "joint-investment"
    opinions = (("Task_land", "land_opinion"), ("Task_construction", "construction_opinion"),
                ("Task_env", "env_opinion"))  # fmt: skip
    denied, faulted = (api.apply(joint, sample_form(joint))["case_no"] for _ in range(2))
    for case_no in (denied, faulted):
        for spec, field_id in opinions:
            api.work(case_no, spec, data={field_id: "同意"})
    refusal = {"ndrc_opinion": "不予核准", "legal_basis": "《企业投资项目核准和备案管理条例》"}
    api.work(denied, "Task_ndrc", "reject", "不符合产业政策", refusal)
    api.work(denied, "Task_denial")
    engine = app.extensions["ow_runtime"].engine
    engine.limits = StepLimits(max_tasks=0)  # the join after the last branch runs no more
    api.work(faulted, "Task_ndrc", data={"ndrc_opinion": "同意"}, expect=409)
    engine.limits = StepLimits()
    past.values["case_no"] += [denied, faulted]


def _worked_cases(app, past: Past) -> None:
    """Generated cases of every item worked to their ends (approved, denied, returned) or left
    part way; a transfer, an urging notice, a supervision opinion, ratings and cards."""
    from app.applicants import evaluations, kiosk
    from app.cases import services as cases
    from app.supervision import opinions
    from app.supervision import services as supervision

    numbers = generate(app, 10, seed=20, finish=0.6)
    with app.app_context():
        db = session()
        u = _users(db)
        rows = db.scalars(sa.select(Case).where(Case.case_no.in_(numbers))).all()
        decided = [c for c in rows if c.status == "decided"]
        running = [c for c in rows if c.status == "in_progress"]
        for case, level in zip(decided, (1, 5, 3), strict=False):
            evaluations.rate(case, level, "等待时间太长" if level < 3 else "", "online")
        if running:
            task = db.scalars(sa.select(Task).where(Task.case_id == running[0].id,
                                                    Task.state == "open")).first()  # fmt: skip
            supervision.urge(u["supervisor_wu"], running[0].case_no, "请加快办理")
            opinions.enter_opinion(u["supervisor_wu"], running[0].case_no, "请依法办理")
            if task is not None and task.post_id is not None:
                other = db.scalars(
                    sa.select(User).join(Post, sa.or_(Post.a_user_id == User.id,
                                                      Post.b_user_id == User.id))
                    .where(Post.id == task.post_id, User.id != task.assignee_id)
                ).first()  # fmt: skip
                if other is not None and task.assignee_id is not None:
                    cases.transfer_task(db.get(User, task.assignee_id), task.id, other.id,
                                        "工作调整")  # fmt: skip
        db.commit()
        supervision.scan(dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=60))
        db.commit()
        past.values["case_no"] += [c.case_no for c in decided[:2] + running[:2]]
        if decided:  # the rating tablet the clerk opens for a decided case
            past.values["token"].append(kiosk.open_kiosk(u["clerk_liu"], decided[-1].case_no))


def _online(app, past: Past) -> None:
    """applicant_he's online applications: a draft, one submitted, one asked for supplements,
    one accepted; a complaint, and the follow-up of a bad rating."""
    from app.applicants import applications
    from app.complaints import services as complaints

    form = {"certificate_no": "示房权证第1号", "house_address": "东路 8 号",
            "cancel_reason": "房屋灭失"}  # fmt: skip
    with app.app_context():
        db = session()
        u = _users(db)
        he, clerk = u["applicant_he"], u["clerk_liu"]
        numbers = []
        for stop in ("draft", "submitted", "supplement", "accepted"):
            online = applications.start(he, "house-cancellation", form)
            given = required_materials("house-cancellation") if stop == "accepted" else []
            for code in ["application", *given[1:]]:
                up = applications.attach(he, online.number, code, io.BytesIO(b"%PDF-1.4 x"),
                                         f"材料{len(code)}.pdf")  # fmt: skip
            if stop != "draft":
                applications.submit(he, online.number, missing_confirmed=True)
            if stop == "supplement":
                applications.request_supplements(clerk, online.number, ["certificate"],
                                                 "请补交房屋所有权证")  # fmt: skip
            if stop == "accepted":
                applications.accept(clerk, online.number)
            numbers.append(online.number)
            past.values["upload_id"].append(up.id)
        ndrc = db.scalar(sa.select(Department.id).where(Department.code == "ndrc"))
        new = complaints.NewComplaint(
            channel="phone", complainant_name="王小明", complainant_phone="13912345678",
            subject="办理超时", content="材料交齐两周无消息", department_id=ndrc)  # fmt: skip
        complaint = complaints.register(u["supervisor_wu"], new).number
        complaints.add_note(u["official_xiao"], complaint, "已核查")
        db.commit()
        past.values["application"] += numbers
        past.values["complaint"].append(complaint)
        past.values["follow_id"] += db.scalars(sa.select(FollowUp.id)).all()


def _absence(app) -> None:
    """official_zhao (A of 房屋登记审核岗) on leave from now: his tasks go to official_qian."""
    from app.org import absences

    with app.app_context():
        db = session()
        u = _users(db)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        absences.register_absence(u["official_zhao"], u["official_zhao"].id, "leave",
                                  now - dt.timedelta(hours=1), now + dt.timedelta(days=3),
                                  "年休假")  # fmt: skip
        db.commit()


def _draft(app) -> None:
    """The analyst's draft of the planning permit: a task renamed, a flow sent on to a new task
    with no post. The modeler's page shows its validation report, the difference page its
    changes, the dry run its refusal."""
    api = Api(app.test_client())
    xml = (BASE_DIR / "bpmn" / "planning-permit.bpmn").read_text("utf-8")
    orphan = '<bpmn:userTask id="Task_orphan" name="孤立环节" />'
    xml = xml.replace("</bpmn:process>", orphan + "</bpmn:process>", 1)
    xml = xml.replace('name="主办科室承办"', 'name="主办科室承办（含现场踏勘）"', 1)
    retarget = r'(<bpmn:sequenceFlow id="Flow_lead_approve"[^>]*targetRef=")[^"]+'
    xml = re.sub(retarget, r"\1Task_orphan", xml)
    resp = api.client.put(
        "/api/v1/items/planning-permit/draft",
        data=xml.encode(),
        headers={"Authorization": f"Bearer {api.token('analyst_zhou')}"},
    )
    assert resp.status_code == 200, resp.get_json()


def _plan(app, past: Past) -> None:
    """A plan to move the running planning permits to a second version (renamed, added and
    removed stages), waiting for the head's approval; the analyst's draft stays as it was."""
    from tests.variants import PLANNING_MAPPING, planning_v2

    api = Api(app.test_client())
    headers = {"Authorization": f"Bearer {api.token('analyst_zhou')}"}
    resp = api.client.put("/api/v1/items/planning-permit/draft", data=planning_v2(),
                          headers=headers)  # fmt: skip
    assert resp.status_code == 200, resp.get_json()
    api.call("POST", "/items/planning-permit/deploy", "analyst_zhou", 201,
             json={"comment": "取消集体研究"})  # fmt: skip
    plan = api.call("POST", "/items/planning-permit/migrations", "analyst_zhou", 201,
                    json={"source": 1, "target": 2, "mapping": PLANNING_MAPPING})  # fmt: skip
    past.values["plan_id"].append(plan["plan"])
    _draft(app)


def _verbs(app, past: Past) -> None:
    """A planning permit whose lead stage was delegated (委派) to official_qian and sent to
    him for information (抄送): his inbox lists both, his page of delegated work opens."""
    api = Api(app.test_client())
    case_no = api.apply("planning-permit", sample_form("planning-permit"))["case_no"]
    [task] = api.open_tasks(case_no)
    api.call("POST", f"/cases/{case_no}/copies", task["assignee"], 201,
             json={"to": ["official_qian"], "reason": "请知悉"})  # fmt: skip
    made = api.call("POST", f"/tasks/{task['id']}/delegate", task["assignee"], 201,
                    json={"to": "official_qian", "reason": "请先拟写意见"})  # fmt: skip
    past.values["delegation_id"].append(made["delegation"])


def build_past(app) -> Past:
    """Make the history, then collect the ids its routes take."""
    past = Past()
    _draft(app)
    _window_cases(app, past)
    _ended_cases(app, past)
    _worked_cases(app, past)
    _online(app, past)
    _verbs(app, past)
    _absence(app)
    _plan(app, past)
    with app.app_context():
        db = session()
        tasks = db.scalars(sa.select(Task.id).order_by(Task.state, Task.created_at)).all()
        past.values["task_id"] = [str(t) for t in tasks[:3] + tasks[-2:]]
        past.values["code"] = item_codes()
        past.values["user_id"] = [u.id for u in _users(db).values()
                                  if u.username in ("official_zhao", "admin")]  # fmt: skip
        past.values["post_id"] = db.scalars(sa.select(Post.id).limit(2)).all()
        past.values["dept_id"] = db.scalars(sa.select(Department.id).limit(2)).all()
    return past


# --- the crawl -------------------------------------------------------------------------------

# a route's <number> is a complaint's (NUMBER_OF) or else an online application's (PARAM)
NUMBER_OF = {"web.complaint": "complaint"}
PARAM = {"number": "application"}
NOT_PAGES = {"static", "web.results_feed", "web.stats_export", "web.stats_report",
             "web.case_notice", "web.application_notice", "web.audit_export",
             "web.audit_checkpoint_download", "web.analyst_xml", "web.my_file"}  # fmt: skip


def seeds(app, past: Past) -> list[str]:
    """Every GET route of the web pages, its path filled from the past (a few of each)."""
    out = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint.startswith("api.") \
                or rule.endpoint in NOT_PAGES:  # fmt: skip
            continue
        choices = [{}]
        for arg in rule.arguments:
            key = NUMBER_OF.get(rule.endpoint) if arg == "number" else None
            values = past.values.get(key or PARAM.get(arg, arg), [])
            choices = [{**c, arg: v} for c in choices for v in values]
        for args in choices[:PER_ENDPOINT]:
            try:
                out.append(rule.build(args, append_unknown=False)[1])
            except (HTTPException, ValueError, TypeError):
                continue
    return list(dict.fromkeys(out))  # in the past's order: cases in every state first


@dataclass
class Crawl:
    """What one role's crawl saw: per route, the URLs visited and the English found."""

    role: str
    visited: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    found: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    forms: set[str] = field(default_factory=set)


def _endpoint(app, path: str, method: str = "GET") -> str | None:
    adapter = app.url_map.bind("localhost")
    try:
        return adapter.match(urlsplit(path).path, method=method)[0]
    except HTTPException:
        return None


def _local(base: str, href: str) -> str | None:
    """A same-site page link relative to `base`, or None."""
    url = urljoin("http://localhost" + base, href)
    parts = urlsplit(url)
    if parts.netloc != "localhost" or parts.path.startswith(("/api/", "/static/")):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _look(crawl: Crawl, key: str, url: str, resp) -> Page | None:
    """Read an HTML answer: note the English on it under `key` and `url`; return the page."""
    if resp.mimetype != "text/html":
        return None
    page = Page()
    page.feed(resp.get_data(as_text=True))
    words = english(page.text)
    if words:
        crawl.found[(key, url)] = words
    return page


def _submit_empty(app, crawl: Crawl, web: Web, base: str, form: dict) -> None:
    """Submit a form once with its visible fields empty, to see its error path."""
    action = _local(base, form["action"] or base)
    if action is None or any(s in action for s in SKIP_POSTS):
        return
    method = form["method"].lower()
    endpoint = _endpoint(app, action, "POST" if method == "post" else "GET")
    key = f"{method.upper()} {endpoint}"
    if endpoint is None or key in crawl.forms:
        return
    crawl.forms.add(key)
    data = {k: v for k, v in form["fields"].items() if k != "csrf_token"}
    if method == "post":
        resp = web.post(action, data, expect=None, follow_redirects=True)
    else:
        resp = web.client.get(action, query_string=data, follow_redirects=True)
    if resp.status_code >= 500:
        crawl.found[(key, action)] = [f"HTTP {resp.status_code}"]
    _look(crawl, key, action, resp)


def crawl_as(app, role: str, username: str | None, past: Past) -> Crawl:
    """Visit the seeds and the links found, as one person in zh; try every form once."""
    web = Web(app, username, lang="zh")
    if username is None:
        web.get("/login")
        web.post("/language", {"lang": "zh", "next": "/"})
    crawl = Crawl(role)
    queue = ["/", *seeds(app, past)]
    seen: set[str] = set()
    while queue:
        url = queue.pop(0)
        endpoint = _endpoint(app, url)
        if url in seen or endpoint is None or endpoint in NOT_PAGES:
            continue
        if len(crawl.visited.get(endpoint, ())) >= PER_ENDPOINT:
            continue
        seen.add(url)
        resp = web.get(url, expect=None, follow_redirects=True)
        if resp.status_code >= 500:
            crawl.found[(endpoint, url)] = [f"HTTP {resp.status_code}"]
        page = _look(crawl, endpoint, url, resp)
        if resp.status_code == 200 and (resp.request.path != "/login" or url == "/login"):
            crawl.visited[endpoint].add(url)  # answered, not refused nor sent to log in
        if page is None or resp.status_code != 200:
            continue
        queue += [u for u in (_local(url, h) for h in page.links) if u and u not in seen]
        for form in page.forms:
            _submit_empty(app, crawl, web, url, form)
    return crawl


def report(crawls: list[Crawl]) -> str:
    """Per role and route, the URL and the text found; text a role saw on an earlier route
    is not repeated."""
    lines = []
    for crawl in crawls:
        told: set[str] = set()
        for (key, url), words in sorted(crawl.found.items()):
            new = [w for w in dict.fromkeys(words) if w not in told]
            told.update(new)
            if new:
                lines.append(f"[{crawl.role}] {key} {url}")
                lines += [f"    {w}" for w in new]
    return "\n".join(lines)


def test_the_reader_finds_english_but_not_code_nor_numbers():
    page = Page()
    page.feed(
        "<title>任务 · 一窗通办</title><style>p {color: red}</style><script>var x = 1;</script>"
        "<p>时限 12d</p><p>环节 <code>Task_review</code> 审核</p><img alt='diagram' src='x.png'>"
        "<button>同意</button><input type='submit' value='Save'><a title='查看'>WS20261205001</a>"
        "<p>查询码 CQLM2Q，投诉 TS-20261205-0001，PDF 文件</p><pre><kbd>make run</kbd></pre>"
        "<form method='post' action='/x'><input type='hidden' name='csrf_token' value='t'>"
        "<input name='reason'><select name='kind'><option value='leave'>请假</option></select>"
        "<input type='checkbox' name='confirm'></form>"
    )
    assert english(page.text) == ["时限 12d", "diagram", "Save"]
    fields = {"csrf_token": "t", "reason": "", "kind": "leave"}  # no checkbox: not ticked
    assert page.forms == [{"action": "/x", "method": "post", "fields": fields}]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_page_and_error_path_is_chinese_for_every_role(demo_app):
    past = build_past(demo_app)
    crawls = [crawl_as(demo_app, role, user, past) for role, user in ROLES.items()]
    pages = {e for c in crawls for e in c.visited}
    routes = {r.endpoint for r in demo_app.url_map.iter_rules() if "GET" in r.methods
              and not r.endpoint.startswith("api.") and r.endpoint not in NOT_PAGES}  # fmt: skip
    summary = "\n".join(f"{c.role}: {len(c.visited)} routes, "
                        f"{sum(map(len, c.visited.values()))} pages, {len(c.forms)} forms"
                        for c in crawls)  # fmt: skip
    print(summary)
    assert routes - pages == set(), f"routes no role reached:\n{summary}"
    assert not any(c.found for c in crawls), "English on Chinese pages:\n" + report(crawls)
