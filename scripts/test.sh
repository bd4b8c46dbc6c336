#!/usr/bin/env bash
# Set up and run the whole test suite (SQLite and PostgreSQL). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
# PostgreSQL 15 runs on this kind of machine; start it if it is down.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
# The browser tests drive Debian's Chromium; CJK fonts make the screenshots legible.
if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  fi
fi
# The PDF notice tests render with poppler (pdftoppm, pdftotext) and embed WenQuanYi Zen Hei;
# the signed documents are checked with poppler's pdfsig against an NSS database (certutil).
if ! command -v pdftoppm >/dev/null 2>&1 || ! command -v certutil >/dev/null 2>&1 \
    || [ ! -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei poppler-utils \
      libnss3-tools >/dev/null
  fi
fi
.venv/bin/ruff check app workflows tests bench config.py
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
