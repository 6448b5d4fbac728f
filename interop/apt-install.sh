#!/usr/bin/env bash
# Installs the Debian packages named that are missing (idempotent; root or
# sudo), for the peers' install-deps.sh scripts:
#   interop/apt-install.sh LABEL [--no-install-recommends] PACKAGE…
# Says "LABEL: installing P…" when it installs anything, nothing otherwise.
set -euo pipefail
label=${1:?usage: apt-install.sh LABEL [--no-install-recommends] PACKAGE...}
shift
flags=()
if [ "${1:-}" = --no-install-recommends ]; then
  flags+=("$1")
  shift
fi
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "$label: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq "${flags[@]}" "${missing[@]}" >/dev/null
