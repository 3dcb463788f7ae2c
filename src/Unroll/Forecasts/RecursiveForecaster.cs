using Unroll.Models;
using Unroll.Tensors;
using Unroll.Training;

namespace Unroll.Forecasts;

/// <summary>
/// Forecasts with a recursive head: the context is read step by step from a zero state; the state after it is copied
/// into one path per draw (one path for a point head, <see cref="Forecaster.Samples"/> for a probabilistic one), and
/// every path draws its next value from the head's distribution, feeds it back as the next step's input and goes on, so
/// that a path's steps are correlated as the series' are (Salinas et al. 2020, DeepAR, 3.1). The point forecast is the
/// median of the paths at each step (the head's own value for a point head), the quantiles their empirical quantiles.
/// </summary>
internal static class RecursiveForecaster
{
    // Paths run together per batch: bounds the memory and the size of one step's product.
    private const int MaxRows = 4096;

    public static SeriesForecast[] Forecast(IRecurrentModel<float> model, ForecastSpec spec, IReadOnlyList<Series> series, IReadOnlyList<int> origins, int seed)
    {
        int context = spec.Context, width = spec.InputWidth, h = spec.Horizon, q = spec.Quantiles.Count;
        int parameters = model.Config.ParametersPerValue, outputs = model.Config.OutputSize, known = 1 + spec.PastCovariates.Count;
        int paths = spec.Distribution == OutputDistribution.Point ? 1 : Forecaster.Samples;
        int perBatch = Math.Max(1, MaxRows / paths);
        var random = new SplitMix64(seed);
        var results = new SeriesForecast[series.Count];
        var window = new float[context * width];
        model.Training = false;
        for (int first = 0; first < series.Count; first += perBatch)
        {
            int count = Math.Min(perBatch, series.Count - first), rows = count * paths;
            var scales = new WindowScale[count];
            var inputs = new float[context * count * width];
            for (int b = 0; b < count; b++)
            {
                scales[b] = Forecaster.Window(spec, series[first + b], origins[first + b], window, Span<float>.Empty);
                for (int t = 0; t < context; t++)
                {
                    window.AsSpan(t * width, width).CopyTo(inputs.AsSpan(((t * count) + b) * width));
                }
            }

            // The context, step by step; the last step's output is the distribution of the first forecast step.
            var state = model.CreateState(count);
            var output = new float[count * outputs];
            for (int t = 0; t < context; t++)
            {
                model.Step(inputs.AsSpan(t * count * width, count * width), state, output);
            }

            var pathState = Replicate(model, state, count, paths);
            var pathOutput = new float[rows * outputs];
            for (int r = 0; r < rows; r++)
            {
                output.AsSpan((r / paths) * outputs, outputs).CopyTo(pathOutput.AsSpan(r * outputs));
            }

            var values = new double[rows * h]; // every path's value at every step, in the series' units
            var row = new float[rows * width];
            for (int step = 0; step < h; step++)
            {
                for (int r = 0; r < rows; r++)
                {
                    int b = r / paths;
                    var s = series[first + b];
                    int origin = origins[first + b], a = origin + step;
                    double offset = spec.RelativeTo != ForecastBaseline.SeasonalNaive ? scales[b].Mean
                        : a - spec.Season < origin ? s.Values[(a - spec.Season) * spec.RowWidth] : values[(r * h) + step - spec.Season];
                    double draw = Draw(spec, pathOutput.AsSpan(r * outputs, parameters), random);
                    values[(r * h) + step] = offset + (draw * scales[b].Std);
                }

                if (step + 1 == h)
                {
                    break;
                }

                // The next step reads each path's own value and the known inputs of the step it forecasts.
                Array.Clear(row);
                for (int r = 0; r < rows; r++)
                {
                    int b = r / paths;
                    var input = row.AsSpan(r * width, width);
                    input[0] = (float)((values[(r * h) + step] - scales[b].Mean) / scales[b].Std);
                    if (r % paths == 0)
                    {
                        Forecaster.KnownInputs(spec, series[first + b], origins[first + b] + step + 1, input[known..]);
                    }
                    else
                    {
                        row.AsSpan((r - (r % paths)) * width, width)[known..].CopyTo(input[known..]);
                    }
                }

                model.Step(row, pathState, pathOutput);
            }

            for (int b = 0; b < count; b++)
            {
                results[first + b] = Summarise(spec, values.AsSpan(b * paths * h, paths * h), paths, q);
            }
        }

        return results;
    }

    // One draw from the head's distribution at one step, in the window's scale (the head's value for a point head).
    private static double Draw(ForecastSpec spec, ReadOnlySpan<float> output, SplitMix64 random)
    {
        switch (spec.Distribution)
        {
            case OutputDistribution.Point:
                return output[0];
            case OutputDistribution.Gaussian:
                return output[0] + (DistributionLosses.Scale(output[1]) * Forecaster.Normal(random));
            case OutputDistribution.StudentT:
                double nu = DistributionLosses.DegreesOfFreedom(output[2]);
                return output[0] + (DistributionLosses.Scale(output[1]) * Forecaster.Normal(random) / Math.Sqrt(2 * Forecaster.Gamma(nu / 2, random) / nu));
            default:
                // The quantile function through the sorted levels, linear between them and flat beyond the outermost.
                Span<double> levels = stackalloc double[output.Length];
                for (int k = 0; k < levels.Length; k++)
                {
                    levels[k] = output[k];
                }

                levels.Sort();
                double u = random.NextDouble();
                var tau = spec.Quantiles;
                if (u <= tau[0])
                {
                    return levels[0];
                }

                for (int k = 1; k < tau.Count; k++)
                {
                    if (u <= tau[k])
                    {
                        return levels[k - 1] + ((u - tau[k - 1]) / (tau[k] - tau[k - 1]) * (levels[k] - levels[k - 1]));
                    }
                }

                return levels[^1];
        }
    }

    // The paths of one series, [paths, H]: the median and the quantile levels of every step.
    private static SeriesForecast Summarise(ForecastSpec spec, ReadOnlySpan<double> values, int paths, int q)
    {
        int h = spec.Horizon;
        var point = new double[h];
        if (paths == 1)
        {
            values.CopyTo(point);
            return new SeriesForecast(point, []);
        }

        var quantiles = new double[h * q];
        var column = new double[paths];
        for (int step = 0; step < h; step++)
        {
            for (int p = 0; p < paths; p++)
            {
                column[p] = values[(p * h) + step];
            }

            Array.Sort(column);
            point[step] = Forecaster.Empirical(column, 0.5);
            for (int k = 0; k < q; k++)
            {
                quantiles[(step * q) + k] = Forecaster.Empirical(column, spec.Quantiles[k]);
            }
        }

        return new SeriesForecast(point, quantiles);
    }

    // The state of every series copied into each of its paths: [layers, B, H] -> [layers, B * paths, H], path r = b * paths + p.
    private static RecurrentState<float> Replicate(IRecurrentModel<float> model, RecurrentState<float> state, int batch, int paths)
    {
        var copy = model.CreateState(batch * paths);
        int hidden = model.Config.HiddenSize;
        foreach (var (from, to) in new[] { (state.Hidden, copy.Hidden), (state.Cell, copy.Cell) })
        {
            for (int layer = 0; layer < from.Length / (batch * hidden); layer++)
            {
                for (int b = 0; b < batch; b++)
                {
                    var source = from.AsSpan(((layer * batch) + b) * hidden, hidden);
                    for (int p = 0; p < paths; p++)
                    {
                        source.CopyTo(to.AsSpan(((layer * batch * paths) + (b * paths) + p) * hidden, hidden));
                    }
                }
            }
        }

        return copy;
    }
}
