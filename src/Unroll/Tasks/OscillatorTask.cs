using System.Globalization;
using Unroll.Data;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tasks;

/// <summary>
/// Forecasting the damped, driven oscillator: inputs (x_t, F_t), target x_{t+1}, per-step MSE; scored on
/// the test split by one-step and free-running MSE beside persistence and the Euler recurrence (docs/oscillator.md).
/// </summary>
internal sealed class OscillatorTask(OscillatorDataDescription description) : TrainingTask
{
    /// <summary>The metadata key of the description.</summary>
    public const string MetadataKey = OscillatorDataDescription.MetadataKey;

    private OscillatorDataset? _dataset;

    /// <summary>The data's options, seed and evaluation horizon.</summary>
    public OscillatorDataDescription Description { get; } = description;

    /// <inheritdoc/>
    public override string Name => "oscillator";

    /// <summary>The generated dataset (made on first use).</summary>
    public OscillatorDataset Dataset => _dataset ??= OscillatorDataset.Generate(Description.Options, Description.Seed);

    /// <summary>Reads the description written by <see cref="Metadata"/>.</summary>
    public static OscillatorTask FromJson(string json) => new(OscillatorDataDescription.FromJson(json));

    /// <inheritdoc/>
    public override string Describe()
    {
        var o = Description.Options;
        return string.Create(CultureInfo.InvariantCulture,
            $"oscillator sequences of {o.Steps} steps (m {o.Mass}, eta {o.Damping}, dt {o.TimeStep}, seed {Description.Seed}): {o.TrainCount} training, {o.ValidationCount} validation, {o.TestCount} test");
    }

    /// <inheritdoc/>
    protected override ModelConfig Shape => new()
    {
        InputSize = 2,
        OutputSize = 1,
        InputNames = [OscillatorDataset.PositionColumn, OscillatorDataset.ForceColumn],
        OutputNames = [OscillatorDataset.NextPositionColumn],
    };

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, string> Metadata => new Dictionary<string, string>(StringComparer.Ordinal) { [MetadataKey] = Description.ToJson() };

    /// <inheritdoc/>
    public override IBatchSource TrainingBatches(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new ShuffledBatches(new SequenceSetData(Dataset.Train), options.BatchSize, options.Seed);
    }

    /// <inheritdoc/>
    public override IValidation? Validation(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Dataset.Validation.Count == 0 ? null : new SequenceValidation(new SequenceSetData(Dataset.Validation), options.BatchSize);
    }

    /// <inheritdoc/>
    public override Evaluation Evaluate(IRecurrentModel<float> model, EvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        Refuse(options, horizon: false, testCount: false);
        var dataset = DatasetFor(options);
        int? horizon = options.Horizon ?? Description.Horizon;
        if (horizon is { } h && (h < 1 || h > dataset.Options.Steps))
        {
            throw new UnrollException($"--horizon: expected 1 to {dataset.Options.Steps} steps (the sequence length), got {h}.");
        }

        if (dataset.Test.Count == 0)
        {
            throw new UnrollException("the run has no test split (test-count 0); pass --test-count N to evaluate on N regenerated test sequences.");
        }

        var e = OscillatorEvaluation.Evaluate(model, dataset, horizon);
        return new Evaluation
        {
            Task = Name,
            Split = "test",
            Data = string.Create(CultureInfo.InvariantCulture, $"{e.Sequences} test sequences of {e.Steps} steps; free-running horizon {e.Horizon} steps"),
            Summary = new EvaluationTable("Test MSE beside the baselines", ["one-step MSE", "free-running MSE"],
            [
                new("model", [e.OneStepMse, e.FreeRunMse]),
                new("persistence (x_t+1 = x_t)", [e.PersistenceOneStepMse, e.PersistenceFreeRunMse]),
                new("Euler, true m and eta", [e.EulerOneStepMse, e.EulerFreeRunMse]),
            ]),
            Notes =
            [
                e.OneStepGainOverPersistence >= 1
                    ? string.Create(CultureInfo.InvariantCulture, $"One-step MSE is {e.OneStepGainOverPersistence:G3}x lower than persistence's.")
                    : string.Create(CultureInfo.InvariantCulture, $"One-step MSE is {1 / e.OneStepGainOverPersistence:G3}x higher than persistence's: the model has not learned the dynamics yet."),
            ],
            Figures = new Dictionary<string, double>(StringComparer.Ordinal)
            {
                ["one_step_mse"] = e.OneStepMse,
                ["free_run_mse"] = e.FreeRunMse,
                ["persistence_one_step_mse"] = e.PersistenceOneStepMse,
                ["persistence_free_run_mse"] = e.PersistenceFreeRunMse,
                ["euler_one_step_mse"] = e.EulerOneStepMse,
                ["euler_free_run_mse"] = e.EulerFreeRunMse,
                ["horizon"] = e.Horizon,
                ["sequences"] = e.Sequences,
            },
        };
    }

    /// <inheritdoc/>
    public override DiagnosisSample Sample(int sequences, EvaluationOptions options)
    {
        Refuse(options, testCount: false);
        var dataset = DatasetFor(options);
        bool validation = dataset.Validation.Count > 0;
        return SyntheticTask.SampleOf(validation ? dataset.Validation : dataset.Test, sequences, validation ? "validation" : "test");
    }

    private OscillatorDataset DatasetFor(EvaluationOptions options)
    {
        if (options.TestCount is not { } count)
        {
            return Dataset;
        }

        if (count < 1)
        {
            throw new UnrollException($"--test-count: expected at least 1 test sequence, got {count}.");
        }

        var changed = Description.Options with { TestCount = count };
        changed.Validate();
        return OscillatorDataset.Generate(changed, Description.Seed);
    }
}
