#!/usr/bin/env bash
# The suite's stability, counted: the worker-pool stress tests N times in a row and the whole test suite M times in a
# row, in a fresh clone of this repository's HEAD (so nothing built or left over here is reused). Prints how many runs
# passed and keeps the output of every failed run.
#
# usage: bench/repeat-tests.sh [--stress N] [--suite M]     (defaults: 100 and 10)
#
# The runs are not timed: run them on a busy machine too, where a race is likelier to show.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
stress=100
suite=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    --stress) stress="$2"; shift 2 ;;
    --suite) suite="$2"; shift 2 ;;
    *) echo "repeat-tests.sh: unknown option '$1' (expected --stress N or --suite M)" >&2; exit 2 ;;
  esac
done

work="$(mktemp -d)"
git clone -q "$repo" "$work/unroll"
cd "$work/unroll"
echo "# $(git log -1 --format='commit %h %s' | cut -c1-100)"
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
dotnet build -c Release > "$work/build.log" 2>&1 || { echo "build failed: $work/build.log" >&2; exit 1; }

passed=0
for i in $(seq 1 "$stress"); do
  if dotnet test -c Release --no-build tests/Unroll.Tests --filter "FullyQualifiedName~WorkerPoolTests" > "$work/stress.log" 2>&1; then
    passed=$((passed + 1))
  else
    cp "$work/stress.log" "$work/stress-failed-$i.log"
    echo "stress run $i failed: $work/stress-failed-$i.log"
  fi
done
echo "worker-pool stress tests: $passed of $stress runs passed ($(date -u +%H:%M) UTC)"

passed=0
for i in $(seq 1 "$suite"); do
  if dotnet test -c Release --no-build > "$work/suite.log" 2>&1; then
    passed=$((passed + 1))
  else
    cp "$work/suite.log" "$work/suite-failed-$i.log"
    echo "suite run $i failed: $work/suite-failed-$i.log"
  fi
  grep -E "^(Passed|Failed)!" "$work/suite.log" | sed "s/^/  run $i: /" || true
done
echo "whole suite: $passed of $suite runs passed ($(date -u +%H:%M) UTC)"
