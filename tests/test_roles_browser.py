"""Every role's day in headless Chromium, in Chinese and in English.

At a demo centre with a past (cases in every state, ratings, complaints, online applications,
an analyst's draft), each role logs in, switches to the language of the walk, opens every
page of its menu and does the day's typical work through the pages, as a person would:

- the public finds a guide, follows a case with its query code and sends a suggestion;
- an applicant applies online and hands in, confirming the missing material;
- the window clerk receives an application and closes a decided case as delivered;
- the admin registers an official's leave; official A approves a review; official B does the
  work of the A on leave (the task marked B); the leader approves at the chief's stage;
- the supervisor urges a running case; the auditor reads a case's timeline, replay and
  chain check; the analyst opens the modeler, the difference and the dry run.

On every page: the HTTP answer is not an error; in Chinese no English word is visible
outside a short list of acronyms (text marked as code is where internal ids belong); in
English no menu entry, heading, column header, label, button or message is a Chinese
sentence of the catalogue; nothing is clipped and the page does not scroll sideways. The
questions decisive buttons ask are in the walk's language too. A failure lists every
problem found, page by page. Screenshots go to build/walk/<database>/<lang>/.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po

from app.db import session
from app.org.models import User
from config import BASE_DIR
from tests.apiclient import PASSWORD, Api, sample_form
from tests.test_applicant_browser import _upload
from tests.test_browser import fill_joint_application
from tests.test_zh_crawl import (
    Past,
    _draft,
    _ended_cases,
    _online,
    _window_cases,
    _worked_cases,
    english,
)

WALK = BASE_DIR / "build" / "walk"
JOINT = "joint-investment"
LANGS = ("zh", "en")
# per walk, the A the admin sends on leave and the B who then works the joint review
LEAVE = {
    "zh": ("official_shi", "official_lv", "Task_env", "env_opinion"),
    "en": ("official_pan", "official_du", "Task_land", "land_opinion"),
}
# the bpmn.io watermark, which the bpmn-js licence requires to stay visible; identity numbers
# shown masked (data typed at the window, with their letters)
KEPT = re.compile(r"Powered by bpmn\.io|\S*\*{3,}\S*")
REVIEWS = {"Task_ndrc": "ndrc_opinion", "Task_land": "land_opinion",
           "Task_construction": "construction_opinion", "Task_env": "env_opinion"}  # fmt: skip
# the text a page shows, code left out; the attributes a person reads too
VISIBLE = """() => {
  const out = [];
  const skip = 'code,kbd,samp,script,style,textarea,template,noscript';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip) || !el.getClientRects().length) continue;
    if (n.textContent.trim()) out.push(n.textContent.trim());
  }
  for (const el of document.querySelectorAll('[title],[placeholder],[aria-label],[alt]')) {
    if (el.closest(skip) || !el.getClientRects().length) continue;
    for (const a of ['title', 'placeholder', 'aria-label', 'alt']) {
      if (el.getAttribute(a)) out.push(el.getAttribute(a));
    }
  }
  out.push(document.title);
  return out;
}"""
# the interface's own words on a page: menus, headings, column heads, labels, buttons, messages
CHROME = """() => [...document.querySelectorAll(
    'header nav a, h1, h2, h3, th, legend, label > span, button, .flash, .empty')]
  .filter(e => e.getClientRects().length && !e.closest('code,kbd,samp'))
  .map(e => e.innerText.trim()).filter(Boolean)"""
# what is cut off: a page wider than the window, or an element hiding its own overflow
CLIPPED = """() => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1) out.push('the page scrolls sideways: ' +
      doc.scrollWidth + 'px in ' + window.innerWidth + 'px');
  for (const e of document.querySelectorAll('main *')) {
    // hidden on purpose: text for screen readers only, the modeler's canvas (scrolls inside)
    if (e.closest('.sr-only, .djs-container')) continue;
    const s = getComputedStyle(e);
    if (!['hidden', 'clip'].includes(s.overflowX) || !e.clientWidth) continue;
    if (e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1
        && ['hidden', 'clip'].includes(s.overflowY)) {
      out.push('clipped ' + e.tagName.toLowerCase() + '.' + e.className + ': ' +
               (e.innerText || '').trim().slice(0, 40));
    }
  }
  return out;
}"""


def _zh_phrases() -> set[str]:
    """The catalogue's Chinese sentences without placeholders: none may stand in English."""
    with (BASE_DIR / "app" / "translations" / "zh" / "LC_MESSAGES" / "messages.po").open(
        "rb"
    ) as po:
        catalog = read_po(po)
    return {
        m.string
        for m in catalog
        if m.id and isinstance(m.string, str) and re.search(r"[\u4e00-\u9fff]{2}", m.string)
        and "%(" not in m.string and "%s" not in m.string
    }  # fmt: skip


class Walker:
    """One person's day in one language: pages seen, problems found, screenshots."""

    def __init__(self, browser, base: str, lang: str, role: str, shots: Path,
                 problems: list[str], phrases: set[str]) -> None:  # fmt: skip
        self.context = browser.new_context(
            viewport={"width": 1366, "height": 900}, locale="zh-CN" if lang == "zh" else "en-US"
        )
        self.page = self.context.new_page()
        self.base, self.lang, self.role, self.shots = base, lang, role, shots
        self.problems, self.phrases, self.count = problems, phrases, 0
        self.questions: list[str] = []
        self.page.on("dialog", self._answer)

    def _answer(self, dialog) -> None:
        self.questions.append(dialog.message)
        self._words(f"question on {self.page.url}", [dialog.message])
        dialog.accept()

    def start(self, username: str | None) -> None:
        """Log in (unless public) and switch to the walk's language."""
        page = self.page
        page.goto(f"{self.base}/login" if username else f"{self.base}/guide")
        if username:
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", PASSWORD)
            page.click("form button[type=submit]")
            page.wait_for_load_state()
            assert "/login" not in page.url, (username, page.content()[-1500:])
        page.click(f"header button[name=lang][value={self.lang}]")
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == (
            "zh-CN" if self.lang == "zh" else "en"
        )

    def visit(self, path: str, name: str) -> None:
        resp = self.page.goto(f"{self.base}{path}")
        self.page.wait_for_load_state()
        if resp is None or resp.status >= 400:
            self.problems.append(f"{self.lang} {self.role} {path}: HTTP "
                                 f"{resp.status if resp else '?'}")  # fmt: skip
        self.look(name)

    def look(self, name: str) -> None:
        """Check the page now shown and take its screenshot."""
        page, where = self.page, f"{self.lang} {self.role} {self.page.url[len(self.base) :]}"
        self._words(where, page.evaluate(VISIBLE))
        if self.lang == "en":
            chinese = sorted({t for t in page.evaluate(CHROME) if t in self.phrases})
            if chinese:
                self.problems.append(f"{where}: Chinese interface text {chinese[:6]}")
        clipped = page.evaluate(CLIPPED)
        if clipped:
            self.problems.append(f"{where}: {clipped[:4]}")
        self.count += 1
        self.shots.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        page.screenshot(path=str(self.shots / f"{self.role}-{self.count:02d}-{slug}.png"),
                        full_page=True)  # fmt: skip

    def _words(self, where: str, texts: list[str]) -> None:
        if self.lang == "zh":
            found = english([KEPT.sub(" ", t) for t in texts])
            if found:
                self.problems.append(f"{where}: English {found[:6]}")

    def tour(self) -> list[str]:
        """Open every page of the menu; return their paths."""
        links = self.page.locator("header.top nav a").evaluate_all(
            "els => els.map(e => e.getAttribute('href'))"
        )
        for href in links:
            self.visit(href, href)
        return links

    def done(self, selector: str) -> None:
        """The page answered the action with a success message."""
        self.page.wait_for_load_state()
        flash = self.page.locator(selector)
        assert flash.count() >= 1, (self.lang, self.role, self.page.url,
                                    self.page.content()[-2500:])  # fmt: skip

    def fill_task(self, comment: str) -> None:
        """Fill the task's own fields as an official would and add a comment."""
        page = self.page
        for field in page.locator("form input[name^=f_]:visible").all():
            kind = field.get_attribute("type") or "text"
            if kind in ("text", "search", ""):
                field.fill("符合要求，同意。")
            elif kind == "number":
                field.fill("1")
            elif kind == "date":
                field.fill(dt.date.today().isoformat())
        page.fill("textarea[name=comment]", comment)

    def close(self) -> None:
        self.context.close()


def _local(at: dt.datetime) -> str:
    return at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


def _decided_joint(api: Api) -> dict:
    case = api.apply(JOINT, sample_form(JOINT))
    for spec, field_id in REVIEWS.items():
        api.work(case["case_no"], spec, data={field_id: "同意"})
    api.work(
        case["case_no"], "Task_issue", data={"approval_no": f"核准〔2026〕{case['case_no']}号"}
    )
    return case


def _at(api: Api, code: str, specs: list[str], data: dict) -> str:
    """A case of `code` worked through `specs` (approved) by the officials holding them."""
    case_no = api.apply(code, sample_form(code))["case_no"]
    for spec in specs:
        api.work(case_no, spec, data=data)
    return case_no


# --- the roles' days ----------------------------------------------------------------------------


def _public(w: Walker, cases: dict) -> None:
    w.page.goto(f"{w.base}/guide")
    w.page.locator("main a[href^='/guide/']").first.click()
    w.page.wait_for_load_state()
    w.look("guide page")
    w.page.goto(f"{w.base}/track")
    w.page.fill("input[name=case_no]", cases["track"]["case_no"])
    w.page.fill("input[name=code]", cases["track"]["query_code"])
    w.page.locator("form", has=w.page.locator("input[name=code]")).locator("button").first.click()
    w.page.wait_for_load_state()
    assert cases["track"]["case_no"] in w.page.inner_text("main")
    w.look("progress")
    w.page.goto(f"{w.base}/feedback")
    w.page.check("input[name=kind][value=suggestion]")
    w.page.fill("input[name=complainant_name]", "王小明")
    w.page.fill("input[name=complainant_phone]", "13900002222")
    w.page.fill("input[name=subject]", "建议增加周末窗口")
    w.page.fill("textarea[name=content]", "上班族工作日难以请假，建议周六上午开放综合窗口。")
    w.page.click("#feedback button.primary")
    w.done(".flash.success")
    w.look("suggestion sent")


def _applicant(w: Walker, tmp_path: Path) -> None:
    page = w.page
    page.goto(f"{w.base}/apply/house-cancellation")
    page.fill("input[name=a_certificate_no]", "示房权证第0012345号")
    page.fill("input[name=a_house_address]", "示范市东路8号3幢201室")
    page.select_option("select[name=a_cancel_reason]", "房屋灭失")
    page.click("#apply button")
    page.wait_for_selector("#materials")
    w.look("application started")
    _upload(page, tmp_path, "application", f"申请书{'甲' if w.lang == 'zh' else '乙'}.pdf")
    assert page.locator("#missing-warning li").count() >= 1  # the rest is named as missing
    w.look("missing warning")
    page.check("input[name=confirm_missing]")
    page.click("#submit-application")
    page.wait_for_selector("#app-status[data-status=submitted]")
    w.look("handed in")


def _clerk(w: Walker, cases: dict) -> None:
    page = w.page
    fill_joint_application(page, w.base)
    w.look("receive")
    page.click("form.receive button.primary")
    page.wait_for_load_state()
    assert re.search(r"/cases/\d+", page.url), page.content()[-2000:]
    w.look("received")
    # the decided case is handed to the applicant at the window: asked first, then closed
    page.goto(f"{w.base}/cases/{cases['decided']['case_no']}")
    page.select_option("#close select[name=method]", index=0)
    page.fill("#close input[name=recipient]", "李华")
    before = len(w.questions)
    page.click("#close button.primary")
    w.done("#delivered")
    assert len(w.questions) == before + 1  # the browser asked before closing
    w.look("closed and delivered")


def _admin(w: Walker, a_user: User) -> None:
    page, now = w.page, dt.datetime.now(dt.UTC)
    page.goto(f"{w.base}/absences")
    page.select_option("select[name=user_id]", str(a_user.id))
    page.select_option("select[name=kind]", "leave")
    page.fill("input[name=starts_at]", _local(now - dt.timedelta(hours=1)))
    page.fill("input[name=ends_at]", _local(now + dt.timedelta(days=3)))
    page.fill("input[name=reason]", "年休假")
    if page.locator("input[name=confirm]").count():
        page.check("input[name=confirm]")
    page.click("form[novalidate] button[type=submit]")
    w.done(".flash.success")
    assert a_user.name in page.inner_text("main")
    w.look("leave registered")
    for path in ("/admin/users", "/admin/posts", "/admin/departments"):
        w.visit(path, path)


def _work(w: Walker, case_no: str, marked_b: bool) -> None:
    """Find the case in the inbox, open its task, approve it."""
    page = w.page
    page.goto(f"{w.base}/inbox")
    row = page.locator("table.inbox tr", has_text=case_no)
    assert row.count() == 1, (w.role, case_no, page.content()[-2500:])
    assert (row.locator(".tag.b").count() == 1) is marked_b
    row.locator("a[href^='/tasks/']").first.click()
    page.wait_for_load_state()
    w.fill_task("审查通过")
    w.look("task")
    page.click("button[name=outcome][value=approve]")
    w.done(".flash.success")
    assert page.locator("table.inbox tr", has_text=case_no).count() == 0
    w.look("after approving")
    page.goto(f"{w.base}/done")
    assert page.locator("main", has_text=case_no).count() == 1
    w.look("done list")


def _supervisor(w: Walker, case_no: str) -> None:
    page = w.page
    page.goto(f"{w.base}/cases/{case_no}")
    page.fill("input[name=text]", "请在时限内办结")
    page.locator("form", has=page.locator("input[name=text]")).locator("button").click()
    w.done(".flash.success")
    w.look("urged")
    page.goto(f"{w.base}/cases/{case_no}/card")
    w.look("card")


def _auditor(w: Walker, case_no: str) -> None:
    for path in (f"/audit/cases/{case_no}", f"/audit/cases/{case_no}/replay?step=5",
                 f"/audit/cases/{case_no}/verify", "/audit/personal-data",
                 "/audit/checkpoints"):  # fmt: skip
        w.visit(path, path)
    w.page.goto(f"{w.base}/audit/cases/{case_no}/verify")
    assert w.page.locator("main .flash.success, main .ok, main [data-verified=true]").count() >= 1


def _analyst(w: Walker) -> None:
    page = w.page
    page.goto(f"{w.base}/analyst/items/planning-permit/edit")
    page.wait_for_selector(".djs-container svg .djs-element", timeout=20_000)
    w.look("modeler")
    for name in ("diff", "dryrun"):
        link = page.locator(f"a#to-{name}")
        assert link.count() == 1, name
        link.click()
        page.wait_for_load_state()
        w.look(name)
        page.go_back()
        page.wait_for_selector(".djs-container svg .djs-element", timeout=20_000)


# --- the walk -----------------------------------------------------------------------------------


def _cases_for(app, lang: str) -> dict:
    """The cases one walk works on, made through the API as the window and officials would."""
    api = Api(app.test_client())
    return {
        "track": api.apply(JOINT, sample_form(JOINT)),
        "decided": _decided_joint(api),
        # house registration: the review open for A (official_zhao)
        "review": _at(api, "house-cancellation", [], {}),
        # first registration reviewed (no survey needed): the chief's stage open for leader_wang
        "chief": _at(
            api, "house-initial", ["Task_review"], {"review_opinion": "同意"}
        ),  # fmt: skip
    }


@pytest.mark.parametrize("lang", LANGS)
def test_every_role_walks_its_day(browser, live_server, demo_app, request, tmp_path, lang):
    shots = WALK / request.node.callspec.params["database_url"] / lang
    shutil.rmtree(shots, ignore_errors=True)  # only this walk's pages
    past = Past()
    for build in (_draft, _window_cases, _ended_cases, _worked_cases, _online):
        build(demo_app, past) if build is not _draft else build(demo_app)
    cases = _cases_for(demo_app, lang)
    a_name, b_name, spec, field_id = LEAVE[lang]
    with demo_app.app_context():
        users = {u.username: u for u in session().scalars(sa.select(User))}
    problems: list[str] = []
    phrases = _zh_phrases()
    seen: dict[str, list[str]] = {}

    def walker(role: str, username: str | None) -> Walker:
        w = Walker(browser, live_server, lang, role, shots, problems, phrases)
        w.start(username)
        seen[role] = w.tour()
        return w

    for role, username, day in (
        ("public", None, lambda w: _public(w, cases)),
        ("applicant", "applicant_he", lambda w: _applicant(w, tmp_path)),
        ("clerk", "clerk_liu", lambda w: _clerk(w, cases)),
        ("admin", "admin", lambda w: _admin(w, users[a_name])),
    ):
        w = walker(role, username)
        day(w)
        w.close()

    # the admin's leave is registered: the joint review of a new case goes to B
    api = Api(demo_app.test_client())
    joint = api.apply(JOINT, sample_form(JOINT))["case_no"]
    held = [t for t in api.open_tasks(joint) if t["spec_id"] == spec]
    assert [t["assignee"] for t in held] == [b_name], held
    for role, username, case_no, marked_b in (
        ("official_a", "official_zhao", cases["review"], False),
        ("official_b", b_name, joint, True),
        ("leader", "leader_wang", cases["chief"], False),
    ):
        w = walker(role, username)
        _work(w, case_no, marked_b)
        w.close()

    for role, username, day in (
        ("supervisor", "supervisor_wu", lambda w: _supervisor(w, joint)),
        ("auditor", "auditor_sun", lambda w: _auditor(w, cases["decided"]["case_no"])),
        ("analyst", "analyst_zhou", _analyst),
    ):
        w = walker(role, username)
        day(w)
        w.close()

    # every role had a menu of its own, and every page of it was seen
    assert all(seen[r] for r in seen if r != "public") and len(seen) == 10, seen
    assert not problems, "\n".join(problems)
