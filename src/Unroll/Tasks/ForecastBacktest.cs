using System.Globalization;
using Unroll.Forecasts;
using Unroll.Models;

namespace Unroll.Tasks;

/// <summary>One fold of a rolling-origin backtest: where every series' forecast starts and how it scored.</summary>
/// <param name="Fold">1 for the earliest origin, K for the latest.</param>
/// <param name="Origins">Per series, the first forecast step (the fold saw only the steps before it).</param>
/// <param name="Evaluation">The model trained for this fold, scored on the H steps after its origins beside the seasonal naive.</param>
internal sealed record BacktestFold(int Fold, IReadOnlyList<int> Origins, Evaluation Evaluation);

/// <summary>
/// Rolling-origin evaluation with refits (Tashman 2000; what Darts calls historical forecasts with retrain): fold k of K
/// cuts every series at origin n - (K - k + 1) H, fits a new model with the run's recipe on the steps before the origin
/// alone (its scaling, its training windows and its validation part all lie there), and forecasts the H steps after it.
/// </summary>
internal static class ForecastBacktest
{
    /// <summary>Runs the folds; <paramref name="train"/> trains a fresh model for a fold's task.</summary>
    /// <exception cref="UnrollException">The folds leave a series too short to train on.</exception>
    public static IReadOnlyList<BacktestFold> Run(ForecastSpec spec, IReadOnlyList<Series> series, int folds, Func<ForecastTask, IRecurrentModel<float>> train)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(train);
        if (folds < 1 || folds > 1000)
        {
            throw new UnrollException($"--folds: expected 1 to 1000 origins, got {folds}.");
        }

        int h = spec.Horizon, width = spec.InputWidth;
        var results = new List<BacktestFold>(folds);
        for (int k = 1; k <= folds; k++)
        {
            var origins = series.Select(s => s.Length - ((folds - k + 1) * h)).ToArray();
            var seen = new Series[series.Count];
            for (int i = 0; i < series.Count; i++)
            {
                if (origins[i] < 1)
                {
                    throw new UnrollException($"--folds: {folds} folds of {h} steps need series longer than {folds * h} steps; series '{series[i].Id}' has {series[i].Length}.");
                }

                // Only the steps before the origin exist for this fold.
                seen[i] = new Series(series[i].Id, series[i].Values[..(origins[i] * width)], series[i].Times[..origins[i]]);
            }

            var task = ForecastTask.FromSeries(spec, seen, string.Create(CultureInfo.InvariantCulture, $"fold {k} of {folds}"));
            var model = train(task);
            var evaluation = ForecastTask.Score(model, task.Spec, series, origins,
                string.Create(CultureInfo.InvariantCulture, $"fold {k} of {folds}: the {h} steps after step {origins.Min()}{(origins.Distinct().Count() > 1 ? $" to {origins.Max()}" : string.Empty)} of {series.Count} series"), "backtest");
            results.Add(new BacktestFold(k, origins, evaluation));
        }

        return results;
    }
}
