#!/usr/bin/env bash
# Training throughput of two builds of Unroll.Bench side by side in one run: a baseline (say, the main branch built
# in another checkout) and this checkout. The two are interleaved suite by suite, thread count by thread count and
# round by round, the order swapped every round; prints each one's best and median step, its least CPU time per step
# (all threads; on a loaded machine the steadier figure) and the ratios base / new (above 1: the new build is faster).
#
# usage: bench/compare-builds.sh BASE_BENCH [--seconds S] [--rounds R] [--threads N]... [SUITE...]
#   BASE_BENCH: the baseline's Unroll.Bench executable (e.g. /tmp/main/bench/Unroll.Bench/bin/Release/net10.0/Unroll.Bench);
#   SUITE: any training suite of Unroll.Bench (default: rnn-128 rnn-512 lstm-128 lstm-512 gru-128 gru-512);
#   S: time budget per measurement (default 2); R: rounds (default 3); N: thread counts (default 1 and 2).
# Both builds must know the suites (add the same configs to the baseline's TrainBenchmark.cs if it lacks them).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $# -ge 1 ]] || { echo "usage: bench/compare-builds.sh BASE_BENCH [--seconds S] [--rounds R] [--threads N]... [SUITE...]" >&2; exit 2; }
base="$1"; shift
[[ -x "$base" ]] || { echo "error: expected the baseline's Unroll.Bench executable, got '$base'" >&2; exit 2; }
seconds=2
rounds=3
threads=()
suites=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --threads) threads+=("$2"); shift 2 ;;
        -*) echo "error: unknown option '$1'" >&2; exit 2 ;;
        *) suites+=("$1"); shift ;;
    esac
done
[[ ${#suites[@]} -gt 0 ]] || suites=(rnn-128 rnn-512 lstm-128 lstm-512 gru-128 gru-512)
[[ ${#threads[@]} -gt 0 ]] || threads=(1 2)

dotnet build -c Release "$repo/bench/Unroll.Bench" -v q -nologo >/dev/null
new="$repo/bench/Unroll.Bench/bin/Release/net10.0/Unroll.Bench"

echo "# $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p'), $(nproc) CPUs; flags:$(grep -o -w -E 'avx2|fma|avx512f|avx512vl' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "# start $(date -u +%H:%M) UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)"
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
for ((round = 0; round < rounds; round++)); do
    for suite in "${suites[@]}"; do
        for n in "${threads[@]}"; do
            order=(base new)
            (( round % 2 == 1 )) && order=(new base)
            for who in "${order[@]}"; do
                exe="$base"; [[ $who == new ]] && exe="$new"
                # columns: suite threads best_ms median_ms ...
                "$exe" "$suite" --threads "$n" --seconds "$seconds" | awk -v who="$who" '!/^#/ && $1 != "suite" { print who, $1, $2, $3, $4, $8 }' >> "$results"
            done
        done
    done
    echo "# round $((round + 1)) done $(date -u +%H:%M) UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)"
done

# Best over the rounds, and the median of the rounds' medians; ratio = base time / new time.
awk '
{ key = $2 " " $3; if (!(key in seen)) { seen[key] = 1; keys[++n] = key }
  if (!((key, $1) in best) || $4 < best[key, $1]) best[key, $1] = $4
  if (!((key, $1) in cpu) || $6 < cpu[key, $1]) cpu[key, $1] = $6
  medians[key, $1] = medians[key, $1] " " $5 }
function median(list,   a, k, i, j, t) { k = split(list, a, " "); for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
  return a[int((k + 1) / 2)] }
END {
  printf "| suite | threads | base best ms | new best ms | speed ratio (best) | base median ms | new median ms | speed ratio (median) | base cpu ms | new cpu ms | cpu ratio |\n"
  printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
  for (i = 1; i <= n; i++) { split(keys[i], k, " "); bm = median(medians[keys[i], "base"]); nm = median(medians[keys[i], "new"])
    printf "| %s | %s | %.2f | %.2f | %.3f | %.2f | %.2f | %.3f | %.2f | %.2f | %.3f |\n", k[1], k[2], best[keys[i], "base"], best[keys[i], "new"], best[keys[i], "base"] / best[keys[i], "new"], bm, nm, bm / nm, cpu[keys[i], "base"], cpu[keys[i], "new"], cpu[keys[i], "base"] / cpu[keys[i], "new"] }
}' "$results"
echo "# end $(date -u +%H:%M) UTC, load: $(cut -d' ' -f1-3 /proc/loadavg)"
