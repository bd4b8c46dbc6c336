"""Absolute links (feeds, the QR code of a notice, anything a reader follows from outside
a page) are built on the configured public URL (`PUBLIC_URL`, env ``OW_PUBLIC_URL``), never
on the request's Host header, which any client can forge (``Host: evil.example``)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app


def public_base() -> tuple[str, str, str]:
    """The configured public URL as (scheme, host[:port], path prefix)."""
    base = urlsplit(current_app.config["PUBLIC_URL"].rstrip("/"))
    if base.scheme not in ("http", "https") or not base.netloc:
        raise RuntimeError(f"PUBLIC_URL must be an http(s) URL, not {base.geturl()!r}")
    return base.scheme, base.netloc, base.path


def public_host() -> str:
    """The host name of the public URL (no port)."""
    return urlsplit(current_app.config["PUBLIC_URL"]).hostname or "localhost"


def public_url(endpoint: str, **values) -> str:
    """The absolute URL of a route on the public URL; extra values become the query."""
    scheme, netloc, prefix = public_base()
    adapter = current_app.url_map.bind(netloc, script_name=prefix or "/", url_scheme=scheme)
    return adapter.build(endpoint, values, force_external=True)
