#!/usr/bin/env bash
# Linux knobs, side by side (tuning.md, "Linux knobs"): one switchyard --cores 1 on loopback, and the same
# fan-out (1 publisher -> 100 subscribers, 64 B, msgpack over RawSocket, 5 s) under each setting, the
# settings alternating run by run; then the sessions scenario's connect rate (4000 sessions, 512 setting up
# at once) under two somaxconn values; then switchyard's own spin_before_park_us (0, 50, 200 µs) on a
# switchyard --cores 2, by the open-loop latency at SPIN_RATE events/s (default 5212, half of Crossbar's
# maximum in the latency comparison) and the router's CPU. Needs root and a release build; restores every
# setting it changes.
#
#   loadtest/knobs.sh [RUNS]     (default 3 rounds; results in $OUT/results.txt, OUT defaults to a temp dir)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUNS=${1:-3}
SY=target/release/switchyard
LT=target/release/switchyard-loadtest
OUT=${OUT:-$(mktemp -d /tmp/switchyard-knobs.XXXXXX)}
PORT=18511
printf '[[realms]]\nname = "realm1"\n[[endpoints]]\nkind = "universal"\nlisten = "127.0.0.1:%s"\n' $PORT >"$OUT/sy.toml"
: >"$OUT/results.txt"

# The settings as they were, to restore.
SYSCTLS=(net.core.rmem_max net.core.wmem_max net.ipv4.tcp_rmem net.ipv4.tcp_wmem net.core.somaxconn)
declare -A SAVED=()
for key in "${SYSCTLS[@]}"; do SAVED[$key]=$(sysctl -n "$key"); done
THP=/sys/kernel/mm/transparent_hugepage/enabled
THP_SAVED=$(sed 's/.*\[\(.*\)\].*/\1/' "$THP")
restore() {
    for key in "${SYSCTLS[@]}"; do sysctl -q -w "$key=${SAVED[$key]}"; done
    echo "$THP_SAVED" >"$THP"
}

SYPID=""
# start_sy [CONFIG [CORES]]
start_sy() {
    setsid "$SY" --config "${1:-$OUT/sy.toml}" --cores "${2:-1}" >"$OUT/sy.log" 2>&1 &
    SYPID=$!
    sleep 1
}
stop_sy() {
    [ -n "$SYPID" ] || return 0
    kill -TERM -- "-$SYPID" 2>/dev/null; sleep 1; kill -KILL -- "-$SYPID" 2>/dev/null; SYPID=""
}
trap 'restore; stop_sy' EXIT

# fan LABEL [PREFIX...]: one fan-out run, the load generator started through PREFIX (e.g. taskset -c 1).
fan() {
    local label=$1
    shift
    "$@" "$LT" fanout --url "rs://127.0.0.1:$PORT" --serializer msgpack --publishers 1 --subscribers 100 \
        --topics 1 --payload 64 --duration 5 >"$OUT/run.log" 2>&1
    local rc=$? fields
    fields=$(grep '^{' "$OUT/run.log" | python3 -c 'import json, sys
r = json.load(sys.stdin)
print(r["delivered_per_s"], r["loadtest_cpu"]["percent_of_one_core"], r["lost_events"], r["out_of_order_events"],
      r["latency"]["p50_us"], r["latency"]["p99_us"])')
    echo "$label rc=$rc events/s,loadtest%,lost,reordered,p50us,p99us: $fields" | tee -a "$OUT/results.txt"
}

start_sy
for _ in $(seq 1 "$RUNS"); do
    restore
    fan tcpbuf=default
    sysctl -q -w net.core.rmem_max=16777216 net.core.wmem_max=16777216 \
        net.ipv4.tcp_rmem="4096 1048576 16777216" net.ipv4.tcp_wmem="4096 1048576 16777216"
    fan tcpbuf=big
    sysctl -q -w net.ipv4.tcp_rmem="4096 16384 65536" net.ipv4.tcp_wmem="4096 16384 65536"
    fan tcpbuf=small64k
    restore
    fan pin=none
    fan pin=loadtest-on-cpu1 taskset -c 1
    fan pin=loadtest-on-cpu0-with-the-shard taskset -c 0
    echo always >"$THP"
    fan thp=always
    restore
    fan thp=madvise
done
stop_sy
for _ in $(seq 1 "$RUNS"); do
    for backlog in 4096 128; do
        sysctl -q -w net.core.somaxconn=$backlog
        start_sy
        "$LT" sessions --url "rs://127.0.0.1:$PORT" --sessions 4000 --processes 2 --in-flight 512 \
            --router-pid "$SYPID" --grace 10 >"$OUT/sessions.log" 2>&1
        rc=$?
        rate=$(grep '^{' "$OUT/sessions.log" | python3 -c 'import json, sys
r = json.load(sys.stdin)
print(r["established"], r["connect_rate"])')
        echo "somaxconn=$backlog rc=$rc established,connects/s: $rate" | tee -a "$OUT/results.txt"
        stop_sy
    done
done
SPIN_RATE=${SPIN_RATE:-5212}
HZ=$(getconf CLK_TCK)
router_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SYPID/stat"; }
for _ in $(seq 1 "$RUNS"); do
    for spin in 0 50 200; do
        { echo "spin_before_park_us = $spin"; cat "$OUT/sy.toml"; } >"$OUT/spin.toml"
        start_sy "$OUT/spin.toml" 2
        before=$(router_cpu_ticks)
        "$LT" latency --mode pubsub --url "rs://127.0.0.1:$PORT" --serializer msgpack --rate "$SPIN_RATE" \
            --duration 5 >"$OUT/spin.log" 2>&1
        rc=$?
        cpu=$(( ($(router_cpu_ticks) - before) * 100 / HZ / 5 ))
        fields=$(grep '^{' "$OUT/spin.log" | python3 -c 'import json, sys
r = json.load(sys.stdin)
print(r["latency"]["p50_us"], r["latency"]["p99_us"], r["latency"]["p999_us"], r["lost"])')
        echo "spin_before_park_us=$spin rc=$rc p50us,p99us,p999us,lost: $fields router-cpu%: $cpu" |
            tee -a "$OUT/results.txt"
        stop_sy
    done
done
echo "results: $OUT/results.txt"
