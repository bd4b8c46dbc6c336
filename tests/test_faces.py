"""Each role sees only its own face of a case, and ratings belong to the applicant (issue 18).

- An applicant gets the same 404 as for a missing case on every staff page and API of their
  own case (page, task, events, transfer card), and their own pages show no official's
  comment and no staff name.
- A clerk never rates: the window's rating POST is refused and writes nothing; the clerk
  opens a kiosk for one case (no staff menu, no log-out), the applicant rates there once.
- Every outcome can be rated online with the query code (refused and withdrawn too), once.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa

from app.applicants.models import Evaluation
from app.audit.models import Event
from app.cases.models import Case, Task
from app.db import session
from app.org.models import User
from tests.apiclient import Api, required_materials, sample_form
from tests.webclient import Web

ITEM = "house-cancellation"
FORM = {"a_certificate_no": "示房权证第0012345号", "a_house_address": "示范市东路 8 号",
        "a_cancel_reason": "房屋灭失"}  # fmt: skip
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
SECRET = "INTERNAL-NOTE-7f3a"  # an official's internal comment, never for the applicant
MISSING = "20269999999999"


def _own_case(demo_app) -> tuple[Web, str, str, str]:
    """applicant_he applies online and is accepted: return their browser, the application
    number, the case number and its query code."""
    he = Web(demo_app, "applicant_he")
    number = he.post(f"/apply/{ITEM}", FORM).headers["Location"].rsplit("/", 1)[-1]
    for material in required_materials(ITEM):
        he.post(f"/my/applications/{number}/upload",
                {"material": material, "file": (io.BytesIO(PDF), "a.pdf")},
                content_type="multipart/form-data")  # fmt: skip
    he.post(f"/my/applications/{number}/submit", {"confirm_missing": "1"})
    Web(demo_app, "clerk_liu").post(f"/window/online/{number}/accept")
    with demo_app.app_context():
        case = session().scalars(sa.select(Case).where(
            Case.applicant_user_id == sa.select(User.id).where(
                User.username == "applicant_he").scalar_subquery())).one()  # fmt: skip
        return he, number, case.case_no, case.query_code


def _case(demo_app, materials: list[str] | None = None) -> tuple[str, str]:
    case_no = Api(demo_app.test_client()).apply(ITEM, sample_form(ITEM),
                                                materials=materials)["case_no"]  # fmt: skip
    with demo_app.app_context():
        code = session().scalar(sa.select(Case.query_code).where(Case.case_no == case_no))
    return case_no, code


def _decide(demo_app, case_no: str, comment: str = "") -> list[str]:
    """Decide the case; return the user names of the officials who worked it."""
    api = Api(demo_app.test_client())
    workers = [t["assignee"] for t in api.open_tasks(case_no)]
    api.work(case_no, "Task_review", comment=comment, data={"review_opinion": comment or "同意"})
    workers += [t["assignee"] for t in api.open_tasks(case_no)]
    api.work(case_no, "Task_issue", comment=comment)
    assert api.case(case_no)["status"] == "decided"
    return workers


def _evaluations(demo_app, case_no: str) -> list[Evaluation]:
    with demo_app.app_context():
        rows = session().scalars(sa.select(Evaluation).join(Case, Case.id == Evaluation.case_id)
                                 .where(Case.case_no == case_no)).all()  # fmt: skip
        session().expunge_all()
        return list(rows)


def test_the_applicant_gets_404_on_every_staff_face_of_their_own_case(demo_app):
    he, _number, case_no, _code = _own_case(demo_app)
    with demo_app.app_context():
        task_id = session().scalar(sa.select(Task.id).join(Case, Case.id == Task.case_id)
                                   .where(Case.case_no == case_no))  # fmt: skip
    assert task_id is not None
    for path in ("/cases/{}", "/cases/{}/card"):
        assert he.get(path.format(case_no), expect=None).status_code == 404, path
        assert he.get(path.format(MISSING), expect=None).status_code == 404, path
    assert he.get(f"/tasks/{task_id}", expect=None).status_code == 404
    api = Api(demo_app.test_client())
    for path in ("/cases/{}", "/cases/{}/events", "/cases/{}/card"):
        own = api.client.get(
            f"/api/v1{path.format(case_no)}",
            headers={"Authorization": f"Bearer {api.token('applicant_he')}"},
        )
        missing = api.client.get(
            f"/api/v1{path.format(MISSING)}",
            headers={"Authorization": f"Bearer {api.token('applicant_he')}"},
        )
        # the API is the staff's: it refuses an applicant before any case is looked up, the
        # same answer for their own case as for a missing one
        assert own.status_code == missing.status_code and own.status_code in (403, 404), path
        assert own.get_json() == missing.get_json()
    # the staff still read it, and the applicant still has their own notices
    assert case_no in Web(demo_app, "clerk_liu").get(f"/cases/{case_no}").text
    assert he.get(f"/cases/{case_no}/notices/commitment.pdf").data.startswith(b"%PDF")


def test_the_applicants_own_pages_show_no_internal_comment_and_no_staff_name(demo_app):
    he, number, case_no, code = _own_case(demo_app)
    workers = _decide(demo_app, case_no, comment=SECRET)
    with demo_app.app_context():
        staff = session().scalars(sa.select(User).where(
            User.username.in_([*workers, "clerk_liu"]))).all()  # fmt: skip
        hidden = {SECRET} | {u.username for u in staff} | {u.name for u in staff}
    # the comment is there for the staff
    assert SECRET in Web(demo_app, "auditor_sun").get(f"/cases/{case_no}").text
    pages = {path: he.get(path).text for path in
             ("/my", f"/my/applications/{number}", "/notifications", "/track")}  # fmt: skip
    pages["track"] = he.post("/track", {"case_no": case_no, "code": code}, expect=200).text
    assert case_no in pages[f"/my/applications/{number}"] and "decided" in pages["track"]
    for path, text in pages.items():
        for word in hidden:
            assert word not in text, (path, word)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


def test_a_clerk_cannot_rate_and_the_kiosk_rates_once_its_own_case_only(demo_app):
    case_no, _code = _case(demo_app)
    other_no, _other_code = _case(demo_app)
    _decide(demo_app, case_no)
    _decide(demo_app, other_no)
    clerk = Web(demo_app, "clerk_liu")
    with demo_app.app_context():
        before = session().scalar(sa.select(sa.func.count()).select_from(Event))
    refused = clerk.post(f"/window/rate/{case_no}", {"level": "5"}, expect=403)
    assert "applicant" in refused.text
    with demo_app.app_context():
        assert session().scalar(sa.select(sa.func.count()).select_from(Event)) == before
    assert _evaluations(demo_app, case_no) == []
    # an official cannot even open the kiosk
    Web(demo_app, "official_xiao").post(f"/window/rate/{case_no}", expect=403)
    opened = clerk.post(f"/window/rate/{case_no}")
    kiosk = opened.headers["Location"]
    assert "/kiosk/" in kiosk and case_no not in kiosk
    html = clerk.get(kiosk).text
    page = _parse(html)
    hrefs = [a.get("href", "") for t, a in page.tags if t == "a"]
    actions = [a.get("action", "") for t, a in page.tags if t == "form"]
    assert not [t for t, _a in page.tags if t == "nav"]
    assert not [h for h in hrefs + actions if "logout" in h or "/window" in h or "/inbox" in h]
    assert "clerk_liu" not in html and len([1 for t, _a in page.tags if t == "button"]) == 5
    assert 'class="top"' in clerk.get("/window").text  # the staff layout does have them
    # the citizen rates on it, once
    clerk.post(kiosk, {"level": "4"}, expect=200)
    second = clerk.post(kiosk, {"level": "1", "comment": "再评一次"}, expect=409)
    assert "rated" in second.text
    rows = _evaluations(demo_app, case_no)
    assert [(r.level, r.channel, r.round) for r in rows] == [(4, "window", 1)]
    assert clerk.get(kiosk, expect=409).text.count("<button") == 0
    with demo_app.app_context():
        event = session().scalars(sa.select(Event).where(Event.type == "evaluated")).one()
        assert event.actor_id is None  # the applicant rated, not the clerk
    # the grant rated its own case only: the other case is untouched; a forged one is refused
    assert _evaluations(demo_app, other_no) == []
    token = kiosk.rsplit("/", 1)[-1]
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    clerk.post(f"/kiosk/{forged}", {"level": "5"}, expect=404)
    assert _evaluations(demo_app, other_no) == []
    # a case rated at the kiosk is refused online too, with the same clear message
    with demo_app.app_context():
        code = session().scalar(sa.select(Case.query_code).where(Case.case_no == case_no))
    again = Web(demo_app).post("/track/rate", {"case_no": case_no, "code": code, "level": "5"},
                           expect=409)  # fmt: skip
    assert "已经评价过" in again.text
    # a kiosk cannot be opened again for a rated case
    clerk.post(f"/window/rate/{case_no}", expect=409)


def test_an_expired_kiosk_rates_nothing(demo_app, monkeypatch):
    case_no, _code = _case(demo_app)
    _decide(demo_app, case_no)
    clerk = Web(demo_app, "clerk_liu")
    kiosk = clerk.post(f"/window/rate/{case_no}").headers["Location"]
    monkeypatch.setattr("app.applicants.kiosk.KIOSK_MINUTES", -1)
    html = clerk.post(kiosk, {"level": "5"}, expect=404).text
    assert 'id="closed"' in html and "<nav" not in html
    assert _evaluations(demo_app, case_no) == []


@pytest.mark.parametrize("outcome", ["refused", "withdrawn"])
def test_a_refused_or_withdrawn_case_is_rated_online_once(demo_app, outcome):
    api = Api(demo_app.test_client())
    if outcome == "refused":
        case_no, code = _case(demo_app, materials=required_materials(ITEM)[:-1])
        api.call("POST", f"/cases/{case_no}/refuse", "clerk_liu",
                 json={"reason": "不属于本中心职权范围",
                       "legal_basis": "《行政许可法》第三十二条"})  # fmt: skip
    else:
        case_no, code = _case(demo_app)
        api.call("POST", f"/cases/{case_no}/withdraw", "clerk_liu",
                 json={"reason": "申请人撤回"})  # fmt: skip
    assert api.case(case_no)["status"] == outcome
    web = Web(demo_app)
    shown = web.post("/track", {"case_no": case_no, "code": code}, expect=200).text
    assert 'id="rate"' in shown
    done = web.post("/track/rate", {"case_no": case_no, "code": code, "level": "5"}, expect=200)
    assert 'id="rated"' in done.text
    again = web.post("/track/rate", {"case_no": case_no, "code": code, "level": "3"}, expect=409)
    assert "已经评价过" in again.text
    assert [(r.level, r.channel) for r in _evaluations(demo_app, case_no)] == [(5, "online")]


def test_a_case_still_in_progress_is_not_rated(demo_app):
    case_no, code = _case(demo_app)
    Web(demo_app, "clerk_liu").post(f"/window/rate/{case_no}", expect=409)
    Web(demo_app).post("/track/rate", {"case_no": case_no, "code": code, "level": "5"},
                       expect=409)  # fmt: skip
    assert _evaluations(demo_app, case_no) == []
    assert not re.search(r"/kiosk/", Web(demo_app, "clerk_liu").get("/window").text)
