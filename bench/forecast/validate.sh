#!/usr/bin/env bash
# Chooses Unroll's recipe for one frequency group on the training file alone: forecasts its last H values (the
# validation part) from models trained on the steps before them (whose own last H values choose the best model, as
# compare-r.sh's runs do before the test part), and prints the validation MASE of the median over seeds (and context
# lengths). The test values R holds out are never read, and no model is chosen by the values it is scored on.
# With ORIGINS=K (default 1) it does so at K origins: origin k ends (k - 1) * H values before the end of the training
# file, and a series too short for an origin (fewer than the longest context plus 3 H values left) is left out of it.
# bench/forecast/validate-summary.R scores one recipe or several pooled over every origin beside R's methods.
# Usage: bench/forecast/validate.sh OUT_DIR GROUP H M "CONTEXTS" STEPS RELATIVE HEAD [extra train options...]
#   e.g. ORIGINS=3 bench/forecast/validate.sh /tmp/fc monthly 12 12 36 3000 seasonal-mean quantiles:0.5
#   writes OUT_DIR/validate/<origin>/<recipe tag>/all.csv (every seed's forecasts) and median.csv
set -euo pipefail
out="$1"; group="$2"; horizon="$3"; m="$4"; contexts="$5"; steps="$6"; relative="$7"; head="$8"; shift 8
seeds="${SEEDS:-3}"
origins="${ORIGINS:-1}"
unroll="${UNROLL:-src/Unroll.Cli/bin/Release/net10.0/Unroll.Cli}"
distribution="${head%%:*}"; levels="${head#*:}"; [ "$levels" = "$head" ] && levels="0.1,0.5,0.9"
tag="$group-$(echo "$contexts" | tr ' ' '_')-$steps-$relative-$distribution$(echo "$*" | tr -d ' -')"
# H = 32 unless the extra options give their own --hidden (the CLI takes an option once).
hidden=(--hidden 32); [[ " $* " == *" --hidden "* ]] && hidden=()
longest=0; for context in $contexts; do [ "$context" -gt "$longest" ] && longest="$context"; done
# Every series of a long-format file without its last C values, and without the series then shorter than MIN.
cut_series() {
  awk -F, -v c="$2" -v min="$3" 'NR == 1 { print; next } { rows[$1] = rows[$1] "\n" $0; order[++k] = $1 }
    END { for (i = 1; i <= k; i++) if (!seen[order[i]]++) { n = split(substr(rows[order[i]], 2), r, "\n"); if (n - c < min) continue
      for (j = 1; j <= n - c; j++) print r[j] } }' "$1"
}
for origin in $(seq 1 "$origins"); do
  dir="$out/validate/o$origin/$tag"; mkdir -p "$dir"
  # The origin's training file, and the same without its last H values: the models train on the latter and forecast
  # from its end, the origin's validation part. (Training on the whole origin file would keep each model's best step
  # by its loss on the very values it is then scored on, which flatters every candidate.)
  cut_series "$out/$group-train.csv" $(( (origin - 1) * horizon )) $(( longest + 3 * horizon )) > "$dir/train.csv"
  cut_series "$dir/train.csv" "$horizon" 0 > "$dir/cut.csv"
  echo "series,step,forecast" > "$dir/all.csv"
  for context in $contexts; do
    for seed in $(seq 1 "$seeds"); do
      run="$dir/run-$context-$seed"
      "$unroll" train forecast "$dir/cut.csv" --horizon "$horizon" --context "$context" \
        --scaling window --relative-to "$relative" --distribution "$distribution" --quantiles "$levels" \
        --model lstm "${hidden[@]}" --steps "$steps" --batch-size 32 --lr 0.003 --validate-every 50 \
        --seed "$seed" --diagnose-every 0 -o "$run" --overwrite "$@" > "$run.log"
      "$unroll" forecast "$run" --input "$dir/cut.csv" --output "$dir/f-$context-$seed.csv" 2> /dev/null
      tail -n +2 "$dir/f-$context-$seed.csv" | cut -d, -f1-3 >> "$dir/all.csv"
      printf "%s origin %s context %s seed %s: " "$tag" "$origin" "$context" "$seed"; Rscript bench/forecast/validate.R "$dir/train.csv" "$dir/f-$context-$seed.csv" "$m" "$horizon" | cut -d' ' -f1
    done
  done
  Rscript -e 'a <- read.csv(commandArgs(TRUE)[1]); m <- aggregate(forecast ~ series + step, a, median); m <- m[order(m$series, m$step), ]; write.csv(m, commandArgs(TRUE)[2], row.names = FALSE, quote = FALSE)' "$dir/all.csv" "$dir/median.csv"
  printf "%s origin %s median: " "$tag" "$origin"; Rscript bench/forecast/validate.R "$dir/train.csv" "$dir/median.csv" "$m" "$horizon"
done
