#!/usr/bin/env bash
# Set up and serve the demo centre on the embedded SQLite database.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p instance
export FLASK_APP=app
.venv/bin/flask init-db
.venv/bin/flask load-demo
BIND="${OW_BIND:-127.0.0.1:5000}"
echo "OneWindow is serving on http://$BIND (log in as clerk_liu, official_xiao, admin ... with password onewindow; API: http://$BIND/api/v1/openapi.json)"
exec .venv/bin/gunicorn --workers "${OW_WORKERS:-1}" --threads "${OW_THREADS:-8}" \
  --bind "$BIND" "app.wsgi:app"
