"""Poppler's command-line tools for the PDF tests: render pages to PNG, read text back.

Without poppler-utils the tests that need it skip, and fail under CI (scripts/test.sh
installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
POPPLER = ("pdftoppm", "pdftotext", "pdffonts", "pdfinfo")


def require_poppler(out: Path) -> None:
    """Skip (fail under CI) without poppler; make the output folder."""
    missing = [tool for tool in POPPLER if shutil.which(tool) is None]
    if missing:
        message = f"poppler-utils missing ({', '.join(missing)}): apt-get install poppler-utils"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    out.mkdir(parents=True, exist_ok=True)


def run(*args: str | Path) -> str:
    """Run a poppler tool and return what it printed."""
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=True)
    return done.stdout


def render(out: Path, name: str, data: bytes, dpi: int = 80) -> tuple[Path, list[Path]]:
    """Write <out>/<name>.pdf and its pages as PNGs (older pages removed); return both."""
    pdf = out / f"{name}.pdf"
    pdf.write_bytes(data)
    mine = re.compile(rf"{re.escape(name)}-\d+\.png")
    for old in out.iterdir():
        if mine.fullmatch(old.name):
            old.unlink()
    run("pdftoppm", "-r", str(dpi), "-png", pdf, out / name)
    pages = sorted(p for p in out.iterdir() if mine.fullmatch(p.name))
    assert pages, f"pdftoppm rendered no page of {name}"
    return pdf, pages


def text(pdf: Path, page: int | None = None) -> str:
    """The text of a PDF (or one page of it), laid out as printed."""
    pages = ["-f", str(page), "-l", str(page)] if page else []
    return run("pdftotext", "-layout", *pages, pdf, "-")
