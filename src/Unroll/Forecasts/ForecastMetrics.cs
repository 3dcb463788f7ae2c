namespace Unroll.Forecasts;

/// <summary>
/// Scale-free accuracy of forecasts, as forecasters report it (Hyndman and Koehler 2006; the M4 and M5 competitions).
/// <c>y</c> is the series' history before the forecast origin (the in-sample part that scales the errors), <c>a</c> the
/// actual values of the horizon and <c>f</c> the forecasts, h = 1..H; m is the seasonal period (1 for none).
/// </summary>
internal static class ForecastMetrics
{
    /// <summary>
    /// Mean absolute scaled error: <c>MASE = mean_h |a_h - f_h| / (1/(n-m) sum_{t=m+1..n} |y_t - y_{t-m}|)</c>, the
    /// scale being the in-sample seasonal naive forecast's mean absolute error, as R's <c>forecast::accuracy</c>
    /// computes it for a series of frequency m. Below 1: better than that naive forecast was in sample.
    /// </summary>
    /// <exception cref="UnrollException">The history has no more than m values, or its scale is zero.</exception>
    public static double Mase(ReadOnlySpan<double> history, ReadOnlySpan<double> actual, ReadOnlySpan<double> forecast, int season)
    {
        CheckLengths(actual, forecast);
        double sum = 0;
        for (int h = 0; h < actual.Length; h++)
        {
            sum += Math.Abs(actual[h] - forecast[h]);
        }

        return sum / actual.Length / NaiveScale(history, season, squared: false);
    }

    /// <summary>
    /// Root mean squared scaled error (the M5 competition's RMSSE with the seasonal naive of lag m):
    /// <c>sqrt( mean_h (a_h - f_h)^2 / (1/(n-m) sum_{t=m+1..n} (y_t - y_{t-m})^2) )</c>.
    /// </summary>
    /// <exception cref="UnrollException">The history has no more than m values, or its scale is zero.</exception>
    public static double Rmsse(ReadOnlySpan<double> history, ReadOnlySpan<double> actual, ReadOnlySpan<double> forecast, int season)
    {
        CheckLengths(actual, forecast);
        double sum = 0;
        for (int h = 0; h < actual.Length; h++)
        {
            sum += (actual[h] - forecast[h]) * (actual[h] - forecast[h]);
        }

        return Math.Sqrt(sum / actual.Length / NaiveScale(history, season, squared: true));
    }

    /// <summary>
    /// Symmetric MAPE in percent, the M4 competition's: <c>sMAPE = 200/H sum_h |a_h - f_h| / (|a_h| + |f_h|)</c>;
    /// a term whose actual and forecast are both zero counts 0.
    /// </summary>
    public static double Smape(ReadOnlySpan<double> actual, ReadOnlySpan<double> forecast)
    {
        CheckLengths(actual, forecast);
        double sum = 0;
        for (int h = 0; h < actual.Length; h++)
        {
            double denominator = Math.Abs(actual[h]) + Math.Abs(forecast[h]);
            sum += denominator > 0 ? Math.Abs(actual[h] - forecast[h]) / denominator : 0;
        }

        return 200 * sum / actual.Length;
    }

    /// <summary>
    /// Weighted quantile loss summed over every series and step, averaged over the levels (GluonTS's mean_wQuantileLoss):
    /// <c>wQL = 1/Q sum_q 2 sum_i rho_tau_q(a_i, f_iq) / sum_i |a_i|</c>, rho the pinball loss. <paramref name="quantiles"/>
    /// is [N, Q], the forecast of every actual value at every level.
    /// </summary>
    /// <exception cref="UnrollException">The actual values sum to zero in absolute value.</exception>
    public static double WeightedQuantileLoss(ReadOnlySpan<double> actual, ReadOnlySpan<double> quantiles, IReadOnlyList<double> levels)
    {
        ArgumentNullException.ThrowIfNull(levels);
        int q = levels.Count;
        if (q == 0 || quantiles.Length != actual.Length * q)
        {
            throw new ArgumentException($"Expected {actual.Length} x {q} quantile forecasts, got {quantiles.Length}.", nameof(quantiles));
        }

        double scale = 0;
        foreach (double a in actual)
        {
            scale += Math.Abs(a);
        }

        if (!(scale > 0))
        {
            throw new UnrollException("weighted quantile loss: expected actual values that are not all zero (their absolute sum scales the loss), got only zeros.");
        }

        double total = 0;
        for (int k = 0; k < q; k++)
        {
            double tau = levels[k], sum = 0;
            for (int i = 0; i < actual.Length; i++)
            {
                double error = actual[i] - quantiles[(i * q) + k];
                sum += error >= 0 ? tau * error : (tau - 1) * error;
            }

            total += 2 * sum / scale;
        }

        return total / q;
    }

    /// <summary>The share of actual values inside [lower, upper] (both ends included): an interval's empirical coverage.</summary>
    public static double Coverage(ReadOnlySpan<double> actual, ReadOnlySpan<double> lower, ReadOnlySpan<double> upper)
    {
        CheckLengths(actual, lower);
        CheckLengths(actual, upper);
        int inside = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            inside += actual[i] >= lower[i] && actual[i] <= upper[i] ? 1 : 0;
        }

        return (double)inside / actual.Length;
    }

    /// <summary>
    /// The seasonal naive forecast from <paramref name="history"/>: <c>f_h = y_{n - m + ((h - 1) mod m) + 1}</c>, the value
    /// of the same season in the last observed period (R's <c>snaive</c>); with m = 1 the last value (<c>naive</c>).
    /// </summary>
    /// <exception cref="UnrollException">The history is shorter than one season.</exception>
    public static double[] SeasonalNaive(ReadOnlySpan<double> history, int horizon, int season)
    {
        if (season < 1 || history.Length < season)
        {
            throw new UnrollException($"seasonal naive: expected a history of at least one season ({season} values), got {history.Length}.");
        }

        var forecast = new double[horizon];
        for (int h = 0; h < horizon; h++)
        {
            forecast[h] = history[history.Length - season + (h % season)];
        }

        return forecast;
    }

    // The in-sample seasonal naive's mean absolute (or squared) error: the denominator of MASE and RMSSE.
    private static double NaiveScale(ReadOnlySpan<double> history, int season, bool squared)
    {
        if (season < 1 || history.Length <= season)
        {
            throw new UnrollException($"scaled error: expected a history longer than the season ({season}), got {history.Length} values.");
        }

        double sum = 0;
        for (int t = season; t < history.Length; t++)
        {
            double d = history[t] - history[t - season];
            sum += squared ? d * d : Math.Abs(d);
        }

        double scale = sum / (history.Length - season);
        return scale > 0
            ? scale
            : throw new UnrollException($"scaled error: the history repeats itself every {season} steps, so the seasonal naive forecast is exact in sample and cannot scale the errors; expected a history that varies.");
    }

    private static void CheckLengths(ReadOnlySpan<double> actual, ReadOnlySpan<double> forecast)
    {
        if (actual.Length == 0 || actual.Length != forecast.Length)
        {
            throw new ArgumentException($"Expected as many forecasts as actual values (at least one), got {forecast.Length} and {actual.Length}.", nameof(forecast));
        }
    }
}
