"""The public page where anyone (a bank, another department) checks a PDF document the
centre issued: upload it, read whether it is authentic, who signed it and when, or why not
(issue 24). No log-in; nothing of the file is kept."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_babel import gettext as _

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
    return render_template("verify.html", verdict=verdict, error=None,
                           name=upload.filename[:200])  # fmt: skip
