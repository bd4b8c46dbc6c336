"""An applicant's licences (我的证照), on both databases: a licence granted on the firm's
online application is listed on its account page with its status and term, and with the
items it may apply for now (renewal, change, cancellation; never the authority's
revocation), each a link that opens the application with the licence number filled in;
another applicant sees none of it; after a revocation the row says so and offers nothing."""

from __future__ import annotations

import re

from tests.apiclient import Api, sample_form
from tests.test_interim_notices import _online_case
from tests.test_licences import _licence
from tests.test_time_limits import Clock, utc
from tests.webclient import Web

FIRM = "applicant_hengtai"
FIRM_NAME = "示范市恒泰实业有限公司"


def _row(page: str, number: str) -> str:
    """The table row of licence `number` on the account page."""
    match = re.search(r'<tr data-licence="' + re.escape(number) + r'".*?</tr>', page, re.S)
    assert match, f"no row for {number}"
    return match.group(0)


def test_the_holder_sees_its_licences_and_applies_from_them(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 12, 4, 2))  # Fri 4 Dec, 10:00 in the centre
    api = Api(demo_app.test_client())
    case_no = _online_case(demo_app)
    for spec in ("Task_lead", "Task_deputy", "Task_head", "Task_issue"):
        api.work(case_no, spec)
    lic = _licence(demo_app, case_no)
    assert lic.holder_name == FIRM_NAME

    firm = Web(demo_app, FIRM, lang="zh")
    row = _row(firm.get("/my").text, lic.number)
    assert 'data-status="in_force"' in row and "有效" in row and "2027-12-03" in row
    assert "示范市自然资源和规划局" in row and f'href="/l/{lic.code}"' in row
    offered = dict(re.findall(r'data-action="(\w+)" href="([^"]+)"', row))
    assert sorted(offered) == ["cancellation", "change", "renewal"]  # not the revocation
    assert "建设工程规划许可证延续" in row and "建设工程规划许可证注销" in row

    # the renewal link opens the form with the licence filled in; the firm applies
    form = firm.get(offered["renewal"].replace("&amp;", "&")).text
    assert re.search(r'name="a_licence_no"[^>]*value="' + re.escape(lic.number) + '"', form)
    firm.post("/apply/planning-permit-renewal",
              {"a_licence_no": lic.number, "a_extension_reason": "工期顺延"})  # fmt: skip

    # another applicant sees none of it
    other = Web(demo_app, "applicant_he", lang="zh").get("/my").text
    assert lic.number not in other and "您的申请尚未取得许可证。" in other

    # revoked by the authority: the row says so and offers nothing to apply for
    party = {"name": FIRM_NAME, "id_number": "91330100MA2H00000L", "phone": "0123-88776655"}
    item = "planning-permit-revocation"
    revocation = api.apply(item, sample_form(item, licence_no=lic.number),
                           applicant=party)["case_no"]  # fmt: skip
    for spec in ("Task_lead", "Task_deputy", "Task_issue"):
        api.work(revocation, spec)
    row = _row(firm.get("/my").text, lic.number)
    assert 'data-status="revoked"' in row and "已撤销" in row and "data-action" not in row
