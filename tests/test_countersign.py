"""会签 (issue 23) on both databases: a planning permit whose collective decision is signed by
each of the item's named signers. The right people get the right tasks (each signer, B
standing in for an absent one, never one person twice, four-eyes kept), the stage completes
by its rule, a rejection ends it, and every step is on the chain and verified by
re-execution."""

from __future__ import annotations

import sqlalchemy as sa

from app.cases.models import Case, Task
from app.catalogue.models import Item
from app.db import session
from app.org.models import User
from tests.apiclient import Api, sample_form
from tests.variants import countersign, demo
from tests.verified import assert_verified
from tests.webclient import Web

ITEM = "planning-permit"
RULE = "nrOfRejections > 0 or nrOfCompletedInstances == nrOfInstances"
LEAVE = {"kind": "leave", "starts_at": "2026-01-01T08:00", "ends_at": "2036-01-01T18:00",
         "reason": "年休假"}  # fmt: skip


def _setup(app, api: Api, members: list[str]) -> None:
    """Deploy the countersigned collective decision and name its signers on the item."""
    with app.app_context():  # the signers first: the diagram reads their list
        db = session()
        item = db.scalars(sa.select(Item).where(Item.code == ITEM)).one()
        item.entry = {**item.entry, "signers": {"collective_members": members}}
        db.commit()
    xml = countersign(demo(ITEM), "Task_collective", "collective_members", RULE)
    headers = {"Authorization": f"Bearer {api.token('analyst_zhou')}",
               "Content-Type": "application/xml"}  # fmt: skip
    assert api.client.put(f"/api/v1/items/{ITEM}/draft", data=xml,
                          headers=headers).status_code == 200  # fmt: skip
    api.call("POST", f"/items/{ITEM}/deploy", "analyst_zhou", 201, json={"comment": "会签"})


def _signing(app, case_no: str) -> list[Task]:
    with app.app_context():
        db = session()
        rows = list(db.scalars(sa.select(Task).join(Case, Case.id == Task.case_id).where(
            Case.case_no == case_no, Task.spec_id == "Task_collective")
            .order_by(Task.assignee_id)))  # fmt: skip
        for row in rows:
            db.expunge(row)
        return rows


def _ids(app, *usernames: str) -> dict[str, int]:
    with app.app_context():
        return dict(session().execute(sa.select(User.username, User.id)
                                      .where(User.username.in_(usernames))).all())  # fmt: skip


def _to_collective(api: Api) -> str:
    case_no = api.apply(ITEM, sample_form(ITEM, floor_area=30000))["case_no"]
    api.work(case_no, "Task_lead")
    api.work(case_no, "Task_deputy")
    return case_no


def _sign(api: Api, task: Task, user: str, outcome: str = "approve", comment: str = "同意"):
    body = {"outcome": outcome, "comment": comment, "data": {}}
    if outcome == "reject":
        body["data"] = {"legal_basis": "《城乡规划法》第四十条"}
    return api.call("POST", f"/tasks/{task.id}/complete", user, json=body)


def test_each_signer_signs_b_stands_in_and_all_must_sign(demo_app):
    api = Api(demo_app.test_client())
    members = ["head_lin", "official_lu", "leader_gao"]
    _setup(demo_app, api, members)
    api.call("POST", "/absences", "official_lu", 201, json=LEAVE)  # his B signs for him
    case_no = _to_collective(api)
    ids = _ids(demo_app, *members, "official_jiang")
    rows = _signing(demo_app, case_no)
    held = {(r.assignee_id, r.acting_for_id) for r in rows if r.state == "open"}
    assert held == {(ids["head_lin"], None), (ids["leader_gao"], None),
                    (ids["official_jiang"], ids["official_lu"])}  # fmt: skip
    names = {ids["head_lin"]: "head_lin", ids["leader_gao"]: "leader_gao",
             ids["official_jiang"]: "official_jiang"}  # fmt: skip
    inbox = Web(demo_app, "head_lin").get("/inbox").text  # the inbox says what kind of task
    assert 'data-kind="countersign"' in inbox
    for left, row in ((2, rows[0]), (1, rows[1])):  # the stage waits for every signer
        _sign(api, row, names[row.assignee_id])
        assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_collective"] * left
    _sign(api, rows[2], names[rows[2].assignee_id])
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_head"]
    assert_verified(demo_app, case_no)
    api.work(case_no, "Task_head")
    api.work(case_no, "Task_issue")
    assert api.case(case_no)["decision"] == "approved"
    assert_verified(demo_app, case_no)


def test_a_rejection_ends_it_and_the_deputy_signs_his_own_part(demo_app):
    api = Api(demo_app.test_client())
    # the bureau's leaders: deputy_luo decides the deputy stage, then signs his own part of
    # the collective decision (the others sign beside him: four-eyes does not keep him off)
    members = ["head_lin", "deputy_luo", "deputy_xie"]
    _setup(demo_app, api, members)
    case_no = _to_collective(api)
    ids = _ids(demo_app, *members)
    rows = _signing(demo_app, case_no)
    assert sorted(r.assignee_id for r in rows) == sorted(ids.values())
    assert all(r.acting_for_id is None for r in rows)
    luo = next(r for r in rows if r.assignee_id == ids["deputy_luo"])
    _sign(api, luo, "deputy_luo")
    xie = next(r for r in rows if r.assignee_id == ids["deputy_xie"])
    _sign(api, xie, "deputy_xie", "reject", "用地性质不符")
    # the rule: one rejection ends the 会签; the open part goes; the case is denied
    assert api.open_tasks(case_no) == []
    after = sorted(r.state for r in _signing(demo_app, case_no))
    assert after == ["cancelled", "completed", "completed"]
    assert api.case(case_no)["decision"] == "denied"
    assert_verified(demo_app, case_no)


def test_nobody_signs_twice_and_no_signer_claims_the_part_left_over(demo_app):
    api = Api(demo_app.test_client())
    members = ["head_lin", "deputy_luo", "deputy_xie"]
    _setup(demo_app, api, members)
    # deputy_luo away: his stand-in (B of his post) is deputy_xie, who signs her own part;
    # nobody signs twice, so his part waits in the post's queue and no signer may claim it
    api.call("POST", "/absences", "deputy_luo", 201, json=LEAVE)
    case_no = _to_collective(api)
    ids = _ids(demo_app, *members)
    rows = _signing(demo_app, case_no)
    assert sorted((r.assignee_id or 0) for r in rows) == sorted(
        [0, ids["head_lin"], ids["deputy_xie"]])  # fmt: skip
    queued = next(r for r in rows if r.assignee_id is None)
    for user in ("deputy_xie", "head_lin"):
        api.call("POST", f"/tasks/{queued.id}/claim", user, 403)
    assert_verified(demo_app, case_no)


def test_the_demo_collective_decision_is_a_countersign_of_the_bureaus_leaders(demo_app):
    """As deployed (no variant): the planning permit's collective decision opens one part for
    each of the three leaders its catalogue entry names; a return by one of them ends the 会签
    and sends the case back to the lead; the next pass needs all three again."""
    api = Api(demo_app.test_client())
    case_no = _to_collective(api)
    members = ["head_lin", "deputy_luo", "deputy_xie"]
    ids = _ids(demo_app, *members)
    rows = _signing(demo_app, case_no)
    assert sorted(r.assignee_id for r in rows) == sorted(ids.values())
    assert {r.assignment_reason for r in rows} == {f'{{"reason":"signer","signer":{i}}}'
                                                   for i in ids.values()}  # fmt: skip
    head = next(r for r in rows if r.assignee_id == ids["head_lin"])
    _sign(api, head, "head_lin")
    xie = next(r for r in rows if r.assignee_id == ids["deputy_xie"])
    _sign(api, xie, "deputy_xie", "return", "请补充交通影响评价")
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_lead"]
    assert sorted(r.state for r in _signing(demo_app, case_no)) == [
        "cancelled", "completed", "completed"]
    api.work(case_no, "Task_lead")
    api.work(case_no, "Task_deputy")
    second = [r for r in _signing(demo_app, case_no) if r.state == "open"]
    assert sorted(r.assignee_id for r in second) == sorted(ids.values())
    for row in second:
        _sign(api, row, next(u for u, i in ids.items() if i == row.assignee_id))
    assert [t["spec_id"] for t in api.open_tasks(case_no)] == ["Task_head"]
    # the transfer card names each leader's part as a 会签 part, not a stage of its own
    card = Web(demo_app, "supervisor_wu").get(f"/cases/{case_no}/card").text
    assert card.count('data-kind="countersign"') == 5  # 2 signed (1 cancelled) + 3
    assert_verified(demo_app, case_no)


def test_a_signer_going_away_later_never_hands_the_part_to_one_who_signs_beside(demo_app):
    """After the parts are out: the head goes on leave; the A/B sweep may not move his part
    to the stage post's A or B (deputy_xie, deputy_luo), who sign their own parts: it waits
    in the queue. Nor may a signer transfer their part to one who signs beside them."""
    api = Api(demo_app.test_client())
    case_no = _to_collective(api)
    ids = _ids(demo_app, "head_lin", "deputy_luo", "deputy_xie")
    head = next(r for r in _signing(demo_app, case_no) if r.assignee_id == ids["head_lin"])
    api.call("POST", "/absences", "head_lin", 201, json=LEAVE)
    moved = next(r for r in _signing(demo_app, case_no) if r.id == head.id)
    assert moved.assignee_id is None and moved.state == "open"
    assert "queue" in moved.assignment_reason
    luo = next(r for r in _signing(demo_app, case_no) if r.assignee_id == ids["deputy_luo"])
    refused = api.call("POST", f"/tasks/{luo.id}/transfer", "deputy_luo", 409,
                       json={"to_user_id": ids["deputy_xie"], "reason": "请代签"})  # fmt: skip
    assert "会签" in refused["message"] or "已在签署" in refused["message"]
    assert sorted(r.assignee_id or 0 for r in _signing(demo_app, case_no)) == sorted(
        [0, ids["deputy_luo"], ids["deputy_xie"]])
    assert_verified(demo_app, case_no)
