using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.Models;
using Unroll.Training;
using Unroll.Tensors;

namespace Unroll.Data.Tasks;

/// <summary>
/// A synthetic long-range benchmark: a seeded generator of sequences whose answer depends on inputs
/// far in the past, with the head that answers it and the loss (and accuracy) of the best model that
/// has no memory of those inputs, computed from the generator's own distribution. See docs/tasks.md.
/// </summary>
internal abstract class SequenceTask
{
    /// <summary>Creates a task for delay or length <paramref name="length"/> (its meaning depends on the task).</summary>
    protected SequenceTask(int length) => Length = length;

    /// <summary>The names of the tasks <see cref="Create"/> knows, as the CLI spells them.</summary>
    public static IReadOnlyList<string> Names { get; } = [AddingProblem.TaskName, CopyMemory.TaskName, TemporalOrder.TaskName];

    /// <summary>The task's name (adding, copy, temporal-order).</summary>
    public abstract string Name { get; }

    /// <summary>The length parameter T the task was created with.</summary>
    public int Length { get; }

    /// <summary>Steps in every generated sequence (T, or T + 20 for copy memory).</summary>
    public abstract int SequenceLength { get; }

    /// <summary>Names of the input columns (one column holding a token id for token tasks).</summary>
    public abstract IReadOnlyList<string> InputNames { get; }

    /// <summary>Names of the target columns (one column holding a class id for classification).</summary>
    public abstract IReadOnlyList<string> TargetNames { get; }

    /// <summary>Distinct input tokens for token tasks, 0 for dense inputs.</summary>
    public abstract int VocabularySize { get; }

    /// <summary>Outputs of the head: 1 for regression, the number of classes for classification.</summary>
    public abstract int OutputSize { get; }

    /// <summary>What the head predicts.</summary>
    public abstract HeadKind Head { get; }

    /// <summary>Whether the answer is read at every step or only at the last.</summary>
    public abstract Pooling Pooling { get; }

    /// <summary>The loss (MSE or cross-entropy in nats) of the best predictor without memory of the relevant inputs.</summary>
    public abstract double BaselineLoss { get; }

    /// <summary>That predictor's accuracy for classification tasks; NaN for regression.</summary>
    public virtual double BaselineAccuracy => double.NaN;

    /// <summary>One line saying what the baseline predicts.</summary>
    public abstract string BaselineDescription { get; }

    /// <summary>A model config with this task's inputs, head and names (embedding width = <paramref name="inputSize"/> for token tasks).</summary>
    public ModelConfig ModelConfig(Architecture architecture, int hiddenSize, int inputSize = 0) => new()
    {
        Architecture = architecture,
        HiddenSize = hiddenSize,
        InputSize = VocabularySize > 0 ? (inputSize > 0 ? inputSize : VocabularySize) : InputNames.Count,
        VocabularySize = VocabularySize,
        OutputSize = OutputSize,
        Head = Head,
        Pooling = Pooling,
        InputNames = VocabularySize > 0 ? [] : InputNames,
        OutputNames = Head == HeadKind.Classification ? [] : TargetNames,
    };

    /// <summary>Draws <paramref name="count"/> sequences from <paramref name="random"/>.</summary>
    public SequenceSet Generate(int count, SplitMix64 random)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        int steps = SequenceLength;
        var inputs = new double[(long)count * steps * InputNames.Count];
        var targets = new double[(long)count * steps * TargetNames.Count];
        for (int n = 0; n < count; n++)
        {
            Fill(
                inputs.AsSpan(n * steps * InputNames.Count, steps * InputNames.Count),
                targets.AsSpan(n * steps * TargetNames.Count, steps * TargetNames.Count),
                random);
        }

        return new SequenceSet(count, steps, InputNames, TargetNames, inputs, targets);
    }

    /// <summary>Writes one sequence: inputs [steps, inputs] and targets [steps, targets], step-major.</summary>
    protected abstract void Fill(Span<double> inputs, Span<double> targets, SplitMix64 random);

    /// <summary>The task called <paramref name="name"/> with length parameter <paramref name="length"/>.</summary>
    /// <exception cref="UnrollException">The name is unknown or the length out of range for the task.</exception>
    public static SequenceTask Create(string name, int length) => name switch
    {
        AddingProblem.TaskName => new AddingProblem(length),
        CopyMemory.TaskName => new CopyMemory(length),
        TemporalOrder.TaskName => new TemporalOrder(length),
        _ => throw new UnrollException($"task: expected one of {string.Join(", ", Names)}, got '{name}'."),
    };

    /// <summary>Throws unless <paramref name="length"/> is in [<paramref name="minimum"/>, 100000].</summary>
    protected static int CheckLength(string task, int length, int minimum) =>
        length >= minimum && length <= 100_000
            ? length
            : throw new UnrollException($"--length: the {task} task needs a length T from {minimum} to 100000, got {length}.");
}

/// <summary>
/// Which task, how long, how many sequences per split and the seed: enough to regenerate the data
/// exactly. Stored in model files and checkpoints under <see cref="MetadataKey"/>.
/// </summary>
internal sealed record TaskDataDescription
{
    /// <summary>The metadata key of the description.</summary>
    public const string MetadataKey = "unroll.task";

    /// <summary>The task's name.</summary>
    public string Task { get; init; } = AddingProblem.TaskName;

    /// <summary>The task's length parameter T.</summary>
    public int Length { get; init; } = 100;

    /// <summary>Training sequences.</summary>
    public int TrainCount { get; init; } = 10_000;

    /// <summary>Validation sequences.</summary>
    public int ValidationCount { get; init; } = 256;

    /// <summary>Test sequences.</summary>
    public int TestCount { get; init; } = 1000;

    /// <summary>Seeds the three splits.</summary>
    public int Seed { get; init; } = 1;

    private static readonly JsonSerializerOptions JsonOptions = IO.Json.Options(new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase }, IO.EnumNames.Numbers, DataJsonContext.Default, DataJson.Enums);

    /// <summary>The task this describes.</summary>
    [JsonIgnore]
    public SequenceTask Definition => SequenceTask.Create(Task, Length);

    /// <summary>Checks the counts and the task.</summary>
    /// <exception cref="UnrollException">A count or the task is out of range.</exception>
    public void Validate()
    {
        _ = Definition;
        Checks.IntegerRange(TrainCount, 1, 10_000_000, "train-count", "a number of sequences");
        Checks.IntegerRange(ValidationCount, 0, 10_000_000, "validation-count", "a number of sequences");
        Checks.IntegerRange(TestCount, 0, 10_000_000, "test-count", "a number of sequences");
        // Each split is held as doubles twice while it is built (the generator's arrays and the set's copy).
        double values = ((double)TrainCount + ValidationCount + TestCount) * Definition.SequenceLength * (Definition.InputNames.Count + Definition.TargetNames.Count);
        MemoryBudget.Check(values * 16, $"train-count, validation-count and test-count: {(double)TrainCount + ValidationCount + TestCount} sequences of {Definition.SequenceLength} steps");
    }

    /// <summary>
    /// The three splits, each drawn from its own generator. The generators' seeds come from one
    /// SplitMix64 stream seeded by <see cref="Seed"/>, so a split does not depend on the others' sizes.
    /// </summary>
    public (SequenceSet Train, SequenceSet Validation, SequenceSet Test) Generate()
    {
        Validate();
        var task = Definition;
        var (train, validation, test) = SplitGenerators();
        return (task.Generate(TrainCount, train), task.Generate(ValidationCount, validation), task.Generate(TestCount, test));
    }

    /// <summary>The test split alone, exactly as <see cref="Generate"/> draws it.</summary>
    public SequenceSet GenerateTest() => GenerateSplit(2);

    /// <summary>One split alone (0 training, 1 validation, 2 test), exactly as <see cref="Generate"/> draws it.</summary>
    public SequenceSet GenerateSplit(int split)
    {
        Validate();
        var generators = SplitGenerators();
        return split switch
        {
            0 => Definition.Generate(TrainCount, generators.Train),
            1 => Definition.Generate(ValidationCount, generators.Validation),
            2 => Definition.Generate(TestCount, generators.Test),
            _ => throw new ArgumentOutOfRangeException(nameof(split), split, "Expected 0 (training), 1 (validation) or 2 (test)."),
        };
    }

    private (SplitMix64 Train, SplitMix64 Validation, SplitMix64 Test) SplitGenerators()
    {
        var seeds = new SplitMix64(Seed);
        var train = new SplitMix64(unchecked((long)seeds.NextUInt64()));
        var validation = new SplitMix64(unchecked((long)seeds.NextUInt64()));
        return (train, validation, new SplitMix64(unchecked((long)seeds.NextUInt64())));
    }

    /// <summary>The description as JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, IO.Json.Info<TaskDataDescription>(JsonOptions));

    /// <summary>Reads a description written by <see cref="ToJson"/>.</summary>
    /// <exception cref="UnrollException">The JSON is invalid or describes an invalid task.</exception>
    public static TaskDataDescription FromJson(string json)
    {
        try
        {
            var description = IO.Json.Deserialize(json, JsonOptions, new TaskDataDescription())
                ?? throw new UnrollException("task description: expected a JSON object, got null.");
            description.Validate();
            return description;
        }
        catch (JsonException e)
        {
            throw new UnrollException($"task description: expected the JSON of a task description, got invalid JSON ({e.Message}).", e);
        }
    }
}
