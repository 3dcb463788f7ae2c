namespace Unroll.Forecasts;

/// <summary>
/// Exponential smoothing with a damped additive trend and additive seasonality, ETS(A,Ad,A) (Hyndman and
/// Athanasopoulos, Forecasting: Principles and Practice, 3rd ed., 8.3 and 8.6), fitted to a history by a grid over its
/// smoothing parameters and, for a positive series, over the scale it runs on (the values or their logarithms, the
/// latter a multiplicative seasonality). It is what a forecasting head can be relative to: a fair, self-contained
/// stand-in for R's <c>ets</c>, computed from the history before the origin alone.
/// </summary>
/// <remarks>
/// Recursions, with one-step error e_t = y_t - (l_{t-1} + phi b_{t-1} + s_{t-m}):
/// <code>
/// l_t = l_{t-1} + phi b_{t-1} + alpha e_t
/// b_t = phi b_{t-1} + beta e_t
/// s_t = s_{t-m} + gamma e_t
/// y_{n+h|n} = l_n + (phi + phi^2 + ... + phi^h) b_n + s_{n+h-m(k+1)},  k = floor((h - 1) / m)
/// </code>
/// The states start from the first season: l = its mean plus half a season of trend, b = the change of the seasons'
/// means over the first two seasons divided by m (zero with fewer than two), s_j = y_j minus the trend line through the
/// first season's mean. The parameters (and the scale) are those with the smallest mean squared one-step error over the
/// steps after the first season, measured in the series' own units. With m = 1 there is no seasonal state.
/// </remarks>
internal static class ExponentialSmoothing
{
    /// <summary>At most this many of the latest steps are fitted (a long history adds time, little information).</summary>
    public const int MaxHistory = 1000;

    private static readonly double[] Alphas = [0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9];
    private static readonly double[] Betas = [0, 0.01, 0.05, 0.15];
    private static readonly double[] Gammas = [0, 0.05, 0.15, 0.3];
    private static readonly double[] Phis = [0.9, 0.98, 1];

    /// <summary>The smoothing parameters and scale of a fit.</summary>
    /// <param name="Alpha">Level smoothing.</param>
    /// <param name="Beta">Trend smoothing.</param>
    /// <param name="Gamma">Seasonal smoothing.</param>
    /// <param name="Phi">Trend damping.</param>
    /// <param name="Log">Whether the recursions ran on log values.</param>
    public readonly record struct Parameters(double Alpha, double Beta, double Gamma, double Phi, bool Log);

    /// <summary>
    /// The forecast of the <paramref name="horizon"/> steps after <paramref name="history"/> (its last
    /// <see cref="MaxHistory"/> steps), with the parameters fitted on it.
    /// </summary>
    /// <exception cref="ArgumentException">The history is shorter than one season (or empty).</exception>
    public static double[] Forecast(ReadOnlySpan<double> history, int season, int horizon)
    {
        if (history.Length > MaxHistory)
        {
            history = history[^MaxHistory..];
        }

        var parameters = Fit(history, season);
        return Forecast(history, season, horizon, parameters);
    }

    /// <summary>The grid point with the smallest mean squared one-step error over the history after its first season.</summary>
    /// <exception cref="ArgumentException">The history is shorter than one season (or empty).</exception>
    public static Parameters Fit(ReadOnlySpan<double> history, int season)
    {
        Check(history, season);
        bool positive = true;
        foreach (double y in history)
        {
            positive &= y > 0;
        }

        var best = new Parameters(Alphas[0], 0, 0, 1, false);
        double bestError = double.PositiveInfinity;
        var logs = positive ? new double[history.Length] : [];
        for (int t = 0; t < logs.Length; t++)
        {
            logs[t] = Math.Log(history[t]);
        }

        foreach (bool log in positive ? new[] { false, true } : [false])
        {
            foreach (double alpha in Alphas)
            {
                foreach (double beta in Betas)
                {
                    foreach (double gamma in season > 1 ? Gammas : [0.0])
                    {
                        foreach (double phi in Phis)
                        {
                            if (beta > alpha || gamma > 1 - alpha)
                            {
                                continue; // the usual admissible region: beta <= alpha, gamma <= 1 - alpha
                            }

                            var candidate = new Parameters(alpha, beta, gamma, phi, log);
                            double error = Run(log ? logs : history, history, season, candidate, Span<double>.Empty);
                            if (error < bestError)
                            {
                                (best, bestError) = (candidate, error);
                            }
                        }
                    }
                }
            }
        }

        return best;
    }

    /// <summary>The forecast of the <paramref name="horizon"/> steps after <paramref name="history"/> with given parameters.</summary>
    /// <exception cref="ArgumentException">The history is shorter than one season (or empty).</exception>
    public static double[] Forecast(ReadOnlySpan<double> history, int season, int horizon, Parameters parameters)
    {
        Check(history, season);
        var values = parameters.Log ? new double[history.Length] : history.ToArray();
        for (int t = 0; parameters.Log && t < values.Length; t++)
        {
            values[t] = Math.Log(history[t]);
        }

        var forecast = new double[horizon];
        Run(values, history, season, parameters, forecast);
        for (int h = 0; parameters.Log && h < horizon; h++)
        {
            forecast[h] = Math.Exp(forecast[h]);
        }

        return forecast;
    }

    // Runs the recursions over `values` (the series or its logs), returning the mean squared one-step error in the
    // series' units (`original`) after the first season; writes the forecasts from the end into `forecast`.
    private static double Run(ReadOnlySpan<double> values, ReadOnlySpan<double> original, int season, Parameters p, Span<double> forecast)
    {
        int m = Math.Max(1, season), n = values.Length;
        Span<double> seasonal = m <= 1024 ? stackalloc double[m] : new double[m];
        double first = Mean(values[..Math.Min(m, n)]);
        double trend = n >= 2 * m ? (Mean(values.Slice(m, m)) - first) / m : 0;
        double level = first + (trend * (m - 1) / 2.0);
        for (int j = 0; j < m; j++)
        {
            seasonal[j] = m > 1 ? values[j] - (first + (trend * (j - ((m - 1) / 2.0)))) : 0;
        }

        double squares = 0;
        for (int t = m; t < n; t++)
        {
            int j = t % m;
            double predicted = level + (p.Phi * trend) + seasonal[j];
            double error = values[t] - predicted;
            double inUnits = p.Log ? original[t] - Math.Exp(predicted) : error;
            squares += inUnits * inUnits;
            double previousLevel = level;
            level = previousLevel + (p.Phi * trend) + (p.Alpha * error);
            trend = (p.Phi * trend) + (p.Beta * error);
            seasonal[j] += p.Gamma * error;
        }

        double damping = 0, power = 1;
        for (int h = 0; h < forecast.Length; h++)
        {
            power *= p.Phi;
            damping += power;
            forecast[h] = level + (damping * trend) + seasonal[(n + h) % m];
        }

        return n > m ? squares / (n - m) : 0;
    }

    private static double Mean(ReadOnlySpan<double> values)
    {
        double sum = 0;
        foreach (double v in values)
        {
            sum += v;
        }

        return sum / values.Length;
    }

    private static void Check(ReadOnlySpan<double> history, int season)
    {
        if (history.Length == 0 || history.Length < season)
        {
            throw new ArgumentException($"Expected a history of at least one season ({season} steps), got {history.Length}.", nameof(history));
        }
    }
}
