#!/usr/bin/env bash
# Chooses Unroll's recipe for one frequency group on the training file alone: trains on it (its own last H values are
# the validation part the best model is kept on), forecasts those H values from the steps before them, and prints the
# validation MASE of the median over seeds (and context lengths). The test values R holds out are never read.
# Usage: bench/forecast/validate.sh OUT_DIR GROUP H M "CONTEXTS" STEPS RELATIVE HEAD [extra train options...]
#   e.g. bench/forecast/validate.sh /tmp/fc monthly 12 12 "36 48" 1500 exponential-smoothing quantiles:0.5
set -euo pipefail
out="$1"; group="$2"; horizon="$3"; m="$4"; contexts="$5"; steps="$6"; relative="$7"; head="$8"; shift 8
seeds="${SEEDS:-3}"
unroll="${UNROLL:-src/Unroll.Cli/bin/Release/net10.0/Unroll.Cli}"
distribution="${head%%:*}"; levels="${head#*:}"; [ "$levels" = "$head" ] && levels="0.1,0.5,0.9"
tag="$group-$(echo "$contexts" | tr ' ' '_')-$steps-$relative-$distribution$(echo "$*" | tr -d ' -')"
dir="$out/validate/$tag"; mkdir -p "$dir"
# The training file without its last H values per series: forecasting from its end forecasts the validation part.
awk -F, -v h="$horizon" 'NR == 1 { print; next } { rows[$1] = rows[$1] "\n" $0; count[$1]++ ; order[++k] = $1 }
  END { for (i = 1; i <= k; i++) if (!seen[order[i]]++) { n = split(substr(rows[order[i]], 2), r, "\n"); for (j = 1; j <= n - h; j++) print r[j] } }' \
  "$out/$group-train.csv" > "$dir/cut.csv"
echo "series,step,forecast" > "$dir/all.csv"
for context in $contexts; do
  for seed in $(seq 1 "$seeds"); do
    run="$dir/run-$context-$seed"
    "$unroll" train forecast "$out/$group-train.csv" --horizon "$horizon" --context "$context" \
      --scaling window --relative-to "$relative" --distribution "$distribution" --quantiles "$levels" \
      --model lstm --hidden 32 --steps "$steps" --batch-size 32 --lr 0.003 --validate-every 50 \
      --seed "$seed" --diagnose-every 0 -o "$run" --overwrite "$@" > "$run.log"
    "$unroll" forecast "$run" --input "$dir/cut.csv" --output "$dir/f-$context-$seed.csv" 2> /dev/null
    tail -n +2 "$dir/f-$context-$seed.csv" | cut -d, -f1-3 >> "$dir/all.csv"
    printf "%s context %s seed %s: " "$tag" "$context" "$seed"; Rscript bench/forecast/validate.R "$out/$group-train.csv" "$dir/f-$context-$seed.csv" "$m" "$horizon" | cut -d' ' -f1
  done
done
Rscript -e 'a <- read.csv(commandArgs(TRUE)[1]); m <- aggregate(forecast ~ series + step, a, median); m <- m[order(m$series, m$step), ]; write.csv(m, commandArgs(TRUE)[2], row.names = FALSE, quote = FALSE)' "$dir/all.csv" "$dir/median.csv"
printf "%s median: " "$tag"; Rscript bench/forecast/validate.R "$out/$group-train.csv" "$dir/median.csv" "$m" "$horizon"
