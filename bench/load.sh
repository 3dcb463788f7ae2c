#!/usr/bin/env bash
# Training beside other busy processes: each suite's step at 1 and 2 kernel threads, interleaved, with 0, 1 and 2
# competing processes that each keep one core busy; prints the 2-thread / 1-thread time ratio under each load.
# A ratio above 1 means two threads are slower than one under that load.
#
# usage: bench/load.sh [--seconds S] [--rounds R] [--loads "0 1 2"] [SUITE...]
#   SUITE: lstm-512 lstm-256 gru-512 rnn-128 (default: all); S: time budget per measurement (default 3);
#   R: interleaved rounds of (1 thread, 2 threads) per load (default 2); the best and the median step of every
#   round are kept, and the table shows the best of the rounds' best steps and the median of their medians.
#
# The busy processes are `yes > /dev/null` started by this script (each ends by itself after the run's time
# budget, and the script stops the ones it started, by process id, when it exits). Run it on an otherwise quiet
# machine: whatever else runs adds to the load (the script prints `uptime` before and after).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=3
rounds=2
loads="0 1 2"
suites=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --loads) loads="$2"; shift 2 ;;
        lstm-512|lstm-256|gru-512|rnn-128) suites+=("$1"); shift ;;
        *) echo "error: unknown argument '$1' (expected --seconds S, --rounds R, --loads \"0 1 2\" or a suite: lstm-512 lstm-256 gru-512 rnn-128)" >&2; exit 2 ;;
    esac
done
[[ ${#suites[@]} -gt 0 ]] || suites=(lstm-512 lstm-256 gru-512 rnn-128)

dotnet build -c Release "$repo/bench/Unroll.Bench" -v quiet -nologo >/dev/null
bench="$repo/bench/Unroll.Bench/bin/Release/net10.0/Unroll.Bench"

busy=()
stop_busy() {
    for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${busy[@]}"; do wait "$pid" 2>/dev/null || true; done
    busy=()
}
trap stop_busy EXIT

echo "# $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p'), $(nproc) CPUs"
echo "# uptime before: $(uptime)"
results=""
for suite in "${suites[@]}"; do
    for load in $loads; do
        for ((i = 0; i < load; i++)); do
            # Bounded: ends by itself even if this script is killed without running its trap.
            timeout $((rounds * 4 * ${seconds%.*} + 120)) yes > /dev/null &
            busy+=("$!")
        done
        for ((round = 0; round < rounds; round++)); do
            out="$("$bench" "$suite" --threads 1 --threads 2 --seconds "$seconds" | grep "^$suite ")"
            results+="$(sed "s/^/$load /" <<< "$out")"$'\n'
        done
        stop_busy
    done
done
echo "# uptime after: $(uptime)"

RESULTS="$results" python3 - <<'PY'
import os, statistics
rows = {}
for line in os.environ["RESULTS"].splitlines():
    f = line.split()
    if len(f) < 6:
        continue
    load, suite, threads, best, median = int(f[0]), f[1], int(f[2]), float(f[3]), float(f[4])
    r = rows.setdefault((suite, load), {}).setdefault(threads, {"best": [], "median": []})
    r["best"].append(best)
    r["median"].append(median)
print("| suite | busy processes | 1 thread best / median ms | 2 threads best / median ms | 2 thr / 1 thr (median) | 2 thr / 1 thr (best) |")
print("|---|---:|---:|---:|---:|---:|")
for (suite, load), r in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1])):
    if 1 not in r or 2 not in r:
        continue
    b1, m1 = min(r[1]["best"]), statistics.median(r[1]["median"])
    b2, m2 = min(r[2]["best"]), statistics.median(r[2]["median"])
    print(f"| {suite} | {load} | {b1:.1f} / {m1:.1f} | {b2:.1f} / {m2:.1f} | {m2 / m1:.2f} | {b2 / b1:.2f} |")
PY
