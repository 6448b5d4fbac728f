#!/usr/bin/env bash
# Installs Debian's Redis (redis-server, redis-tools: redis-cli and
# redis-benchmark), the reference peer for durable writes and server-side
# Lua, only when missing (idempotent; root or sudo). The benchmark scripts
# start their own redis-server on a private port; the package's service is
# not needed.
set -euo pipefail
"$(dirname "${BASH_SOURCE[0]}")/../apt-install.sh" "redis peer" redis-server redis-tools
echo "redis peer: $(redis-server --version | awk '{print $3}')"
