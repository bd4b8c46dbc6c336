"""Hostile input in every free-text field: stored through the pages and the API, shown escaped.

One scene per database: markup payloads are typed into every field a user can type into
(applicant names, item form fields, completion comments, return and rejection reasons and
legal bases, transfer, pause, extension and withdrawal reasons, urging notices, refusals at
the window, supplement notes of online applications, uploaded file names, absence reasons,
complaints with their notes and replies, ratings and follow-ups, analysts' diagram names and
deploy comments, admin's department, post and user names, calendar sources and holiday names,
the reason for viewing unmasked personal data, registration). Then every page of
tests/test_authz.py (and the case, audit, online and search pages of the scene's objects) is
fetched by each role allowed to see it, and parsed with lxml.html: no <script> element
without src, no on* attribute, no javascript: link and no <img src=x> may come from the
payloads, and pages that must show a payload show it as text. Every HTML answer, refusals
and errors included, carries the CSP (no 'unsafe-inline' for scripts, frame-ancestors) and
nosniff. tests/test_complaints.py and tests/test_public.py check the complaint page and the
public results for their own payloads; this file covers the rest and every role.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from xml.sax.saxutils import quoteattr
from zoneinfo import ZoneInfo

import lxml.html
import sqlalchemy as sa

from app.applicants.models import FollowUp, Upload
from app.db import session
from app.org.models import Department, Post, User
from config import BASE_DIR
from tests.apiclient import Api, item_entry, required_materials, sample_form
from tests.test_authz import PEOPLE, PUBLIC, WEB_GETS
from tests.webclient import Web

JOINT, CANCEL = "joint-investment", "house-cancellation"
JOINT_XML = (BASE_DIR / "bpmn" / f"{JOINT}.bpmn").read_text("utf-8")
MARK = "XSS"
# every vector in one string (115 characters); SHORT for fields of at most 100
PAYLOAD = (
    'javascript:alert(1)//"><img src=x onerror=alert(1)><script>alert(1)</script>'
    "</textarea><svg onload=alert(1)>{{7*7}}"
)
SHORT = '"><img src=x onerror=alert(1)><script>alert(1)</script>{{7*7}}'
TEXT_SIGN = "<script>alert(1)</script>"  # what a page shows when it escaped a payload
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}
NOT_HTML = (".pdf", ".csv", ".atom", ".xlsx", "/bpmn?version=1")


def _p(field: str) -> str:
    """The payload, tagged with the field it was typed into (to say which one leaked)."""
    return f"{MARK}:{field}:{PAYLOAD}"


def _short(field: str) -> str:
    return f"{MARK}:{field}:{SHORT}"


def _ok(resp, what: str) -> None:
    assert resp.status_code in (200, 201, 302), (what, resp.status_code, resp.text[:600])
    if resp.status_code == 302:
        assert "/login" not in resp.headers["Location"], what


def _follow(web: Web, resp, what: str) -> None:
    """Follow a redirect and fail on an error flash: the payload must have been stored."""
    _ok(resp, what)
    if resp.status_code == 302:
        page = web.get(resp.headers["Location"], expect=None).text
        assert 'class="flash error"' not in page, (what, page[-1500:])


def _form(code: str, tag: str, prefix: str = "") -> dict:
    """A valid form of the item with the payload in every free-text (string) field."""
    types = {f["id"]: f["type"] for f in item_entry(code).get("form", [])}
    return {prefix + k: (_p(f"{tag}{k}") if types.get(k) == "string" else str(v))
            for k, v in sample_form(code).items()}  # fmt: skip


def _case_no(resp) -> str:
    return re.search(r"/cases/(\d+)", resp.headers["Location"]).group(1)


def _user_id(app, username: str) -> int:
    with app.app_context():
        return session().scalar(sa.select(User.id).where(User.username == username))


def _store_everything(app) -> dict:
    """Type a payload into every free-text field; return the ids of what was made."""
    api = Api(app.test_client())
    ids: dict = {}
    admin, clerk = Web(app, "admin"), Web(app, "clerk_liu")
    supervisor = Web(app, "supervisor_wu")

    # admin: a department, a user and a post with markup names; a calendar year
    _follow(admin, admin.post("/admin/departments", {"code": "xss_dept", "name": _p("dept"),
                                                     "kind": "bureau", "parent_id": "0"},
                              expect=None), "department")  # fmt: skip
    with app.app_context():
        dept = session().scalar(sa.select(Department.id).where(Department.code == "xss_dept"))
    _follow(admin, admin.post("/admin/users/new", {
        "username": "xss_person", "name": _short("user"), "roles": ["official"],
        "department_id": str(dept), "password": "long-enough-1", "active": "y"},
        expect=None), "user")  # fmt: skip
    _follow(admin, admin.post("/admin/posts/new", {
        "code": "xss_post", "name": _p("post"), "department_id": str(dept),
        "a_user_id": str(_user_id(app, "xss_person")), "b_user_id": "0",
        "leader_user_id": "0"}, expect=None), "post")  # fmt: skip
    _follow(admin, admin.post("/admin/calendar", {
        "year": "2031", "source": _p("calendar-source"),
        "holidays": "2031-01-01 " + _short("holiday"), "workdays": ""}, expect=None),
        "calendar")  # fmt: skip

    # the analyst: a draft whose first task is named with markup, deployed with a comment
    analyst = Web(app, "analyst_zhou")
    analyst.get("/notifications")
    named = JOINT_XML.replace('name="项目核准"', f"name={quoteattr(_p('task-name'))}", 1)
    saved = analyst.client.post(f"/analyst/items/{JOINT}/draft", data=named.encode(),
                                headers={"X-CSRFToken": analyst.token,
                                         "Content-Type": "application/xml"})  # fmt: skip
    assert saved.status_code == 200 and saved.get_json()["errors"] == 0, saved.get_json()
    deployed = analyst.client.post(f"/analyst/items/{JOINT}/deploy",
                                   json={"comment": _p("deploy-comment"), "confirm": True},
                                   headers={"X-CSRFToken": analyst.token})  # fmt: skip
    assert deployed.status_code == 201, deployed.get_json()
    # and a newer draft again (the edit and diff pages show the draft against the version)
    saved = analyst.client.post(f"/analyst/items/{JOINT}/draft",
                                data=named.replace('name="用地预审"',
                                                  f"name={quoteattr(_p('draft-name'))}").encode(),
                                headers={"X-CSRFToken": analyst.token,
                                         "Content-Type": "application/xml"})  # fmt: skip
    assert saved.status_code == 200, saved.get_json()

    # the window: an accepted joint case with markup in the applicant and the form
    form = _form(JOINT, "form-", "a_")
    resp = clerk.post(f"/window/receive/{JOINT}", {
        "applicant_name": _p("applicant"), "applicant_id_number": "91330100MA2H000009",
        "applicant_phone": "057188880000", "decision": "accept",
        "materials": required_materials(JOINT), **form}, expect=None)  # fmt: skip
    _follow(clerk, resp, "receive")
    ids["case"] = case_no = _case_no(resp)
    # refused at the window, with markup in the reason and the legal basis
    resp = clerk.post(f"/window/receive/{JOINT}", {
        "applicant_name": _p("refused-applicant"), "applicant_id_number": "91330100MA2H000009",
        "decision": "refuse", "refuse_reason": _p("window-refusal"),
        "refuse_basis": _p("window-refusal-basis"), **form}, expect=None)  # fmt: skip
    _follow(clerk, resp, "refuse at the window")
    ids["refused"] = _case_no(resp)
    # supplements required, then refused; another withdrawn
    missing = api.apply(JOINT, sample_form(JOINT), required_materials(JOINT)[:-1])["case_no"]
    _follow(
        clerk,
        clerk.post(
            f"/cases/{missing}/refuse",
            {"reason": _p("refusal"), "legal_basis": _p("refusal-basis"), "confirm": "y"},
            expect=None,
        ),
        "refuse",
    )
    withdrawn = api.apply(CANCEL, sample_form(CANCEL))["case_no"]
    _follow(clerk, clerk.post(f"/cases/{withdrawn}/withdraw",
                              {"reason": _p("withdrawal"), "confirm": "y"}, expect=None),
            "withdraw")  # fmt: skip
    ids["others"] = [missing, withdrawn]

    # the clock: paused and resumed, extended by the leader, urged by supervision
    _follow(clerk, clerk.post(f"/cases/{case_no}/pause", {
        "kind": "expert_review", "reason": _p("pause"), "expected_days": "3"}, expect=None),
        "pause")  # fmt: skip
    _follow(clerk, clerk.post(f"/cases/{case_no}/resume", expect=None), "resume")
    mayor = Web(app, "mayor_he")  # a joint case's extension: the government's head (art. 42)
    _follow(mayor, mayor.post(f"/cases/{case_no}/extend", {
        "days": "5", "reason": _p("extension")}, expect=None), "extend")  # fmt: skip
    _follow(supervisor, supervisor.post(f"/cases/{case_no}/urge", {"text": _p("urge")},
                                        expect=None), "urge")  # fmt: skip
    _follow(clerk, clerk.post(f"/cases/{case_no}/personal-data",
                              {"purpose": _p("personal-data-purpose")}, expect=None),
            "personal data")  # fmt: skip

    # the officials: a transfer with a reason, approvals with comments, a reasoned rejection
    tasks = {t["spec_id"]: t for t in api.open_tasks(case_no)}
    ids["task"] = tasks["Task_ndrc"]["id"]
    xiao = Web(app, "official_xiao")
    xiao.get(f"/tasks/{ids['task']}")
    _follow(xiao, xiao.post(f"/tasks/{ids['task']}/transfer", {
        "to_user": str(_user_id(app, "official_cheng")), "reason": _p("transfer")},
        expect=None), "transfer")  # fmt: skip
    cheng = Web(app, "official_cheng")
    cheng.get(f"/tasks/{ids['task']}")
    _follow(cheng, cheng.post(f"/tasks/{ids['task']}/complete", {
        "outcome": "approve", "comment": _p("approval-comment"),
        "f_ndrc_opinion": _p("opinion")}, expect=None), "complete on the web")  # fmt: skip
    for spec, field in (("Task_land", "land_opinion"),
                        ("Task_construction", "construction_opinion")):  # fmt: skip
        api.work(case_no, spec, comment=_p(f"comment-{spec}"), data={field: _p(field)})
    api.work(
        case_no,
        "Task_env",
        "reject",
        _p("rejection"),
        {"env_opinion": _p("env_opinion"), "legal_basis": _p("rejection-basis")},
    )
    # a planning permit returned with a reason
    permit = api.apply("planning-permit", sample_form("planning-permit"))["case_no"]
    api.work(permit, "Task_lead", comment=_p("lead-comment"), data={"lead_opinion": _p("lead")})
    api.work(permit, "Task_deputy", "return", _p("return-reason"))
    ids["others"].append(permit)

    # absences: an official's trip with a reason
    shi = Web(app, "official_shi")
    _follow(shi, shi.post("/absences", {
        "user_id": str(_user_id(app, "official_shi")), "kind": "trip",
        "starts_at": "2031-03-03T09:00", "ends_at": "2031-03-04T09:00",
        "reason": _p("absence")}, expect=None), "absence")  # fmt: skip

    # a decided case through the API (markup applicant), rated badly at the window
    body = {"item_code": CANCEL, "materials": required_materials(CANCEL),
            "applicant": {"name": _p("api-applicant"), "id_number": "91330100MA2H000009"},
            "form": _form(CANCEL, "api-")}  # fmt: skip
    rated = api.call("POST", "/cases", "clerk_liu", 201, json=body)["case_no"]
    api.work(rated, "Task_review", comment=_p("review"), data={"review_opinion": _p("review")})
    api.work(rated, "Task_issue", comment=_p("issue"))
    ids["rated"] = rated
    # the clerk opens the rating kiosk; the applicant rates there (issue 18: clerks never rate)
    kiosk = clerk.post(f"/window/rate/{rated}", expect=302).headers["Location"]
    _ok(clerk.post(kiosk, {"level": "1", "comment": _p("rating")}, expect=None), "rating")
    with app.app_context():
        ids["follow_up"] = session().scalar(sa.select(sa.func.max(FollowUp.id)))
    _follow(supervisor, supervisor.post(f"/followups/{ids['follow_up']}", {
        "contact_note": _p("contact-note"), "rectification": _p("rectification"),
        "second_level": "4", "second_comment": _p("second-comment")}, expect=None),
        "follow-up")  # fmt: skip

    # a complaint with markup everywhere, assigned, noted, replied
    with app.app_context():
        ndrc = session().scalar(sa.select(Department.id).where(Department.code == "ndrc"))
    resp = supervisor.post("/complaints/new", {
        "channel": "phone", "complainant_name": _short("complainant"),
        "complainant_phone": "13912345678", "subject": _p("complaint-subject"),
        "content": _p("complaint-content") + "\n" + _p("second-line"),
        "case_no": case_no, "department_id": str(ndrc)}, expect=None)  # fmt: skip
    _follow(supervisor, resp, "complaint")
    ids["complaint"] = number = resp.headers["Location"].rsplit("/", 1)[1]
    _follow(xiao, xiao.post(f"/complaints/{number}/notes", {"text": _p("complaint-note")},
                            expect=None), "complaint note")  # fmt: skip
    _follow(supervisor, supervisor.post(f"/complaints/{number}/reply",
                                        {"text": _p("complaint-reply")}, expect=None),
            "complaint reply")  # fmt: skip

    # online: an application with markup in the form and the file name, sent back with a note
    he = Web(app, "applicant_he")
    resp = he.post(f"/apply/{CANCEL}", _form(CANCEL, "online-", "a_"), expect=None)
    _follow(he, resp, "apply online")
    ids["application"] = online = resp.headers["Location"].rsplit("/", 1)[-1]
    _follow(he, he.post(f"/my/applications/{online}/upload", {
        "material": "application",
        "file": (io.BytesIO(b"%PDF-1.4\n%%EOF\n"), _short("file") + ".pdf")},
        expect=None, content_type="multipart/form-data"), "upload")  # fmt: skip
    submitted = he.post(f"/my/applications/{online}/submit", {"confirm_missing": "1"}, expect=None)
    _follow(he, submitted, "submit")
    review = clerk.get(f"/my/applications/{online}")  # the form is shown until it is reviewed
    text = lxml.html.document_fromstring(review.text).text_content()
    assert _p("online-house_address") in text and not _live_markup(review.text)
    _follow(clerk, clerk.post(f"/window/online/{online}/supplements", {
        "missing": ["certificate"], "note": _p("supplement-note")}, expect=None),
        "online supplements")  # fmt: skip

    # renamed by the admin: a department and an official who handle cases (and the stats)
    with app.app_context():
        db = session()
        ndrc_row = db.scalars(sa.select(Department).where(Department.code == "ndrc")).one()
        dept_form = {"code": "ndrc", "name": _p("dept-renamed"), "kind": ndrc_row.kind,
                     "parent_id": str(ndrc_row.parent_id or 0)}  # fmt: skip
        cheng_row = db.scalars(sa.select(User).where(User.username == "official_cheng")).one()
        user_form = {"username": "official_cheng", "name": _short("user-renamed"),
                     "roles": sorted(cheng_row.role_set),
                     "department_id": str(cheng_row.department_id or 0), "active": "y"}  # fmt: skip
    _follow(admin, admin.post(f"/admin/departments/{ndrc_row.id}", dept_form, expect=None),
            "rename a department")  # fmt: skip
    _follow(admin, admin.post(f"/admin/users/{cheng_row.id}", user_form, expect=None),
            "rename a user")  # fmt: skip

    # a file that is markup inside is refused; what is stored is only served as a sandboxed
    # download
    html_file = b"<html><body><script>alert(1)</script><svg onload=alert(1)></svg></body></html>"
    for name in ("page.html", "image.svg", "letter.pdf"):
        stored = he.post(f"/my/applications/{online}/upload", {
            "material": "identity", "file": (io.BytesIO(html_file), name)},
            expect=None, content_type="multipart/form-data")  # fmt: skip
        assert stored.status_code == 400, (name, stored.status_code)  # refused by content
    with app.app_context():
        uploads = session().scalars(sa.select(Upload.id)).all()
    for upload in uploads:
        served = clerk.get(f"/my/applications/{online}/files/{upload}", expect=200)
        assert served.headers["Content-Disposition"].startswith("attachment"), upload
        assert "sandbox" in served.headers["Content-Security-Policy"], upload
        assert served.headers["X-Content-Type-Options"] == "nosniff", upload
        assert served.mimetype not in ("text/html", "image/svg+xml", "application/xhtml+xml")

    # a case of the deployed diagram: its first task carries the markup name into inboxes
    ids["new_case"] = api.apply(JOINT, sample_form(JOINT))["case_no"]
    with app.app_context():
        db = session()
        ids["upload"] = db.scalar(sa.select(sa.func.min(Upload.id)))
        ids["post"] = db.scalar(sa.select(Post.id).where(Post.code == "xss_post"))
        ids["dept"] = dept
        ids["official_xiao"] = _user_id(app, "xss_person")
    return ids


# --- checking a page -----------------------------------------------------------------------


def _live_markup(html: str) -> list[str]:
    """Return what in the page is live markup that the app never writes itself."""
    found = []
    root = lxml.html.document_fromstring(html)
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if tag == "script" and (element.get("src") is None or (element.text or "").strip()):
            found.append(f"inline <script>: {lxml.html.tostring(element)[:120]!r}")
        if tag in ("svg", "img", "iframe", "object", "embed") and MARK in (
            element.get("src") or ""
        ):
            found.append(f"<{tag}> from a payload")
        if tag == "img" and element.get("src") == "x":
            found.append("<img src=x> from a payload")
        for name, value in element.attrib.items():
            if name.lower().startswith("on"):
                found.append(f"<{tag} {name}={value!r}>")
            url = name.lower() in URL_ATTRIBUTES or name.lower().endswith("}href")
            if url and value.strip().lower().startswith("javascript:"):
                found.append(f"<{tag} {name}={value[:80]!r}>")
    return found


def _check_headers(resp, what: str) -> None:
    csp = resp.headers.get("Content-Security-Policy", "")
    directives = {d.strip().split(" ", 1)[0]: d.strip() for d in csp.split(";") if d.strip()}
    scripts = directives.get("script-src") or directives.get("default-src", "")
    assert scripts and "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, (
        what, csp)  # fmt: skip
    assert "frame-ancestors 'none'" in csp or "frame-ancestors 'self'" in csp, (what, csp)
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", what


def _check(resp, what: str, shown: dict) -> None:
    if resp.mimetype != "text/html":
        return
    _check_headers(resp, what)
    html = resp.get_data(as_text=True)
    live = _live_markup(html) if html.strip() else []
    assert not live, (what, live)
    text = lxml.html.document_fromstring(html).text_content() if html.strip() else ""
    for field in re.findall(rf"{MARK}:([\w-]+):", text):
        shown.setdefault(field, set()).add(what)


# pages that must show these fields (as text): a check that the crawl saw the payloads
MUST_SHOW = {
    "applicant": "/cases/{case}",
    "form-project_name": "/cases/{case}",
    "approval-comment": "/cases/{case}",
    "rejection": "/cases/{case}",
    "transfer": "/cases/{case}",
    "pause": "/cases/{case}",
    "extension": "/cases/{case}",
    "window-refusal": "/cases/{refused}",
    "refusal": "/cases/{missing}",
    "withdrawal": "/cases/{withdrawn}",
    "return-reason": "/cases/{permit}",
    "task-name": "/inbox",
    "urge": "/notifications",
    "absence": "/absences",
    "user": "/admin/users",
    "post": "/admin/posts",
    "dept": "/admin/users",
    "dept-renamed": "/stats?period={month}",
    "user-renamed": "/cases/{case}",
    "deploy-comment": "/analyst",
    "draft-name": "/analyst/items/joint-investment/diff",
    "rating": "/followups/{follow_up}",
    "contact-note": "/followups/{follow_up}",
    "complaint-subject": "/complaints",
    "complaint-note": "/complaints/{complaint}",
    "supplement-note": "/my/applications/{application}",
    "file": "/my/applications/{application}",
    "personal-data-purpose": "/audit/personal-data",
}


def test_markup_typed_anywhere_is_shown_as_text_everywhere(demo_app):
    app = demo_app
    ids = _store_everything(app)
    missing, withdrawn, permit = ids["others"]
    month = dt.datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    values = {"task_id": ids["task"], "case_no": ids["case"], "official": ids["official_xiao"],
              "post": ids["post"], "dept": ids["dept"], "application": ids["application"],
              "upload": ids["upload"], "follow_up": ids["follow_up"],
              "rated_case": ids["rated"], "complaint": ids["complaint"]}  # fmt: skip
    routes = [(t.format(**values), allowed) for t, allowed in WEB_GETS.values()]
    everyone_staff = {r for r in PEOPLE if r not in ("anonymous", "applicant", "other_applicant")}
    readers = {"clerk", "supervisor", "auditor", "admin"}
    extra = [
        *[(f"/cases/{no}", readers) for no in (ids["refused"], missing, withdrawn, ids["rated"])],
        (f"/cases/{permit}", readers),
        (f"/audit/cases/{ids['rated']}", {"auditor"}),
        (f"/audit/cases/{permit}", {"auditor"}),
        (f"/cases/{ids['new_case']}", readers),
        (f"/cases/{ids['case']}/card", readers),
        (f"/stats?period={month}", {"leader", "supervisor", "auditor", "admin"}),
        (f"/figures?month={month}", {"anonymous"}),
        ("/inbox", {"clerk", "official", "leader", "env_a"}),
        ("/done", {"clerk", "official", "leader"}),
        ("/audit/personal-data", {"auditor", "admin"}),
        ("/admin/users/new", {"admin"}),
        (f"/admin/departments/{ids['dept']}", {"admin"}),
        ("/results", {"anonymous"}),
        (f"/track?case_no={ids['rated']}", {"anonymous"}),
        # reflected input
        (f"/cases?q={PAYLOAD}", everyone_staff - {"analyst"}),
        (f"/inbox?q={PAYLOAD}", {"official"}),
        (f"/results?item={PAYLOAD}&q={PAYLOAD}", {"anonymous"}),
        (f"/guide?q={PAYLOAD}", {"anonymous"}),
        (f"/track?case_no={PAYLOAD}", {"anonymous"}),
        (f"/complaints?since={PAYLOAD}", {"supervisor"}),
        (f"/stats?period={PAYLOAD}", {"admin"}),
        (f"/login?next={PAYLOAD}", {"anonymous"}),
        (f"/figures/evaluations?month={PAYLOAD}", {"anonymous"}),
        (f"/cases/{PAYLOAD}", {"clerk"}),
        (f"/tasks/{PAYLOAD}", {"official"}),
        (f"/{PAYLOAD}", {"anonymous", "clerk"}),
    ]
    routes += extra + [(path, {"anonymous"}) for path in PUBLIC.values()]
    shown: dict[str, set[str]] = {}
    webs = {role: Web(app, user) for role, user in PEOPLE.items()}
    fetched = 0
    for path, allowed in routes:
        if path.endswith(NOT_HTML) or any(n in path for n in NOT_HTML[:4]):
            continue
        for role in sorted(allowed | {"anonymous", "other_official"}):
            resp = webs[role].get(path, expect=None)
            _check(resp, f"{path} as {role}", shown)
            fetched += 1
    # the forms that put input back into the page on an error
    anonymous = webs["anonymous"]
    bad = anonymous.post("/login", {"username": PAYLOAD, "password": "x"}, expect=None)
    _check(bad, "failed log-in", shown)
    registered = anonymous.post("/register", {
        "username": "xss_applicant", "name": _short("register"),
        "id_number": "110105198511020046", "phone": "13912345000",
        "password": "long-enough-pw"}, expect=None)  # fmt: skip
    _check(registered, "registration", shown)
    refused = webs["clerk"].post(f"/window/receive/{JOINT}", {
        "applicant_name": _p("receive-error"), "applicant_id_number": "1",
        "decision": "accept"}, expect=None)  # fmt: skip
    _check(refused, "receive form with errors", shown)
    rejected = webs["supervisor"].post("/complaints/new", {
        "channel": "phone", "complainant_name": _short("complaint-error"), "subject": "",
        "content": _p("complaint-error")}, expect=None)  # fmt: skip
    _check(rejected, "complaint form with errors", shown)
    assert fetched > 300, fetched

    where = {"case": ids["case"], "refused": ids["refused"], "missing": missing,
             "withdrawn": withdrawn, "permit": permit, "follow_up": ids["follow_up"],
             "complaint": ids["complaint"], "application": ids["application"],
             "month": month}  # fmt: skip
    absent = []
    for field, template in MUST_SHOW.items():
        page = template.format(**where)
        if not any(w.startswith(page + " as ") for w in shown.get(field, ())):
            absent.append(
                f"{field} not shown (as text) on {page}: {sorted(shown.get(field, ()))[:3]}"
            )
    assert not absent, "\n".join(absent) + f"\nshown: {sorted(shown)}"
    # {{7*7}} was never evaluated: wherever a payload is shown, its template braces are too
    for role, web in webs.items():
        if role in ("clerk", "admin"):
            page = web.get(f"/cases/{ids['case']}").text
            assert "{{7*7}}" in lxml.html.document_fromstring(page).text_content()


def test_the_checks_see_live_markup_and_missing_headers():
    """The detector itself: each payload put raw into a page is found."""
    raws = [
        "<script>alert(1)</script>",
        '"><img src=x onerror=alert(1)>',
        "</textarea><svg onload=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
    ]
    for raw in raws:
        assert _live_markup(f"<html><body><textarea>{raw}</textarea><p>{raw}</p></body></html>")
    assert not _live_markup("<html><body><p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
                            '<input value="javascript:alert(1)"><script src="/static/x.js">'
                            "</script></body></html>")  # fmt: skip


def test_a_holiday_name_longer_than_its_column_is_refused_clearly(demo_app):
    """Found by the payloads above: on PostgreSQL a long holiday name was a 500."""
    admin = Web(demo_app, "admin")
    resp = admin.post("/admin/calendar", {"year": "2031", "source": "国办发明电〔2030〕1号",
                                          "holidays": "2031-01-01 " + "元" * 101,
                                          "workdays": ""}, expect=400)  # fmt: skip
    assert "line 1: the name is longer than 100 characters" in resp.text
