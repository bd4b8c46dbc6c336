#!/usr/bin/env bash
# Set up and serve the demo centre on the embedded SQLite database.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p instance
export FLASK_APP=app
BIND="${OW_BIND:-127.0.0.1:5000}"
# a DEMO: the published development secret and a derived data key are allowed only with OW_DEMO=1;
# a real installation sets OW_SECRET_KEY, OW_DATA_KEY and OW_PUBLIC_URL and does not set OW_DEMO
export OW_DEMO=1
export OW_PUBLIC_URL="${OW_PUBLIC_URL:-http://$BIND}"
.venv/bin/flask init-db
.venv/bin/flask load-demo
.venv/bin/flask init-signing  # the demo CA and each authority's signing key (instance/signing)
# months of past cases, cards and figures, once (a centre with cases is left alone);
# OW_DEMO_HISTORY=0 starts empty
.venv/bin/flask load-demo-history
echo "THIS IS A DEMO (OW_DEMO=1: development secret and data key, demo accounts); not for real use."
echo "OneWindow is serving on http://$BIND (log in as clerk_liu, official_xiao, admin ... with password onewindow; API: http://$BIND/api/v1/openapi.json)"
exec .venv/bin/gunicorn --workers "${OW_WORKERS:-1}" --threads "${OW_THREADS:-8}" \
  --bind "$BIND" "app.wsgi:app"
