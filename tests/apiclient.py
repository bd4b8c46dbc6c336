"""A small driver of the JSON API for tests: log in as anyone, apply, work tasks."""

from __future__ import annotations

import tomllib

from config import BASE_DIR

BPMN = BASE_DIR / "bpmn"
CENTRE = tomllib.loads((BPMN / "centre.toml").read_text("utf-8"))
PASSWORD = CENTRE["centre"]["demo_password"]
POSTS = {p["code"]: p for p in CENTRE["posts"]}


def item_entry(code: str) -> dict:
    """Return an item's catalogue entry from bpmn/."""
    return tomllib.loads((BPMN / f"{code}.toml").read_text("utf-8"))


def required_materials(code: str) -> list[str]:
    """Return the codes of the materials an item requires."""
    return [m["code"] for m in item_entry(code)["materials"] if m.get("required", True)]


def users_with_role(role: str) -> list[str]:
    """Return demo usernames holding a role."""
    return [u["username"] for u in CENTRE["users"] if role in u.get("roles", [])]


class Api:
    """Drive the API as different users; every call checks the status it expects."""

    def __init__(self, client) -> None:
        self.client = client
        self._tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        if username not in self._tokens:
            resp = self.client.post(
                "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
            )
            assert resp.status_code == 200, resp.get_json()
            self._tokens[username] = resp.get_json()["token"]
        return self._tokens[username]

    def call(self, method: str, path: str, user: str | None = None, expect: int = 200, **kw):
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        resp = self.client.open(f"/api/v1{path}", method=method, headers=headers, **kw)
        assert resp.status_code == expect, (resp.status_code, resp.get_json())
        return resp.get_json()

    def apply(
        self,
        item_code: str,
        form: dict,
        materials: list[str] | None = None,
        clerk: str | None = None,
        expect: int = 201,
        **extra,
    ) -> dict:
        body = {
            "item_code": item_code,
            "applicant": {
                "name": "李华",
                "id_number": "330102199001011234",
                "phone": "13800001111",
            },
            "materials": required_materials(item_code) if materials is None else materials,
            "form": form,
            **extra,
        }
        return self.call("POST", "/cases", clerk or users_with_role("clerk")[0], expect, json=body)

    def case(self, case_no: str, user: str | None = None) -> dict:
        return self.call("GET", f"/cases/{case_no}", user or users_with_role("auditor")[0])

    def open_tasks(self, case_no: str) -> list[dict]:
        return self.case(case_no)["open_tasks"]

    def work(
        self,
        case_no: str,
        spec_id: str,
        outcome: str = "approve",
        comment: str = "",
        data: dict | None = None,
        expect: int = 200,
    ) -> dict:
        """Complete the open task `spec_id` of a case as the official it is assigned to. A
        会签 stage (several open parts) is signed by each signer in turn with `outcome`, until
        the stage ends (a rejection or a return ends the demo's at once)."""
        tasks = [t for t in self.open_tasks(case_no) if t["spec_id"] == spec_id]
        assert tasks, (spec_id, [t["spec_id"] for t in self.open_tasks(case_no)])
        for task in tasks:
            assert task["assignee"], task
            done = self.call(
                "POST",
                f"/tasks/{task['id']}/complete",
                task["assignee"],
                expect,
                json={"outcome": outcome, "comment": comment, "data": data or {}},
            )
            still = {t["id"] for t in self.open_tasks(case_no) if t["spec_id"] == spec_id}
            if expect != 200 or not still & {t["id"] for t in tasks}:
                break
        return done


def sample_form(code: str, **overrides) -> dict:
    """Return a valid application form for an item, with some fields set by the test."""
    values = {"string": "示例", "long": 10, "boolean": True, "date": "2026-11-20"}
    form = {}
    for field in item_entry(code).get("form", []):
        if field["type"] == "enum":
            form[field["id"]] = field["options"][0]
        else:
            form[field["id"]] = values.get(field["type"], "示例")
    form.update(overrides)
    return form
