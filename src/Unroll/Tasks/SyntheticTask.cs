using System.Globalization;
using Unroll.Data;
using Unroll.Data.Tasks;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tasks;

/// <summary>
/// A generated long-range benchmark (adding problem, copy memory, temporal order; docs/tasks.md): seeded
/// splits regenerated from their description, scored on the test split beside the memoryless baseline.
/// </summary>
/// <param name="description">The task, its length, the split sizes and the seed.</param>
/// <param name="monitorTest">Report the test split as the validation measure during training (the experiment grids plot it).</param>
internal sealed class SyntheticTask(TaskDataDescription description, bool monitorTest = false) : TrainingTask
{
    /// <summary>The metadata key that marks a run monitored on its test split.</summary>
    public const string MonitorKey = "unroll.monitor";

    private readonly SequenceSet?[] _splits = new SequenceSet?[3];

    /// <summary>The task's description.</summary>
    public TaskDataDescription Description { get; } = description;

    /// <summary>The task's definition (generator, head, baseline).</summary>
    public SequenceTask Definition { get; } = description.Definition;

    /// <summary>Whether the validation measure during training is the test split.</summary>
    public bool MonitorTest { get; } = monitorTest;

    /// <inheritdoc/>
    public override string Name => Definition.Name;

    // Each split is generated when first used: evaluating a model needs only its test split.
    private SequenceSet Train => _splits[0] ??= Description.GenerateSplit(0);

    private SequenceSet ValidationSplit => _splits[1] ??= Description.GenerateSplit(1);

    private SequenceSet Test => _splits[2] ??= Description.GenerateSplit(2);

    /// <inheritdoc/>
    public override string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Definition.Name} sequences of {Definition.SequenceLength} steps (T = {Definition.Length}, seed {Description.Seed}): {Description.TrainCount} training, {Description.ValidationCount} validation, {Description.TestCount} test; baseline ({Definition.BaselineDescription}) {LossName} {Definition.BaselineLoss:G4}");

    /// <inheritdoc/>
    protected override ModelConfig Shape => Definition.ModelConfig(Architecture.Rnn, 1);

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, string> Metadata
    {
        get
        {
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [TaskDataDescription.MetadataKey] = Description.ToJson() };
            if (MonitorTest)
            {
                metadata[MonitorKey] = "{\"split\":\"test\"}";
            }

            return metadata;
        }
    }

    /// <inheritdoc/>
    public override IBatchSource TrainingBatches(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new ShuffledBatches(new SequenceSetData(Train), options.BatchSize, options.Seed);
    }

    /// <inheritdoc/>
    public override IValidation? Validation(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var monitored = MonitorTest ? Test : ValidationSplit;
        return monitored.Count == 0 ? null : new SequenceValidation(new SequenceSetData(monitored), Math.Max(options.BatchSize, 128));
    }

    /// <inheritdoc/>
    public override Evaluation Evaluate(IRecurrentModel<float> model, EvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        Refuse(options, testCount: false);
        var description = Description;
        if (options.TestCount is { } count)
        {
            description = description with { TestCount = count };
            description.Validate();
        }

        var test = options.TestCount is null ? Test : description.GenerateTest();
        var e = TaskEvaluation.Evaluate(model, Definition, test);
        bool classification = e.Accuracy is not null;
        var figures = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["loss"] = e.Loss,
            ["baseline_loss"] = e.BaselineLoss,
            ["length"] = e.Length,
            ["sequences"] = e.Sequences,
        };
        if (classification)
        {
            figures["accuracy"] = e.Accuracy!.Value;
            figures["baseline_accuracy"] = e.BaselineAccuracy!.Value;
        }

        return new Evaluation
        {
            Task = Name,
            Split = "test",
            Data = string.Create(CultureInfo.InvariantCulture, $"{e.Sequences} test sequences, T = {e.Length}"),
            Summary = classification
                ? new EvaluationTable("Test loss beside the memoryless baseline", ["cross-entropy", "accuracy"],
                    [new("model", [e.Loss, e.Accuracy!.Value]), new("memoryless baseline", [e.BaselineLoss, e.BaselineAccuracy!.Value])])
                : new EvaluationTable("Test loss beside the memoryless baseline", ["MSE"],
                    [new("model", [e.Loss]), new("memoryless baseline", [e.BaselineLoss])]),
            Notes =
            [
                $"The baseline predicts: {e.Baseline}.",
                string.Create(CultureInfo.InvariantCulture, $"The model's {LossName} is {e.Loss / e.BaselineLoss:G3} of the baseline's."),
            ],
            Figures = figures,
        };
    }

    /// <inheritdoc/>
    public override DiagnosisSample Sample(int sequences, EvaluationOptions options)
    {
        Refuse(options, testCount: false);
        bool validation = ValidationSplit.Count > 0;
        var test = options.TestCount is { } count
            ? (Description with { TestCount = count }) is var changed && changed.TestCount >= 1 ? changed.GenerateTest() : throw new UnrollException($"--test-count: expected at least 1 test sequence, got {count}.")
            : Test;
        return SampleOf(validation ? ValidationSplit : test, sequences, validation ? "validation" : "test");
    }

    /// <summary>The first <paramref name="sequences"/> sequences of <paramref name="set"/>, time-major.</summary>
    /// <exception cref="UnrollException">The set is empty or <paramref name="sequences"/> is below 1.</exception>
    internal static DiagnosisSample SampleOf(SequenceSet set, int sequences, string split)
    {
        if (sequences < 1)
        {
            throw new UnrollException($"--sequences: expected at least 1, got {sequences}.");
        }

        if (set.Count == 0)
        {
            throw new UnrollException($"diagnose: the {split} split holds no sequence to measure on.");
        }

        int batch = Math.Min(sequences, set.Count);
        var inputs = new float[set.Length * batch * set.InputSize];
        var targets = new float[set.Length * batch * set.TargetSize];
        set.CopyBatchTimeMajor<float>(Enumerable.Range(0, batch).ToArray(), inputs, targets);
        return new DiagnosisSample(inputs, targets, set.Length, batch, string.Create(CultureInfo.InvariantCulture, $"{batch} {split} sequences of {set.Length} steps"));
    }
}
