#!/usr/bin/env bash
# switchyard vs Crossbar.io vs NATS, side by side, driven by the same load generator on loopback.
#
#   loadtest/compare.sh [--duration SECS] [--runs N] [--quick] [--no-install] [--out DIR]
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
# Each router's CPU time (utime + stime of the router and its child processes, /proc/PID/stat) is read
# before and after every run, giving CPU seconds per million delivered events (fan-out) or completed calls
# (RPC). Prints a table of medians and ratios (also written to OUT/table.md; every run's JSON report is in
# OUT/runs.jsonl and its output in OUT/logs/).
#
# Defaults: 3 runs of 5 s per case; --quick: 1 run of 2 s (a smoke test).
set -euo pipefail

CROSSBAR_VERSION=${CROSSBAR_VERSION:-26.10.1}
DURATION=5
RUNS=3
INSTALL=1
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

failed_runs=0
for run in $(seq 1 "$RUNS"); do
    for spec in "${CASES[@]}"; do
        read -r case router scenario url serializer <<<"$spec"
        if [ "$scenario" = fanout ]; then args=("${FANOUT[@]}"); else args=("${RPC[@]}"); fi
        log="$OUT/logs/$case.$router.$run.log"
        pid=${PIDS[$router]}
        kill -0 "$pid" 2>/dev/null || die "$router (pid $pid) is gone (log: $OUT/logs/$router.log)"
        before=$(cpu_ticks "$pid")
        rc=0
        "$LT" "$scenario" --url "$url" --serializer "$serializer" --duration "$DURATION" --grace 5 \
            "${args[@]}" >"$log" 2>&1 || rc=$?
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
        rate=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r.get("delivered_per_s", r.get("calls_per_s", "?")))' "$json")
        echo "   run $run  $case  $router: ${rate}/s, router CPU ${cpu} s, exit $rc"
        sleep 1
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

stats = {}
for r in rows:
    rep = r["report"]
    fanout = r["case"].startswith("fanout")
    rate = rep.get("delivered_per_s" if fanout else "calls_per_s")
    count = rep.get("delivered_events" if fanout else "results")
    cpu_per_m = r["router_cpu_s"] / (count / 1e6) if count else None
    p50 = (rep.get("latency") or {}).get("p50_us")
    s = stats.setdefault((r["case"], r["router"]), {"rate": [], "cpu": [], "p50": [], "bad": 0, "n": 0})
    s["n"] += 1
    s["rate"].append(rate)
    s["cpu"].append(cpu_per_m)
    s["p50"].append(p50)
    if r["exit"] != 0:
        s["bad"] += 1

def fmt(v, digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}".replace(",", " ")

lines = [
    f"Medians of {runs} run(s) of {duration} s each; rate = delivered events/s (fan-out) or completed calls/s (RPC);",
    "CPU = the router's CPU seconds (user + system, all its processes) per million delivered events or calls.",
    "",
    "| case | router | rate /s | p50 latency µs | router CPU s / M | rate vs Crossbar | rate vs NATS | CPU vs NATS | failed runs |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
]
for case in cases:
    cb = stats.get((case, "crossbar"))
    nats = stats.get((case, "nats"))
    cb_rate = med(cb["rate"]) if cb else None
    nats_rate = med(nats["rate"]) if nats else None
    nats_cpu = med(nats["cpu"]) if nats else None
    for router in ["sy1", "sy2", "crossbar", "nats"]:
        s = stats.get((case, router))
        if not s:
            continue
        rate, cpu, p50 = med(s["rate"]), med(s["cpu"]), med(s["p50"])
        def ratio(a, b):
            return f"{a / b:.2f}x" if a is not None and b else "-"
        own = router.startswith("sy")
        lines.append(
            f"| {case} | {names[router]} | {fmt(rate)} | {fmt(p50)} | {fmt(cpu, 2)} | "
            f"{ratio(rate, cb_rate) if own else ''} | {ratio(rate, nats_rate) if own else ''} | "
            f"{ratio(cpu, nats_cpu) if own else ''} | {s['bad']}/{s['n']} |"
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
