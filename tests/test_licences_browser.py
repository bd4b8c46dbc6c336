"""A bank officer checks a licence in headless Chromium (issue 24): the QR code is read off
the rendered licence as a phone reads it and opened with no account: authentic, in force;
the signed file uploaded on the check page: authentic and matched to the registry; after the
bureau revokes the licence the same code and the same file say revoked. Screenshots go to
build/screens/<database>/licences/.
"""

from __future__ import annotations

import zxingcpp
from PIL import Image

from tests import pdftools
from tests.apiclient import Api
from tests.test_browser import Person
from tests.test_licences import _act, _licence, _pdf, _planning
from tests.test_screens_browser import _screens
from tests.test_time_limits import Clock, utc


def _scan(png) -> str:
    """The text of the one QR code on a rendered page."""
    found = [b.text for b in zxingcpp.read_barcodes(Image.open(png))
             if b.format == zxingcpp.BarcodeFormat.QRCode]  # fmt: skip
    assert len(found) == 1, found
    return found[0]


def _upload(page, base: str, saved) -> None:
    """Check the saved licence file on the public check page."""
    page.goto(f"{base}/verify")
    page.set_input_files("input[name=file]", str(saved))
    page.click("form button.primary")
    page.wait_for_load_state()
    assert page.locator('#verdict[data-authentic="yes"]').count() == 1


def test_a_bank_officer_scans_the_code_before_and_after_revocation(
        browser, live_server, demo_app, request, tmp_path):  # fmt: skip
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 4, 10))
    demo_app.config["PUBLIC_URL"] = live_server  # the links the documents print lead here
    api = Api(demo_app.test_client())
    case_no = _planning(api)
    lic = _licence(demo_app, case_no)
    document = _pdf(demo_app, case_no, "licence")
    pdftools.require_poppler(tmp_path)
    saved, pages = pdftools.render(tmp_path, "licence", document)
    url = _scan(pages[0])
    assert url == f"{live_server}/l/{lic.code}"

    shots = _screens(request, "licences")
    bank = Person(browser, live_server, shots)  # no log-in
    page = bank.page
    page.goto(url)
    assert page.locator('#authentic[data-authentic="yes"]').count() == 1
    assert page.locator('#licence[data-status="in_force"]').count() == 1
    assert page.locator("#licence-status").inner_text().strip() == "有效"
    assert lic.number in page.locator("#licence").inner_text()
    bank.shot("scanned-in-force")
    # the file itself, uploaded on the check page
    _upload(page, live_server, saved)
    assert page.locator('#registry-match[data-status="in_force"]').count() == 1
    bank.shot("uploaded-in-force")

    # the bureau revokes the licence (art. 69) by a case of its own
    _act(api, "planning-permit-revocation", lic.number)
    page.goto(url)
    assert page.locator('#licence[data-status="revoked"]').count() == 1
    assert page.locator("#licence-status").inner_text().startswith("已撤销")
    bank.shot("scanned-revoked")
    _upload(page, live_server, saved)
    assert page.locator('#registry-match[data-status="revoked"]').count() == 1
    assert page.locator("#no-longer-in-force").count() == 1
    bank.shot("uploaded-revoked")
    # the public register lists it as revoked, with the holder's name masked
    page.goto(f"{live_server}/licence-register")
    row = page.locator(f'#register tr:has-text("{lic.number}")')
    assert row.get_attribute("data-status") == "revoked" and "李华" not in row.inner_text()
    bank.shot("register")
    bank.close()


def test_the_firm_finds_its_licence_and_applies_for_its_renewal(
        browser, live_server, demo_app, request):  # fmt: skip
    """The holder's side (我的证照): the firm's account page lists the licence granted on its
    online application; the renewal button opens the form with the number filled in."""
    from tests.test_interim_notices import _online_case

    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 4, 2))
    api = Api(demo_app.test_client())
    case_no = _online_case(demo_app)
    for spec in ("Task_lead", "Task_deputy", "Task_head", "Task_issue"):
        api.work(case_no, spec)
    lic = _licence(demo_app, case_no)
    firm = Person(browser, live_server, _screens(request, "licences"))
    firm.login("applicant_hengtai")
    page = firm.page
    page.goto(f"{live_server}/my")
    row = page.locator(f'#my-licences tr[data-licence="{lic.number}"]')
    assert row.get_attribute("data-status") == "in_force" and "有效" in row.inner_text()
    firm.shot("my-licences")
    row.locator('a[data-action="renewal"]').click()
    page.wait_for_load_state()
    assert page.locator("input[name=a_licence_no]").input_value() == lic.number
    page.fill("[name=a_extension_reason]", "工程建设工期顺延")
    firm.shot("renewal-form")
    firm.close()
