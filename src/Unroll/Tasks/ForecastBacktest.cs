using System.Globalization;
using Unroll.Forecasts;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tasks;

/// <summary>One fold of a rolling-origin backtest: where every series' forecast starts and how it scored.</summary>
/// <param name="Fold">1 for the earliest origin, K for the latest.</param>
/// <param name="Origins">Per series, the first forecast step (the fold saw only the steps before it).</param>
/// <param name="Evaluation">The model trained for this fold, scored on the H steps after its origins beside the seasonal naive.</param>
/// <param name="BestStep">The training step whose weights were kept: the lowest validation loss of the fold's own validation part.</param>
internal sealed record BacktestFold(int Fold, IReadOnlyList<int> Origins, Evaluation Evaluation, int BestStep);

/// <summary>
/// Rolling-origin evaluation with refits (Tashman 2000; what Darts calls historical forecasts with retrain): fold k of K
/// cuts every series at origin n - (K - k + 1) H, fits a new model with the run's recipe on the steps before the origin
/// alone (its scaling, its training windows and its validation part all lie there), and forecasts the H steps after it.
/// </summary>
internal static class ForecastBacktest
{
    /// <summary>
    /// Trains a fresh model for a fold's task as a training run does (<paramref name="architecture"/>, PyTorch's default
    /// initialisation from the options' seed, or the scan cells' own (<see cref="ScanCellInitializers"/>), the one training loop) and keeps, as a run keeps best.safetensors, the
    /// weights of the step with the lowest validation loss on the fold's own validation part (the H steps before its
    /// origin); the last weights when no validation improved on the start.
    /// </summary>
    public static (IRecurrentModel<float> Model, int BestStep) TrainFold(ForecastTask fold, ModelConfig architecture, TrainingOptions training)
    {
        ArgumentNullException.ThrowIfNull(fold);
        ArgumentNullException.ThrowIfNull(training);
        var model = RecurrentModels.Create<float>(fold.ModelConfig(architecture));
        if (Layers.RecurrentLayers.IsScanCell(model.Config.Cell))
        {
            // As a training run initialises them: the LRU's eigenvalues on its default ring, the min-cells as nn.Linear.
            ScanCellInitializers.Initialize(model, new Random(training.Seed));
        }
        else
        {
            Initializers.PyTorchDefault(model, new Random(training.Seed));
        }

        var best = new BestWeights(model);
        var trainer = new Trainer(model, training);
        trainer.Run(fold.TrainingBatches(training), fold.Validation(training), [best]);
        best.Restore();
        return (model, best.Step);
    }

    /// <summary>Runs the folds; <paramref name="train"/> trains a fresh model for a fold's task and says which step's weights it kept.</summary>
    /// <exception cref="UnrollException">The folds leave a series too short to train on.</exception>
    public static IReadOnlyList<BacktestFold> Run(ForecastSpec spec, IReadOnlyList<Series> series, int folds, Func<ForecastTask, (IRecurrentModel<float> Model, int BestStep)> train)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(train);
        if (folds < 1 || folds > 1000)
        {
            throw new UnrollException($"--folds: expected 1 to 1000 origins, got {folds}.");
        }

        int h = spec.Horizon;
        spec = spec with { HoldOutTest = false }; // a fold's test is the H steps after its origin

        // The first fold cuts every series shortest: each must still hold a context, a training target and a validation part.
        int minimum = spec.MinimumLength;
        foreach (var s in series)
        {
            int origin = s.Length - (folds * h);
            if (origin < minimum)
            {
                int fit = (s.Length - minimum) / h;
                throw new UnrollException(string.Create(CultureInfo.InvariantCulture,
                    $"--folds: {folds} folds of {h} steps leave series '{s.Id}' ({s.Length} steps) only {Math.Max(0, origin)} steps before the first fold's origin; training a fold needs at least {minimum} (a history of {spec.FirstOrigin} for the first window (--context), a training target of {h} and {h} held out for validation). ") +
                    (fit >= 1
                        ? string.Create(CultureInfo.InvariantCulture, $"At most {fit} {(fit == 1 ? "fold fits" : "folds fit")} it: use fewer --folds, or a model with a shorter --context.")
                        : "No fold fits it: leave it out of the file, or backtest a model with a shorter --context."));
            }
        }

        var results = new List<BacktestFold>(folds);
        for (int k = 1; k <= folds; k++)
        {
            var origins = series.Select(s => s.Length - ((folds - k + 1) * h)).ToArray();
            var seen = new Series[series.Count];
            for (int i = 0; i < series.Count; i++)
            {
                // Only the steps before the origin exist for this fold.
                seen[i] = series[i].Take(origins[i]);
            }

            var task = ForecastTask.FromSeries(spec, seen, string.Create(CultureInfo.InvariantCulture, $"fold {k} of {folds}"));
            var (model, bestStep) = train(task);
            var evaluation = ForecastTask.Score(model, task.Spec, series, origins,
                string.Create(CultureInfo.InvariantCulture, $"fold {k} of {folds}: the {h} steps after step {origins.Min()}{(origins.Distinct().Count() > 1 ? $" to {origins.Max()}" : string.Empty)} of {series.Count} series"), "backtest");
            results.Add(new BacktestFold(k, origins, evaluation, bestStep));
        }

        return results;
    }
}

/// <summary>Keeps a copy of the weights after every step whose validation loss is the lowest so far, and puts them back.</summary>
internal sealed class BestWeights(IRecurrentModel<float> model) : ITrainingObserver
{
    private float[]? _best;

    /// <summary>The step whose weights are kept (0: none yet).</summary>
    public int Step { get; private set; }

    /// <inheritdoc/>
    public void OnStep(Trainer trainer, StepMetrics metrics)
    {
        if (!double.IsNaN(metrics.ValidationLoss) && trainer.Best.Step == metrics.Step)
        {
            _best ??= new float[model.Parameters.Count];
            model.Parameters.Values.CopyTo(_best, 0);
            Step = metrics.Step;
        }
    }

    /// <summary>Puts the kept weights back into the model (nothing when no validation ran).</summary>
    public void Restore() => _best?.CopyTo(model.Parameters.Values, 0);
}
