#!/usr/bin/env bash
# Text-protocol benchmark: Debian's memcached (memory only) and `mammoth
# serve` (durable, persist-before-ack) one after the other in one run, same
# clients on loopback.
#
#   bench-text.sh MAMMOTH_BINARY [SECONDS]     (default 5 s per step)
#   MAMMOTH_ARGS="--durability write-behind" adds arguments to mammoth serve.
#
# Steps, per server:
#   memcaslap (text, no -B), 2 threads x 32 conns, 100-byte values:
#     mixed : memaslap's default 90% get / 10% set  -> GET ops/s
#     set   : 100% set (a -F config file)           -> SET ops/s
#     get   : GETs only, after memcaslap's preload of 64 x 1k items (not
#             counted)                              -> GET ops/s
#   mcpipe -m noreply : 100 x "set … noreply" + "mn", 4 conns (text bulk load)
#   mcpipe -m setq    : 100 x SETQ + NOOP, 4 conns (the binary equivalent)
#   mcpipe -m mget    : one "get" line of 100 keys, 4 conns
# Prints one "RESULT server step ops/s" line per step.
set -uo pipefail
bin=${1:?usage: bench-text.sh MAMMOTH_BINARY [SECONDS]}
secs=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
mc_port=${MC_PORT:-22311}
mm_port=${MM_PORT:-22312}
mammoth_pid=
cleanup() {
    "$here/stop-memcached.sh" "$mc_port" >/dev/null 2>&1 || true
    [ -n "$mammoth_pid" ] && kill "$mammoth_pid" 2>/dev/null && wait "$mammoth_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/get.cfg" <<'CFG'
key
64 64 1
value
100 100 1
cmd
0 0.0
1 1.0
CFG
cat >"$work/set.cfg" <<'CFG'
key
64 64 1
value
100 100 1
cmd
0 1.0
1 0.0
CFG

# memcaslap prints "cmd_get: N" / "cmd_set: N" and "Run time: Xs ..." lines.
caslap() { # caslap PORT [extra args]: "GET/s SET/s"
    local port=$1
    shift
    local out
    out=$(timeout $((secs + 30)) memcaslap -s "127.0.0.1:$port" -T 2 -c 32 -t "${secs}s" -X 100 "$@" 2>&1)
    local gets sets t
    gets=$(echo "$out" | awk '/^cmd_get:/ {print $2; exit}')
    sets=$(echo "$out" | awk '/^cmd_set:/ {print $2; exit}')
    t=$(echo "$out" | awk '/^Run time:/ {sub("s","",$3); print $3; exit}')
    awk -v g="${gets:-0}" -v s="${sets:-0}" -v t="${t:-1}" 'BEGIN {printf "%.0f %.0f\n", g / t, s / t}'
}

getonly() { # getonly PORT: GET/s of a GETs-only memcaslap run (its preload not counted)
    timeout $((secs + 60)) memcaslap -s "127.0.0.1:$1" -T 2 -c 32 -t "${secs}s" -X 100 -w 1k \
        -F "$work/get.cfg" -S "${secs}s" 2>&1 |
        awk '/^Get Statistics$/ {g=1} g && /^Global/ {print $4; exit}'
}

pipe() { # pipe PORT MODE: ops/s
    timeout $((secs + 30)) python3 "$here/mcpipe.py" 127.0.0.1 "$1" -t "$secs" -c 4 -b 100 -m "$2" \
        | sed -E 's/.* ([0-9]+) ops\/s.*/\1/'
}

bench() { # bench NAME PORT
    local name=$1 port=$2 r
    r=$(caslap "$port")
    echo "RESULT $name memcaslap-mixed-get ${r% *}"
    echo "RESULT $name memcaslap-mixed-set ${r#* }"
    r=$(caslap "$port" -F "$work/set.cfg")
    echo "RESULT $name memcaslap-set ${r#* }"
    echo "RESULT $name memcaslap-get $(getonly "$port")"
    for m in noreply setq mget; do
        echo "RESULT $name mcpipe-$m $(pipe "$port" $m)"
    done
}

echo "# $(nproc) CPUs, ${secs}s per step, $(memcached -V)"
THREADS=2 "$here/start-memcached.sh" "$mc_port" >/dev/null || exit 1
bench memcached "$mc_port"
"$here/stop-memcached.sh" "$mc_port" >/dev/null 2>&1

"$bin" serve --dir "$work/data" --port "$mm_port" ${MAMMOTH_ARGS:-} 2>"$work/mammoth.log" &
mammoth_pid=$!
for _ in $(seq 1 100); do
    grep -qs "serving" "$work/mammoth.log" && break
    sleep 0.1
done
bench mammoth "$mm_port"
