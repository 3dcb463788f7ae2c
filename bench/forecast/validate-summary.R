# Scores recipes of one frequency group over the origins bench/forecast/validate.sh (ORIGINS=K) validated them at,
# beside R's snaive and ets at the same origins: per origin, the median over the seeds of every recipe given (several
# recipes are pooled into one median), scored by MASE as validate.R does; per series, the mean over the origins that
# series is in. Reads only the training files' forecasts and values: the test part is not looked at.
# Usage: Rscript validate-summary.R OUT_DIR M H TAG [TAG...]   (TAG: a recipe tag, the folder validate.sh wrote)
suppressPackageStartupMessages(library(forecast))
args <- commandArgs(trailingOnly = TRUE)
out <- args[1]; m <- as.integer(args[2]); h <- as.integer(args[3]); tags <- args[-(1:3)]
origins <- sort(list.files(file.path(out, "validate"), pattern = "^o[0-9]+$"))
rows <- data.frame()
for (o in origins) {
  dirs <- file.path(out, "validate", o, tags)
  if (!all(file.exists(file.path(dirs, "all.csv")))) next
  f <- aggregate(forecast ~ series + step, do.call(rbind, lapply(file.path(dirs, "all.csv"), read.csv)), median)
  train <- read.csv(file.path(dirs[1], "train.csv"))
  for (id in unique(train$series)) {
    y <- train[train$series == id, "value"]; n <- length(y)
    fitted <- ts(y[1:(n - h)], frequency = m); actual <- y[(n - h + 1):n]
    naive <- snaive(fitted, h = h)
    mase <- function(values) {
      fc <- naive; fc$mean <- ts(as.numeric(values), start = tsp(naive$mean)[1], frequency = m)
      accuracy(fc, actual, d = 0, D = 1)["Test set", "MASE"]
    }
    unroll <- f[f$series == id, ]
    rows <- rbind(rows, data.frame(origin = o, series = id, snaive = mase(naive$mean),
      ets = mase(suppressWarnings(forecast(ets(fitted), h = h))$mean), unroll = mase(unroll[order(unroll$step), "forecast"])))
  }
}
means <- aggregate(cbind(snaive, ets, unroll) ~ series, rows, mean)
origins_in <- aggregate(origin ~ series, rows, length)
cat(sprintf("recipes: %s\n", paste(tags, collapse = " + ")))
cat(sprintf("%-14s %7s %7s %7s %7s\n", "series", "origins", "snaive", "ets", "unroll"))
for (i in seq_len(nrow(means))) {
  cat(sprintf("%-14s %7d %7.3f %7.3f %7.3f\n", means$series[i], origins_in$origin[origins_in$series == means$series[i]],
    means$snaive[i], means$ets[i], means$unroll[i]))
}
cat(sprintf("mean over series: unroll %.3f (snaive %.3f, ets %.3f); below snaive on %d of %d series, below ets on %d\n",
  mean(means$unroll), mean(means$snaive), mean(means$ets), sum(means$unroll < means$snaive), nrow(means),
  sum(means$unroll < means$ets)))
