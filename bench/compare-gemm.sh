#!/usr/bin/env bash
# Runs the Unroll GEMM benchmark and numpy on OpenBLAS (one thread) on the same shapes and prints a
# Markdown table with the ratio Unroll / OpenBLAS.
#
# usage: bench/compare-gemm.sh [--variant reference|vector]...   (default: every variant)
#
# numpy (Debian's, run with /usr/bin/python3) calls whatever libblas.so.3 the loader finds. When that is
# not OpenBLAS, this script uses Debian's libopenblas0-pthread: from its installed folder if present,
# otherwise unpacked (not installed) from `apt-get download` into a cache folder, so the machine's BLAS
# alternatives are left as they are.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python=/usr/bin/python3
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

source "$(dirname "${BASH_SOURCE[0]}")/openblas.sh"

dotnet build -c Release "$repo/bench/Unroll.Bench" -v quiet -nologo >/dev/null
unroll_output="$(dotnet run -c Release --no-build --project "$repo/bench/Unroll.Bench" -- gemm --threads 1 "$@")"

UNROLL_OUTPUT="$unroll_output" BLAS_LIBRARY="$blas" "$python" - <<'PY'
import os, time
import numpy as np

def best_seconds(run):
    """Best wall time after one warm-up call, over at least 5 runs and at least 1 second (as the .NET side)."""
    run()
    best, start, runs = float("inf"), time.perf_counter(), 0
    while runs < 5 or time.perf_counter() - start < 1.0:
        t = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t)
        runs += 1
    return best

rows = []
for line in os.environ["UNROLL_OUTPUT"].splitlines():
    fields = line.split()
    if not fields or line.startswith("#") or fields[0] == "variant":
        continue
    variant, shape, layout, m, n, k, _, _, gflops = fields
    rows.append((variant, shape, layout, int(m), int(n), int(k), float(gflops)))

rng = np.random.default_rng(1)
openblas = {}
for _, shape, layout, m, n, k, _ in rows:
    key = (layout, m, n, k)
    if key in openblas:
        continue
    # Stored operands as on the .NET side; .T is a view, so numpy hands BLAS a transpose flag, not a copy.
    a = rng.uniform(-1, 1, (m, k) if layout[0] == "N" else (k, m)).astype(np.float32)
    b = rng.uniform(-1, 1, (k, n) if layout[1] == "N" else (n, k)).astype(np.float32)
    op_a = a if layout[0] == "N" else a.T
    op_b = b if layout[1] == "N" else b.T
    c = np.empty((m, n), np.float32)
    seconds = best_seconds(lambda: np.dot(op_a, op_b, out=c))
    openblas[key] = 2.0 * m * n * k / seconds / 1e9

print(f"numpy {np.__version__}, BLAS library: {os.environ['BLAS_LIBRARY']}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
print("Shape m x n x k: C is m x n, op(A) is m x k, op(B) is k x n; layout = transA,transB; float; one thread.")
print()
print("| variant | shape | layout | m | n | k | Unroll GFLOP/s | OpenBLAS GFLOP/s | Unroll / OpenBLAS |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|")
for variant, shape, layout, m, n, k, gflops in rows:
    reference = openblas[(layout, m, n, k)]
    print(f"| {variant} | {shape} | {layout} | {m} | {n} | {k} | {gflops:.1f} | {reference:.1f} | {gflops / reference:.2f} |")
PY
