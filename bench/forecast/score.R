# Scores every method's forecasts by MASE with forecast::accuracy (the scale: each series' in-sample seasonal naive;
# d = 0, D = 1 say so, since accuracy given the actuals as a plain vector would scale by the lag-1 naive instead)
# and prints one Markdown table. Usage: Rscript score.R OUT_DIR (after export.R and the Unroll runs of compare-r.sh).
suppressPackageStartupMessages(library(forecast))
args <- commandArgs(trailingOnly = TRUE)
out <- args[1]
f <- read.csv(file.path(out, "r-forecasts.csv"))
unroll <- read.csv(file.path(out, "unroll-forecasts.csv"))
f <- rbind(f, unroll[, c("series", "method", "step", "forecast")])
actuals <- read.csv(file.path(out, "actuals.csv"))
freq <- c(monthly = 12, quarterly = 4, halfhourly = 48)
groups <- names(freq)[file.exists(file.path(out, paste0(names(freq), "-train.csv")))] # a set may lack a group
train <- do.call(rbind, lapply(groups, function(g) cbind(read.csv(file.path(out, paste0(g, "-train.csv"))), group = g)))
methods <- c("snaive", "ets", "auto.arima", "unroll")
cat("| series | m | n | H |", paste(methods, collapse = " | "), "| Unroll beats |\n")
cat("|---|---|---|---|", paste(rep("---", length(methods)), collapse = "|"), "|---|\n", sep = "")
beats_snaive <- 0; beats_ets <- 0; count <- 0
for (id in unique(actuals$series)) {
  rows <- train[train$series == id, ]
  m <- freq[[rows$group[1]]]
  y <- ts(rows$value, frequency = m)
  a <- actuals[actuals$series == id, "actual"]
  h <- length(a)
  mase <- sapply(methods, function(method) {
    fc <- snaive(y, h = h)
    fc$mean <- ts(f[f$series == id & f$method == method, "forecast"], start = tsp(fc$mean)[1], frequency = m)
    accuracy(fc, a, d = 0, D = 1)["Test set", "MASE"]
  })
  won <- c(if (mase["unroll"] < mase["snaive"]) "snaive", if (mase["unroll"] < mase["ets"]) "ETS", if (mase["unroll"] < mase["auto.arima"]) "ARIMA")
  beats_snaive <- beats_snaive + (mase["unroll"] < mase["snaive"]); beats_ets <- beats_ets + (mase["unroll"] < mase["ets"]); count <- count + 1
  cat(sprintf("| %s | %d | %d | %d | %s | %s |\n", id, m, length(y), h, paste(sprintf("%.3f", mase), collapse = " | "), if (length(won)) paste(won, collapse = ", ") else "none"))
}
cat(sprintf("\nUnroll's MASE is below the seasonal naive's on %d of %d series and below ETS's on %d of %d.\n", beats_snaive, count, beats_ets, count))
