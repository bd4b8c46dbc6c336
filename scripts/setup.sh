#!/usr/bin/env bash
# Create .venv and install pinned dependencies (runtime, or dev with "dev").
set -euo pipefail
cd "$(dirname "$0")/.."
# The PDF notices embed a TrueType CJK font (WenQuanYi Zen Hei); install it when missing.
if [ ! -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null
  fi
fi
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
REQ=requirements.txt
[ "${1:-}" = "dev" ] && REQ=requirements-dev.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQ"
.venv/bin/pybabel -q compile -d app/translations
scripts/build_modeler.sh
