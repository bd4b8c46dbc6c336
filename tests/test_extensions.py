"""Extensions as the Licensing Law has them (art. 42), on both databases: approved only by a
head (负责人) of the licensing authority, for a joint case by a head of the government of
that level; only before the statutory limit runs out; at most 10 (joint: 15) working days."""

from __future__ import annotations

import datetime as dt

from tests.apiclient import Api, sample_form
from tests.test_time_limits import Clock, local, utc

BODY = {"days": 5, "reason": "需组织专家论证"}


def _apply(app, item: str, form: dict | None = None) -> tuple[Api, str]:
    api = Api(app.test_client())
    return api, api.apply(item, form or sample_form(item))["case_no"]


def _extend(api: Api, case_no: str, user: str, expect: int = 200, **body):
    return api.call("POST", f"/cases/{case_no}/extend", user, expect, json={**BODY, **body})


def test_a_section_chief_is_refused_the_authoritys_heads_approve(demo_app):
    # received Tue 3 Nov 2026 10:00 in the centre: the count starts that day; the 20th working
    # day after it is Tue 1 Dec (4, 5, 6, 9–13, 16–20, 23–27, 30 Nov, 1 Dec), at 17:00
    demo_app.config["CLOCK"] = Clock(utc(2026, 11, 3, 10))
    api, case_no = _apply(demo_app, "planning-permit")
    case = api.case(case_no)
    assert case["statutory_due_at"].startswith("2026-12-01T09:00")  # 17:00 local, in UTC
    refused = _extend(api, case_no, "leader_gao", 403)  # 规划科科长: a section, not the bureau
    assert "示范市自然资源和规划局" in refused["message"]
    assert "局长林国栋、副局长罗志明、常务副局长谢红梅" in refused["message"]
    _extend(api, case_no, "official_lu", 403)
    # the bureau's head (局长) and a deputy (副局长) approve; 5 + 5 = the 10 days of art. 42
    _extend(api, case_no, "head_lin")
    case = api.case(case_no)
    # 5 working days after Tue 1 Dec: 2, 3, 4, 7, 8 Dec -> Tue 8 Dec 17:00
    assert case["statutory_due_at"].startswith("2026-12-08T09:00")
    _extend(api, case_no, "deputy_luo")
    over = _extend(api, case_no, "deputy_xie", 400, days=1)
    assert over["message"] == "本事项依法最多可延长 10 个工作日；已延长 10 个工作日。"
    events = api.call("GET", f"/cases/{case_no}/events", "auditor_sun")["events"]
    extended = [e for e in events if e["type"] == "case_extended"]
    assert [(e["actor"], e["data"]["approver_title"]) for e in extended] == [
        ("head_lin", "局长"), ("deputy_luo", "副局长")]  # fmt: skip
    assert {e["data"]["authority"] for e in extended} == {"示范市自然资源和规划局"}
    assert all(e["data"]["legal_basis"] == "行政许可法第四十二条" for e in extended)


def test_no_extension_once_the_statutory_limit_has_run_out(demo_app):
    clock = Clock(utc(2026, 11, 3, 10))
    demo_app.config["CLOCK"] = clock
    api, case_no = _apply(demo_app, "planning-permit")
    clock.now = utc(2026, 12, 1, 16, 59)  # a minute before the limit: still allowed
    _extend(api, case_no, "head_lin", days=1)
    # the limit is now Wed 2 Dec 17:00; the next morning it has run out
    clock.now = utc(2026, 12, 3, 9)
    late = _extend(api, case_no, "head_lin", 409)
    assert "法定期限已于 2026-12-02 17:00 届满" in late["message"]
    assert api.case(case_no)["extended_days"] == 1


def test_a_joint_case_is_extended_by_the_governments_head_up_to_15_days(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 11, 3, 10))
    api, case_no = _apply(demo_app, "joint-investment")
    # the section chief leading the case's ndrc post reads it, and is refused by law
    refused = _extend(api, case_no, "leader_yuan", 403)
    assert (
        "示范市人民政府" in refused["message"] and "市长何建军、副市长宋立新" in refused["message"]
    )
    # the housing bureau's deputy head leads its construction post, so reads the case: a
    # bureau's head is still not the government's; the planning bureau's head has no part
    assert "示范市人民政府" in _extend(api, case_no, "deputy_qin", 403)["message"]
    _extend(api, case_no, "head_lin", 404)
    _extend(api, case_no, "vice_mayor_song", days=10)
    _extend(api, case_no, "mayor_he", days=5)
    assert _extend(api, case_no, "mayor_he", 400, days=1)["message"].startswith(
        "本事项依法最多可延长 15 个工作日"
    )
    assert api.case(case_no)["extended_days"] == 15


def test_heads_see_the_cases_they_answer_for_and_no_others(demo_app):
    demo_app.config["CLOCK"] = Clock(utc(2026, 11, 3, 10))
    api, planning = _apply(demo_app, "planning-permit")
    _, joint = _apply(demo_app, "joint-investment")
    api.case(planning, "head_lin")  # the bureau's head reads its case
    api.call("GET", f"/cases/{joint}", "head_lin", 404)  # not a joint case it holds no task of
    api.case(joint, "mayor_he")
    api.call("GET", f"/cases/{planning}", "mayor_he", 404)
    assert local(dt.datetime(2026, 11, 3, 2)) == dt.datetime(2026, 11, 3, 10)


def test_everyone_but_the_approving_heads_is_refused_on_the_web_and_the_api(demo_app):
    """The authorization matrix's people (one per role, tests/test_authz.py) against the
    extension of a joint case: refused, and the case keeps its limit."""
    from tests.test_authz import PEOPLE
    from tests.webclient import Web

    demo_app.config["CLOCK"] = Clock(utc(2026, 11, 3, 10))
    api, case_no = _apply(demo_app, "joint-investment")
    for role, user in PEOPLE.items():
        if user is None:
            resp = demo_app.test_client().post(f"/api/v1/cases/{case_no}/extend", json=BODY)
            assert resp.status_code == 401, role
            continue
        resp = api.client.post(
            f"/api/v1/cases/{case_no}/extend",
            json=BODY,
            headers={"Authorization": f"Bearer {api.token(user)}"},
        )
        assert resp.status_code in (403, 404), (role, resp.status_code)
        web = Web(demo_app, user)
        resp = web.post(f"/cases/{case_no}/extend", {"days": "5", "reason": "需论证"},
                        expect=None)  # fmt: skip
        assert resp.status_code in (302, 403, 404), (role, resp.status_code)
        if resp.status_code == 302:  # back to the case page with the refusal said
            page = web.get(resp.headers["Location"], expect=None).text
            assert 'class="flash error"' in page, role
    assert api.case(case_no)["extended_days"] == 0
    web = Web(demo_app, "mayor_he")
    web.post(f"/cases/{case_no}/extend", {"days": "5", "reason": "需组织专家论证"})
    assert api.case(case_no)["extended_days"] == 5


def test_the_case_page_offers_the_extension_to_its_approvers_and_names_them_to_others(demo_app):
    from tests.webclient import Web

    demo_app.config["CLOCK"] = Clock(utc(2026, 11, 3, 10))
    api, case_no = _apply(demo_app, "planning-permit")
    head = Web(demo_app, "head_lin", lang="zh").get(f"/cases/{case_no}").text
    assert 'data-extension="form"' in head and "批准延期" in head
    chief = Web(demo_app, "leader_gao", lang="zh")
    page = chief.get(f"/cases/{case_no}").text
    assert 'data-extension="form"' not in page
    assert "延期（《行政许可法》第四十二条）须由示范市自然资源和规划局负责人批准" in page
    assert "局长林国栋、副局长罗志明、常务副局长谢红梅" in page
    refused = chief.post(f"/cases/{case_no}/extend", {"days": "5", "reason": "需论证"}, expect=403)
    assert "延期须经示范市自然资源和规划局负责人批准" in refused.text
    assert api.case(case_no)["extended_days"] == 0


def test_the_applicants_written_record_of_pauses_and_extensions(demo_app):
    from app.cases.deadlines import clock_changes
    from app.cases.models import Case
    from app.db import session

    clock = Clock(utc(2026, 11, 3, 10))
    demo_app.config["CLOCK"] = clock
    api, case_no = _apply(demo_app, "planning-permit")
    pause = {"kind": "expert_review", "reason": "组织专家评审", "expected_days": 3}
    api.call("POST", f"/cases/{case_no}/pause", "clerk_liu", json=pause)
    clock.now = utc(2026, 11, 6, 10)  # resumed on Fri 6 Nov
    api.call("POST", f"/cases/{case_no}/resume", "clerk_liu", json={})
    clock.now = utc(2026, 11, 9, 10)
    _extend(api, case_no, "head_lin", days=4)
    with demo_app.app_context():
        case_id = session().scalar(Case.__table__.select().with_only_columns(Case.id)
                                   .where(Case.case_no == case_no))  # fmt: skip
        pause_change, extension = clock_changes(case_id)
    assert (pause_change.kind, pause_change.pause_kind, pause_change.days) == (
        "pause", "expert_review", 3)  # fmt: skip
    assert pause_change.basis == "行政许可法第四十五条" and pause_change.reason == "组织专家评审"
    # paused Tue 3 Nov 10:00, resumed Fri 6 Nov 10:00: Tue, Wed, Thu were not counted
    assert pause_change.ended_at == utc(2026, 11, 6, 10) and pause_change.lasted == 3
    assert (extension.kind, extension.days) == ("extension", 4)
    assert extension.basis == "行政许可法第四十二条"
    assert (extension.authority, extension.approver_title) == ("示范市自然资源和规划局", "局长")
    # 20 working days from Tue 3 Nov end Tue 1 Dec; +3 paused: Fri 4 Dec; +4 extended: Thu 10 Dec
    assert local(extension.statutory_due_at) == dt.datetime(2026, 12, 10, 17)


def test_the_progress_query_tells_the_applicant_of_each_pause_and_extension(demo_app):
    """Arts. 42 and 45: the applicant is told in writing what stopped or lengthened the limit,
    why and for how long; the approver by authority and title, never by name."""
    import sqlalchemy as sa

    from app.cases.models import Case
    from app.db import session
    from tests.webclient import Web

    clock = Clock(utc(2026, 11, 3, 10))
    demo_app.config["CLOCK"] = clock
    api, case_no = _apply(demo_app, "planning-permit")
    pause = {"kind": "expert_review", "reason": "组织专家评审", "expected_days": 3}
    api.call("POST", f"/cases/{case_no}/pause", "clerk_liu", json=pause)
    clock.now = utc(2026, 11, 6, 10)
    api.call("POST", f"/cases/{case_no}/resume", "clerk_liu", json={})
    _extend(api, case_no, "head_lin", days=4, reason="需补充现场踏勘")
    with demo_app.app_context():
        code = session().scalar(sa.select(Case.query_code).where(Case.case_no == case_no))
    visitor = Web(demo_app, lang="zh")
    visitor.get("/track")
    page = visitor.post("/track", {"case_no": case_no, "code": code}, expect=200).text
    record = page[page.index('id="clock-record"') :]
    record = record[: record.index("</section>")]
    assert "2026-11-03 10:00 起，因专家评审中止计算办理时限（预计 3 个工作日）" in record
    assert "已于 2026-11-06 10:00 恢复计算，3 个工作日不计入办理时限" in record
    # paused 3 days and extended 4: Tue 1 Dec + 3 = Fri 4 Dec, + 4 = Thu 10 Dec, 17:00
    assert "经示范市自然资源和规划局局长批准，办理时限延长 4 个工作日" in record
    assert "理由：需补充现场踏勘。法定办理时限延至 2026-12-10 17:00" in record
    assert "行政许可法第四十五条" in record and "行政许可法第四十二条" in record
    assert "林国栋" not in page and "head_lin" not in page
