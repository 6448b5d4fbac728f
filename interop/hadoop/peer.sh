#!/usr/bin/env bash
# Run HadoopPeer with the real Hadoop jars: peer.sh COMMAND ARGS...
# (runs setup.sh first if the environment is missing)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOME_DIR="${HADOOP_PEER_HOME:-$HOME/.cache/mammoth/hadoop-peer}"
if [ ! -f "$HOME_DIR/env.sh" ] || [ "$HERE/HadoopPeer.java" -nt "$HOME_DIR/classes/HadoopPeer.class" ]; then
  "$HERE/setup.sh" >&2
fi
# shellcheck disable=SC1091
. "$HOME_DIR/env.sh"
# C1-only JIT: these are short runs, so start-up matters more than peak speed.
exec java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 ${HADOOP_PEER_JAVA_OPTS:-} -cp "$HADOOP_PEER_CP" HadoopPeer "$@"
