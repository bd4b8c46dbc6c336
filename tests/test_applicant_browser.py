"""An applicant online, in headless Chromium: apply, supply what the one-time notice asks
for, get accepted, download the commitment notice, follow the progress with the query
code, rate the service badly; the supervision office closes the follow-up."""

from __future__ import annotations

import shutil
import subprocess

import sqlalchemy as sa

from app.applicants.models import FollowUp
from app.cases.models import Case
from app.db import session
from tests.apiclient import Api
from tests.test_browser import IN_CI, SHOTS, Person

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _upload(page, tmp_path, material: str, filename: str = "") -> None:
    path = tmp_path / (filename or f"{material}.pdf")
    path.write_bytes(PDF)
    row = page.locator(f"tr[data-material={material}]")
    row.locator("input[type=file]").set_input_files(str(path))
    row.locator("button").click()
    page.wait_for_selector(f"tr[data-material={material}][data-uploaded]")


def _to_png(pdf_path, png_prefix) -> None:
    if shutil.which("pdftoppm") is None:
        assert not IN_CI, "pdftoppm (poppler-utils) is missing"
        return
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf_path), str(png_prefix)], check=True)


def test_an_applicant_online_from_application_to_rating(
    browser, live_server, demo_app, request, tmp_path
):
    shots = SHOTS / request.node.callspec.params["database_url"] / "applicant"
    he = Person(browser, live_server, shots)
    he.login("applicant_he")
    page = he.page
    page.goto(f"{live_server}/apply/house-cancellation")
    page.fill("input[name=a_certificate_no]", "示房权证第0012345号")
    page.fill("input[name=a_house_address]", "示范市东路 8 号 3 幢 201 室")
    page.select_option("select[name=a_cancel_reason]", "房屋灭失")
    page.click("#apply button")
    page.wait_for_selector("#materials")
    number = page.url.rsplit("/", 1)[-1]
    for material in ("application", "identity"):
        _upload(page, tmp_path, material)
    # two required materials are not uploaded: the page names them and asks to confirm
    warned = page.locator("#missing-warning li").evaluate_all(
        "els => els.map(e => e.dataset.missingRequired)"
    )
    assert warned == ["certificate", "cancel_proof"]
    he.shot("0-missing-warning")
    page.check("input[name=confirm_missing]")
    page.click("#submit-application")
    assert page.get_attribute("#app-status", "data-status") == "submitted"
    he.shot("1-handed-in")

    clerk = Person(browser, live_server, shots)
    clerk.login("clerk_liu")
    clerk.page.goto(f"{live_server}/window/online")
    clerk.page.click(f"tr[data-application={number}] a")
    ticked = clerk.page.locator("input[name=missing]:checked").evaluate_all(
        "els => els.map(e => e.value)"
    )
    assert ticked == ["certificate", "cancel_proof"]
    clerk.shot("2-pre-review")
    clerk.page.click("#pre-review form button >> nth=0")
    clerk.page.wait_for_selector("#app-status[data-status=supplement_required]")

    page.reload()
    missing = page.locator("#supplement-notice li").evaluate_all(
        "els => els.map(e => e.dataset.missing)"
    )
    assert missing == ["certificate", "cancel_proof"]
    he.shot("3-supplement-notice")
    with page.expect_download() as notice:
        page.click("a[data-notice=supplement]")
    notice.value.save_as(shots / "supplement-notice.pdf")
    _to_png(shots / "supplement-notice.pdf", shots / "supplement-notice")
    for material in missing:
        _upload(page, tmp_path, material)
    page.click("#submit-application")

    clerk.page.reload()
    clerk.page.click("#accept-application")
    clerk.page.wait_for_selector("#app-status[data-status=accepted]")
    clerk.close()

    page.reload()
    case_no, code = page.inner_text("#case-no"), page.inner_text("#query-code")
    he.shot("4-accepted")
    with page.expect_download() as commitment:
        page.click("a[data-notice=commitment]")
    commitment.value.save_as(shots / "commitment.pdf")
    assert (shots / "commitment.pdf").read_bytes().startswith(b"%PDF")
    _to_png(shots / "commitment.pdf", shots / "commitment")

    # progress with the query code (typed as anyone would)
    page.goto(f"{live_server}/track")
    page.fill("#track input[name=case_no]", case_no)
    page.fill("#track input[name=code]", code)
    page.click("#track button")
    assert page.get_attribute("#progress", "data-status") == "accepted"
    assert "登记审核" in page.inner_text("#progress-stage")
    he.shot("5-progress")

    api = Api(demo_app.test_client())
    api.work(case_no, "Task_review", data={"review_opinion": "同意"})
    api.work(case_no, "Task_issue")
    page.fill("#track input[name=case_no]", case_no)
    page.fill("#track input[name=code]", code)
    page.click("#track button")
    assert page.get_attribute("#progress", "data-status") == "decided"
    page.check("#rate input[name=level][value='2']")
    page.fill("#rate textarea[name=comment]", "取证时窗口让我多跑了一趟")
    he.shot("6-rating")
    page.click("#rate button")
    page.wait_for_selector("#rated")
    he.close()

    sup = Person(browser, live_server, shots)
    sup.login("supervisor_wu")
    sup.page.goto(f"{live_server}/followups")
    sup.page.click("#followups tbody tr >> nth=0 >> a")
    sup.page.fill("textarea[name=contact_note]", "电话回访：申请人反映取证需往返两次")
    sup.page.fill("textarea[name=rectification]", "取证改为当场出具，并增设取证专窗")
    sup.page.select_option("select[name=second_level]", "4")
    sup.shot("7-follow-up")
    sup.page.click("#close-follow-up button")
    sup.page.wait_for_selector("#followups tr[data-status=closed]")
    sup.shot("8-follow-up-closed")
    sup.close()
    with demo_app.app_context():
        case_id = session().scalar(sa.select(Case.id).where(Case.case_no == case_no))
        follow = session().scalars(sa.select(FollowUp).where(FollowUp.case_id == case_id)).one()
    assert follow.status == "closed" and follow.second_evaluation_id is not None


def test_the_public_sends_a_complaint_without_an_account(browser, live_server, request):
    shots = SHOTS / request.node.callspec.params["database_url"] / "public"
    visitor = Person(browser, live_server, shots)
    page = visitor.page
    page.goto(f"{live_server}/track")
    page.click("a[href='/feedback']")
    page.check("input[name=kind][value=suggestion]")
    page.fill("input[name=complainant_name]", "王小明")
    page.fill("input[name=complainant_phone]", "13900002222")
    page.fill("input[name=subject]", "建议增设自助打印机")
    page.fill("textarea[name=content]", "大厅只有一台打印机，高峰时排队较长，建议增设。")
    visitor.shot("1-feedback-form")
    page.click("#feedback button")
    page.wait_for_selector("#received")
    assert page.inner_text("#ticket-number").startswith("TS-")
    visitor.shot("2-feedback-received")
    visitor.close()
