#!/usr/bin/env bash
# The long-range grid: the adding problem and copy memory at T = 100, 500 and 1000 for the tanh RNN, the IRNN,
# the LSTM and the three scan cells (LRU, minGRU, minLSTM), every run with the same training time on one thread,
# one after the other; first the adding problem at T = 1000 for one model with a longer budget, and at the end the
# LRU with two layers at T = 1000 and 100, and for 10 minutes at T = 1000 (one LRU layer is linear in its inputs up
# to its read-out, see docs/results.md).
# Prints the CPU, the load before and after each part, and the tables `unroll experiment` writes.
#
# usage: bench/long-range.sh [--seconds S] [--copy-seconds S] [--long M] [--long-model NAME] [--output DIR]
#   S: training time per grid run in seconds (default 90; copy memory default 60); M: the long run's minutes
#   (default 15; 0 skips it); NAME: its preset (default mingru); DIR: where the runs go (default runs/long-range).
#   UNROLL: the unroll executable (default: builds src/Unroll.Cli and runs its Release build).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=90
copy_seconds=60
long=15
long_model=mingru
output=runs/long-range
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --copy-seconds) copy_seconds="$2"; shift 2 ;;
        --long) long="$2"; shift 2 ;;
        --long-model) long_model="$2"; shift 2 ;;
        --output) output="$2"; shift 2 ;;
        *) echo "error: unknown argument '$1' (expected --seconds S, --copy-seconds S, --long M, --long-model NAME or --output DIR)" >&2; exit 2 ;;
    esac
done

if [[ -z "${UNROLL:-}" ]]; then
    dotnet build -c Release "$repo/src/Unroll.Cli" >/dev/null
    UNROLL="$repo/src/Unroll.Cli/bin/Release/net10.0/Unroll.Cli"
fi

models=tanh,irnn,lstm,lru,mingru,minlstm
echo "CPU: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), family $(lscpu | sed -n 's/^CPU family:[[:space:]]*//p') model $(lscpu | sed -n 's/^Model:[[:space:]]*//p'), $(nproc) cores; $(grep -o -w -E 'avx2|fma|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "commit: $(git -C "$repo" rev-parse --short HEAD)"

part() {
    local name="$1"; shift
    echo
    echo "== $name: $*"
    echo "load before: $(uptime)"
    "$UNROLL" "$@" --threads 1 | grep -v '^Wrote '
    echo "load after: $(uptime)"
}

if [[ "$long" != 0 ]]; then
    part "adding, T = 1000, ${long_model}, ${long} min" experiment adding --lengths 1000 --models "$long_model" --time-limit "${long}m" -o "$output/adding-T1000-$long_model-${long}m"
fi

part "adding grid, ${seconds} s per run" experiment adding --lengths 100,500,1000 --models "$models" --time-limit "${seconds}s" -o "$output/adding"
part "copy grid, ${copy_seconds} s per run" experiment copy --lengths 100,500,1000 --models "$models" --time-limit "${copy_seconds}s" -o "$output/copy"
part "adding, T = 1000, two LRU layers, ${seconds} s" experiment adding --lengths 1000 --models lru --layers 2 --time-limit "${seconds}s" -o "$output/adding-T1000-lru-2layers"
part "adding, T = 100, two LRU layers, ${seconds} s" experiment adding --lengths 100 --models lru --layers 2 --time-limit "${seconds}s" -o "$output/adding-T100-lru-2layers"
if [[ "$long" != 0 ]]; then
    part "adding, T = 1000, two LRU layers, 10 min" experiment adding --lengths 1000 --models lru --layers 2 --time-limit 10m -o "$output/adding-T1000-lru-2layers-10m"
fi
