"""Brute force against the log-in is throttled per user name and per address, and logged."""

from __future__ import annotations

import datetime as dt

from tests.apiclient import PASSWORD
from tests.webclient import Web


def test_five_wrong_passwords_lock_the_user_name_for_a_quarter_of_an_hour(demo_app, caplog):
    web = Web(demo_app)
    for _ in range(5):
        web.login("official_xiao", password="guess-123", expect=401)
    locked = web.login("official_xiao", expect=429)  # the right password, too late
    assert "Too many failed log-ins" in locked.text
    lines = [r.getMessage() for r in caplog.records if r.name == "onewindow.security"]
    assert any("log-in throttled for 'official_xiao'" in m for m in lines)
    # another person from the same address is not locked out by it
    Web(demo_app).login("official_zhao")
    # the API's token endpoint counts the same failures
    client = demo_app.test_client()
    body = {"username": "official_xiao", "password": PASSWORD}
    resp = client.post("/api/v1/auth/token", json=body)
    assert resp.status_code == 429
    # a quarter of an hour later the right password works, and clears the count
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=16)
    demo_app.config["CLOCK"] = lambda: later
    Web(demo_app).login("official_xiao")
    web.login("official_xiao", password="guess-123", expect=401)
    Web(demo_app).login("official_xiao")  # one failure after a success does not lock


def test_many_user_names_from_one_address_are_throttled(demo_app):
    demo_app.config["LOGIN_FAILURES_PER_CLIENT"] = 8
    web = Web(demo_app)
    for n in range(8):
        web.login(f"nobody_{n}", password="x" * 12, expect=401)
    web.login("official_zhao", expect=429)  # a real account, from the same address
    other = demo_app.test_client()
    ok = other.post("/api/v1/auth/token", json={"username": "official_zhao", "password": PASSWORD},
                    environ_base={"REMOTE_ADDR": "10.7.7.7"})  # fmt: skip
    assert ok.status_code == 200
