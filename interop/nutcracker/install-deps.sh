#!/usr/bin/env bash
# Installs Debian's nutcracker (twemproxy 0.5.0), the proxy the cluster test
# puts in front of three `mammoth serve` nodes, only when missing
# (idempotent; root or sudo). The test starts its own nutcracker on a
# private port with a config `mammoth cluster plan` wrote; the package's
# service is not needed.
set -euo pipefail
"$(dirname "${BASH_SOURCE[0]}")/../apt-install.sh" "nutcracker peer" nutcracker
bin=$(command -v nutcracker || echo /usr/sbin/nutcracker)
echo "nutcracker peer: $("$bin" --version 2>&1 | head -n 1 | awk '{print $NF}')"
