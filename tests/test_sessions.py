"""Web sessions kept in the database (issue 18): the cookie carries only a session's random
id, and log-out, a password change, a deactivation, an admin's "end all sessions" and the
user's own "end" each refuse a copy of the cookie taken before."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import sqlalchemy as sa

from app.auth.models import WebSession
from app.db import session
from app.org.models import User
from tests.apiclient import PASSWORD
from tests.webclient import Web

PAGE = "/inbox"  # an official's page: 200 while the session lives


def _user_id(app, username: str) -> int:
    with app.app_context():
        return session().scalar(sa.select(User.id).where(User.username == username))


def _rows(app, username: str) -> list[WebSession]:
    with app.app_context():
        return list(session().scalars(
            sa.select(WebSession).join(User, User.id == WebSession.user_id)
            .where(User.username == username).order_by(WebSession.id)
        ))  # fmt: skip


def _cookie(web: Web) -> str:
    return web.client.get_cookie("session").value


def _copy(app, cookie: str):
    """Another client (the attacker) presenting a copy of the cookie."""
    thief = app.test_client()
    thief.set_cookie("session", cookie, domain="localhost")
    return thief


def _answers(client) -> tuple[int, str]:
    resp = client.get(PAGE)
    return resp.status_code, resp.headers.get("Location", "")


def _refused(client) -> bool:
    status, location = _answers(client)
    return status == 302 and location.startswith("/login")


def _decoded(app, cookie: str) -> dict:
    return dict(app.session_interface.get_signing_serializer(app).loads(cookie))


def _signed(app, content: dict) -> str:
    return app.session_interface.get_signing_serializer(app).dumps(content)


def _save_user(admin: Web, user_id: int, **change) -> None:
    form = {"username": "official_xiao", "name": "肖明", "roles": ["official"],
            "department_id": "0", "password": "", "active": "y"}  # fmt: skip
    form.update(change)
    form = {k: v for k, v in form.items() if v is not None}
    admin.post(f"/admin/users/{user_id}", form)


def test_a_copied_cookie_is_refused_after_logout(demo_app):
    web = Web(demo_app, "official_xiao")
    web.get(PAGE)
    copy = _cookie(web)
    assert _answers(_copy(demo_app, copy))[0] == 200  # the copy works while the session lives
    web.post("/logout")
    assert _refused(_copy(demo_app, copy))
    (row,) = _rows(demo_app, "official_xiao")
    assert row.ended_at is not None and row.end_reason == "logout"
    assert _refused(web.client)


def test_a_password_change_ends_every_session_of_the_account(demo_app):
    web = Web(demo_app, "official_xiao")
    copy = _cookie(web)
    assert _answers(_copy(demo_app, copy))[0] == 200
    admin = Web(demo_app, "admin")
    _save_user(admin, _user_id(demo_app, "official_xiao"), password="a-new-password-1")
    assert _refused(_copy(demo_app, copy))
    assert _refused(web.client)
    assert {r.end_reason for r in _rows(demo_app, "official_xiao")} == {"password"}
    Web(demo_app).login("official_xiao", "a-new-password-1")


def test_an_admin_changing_their_own_password_keeps_only_the_current_session(demo_app):
    admin = Web(demo_app, "admin")
    other = Web(demo_app, "admin")  # the same account on another device
    other.get("/admin/users")
    me = _user_id(demo_app, "admin")
    form = {"username": "admin", "name": "管理员", "roles": ["admin"], "department_id": "0",
            "password": "a-new-password-2", "active": "y"}  # fmt: skip
    with demo_app.app_context():
        form["name"] = session().get(User, me).name
    admin.post(f"/admin/users/{me}", form)
    assert admin.get("/admin/users").status_code == 200
    resp = other.get("/admin/users", expect=302)
    assert resp.headers["Location"].startswith("/login")


def test_deactivation_ends_every_session(demo_app):
    web = Web(demo_app, "official_xiao")
    copy = _cookie(web)
    admin = Web(demo_app, "admin")
    _save_user(admin, _user_id(demo_app, "official_xiao"), active=None)
    assert _refused(_copy(demo_app, copy))
    assert {r.end_reason for r in _rows(demo_app, "official_xiao")} == {"deactivated"}
    # switched on again, the old session stays ended: a new log-in is needed
    _save_user(admin, _user_id(demo_app, "official_xiao"))
    assert _refused(_copy(demo_app, copy))


def test_an_admin_ends_all_sessions_of_a_user(demo_app):
    first, second = Web(demo_app, "official_xiao"), Web(demo_app, "official_xiao")
    copies = [_cookie(first), _cookie(second)]
    xiao = _user_id(demo_app, "official_xiao")
    admin = Web(demo_app, "admin")
    assert "Open web sessions: 2" in admin.get(f"/admin/users/{xiao}").text
    # nobody else may: the official himself gets a 403 and his sessions live on
    first.post(f"/admin/users/{xiao}/sessions/end", expect=403)
    assert all(_answers(_copy(demo_app, c))[0] == 200 for c in copies)
    admin.post(f"/admin/users/{xiao}/sessions/end")
    assert "2 session(s) ended" in admin.get(f"/admin/users/{xiao}").text
    assert all(_refused(_copy(demo_app, c)) for c in copies)
    assert {r.end_reason for r in _rows(demo_app, "official_xiao")} == {"admin"}
    assert "Open web sessions: 0" in admin.get(f"/admin/users/{xiao}").text
    assert admin.get("/admin/users").status_code == 200  # the admin's own session lives


def test_a_user_sees_their_sessions_and_ends_one(demo_app):
    laptop = Web(demo_app)
    laptop.client.environ_base["HTTP_USER_AGENT"] = "Laptop-Browser/1.0"
    laptop.login("official_xiao")
    phone = Web(demo_app)
    phone.client.environ_base["HTTP_USER_AGENT"] = "Phone-Browser/2.0"
    phone.login("official_xiao")
    page = laptop.get("/account/sessions").text
    assert "Laptop-Browser/1.0" in page and "Phone-Browser/2.0" in page
    assert "127.0.0.1" in page and page.count('/end"') == 2
    assert "My sessions" in laptop.get(PAGE).text  # the base layout links the page
    rows = {r.user_agent: r.id for r in _rows(demo_app, "official_xiao")}
    # another user cannot end them (404, as for a session that does not exist)
    stranger = Web(demo_app, "official_shi")
    stranger.post(f"/account/sessions/{rows['Phone-Browser/2.0']}/end", expect=404)
    assert phone.get(PAGE).status_code == 200
    anonymous = Web(demo_app)
    resp = anonymous.post(f"/account/sessions/{rows['Phone-Browser/2.0']}/end")
    assert "/login" in resp.headers["Location"]
    # the laptop ends the phone's session: the phone is logged out, the laptop is not
    laptop.post(f"/account/sessions/{rows['Phone-Browser/2.0']}/end")
    assert _refused(phone.client)
    assert laptop.get(PAGE).status_code == 200
    page = laptop.get("/account/sessions").text
    assert "Phone-Browser/2.0" not in page and "Laptop-Browser/1.0" in page
    ended = {r.user_agent: r.end_reason for r in _rows(demo_app, "official_xiao")}
    assert ended == {"Laptop-Browser/1.0": None, "Phone-Browser/2.0": "user"}
    # ending the current session logs this client out
    resp = laptop.post(f"/account/sessions/{rows['Laptop-Browser/1.0']}/end")
    assert resp.headers["Location"].startswith("/login")
    assert _refused(laptop.client)


def test_the_cookie_holds_only_the_sessions_random_id(demo_app):
    web = Web(demo_app, "official_xiao")
    web.get(PAGE)
    content = _decoded(demo_app, _cookie(web))
    token = content["_user_id"]
    xiao = _user_id(demo_app, "official_xiao")
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", token)  # 32 random bytes, no user id in it
    assert ":" not in token and token != str(xiao) and not token.startswith(f"{xiao}")
    assert "official_xiao" not in repr(content)
    assert set(content) <= {"_user_id", "_fresh", "_id", "csrf_token", "lang", "_permanent",
                            "_flashes"}  # fmt: skip
    assert "login_at" not in content
    (row,) = _rows(demo_app, "official_xiao")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    # a second log-in gets another id
    other = _decoded(demo_app, _cookie(Web(demo_app, "official_xiao")))["_user_id"]
    assert other != token


def test_a_database_reader_cannot_take_over_a_session(demo_app):
    web = Web(demo_app, "official_xiao")
    content = _decoded(demo_app, _cookie(web))
    (row,) = _rows(demo_app, "official_xiao")
    assert content["_user_id"] not in (row.token_hash, str(row.id))
    # even with the secret key, a cookie naming what the database holds is refused ...
    for stored in (row.token_hash, str(row.id), str(row.user_id), f"{row.user_id}:x"):
        forged = _signed(demo_app, {**content, "_user_id": stored})
        assert _refused(_copy(demo_app, forged)), stored
    # ... while the same forgery with the cookie's own id works (the forgery is sound)
    assert _answers(_copy(demo_app, _signed(demo_app, content)))[0] == 200


def test_an_idle_or_old_session_expires_and_its_row_says_so(demo_app):
    now = [dt.datetime(2026, 11, 23, 1, 0)]
    demo_app.config["CLOCK"] = lambda: now[0]
    web = Web(demo_app, "official_xiao")
    (row,) = _rows(demo_app, "official_xiao")
    now[0] += dt.timedelta(seconds=30)
    web.get(PAGE)
    assert _rows(demo_app, "official_xiao")[0].last_used_at == row.last_used_at  # < a minute
    now[0] += dt.timedelta(minutes=2)
    web.get(PAGE)
    assert _rows(demo_app, "official_xiao")[0].last_used_at == now[0]  # written again
    idle = demo_app.permanent_session_lifetime
    now[0] += idle + dt.timedelta(minutes=2)
    assert _refused(web.client)
    (row,) = _rows(demo_app, "official_xiao")
    assert row.end_reason == "expired"


def test_a_user_changes_their_own_password_and_every_other_session_ends(demo_app):
    web = Web(demo_app, "official_xiao")
    other = Web(demo_app, "official_xiao")  # the same account on another device
    copy = _cookie(other)
    assert _answers(_copy(demo_app, copy))[0] == 200
    page = web.get("/account/password").text
    assert 'name="current"' in page and 'autocomplete="new-password"' in page
    # a wrong current password, a short one, two that differ: each said, nothing changed
    wrong = web.post("/account/password", {"current": "nope", "new": "another-pass-1",
                                           "repeat": "another-pass-1"}, expect=400)  # fmt: skip
    assert "The current password is wrong." in wrong.text
    short = web.post("/account/password", {"current": PASSWORD, "new": "short",
                                           "repeat": "short"}, expect=400)  # fmt: skip
    assert "A password has 8 to 200 characters." in short.text
    differ = web.post("/account/password", {"current": PASSWORD, "new": "another-pass-1",
                                            "repeat": "another-pass-2"}, expect=400)  # fmt: skip
    assert "The two new passwords differ." in differ.text
    assert _answers(_copy(demo_app, copy))[0] == 200  # nothing changed yet
    done = web.post("/account/password", {"current": PASSWORD, "new": "another-pass-1",
                                          "repeat": "another-pass-1"})  # fmt: skip
    assert done.headers["Location"] == "/account/sessions"
    assert web.get(PAGE).status_code == 200  # this session stays
    assert _refused(_copy(demo_app, copy)) and _refused(other.client)
    reasons = [r.end_reason for r in _rows(demo_app, "official_xiao")]
    assert reasons.count(None) == 1 and "password" in reasons
    Web(demo_app).login("official_xiao", "another-pass-1")
    Web(demo_app).login("official_xiao", PASSWORD, expect=401)  # the old one is refused


def test_guessing_the_current_password_on_the_form_is_throttled(demo_app):
    web = Web(demo_app, "official_xiao")
    for _ in range(5):
        web.post("/account/password", {"current": "guess", "new": "another-pass-1",
                                       "repeat": "another-pass-1"}, expect=400)  # fmt: skip
    resp = web.post("/account/password", {"current": PASSWORD, "new": "another-pass-1",
                                          "repeat": "another-pass-1"}, expect=429)  # fmt: skip
    assert "Too many wrong passwords lately" in resp.text
    Web(demo_app).login("official_xiao", PASSWORD, expect=429)  # the same count as log-in


def test_rows_of_sessions_ended_long_ago_are_deleted(demo_app):
    from app.auth import sessions as web_sessions

    Web(demo_app, "official_xiao").post("/logout")
    Web(demo_app, "official_xiao")
    with demo_app.app_context():
        db = session()
        ended, live = sorted(_rows(demo_app, "official_xiao"), key=lambda r: r.ended_at is None)
        old = dt.datetime(2020, 1, 1)
        db.execute(sa.update(WebSession).where(WebSession.id == ended.id)
                   .values(ended_at=old, last_used_at=old))  # fmt: skip
        db.commit()
        assert web_sessions.forget_before(dt.datetime(2021, 1, 1)) == 1
    assert [r.id for r in _rows(demo_app, "official_xiao")] == [live.id]
