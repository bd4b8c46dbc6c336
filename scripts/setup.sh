#!/usr/bin/env bash
# Create .venv and install pinned dependencies (runtime, or dev with "dev").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
REQ=requirements.txt
[ "${1:-}" = "dev" ] && REQ=requirements-dev.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQ"
.venv/bin/pybabel -q compile -d app/translations
scripts/build_modeler.sh
