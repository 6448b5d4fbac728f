#!/usr/bin/env bash
# Installs Debian's InfluxDB 1.6 (the collector benchmark's peer) and curl,
# only when missing (idempotent; root or sudo). The package's systemd unit
# is not started here: bench-collect.sh runs its own influxd on loopback
# ports with a throw-away data directory.
set -euo pipefail
packages=(influxdb curl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "influxdb peer: packages present ($(influxd version 2>&1 | head -n 1))"
  exit 0
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "influxdb peer: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "influxdb peer: installed $(influxd version 2>&1 | head -n 1)"
