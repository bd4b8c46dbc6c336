"""Storing uploaded material files safely.

A file is accepted only when its content is a PDF, JPEG or PNG (read from its first bytes,
whatever its name says), within the size limit, and passed by the virus scanner when one
is configured (OW_UPLOAD_SCAN_COMMAND). It is stored under a random name in UPLOAD_DIR,
so the applicant's file name never reaches the file system; the name is kept, cleaned,
for display only. A download is named by `download_name`: the shown name's stem, reduced to
letters, digits, "-" and "_", with the extension of the type the content was stored as
(``poly.html`` stored as a PDF is served as ``poly.pdf``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import shlex
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app
from flask_babel import gettext as _

from ..errors import InvalidInput

log = logging.getLogger("onewindow.uploads")

KINDS = (  # (first bytes, content type, extension)
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
)
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Stored:
    """A file written to the upload directory."""

    stored_name: str
    filename: str
    content_type: str
    size: int
    sha256: str
    scan: str  # clean | unscanned


def clean_filename(raw: str | None) -> str:
    """Return a display name: no directories, no control characters, at most 100 chars."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    return name[:100] or "file"


def download_name(filename: str, content_type: str) -> str:
    """The name a stored file is served under: a safe stem and the stored type's extension."""
    ext = next((k[2] for k in KINDS if k[1] == content_type), ".bin")
    stem = clean_filename(filename).rsplit(".", 1)[0]
    stem = re.sub(r"[^\w-]+", "_", stem).strip("_")[:80]
    return (stem or "file") + ext


def upload_dir() -> Path:
    path = Path(current_app.config["UPLOAD_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def path_of(stored_name: str) -> Path:
    """Return the path of a stored file (names are ours: hex and an extension)."""
    if not stored_name or "/" in stored_name or "\\" in stored_name or ".." in stored_name:
        raise InvalidInput(_("bad stored file name"))
    return upload_dir() / stored_name


def _scan(path: Path) -> str:
    command = current_app.config.get("UPLOAD_SCAN_COMMAND") or ""
    if not command:
        return "unscanned"
    try:
        done = subprocess.run([*shlex.split(command), str(path)], capture_output=True,
                              timeout=60, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.error("virus scanner failed on %s: %s", path.name, exc)
        raise InvalidInput(
            _(
                "the virus scanner is not available; please try again later",
            )
        ) from None
    if done.returncode == 0:
        return "clean"
    if done.returncode == 1:
        log.warning("virus scanner refused %s", path.name)
        raise InvalidInput(_("the virus scanner found malware in the file; it was not stored"))
    log.error("virus scanner exit %s on %s", done.returncode, path.name)
    raise InvalidInput(_("the virus scanner could not check the file; please try again later"))


def store(stream: BinaryIO, filename: str | None) -> Stored:
    """Check and store one uploaded file; InvalidInput (nothing stored) when refused."""
    limit = int(current_app.config["UPLOAD_MAX_BYTES"])
    head = stream.read(16)
    kind = next((k for k in KINDS if head.startswith(k[0])), None)
    shown = clean_filename(filename)
    if not head:
        raise InvalidInput(_("'%(shown)s' is empty", shown=shown))
    if kind is None:
        raise InvalidInput(
            _(
                "'%(shown)s' is not a PDF, JPEG or PNG file (judged by its content)",
                shown=shown,
            )
        )
    stored_name = secrets.token_hex(16) + kind[2]
    target = path_of(stored_name)
    digest, size = hashlib.sha256(), 0
    try:
        with open(target, "xb") as out:
            chunk = head
            while chunk:
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(
                        _(
                            "'%(shown)s' is larger than %(value)s MB",
                            shown=shown,
                            value=limit // (1024 * 1024),
                        )
                    )
                digest.update(chunk)
                out.write(chunk)
                chunk = stream.read(CHUNK)
        scan = _scan(target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return Stored(stored_name, shown, kind[1], size, digest.hexdigest(), scan)


def discard(stored_name: str) -> None:
    """Remove a stored file (its upload was refused or its transaction rolled back)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path_of(stored_name))
