# Writes tests/Unroll.Tests/Golden/forecast_metrics.json: MASE and RMSSE from forecast::accuracy on fixed
# series, beside the seasonal naive forecast of forecast::snaive, for ForecastMetricsTests.
# Run by hand from the repository root: Rscript scripts/reference/forecast_metrics_golden.R
suppressPackageStartupMessages(library(forecast))

cases <- list(
  list(name = "airpassengers_m12", series = AirPassengers, train = 120, horizon = 12),
  list(name = "ukgas_m4", series = UKgas, train = 100, horizon = 8),
  list(name = "nottem_m12_h30", series = nottem, train = 200, horizon = 30),
  list(name = "lynx_m1", series = lynx, train = 100, horizon = 10)
)

json_numbers <- function(x) paste0("[", paste(sprintf("%.17g", as.numeric(x)), collapse = ", "), "]")
out <- c()
for (case in cases) {
  y <- case$series
  m <- frequency(y)
  train <- subset(y, end = case$train)
  test <- subset(y, start = case$train + 1, end = case$train + case$horizon)
  # A fixed forecast that is not a fitted model's: the training mean plus a ramp, so the figures depend on every value.
  f <- rep(mean(train), case$horizon) + seq_len(case$horizon) * sd(train) / case$horizon
  naive <- snaive(train, h = case$horizon)
  fc <- naive
  fc$mean <- ts(f, start = start(test), frequency = m)
  a <- accuracy(fc, test)
  # forecast 8.20 has no RMSSE: the test RMSE over the seasonal naive's in-sample RMSE (both from accuracy).
  rmsse <- a["Test set", "RMSE"] / accuracy(naive)["Training set", "RMSE"]
  smape <- 200 * mean(abs(test - f) / (abs(test) + abs(f)))
  naive <- naive$mean
  out <- c(out, sprintf(paste0('  {"name": "%s", "season": %d, "history": %s, "actual": %s, "forecast": %s,',
                               ' "mase": %.17g, "rmsse": %.17g, "smape": %.17g, "mae": %.17g, "snaive": %s}'),
                        case$name, m, json_numbers(train), json_numbers(test), json_numbers(f),
                        a["Test set", "MASE"], rmsse, smape, a["Test set", "MAE"], json_numbers(naive)))
}
writeLines(c(sprintf('{"r_version": "%s", "forecast_version": "%s", "cases": [', R.version.string, packageVersion("forecast")),
             paste(out, collapse = ",\n"), "]}"), "tests/Unroll.Tests/Golden/forecast_metrics.json")
