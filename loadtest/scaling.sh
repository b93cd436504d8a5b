#!/usr/bin/env bash
# How fan-out throughput scales with subscribers, topics and cores (tuning.md, "Scaling"): one
# switchyard --cores 1 and one --cores 2 on loopback, and the acknowledged `fanout` (1 publisher, 64 B,
# msgpack over RawSocket) with 1, 10, 100 and 1000 subscribers on one topic, then 100 subscribers spread
# over 1, 10 and 100 topics (the publisher round-robins the topics), each case against both routers in
# turn. Prints delivered events/s, published/s, the router's CPU seconds per million delivered events
# (/proc/PID/stat), the load generator's CPU and loss.
#
#   loadtest/scaling.sh [DURATION]     (default 3 s per run; results in $OUT/results.txt, OUT defaults to a
#                                       temp dir; needs a release build)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
DURATION=${1:-3}
SY=target/release/switchyard
LT=target/release/switchyard-loadtest
OUT=${OUT:-$(mktemp -d /tmp/switchyard-scaling.XXXXXX)}
HZ=$(getconf CLK_TCK)
: >"$OUT/results.txt"

declare -A PID=() PORT=([1]=18521 [2]=18522)
for cores in 1 2; do
    printf '[[realms]]\nname = "realm1"\n[[endpoints]]\nkind = "rawsocket"\nlisten = "127.0.0.1:%s"\n' \
        "${PORT[$cores]}" >"$OUT/sy$cores.toml"
    setsid "$SY" --config "$OUT/sy$cores.toml" --cores "$cores" >"$OUT/sy$cores.log" 2>&1 &
    PID[$cores]=$!
done
trap 'for p in "${PID[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done' EXIT
sleep 1
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run SUBSCRIBERS TOPICS: one fan-out against each router.
run() {
    local subscribers=$1 topics=$2 cores before rc fields
    for cores in 1 2; do
        before=$(cpu_ticks "${PID[$cores]}")
        "$LT" fanout --url "rs://127.0.0.1:${PORT[$cores]}" --serializer msgpack --publishers 1 \
            --subscribers "$subscribers" --topics "$topics" --payload 64 --duration "$DURATION" >"$OUT/run.log" 2>&1
        rc=$?
        fields=$(grep '^{' "$OUT/run.log" | python3 -c 'import json, sys
r = json.load(sys.stdin)
ticks = int(sys.argv[1]) / int(sys.argv[2])
events = max(r["delivered_events"], 1)
print("%.0f %.0f %.3f %.0f %d %d" % (r["delivered_per_s"], r["published_per_s"], ticks / events * 1e6,
      r["loadtest_cpu"]["percent_of_one_core"], r["lost_events"], r["out_of_order_events"]))' \
            "$(($(cpu_ticks "${PID[$cores]}") - before))" "$HZ")
        echo "cores=$cores subscribers=$subscribers topics=$topics rc=$rc" \
            "events/s,published/s,router-cpu-s-per-M,loadtest%,lost,reordered: $fields" | tee -a "$OUT/results.txt"
    done
}

for subscribers in 1 10 100 1000; do run "$subscribers" 1; done
for topics in 10 100; do run 100 "$topics"; done
echo "results: $OUT/results.txt"
