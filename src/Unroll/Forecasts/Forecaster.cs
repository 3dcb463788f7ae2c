using System.Globalization;
using Unroll.Models;
using Unroll.Tensors;
using Unroll.Training;

namespace Unroll.Forecasts;

/// <summary>How one window's outputs turn back into the series' units: value = output * Std + (Baseline[h] or Mean).</summary>
/// <param name="Mean">The scale's mean (stored for the series, or the context's).</param>
/// <param name="Std">The scale's standard deviation.</param>
/// <param name="Baseline">The seasonal naive forecast the outputs are relative to, or null.</param>
internal sealed record WindowScale(double Mean, double Std, double[]? Baseline)
{
    /// <summary>What an output of zero at step <paramref name="step"/> stands for.</summary>
    public double Offset(int step) => Baseline is null ? Mean : Baseline[step];
}

/// <summary>Forecasts of one series from one origin: the point forecast of every step and its quantiles [H, Q], in the series' units.</summary>
/// <param name="Point">The point forecast (the mean of a symmetric distribution, the median level of a quantile head).</param>
/// <param name="Quantiles">Row-major [H, Q] at <see cref="ForecastSpec.Quantiles"/>; empty for a point head.</param>
internal sealed record SeriesForecast(double[] Point, double[] Quantiles);

/// <summary>
/// Scaling and forecasting (docs/forecasting.md). A direct head reads a window of L scaled steps (target, covariates,
/// calendar) from a zero state, then, when it knows ahead, the H forecast steps' known inputs, and its last state gives
/// all H steps at once. A recursive head reads, at the step of every time t, the value of t - 1 and the known inputs of t,
/// and forecasts t; from the origin on it is fed its own forecast (a sampled path per draw for probabilistic heads).
/// </summary>
internal static class Forecaster
{
    /// <summary>Draws per step for the quantiles of a direct Student-t head, and sampled paths of a probabilistic recursive head.</summary>
    public const int Samples = 1000;

    /// <summary>
    /// Fits the scaling on the training part of every series (all but its last <see cref="ForecastSpec.Reserved"/> steps):
    /// each series' target mean and standard deviation, each covariate's over every series' training rows.
    /// </summary>
    /// <exception cref="UnrollException">A series is too short for the context, a training window and the held-out parts.</exception>
    public static ForecastSpec Fit(ForecastSpec spec, IReadOnlyList<Series> series, string path)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(series);
        int width = spec.RowWidth, minimum = spec.MinimumLength;
        var scales = new Dictionary<string, double[]>(StringComparer.Ordinal);
        var sums = new double[width];
        var squares = new double[width];
        long rows = 0;
        foreach (var s in series)
        {
            if (s.Length < minimum)
            {
                string first = spec.FirstOrigin > spec.Context ? string.Create(CultureInfo.InvariantCulture, $" and the season before it ({spec.Season - 1} more steps for a recursive head relative to the seasonal naive)") : string.Empty;
                throw new UnrollException(
                    $"{path}: series '{s.Id}' has {s.Length} steps; expected at least {minimum}: the context of {spec.Context} (--context){first}, a training target of {spec.Horizon} (--horizon) and the {spec.Horizon} steps held out for validation{(spec.HoldOutTest ? $" and {spec.Horizon} for the test (--test)" : string.Empty)}.");
            }

            int train = s.Length - spec.Reserved;
            var (mean, std) = MeanAndStd(s.Values, width, 0, train);
            scales[s.Id] = [mean, std];
            for (int t = 0; t < train; t++)
            {
                for (int c = 1; c < width; c++)
                {
                    double v = s.Values[(t * width) + c];
                    sums[c] += v;
                    squares[c] += v * v;
                }
            }

            rows += train;
        }

        var means = new double[width - 1];
        var stds = new double[width - 1];
        for (int c = 1; c < width; c++)
        {
            means[c - 1] = sums[c] / rows;
            double variance = Math.Max(0, (squares[c] / rows) - (means[c - 1] * means[c - 1]));
            stds[c - 1] = Math.Sqrt(variance) > 1e-12 * Math.Max(1, Math.Abs(means[c - 1])) ? Math.Sqrt(variance) : 1;
            if (!double.IsFinite(means[c - 1]) || !double.IsFinite(stds[c - 1]))
            {
                throw new UnrollException($"{path}: column '{spec.Covariates[c - 1]}' has values too large to normalise; expected values below about 1e150 in magnitude.");
            }
        }

        return spec with { SeriesScales = scales, CovariateMeans = means, CovariateStds = stds };
    }

    /// <summary>
    /// The window of the origin <paramref name="origin"/> as the model reads it, [<see cref="ForecastSpec.SequenceSteps"/>,
    /// <see cref="ForecastSpec.InputWidth"/>], into <paramref name="inputs"/>, and unless <paramref name="targets"/> is
    /// empty its scaled targets: a direct head's H values from the origin on relative to the window's baseline, or a
    /// recursive head's one-step target at every step. Only the steps before the origin give target values as inputs (a
    /// recursive head's teacher-forced steps after it are read only when targets are asked for, in training). Returns
    /// the scale that turns outputs back into the series' units.
    /// </summary>
    /// <exception cref="UnrollException">The series has no stored scale (series scaling), the origin leaves too little history, or a known-ahead input is missing.</exception>
    internal static WindowScale Window(ForecastSpec spec, Series series, int origin, Span<float> inputs, Span<float> targets)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(series);
        int context = spec.Context, width = spec.InputWidth, rowWidth = spec.RowWidth, h = spec.Horizon;
        if (origin < context || origin > series.Length)
        {
            throw new UnrollException($"series '{series.Id}': a forecast from step {origin} needs the {context} steps before it (--context); the series has {series.Length}.");
        }

        var (mean, std) = spec.Scaling == ForecastScaling.Series ? ScaleOf(spec, series) : MeanAndStd(series.Values, rowWidth, origin - context, context);
        double[]? baseline = null;
        if (spec.Head == ForecastHead.Recursive)
        {
            // Row t is the step a = origin - L + 1 + t: the value of a - 1 and the known inputs of a; its target is y_a.
            int rows = targets.IsEmpty ? context : spec.SequenceSteps;
            for (int t = 0; t < rows; t++)
            {
                int a = origin - context + 1 + t;
                var row = inputs.Slice(t * width, width);
                row.Clear();
                row[0] = (float)((series.Values[(a - 1) * rowWidth] - mean) / std);
                for (int c = 0; c < spec.PastCovariates.Count; c++)
                {
                    row[1 + c] = ScaledCovariate(spec, series, a - 1, c); // only with H = 1: never read after the origin
                }

                KnownInputs(spec, series, a, row[(1 + spec.PastCovariates.Count)..]);
                if (!targets.IsEmpty)
                {
                    double offset = spec.RelativeTo == ForecastBaseline.SeasonalNaive ? series.Values[(a - spec.Season) * rowWidth] : mean;
                    targets[t] = (float)((series.Values[a * rowWidth] - offset) / std);
                }
            }

            return new WindowScale(mean, std, null);
        }

        if (spec.RelativeTo == ForecastBaseline.SeasonalNaive)
        {
            var history = new double[spec.Season];
            for (int t = 0; t < history.Length; t++)
            {
                history[t] = series.Values[(origin - spec.Season + t) * rowWidth];
            }

            baseline = ForecastMetrics.SeasonalNaive(history, h, spec.Season);
        }
        else if (spec.RelativeTo == ForecastBaseline.SeasonalMean)
        {
            baseline = SeasonalMean(series, origin, spec.Context / spec.Season, spec.Season, rowWidth, h);
        }
        else if (spec.RelativeTo == ForecastBaseline.ExponentialSmoothing)
        {
            baseline = SmoothingForecast(series, origin, spec.Season, rowWidth, h);
        }

        var scale = new WindowScale(mean, std, baseline);
        for (int t = 0; t < spec.SequenceSteps; t++)
        {
            int a = origin - context + t;
            var row = inputs.Slice(t * width, width);
            row.Clear();
            if (a < origin)
            {
                row[0] = (float)((series.Values[a * rowWidth] - mean) / std);
                for (int c = 0; c < spec.PastCovariates.Count; c++)
                {
                    row[1 + c] = ScaledCovariate(spec, series, a, c);
                }
            }

            if (spec.KnowsAhead)
            {
                KnownInputs(spec, series, a, row[(1 + spec.PastCovariates.Count)..]);
                row[^1] = a < origin ? 1 : 0; // observed: the target and past covariates of this step are given
            }
        }

        for (int k = 0; k < targets.Length; k++)
        {
            targets[k] = (float)((series.Values[(origin + k) * rowWidth] - scale.Offset(k)) / std);
        }

        return scale;
    }

    // The inputs known ahead for step a: its future covariates, scaled, then its calendar features.
    internal static void KnownInputs(ForecastSpec spec, Series series, int a, Span<float> destination)
    {
        int past = spec.PastCovariates.Count, future = spec.FutureCovariates.Count;
        if (future > 0 && a >= series.Length)
        {
            throw new UnrollException(
                $"series '{series.Id}': a forecast of step {a + 1} reads the future covariates {string.Join(", ", spec.FutureCovariates)} there; the series has {series.Length} steps. Expected rows for every forecast step with the future covariates (and the target empty).");
        }

        for (int c = 0; c < future; c++)
        {
            destination[c] = ScaledCovariate(spec, series, a, past + c);
        }

        if (spec.Calendar.Count > 0)
        {
            CalendarFeatures.Write(spec.Calendar, spec.CalendarEncoding, series.TimeAt(a, spec.StepMonths, spec.StepTicks), destination.Slice(future, spec.CalendarWidth));
        }
    }

    private static float ScaledCovariate(ForecastSpec spec, Series series, int a, int covariate)
    {
        double value = series.Values[(a * spec.RowWidth) + 1 + covariate];
        if (!double.IsFinite(value))
        {
            throw new UnrollException($"series '{series.Id}': step {a + 1} has no value of '{spec.Covariates[covariate]}'; expected one wherever the model reads it.");
        }

        return (float)((value - spec.CovariateMeans[covariate]) / spec.CovariateStds[covariate]);
    }

    /// <summary>The stored target mean and standard deviation of <paramref name="series"/>.</summary>
    /// <exception cref="UnrollException">The model was not trained on a series of that id.</exception>
    public static (double Mean, double Std) ScaleOf(ForecastSpec spec, Series series)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(series);
        return spec.SeriesScales.TryGetValue(series.Id, out var scale)
            ? (scale[0], scale[1])
            : throw new UnrollException(
                $"series '{series.Id}': the model was trained on {spec.SeriesScales.Count} series ({string.Join(", ", spec.SeriesScales.Keys.Take(5).Select(k => $"'{k}'"))}{(spec.SeriesScales.Count > 5 ? ", ..." : string.Empty)}) and scales each by its own training statistics; expected one of those ids.");
    }

    /// <summary>
    /// Forecasts the H steps after <paramref name="origins"/>[i] (the first step not read) of every series, from the L steps
    /// before each origin (and the known inputs after it), in batches. Draws (a direct Student-t head's, a recursive
    /// probabilistic head's paths) come from a SplitMix64 generator seeded by <paramref name="seed"/>.
    /// </summary>
    /// <exception cref="UnrollException">An origin leaves fewer than L steps of context, or a known-ahead input is missing.</exception>
    public static SeriesForecast[] Forecast(IRecurrentModel<float> model, ForecastSpec spec, IReadOnlyList<Series> series, IReadOnlyList<int> origins, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(origins);
        if (spec.Head == ForecastHead.Recursive)
        {
            return RecursiveForecaster.Forecast(model, spec, series, origins, seed);
        }

        int steps = spec.SequenceSteps, width = spec.InputWidth, h = spec.Horizon, parameters = model.Config.ParametersPerValue;
        const int MaxBatch = 256;
        var results = new SeriesForecast[series.Count];
        var window = new float[steps * width];
        var scales = new WindowScale[MaxBatch];
        var random = new SplitMix64(seed);
        model.Training = false;
        for (int first = 0; first < series.Count; first += MaxBatch)
        {
            int count = Math.Min(MaxBatch, series.Count - first);
            var inputs = new float[steps * count * width];
            for (int b = 0; b < count; b++)
            {
                scales[b] = Window(spec, series[first + b], origins[first + b], window, Span<float>.Empty);
                for (int t = 0; t < steps; t++)
                {
                    window.AsSpan(t * width, width).CopyTo(inputs.AsSpan(((t * count) + b) * width));
                }
            }

            model.Run(inputs, ReadOnlySpan<float>.Empty, steps, count);
            var predictions = model.Predictions;
            for (int b = 0; b < count; b++)
            {
                results[first + b] = Unscale(spec, predictions.Slice(b * h * parameters, h * parameters), scales[b], random);
            }
        }

        return results;
    }

    // One series' head outputs [H, P] in its own units: the point and the quantiles of each step.
    private static SeriesForecast Unscale(ForecastSpec spec, ReadOnlySpan<float> outputs, WindowScale scale, SplitMix64 random)
    {
        double std = scale.Std;
        int h = spec.Horizon, q = spec.Quantiles.Count;
        var point = new double[h];
        var quantiles = spec.Distribution == OutputDistribution.Point ? [] : new double[h * q];
        var draws = spec.Distribution == OutputDistribution.StudentT ? new double[Samples] : [];
        for (int step = 0; step < h; step++)
        {
            double mean = scale.Offset(step);
            switch (spec.Distribution)
            {
                case OutputDistribution.Point:
                    point[step] = (outputs[step] * std) + mean;
                    break;
                case OutputDistribution.Quantiles:
                    // Sorted, so crossing quantiles still give a valid interval; the point is the middle level.
                    var levels = outputs.Slice(step * q, q).ToArray().Select(v => (v * std) + mean).Order().ToArray();
                    levels.CopyTo(quantiles, step * q);
                    point[step] = levels[q / 2];
                    break;
                case OutputDistribution.Gaussian:
                    double mu = outputs[2 * step], sigma = DistributionLosses.Scale(outputs[(2 * step) + 1]);
                    point[step] = (mu * std) + mean;
                    for (int k = 0; k < q; k++)
                    {
                        quantiles[(step * q) + k] = ((mu + (sigma * NormalQuantile(spec.Quantiles[k]))) * std) + mean;
                    }

                    break;
                default:
                    double location = outputs[3 * step], spread = DistributionLosses.Scale(outputs[(3 * step) + 1]);
                    double nu = DistributionLosses.DegreesOfFreedom(outputs[(3 * step) + 2]);
                    point[step] = (location * std) + mean;
                    for (int i = 0; i < draws.Length; i++)
                    {
                        // t = Z / sqrt(V / nu), V ~ chi-square(nu) = 2 Gamma(nu / 2).
                        draws[i] = location + (spread * Normal(random) / Math.Sqrt(2 * Gamma(nu / 2, random) / nu));
                    }

                    Array.Sort(draws);
                    for (int k = 0; k < q; k++)
                    {
                        quantiles[(step * q) + k] = (Empirical(draws, spec.Quantiles[k]) * std) + mean;
                    }

                    break;
            }
        }

        return new SeriesForecast(point, quantiles);
    }

    // The K whole seasons before the origin averaged position by position, plus the mean season-to-season change times
    // the seasons ahead: f_h = mean_k y[o - k m + j] + d (K + 1) / 2 + d floor((h - 1) / m), j = (h - 1) mod m, where the
    // mean of the K seasons sits (K + 1) / 2 seasons behind the first season ahead and d = (season K - season 1) / (K - 1).
    private static double[] SeasonalMean(Series series, int origin, int seasons, int m, int width, int horizon)
    {
        var positionMeans = new double[m];
        double first = 0, last = 0;
        for (int k = 1; k <= seasons; k++)
        {
            double seasonSum = 0;
            for (int j = 0; j < m; j++)
            {
                double value = series.Values[(origin - (k * m) + j) * width];
                positionMeans[j] += value / seasons;
                seasonSum += value / m;
            }

            (first, last) = (k == seasons ? seasonSum : first, k == 1 ? seasonSum : last);
        }

        double drift = seasons > 1 ? (last - first) / (seasons - 1) : 0;
        var forecast = new double[horizon];
        for (int step = 0; step < horizon; step++)
        {
            forecast[step] = positionMeans[step % m] + (drift * (((seasons + 1) / 2.0) + (step / m)));
        }

        return forecast;
    }

    // The exponential-smoothing forecast from the history before the origin; fitting it is a grid search, so every
    // (series, origin, horizon) is fitted once per process and kept (the same numbers each time: the fit is deterministic).
    private static double[] SmoothingForecast(Series series, int origin, int season, int width, int horizon)
    {
        var cache = SmoothingCache.GetValue(series, _ => new System.Collections.Concurrent.ConcurrentDictionary<(int, int, int), double[]>());
        return cache.GetOrAdd((origin, season, horizon), key =>
        {
            var history = new double[Math.Min(origin, ExponentialSmoothing.MaxHistory)];
            for (int t = 0; t < history.Length; t++)
            {
                history[t] = series.Values[(origin - history.Length + t) * width];
            }

            return ExponentialSmoothing.Forecast(history, key.Item2, key.Item3);
        });
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Series, System.Collections.Concurrent.ConcurrentDictionary<(int, int, int), double[]>> SmoothingCache = [];

    internal static (double Mean, double Std) MeanAndStd(double[] values, int width, int from, int count)
    {
        double sum = 0;
        for (int t = from; t < from + count; t++)
        {
            sum += values[t * width];
        }

        double mean = sum / count, squares = 0;
        for (int t = from; t < from + count; t++)
        {
            squares += (values[t * width] - mean) * (values[t * width] - mean);
        }

        double std = Math.Sqrt(squares / count);
        return (mean, std > 1e-12 * Math.Max(1, Math.Abs(mean)) ? std : 1);
    }

    // The empirical quantile of sorted draws by linear interpolation (R's type 7).
    internal static double Empirical(double[] sorted, double level)
    {
        double position = level * (sorted.Length - 1);
        int below = (int)Math.Floor(position);
        int above = Math.Min(below + 1, sorted.Length - 1);
        return sorted[below] + ((position - below) * (sorted[above] - sorted[below]));
    }

    /// <summary>The standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9).</summary>
    internal static double NormalQuantile(double p)
    {
        double[] a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00];
        double[] b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01];
        double[] c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00];
        double[] d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00];
        const double Low = 0.02425;
        if (p < Low || p > 1 - Low)
        {
            double u = Math.Sqrt(-2 * Math.Log(p < Low ? p : 1 - p));
            double x = Horner(c, u) / ((Horner(d, u) * u) + 1);
            return p < Low ? x : -x;
        }

        double r = p - 0.5, s = r * r;
        return Horner(a, s) * r / ((Horner(b, s) * s) + 1);
    }

    // c[0] x^(n-1) + ... + c[n-1].
    private static double Horner(double[] coefficients, double x)
    {
        double value = 0;
        foreach (double coefficient in coefficients)
        {
            value = (value * x) + coefficient;
        }

        return value;
    }

    // A standard normal draw (Box-Muller).
    internal static double Normal(SplitMix64 random)
    {
        double u = 1 - random.NextDouble(), v = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
    }

    // A Gamma(shape, 1) draw (Marsaglia and Tsang 2000; shape >= 1 here since nu > 2).
    internal static double Gamma(double shape, SplitMix64 random)
    {
        double d = shape - (1.0 / 3), c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x = Normal(random), v = 1 + (c * x);
            if (v <= 0)
            {
                continue;
            }

            v = v * v * v;
            double u = 1 - random.NextDouble();
            if (Math.Log(u) < (0.5 * x * x) + d - (d * v) + (d * Math.Log(v)))
            {
                return d * v;
            }
        }
    }
}
