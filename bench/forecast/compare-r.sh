#!/usr/bin/env bash
# Unroll beside R's forecast package (auto.arima, ets, snaive) on R's real series: the last H values of every series
# are held out, R's methods and Unroll see only the rest, and one MASE table is printed (forecast::accuracy scores all).
# Needs R with the forecast package (apt-get install r-cran-forecast). Usage, from the repository root:
#   bench/forecast/compare-r.sh [OUT_DIR]        (default artifacts/forecast-compare; SEEDS=5 models per group)
# Unroll's recipe (one model per frequency group, trained on every series of the group; the median of SEEDS seeds)
# was chosen on the validation part of the training files only: the last H values before the held-out ones.
set -euo pipefail
out="${1:-artifacts/forecast-compare}"
seeds="${SEEDS:-5}"
mkdir -p "$out"
dotnet build -c Release src/Unroll.Cli > /dev/null
unroll="src/Unroll.Cli/bin/Release/net10.0/Unroll.Cli"
Rscript bench/forecast/export.R "$out"

# group horizon context steps hidden
recipes=(
  "monthly 12 36 1500 32"
  "quarterly 8 16 1500 32"
  "halfhourly 48 336 600 32"
)
echo "series,method,step,forecast" > "$out/unroll-seeds.csv"
for recipe in "${recipes[@]}"; do
  read -r group horizon context steps hidden <<< "$recipe"
  for seed in $(seq 1 "$seeds"); do
    run="$out/runs/$group-$seed"
    "$unroll" train forecast "$out/$group-train.csv" --horizon "$horizon" --context "$context" \
      --scaling window --relative-to seasonal-naive --distribution "${DISTRIBUTION:-point}" \
      --model lstm --hidden "$hidden" --steps "$steps" --batch-size 32 --lr 0.003 --validate-every 50 \
      --seed "$seed" --diagnose-every 0 -o "$run" --overwrite > "$run.log"
    "$unroll" forecast "$run" --input "$out/$group-train.csv" --output "$out/$group-$seed.csv" 2> /dev/null
    tail -n +2 "$out/$group-$seed.csv" | cut -d, -f1-3 | sed "s/^\([^,]*\),/\1,unroll-$seed,/" >> "$out/unroll-seeds.csv"
  done
done
# The ensemble: the median over the seeds of every series and step.
Rscript -e 'a <- read.csv(commandArgs(TRUE)[1]); m <- aggregate(forecast ~ series + step, a, median); m$method <- "unroll"; write.csv(m[, c("series", "method", "step", "forecast")], commandArgs(TRUE)[2], row.names = FALSE, quote = FALSE)' \
  "$out/unroll-seeds.csv" "$out/unroll-forecasts.csv"
Rscript bench/forecast/score.R "$out" | tee "$out/mase.md"
