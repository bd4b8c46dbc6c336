"""Signed documents (issue 24, first part): the demo's certificate authority and the
authorities' keys (`flask init-signing`), a PAdES signature on a real decision letter that
verifies here and with poppler's `pdfsig` (valid, and the chain trusted to the demo CA, in an
NSS database holding only that root), and every way a document fails, with its reason."""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509
from pyhanko.pdf_utils.generic import NameObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from app.db import session
from app.notices import decision_letter
from app.notices.decisions import Decision
from app.org.models import Department
from app.signing.keys import DEMO_CA, NoSigningKey, create_demo_ca, signer_for, trust_roots
from app.signing.pades import sign_pdf, verify_pdf
from tests.pdftools import IN_CI, render
from tests.test_notices_pdf import CENTRE, FACTS
from tests.webclient import Web

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "signing"
AUTHORITY = {"ndrc": "示范市发展和改革委员会"}


def _letter() -> bytes:
    decision = Decision(
        authority=CENTRE, number="示发改许〔2026〕12号", approved=True,
        decided_at=datetime(2026, 12, 4, 16, 0), reconsideration="示范市人民政府",
        matter="企业投资项目核准", content="同意年产 5 万套储能电池项目核准",
        basis="《企业投资项目核准和备案管理条例》第十一条", certificate="项目核准文件",
    )  # fmt: skip
    return decision_letter(CENTRE, FACTS, decision)


def _signed(directory: Path) -> bytes:
    create_demo_ca(directory, AUTHORITY)
    return sign_pdf(_letter(), signer_for(directory, "ndrc"), reason="准予行政许可决定书",
                    location="示范市政务服务中心", shown_at="2026-12-05 16:30")  # fmt: skip


def _pdfsig(pdf: Path, ca: Path, work: Path) -> str:
    """What poppler's pdfsig says, trusting (in a fresh NSS database) the given root only."""
    tools = [t for t in ("pdfsig", "certutil") if shutil.which(t) is None]
    if tools:
        message = f"{', '.join(tools)} missing: apt-get install poppler-utils libnss3-tools"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    nss = work / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "demo-ca", "-t", "CT,C,C",
                    "-i", str(ca)], check=True)  # fmt: skip
    done = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True,
                          text=True)  # fmt: skip
    return done.stdout + done.stderr


def test_a_signed_decision_letter_verifies_here_and_with_pdfsig(demo_app, tmp_path):
    with demo_app.app_context():  # the visible signature is worded in the centre's language
        signed = _signed(tmp_path / "keys")
        verdict = verify_pdf(signed, trust_roots(tmp_path / "keys"))
    assert verdict.authentic and verdict.reasons == []
    assert verdict.signer == "示范市发展和改革委员会" and verdict.signed_at is not None
    OUT.mkdir(parents=True, exist_ok=True)
    pdf, pages = render(OUT, "signed-decision", signed, dpi=100)
    said = _pdfsig(pdf, tmp_path / "keys" / "trust.pem", tmp_path)
    assert "Signature Validation: Signature is Valid." in said, said
    assert "Certificate Validation: Certificate is Trusted." in said, said
    assert "Total document signed" in said and "ETSI.CAdES.detached" in said, said
    assert len(pages) == 1
    # a stranger's root: pdfsig does not trust the chain
    create_demo_ca(tmp_path / "other", AUTHORITY)
    (tmp_path / "again").mkdir()
    said = _pdfsig(pdf, tmp_path / "other" / "trust.pem", tmp_path / "again")
    assert "Signature is Valid." in said and "Certificate is Trusted." not in said, said


def _flip_in_a_stream(data: bytes) -> bytes:
    """The document with one byte of its first content stream changed."""
    found = re.search(rb"stream\r?\n", data)
    at = found.end() + 10
    edited = bytearray(data)
    edited[at] ^= 0x01
    return bytes(edited)


def test_every_way_a_document_fails_says_why(demo_app, tmp_path):
    keys = tmp_path / "keys"
    create_demo_ca(tmp_path / "other", AUTHORITY)
    with demo_app.app_context():
        signed = _signed(keys)
        foreign = sign_pdf(_letter(), signer_for(tmp_path / "other", "ndrc"), reason="x",
                           location="x", shown_at="2026-12-05 16:30")  # fmt: skip
    roots = trust_roots(keys)
    later = io.BytesIO()
    writer = IncrementalPdfFileWriter(io.BytesIO(signed))  # a revision appended after it
    writer.root["/PageMode"] = NameObject("/UseOutlines")
    writer.update_root()
    writer.write(later)
    with demo_app.app_context():
        cases = {
            "edited": verify_pdf(_flip_in_a_stream(signed), roots),
            "foreign": verify_pdf(foreign, roots),
            "added": verify_pdf(later.getvalue(), roots),
            "unsigned": verify_pdf(_letter(), roots),
            "junk": verify_pdf(b"%PDF-1.7 this is no document", roots),
        }
    assert not any(v.authentic for v in cases.values())
    # in the centre's language (zh by default)
    assert cases["edited"].reasons == ["文书在签名后被改动"]
    assert cases["foreign"].reasons == ["签名人证书不能追溯到本中心信任的证书机构"]
    assert cases["added"].reasons == ["文书在签名后被追加了内容"]
    assert cases["unsigned"].reasons == ["该文书没有电子签名"]
    assert cases["junk"].reasons == ["该文件不是可读取的 PDF 文书"]


def test_init_signing_makes_the_demo_ca_and_a_key_per_authority_once(demo_app, tmp_path):
    demo_app.config["SIGNING_DIR"] = tmp_path / "signing"
    with demo_app.app_context():
        deciding = dict(session().execute(sa.select(Department.code, Department.name)
                                          .where(Department.number_prefix.is_not(None))).all())
    assert "natural_resources" in deciding
    first = demo_app.test_cli_runner().invoke(args=["init-signing"])
    assert f"{len(deciding)} made, 0 there" in first.output, first.output
    [root] = trust_roots(tmp_path / "signing")
    assert root.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == DEMO_CA
    for code, name in deciding.items():
        signer = signer_for(tmp_path / "signing", code)
        [cert] = signer.certificates()
        assert cert.issuer == root.subject
        assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == name
        key = tmp_path / "signing" / f"{code}.key.pem"
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600  # the service's alone
    before = {p.name: p.read_bytes() for p in (tmp_path / "signing").iterdir()}
    again = demo_app.test_cli_runner().invoke(args=["init-signing"])
    assert f"0 made, {len(deciding)} there" in again.output
    assert {p.name: p.read_bytes() for p in (tmp_path / "signing").iterdir()} == before
    with pytest.raises(NoSigningKey):
        signer_for(tmp_path / "signing", "no_such_authority")


def test_anyone_checks_a_document_on_the_public_page(demo_app, tmp_path):
    """No account: a bank officer uploads the decision letter and reads that it is authentic
    and who signed it; an edited copy is not, with the reason; nothing uploaded: told so."""
    demo_app.config["SIGNING_DIR"] = tmp_path / "keys"
    with demo_app.app_context():
        signed = _signed(tmp_path / "keys")
    web = Web(demo_app)
    page = web.get("/verify").text
    assert 'name="file"' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def check(data: bytes, expect: int = 200) -> str:
        resp = web.client.post("/verify", data={"csrf_token": token,
                                                "file": (io.BytesIO(data), "决定书.pdf")},
                               content_type="multipart/form-data")  # fmt: skip
        assert resp.status_code == expect, resp.text[:300]
        return resp.text

    good = check(signed)
    assert 'data-authentic="yes"' in good and "示范市发展和改革委员会" in good
    with demo_app.app_context():  # signed now, shown in the centre's zone
        from app.clock import today

        assert today().isoformat() in good
    bad = check(_flip_in_a_stream(signed))
    assert 'data-authentic="no"' in bad and "文书在签名后被改动" in bad
    none = web.client.post("/verify", data={"csrf_token": token},
                           content_type="multipart/form-data")  # fmt: skip
    assert none.status_code == 400 and "请选择要核验的 PDF 文件" in none.text


def test_signing_and_checking_work_where_an_event_loop_already_runs(demo_app, tmp_path):
    """pyHanko runs its own asyncio loop; under an async server (or a test session driving
    a browser) a loop already runs in the thread: signing and checking still work."""
    import asyncio

    # as Playwright's sync API leaves the thread (when the browser tests ran before, its
    # loop is the running one already: it is left alone, and put back as it was)
    previous = asyncio.events._get_running_loop()
    loop = asyncio.new_event_loop()
    if previous is None:
        asyncio.events._set_running_loop(loop)
    try:
        assert asyncio.events._get_running_loop() is not None
        with demo_app.app_context():
            signed = _signed(tmp_path / "keys")
            assert verify_pdf(signed, trust_roots(tmp_path / "keys")).authentic
    finally:
        asyncio.events._set_running_loop(previous)
        loop.close()
