#!/usr/bin/env bash
# switchyard vs Crossbar.io vs NATS, side by side, driven by the same load generator on loopback.
#
#   loadtest/compare.sh [--duration SECS] [--runs N] [--quick] [--no-latency] [--no-install] [--out DIR]
#
# Installs what is missing (Crossbar.io into loadtest/.venv-crossbar with pip, nats-server with apt-get,
# a release build of switchyard and switchyard-loadtest), starts every router on loopback with an
# equivalent configuration on private ports:
#   switchyard --cores 1 and --cores 2: realm1, anonymous, one universal endpoint (RawSocket + WebSocket /ws)
#   Crossbar.io: realm1, role anonymous allowed everything, one universal transport (RawSocket + WebSocket
#                /ws; json, msgpack, cbor)
#   nats-server: defaults, on 127.0.0.1
# and runs the same scenarios against each, alternating the routers run by run (round r runs every case on
# every router before round r + 1 starts):
#   fan-out  1 publisher -> 100 subscribers, 1 topic, 64 B payload: msgpack over RawSocket, json over
#            WebSocket, and the same shape over NATS (body = the same msgpack or json Arguments list)
#   RPC      10 callers x 16 outstanding -> 1 callee, 64 B, msgpack over RawSocket and over WebSocket
#            (WAMP routers only)
#   latency  (WAMP routers only, msgpack over RawSocket, 64 B) first Crossbar's maximum rate for the
#            workload, measured closed loop: `fanout` 1 publisher -> 1 subscriber (acknowledged, window 32)
#            gives its delivered events/s, `rpc` 1 caller x 16 outstanding -> 1 callee its calls/s; then
#            each round runs the open-loop `latency` scenario at half of that rate (pubsub 1 -> 1, and
#            --mode rpc 1 -> 1) against every WAMP router and compares the p99s.
# Each router's CPU time (utime + stime of the router and its child processes, /proc/PID/stat) is read
# before and after every run, giving CPU seconds per million delivered events (fan-out) or completed calls
# (RPC), and the load generator reports its own CPU use. Prints a table of medians and ratios (also written
# to OUT/table.md; every run's JSON report is in OUT/runs.jsonl and its output in OUT/logs/).
#
# Defaults: 3 runs of 5 s per case; --quick: 1 run of 2 s (a smoke test). --no-latency skips the latency
# part (about 2 + 6 x runs x duration s more).
set -euo pipefail

CROSSBAR_VERSION=${CROSSBAR_VERSION:-26.10.1}
DURATION=5
RUNS=3
INSTALL=1
LATENCY=1
OUT=""
usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=${2:?--duration needs seconds}; shift 2 ;;
        --runs) RUNS=${2:?--runs needs a count}; shift 2 ;;
        --quick) RUNS=1; DURATION=2; shift ;;
        --no-install) INSTALL=0; shift ;;
        --no-latency) LATENCY=0; shift ;;
        --out) OUT=${2:?--out needs a directory}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$DURATION" in '' | *[!0-9.]*) echo "compare.sh: --duration must be a number of seconds" >&2; exit 2 ;; esac
case "$RUNS" in '' | *[!0-9]* | 0) echo "compare.sh: --runs must be a positive integer" >&2; exit 2 ;; esac

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=loadtest/.venv-crossbar
SY=target/release/switchyard
LT=target/release/switchyard-loadtest
SY1_PORT=18391
SY2_PORT=18392
CB_PORT=18393
NATS_PORT=18394
OUT=${OUT:-$(mktemp -d /tmp/switchyard-compare.XXXXXX)}
mkdir -p "$OUT/logs"
: >"$OUT/runs.jsonl"
HZ=$(getconf CLK_TCK)

die() {
    echo "compare.sh: $*" >&2
    exit 1
}

# --- routers: started in their own session (setsid), so that stopping one stops its child processes too.
declare -A PIDS=()
stop_routers() {
    local name pid
    for name in "${!PIDS[@]}"; do
        pid=${PIDS[$name]}
        kill -TERM -- "-$pid" 2>/dev/null || true
    done
    sleep 1
    for name in "${!PIDS[@]}"; do
        pid=${PIDS[$name]}
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
    PIDS=()
}
trap stop_routers EXIT
trap 'exit 130' INT TERM

# start_router NAME LOG COMMAND...: starts it in the background and records its PID.
start_router() {
    local name=$1 log=$2
    shift 2
    setsid "$@" >"$log" 2>&1 </dev/null &
    PIDS[$name]=$!
}

# wait_port NAME PORT SECONDS: waits until 127.0.0.1:PORT accepts connections; fails if the router died.
wait_port() {
    local name=$1 port=$2 deadline=$((SECONDS + $3))
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
        if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
            tail -n 30 "$OUT/logs/$name.log" >&2 || true
            die "$name exited during startup (log: $OUT/logs/$name.log)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 "$OUT/logs/$name.log" >&2 || true
            die "$name is not listening on 127.0.0.1:$port after $3 s (log: $OUT/logs/$name.log)"
        fi
        sleep 0.2
    done
}

# cpu_ticks PID: utime + stime, in clock ticks, of PID and all its descendants.
cpu_ticks() {
    local pids pid stat fields total=0
    pids=$(ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2 }
        END {
            keep[root] = 1; n = 1
            while (n) { n = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; n = 1 } }
            for (p in keep) print p
        }')
    for pid in $pids; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        # Fields after the parenthesised command name: state is the 1st, utime the 12th, stime the 13th.
        read -r -a fields <<<"${stat##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# --- install and build
if [ "$INSTALL" = 1 ]; then
    echo "== release build of switchyard and switchyard-loadtest"
    cargo build --release -p switchyard -p switchyard-loadtest
    if [ ! -x "$VENV/bin/crossbar" ]; then
        echo "== Crossbar.io $CROSSBAR_VERSION into $VENV (Python $(python3 --version 2>&1))"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install --quiet "crossbar==$CROSSBAR_VERSION"
    fi
    if ! command -v nats-server >/dev/null; then
        echo "== nats-server (apt-get)"
        apt-get install -y nats-server >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y nats-server >/dev/null; }
    fi
fi
{ [ -x "$SY" ] && [ -x "$LT" ]; } || die "$SY or $LT missing: run without --no-install, or cargo build --release"
[ -x "$VENV/bin/crossbar" ] || die "$VENV/bin/crossbar missing: run without --no-install"
command -v nats-server >/dev/null || die "nats-server missing: apt-get install -y nats-server"

# --- configurations
for cores in 1 2; do
    port_var=SY${cores}_PORT
    printf '[[realms]]\nname = "realm1"\n[[endpoints]]\nkind = "universal"\nlisten = "127.0.0.1:%s"\n' \
        "${!port_var}" >"$OUT/switchyard-$cores.toml"
done
mkdir -p "$OUT/crossbar"
cat >"$OUT/crossbar/config.json" <<EOF
{
  "version": 2,
  "controller": {},
  "workers": [
    {
      "type": "router",
      "realms": [
        {
          "name": "realm1",
          "roles": [
            {
              "name": "anonymous",
              "permissions": [
                {
                  "uri": "",
                  "match": "prefix",
                  "allow": {"call": true, "register": true, "publish": true, "subscribe": true},
                  "disclose": {"caller": false, "publisher": false},
                  "cache": true
                }
              ]
            }
          ]
        }
      ],
      "transports": [
        {
          "type": "universal",
          "endpoint": {"type": "tcp", "port": $CB_PORT, "interface": "127.0.0.1", "backlog": 1024},
          "rawsocket": {"serializers": ["msgpack", "json", "cbor"]},
          "websocket": {
            "ws": {"type": "websocket", "serializers": ["json", "msgpack", "cbor"]}
          }
        }
      ]
    }
  ]
}
EOF

# --- start the routers
echo "== starting the routers (logs in $OUT/logs)"
start_router sy1 "$OUT/logs/sy1.log" "$SY" --config "$OUT/switchyard-1.toml" --cores 1
start_router sy2 "$OUT/logs/sy2.log" "$SY" --config "$OUT/switchyard-2.toml" --cores 2
start_router crossbar "$OUT/logs/crossbar.log" "$VENV/bin/crossbar" start --cbdir "$OUT/crossbar" --loglevel warn
start_router nats "$OUT/logs/nats.log" nats-server -a 127.0.0.1 -p "$NATS_PORT"
wait_port sy1 "$SY1_PORT" 20
wait_port sy2 "$SY2_PORT" 20
wait_port nats "$NATS_PORT" 20
wait_port crossbar "$CB_PORT" 90
sleep 1
CB_VERSION=$("$VENV/bin/pip" show crossbar 2>/dev/null | awk '/^Version:/ { print $2 }')
NATS_VERSION=$(nats-server --version 2>/dev/null | head -n 1)
echo "   switchyard $(git rev-parse --short HEAD), Crossbar.io ${CB_VERSION:-?}, ${NATS_VERSION:-nats-server ?}"

# --- the cases: "case router scenario url serializer"
FANOUT=(--publishers 1 --subscribers 100 --topics 1 --payload 64)
RPC=(--callers 10 --outstanding 16 --callees 1 --payload 64)
CASES=(
    "fanout-rs-msgpack sy1 fanout rs://127.0.0.1:$SY1_PORT msgpack"
    "fanout-rs-msgpack sy2 fanout rs://127.0.0.1:$SY2_PORT msgpack"
    "fanout-rs-msgpack crossbar fanout rs://127.0.0.1:$CB_PORT msgpack"
    "fanout-rs-msgpack nats fanout nats://127.0.0.1:$NATS_PORT msgpack"
    "fanout-ws-json sy1 fanout ws://127.0.0.1:$SY1_PORT/ws json"
    "fanout-ws-json sy2 fanout ws://127.0.0.1:$SY2_PORT/ws json"
    "fanout-ws-json crossbar fanout ws://127.0.0.1:$CB_PORT/ws json"
    "fanout-ws-json nats fanout nats://127.0.0.1:$NATS_PORT json"
    "rpc-rs-msgpack sy1 rpc rs://127.0.0.1:$SY1_PORT msgpack"
    "rpc-rs-msgpack sy2 rpc rs://127.0.0.1:$SY2_PORT msgpack"
    "rpc-rs-msgpack crossbar rpc rs://127.0.0.1:$CB_PORT msgpack"
    "rpc-ws-msgpack sy1 rpc ws://127.0.0.1:$SY1_PORT/ws msgpack"
    "rpc-ws-msgpack sy2 rpc ws://127.0.0.1:$SY2_PORT/ws msgpack"
    "rpc-ws-msgpack crossbar rpc ws://127.0.0.1:$CB_PORT/ws msgpack"
)

# run_case RUN CASE ROUTER SCENARIO URL SERIALIZER ARGS...: one loadtest run, with the router's CPU time
# around it; appends its record to runs.jsonl and sets REPORT to its JSON report.
failed_runs=0
REPORT='{}'
run_case() {
    local run=$1 case=$2 router=$3 scenario=$4 url=$5 serializer=$6
    shift 6
    local log="$OUT/logs/$case.$router.$run.log" pid=${PIDS[$router]} before after cpu json rc=0 summary
    kill -0 "$pid" 2>/dev/null || die "$router (pid $pid) is gone (log: $OUT/logs/$router.log)"
    before=$(cpu_ticks "$pid")
    "$LT" "$scenario" --url "$url" --serializer "$serializer" --duration "$DURATION" --grace 5 "$@" \
        >"$log" 2>&1 || rc=$?
    after=$(cpu_ticks "$pid")
    cpu=$(awk -v t=$((after - before)) -v hz="$HZ" 'BEGIN { printf "%.3f", t / hz }')
    json=$(grep '^{' "$log" | tail -n 1 || true)
    if [ -z "$json" ]; then
        json='{}'
        echo "   run $run $case $router: NO REPORT (exit $rc): $(tail -n 1 "$log")" >&2
    fi
    if [ "$rc" != 0 ]; then
        failed_runs=$((failed_runs + 1))
    fi
    printf '{"run":%s,"case":"%s","router":"%s","exit":%s,"router_cpu_s":%s,"report":%s}\n' \
        "$run" "$case" "$router" "$rc" "$cpu" "$json" >>"$OUT/runs.jsonl"
    summary=$(python3 -c '
import json, sys
r = json.loads(sys.argv[1])
lt = (r.get("loadtest_cpu") or {}).get("percent_of_one_core", "?")
if "requested_per_s" in r:
    l = r.get("latency") or {}
    q = (r.get("sent_per_s"), l.get("p50_us"), l.get("p99_us"), l.get("p999_us"), lt)
    print("%s/s, p50/p99/p99.9 %s/%s/%s us, loadtest CPU %s %%" % q)
else:
    print("%s/s, loadtest CPU %s %%" % (r.get("delivered_per_s", r.get("calls_per_s", "?")), lt))
' "$json")
    echo "   run $run  $case  $router: $summary, router CPU ${cpu} s, exit $rc"
    REPORT=$json
    sleep 1
}

# Crossbar's maximum rate for the latency workloads (closed loop, so it is what Crossbar sustains), then
# the open-loop rate: half of it.
if [ "$LATENCY" = 1 ]; then
    echo "== Crossbar's maximum rate, closed loop (msgpack over RawSocket, 1 -> 1, 64 B)"
    run_case 0 max-pubsub crossbar fanout "rs://127.0.0.1:$CB_PORT" msgpack \
        --publishers 1 --subscribers 1 --topics 1 --payload 64
    MAX_PUBSUB=$(python3 -c 'import json,sys; print(int(json.loads(sys.argv[1]).get("delivered_per_s", 0)))' "$REPORT")
    run_case 0 max-rpc crossbar rpc "rs://127.0.0.1:$CB_PORT" msgpack \
        --callers 1 --outstanding 16 --callees 1 --payload 64
    MAX_RPC=$(python3 -c 'import json,sys; print(int(json.loads(sys.argv[1]).get("calls_per_s", 0)))' "$REPORT")
    [ "$MAX_PUBSUB" -gt 1 ] && [ "$MAX_RPC" -gt 1 ] || die "could not measure Crossbar's maximum rate"
    echo "   latency runs at half of it: pubsub $((MAX_PUBSUB / 2))/s, rpc $((MAX_RPC / 2))/s"
    for router in sy1 sy2 crossbar; do
        case $router in sy1) port=$SY1_PORT ;; sy2) port=$SY2_PORT ;; *) port=$CB_PORT ;; esac
        CASES+=("latency-pubsub $router latency rs://127.0.0.1:$port msgpack --mode pubsub --rate $((MAX_PUBSUB / 2))")
    done
    for router in sy1 sy2 crossbar; do
        case $router in sy1) port=$SY1_PORT ;; sy2) port=$SY2_PORT ;; *) port=$CB_PORT ;; esac
        CASES+=("latency-rpc $router latency rs://127.0.0.1:$port msgpack --mode rpc --rate $((MAX_RPC / 2))")
    done
fi

for run in $(seq 1 "$RUNS"); do
    for spec in "${CASES[@]}"; do
        read -r case router scenario url serializer extra <<<"$spec"
        case $scenario in
            fanout) args=("${FANOUT[@]}") ;;
            rpc) args=("${RPC[@]}") ;;
            *) read -r -a args <<<"$extra"; args+=(--publishers 1 --subscribers 1 --payload 64) ;;
        esac
        run_case "$run" "$case" "$router" "$scenario" "$url" "$serializer" "${args[@]}"
    done
done

# --- the table
python3 - "$OUT/runs.jsonl" "$OUT/table.md" "$DURATION" "$RUNS" <<'EOF'
import json, statistics, sys

path, table_path, duration, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
rows = [json.loads(line) for line in open(path)]
names = {"sy1": "switchyard --cores 1", "sy2": "switchyard --cores 2", "crossbar": "Crossbar.io", "nats": "NATS"}
cases = []
for r in rows:
    if r["case"] not in cases:
        cases.append(r["case"])

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def fmt(v, digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}".replace(",", " ")

def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "-"

stats = {}
for r in rows:
    rep = r["report"]
    lat = rep.get("latency") or {}
    s = stats.setdefault((r["case"], r["router"]), {"bad": 0, "n": 0})
    s["n"] += 1
    if r["exit"] != 0:
        s["bad"] += 1
    def add(key, value):
        s.setdefault(key, []).append(value)
    add("lt_cpu", (rep.get("loadtest_cpu") or {}).get("percent_of_one_core"))
    for q in ["p50_us", "p99_us", "p999_us", "max_us"]:
        add(q, lat.get(q))
    if r["case"].startswith("latency"):
        count = rep.get("delivered")
        add("rate", rep.get("sent_per_s"))
        add("lag_p99", (rep.get("send_lag") or {}).get("p99_us"))
    elif r["case"].startswith("fanout") or r["case"] == "max-pubsub":
        count = rep.get("delivered_events")
        add("rate", rep.get("delivered_per_s"))
    else:
        count = rep.get("results")
        add("rate", rep.get("calls_per_s"))
    add("cpu", r["router_cpu_s"] / (count / 1e6) if count else None)

lines = [
    f"Medians of {runs} run(s) of {duration} s each; rate = delivered events/s (fan-out) or completed calls/s (RPC);",
    "router CPU = the router's CPU seconds (user + system, all its processes) per million delivered events or",
    "calls; loadtest CPU = the load generator's own CPU while sending, in % of one core (of 2, shared).",
    "",
    "| case | router | rate /s | p50 latency µs | router CPU s / M | loadtest CPU % | rate vs Crossbar | rate vs NATS | CPU vs NATS | failed runs |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
]
for case in [c for c in cases if c.split("-")[0] in ("fanout", "rpc")]:
    cb = stats.get((case, "crossbar"))
    nats = stats.get((case, "nats"))
    cb_rate = med(cb["rate"]) if cb else None
    nats_rate = med(nats["rate"]) if nats else None
    nats_cpu = med(nats["cpu"]) if nats else None
    for router in ["sy1", "sy2", "crossbar", "nats"]:
        s = stats.get((case, router))
        if not s:
            continue
        rate, cpu = med(s["rate"]), med(s["cpu"])
        own = router.startswith("sy")
        lines.append(
            f"| {case} | {names[router]} | {fmt(rate)} | {fmt(med(s['p50_us']))} | {fmt(cpu, 2)} | "
            f"{fmt(med(s['lt_cpu']))} | {ratio(rate, cb_rate) if own else ''} | "
            f"{ratio(rate, nats_rate) if own else ''} | {ratio(cpu, nats_cpu) if own else ''} | {s['bad']}/{s['n']} |"
        )
latency_cases = [c for c in cases if c.startswith("latency")]
if latency_cases:
    maxima = {c: med(stats[(c, "crossbar")]["rate"]) for c in ["max-pubsub", "max-rpc"] if (c, "crossbar") in stats}
    lines += [
        "",
        "Latency at half of Crossbar's maximum rate (msgpack over RawSocket, 1 -> 1, 64 B, open loop, latency from",
        "each send's scheduled time). Crossbar's maximum, closed loop: "
        + ", ".join(f"{c[4:]} {fmt(v)}/s" for c, v in maxima.items())
        + ". p99 vs Crossbar = own p99 / Crossbar's p99 (target <= 0.10x).",
        "",
        "| case | router | offered /s | sent /s | p50 µs | p99 µs | p99.9 µs | max µs | send lag p99 µs | loadtest CPU % | p99 vs Crossbar | failed runs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in latency_cases:
        maximum = maxima.get("max-" + case.split("-", 1)[1])
        cb = stats.get((case, "crossbar"))
        cb_p99 = med(cb["p99_us"]) if cb else None
        for router in ["sy1", "sy2", "crossbar"]:
            s = stats.get((case, router))
            if not s:
                continue
            p99 = med(s["p99_us"])
            own = router.startswith("sy")
            lines.append(
                f"| {case} | {names[router]} | {fmt(maximum and maximum // 2)} | {fmt(med(s['rate']))} | "
                f"{fmt(med(s['p50_us']))} | {fmt(p99)} | {fmt(med(s['p999_us']))} | {fmt(med(s['max_us']))} | "
                f"{fmt(med(s['lag_p99']))} | {fmt(med(s['lt_cpu']))} | {ratio(p99, cb_p99) if own else ''} | "
                f"{s['bad']}/{s['n']} |"
            )
text = "\n".join(lines) + "\n"
open(table_path, "w").write(text)
print()
print(text)
EOF
echo "runs: $OUT/runs.jsonl, table: $OUT/table.md, logs: $OUT/logs/"
if [ "$failed_runs" -gt 0 ]; then
    echo "compare.sh: $failed_runs run(s) reported failures or problems (see the logs); their numbers are in the table" >&2
    exit 1
fi
