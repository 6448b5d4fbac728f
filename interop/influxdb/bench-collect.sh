#!/usr/bin/env bash
# Collector benchmark, side by side in one run: `mammoth collect` (in the
# bench process, multicast on loopback) storing into a durable `mammoth
# serve`, and Debian's InfluxDB 1.6 receiving the same line protocol on its
# UDP input (unicast; it has no multicast). Rounds alternate between the two
# systems; medians are printed at the end.
#
#   bench-collect.sh MAMMOTH_BINARY [SECONDS] [ROUNDS] [RATES]
#       defaults: 5 s per round, 3 rounds, rates 10000,100000,max
#
# Both sides ask for an 8 MiB receive buffer (Linux grants at most
# net.core.rmem_max, doubled) and both sync their logs before a write
# counts: mammoth acknowledges a pipeline after its group commit; InfluxDB
# writes UDP batches (5,000 points or 1 s, its defaults) through its WAL
# with wal-fsync-delay = 0. Stored counts are read back: every key from
# mammoth (GETKQ), count(reading) from InfluxDB.
set -euo pipefail
bin=$(realpath "${1:?usage: bench-collect.sh MAMMOTH_BINARY [SECONDS] [ROUNDS] [RATES]}")
secs=${2:-5}
rounds=${3:-3}
rates=${4:-10000,100000,max}
here=$(cd "$(dirname "$0")" && pwd)
"$here/install-deps.sh"

work=$(mktemp -d)
mm_port=${MM_PORT:-22411}
http_port=${INFLUX_HTTP_PORT:-22486}
udp_port=${INFLUX_UDP_PORT:-22489}
rpc_port=${INFLUX_RPC_PORT:-22488}
influx_pid=
mammoth_pid=
cleanup() {
  [ -n "$influx_pid" ] && kill "$influx_pid" 2>/dev/null && wait "$influx_pid" 2>/dev/null
  [ -n "$mammoth_pid" ] && kill "$mammoth_pid" 2>/dev/null && wait "$mammoth_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc_port"
[meta]
  dir = "$work/influx/meta"
[data]
  dir = "$work/influx/data"
  wal-dir = "$work/influx/wal"
  wal-fsync-delay = "0s"
  query-log-enabled = false
[retention]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$http_port"
  log-enabled = false
[logging]
  level = "error"
[continuous_queries]
  enabled = false
[[udp]]
  enabled = true
  bind-address = "127.0.0.1:$udp_port"
  database = "collect"
  batch-size = 5000
  batch-pending = 10
  batch-timeout = "1s"
  read-buffer = 8388608
CONF

influxd -config "$work/influxdb.conf" >"$work/influxd.log" 2>&1 &
influx_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$http_port/ping" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$http_port/ping" >/dev/null || { cat "$work/influxd.log"; exit 1; }
curl -sf -XPOST "http://127.0.0.1:$http_port/query" --data-urlencode "q=CREATE DATABASE collect" >/dev/null

"$bin" serve --listen 127.0.0.1 --port "$mm_port" --dir "$work/mammoth" 2>"$work/serve.log" &
mammoth_pid=$!
for _ in $(seq 100); do
  grep -q "serving memcached protocol" "$work/serve.log" && break
  sleep 0.1
done
grep -q "serving memcached protocol" "$work/serve.log" || { cat "$work/serve.log"; exit 1; }

echo "peers: $(influxd version 2>&1 | head -n 1); mammoth serve (durable, persist-before-ack); rmem_max $(cat /proc/sys/net/core/rmem_max)"
"$bin" collect bench --to "127.0.0.1:$mm_port" \
  --influx-udp "127.0.0.1:$udp_port" --influx-http "127.0.0.1:$http_port" --influx-db collect \
  --seconds "$secs" --rounds "$rounds" --rates "$rates"
