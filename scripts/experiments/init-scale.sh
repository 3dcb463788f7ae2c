#!/usr/bin/env bash
# The initial scale of W_hh and the gradient through time: tanh RNNs with W_hh ~ N(0, s^2/H),
# s in {0.5, 1, 1.5, 3}, against gradient clipping, orthogonal W_hh and the LSTM, on the built-in
# oscillator. Builds once, trains every configuration with `unroll train` (1000 steps, H = 64,
# seed 1; a checkpoint every 10 steps so that a diverging run keeps its settings), measures
# spectra and gradient flow at initialisation and after training, and writes
# docs/results/init-scale/{table.md,*.svg}. About five minutes on two idle cores.
#
# Usage: scripts/experiments/init-scale.sh [RUNS_DIR]   (run directories, default runs/init-scale)
set -euo pipefail
cd "$(dirname "$0")/../.."

runs="${1:-runs/init-scale}"
out="docs/results/init-scale"
steps="${STEPS:-1000}"

dotnet build -c Release src/Unroll.Cli -v quiet -nologo >/dev/null
dotnet build -c Release scripts/experiments/InitScale -v quiet -nologo >/dev/null
unroll="src/Unroll.Cli/bin/Release/net10.0/Unroll.Cli"
measure="scripts/experiments/InitScale/bin/Release/net10.0/InitScale"

# name | --init-hh | other options (besides the defaults: tanh RNN, H = 64, Adam lr 0.01, cosine,
# clip-norm 1) | plots it appears in (scale: the initialisations; clip: the clipping comparison)
configs=(
  "s=0.5|normal-scaled:0.5||scale"
  "s=1|normal-scaled:1||scale"
  "s=1.5|normal-scaled:1.5||scale,clip"
  "s=3|normal-scaled:3||scale,clip"
  "s=1.5, no clip|normal-scaled:1.5|--clip-norm 0|clip"
  "s=3, no clip|normal-scaled:3|--clip-norm 0|clip"
  "s=3, SGD, clip 1|normal-scaled:3|--optimizer sgd --lr 0.05 --momentum 0.9|clip"
  "s=3, SGD, no clip|normal-scaled:3|--optimizer sgd --lr 0.05 --momentum 0.9 --clip-norm 0|clip"
  "orthogonal|orthogonal||scale"
  "LSTM|default|--model lstm|scale"
  "LSTM, s=3|normal-scaled:3|--model lstm|scale"
)

specs=()
mkdir -p "$runs"
for config in "${configs[@]}"; do
  IFS='|' read -r name init extra groups <<<"$config"
  dir="$runs/$(echo "$name" | tr -c 'A-Za-z0-9.\n' '-' | tr -s '-')"
  echo "== $name: unroll train --init-hh $init $extra --steps $steps -o $dir"
  # shellcheck disable=SC2086 # extra holds several options on purpose
  "$unroll" train --init-hh "$init" $extra --steps "$steps" --seed 1 --checkpoint-every 10 --overwrite -o "$dir" >"$dir.log" 2>&1 \
    || echo "   (exit $?: $(tail -n 1 "$dir.log"))"
  # The same model through unroll diagnose: its fitted Jacobian rate is an independent check of ours.
  if [ -f "$dir/model.safetensors" ]; then
    "$unroll" diagnose "$dir/model.safetensors" --json -o "$dir" >"$dir/diagnose.json"
  fi
  specs+=("$name|$dir|$init|$groups")
done

mkdir -p "$out"
"$measure" "$out" "${specs[@]}"
echo "Wrote $out/table.md and $out/*.svg; run directories (with report.html) in $runs/"
