"""PAdES signatures on the centre's PDF documents, and their verification (issue 24).

`sign_pdf` adds one signature (PAdES baseline B, SHA-256, pyHanko) over the whole document
as it stands — its content and the drawn seal — in a visible field that shows who signed
and when. `verify_pdf` says whether a document is authentic: its one signature intact and
valid, covering the whole file with nothing added after it, and its certificate chaining to
a root the centre trusts; each failure with its reason, in the reader's language. Nothing
is fetched from the network (no revocation lookups: revocation is the registry's to say).
"""

from __future__ import annotations

import datetime as dt
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask_babel import gettext as _
from PIL import Image, ImageDraw, ImageFont
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ..printing import DEFAULT_FONTS
from .keys import DocumentSigner

FIELD = "OneWindowSeal"
# the visible field (PDF points, from an A4 page's bottom left): under the drawn seal and the
# line naming where the case was accepted and delivered
BOX = (300.0, 190.0, 510.0, 250.0)


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _common_name(cert: x509.Certificate) -> str:
    found = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(found[0].value) if found else cert.subject.rfc4514_string()


def stamp_image(signer: str, shown_at: str) -> Image.Image:
    """The visible signature: who signed and when (the centre's local time), drawn with the
    notices' CJK font (the PDF's own fonts have no Chinese glyphs), at 4× the field's size."""
    width, height = int((BOX[2] - BOX[0]) * 4), int((BOX[3] - BOX[1]) * 4)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    path = next((p for p in DEFAULT_FONTS if Path(p).is_file()), None)
    big = ImageFont.truetype(path, 44) if path else ImageFont.load_default()
    small = ImageFont.truetype(path, 36) if path else ImageFont.load_default()
    draw.text((24, 20), _("Electronically signed by"), fill="#a31f1f", font=small)
    draw.text((24, 74), signer, fill="black", font=big)
    draw.text((24, 150), _("Signed at %(at)s", at=shown_at), fill="black", font=small)
    return image


def sign_pdf(pdf: bytes, signer: DocumentSigner, *, reason: str, location: str, shown_at: str,
             box: tuple[float, float, float, float] = BOX, page: int = 0) -> bytes:  # fmt: skip
    """Return `pdf` with the authority's signature over all of it, shown in a field on
    `page` (its first by default) that names the signer and the time (`shown_at`, the
    centre's local time as a person reads it)."""
    chain = signer.certificates()
    simple = signers.SimpleSigner(
        signing_cert=_asn1(chain[0]),
        signing_key=asn1_keys.PrivateKeyInfo.load(signer.private_key_pkcs8()),
        cert_registry=SimpleCertificateStore.from_certs([_asn1(c) for c in chain[1:]]),
    )
    meta = PdfSignatureMetadata(field_name=FIELD, subfilter=fields.SigSeedSubFilter.PADES,
                                md_algorithm="sha256", reason=reason,
                                location=location)  # fmt: skip
    style = StaticStampStyle(background=PdfImage(stamp_image(_common_name(chain[0]), shown_at)),
                             border_width=1)  # fmt: skip
    spec = fields.SigFieldSpec(FIELD, box=box, on_page=page)
    out = io.BytesIO()
    pdf_signer = PdfSigner(meta, signer=simple, stamp_style=style, new_field_spec=spec)
    _own_thread(pdf_signer.sign_pdf, IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out)
    return out.getvalue()


def _own_thread(call, *args, **kwargs):
    """Run one of pyHanko's blocking calls in a thread of its own: they run an asyncio loop
    (`asyncio.run`), which cannot start where a loop already runs (an async server, or a
    test session driving a browser). Nothing of Flask's context is needed there."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call, *args, **kwargs).result()


@dataclass
class Verdict:
    """What a verification found: authentic or not, and why not; who signed and when."""

    authentic: bool = False
    reasons: list[str] = field(default_factory=list)
    signer: str | None = None
    signed_at: dt.datetime | None = None
    certificate_sha256: str | None = None


# long: each way a document can fail is its own check, and the reader is told every one
def verify_pdf(pdf: bytes, roots: list[x509.Certificate]) -> Verdict:
    """Check the document's signature against the trusted `roots`; never raises for a bad
    document (an unreadable one is a reason like any other)."""
    verdict = Verdict()
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        signatures = reader.embedded_signatures
    except (PdfError, ValueError, KeyError, TypeError, OSError):
        verdict.reasons.append(_("the file is not a readable PDF document"))
        return verdict
    if not signatures:
        verdict.reasons.append(_("the document carries no signature"))
        return verdict
    if len(signatures) > 1:
        verdict.reasons.append(_("the document carries more than one signature"))
    context = ValidationContext(trust_roots=[_asn1(r) for r in roots], allow_fetching=False,
                                revocation_mode="soft-fail")  # fmt: skip
    try:
        status = _own_thread(validate_pdf_signature, signatures[-1], context)
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError) as exc:
        verdict.reasons.append(_("the signature cannot be checked: %(why)s", why=str(exc)[:200]))
        return verdict
    cert = status.signing_cert
    if cert is not None:
        verdict.signer = cert.subject.native.get("common_name")
        verdict.certificate_sha256 = cert.sha256.hex()
    verdict.signed_at = status.signer_reported_dt
    if not status.intact:  # nothing else about it can be believed
        verdict.reasons.append(_("the document was changed after it was signed"))
        return verdict
    if not status.valid:
        verdict.reasons.append(_("the signature does not match the signer's certificate"))
    if not status.trusted:
        verdict.reasons.append(_("the signer's certificate does not lead to an authority the "
                                 "centre trusts"))  # fmt: skip
    if status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        verdict.reasons.append(_("something was added to the document after it was signed"))
    verdict.authentic = not verdict.reasons
    return verdict
