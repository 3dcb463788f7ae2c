#!/usr/bin/env bash
# Training throughput side by side in one run: LibTorch 2.10 (TorchSharp-cpu 0.107, oneDNN LSTM/GRU), Unroll and
# PyTorch 1.13 (Debian), each at 1 and 2 threads, on the four suites of Unroll.Bench (same shapes, same step:
# forward, loss, backward, clip-norm 5, Adam). The contestants are interleaved suite by suite and round by round;
# prints the best step of each as characters/s and the ratios of Unroll to the others' best thread count.
#
# usage: bench/compare-libtorch.sh [--seconds S] [--rounds R] [--no-pytorch] [SUITE...]
#   SUITE: lstm-512 lstm-256 gru-512 rnn-128 (default: all); S: time budget per measurement (default 3);
#   R: interleaved rounds (default 2; each figure is the best over the rounds, the median column the median of the
#   rounds' medians)
#
# TorchSharp's native library needs GLIBCXX_3.4.32, which Debian 12 lacks. The script unpacks Debian 13's libc6,
# libstdc++6 and libgcc-s1 (an apt source list kept in the cache, `apt-get download`, `dpkg -x`; the mirror is the
# one this machine's apt already uses) and runs a copy of the dotnet host whose ELF interpreter is that loader
# (`patchelf --set-interpreter`). Everything lives in ${XDG_CACHE_HOME:-~/.cache}/unroll-libtorch; the machine's
# own libraries stay as they are. The LibTorch bench (bench/libtorch) is built there, outside the repository.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python=/usr/bin/python3
seconds=3
rounds=2
pytorch=1
suites=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --no-pytorch) pytorch=0; shift ;;
        lstm-512|lstm-256|gru-512|rnn-128) suites+=("$1"); shift ;;
        *) echo "error: unknown argument '$1' (expected --seconds S, --rounds R, --no-pytorch or a suite: lstm-512 lstm-256 gru-512 rnn-128)" >&2; exit 2 ;;
    esac
done
[[ ${#suites[@]} -gt 0 ]] || suites=(lstm-512 lstm-256 gru-512 rnn-128)

lt_cache="${XDG_CACHE_HOME:-$HOME/.cache}/unroll-libtorch"
libs="$lt_cache/trixie/root/usr/lib/x86_64-linux-gnu"
host="$lt_cache/dotnet"

# Debian 13's C and C++ runtime, unpacked (not installed).
if [[ ! -e "$libs/libc.so.6" || ! -e "$libs/libstdc++.so.6" ]]; then
    mirror="$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
    [[ -n "$mirror" ]] || mirror="$(sed -n 's/^deb \(\[[^]]*\] \)\?\([^ ]*\/debian\) .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n1)"
    [[ -n "$mirror" ]] || { echo "error: found no Debian mirror in /etc/apt to take Debian 13's libraries from" >&2; exit 1; }
    mkdir -p "$lt_cache/trixie/lists/partial" "$lt_cache/trixie/download"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" > "$lt_cache/trixie/sources.list"
    apt_options=(-o APT::Sandbox::User=root -o "Dir::Etc::SourceList=$lt_cache/trixie/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$lt_cache/trixie/lists" -o "Dir::Cache=$lt_cache/trixie/apt-cache")
    mkdir -p "$lt_cache/trixie/apt-cache/archives/partial"
    apt-get "${apt_options[@]}" update -qq
    (cd "$lt_cache/trixie/download" && apt-get "${apt_options[@]}" download libc6 libstdc++6 libgcc-s1 >/dev/null \
        && for deb in *.deb; do dpkg -x "$deb" "$lt_cache/trixie/root"; done)
fi

# A copy of the dotnet host that starts under Debian 13's loader.
if [[ ! -x "$host/dotnet" ]]; then
    command -v patchelf >/dev/null || apt-get install -y -qq patchelf >/dev/null
    dotnet_root="$(dirname "$(readlink -f "$(command -v dotnet)")")"
    mkdir -p "$host"
    cp -r "$dotnet_root/dotnet" "$dotnet_root/host" "$dotnet_root/shared" "$host/"
    patchelf --set-interpreter "$libs/ld-linux-x86-64.so.2" "$host/dotnet"
fi

# The LibTorch bench, built in the cache (TorchSharp never enters the repository's build).
mkdir -p "$lt_cache/bench"
if ! cmp -s "$repo/bench/libtorch/Program.cs" "$lt_cache/bench/Program.cs" || ! cmp -s "$repo/bench/libtorch/LibTorchBench.csproj" "$lt_cache/bench/LibTorchBench.csproj"; then
    cp "$repo/bench/libtorch/Program.cs" "$repo/bench/libtorch/LibTorchBench.csproj" "$lt_cache/bench/"
    rm -rf "$lt_cache/bench/bin" "$lt_cache/bench/obj"
fi
[[ -f "$lt_cache/bench/bin/Release/net10.0/LibTorchBench.dll" ]] || dotnet build -c Release "$lt_cache/bench" -v quiet -nologo >/dev/null
libtorch() {
    env LD_LIBRARY_PATH="$libs" DOTNET_ROOT="$host" OMP_NUM_THREADS="$1" MKL_NUM_THREADS="$1" \
        "$host/dotnet" "$lt_cache/bench/bin/Release/net10.0/LibTorchBench.dll" "$@"
}

dotnet build -c Release "$repo/bench/Unroll.Bench" -v quiet -nologo >/dev/null
unroll() {
    local threads="$1" seconds="$2" suite="$3"
    "$repo/bench/Unroll.Bench/bin/Release/net10.0/Unroll.Bench" "$suite" --threads "$threads" --seconds "$seconds" \
        | awk -v s="$suite" '$1 == s { print "train", $1, $2, $3, $4, $5, $9 }'
}

if [[ "$pytorch" == 1 ]]; then
    source "$repo/bench/openblas.sh"
fi
pytorch_run() {
    OPENBLAS_NUM_THREADS="$1" OMP_NUM_THREADS="$1" MKL_NUM_THREADS="$1" "$python" "$repo/bench/reference/torch_bench.py" "$@"
}

echo "# $(lscpu | sed -n 's/^Model name: *//p'), family $(lscpu | sed -n 's/^CPU family: *//p'), $(nproc) CPUs; UNROLL_GEMM=${UNROLL_GEMM:-(default)}"
echo "# uptime before: $(uptime)"
lines=""
for ((round = 0; round < rounds; round++)); do
    for suite in "${suites[@]}"; do
        for threads in 1 2; do
            lines+="$(libtorch "$threads" "$seconds" "$suite" | grep '^train' | sed 's/^/libtorch /')"$'\n'
            lines+="$(unroll "$threads" "$seconds" "$suite" | sed 's/^/unroll /')"$'\n'
            if [[ "$pytorch" == 1 ]]; then
                lines+="$(pytorch_run "$threads" "$seconds" "$suite" | grep '^train' | sed 's/^/pytorch /')"$'\n'
            fi
        done
    done
done
echo "# uptime after: $(uptime)"
libtorch 1 0 rnn-128 | grep '^#' || true

LINES="$lines" "$python" - <<'PY'
import os, statistics
data = {}
for line in os.environ["LINES"].splitlines():
    f = line.split()
    if len(f) < 7:
        continue
    who, suite, threads, best, median = f[0], f[2], int(f[3]), float(f[4]), float(f[5])
    d = data.setdefault((suite, who, threads), {"best": [], "median": []})
    d["best"].append(best)
    d["median"].append(median)

rows = {"lstm-512": 64 * 32, "lstm-256": 100 * 64, "gru-512": 64 * 32, "rnn-128": 200 * 32}
names = {"lstm-512": "LSTM H512 T64 B32", "lstm-256": "LSTM H256 T100 B64", "gru-512": "GRU H512 T64 B32", "rnn-128": "tanh RNN H128 T200 B32"}
who_all = [w for w in ("libtorch", "unroll", "pytorch") if any(k[1] == w for k in data)]
def rate(suite, who, threads, kind="best"):
    d = data.get((suite, who, threads))
    if not d:
        return None
    ms = min(d["best"]) if kind == "best" else statistics.median(d["median"])
    return rows[suite] / (ms / 1e3)
def fmt(v):
    return "-" if v is None else f"{v:,.0f}"
print("Characters per second, best step over the rounds (median step in parentheses):")
print()
header = "| suite | " + " | ".join(f"{w} {t} thr" for w in who_all for t in (1, 2)) + " | Unroll / LibTorch best | Unroll 1 thr / LibTorch 1 thr |" + (" Unroll / PyTorch best |" if "pytorch" in who_all else "")
print(header)
print("|---|" + "---:|" * (2 * len(who_all) + 2 + (1 if "pytorch" in who_all else 0)))
for suite in rows:
    if not any(k[0] == suite for k in data):
        continue
    cells = [f"{fmt(rate(suite, w, t))} ({fmt(rate(suite, w, t, 'median'))})" for w in who_all for t in (1, 2)]
    best = {w: max([r for r in (rate(suite, w, 1), rate(suite, w, 2)) if r is not None], default=None) for w in who_all}
    ratio = lambda a, b: "-" if a is None or b is None else f"{a / b:.2f}"
    line = f"| {names[suite]} | " + " | ".join(cells) + f" | {ratio(best.get('unroll'), best.get('libtorch'))} | {ratio(rate(suite, 'unroll', 1), rate(suite, 'libtorch', 1))} |"
    if "pytorch" in who_all:
        line += f" {ratio(best.get('unroll'), best.get('pytorch'))} |"
    print(line)
PY
