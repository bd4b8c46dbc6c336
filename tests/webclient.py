"""A driver of the web pages for tests: log in as anyone, post forms with their CSRF token."""

from __future__ import annotations

import re

from tests.apiclient import PASSWORD

TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


class Web:
    """One browser session of one user, through Flask's test client."""

    def __init__(self, app, username: str | None = None, lang: str = "en") -> None:
        self.app = app
        self.client = app.test_client()
        self.token = ""
        self.username = username
        if username:
            self.login(username, lang=lang)

    def _remember_token(self, html: str) -> None:
        found = TOKEN.search(html)
        if found:
            self.token = found.group(1)

    def get(self, path: str, expect: int | None = 200, **kw):
        resp = self.client.get(path, **kw)
        resp.get_data()  # read it all, then let go of any file behind it (static files)
        resp.close()
        if expect is not None:
            assert resp.status_code == expect, (path, resp.status_code, resp.text[:500])
        if resp.mimetype == "text/html":
            self._remember_token(resp.text)
        return resp

    def post(self, path: str, data: dict | None = None, expect: int | None = 302, csrf=True,
             **kw):  # fmt: skip
        body = dict(data or {})
        if csrf:
            if not self.token:
                self.get("/login" if not self.username else "/notifications")
            body.setdefault("csrf_token", self.token)
        resp = self.client.post(path, data=body, **kw)
        if expect is not None:
            assert resp.status_code == expect, (path, resp.status_code, resp.text[:800])
        if resp.mimetype == "text/html":
            self._remember_token(resp.text)
        return resp

    def login(self, username: str, password: str = PASSWORD, lang: str = "en", expect=302):
        self.get("/login")
        self.post("/language", {"lang": lang, "next": "/login"})
        self.username = username
        resp = self.post("/login", {"username": username, "password": password, "lang": lang},
                         expect=expect)  # fmt: skip
        self.token = ""  # a new session gets a new CSRF token, read from the next page
        return resp
