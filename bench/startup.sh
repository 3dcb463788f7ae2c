#!/usr/bin/env bash
# Start-up of the `unroll` command: `unroll --help` as the Native AOT executable beside the JIT build (the apphost
# that `dotnet run` and the .NET tool run), interleaved run by run so that a change of load hits both alike.
# Prints the best and the median wall time of each and their ratios, with `uptime` before and after.
#
# usage: bench/startup.sh [--runs N] [ARGS...]   (default: 60 runs each of `--help`)
# Needs what the Native AOT build needs (clang, zlib1g-dev; see docs/cli.md).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs=60
if [[ "${1:-}" == "--runs" ]]; then runs="$2"; shift 2; fi
args=("$@")
[[ ${#args[@]} -gt 0 ]] || args=(--help)

case "$(uname -m)" in x86_64) rid=linux-x64 ;; aarch64) rid=linux-arm64 ;; *) echo "error: no Native AOT build for $(uname -m)" >&2; exit 1 ;; esac
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
dotnet build -c Release "$repo/src/Unroll.Cli" --nologo -v quiet >/dev/null
dotnet publish "$repo/src/Unroll.Cli" -c Release -r "$rid" -p:PublishAot=true -o "$out/aot" --nologo -v quiet >/dev/null

lscpu | grep -E '^(Model name|CPU family|Model):' | tr -s ' '
echo "flags: $(lscpu | grep -o -w -E 'avx2|fma|avx512f' | sort -u | tr '\n' ' ')"
echo "before: $(uptime)"
python3 - "$runs" "$out/aot/unroll" "$repo/src/Unroll.Cli/bin/Release/net10.0/Unroll.Cli" "${args[@]}" <<'PY'
import statistics, subprocess, sys, time
runs, aot, jit, args = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
times = {"Native AOT": [], "JIT (apphost)": []}
for contestant, exe in (("Native AOT", aot), ("JIT (apphost)", jit)):   # one warm-up each: the page cache
    subprocess.run([exe, *args], stdout=subprocess.DEVNULL, check=True)
for _ in range(runs):
    for contestant, exe in (("Native AOT", aot), ("JIT (apphost)", jit)):
        start = time.perf_counter()
        subprocess.run([exe, *args], stdout=subprocess.DEVNULL, check=True)
        times[contestant].append((time.perf_counter() - start) * 1000)
print(f"unroll {' '.join(args)}: {runs} interleaved runs each, wall time in ms")
print("| build | best | median |")
print("|---|---:|---:|")
for contestant, t in times.items():
    print(f"| {contestant} | {min(t):.1f} | {statistics.median(t):.1f} |")
a, j = times["Native AOT"], times["JIT (apphost)"]
print(f"JIT / AOT: {min(j) / min(a):.1f}x (best), {statistics.median(j) / statistics.median(a):.1f}x (median)")
PY
echo "after: $(uptime)"
