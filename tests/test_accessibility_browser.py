"""Accessibility of the public and applicant pages, in headless Chromium: axe-core (the npm
package pinned in modeler/package.json, loaded from modeler/node_modules; the app never
serves it) finds no serious or critical violation, in Chinese and in English, and the main
actions are reached with the Tab key.

Uses the browser and server fixtures of tests/test_browser.py; screenshots go to
build/screens/<database>/a11y/.
"""

from __future__ import annotations

import pytest

from config import BASE_DIR
from tests.apiclient import PASSWORD, Api, sample_form
from tests.test_browser import IN_CI

AXE = BASE_DIR / "modeler" / "node_modules" / "axe-core" / "axe.min.js"
SCREENS = BASE_DIR / "build" / "screens"
SERIOUS = ("serious", "critical")
ITEM = "house-cancellation"  # an item applicants may apply for online


@pytest.fixture
def axe_source() -> str:
    if not AXE.exists():
        message = "axe-core is not installed (scripts/build_modeler.sh runs npm ci)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return AXE.read_text("utf-8")


class Visitor:
    """A browser tab that can run axe on the page it shows (CSP bypassed for axe alone)."""

    def __init__(self, browser, base: str, axe: str, shots) -> None:
        self.context = browser.new_context(viewport={"width": 1366, "height": 900},
                                           locale="zh-CN", bypass_csp=True)  # fmt: skip
        self.page = self.context.new_page()
        self.base, self.axe, self.shots = base, axe, shots

    def login(self, username: str) -> None:
        self.page.goto(f"{self.base}/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("form button[type=submit]")
        self.page.wait_for_load_state()
        assert "/login" not in self.page.url

    def language(self, lang: str) -> None:
        self.page.click(f"button[name=lang][value={lang}]")
        self.page.wait_for_load_state()

    def problems(self, name: str) -> list[str]:
        """Run axe on the page; return its serious and critical violations, one line each."""
        self.page.add_script_tag(content=self.axe)
        result = self.page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        assert result["testEngine"]["name"] == "axe-core" and result["passes"], name
        self.shots.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        return [
            f"{name}: {v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']][:5]}"
            for v in result["violations"]
            if v["impact"] in SERIOUS
        ]

    def close(self) -> None:
        self.context.close()


PUBLIC = {"guide-list": "/guide", "guide": f"/guide/{ITEM}", "results": "/results",
          "track": "/track", "login": "/login"}  # fmt: skip


def _show_progress(visitor: Visitor, case: dict, answered: bool = True) -> None:
    """Ask the progress query: type the case number and code, submit."""
    visitor.page.goto(f"{visitor.base}/track")
    visitor.page.fill("input[name=case_no]", case["case_no"])
    visitor.page.fill("input[name=code]", case["query_code"])
    with visitor.page.expect_navigation():
        visitor.page.locator("input[name=code]").press("Enter")
    assert visitor.page.locator("#progress").count() == (1 if answered else 0)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_public_pages_have_no_serious_violation(
    browser, live_server, demo_app, axe_source, request, lang
):
    case = Api(demo_app.test_client()).apply(ITEM, sample_form(ITEM))
    shots = SCREENS / request.node.callspec.params["database_url"] / "a11y"
    visitor = Visitor(browser, live_server, axe_source, shots)
    visitor.page.goto(f"{live_server}/guide")
    if lang == "en":
        visitor.language("en")
    found = []
    for name, path in PUBLIC.items():
        visitor.page.goto(f"{live_server}{path}")
        assert visitor.page.locator("html").get_attribute("lang").startswith(lang)
        found += visitor.problems(f"public-{name}-{lang}")
    _show_progress(visitor, case)
    found += visitor.problems(f"public-progress-{lang}")
    _show_progress(visitor, {**case, "query_code": "000000"}, answered=False)
    found += visitor.problems(f"public-progress-refused-{lang}")
    visitor.close()
    assert found == []


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_applicant_pages_have_no_serious_violation(
    browser, live_server, demo_app, axe_source, request, lang
):
    shots = SCREENS / request.node.callspec.params["database_url"] / "a11y"
    visitor = Visitor(browser, live_server, axe_source, shots)
    page = visitor.page
    found = []
    page.goto(f"{live_server}/register")
    if lang == "en":
        visitor.language("en")
    found += visitor.problems(f"applicant-register-{lang}")
    # the error path: a short password and a bad phone number, the other fields kept
    typed = {"name": "何晓峰", "id_number": "330102199001011234", "phone": "12",
             "username": f"he_{lang}", "password": "short"}  # fmt: skip
    for name, value in typed.items():
        page.fill(f"input[name={name}]", value)
    with page.expect_navigation():
        page.locator("input[name=password]").press("Enter")
    wrong = page.locator("input[aria-invalid=true]")
    assert wrong.count() >= 1
    described = wrong.first.get_attribute("aria-describedby")
    assert page.locator(f"#{described}").inner_text()
    found += visitor.problems(f"applicant-register-errors-{lang}")
    visitor.login("applicant_he")
    page.goto(f"{live_server}/apply")
    found += visitor.problems(f"applicant-apply-list-{lang}")
    page.goto(f"{live_server}/apply/{ITEM}")
    found += visitor.problems(f"applicant-apply-{lang}")
    page.fill("input[name=a_certificate_no]", "示房权证第0012345号")
    page.fill("input[name=a_house_address]", "示范市东路 8 号 3 幢 201 室")
    page.select_option("select[name=a_cancel_reason]", "房屋灭失")
    page.click("#apply button")
    page.wait_for_selector("#materials")
    found += visitor.problems(f"applicant-application-{lang}")
    page.goto(f"{live_server}/my")
    found += visitor.problems(f"applicant-my-{lang}")
    visitor.close()
    assert found == []


def _tab_to(page, selector: str, limit: int = 60) -> int:
    """Press Tab until `selector` has the focus; return how many presses it took (0: it had
    the focus already; fails after `limit`)."""
    if page.evaluate("s => document.activeElement.matches(s)", selector):
        return 0
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return presses
    raise AssertionError(f"{selector} not reached in {limit} presses of Tab")


def test_the_main_actions_are_reached_by_keyboard(browser, live_server, demo_app, axe_source):
    visitor = Visitor(browser, live_server, axe_source, SCREENS)
    page = visitor.page
    page.goto(f"{live_server}/guide")
    # the skip link comes first and moves the focus past the navigation to the content
    assert _tab_to(page, "a.skip") == 1
    assert page.locator("a.skip").is_visible()
    page.keyboard.press("Enter")
    # the browser moves the focus when it has followed the link: wait for it (a busy machine)
    page.wait_for_function("() => document.activeElement.id === 'main'", timeout=10_000)
    page.keyboard.press("Tab")
    page.wait_for_function("() => document.activeElement.closest('main') !== null",
                           timeout=10_000)  # fmt: skip
    page.goto(f"{live_server}/login")
    # the user name field has the focus when the page opens (autofocus; a busy browser may
    # apply it a moment after the load event)
    page.wait_for_function("() => document.activeElement.name === 'username'", timeout=10_000)
    page.keyboard.type("applicant_he")
    page.keyboard.press("Tab")
    page.wait_for_function("() => document.activeElement.name === 'password'", timeout=10_000)
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/login" not in page.url, page.content()[-2000:]
    page.goto(f"{live_server}/apply/{ITEM}")
    assert _tab_to(page, "#apply button") <= 40
    page.goto(f"{live_server}/track")
    assert _tab_to(page, "input[name=case_no]") <= 20
    # the focus is visible where it lands
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    visitor.close()
