"""The Simplified Chinese catalogue covers every UI string, keeps placeholders, and is used.

No database: (a) and (b) read the sources and the .po, (c) renders the log-in page only.
After adding or changing UI strings, run `make translations` and fill the new msgstrs.
"""

from __future__ import annotations

import re

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.pofile import read_po

from app import create_app
from config import BASE_DIR, TestConfig

ZH_PO = BASE_DIR / "app" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|%%")


def _source_msgids() -> dict[str, str]:
    """Extract like `pybabel extract -F babel.cfg -k _l app`: msgid -> first location."""
    with open(BASE_DIR / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {**DEFAULT_KEYWORDS, **parse_keywords(["_l"])}
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        BASE_DIR / "app", method_map, options_map, keywords=keywords
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault(msgid, f"app/{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def zh_catalog():
    with open(ZH_PO, "rb") as f:
        return read_po(f, locale="zh")


def _texts(value: str | tuple) -> tuple[str, ...]:
    """A message's msgid or msgstr as a tuple (plural forms are tuples already)."""
    return value if isinstance(value, tuple) else (value,)


def test_every_source_string_has_a_chinese_translation(zh_catalog):
    source = _source_msgids()
    assert source, "no msgids extracted: check babel.cfg"
    translated = {_texts(m.id)[0]: m for m in zh_catalog if m.id}
    missing = [f"{where}: {msgid!r}" for msgid, where in source.items() if msgid not in translated]
    empty = [
        f"{where}: {msgid!r}"
        for msgid, where in source.items()
        if msgid in translated and not all(_texts(translated[msgid].string))
    ]
    fuzzy = [f"{where}: {msgid!r}" for msgid, where in source.items()
             if msgid in translated and translated[msgid].fuzzy]  # fmt: skip
    problems = []
    if missing:
        problems.append("not in the zh catalogue (run `make translations`, then translate):")
        problems += missing
    if empty:
        problems.append(f"empty msgstr in {ZH_PO.relative_to(BASE_DIR)}:")
        problems += empty
    if fuzzy:
        problems.append("marked fuzzy, so left out of the .mo (check, then drop the flag):")
        problems += fuzzy
    assert not problems, "\n".join(problems)


def test_placeholders_are_kept(zh_catalog):
    wrong = []
    for m in zh_catalog:
        if not m.id:
            continue
        expected = sorted(PLACEHOLDER.findall(_texts(m.id)[-1]))
        wrong += [
            f"{_texts(m.id)[0]!r} -> {s!r}: {sorted(PLACEHOLDER.findall(s))} != {expected}"
            for s in _texts(m.string)
            if s and sorted(PLACEHOLDER.findall(s)) != expected
        ]
    assert not wrong, "placeholders differ:\n" + "\n".join(wrong)


def test_login_page_speaks_chinese_by_default_and_english_on_request(tmp_path):
    app = create_app(TestConfig, DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    client = app.test_client()

    page = client.get("/login").get_data(as_text=True)
    assert "登录" in page
    assert "Log in" not in page

    token = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page)
    assert token, "no CSRF token on the log-in page"
    resp = client.post("/language", data={"lang": "en", "csrf_token": token.group(1)})
    assert resp.status_code == 302

    page = client.get("/login").get_data(as_text=True)
    assert "Log in" in page
    assert "登录" not in page
