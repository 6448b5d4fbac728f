#!/usr/bin/env bash
# Installs PouchDB 9 for the filtered-replication comparison of
# scripts/bench-filter into interop/pouchdb/node_modules, from the pinned
# package-lock.json (pouchdb-core, pouchdb-adapter-memory and
# pouchdb-replication 9.0.0: PouchDB with the in-memory adapter, no native
# LevelDB), only when it is missing or older than the lock file
# (idempotent). Node.js and npm come from Debian's packages when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v npm >/dev/null || ../apt-install.sh "pouchdb peer" nodejs npm
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "pouchdb peer: npm ci"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi
echo "pouchdb peer: pouchdb-core $(node -p 'require("pouchdb-core/package.json").version'), node $(node --version)"
