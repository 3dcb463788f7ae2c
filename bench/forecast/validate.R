# Scores forecasts of the validation part: the last H values of every series of a training file, forecast from the
# steps before them. Used to choose Unroll's recipe without looking at the held-out test values.
# Usage: Rscript validate.R TRAIN_CSV FORECASTS_CSV M H  (forecasts: series,step,forecast from the file cut by H steps)
# Prints the mean MASE (forecast::accuracy, the in-sample seasonal naive of the cut series as the scale: d = 0, D = 1,
# since accuracy given the actuals as a plain vector would scale by the lag-1 naive) and one per series.
suppressPackageStartupMessages(library(forecast))
args <- commandArgs(trailingOnly = TRUE)
train <- read.csv(args[1])
f <- read.csv(args[2])
m <- as.integer(args[3]); h <- as.integer(args[4])
mase <- sapply(unique(train$series), function(id) {
  y <- train[train$series == id, "value"]
  n <- length(y)
  fc <- snaive(ts(y[1:(n - h)], frequency = m), h = h)
  fc$mean <- ts(f[f$series == id, "forecast"][1:h], start = tsp(fc$mean)[1], frequency = m)
  accuracy(fc, y[(n - h + 1):n], d = 0, D = 1)["Test set", "MASE"]
})
cat(sprintf("%.4f %s\n", mean(mase), paste(sprintf("%s=%.3f", names(mase), mase), collapse = " ")))
