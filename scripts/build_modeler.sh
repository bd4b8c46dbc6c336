#!/usr/bin/env bash
# Install the modeler's pinned npm packages and bundle them into app/static/modeler/.
# Needs Node.js and npm (from the machine); without them the modeler page says so.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: the BPMN modeler page stays unavailable" >&2
  exit 0
fi
OUT=app/static/modeler
# up to date: the bundle is newer than every source file (the translations too) and the lock
if [ -f "$OUT/modeler.js" ] && [ -z "$(find modeler/src -newer "$OUT/modeler.js")" ] \
   && [ "$OUT/modeler.js" -nt modeler/package-lock.json ]; then
  exit 0
fi
# npm ci installs axe-core too (a dev dependency): the accessibility browser tests load it
# from modeler/node_modules; the app never serves it
(cd modeler && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
mkdir -p "$OUT"
modeler/node_modules/.bin/esbuild modeler/src/index.js --bundle --minify --format=iife \
  --log-level=warning --outfile="$OUT/modeler.js"
cp modeler/node_modules/bpmn-js/dist/assets/diagram-js.css \
   modeler/node_modules/bpmn-js/dist/assets/bpmn-js.css \
   modeler/node_modules/@bpmn-io/properties-panel/dist/assets/properties-panel.css "$OUT/"
rm -rf "$OUT/bpmn-font"
cp -r modeler/node_modules/bpmn-js/dist/assets/bpmn-font "$OUT/bpmn-font"
