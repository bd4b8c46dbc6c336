"""Signed documents (issue 24): the authorities' keys and certificates (`keys`), PAdES
signatures on the PDF notices and their verification (`pades`)."""
