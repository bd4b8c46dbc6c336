"""Compile message catalogues whose .po is newer than the .mo, so pages never fall back to
English because `pybabel compile` was not run (tests, a plain `flask run`, a fresh checkout).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask

log = logging.getLogger(__name__)


def compile_stale_catalogues(app: Flask) -> list[Path]:
    """Compile each <dir>/<lang>/LC_MESSAGES/*.po whose .mo is missing or older; return the .mo."""
    compiled = []
    for name in app.config["BABEL_TRANSLATION_DIRECTORIES"].split(";"):
        for po in sorted(Path(app.root_path, name).glob("*/LC_MESSAGES/*.po")):
            mo = po.with_suffix(".mo")
            if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
                continue
            tmp = mo.with_name(f".{mo.name}.{os.getpid()}")  # workers may start together
            try:
                with po.open("rb") as f:
                    catalog = read_po(f, locale=po.parent.parent.name)
                with tmp.open("wb") as f:
                    write_mo(f, catalog)
                tmp.replace(mo)
            except OSError as exc:  # e.g. a read-only install: serve what is there
                log.warning("could not compile %s: %s", po, exc)
                tmp.unlink(missing_ok=True)
                continue
            log.info("compiled %s", mo)
            compiled.append(mo)
    return compiled
