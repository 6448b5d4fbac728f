#!/usr/bin/env bash
# Read a directory of Hadoop files with Spark (pyspark from the Hadoop
# peer's venv, local mode) and print a digest: spark.sh DIR [raw|item]
# (runs setup.sh first if the environment is missing).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HOME_DIR="${HADOOP_PEER_HOME:-$HOME/.cache/mammoth/hadoop-peer}"
if [ ! -x "$HOME_DIR/venv/bin/python" ]; then
  "$HERE/setup.sh" >&2
fi
export PYSPARK_PYTHON="$HOME_DIR/venv/bin/python"
exec "$HOME_DIR/venv/bin/python" "$HERE/spark_digest.py" "$@"
