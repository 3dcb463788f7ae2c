#!/usr/bin/env bash
# Side-by-side training throughput and SGEMM speed: PyTorch 1.13 and numpy on OpenBLAS, then Unroll,
# each at 1 and 2 threads, on the same configurations; prints Markdown tables with the ratios.
#
# usage: bench/compare-pytorch.sh [--seconds S] [--reference FILE] [--unroll FILE] [SUITE...]
#   SUITE: gemm lstm-512 lstm-256 gru-512 rnn-128 (default: all); S: time budget per measurement (default 3)
#   --reference FILE: read the PyTorch/numpy lines (bench/reference/torch_bench.py's output for 1 and 2
#   threads) from FILE instead of running them, e.g. to re-measure Unroll alone against a saved run
#   --unroll FILE: likewise read Unroll's bench output (gemm --threads 1 --threads 2, then each suite with
#   --threads 1 --threads 2) from FILE
#
# PyTorch runs with torch.set_num_threads(n) AND OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=n (leaving OpenBLAS
# at 2 threads under 2 torch threads oversubscribes the cores). Debian's torch and numpy both call
# libblas.so.3; when that is not OpenBLAS, Debian's libopenblas0-pthread is used (unpacked, not installed,
# from `apt-get download` into a cache folder), so the machine's BLAS alternatives stay as they are.
# The ratio columns compare Unroll's best thread count with PyTorch's (or OpenBLAS's at the same count).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python=/usr/bin/python3
seconds=3
reference_file=""
unroll_file=""
suites=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --reference) reference_file="$2"; shift 2 ;;
        --unroll) unroll_file="$2"; shift 2 ;;
        gemm|lstm-512|lstm-256|gru-512|rnn-128) suites+=("$1"); shift ;;
        *) echo "error: unknown argument '$1' (expected --seconds S or a suite: gemm lstm-512 lstm-256 gru-512 rnn-128)" >&2; exit 2 ;;
    esac
done
[[ ${#suites[@]} -gt 0 ]] || suites=(gemm lstm-512 lstm-256 gru-512 rnn-128)

source "$(dirname "${BASH_SOURCE[0]}")/openblas.sh"

reference=""
if [[ -n "$reference_file" ]]; then
    reference="$(cat "$reference_file")"
else
    for threads in 1 2; do
        reference+="$(OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads \
            "$python" "$repo/bench/reference/torch_bench.py" "$threads" "$seconds" "${suites[@]}")"$'\n'
    done
fi

unroll=""
[[ -z "$unroll_file" ]] || unroll="$(cat "$unroll_file")"
[[ -n "$unroll_file" ]] || dotnet build -c Release "$repo/bench/Unroll.Bench" -v quiet -nologo >/dev/null
for suite in "${suites[@]}"; do
    [[ -z "$unroll_file" ]] || break
    if [[ "$suite" == gemm ]]; then
        unroll+="$(dotnet run -c Release --no-build --project "$repo/bench/Unroll.Bench" -- gemm --variant vector --threads 1 --threads 2)"$'\n'
    else
        unroll+="$(dotnet run -c Release --no-build --project "$repo/bench/Unroll.Bench" -- "$suite" --threads 1 --threads 2 --seconds "$seconds")"$'\n'
    fi
done

REFERENCE="$reference" UNROLL="$unroll" BLAS="$blas" "$python" - <<'PY'
import os, subprocess
import torch, numpy

torch_train, torch_cpu, blas_gemm = {}, {}, {}
for line in os.environ["REFERENCE"].splitlines():
    f = line.split()
    if f and f[0] == "train":
        torch_train[(f[1], int(f[2]))] = float(f[5])
        if len(f) > 6:
            torch_cpu[(f[1], int(f[2]))] = float(f[6])
    elif f and f[0] == "gemm":
        blas_gemm[(f[1], int(f[2]), int(f[3]), int(f[4]), int(f[5]))] = float(f[6])

unroll_train, unroll_cpu, unroll_gemm, alloc = {}, {}, {}, {}
for line in os.environ["UNROLL"].splitlines():
    f = line.split()
    if not f or line.startswith("#") or f[0] in ("suite", "variant"):
        continue
    if f[0] == "vector":  # variant shape layout m n k threads best_ms GFLOP/s
        unroll_gemm[(f[2], int(f[3]), int(f[4]), int(f[5]), int(f[6]))] = (f[1], float(f[8]))
    else:  # suite threads best_ms median_ms chars/s median/s alloc/step
        unroll_train[(f[0], int(f[1]))] = float(f[4])
        unroll_cpu[(f[0], int(f[1]))] = float(f[7])
        alloc[f[0]] = f[6]

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
load = open("/proc/loadavg").read().split()[:3]
print(f"CPU: {cpu}, {os.cpu_count()} logical CPUs; load average at the end: {' '.join(load)}")
print(f"PyTorch {torch.__version__}, numpy {numpy.__version__}, BLAS: {os.environ['BLAS']}")
print()
if unroll_train:
    print("Training throughput, characters (T*B rows) per second, best step time:")
    print()
    print("| suite | PyTorch 1 thr | PyTorch 2 thr | Unroll 1 thr | Unroll 2 thr | Unroll best / PyTorch best | Unroll alloc bytes/step |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for suite in ("lstm-512", "lstm-256", "gru-512", "rnn-128"):
        if (suite, 1) not in unroll_train:
            continue
        p = [torch_train.get((suite, t), float("nan")) for t in (1, 2)]
        u = [unroll_train.get((suite, t), float("nan")) for t in (1, 2)]
        print(f"| {suite} | {p[0]:,.0f} | {p[1]:,.0f} | {u[0]:,.0f} | {u[1]:,.0f} | {max(u) / max(p):.2f} | {alloc[suite]} |")
    print()
    print("One thread, by CPU time (T*B / the least process CPU time of one step: steadier than wall time when")
    print("the machine is shared, since time spent descheduled is not counted):")
    print()
    print("| suite | PyTorch 1 thr, CPU chars/s | Unroll 1 thr, CPU chars/s | Unroll / PyTorch |")
    print("|---|---:|---:|---:|")
    for suite in ("lstm-512", "lstm-256", "gru-512", "rnn-128"):
        if (suite, 1) not in unroll_cpu or (suite, 1) not in torch_cpu:
            continue
        rows = {"lstm-512": 64 * 32, "lstm-256": 100 * 64, "gru-512": 64 * 32, "rnn-128": 200 * 32}[suite]
        p, u = rows / torch_cpu[(suite, 1)] * 1e3, rows / unroll_cpu[(suite, 1)] * 1e3
        print(f"| {suite} | {p:,.0f} | {u:,.0f} | {u / p:.2f} |")
    print()
ceiling = blas_gemm.get(("NN", 1024, 1024, 1024, 2))
if unroll_train and ceiling:
    # FLOPs of the products one training step cannot avoid, per character (T*B row): per time step the
    # recurrent product forward, its input gradient dh = dGates W_hh and its weight gradient dW_hh, each
    # 2*G*H*H, and the same three for the head, 2*H*V each. Token inputs are a gather (no product); the
    # rnn-128 suite's single dense input adds 3 * 2*G*H*1. Element-wise work is not counted.
    flops = {
        "lstm-512": 6 * 4 * 512 * 512 + 6 * 512 * 65,
        "lstm-256": 6 * 4 * 256 * 256 + 6 * 256 * 65,
        "gru-512": 6 * 3 * 512 * 512 + 6 * 512 * 65,
        "rnn-128": 6 * 128 * 128 + 6 * 128 * 1 + 6 * 128 * 1,
    }
    print(f"Share of the two-core FMA ceiling, taken as OpenBLAS's SGEMM at 2 threads on 1024^3 in this run ({ceiling:.1f} GFLOP/s);")
    print("useful GFLOP/s = (FLOP per character of the unavoidable products) * characters/s at Unroll's best thread count:")
    print()
    print("| suite | MFLOP per character | Unroll chars/s | useful GFLOP/s | share of ceiling | PyTorch share |")
    print("|---|---:|---:|---:|---:|---:|")
    for suite in ("lstm-512", "lstm-256", "gru-512", "rnn-128"):
        if (suite, 1) not in unroll_train:
            continue
        u = max(unroll_train.get((suite, t), 0.0) for t in (1, 2))
        p = max(torch_train.get((suite, t), 0.0) for t in (1, 2))
        g = flops[suite] * u / 1e9
        print(f"| {suite} | {flops[suite] / 1e6:.3f} | {u:,.0f} | {g:.1f} | {g / ceiling:.0%} | {flops[suite] * p / 1e9 / ceiling:.0%} |")
    print()
if unroll_gemm:
    print("SGEMM GFLOP/s (shape m x n x k: C is m x n, k the inner dimension; layout = transA,transB):")
    print()
    print("| shape | layout | m | n | k | threads | Unroll | OpenBLAS | Unroll / OpenBLAS |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for key, (name, g) in unroll_gemm.items():
        b = blas_gemm.get(key, float("nan"))
        layout, m, n, k, t = key
        print(f"| {name} | {layout} | {m} | {n} | {k} | {t} | {g:.1f} | {b:.1f} | {g / b:.2f} |")
PY
