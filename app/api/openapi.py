"""The OpenAPI 3.1 document of the JSON API."""

from __future__ import annotations

from .openapi_verbs import THEN_SIGN, verb_paths


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


PROVISIONAL = (
    "true when a due date rests on a year whose holiday arrangements the State Council has "
    "not yet published (counted by the law's fixed holidays and the weekends); the date may "
    "change and is recomputed when the year is added"
)

WHAT_IF_RUN = {
    "type": "object",
    "properties": {
        "run": {"type": "integer"},
        "item": {"type": "string"},
        "source": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
        "done": {"type": "integer"},
        "total": {"type": "integer"},
        "report": {"type": "object", "description": "when done"},
        "error": {"type": "string", "description": "when failed"},
    },
}

MIGRATION_PLAN = {
    "type": "object",
    "properties": {
        "plan": {"type": "integer"},
        "item": {"type": "string"},
        "source": {"type": "integer", "description": "the version the cases run on"},
        "target": {"type": "integer"},
        "mapping": {"type": "object", "additionalProperties": {"type": "string"}},
        "defaults": {"type": "object"},
        "status": {"type": "string",
                   "enum": ["planned", "approved", "running", "done", "failed", "declined"]},
        "summary": {"type": "object"},
        "cases": {"type": "array", "description": "the dry run: per case, movable, reasons, "
                  "moves (source, target, kept: same task row and holder)"},
        "results": {"type": "array", "description": "the run: per case, moved or why not"},
    },
}  # fmt: skip

ERRORS = {
    "400": _json(_ref("Error"), "Bad input: the message says what and where"),
    "401": _json(_ref("Error"), "Not logged in"),
    "403": _json(_ref("Error"), "Not yours"),
    "404": _json(_ref("Error"), "Not found"),
    "409": _json(_ref("Error"), "Conflict: the object is no longer in that state"),
}


def _op(
    summary: str,
    responses: dict,
    body: dict | None = None,
    auth: bool = True,
    params: list | None = None,
) -> dict:
    op: dict = {"summary": summary, "responses": {**responses, **ERRORS}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if auth:
        op["security"] = [{"bearer": []}]
    if params:
        op["parameters"] = params
    return op


def _path_param(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


# Long: the OpenAPI document is one literal, written out path by path (data, not logic).
def openapi_document() -> dict:
    """Return the OpenAPI document."""
    obj = {"type": "object"}
    case_no = [_path_param("case_no")]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OneWindow API",
            "version": "1.0.0",
            "description": "Licensing cases of a one-stop government service centre.",
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
                },
                "Applicant": {
                    "type": "object",
                    "required": ["name", "id_number"],
                    "properties": {
                        "name": {"type": "string"},
                        "id_number": {"type": "string"},
                        "phone": {"type": "string"},
                    },
                },
                "NewCase": {
                    "type": "object",
                    "required": ["item_code", "applicant"],
                    "properties": {
                        "item_code": {"type": "string"},
                        "applicant": _ref("Applicant"),
                        "materials": {"type": "array", "items": {"type": "string"}},
                        "form": obj,
                        "refusal": {
                            "type": "object",
                            "properties": {
                                "reason": {"type": "string"},
                                "legal_basis": {"type": "string"},
                            },
                        },
                    },
                },
                "Task": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "name": {"type": "string"},
                        "stage": {"type": ["string", "null"]},
                        "state": {"type": "string"},
                        "outcomes": {"type": "array", "items": {"type": "string"}},
                        "case_no": {"type": "string"},
                        "due_at": {"type": ["string", "null"], "format": "date-time"},
                        "due_provisional": {"type": "boolean", "description": PROVISIONAL},
                    },
                },
                "Case": {
                    "type": "object",
                    "properties": {
                        "case_no": {"type": "string"},
                        "status": {"type": "string"},
                        "decision": {"type": ["string", "null"]},
                        "item": obj,
                        "diagram_version": {"type": ["integer", "null"]},
                        "due_at": {"type": ["string", "null"], "format": "date-time"},
                        "statutory_due_at": {"type": ["string", "null"], "format": "date-time"},
                        "due_provisional": {"type": "boolean", "description": PROVISIONAL},
                        "reported_at": {
                            "type": ["string", "null"],
                            "format": "date-time",
                            "description": "a reported item's case (上报件): when it went to the "
                            "upper authority; the centre's time limit stopped then",
                        },
                        "open_tasks": {"type": "array", "items": _ref("Task")},
                        "history": {"type": "array", "items": _ref("Task")},
                    },
                },
                "Event": {
                    "type": "object",
                    "properties": {
                        "seq": {"type": "integer"},
                        "type": {"type": "string"},
                        "actor": {"type": "string"},
                        "at": {"type": "string"},
                        "data": obj,
                        "prev_hash": {"type": "string"},
                        "hash": {"type": "string"},
                    },
                },
            },
        },
        "paths": {
            "/auth/token": {
                "post": _op(
                    "Exchange username and password for a bearer token",
                    {"200": _json({"type": "object", "properties": {"token": {"type": "string"}}})},
                    {
                        "type": "object",
                        "required": ["username", "password"],
                        "properties": {
                            "username": {"type": "string"},
                            "password": {"type": "string"},
                        },
                    },
                    auth=False,
                )
            },
            "/items": {"get": _op("List the catalogue", {"200": _json(obj)}, auth=False)},
            "/items/{code}": {
                "get": _op(
                    "One catalogue item with its seven disclosures",
                    {"200": _json(obj)},
                    auth=False,
                    params=[_path_param("code")],
                )
            },
            "/cases": {
                "post": _op(
                    "Receive an application: accepted, supplement required, or refused",
                    {
                        "201": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "case_no": {"type": "string"},
                                    "query_code": {"type": "string"},
                                    "status": {"type": "string"},
                                    "missing": {"type": "array", "items": obj},
                                },
                            },
                            "Created",
                        )
                    },
                    _ref("NewCase"),
                )
            },
            "/cases/{case_no}": {
                "get": _op(
                    "A case with its open tasks", {"200": _json(_ref("Case"))}, params=case_no
                )
            },
            "/cases/{case_no}/supplement": {
                "post": _op(
                    "Hand in missing materials",
                    {"200": _json(_ref("Case"))},
                    {
                        "type": "object",
                        "properties": {
                            "materials": {"type": "array", "items": {"type": "string"}},
                            "form": obj,
                        },
                    },
                    params=case_no,
                )
            },
            "/cases/{case_no}/refuse": {
                "post": _op(
                    "Refuse an application (不予受理)",
                    {"200": _json(_ref("Case"))},
                    {
                        "type": "object",
                        "required": ["reason", "legal_basis"],
                        "properties": {
                            "reason": {"type": "string"},
                            "legal_basis": {"type": "string"},
                        },
                    },
                    params=case_no,
                )
            },
            "/cases/{case_no}/withdraw": {
                "post": _op(
                    "Withdraw at the applicant's request",
                    {"200": _json(_ref("Case"))},
                    {
                        "type": "object",
                        "required": ["reason"],
                        "properties": {"reason": {"type": "string"}},
                    },
                    params=case_no,
                )
            },
            "/cases/{case_no}/retry": {
                "post": _op(
                    "Run again the step that stopped a case in the fault state (admin)",
                    {"200": _json(_ref("Case"))},
                    None,
                    params=case_no,
                )
            },
            "/cases/{case_no}/close": {
                "post": _op(
                    "Close a decided case once its result is delivered (办结送达): how "
                    "(in_person, agent, mail with tracking_no, electronic) and to whom",
                    {"200": _json(_ref("Case"))},
                    {
                        "type": "object",
                        "required": ["method", "recipient"],
                        "properties": {
                            "method": {
                                "type": "string",
                                "enum": ["in_person", "agent", "mail", "electronic"],
                            },
                            "recipient": {"type": "string"},
                            "tracking_no": {"type": "string"},
                            "note": {"type": "string"},
                        },
                    },
                    params=case_no,
                )
            },
            "/cases/{case_no}/events": {
                "get": _op(
                    "The audit log of a case",
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {"events": {"type": "array", "items": _ref("Event")}},
                            }
                        )
                    },
                    params=case_no,
                )
            },
            "/tasks": {
                "get": _op(
                    "The caller's open tasks",
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "tasks": {"type": "array", "items": _ref("Task")},
                                    "next_offset": {
                                        "type": ["integer", "null"],
                                        "description": "the offset of the next page; null: "
                                        "this is the last",
                                    },
                                },
                            }
                        )
                    },
                    params=[
                        {
                            "name": "assignee",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["me"]},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "description": "tasks a page, oldest first (default 100)",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "description": "tasks to skip (the previous page's next_offset)",
                            "schema": {"type": "integer", "minimum": 0},
                        },
                    ],
                )
            },
            "/tasks/{id}": {
                "get": _op(
                    "A task with its case, materials and form; opening it as its holder starts it",
                    {"200": _json(_ref("Task"))},
                    params=[_path_param("id")],
                )
            },
            "/absences": {
                "post": _op(
                    "Register leave, a business trip or sick leave; tasks move to B when it begins",
                    {"201": _json(obj, "Created")},
                    {
                        "type": "object",
                        "required": ["kind", "starts_at", "ends_at"],
                        "properties": {
                            "user_id": {"type": "integer"},
                            "kind": {"type": "string", "enum": ["leave", "trip", "sick", "other"]},
                            "starts_at": {"type": "string"},
                            "ends_at": {"type": "string"},
                            "reason": {"type": "string"},
                            "confirm": {"type": "boolean"},
                        },
                    },
                )
            },
            "/absences/{absence_id}": {
                "delete": _op(
                    "End an absence early; tasks B has not started go back to A",
                    {"200": _json(obj)},
                    params=[_path_param("absence_id")],
                )
            },
            "/checkin": {"post": _op("Check in for today (考勤)", {"200": _json(obj)})},
            "/cases/{case_no}/pause": {
                "post": _op(
                    "Pause a case's clock (挂起) for an excluded period; the applicant is told",
                    {"200": _json(obj)},
                    {
                        "type": "object",
                        "required": ["kind", "reason", "expected_days"],
                        "properties": {
                            "kind": {
                                "type": "string",
                                "enum": [
                                    "hearing",
                                    "tendering",
                                    "auction",
                                    "inspection",
                                    "testing",
                                    "quarantine",
                                    "appraisal",
                                    "expert_review",
                                    "supplement",
                                ],
                            },
                            "reason": {"type": "string"},
                            "expected_days": {"type": "integer", "minimum": 1, "maximum": 365},
                        },
                    },
                    params=case_no,
                )
            },
            "/cases/{case_no}/resume": {
                "post": _op(
                    "Resume the clock; due dates move by the paused working days",
                    {"200": _json(obj)},
                    params=case_no,
                )
            },
            "/cases/{case_no}/extend": {
                "post": _op(
                    "Extend the limit (延期) with a leader's approval and a reason",
                    {"200": _json(obj)},
                    {
                        "type": "object",
                        "required": ["days", "reason"],
                        "properties": {
                            "days": {"type": "integer", "minimum": 1},
                            "reason": {"type": "string"},
                        },
                    },
                    params=case_no,
                )
            },
            "/cases/{case_no}/urge": {
                "post": _op(
                    "Send an urging notice (督办) to the handlers of the case",
                    {"201": _json(obj, "Sent")},
                    {
                        "type": "object",
                        "required": ["text"],
                        "properties": {"text": {"type": "string"}, "task_id": {"type": "string"}},
                    },
                    params=case_no,
                )
            },
            "/cases/{case_no}/supervision-opinion": {
                "post": _op(
                    "The supervision office's opinion (监察室意见) on an accepted case, printed on "
                    "its copy of the commitment notice (supervisors only; the latest counts)",
                    {"201": _json(obj, "Recorded: the text, who entered it, the local day")},
                    {
                        "type": "object",
                        "required": ["text"],
                        "properties": {"text": {"type": "string", "maxLength": 300}},
                    },
                    params=case_no,
                )
            },
            "/cases/{case_no}/card": {
                "get": _op(
                    "The transfer card: per stage arrival, completion, handler, limit, overrun",
                    {"200": _json(obj)},
                    params=case_no,
                )
            },
            "/notifications": {
                "get": _op(
                    "Your messages: yellow and red cards, urging notices, escalations",
                    {"200": _json(obj)},
                )
            },
            "/posts": {
                "get": _op(
                    "Posts (岗位) with their A, B and leader, and who is away now",
                    {"200": _json(obj)},
                )
            },
            "/tasks/queue": {
                "get": _op(
                    "Unassigned tasks of posts you hold, waiting to be claimed", {"200": _json(obj)}
                )
            },
            "/tasks/{id}/claim": {
                "post": _op(
                    "Claim an unassigned task of a post you hold; the first claim wins",
                    {"200": _json(_ref("Task"))},
                    params=[_path_param("id")],
                )
            },
            "/tasks/{id}/transfer": {
                "post": _op(
                    "Transfer a task to another holder of its post (转办), with a reason",
                    {"200": _json(_ref("Task"))},
                    {
                        "type": "object",
                        "required": ["to_user_id", "reason"],
                        "properties": {
                            "to_user_id": {"type": "integer"},
                            "reason": {"type": "string"},
                        },
                    },
                    params=[_path_param("id")],
                )
            },
            "/items/{code}/versions": {
                "get": _op(
                    "The deployed versions of an item's diagram (analysts, auditors, admins)",
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "item": {"type": "string"},
                                    "versions": {"type": "array", "items": obj},
                                },
                            }
                        )
                    },
                    params=[_path_param("code")],
                )
            },
            "/items/{code}/versions/{number}/bpmn": {
                "get": _op(
                    "The BPMN XML of one deployed version",
                    {
                        "200": {
                            "description": "The diagram",
                            "content": {"application/xml": {"schema": {"type": "string"}}},
                        }
                    },
                    params=[
                        _path_param("code"),
                        {
                            "name": "number",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 0},
                        },
                    ],
                )
            },
            "/items/{code}/draft": {
                "put": {
                    **_op(
                        "Save the analyst's draft of an item's diagram, with its findings",
                        {"200": _json(obj)},
                        params=[
                            _path_param("code"),
                            {"name": "based_on", "in": "query", "schema": {"type": "integer"}},
                        ],
                    ),
                    "requestBody": {
                        "required": True,
                        "content": {"application/xml": {"schema": {"type": "string"}}},
                    },
                }
            },
            "/items/{code}/deploy": {
                "post": _op(
                    "Deploy the item's draft as its newest version (refused while it has errors)",
                    {
                        "201": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "item": {"type": "string"},
                                    "version": {"type": "integer"},
                                    "comment": {"type": "string"},
                                },
                            },
                            "Deployed",
                        )
                    },
                    {
                        "type": "object",
                        "required": ["comment"],
                        "properties": {"comment": {"type": "string"}},
                    },
                    params=[_path_param("code")],
                )
            },
            "/items/{code}/what-if": {
                "post": _op(
                    "Run the item's draft (or a deployed version) over its decided cases in the "
                    "background (analysts and admins); read the run at /what-if/{run}",
                    {"202": _json(WHAT_IF_RUN, "Started")},
                    {
                        "type": "object",
                        "properties": {
                            "source": {
                                "description": "'draft' (default), or a version: 2 or 'v2'",
                                "oneOf": [{"type": "string"}, {"type": "integer"}],
                            },
                            "since": {"type": "string", "format": "date"},
                            "until": {"type": "string", "format": "date"},
                            "decision": {"type": "string", "enum": ["approved", "denied"]},
                        },
                    },
                    params=[_path_param("code")],
                )
            },
            "/what-if/{run}": {
                "get": _op(
                    "A what-if run: its progress (done of total cases) and, when done, its report "
                    "(totals, stages, work moved between posts, every case)",
                    {"200": _json(WHAT_IF_RUN)},
                    params=[_path_param("run")],
                )
            },
            "/items/{code}/migrations": {
                "post": _op(
                    "Work out a plan that moves the item's running cases from one version to "
                    "another (the dry run; analysts and admins); nothing moves until approved",
                    {"201": _json(MIGRATION_PLAN, "Planned")},
                    {
                        "type": "object",
                        "required": ["target"],
                        "properties": {
                            "target": {"type": "integer"},
                            "source": {"type": "integer",
                                       "description": "default: the one other version"},
                            "mapping": {"type": "object",
                                        "additionalProperties": {"type": "string"},
                                        "description": "source element id -> target id"},
                            "defaults": {"type": "object",
                                         "description": "data the target reads, if missing"},
                        },
                    },  # fmt: skip
                    params=[_path_param("code")],
                ),
                "get": _op("The item's migration plans, newest first",
                           {"200": _json({"type": "object"})},
                           params=[_path_param("code")]),  # fmt: skip
            },
            "/migrations/{plan}": {
                "get": _op("A migration plan: its dry run, who decided it, each case's outcome",
                           {"200": _json(MIGRATION_PLAN)}, params=[_path_param("plan")]),
            },  # fmt: skip
            "/migrations/{plan}/approve": {
                "post": _op(
                    "Approve a plan (a leader of the item's authority or an admin, not its "
                    "author); its cases move in the background, each in its own transaction",
                    {"202": _json(MIGRATION_PLAN, "Approved")},
                    params=[_path_param("plan")],
                )
            },
            "/migrations/{plan}/decline": {
                "post": _op(
                    "Decline a plan, with a reason",
                    {"200": _json(MIGRATION_PLAN)},
                    {"type": "object", "required": ["reason"],
                     "properties": {"reason": {"type": "string"}}},  # fmt: skip
                    params=[_path_param("plan")],
                )
            },
            "/tasks/{id}/complete": {
                "post": _op(
                    "Complete a task: approve, return or reject",
                    {"200": _json(_ref("Task"))},
                    {
                        "type": "object",
                        "required": ["outcome"],
                        "properties": {
                            "outcome": {"type": "string", "enum": ["approve", "return", "reject"]},
                            "comment": {"type": "string"},
                            "data": obj,
                            "then_sign": THEN_SIGN,
                        },
                    },
                    params=[_path_param("id")],
                )
            },
            **verb_paths(_op, _json, _path_param),
        },
    }
