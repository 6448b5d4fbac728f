#!/usr/bin/env bash
# Installs Debian's InfluxDB 1.6 (the collector benchmark's peer) and curl,
# only when missing (idempotent; root or sudo). The package's systemd unit
# is not started here: bench-collect.sh runs its own influxd on loopback
# ports with a throw-away data directory.
set -euo pipefail
"$(dirname "${BASH_SOURCE[0]}")/../apt-install.sh" "influxdb peer" --no-install-recommends influxdb curl
echo "influxdb peer: $(influxd version 2>&1 | head -n 1)"
