"""Who may see and do what: every route, with every role, against real objects.

Each route is listed once with the people allowed to use it on the objects of a scene; all
others must be refused (401 or a redirect to log-in for nobody, 403 for a role or an
object that is not theirs, 404 where even the existence of a case is not theirs to know).
A refused change leaves the case exactly as it was. A new route that is not listed here
fails `test_every_route_is_in_the_matrix`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from app.applicants.models import FollowUp
from app.audit.models import Event
from app.cases.models import Case, Task
from app.db import session
from app.org.models import Absence, Department, Post, User
from config import BASE_DIR
from tests.apiclient import Api, sample_form
from tests.webclient import Web

JOINT = "joint-investment"
JOINT_XML = (BASE_DIR / "bpmn" / f"{JOINT}.bpmn").read_text("utf-8")
# one person per role, plus a second official with no part in the scene's case
PEOPLE = {
    "anonymous": None,
    "clerk": "clerk_liu",
    "official": "official_xiao",  # A of ndrc_review: holds the scene's Task_ndrc
    "other_official": "official_zhao",  # house registration; nothing to do with the case
    "leader": "leader_yuan",  # leader of ndrc_review
    "env_a": "official_shi",  # A of env_review (shared in the claim scene)
    "supervisor": "supervisor_wu",
    "auditor": "auditor_sun",
    "analyst": "analyst_zhou",
    "admin": "admin",
    "applicant": "applicant_he",  # applies online in the scene
    "other_applicant": "applicant_hengtai",
}
APPLICANTS = {"applicant", "other_applicant"}
STATS = {"leader", "supervisor", "auditor", "admin"}
SCENE_IDS = ("application", "upload", "follow_up", "rated_case", "complaint")
STAFF = set(PEOPLE) - {"anonymous"} - APPLICANTS
EVERYONE = STAFF | APPLICANTS  # logged in
ONLINE_READERS = {"applicant", "clerk", "supervisor", "auditor", "admin"}
FOLLOW_UP_READERS = {"supervisor", "auditor", "admin"}


@dataclass
class Scene:
    """A demo centre with one joint-approval case and the ids routes need."""

    app: object
    case_no: str
    task_id: str  # Task_ndrc, held by official_xiao
    env_task_id: str
    absence_id: int
    ids: dict[str, int] = field(default_factory=dict)

    def case_state(self) -> tuple:
        with self.app.app_context():
            db = session()
            case = db.scalars(sa.select(Case).where(Case.case_no == self.case_no)).one()
            events = db.scalar(
                sa.select(sa.func.count()).select_from(Event).where(Event.case_id == case.id)
            )
            tasks = db.execute(
                sa.select(Task.id, Task.assignee_id, Task.state).where(Task.case_id == case.id)
            ).all()
            return case.status, case.version, events, sorted(map(tuple, tasks))


def _online(app, ids: dict, stop_at: str, rated: bool) -> None:
    """applicant_he's online application (with one upload), and a badly rated case."""
    import io

    from app.applicants import applications, evaluations

    with app.app_context():
        db = session()
        he = db.scalars(sa.select(User).where(User.username == "applicant_he")).one()
        clerk = db.scalars(sa.select(User).where(User.username == "clerk_liu")).one()
        form = {"certificate_no": "示房权证第1号", "house_address": "东路 8 号",
                "cancel_reason": "房屋灭失"}  # fmt: skip
        online = applications.start(he, "house-cancellation", form)
        up = applications.attach(he, online.number, "application", io.BytesIO(b"%PDF-1.4 x"),
                                 "申请书.pdf")  # fmt: skip
        ids["application"], ids["upload"] = online.number, up.id
        if stop_at != "draft":
            applications.submit(he, online.number, missing_confirmed=True)
        if stop_at == "supplement_required":
            applications.request_supplements(clerk, online.number, ["certificate"], "")
    if rated:
        api = Api(app.test_client())
        rated_no = api.apply("house-cancellation", sample_form("house-cancellation"))["case_no"]
        api.work(rated_no, "Task_review", data={"review_opinion": "同意"})
        api.work(rated_no, "Task_issue")
        with app.app_context():
            case = session().scalars(sa.select(Case).where(Case.case_no == rated_no)).one()
            evaluations.rate(case, 1, "态度差", "online")
            ids["follow_up"] = session().scalar(sa.select(sa.func.max(FollowUp.id)))
            ids["rated_case"] = rated_no


def _complaint(app, ids: dict, status: str) -> None:
    """A phone complaint about the ndrc, taken as far as `status`."""
    from app.complaints import services as complaints

    with app.app_context():
        db = session()

        def user(name: str) -> User:
            return db.scalars(sa.select(User).where(User.username == name)).one()

        ndrc = db.scalar(sa.select(Department.id).where(Department.code == "ndrc"))
        number = complaints.register(user("supervisor_wu"), complaints.NewComplaint(
            channel="phone", complainant_name="王小明", complainant_phone="13912345678",
            subject="办理超时", content="材料交齐两周无消息",
            department_id=None if status == "registered" else ndrc)).number  # fmt: skip
        if status in ("investigating", "replied"):
            complaints.add_note(user("official_xiao"), number, "已核查")
        if status == "replied":
            complaints.reply(user("supervisor_wu"), number, "已答复")
        ids["complaint"] = number


def _scene(app, shared_env: bool = False, supplement: bool = False, decided: bool = False,
           paused: bool = False, draft: bool = False, online: str = "",
           rated: bool = False, complaint: str = "", faulted: bool = False):  # fmt: skip
    with app.app_context():
        db = session()
        if shared_env:
            db.execute(sa.update(Post).where(Post.code == "env_review").values(shared=True))
            db.commit()
    api = Api(app.test_client())
    materials = None
    if supplement:
        from tests.apiclient import required_materials

        materials = required_materials(JOINT)[:-1]
    case_no = api.apply(JOINT, sample_form(JOINT), materials=materials)["case_no"]
    if decided:
        for spec, field_id in (("Task_ndrc", "ndrc_opinion"), ("Task_land", "land_opinion"),
                               ("Task_construction", "construction_opinion"),
                               ("Task_env", "env_opinion")):  # fmt: skip
            api.work(case_no, spec, data={field_id: "同意"})
        api.work(case_no, "Task_issue")
        assert api.case(case_no)["status"] == "decided"
    if faulted:  # a completion past the step limit stops the case (流程异常)
        from workflows.engine import StepLimits

        for spec, field_id in (("Task_land", "land_opinion"),
                               ("Task_construction", "construction_opinion"),
                               ("Task_env", "env_opinion")):  # fmt: skip
            api.work(case_no, spec, data={field_id: "同意"})
        engine = app.extensions["ow_runtime"].engine
        engine.limits = StepLimits(max_tasks=0)  # the join after the last branch runs no more
        api.work(case_no, "Task_ndrc", data={"ndrc_opinion": "同意"}, expect=409)
        engine.limits = StepLimits()
        assert api.case(case_no)["status"] == "fault"
    if paused:
        api.call("POST", f"/cases/{case_no}/pause", "clerk_liu", json=PAUSE)
    if draft:  # the joint diagram with its first task renamed, saved by the analyst
        xml = JOINT_XML.replace('name="项目核准"', 'name="项目核准（含节能审查）"', 1)
        resp = api.client.put(
            f"/api/v1/items/{JOINT}/draft",
            data=xml.encode(),
            headers={"Authorization": f"Bearer {api.token('analyst_zhou')}"},
        )
        assert resp.status_code == 200 and resp.get_json()["errors"] == 0, resp.get_json()
    online_ids: dict = {}
    if online or rated:
        _online(app, online_ids, online or "submitted", rated)
    if complaint:
        _complaint(app, online_ids, complaint)
    leave = {"kind": "leave", "starts_at": "2030-01-01T09:00", "ends_at": "2030-01-03T09:00"}
    absence_id = api.call("POST", "/absences", "official_shi", 201, json=leave)["id"]
    with app.app_context():
        db = session()
        ids = dict(db.execute(sa.select(User.username, User.id)).all())
        ids["post"] = db.scalar(sa.select(Post.id).where(Post.code == "ndrc_review"))
        ids["dept"] = db.scalar(sa.select(Department.id).where(Department.code == "ndrc"))
        ids.update(online_ids)
        tasks = dict(
            db.execute(
                sa.select(Task.spec_id, Task.id)
                .join(Case, Case.id == Task.case_id)
                .where(Case.case_no == case_no)
            ).all()
        )
    return Scene(app, case_no, str(tasks.get("Task_ndrc")), str(tasks.get("Task_env")),
                 absence_id, ids)  # fmt: skip


# --- reading -------------------------------------------------------------------------------

READ_ALL = {"clerk", "supervisor", "auditor", "admin"}
CASE_READERS = READ_ALL | {"official", "leader", "env_a"}  # env_a holds Task_env
TASK_READERS = {"official", "leader", "supervisor", "auditor", "admin"}
OFFICIALS = {"official", "other_official", "leader", "env_a"}
AUDITORS = {"auditor", "supervisor", "admin"}

# endpoint -> (path template, who may)
WEB_GETS = {
    "web.home": ("/", EVERYONE),
    "web.inbox": ("/inbox", OFFICIALS | {"clerk"}),
    "web.done": ("/done", OFFICIALS | {"clerk"}),
    "web.task": ("/tasks/{task_id}", TASK_READERS),
    "web.case": ("/cases/{case_no}", CASE_READERS),
    "web.case_search": ("/cases?q={case_no}", STAFF - {"analyst"}),
    # the licence registry: the centre's staff who read cases (app/licences/queries.py)
    "web.licences": ("/licences?q=李华", STAFF - {"analyst"}),
    "web.window": ("/window", {"clerk"}),
    "web.receive": (f"/window/receive/{JOINT}", {"clerk"}),
    "web.absences_page": ("/absences", STAFF),
    "web.admin_users": ("/admin/users", {"admin"}),
    "web.admin_user": ("/admin/users/{official}", {"admin"}),
    "web.admin_posts": ("/admin/posts", {"admin"}),
    "web.admin_post": ("/admin/posts/{post}", {"admin"}),
    "web.admin_departments": ("/admin/departments/{dept}", {"admin"}),
    "web.card": ("/cases/{case_no}/card", CASE_READERS),
    "web.supervision_page": ("/supervision", {"supervisor", "leader", "admin", "auditor"}),
    "web.notifications": ("/notifications", EVERYONE),
    "web.account_sessions": ("/account/sessions", EVERYONE),
    "web.account_password": ("/account/password", EVERYONE),
    "web.admin_calendar": ("/admin/calendar", {"admin"}),
    "web.audit_home": ("/audit", AUDITORS),
    "web.audit_timeline": ("/audit/cases/{case_no}", AUDITORS),
    "web.audit_replay": ("/audit/cases/{case_no}/replay?step=3", AUDITORS),
    "web.audit_verify": ("/audit/cases/{case_no}/verify", AUDITORS),
    "web.audit_export": ("/audit/export.csv", AUDITORS),
    "web.audit_checkpoints": ("/audit/checkpoints", AUDITORS),
    "web.audit_checkpoint_download": ("/audit/checkpoints.pem", AUDITORS),
    "web.audit_personal_data": ("/audit/personal-data", AUDITORS),
    "web.analyst_home": ("/analyst", {"analyst"}),
    "web.analyst_edit": (f"/analyst/items/{JOINT}/edit", {"analyst"}),
    "web.analyst_xml": (f"/analyst/items/{JOINT}/bpmn?version=1", {"analyst"}),
    "web.analyst_diff": (f"/analyst/items/{JOINT}/diff", {"analyst"}),
    # the dry run's POST stores nothing: test_analysts_runs checks who may post it
    "web.analyst_dryrun": (f"/analyst/items/{JOINT}/dryrun", {"analyst"}),
    "web.analyst_stuck": (f"/analyst/items/{JOINT}/stuck", {"analyst", "supervisor", "admin"}),
    "web.apply_home": ("/apply", APPLICANTS),
    "web.apply_item": ("/apply/house-cancellation", APPLICANTS),
    "web.my_home": ("/my", APPLICANTS),
    "web.my_application": ("/my/applications/{application}", ONLINE_READERS),
    "web.my_file": ("/my/applications/{application}/files/{upload}", ONLINE_READERS),
    "web.application_notice": (
        "/my/applications/{application}/supplement-notice.pdf",
        ONLINE_READERS,
    ),
    "web.case_notice": (
        "/cases/{case_no}/notices/commitment.pdf",
        {"clerk", "supervisor", "auditor", "admin"},
    ),  # and its own applicant
    "web.online_queue": ("/window/online", {"clerk"}),
    "web.window_rate": ("/window/rate/{case_no}", {"clerk"}),
    "web.follow_up_list": ("/followups", FOLLOW_UP_READERS),
    "web.follow_up": ("/followups/{follow_up}", FOLLOW_UP_READERS),
    # officials and leaders see their own departments' tickets (test_complaints checks which)
    "web.complaints_page": ("/complaints", OFFICIALS | {"supervisor", "auditor", "admin"}),
    "web.complaint_new": ("/complaints/new", {"supervisor", "admin"}),
    "web.stats_page": ("/stats?period=2026-11", STATS),
    "web.stats_export": ("/stats/export.csv?period=2026-11", STATS),
    "web.stats_report": ("/stats/report.pdf?month=2026-11", STATS),
    "web.complaint": (
        "/complaints/{complaint}",
        {"supervisor", "auditor", "admin", "official", "leader"},
    ),
}
# the modeler's JSON posts (XML body, CSRF token in a header): see test_modeler_posts
MODELER_POSTS = {"web.analyst_save", "web.analyst_deploy"}
API_GETS = {
    "api.tasks": ("/tasks", STAFF),
    "api.task_queue": ("/tasks/queue", STAFF),
    "api.task_detail": ("/tasks/{task_id}", TASK_READERS),
    "api.get_case": ("/cases/{case_no}", CASE_READERS),
    "api.events": ("/cases/{case_no}/events", CASE_READERS),
    "api.posts": ("/posts", STAFF - {"analyst"}),
    "api.transfer_card": ("/cases/{case_no}/card", CASE_READERS),
    "api.notifications": ("/notifications", STAFF),
    "api.item_versions": (f"/items/{JOINT}/versions", {"analyst", "auditor", "admin"}),
    "api.item_version_xml": (f"/items/{JOINT}/versions/1/bpmn", {"analyst", "auditor", "admin"}),
    "api.items": ("/items", EVERYONE | {"anonymous"}),
    "api.item": (f"/items/{JOINT}", EVERYONE | {"anonymous"}),
    "api.openapi": ("/openapi.json", EVERYONE | {"anonymous"}),
}
PUBLIC = {
    "web.login": "/login",
    "static": "/static/app.css",
    "web.track": "/track",
    "web.feedback": "/feedback",  # its POST (anyone, throttled): tests/test_applicant_paths.py
    "web.evaluation_figures": "/figures/evaluations",
    "web.guide_catalogue": "/guide",
    "web.guide_page": f"/guide/{JOINT}",
    "web.results": "/results",
    "web.results_feed": "/results.atom",
    "web.register": "/register",
    "web.public_figures": "/figures?month=2026-11",
    "web.verify_document": "/verify",  # its POST (anyone): tests/test_signing.py
    "web.licence_register": "/licence-register",
}
# tested on their own: an upload (multipart, one file per request) and the rating with the
# query code (public, proves ownership by the code): tests/test_applicants.py
SEPARATE = {"web.my_upload", "web.track_rate"}
# shows the full numbers (200, not a redirect) for a stated reason: tests/test_privacy.py
SEPARATE |= {"web.case_personal_data"}
# the window's rating kiosk: no account, its signed one-case grant is the key (a wrong or
# expired grant is 404, a spent one 409): tests/test_faces.py
SEPARATE |= {"web.kiosk_rate"}
# checking a PDF (anyone, no account; nothing kept): tests/test_signing.py
SEPARATE |= {"web.verify_document_check"}
# a document's code (anyone who has the document) and a licence's page (staff, by its id):
# tests/test_licences.py
SEPARATE |= {"web.licence_status", "web.licence_page"}
# ending one of one's own web sessions (each person's own session id): tests/test_sessions.py
SEPARATE |= {"web.account_end_session"}
# an extension is approved by a head of the case's authority (for the scene's joint case, the
# government's head), a person outside these roles: tests/test_extensions.py tries every
# person of this matrix against it
SEPARATE |= {"web.extend", "api.extend"}
# what-if runs (analysts and admins; started in the background, read by run id):
# tests/test_whatif.py tries every person of this matrix against both
SEPARATE |= {"api.start_what_if", "api.what_if_run"}
# migration plans (analysts plan; a leader of the item's authority or an admin, not the
# planner, approves or declines): tests/test_migration.py tries every person against each
SEPARATE |= {"api.make_migration_plan", "api.migration_plans_of", "api.migration_plan",
             "api.approve_migration_plan", "api.decline_migration_plan"}
# 抄送 (only the holder of an open task sends; a copy admits reading): tests/test_copies.py
SEPARATE |= {"api.send_copies", "api.my_copies", "web.case_send_copies"}
# 委派 (only the holder delegates or takes back; the delegate alone reads and hands back their
# work): tests/test_delegation.py
SEPARATE |= {"api.delegate_task", "api.take_back_task", "api.my_delegations",
             "api.delegated_work", "api.hand_back", "web.task_delegate", "web.task_take_back",
             "web.delegation_page"}
# 撤回 (only the one who completed a step): tests/test_recall.py
SEPARATE |= {"api.recall_task", "web.task_recall"}
# 加签/减签 (only the holder adds or removes): tests/test_added_signers.py
# 征求意见 (only the holder asks): tests/test_opinions.py
SEPARATE |= {"api.ask_opinion", "web.task_ask_opinion"}
SEPARATE |= {"api.add_signer", "api.remove_signer", "web.task_add_signer",
             "web.task_remove_signer"}
SEPARATE |= {"web.analyst_whatif", "web.analyst_migrations", "web.migrations_waiting",
             "web.migration_plan_page", "web.migration_approve", "web.migration_decline"}


def _path(template: str, scene: Scene) -> str:
    return template.format(
        task_id=scene.task_id, case_no=scene.case_no, official=scene.ids["official_xiao"],
        post=scene.ids["post"], dept=scene.ids["dept"],
        **{k: scene.ids.get(k, "") for k in SCENE_IDS},
    )  # fmt: skip


def test_every_route_is_in_the_matrix(app):
    covered = (set(WEB_GETS) | set(API_GETS) | set(PUBLIC) | set(WEB_POSTS) | set(API_CHANGES)
               | MODELER_POSTS | SEPARATE | {"api.token"})  # fmt: skip
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - covered == set(), "routes missing from the authorization matrix"
    assert covered - endpoints == set(), "matrix lists routes that do not exist"


def test_who_may_read_what(demo_app):
    scene = _scene(demo_app, online="supplement_required", rated=True, complaint="assigned")
    webs = {role: Web(demo_app, user) for role, user in PEOPLE.items()}
    api = Api(demo_app.test_client())
    for endpoint, (template, allowed) in WEB_GETS.items():
        path = _path(template, scene)
        for role, web in webs.items():
            resp = web.get(path, expect=None)
            if role == "anonymous":
                assert resp.status_code == 302 and "/login" in resp.headers["Location"], path
            elif role in allowed:
                assert resp.status_code in (200, 302), (endpoint, role, resp.status_code)
                assert "/login" not in resp.headers.get("Location", ""), (endpoint, role)
            else:
                assert resp.status_code in (403, 404), (endpoint, role, resp.status_code)
    for endpoint, (template, allowed) in API_GETS.items():
        path = _path(template, scene)
        for role, user in PEOPLE.items():
            if role == "anonymous":
                resp = api.client.get(f"/api/v1{path}")
                expected = {200} if role in allowed else {401}
            else:
                resp = api.client.get(
                    f"/api/v1{path}", headers={"Authorization": f"Bearer {api.token(user)}"}
                )
                expected = {200} if role in allowed else {403, 404}
            assert resp.status_code in expected, (endpoint, role, resp.status_code)
    for endpoint, path in PUBLIC.items():
        assert webs["anonymous"].get(path, expect=None).status_code == 200, endpoint


def test_an_official_cannot_reach_another_officials_task_or_an_unrelated_case(demo_app):
    scene = _scene(demo_app)
    zhao = Web(demo_app, "official_zhao")
    assert zhao.get(f"/tasks/{scene.task_id}", expect=403)
    assert "李华" not in zhao.get(f"/cases/{scene.case_no}", expect=404).text
    found = zhao.get(f"/cases?q={scene.case_no}").text
    assert "李华" not in found and "No case you may see matches" in found
    # the applicant of one case cannot read another applicant's case through the API
    api = Api(demo_app.test_client())
    api.call("GET", f"/cases/{scene.case_no}", "analyst_zhou", 404)


# --- changing -------------------------------------------------------------------------------


# pause and resume: the window, admin, holders of the case's open tasks and their leaders
TIME_KEEPERS = {"clerk", "admin", "official", "leader", "env_a"}
PAUSE = {"kind": "expert_review", "reason": "组织专家评审", "expected_days": 3}
REFUSAL = {"reason": "不属于本中心职权范围", "legal_basis": "《行政许可法》第三十二条"}


@dataclass(frozen=True)
class Change:
    """A POST (or DELETE) with a valid body, and who may make it."""

    path: str
    allowed: set[str]
    body: dict = field(default_factory=dict)
    scene: dict = field(default_factory=dict)
    case_unchanged: bool = True  # refusals must leave the case as it was
    method: str = "POST"
    raw: bool = False  # send the body as the diagram XML, not JSON


WEB_POSTS = {
    "web.complete": Change("/tasks/{task_id}/complete", {"official"},
                           {"outcome": "approve", "f_ndrc_opinion": "同意"}),
    "web.transfer": Change("/tasks/{task_id}/transfer", {"official", "leader", "admin"},
                           {"to_user": "{official_cheng}", "reason": "工作调整"}),
    "web.claim": Change("/tasks/{env_task_id}/claim", {"env_a"}, scene={"shared_env": True}),
    "web.receive": Change(f"/window/receive/{JOINT}", {"clerk"},
                          {"applicant_name": "某公司", "applicant_id_number": "91330100MA2H000009",
                           "decision": "accept", "materials": ["identity"],
                           **{f"a_{k}": str(v) for k, v in sample_form(JOINT).items()}},
                          case_unchanged=False),
    "web.supplement": Change("/cases/{case_no}/supplement", {"clerk"},
                             {"materials": ["commitment"]}, scene={"supplement": True}),
    "web.refuse": Change("/cases/{case_no}/refuse", {"clerk"},
                         {**REFUSAL, "confirm": "y"},
                         scene={"supplement": True}),
    "web.withdraw": Change("/cases/{case_no}/withdraw", {"clerk"},
                           {"reason": "申请人撤回", "confirm": "y"}),
    "web.case_close": Change("/cases/{case_no}/close", {"clerk"},
                             {"method": "in_person", "recipient": "李华", "confirm": "y"},
                             scene={"decided": True}),
    "web.case_retry": Change("/cases/{case_no}/retry", {"admin"}, scene={"faulted": True}),
    "web.absences_page": Change("/absences", {"env_a", "admin"},
                                {"user_id": "{official_shi}", "kind": "trip",
                                 "starts_at": "2031-01-01T09:00", "ends_at": "2031-01-02T09:00"}),
    "web.end_absence": Change("/absences/{absence_id}/end", {"env_a", "admin"}),
    "web.checkin": Change("/checkin", STAFF),
    "web.logout": Change("/logout", EVERYONE),
    "web.admin_end_sessions": Change("/admin/users/{official}/sessions/end", {"admin"}),
    "web.audit_checkpoint_now": Change("/audit/checkpoints", {"auditor", "admin"}),
    "web.language": Change("/language", EVERYONE | {"anonymous"}, {"lang": "en"}),
    "web.admin_user": Change("/admin/users/new", {"admin"},
                             {"username": "new_person", "name": "新人", "roles": ["official"],
                              "department_id": "0", "password": "long-enough-1", "active": "y"}),
    "web.admin_post": Change("/admin/posts/new", {"admin"},
                             {"code": "new_post", "name": "新岗位", "department_id": "{dept}",
                              "a_user_id": "{official_zhao}", "b_user_id": "{official_qian}",
                              "leader_user_id": "0"}),
    "web.pause": Change("/cases/{case_no}/pause", TIME_KEEPERS,
                        {k: str(v) for k, v in PAUSE.items()}),
    "web.resume": Change("/cases/{case_no}/resume", TIME_KEEPERS, scene={"paused": True}),
    "web.urge": Change("/cases/{case_no}/urge", {"supervisor"}, {"text": "请加快办理"}),
    "web.supervision_opinion": Change("/cases/{case_no}/supervision-opinion", {"supervisor"},
                                      {"text": "受理程序规范，承诺时限符合规定"}),
    "web.notifications_read": Change("/notifications/read", EVERYONE),
    "web.apply_item": Change("/apply/house-cancellation", APPLICANTS,
                             {"a_certificate_no": "示房权证第2号", "a_house_address": "西路 1 号",
                              "a_cancel_reason": "房屋灭失"}),
    "web.my_application_action": Change("/my/applications/{application}/withdraw",
                                        {"applicant"}, scene={"online": "submitted"}),
    "web.online_review": Change("/window/online/{application}/invite", {"clerk"},
                                {"note": "请携带原件到一楼窗口"}, scene={"online": "submitted"}),
    "web.case_notice_hand_over": Change("/cases/{case_no}/notices/commitment/hand-over",
                                        {"clerk"}),
    # a clerk opens the rating kiosk for the case (a POST carrying a rating is refused:
    # tests/test_faces.py); the kiosk itself is the applicant's (web.kiosk_rate)
    "web.window_rate": Change("/window/rate/{case_no}", {"clerk"}, scene={"decided": True}),
    "web.complaint_new": Change("/complaints/new", {"supervisor", "admin"},
                                {"channel": "phone", "complainant_name": "王小明",
                                 "complainant_phone": "13912345678", "subject": "办理超时",
                                 "content": "材料交齐两周无消息", "department_id": "0"}),
    "web.complaint_assign": Change("/complaints/{complaint}/assign", {"supervisor", "admin"},
                                   {"department_id": "{dept}"},
                                   scene={"complaint": "registered"}),
    "web.complaint_note": Change("/complaints/{complaint}/notes", {"official", "leader", "admin"},
                                 {"text": "已核查"}, scene={"complaint": "assigned"}),
    "web.complaint_reply": Change("/complaints/{complaint}/reply", {"supervisor", "admin"},
                                  {"text": "已答复"}, scene={"complaint": "investigating"}),
    "web.complaint_archive": Change("/complaints/{complaint}/archive", {"supervisor", "admin"},
                                    scene={"complaint": "replied"}),
    "web.follow_up": Change("/followups/{follow_up}", {"supervisor"},
                            {"contact_note": "已电话回访", "rectification": "已整改",
                             "second_level": "4"}, scene={"rated": True}),
    "web.admin_calendar": Change("/admin/calendar", {"admin"},
                                 {"year": "2031", "source": "国办发明电〔2030〕1号",
                                  "holidays": "2031-01-01 元旦", "workdays": ""}),
    "web.admin_departments": Change("/admin/departments", {"admin"},
                                    {"code": "new_dept", "name": "新部门", "kind": "bureau",
                                     "parent_id": "0"}),
    # the draft has no JUEL/FEEL: the analyst is told so (test_analysts_rewrite does the rest)
    "web.analyst_rewrite": Change(f"/analyst/items/{JOINT}/draft/rewrite", {"analyst"},
                                  scene={"draft": True}),
}  # fmt: skip
API_CHANGES = {
    "api.create_case": Change("/cases", {"clerk"}, case_unchanged=False),
    "api.complete": Change("/tasks/{task_id}/complete", {"official"},
                           {"outcome": "approve", "data": {"ndrc_opinion": "同意"}}),
    "api.transfer": Change("/tasks/{task_id}/transfer", {"official", "leader", "admin"},
                           {"to_user_id": "{official_cheng}", "reason": "工作调整"}),
    "api.claim": Change("/tasks/{env_task_id}/claim", {"env_a"}, scene={"shared_env": True}),
    "api.supplement": Change("/cases/{case_no}/supplement", {"clerk"},
                             {"materials": ["commitment"]}, scene={"supplement": True}),
    "api.refuse": Change("/cases/{case_no}/refuse", {"clerk"},
                         REFUSAL,
                         scene={"supplement": True}),
    "api.withdraw": Change("/cases/{case_no}/withdraw", {"clerk"}, {"reason": "申请人撤回"}),
    "api.retry": Change("/cases/{case_no}/retry", {"admin"}, scene={"faulted": True}),
    "api.close": Change("/cases/{case_no}/close", {"clerk"},
                        {"method": "in_person", "recipient": "李华"},
                        scene={"decided": True}),
    "api.create_absence": Change("/absences", {"env_a", "admin"},
                                 {"user_id": "{official_shi}", "kind": "trip",
                                  "starts_at": "2031-01-01T09:00",
                                  "ends_at": "2031-01-02T09:00"}),
    "api.end_absence": Change("/absences/{absence_id}", {"env_a", "admin"}),
    "api.checkin": Change("/checkin", STAFF),
    "api.pause": Change("/cases/{case_no}/pause", TIME_KEEPERS, PAUSE),
    "api.resume": Change("/cases/{case_no}/resume", TIME_KEEPERS, scene={"paused": True}),
    "api.urge": Change("/cases/{case_no}/urge", {"supervisor"}, {"text": "请加快办理"}),
    "api.supervision_opinion": Change("/cases/{case_no}/supervision-opinion", {"supervisor"},
                                      {"text": "受理程序规范，承诺时限符合规定"}),
    "api.save_draft": Change(f"/items/{JOINT}/draft", {"analyst"}, method="PUT", raw=True),
    "api.deploy": Change(f"/items/{JOINT}/deploy", {"analyst"}, {"comment": "调整并联审批"},
                         scene={"draft": True}),
}  # fmt: skip


def _fill(value, scene: Scene):
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in scene.ids:
            return str(scene.ids[value[1:-1]])
        return value.format(case_no=scene.case_no, task_id=scene.task_id,
                            env_task_id=scene.env_task_id, absence_id=scene.absence_id,
                            official=scene.ids["official_xiao"],
                            **{k: scene.ids.get(k, "") for k in SCENE_IDS})  # fmt: skip
    if isinstance(value, list):
        return [_fill(v, scene) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, scene) for k, v in value.items()}
    return value


def _order(allowed: set[str]) -> list[str]:
    """Refused people first, then one allowed person (the change happens once)."""
    refused = [r for r in PEOPLE if r not in allowed]
    return refused + [r for r in PEOPLE if r in allowed][:1]


@pytest.mark.parametrize("endpoint", sorted(WEB_POSTS))
def test_who_may_change_what_on_the_web(demo_app, endpoint):
    change = WEB_POSTS[endpoint]
    scene = _scene(demo_app, **change.scene)
    path, body = _fill(change.path, scene), _fill(change.body, scene)
    for role in _order(change.allowed):
        before = scene.case_state()
        web = Web(demo_app, PEOPLE[role])
        resp = web.post(path, body, expect=None)
        if role in change.allowed:
            assert resp.status_code == 302, (endpoint, role, resp.status_code, resp.text[:300])
            if endpoint != "web.logout":
                assert "/login" not in resp.headers["Location"], (endpoint, role)
            flash = web.get(resp.headers["Location"], expect=None).text
            assert 'class="flash error"' not in flash, (endpoint, role, flash[-1500:])
        else:
            if role == "anonymous":
                assert resp.status_code == 302 and "/login" in resp.headers["Location"]
            else:
                assert resp.status_code in (403, 404), (endpoint, role, resp.status_code)
            if change.case_unchanged:
                assert scene.case_state() == before, (endpoint, role)


@pytest.mark.parametrize("endpoint", sorted(API_CHANGES))
def test_who_may_change_what_through_the_api(demo_app, endpoint):
    change = API_CHANGES[endpoint]
    scene = _scene(demo_app, **change.scene)
    path, body = _fill(change.path, scene), _fill(change.body, scene)
    if endpoint == "api.create_case":
        body = {"item_code": JOINT, "form": sample_form(JOINT), "materials": [],
                "applicant": {"name": "王五", "id_number": "330102199001019999"}}  # fmt: skip
    for key in ("to_user_id", "user_id"):
        if key in body:
            body[key] = int(body[key])
    method = "DELETE" if endpoint == "api.end_absence" else change.method
    api = Api(demo_app.test_client())
    for role in _order(change.allowed):
        before = scene.case_state()
        headers = {"Authorization": f"Bearer {api.token(PEOPLE[role])}"} if PEOPLE[role] else {}
        payload = {"data": JOINT_XML.encode()} if change.raw else {"json": body}
        resp = api.client.open(f"/api/v1{path}", method=method, headers=headers, **payload)
        if role in change.allowed:
            assert resp.status_code in (200, 201), (endpoint, role, resp.get_json())
        else:
            expected = {401} if role == "anonymous" else {403, 404}
            assert resp.status_code in expected, (endpoint, role, resp.status_code)
            if change.case_unchanged:
                assert scene.case_state() == before, (endpoint, role)


def test_refusals_are_logged(demo_app, caplog):
    scene = _scene(demo_app)
    Web(demo_app, "official_zhao").get(f"/tasks/{scene.task_id}", expect=403)
    Web(demo_app, "auditor_sun").post(f"/tasks/{scene.task_id}/complete",
                                      {"outcome": "approve"}, expect=403)  # fmt: skip
    lines = [r.getMessage() for r in caplog.records if r.name == "onewindow.security"]
    assert any("forbidden: GET /tasks/" in m and "official_zhao" in m for m in lines), lines
    assert any("forbidden: POST /tasks/" in m and "auditor_sun" in m for m in lines), lines


def test_the_absence_of_someone_else_is_not_yours_to_end(demo_app):
    scene = _scene(demo_app)
    Web(demo_app, "official_xiao").post(f"/absences/{scene.absence_id}/end", expect=403)
    with demo_app.app_context():
        assert session().get(Absence, scene.absence_id).cancelled_at is None


def test_modeler_posts(demo_app):
    """Only analysts save drafts and deploy from the modeler; the CSRF header is required."""
    save, deploy = f"/analyst/items/{JOINT}/draft", f"/analyst/items/{JOINT}/deploy"
    for role, user in PEOPLE.items():
        web = Web(demo_app, user)
        if user:
            web.get("/notifications")  # any page gives the session's CSRF token
        token = web.token
        headers = {"X-CSRFToken": token, "Content-Type": "application/xml"}
        resp = web.client.post(save, data=JOINT_XML.encode(), headers=headers)
        if role == "analyst":
            assert resp.status_code == 200 and resp.get_json()["errors"] == 0
            done = web.client.post(deploy, json={"comment": "同一版本", "confirm": True},
                                   headers={"X-CSRFToken": token})  # fmt: skip
            assert done.status_code == 201, done.get_json()
            forged = web.client.post(save, data=JOINT_XML.encode(),
                                     headers={"Content-Type": "application/xml"})  # fmt: skip
            assert forged.status_code == 400  # no CSRF token
        elif role == "anonymous":
            assert resp.status_code in (302, 400)
        else:
            assert resp.status_code == 403, (role, resp.status_code)
