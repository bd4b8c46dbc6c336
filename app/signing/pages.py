"""The public page where anyone (a bank, another department) checks a PDF document the
centre issued: upload it, read whether it is authentic, who signed it and when, or why not
(issue 24). No log-in; nothing of the file is kept."""

from __future__ import annotations

import hashlib

from flask import current_app, render_template, request
from flask_babel import gettext as _

from ..licences.pages import kind_label, status_label
from ..licences.queries import by_sha256
from ..web import bp
from .keys import trust_roots
from .pades import verify_pdf

MAX_PDF = 8 * 1024 * 1024  # the request limit (MAX_CONTENT_LENGTH) bounds it as well


@bp.get("/verify")
def verify_document():
    return render_template("verify.html", verdict=None, error=None)


@bp.post("/verify")
def verify_document_check():
    """Check the uploaded PDF against the roots the centre trusts; the file is read in
    memory and dropped."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template("verify.html", verdict=None,
                               error=_("Choose the PDF file to check.")), 400  # fmt: skip
    data = upload.stream.read(MAX_PDF + 1)
    if len(data) > MAX_PDF:
        return render_template("verify.html", verdict=None,
                               error=_("The file is larger than 8 MB.")), 413  # fmt: skip
    verdict = verify_pdf(data, trust_roots(current_app.config["SIGNING_DIR"]))
    # the registry's record of exactly this file: which document, the licence's status now
    match = by_sha256(hashlib.sha256(data).hexdigest()) if verdict.authentic else None
    return render_template("verify.html", verdict=verdict, error=None, match=match,
                           name=upload.filename[:200], status_label=status_label,
                           kind_label=kind_label)  # fmt: skip
