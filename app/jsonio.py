"""JSON on the hot path: orjson where it writes what the standard library writes.

orjson (Rust) encodes and decodes several times faster than `json`. It differs from it in a
few outputs: floats (`1e-05` is `0.00001`), non-text keys, NaN, integers beyond 64 bits (it
reads them as floats). Where
the text matters byte for byte (the canonical text an event's seal covers) or the values must
come back the same (an event's data), anything that holds a float or a non-text key goes
through `json` as before, so every chain sealed so far verifies and seals the same way.
Elsewhere (API bodies, JSON columns) the output is equivalent JSON, and `json` takes over for
what orjson refuses, so nothing that `json` took is refused now.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

SORTED = orjson.OPT_SORT_KEYS
# the types the standard library's callers convert themselves (`default`), not orjson
PASS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _orjson_safe(value: Any) -> bool:
    """Whether orjson writes `value` as `json` does: no float anywhere, only text keys, and
    beside texts, whole numbers, lists and objects only what `default` converts (times, ids)."""
    if value is None or isinstance(value, str | int):  # bool is an int; a float is neither
        return True
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not _orjson_safe(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_orjson_safe(item) for item in value)
    return kind in (uuid.UUID, dt.datetime, dt.date)


def canonical(value: Any) -> str:
    """`json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    default=str)`, byte for byte (what an event's seal covers)."""
    if _orjson_safe(value):
        try:
            return orjson.dumps(value, default=str, option=SORTED | PASS).decode()
        except (TypeError, orjson.JSONEncodeError):
            pass
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)  # fmt: skip


def round_trip(value: Any, default) -> Any:
    """`json.loads(json.dumps(value, ensure_ascii=False, default=default))`: a copy of a
    value that survives a JSON round trip unchanged."""
    if _orjson_safe(value):
        try:
            return orjson.loads(orjson.dumps(value, default=default, option=PASS))
        except (TypeError, orjson.JSONEncodeError):
            pass
    return json.loads(json.dumps(value, ensure_ascii=False, default=default))


def dumps(value: Any) -> str:
    """Compact JSON of a column value (UTF-8 text, not \\u escapes)."""
    if _orjson_safe(value):  # orjson would write a NaN as null
        try:
            return orjson.dumps(value, option=PASS).decode()
        except (TypeError, orjson.JSONEncodeError):
            pass
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# twenty digits in a row: maybe an integer beyond 64 bits, which orjson would read as a float
_LONG_NUMBER = re.compile(r"\d{20}")
_LONG_NUMBER_BYTES = re.compile(rb"\d{20}")


def loads(text: str | bytes) -> Any:
    """Parse JSON as `json` does: orjson, except for what it refuses (a NaN) or would read
    otherwise (an integer beyond 64 bits), which `json` reads as it always did."""
    long_number = _LONG_NUMBER if isinstance(text, str) else _LONG_NUMBER_BYTES
    if long_number.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider (API bodies in, responses out) with orjson underneath.

    It writes what `DefaultJSONProvider` writes: sorted keys, UTF-8, dates as HTTP dates, ids
    as text; with keyword arguments (an indent) or for what orjson refuses, Flask's own way.
    """

    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if not kwargs or kwargs == {"separators": (",", ":")}:
            try:
                return orjson.dumps(obj, default=self.default, option=SORTED | PASS).decode()
            except (TypeError, orjson.JSONEncodeError):
                pass
        return super().dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if kwargs:
            return super().loads(s, **kwargs)
        return loads(s)
