#!/usr/bin/env bash
# Builds the fuzz targets with libFuzzer and coverage instrumentation on the stable toolchain, then fuzzes
# each of them for a while. See fuzz/README.md.
#
#   bash fuzz/run.sh [SECONDS] [TARGET...]   build, then run each target (all by default) SECONDS (30),
#                                            as many at a time as there are cores (FUZZ_JOBS overrides)
#   bash fuzz/run.sh build                   only build
#   bash fuzz/run.sh merge [TARGET...]       replace the seed corpora (corpus/<target>) by a small set of
#                                            inputs covering every edge that they and what the runs found
#                                            (target/corpus/<target>) cover
#
# Exits non-zero if any target crashed, hung (-timeout) or ran out of memory, and prints the path of the
# input that did it (under fuzz/artifacts/<target>/). Reproduce with
#   fuzz/target/<triple>/release/<target> fuzz/artifacts/<target>/crash-...
set -euo pipefail
cd "$(dirname "$0")"

TARGETS=(codec_json codec_msgpack codec_cbor websocket_frames rawsocket http_upgrade session)
HOST=$(rustc -vV | sed -n 's/^host: //p')
BIN=target/$HOST/release
JOBS=${FUZZ_JOBS:-$(nproc)}

# SanitizerCoverage through LLVM options that stable rustc accepts (no -Z flags): inline 8-bit edge
# counters and the PC table that libFuzzer's coverage feedback reads, and comparison tracing for its
# value profile and automatic dictionary. `--cfg fuzzing` is what cargo-fuzz sets too. `--target` keeps
# these flags off build scripts and proc macros.
export RUSTFLAGS="-Cpasses=sancov-module \
  -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
  -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares \
  --cfg fuzzing"

build() {
    echo "== building fuzz targets ($HOST, release with debug assertions)"
    local start=$SECONDS
    cargo build --release --target "$HOST" --bins
    echo "== built in $((SECONDS - start)) s"
}

merge() {
    for t in "$@"; do
        mkdir -p "corpus/$t" "target/corpus/$t"
        rm -rf "target/merged/$t" && mkdir -p "target/merged/$t"
        # A set cover of the edges (hit counts ignored): a few hundred small files per target.
        "$BIN/$t" -set_cover_merge=1 -use_counters=0 "target/merged/$t" "corpus/$t" "target/corpus/$t" \
            2>&1 | grep -E 'MERGE-OUTER: [0-9]+ new files' || true
        rm -rf "corpus/$t" && mv "target/merged/$t" "corpus/$t"
        echo "$t: $(ls "corpus/$t" | wc -l) files, $(cat "corpus/$t"/* | wc -c) bytes"
    done
}

# Runs one target for $1 seconds; its output goes to target/logs/<target>.log, its exit status to .rc.
run_one() {
    local seconds=$1 t=$2
    local log="target/logs/$t.log"
    mkdir -p "target/corpus/$t" "artifacts/$t"
    # The seed corpus is only read; new inputs go to target/corpus/<target> (the first directory).
    local rc=0
    "$BIN/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" "target/corpus/$t" "corpus/$t" >"$log" 2>&1 || rc=$?
    echo "$rc" >"$log.rc"
}

fuzz() {
    local seconds=$1
    shift
    mkdir -p target/logs
    local running=0
    for t in "$@"; do
        touch "target/logs/$t.log.start"
        rm -f "target/logs/$t.log.rc"
        run_one "$seconds" "$t" &
        running=$((running + 1))
        if [ "$running" -ge "$JOBS" ]; then
            wait -n || true
            running=$((running - 1))
        fi
    done
    wait
    local failed=()
    for t in "$@"; do
        local log="target/logs/$t.log"
        local rc
        rc=$(cat "$log.rc" 2>/dev/null || echo "none")
        echo "== $t: ${seconds} s"
        grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$log" | tail -n 2 || true
        grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" \
            | tr -s ' ' | tr '\n' ' ' || true
        echo
        local found
        found=$(find "artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \
            -o -name 'leak-*' -o -name 'slow-unit-*' \) -newer "$log.start" 2>/dev/null || true)
        if [ "$rc" != 0 ] || [ -n "$found" ]; then
            failed+=("$t")
            echo "!! $t failed (exit $rc); log: fuzz/$log"
            grep -E -A 30 'panicked at|ERROR: libFuzzer|==[0-9]+== ERROR' "$log" | head -n 40 || true
            for f in $found; do echo "!! input: fuzz/$f"; done
        fi
    done
    if [ ${#failed[@]} -gt 0 ]; then
        echo "== fuzzing failed: ${failed[*]}"
        return 1
    fi
    echo "== fuzzing: no crash in $*"
}

case "${1:-30}" in
    build)
        build
        ;;
    merge)
        shift
        targets=("$@")
        [ ${#targets[@]} -gt 0 ] || targets=("${TARGETS[@]}")
        merge "${targets[@]}"
        ;;
    *)
        seconds=${1:-30}
        [ $# -gt 0 ] && shift
        targets=("$@")
        [ ${#targets[@]} -gt 0 ] || targets=("${TARGETS[@]}")
        build
        start=$SECONDS
        echo "== fuzzing ${#targets[@]} targets, ${seconds} s each, $JOBS at a time"
        fuzz "$seconds" "${targets[@]}"
        echo "== fuzzed in $((SECONDS - start)) s"
        ;;
esac
