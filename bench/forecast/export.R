# Exports R's real series for bench/forecast/compare-r.sh and forecasts their held-out ends with R's forecast package.
# Usage: Rscript export.R OUT_DIR [SET]. Writes, per frequency group, OUT_DIR/<group>-train.csv (every series without its
# last H values, long format: series,time,value) and OUT_DIR/r-forecasts.csv (series,method,step,forecast) and
# OUT_DIR/actuals.csv (series,step,actual).
# SET a (the default) is the first ten series; SET b eight more whose held-out values were kept unseen until the
# recipes of the third round had been chosen on the training parts (docs/results.md): every seasonal monthly series of
# R's Seatbelts data (the UK's road casualties 1969-1984 and distance driven; not the petrol price, which has no
# season), wineind from the forecast package and the quarterly JohnsonJohnson. Left out of both: mdeaths and fdeaths
# (their sum is ldeaths, whose held-out year is set a's) and series without a season (sunspots, prices).
suppressPackageStartupMessages(library(forecast))
args <- commandArgs(trailingOnly = TRUE)
out <- args[1]
set <- if (length(args) >= 2) args[2] else "a"

# The series: monthly and quarterly from R's datasets and the forecast package, half-hourly electricity demand.
taylor6w <- ts(tail(as.numeric(taylor), 2016), frequency = 48) # the last six weeks, daily season
series <- if (set == "b") list(
  list(id = "DriversKilled", y = Seatbelts[, "DriversKilled"], group = "monthly", h = 12),
  list(id = "drivers", y = Seatbelts[, "drivers"], group = "monthly", h = 12),
  list(id = "front", y = Seatbelts[, "front"], group = "monthly", h = 12),
  list(id = "rear", y = Seatbelts[, "rear"], group = "monthly", h = 12),
  list(id = "kms", y = Seatbelts[, "kms"], group = "monthly", h = 12),
  list(id = "VanKilled", y = Seatbelts[, "VanKilled"], group = "monthly", h = 12),
  list(id = "wineind", y = wineind, group = "monthly", h = 12),
  list(id = "JohnsonJohnson", y = JohnsonJohnson, group = "quarterly", h = 8)
) else if (set == "a") list(
  list(id = "AirPassengers", y = AirPassengers, group = "monthly", h = 12),
  list(id = "co2", y = co2, group = "monthly", h = 12),
  list(id = "nottem", y = nottem, group = "monthly", h = 12),
  list(id = "USAccDeaths", y = USAccDeaths, group = "monthly", h = 12),
  list(id = "ldeaths", y = ldeaths, group = "monthly", h = 12),
  list(id = "gas", y = gas, group = "monthly", h = 12),
  list(id = "UKgas", y = UKgas, group = "quarterly", h = 8),
  list(id = "austres", y = austres, group = "quarterly", h = 8),
  list(id = "woolyrnq", y = woolyrnq, group = "quarterly", h = 8),
  list(id = "taylor", y = taylor6w, group = "halfhourly", h = 48)
) else stop("export.R: expected the set a or b, got ", set)

times <- function(y) {
  m <- frequency(y)
  if (m == 12 || m == 4) {
    t <- round(time(y) * 12)
    sprintf("%04d-%02d-01", t %/% 12, t %% 12 + 1)
  } else if (m == 48) {
    # taylor runs from Monday 5 June to Sunday 27 August 2000 (?taylor); its last six weeks start on Monday 17 July.
    format(as.POSIXct("2000-07-17 00:00", tz = "UTC") + 1800 * (seq_along(y) - 1), "%Y-%m-%dT%H:%M", tz = "UTC")
  } else {
    as.character(seq_along(y))
  }
}

forecasts <- data.frame()
actuals <- data.frame()
groups <- list()
for (s in series) {
  n <- length(s$y)
  train <- subset(s$y, end = n - s$h)
  test <- subset(s$y, start = n - s$h + 1)
  rows <- data.frame(series = s$id, time = head(times(s$y), n - s$h), value = as.numeric(train))
  groups[[s$group]] <- rbind(groups[[s$group]], rows)
  methods <- list(
    snaive = function() snaive(train, h = s$h)$mean,
    ets = function() forecast(ets(train), h = s$h)$mean,
    auto.arima = function() forecast(auto.arima(train), h = s$h)$mean
  )
  for (name in names(methods)) {
    f <- suppressWarnings(methods[[name]]())
    forecasts <- rbind(forecasts, data.frame(series = s$id, method = name, step = seq_len(s$h), forecast = as.numeric(f)))
  }
  actuals <- rbind(actuals, data.frame(series = s$id, step = seq_len(s$h), actual = as.numeric(test)))
}
for (g in names(groups)) write.csv(groups[[g]], file.path(out, paste0(g, "-train.csv")), row.names = FALSE, quote = FALSE)
write.csv(forecasts, file.path(out, "r-forecasts.csv"), row.names = FALSE, quote = FALSE)
write.csv(actuals, file.path(out, "actuals.csv"), row.names = FALSE, quote = FALSE)
