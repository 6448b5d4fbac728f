#!/usr/bin/env bash
# Installs Debian's Redis (redis-server, redis-tools: redis-cli and
# redis-benchmark), the reference peer for durable writes and server-side
# Lua, only when missing (idempotent; root or sudo). The benchmark scripts
# start their own redis-server on a private port; the package's service is
# not needed.
set -euo pipefail
packages=(redis-server redis-tools)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "redis peer: packages present ($(redis-server --version | awk '{print $3}'))"
  exit 0
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "redis peer: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
echo "redis peer: installed $(redis-server --version | awk '{print $3}')"
