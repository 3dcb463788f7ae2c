using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tasks;

/// <summary>
/// Options of <c>unroll eval</c> and <c>unroll diagnose</c> that change what a task scores; a task refuses
/// the ones that do not apply to it, naming them.
/// </summary>
/// <param name="Horizon">The oscillator's free-running horizon.</param>
/// <param name="TestCount">Regenerate the test split of a generated task with this many sequences, or score the first N test images.</param>
/// <param name="Input">Score this file instead of the model's own held-out part (text, CSV).</param>
/// <param name="DataDirectory">Where the IDX files are now (images).</param>
internal sealed record EvaluationOptions(int? Horizon = null, int? TestCount = null, string? Input = null, string? DataDirectory = null);

/// <summary>
/// A few held-out sequences for the diagnostics (gradient flow, Jacobian products), time-major as the
/// training loop's batches: inputs [T, B, I] (token ids as numbers for token models) and targets [T, B, W].
/// </summary>
internal sealed record DiagnosisSample(float[] Inputs, float[] Targets, int Steps, int Batch, string Description);

/// <summary>
/// A data source made trainable: the oscillator, a long-range task, a text, images or a CSV series.
/// It says what a model for it reads and predicts, supplies the training loop's batches and the
/// validation measure, scores a trained model on its held-out data beside its baselines, gives a
/// sample for the diagnostics, and describes itself in metadata so that a model file or checkpoint
/// rebuilds it (<see cref="FromMetadata"/>). No task has a training loop of its own: <see cref="Trainer"/> runs them all.
/// </summary>
internal abstract class TrainingTask
{
    /// <summary>The task's name as the command line spells it (oscillator, adding, copy, temporal-order, text, fashion-mnist, csv, forecast).</summary>
    public abstract string Name { get; }

    /// <summary>One sentence: where the data comes from and how it is split.</summary>
    public abstract string Describe();

    /// <summary>
    /// What a model of this task reads and predicts: inputs (dense width and names, or a vocabulary with
    /// the default embedding width as <see cref="ModelConfig.InputSize"/>), outputs, head and pooling.
    /// </summary>
    protected abstract ModelConfig Shape { get; }

    /// <summary>Whether a layer may run backwards: not when the task answers at every step from the past alone.</summary>
    public virtual bool AllowsBidirectional => Shape.Pooling == Pooling.LastStep;

    /// <summary>The name of the loss the head trains with, for progress lines and plots.</summary>
    public string LossName => Shape.Head == HeadKind.Classification ? "cross-entropy" : Shape.Distribution switch
    {
        OutputDistribution.Gaussian => "Gaussian NLL",
        OutputDistribution.StudentT => "Student-t NLL",
        OutputDistribution.Quantiles => "pinball loss",
        _ => "MSE",
    };

    /// <summary>
    /// The config of a model for this task: <paramref name="architecture"/>'s cell, sizes and layers with the
    /// task's inputs, outputs, head and names (a token task's embedding width is <paramref name="embedding"/> or its default).
    /// </summary>
    /// <exception cref="UnrollException">The architecture does not fit the task.</exception>
    public ModelConfig ModelConfig(ModelConfig architecture, int? embedding = null)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        var shape = Shape;
        if (embedding is not null && shape.VocabularySize == 0)
        {
            throw new UnrollException($"--embedding: the {Name} task reads dense inputs; expected no --embedding.");
        }

        if (embedding is < 1)
        {
            throw new UnrollException($"--embedding: expected a positive width, got {embedding}.");
        }

        if (architecture.Bidirectional && !AllowsBidirectional)
        {
            throw new UnrollException($"--bidirectional: the {Name} task answers at every step from the steps before it, which a backward-running direction would read from the future; expected a unidirectional model.");
        }

        var config = architecture with
        {
            InputSize = shape.VocabularySize > 0 ? embedding ?? shape.InputSize : shape.InputSize,
            VocabularySize = shape.VocabularySize,
            OutputSize = shape.OutputSize,
            Head = shape.Head,
            Pooling = shape.Pooling,
            Distribution = shape.Distribution,
            Quantiles = shape.Quantiles,
            InputNames = shape.InputNames,
            OutputNames = shape.OutputNames,
        };
        config.Validate();
        return config;
    }

    /// <summary>Refuses a model that does not read and predict what this task gives it (a model of another task, or a forged config).</summary>
    /// <exception cref="UnrollException">The model's inputs, outputs, head or pooling differ from the task's.</exception>
    public void CheckModel(ModelConfig config, string path)
    {
        ArgumentNullException.ThrowIfNull(config);
        var shape = Shape;
        bool inputsFit = shape.VocabularySize > 0 ? config.VocabularySize == shape.VocabularySize : config.VocabularySize == 0 && config.InputSize == shape.InputSize;
        bool namesFit = shape.VocabularySize > 0 || config.InputNames.Count == 0 || config.InputNames.SequenceEqual(shape.InputNames);
        if (!inputsFit || !namesFit || config.OutputSize != shape.OutputSize || config.Head != shape.Head || config.Pooling != shape.Pooling
            || config.Distribution != shape.Distribution || !(config.Quantiles ?? []).SequenceEqual(shape.Quantiles ?? []))
        {
            throw new UnrollException(
                $"{path}: holds a model that reads {Reads(config)} and predicts {Predicts(config)}; its {Name} task ({Describe()}) needs one that reads {Reads(shape)} and predicts {Predicts(shape)}.");
        }

        if (config.Bidirectional && !AllowsBidirectional)
        {
            throw new UnrollException($"{path}: holds a bidirectional model; the {Name} task answers at every step from the past, which a backward direction would read from the future.");
        }
    }

    /// <summary>Refuses to continue a run whose data files changed since it started (nothing to check for generated data).</summary>
    /// <exception cref="UnrollException">A data file is gone or its contents differ.</exception>
    public virtual void CheckUnchanged()
    {
    }

    /// <summary>The training loop's batches: whole sequences in a seeded order, or a stream read window by window.</summary>
    public abstract IBatchSource TrainingBatches(TrainingOptions options);

    /// <summary>The validation measure the loop reports every few steps, or null when the task has no validation part.</summary>
    public abstract IValidation? Validation(TrainingOptions options);

    /// <summary>Scores <paramref name="model"/> on the task's held-out data beside its baselines.</summary>
    /// <exception cref="UnrollException">An option does not apply to this task, or the data cannot be read.</exception>
    public abstract Evaluation Evaluate(IRecurrentModel<float> model, EvaluationOptions options);

    /// <summary>The first <paramref name="sequences"/> held-out sequences (or stream windows), for the diagnostics.</summary>
    public abstract DiagnosisSample Sample(int sequences, EvaluationOptions options);

    /// <summary>The model-file metadata entries that rebuild this task.</summary>
    public abstract IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Refuses evaluation options that do not apply to this task, naming them.</summary>
    protected void Refuse(EvaluationOptions options, bool horizon = true, bool testCount = true, bool input = true, bool dataDirectory = true)
    {
        ArgumentNullException.ThrowIfNull(options);
        var refused = new List<string>();
        if (horizon && options.Horizon is not null)
        {
            refused.Add("--horizon");
        }

        if (testCount && options.TestCount is not null)
        {
            refused.Add("--test-count");
        }

        if (input && !string.IsNullOrEmpty(options.Input))
        {
            refused.Add("--input");
        }

        if (dataDirectory && !string.IsNullOrEmpty(options.DataDirectory))
        {
            refused.Add("--data-dir");
        }

        if (refused.Count > 0)
        {
            throw new UnrollException($"{string.Join(", ", refused)}: {(refused.Count == 1 ? "does" : "do")} not apply to a model of the {Name} task.");
        }
    }

    /// <summary>
    /// Rebuilds the task a model file or checkpoint was trained on from its metadata; null when it names
    /// none (an imported model). Files with data (text, images, CSV) are read only when the task needs them.
    /// </summary>
    /// <exception cref="UnrollException">A task description is malformed.</exception>
    public static TrainingTask? FromMetadata(IReadOnlyDictionary<string, string> metadata, string path)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        try
        {
            if (metadata.TryGetValue(OscillatorTask.MetadataKey, out var oscillator))
            {
                return OscillatorTask.FromJson(oscillator);
            }

            if (metadata.TryGetValue(Data.Tasks.TaskDataDescription.MetadataKey, out var task))
            {
                return new SyntheticTask(Data.Tasks.TaskDataDescription.FromJson(task));
            }

            if (metadata.ContainsKey(Data.Text.Vocabulary.MetadataKey))
            {
                return TextTask.FromMetadata(metadata);
            }

            if (metadata.TryGetValue(Data.Images.ImageSequenceDescription.MetadataKey, out var images))
            {
                return new ImageTask(Data.Images.ImageSequenceDescription.FromJson(images)) { Fingerprint = metadata.GetValueOrDefault(DataFingerprint.MetadataKey) };
            }

            if (metadata.ContainsKey(Forecasts.ForecastSpec.MetadataKey))
            {
                return ForecastTask.FromMetadata(metadata);
            }

            if (metadata.ContainsKey(Data.Tables.TimeSeriesTask.MetadataKey))
            {
                return CsvTask.FromMetadata(metadata);
            }
        }
        catch (UnrollException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new UnrollException($"{path}: {e.Message}", e);
        }

        return null;
    }

    private static string Reads(ModelConfig config) => config.VocabularySize > 0
        ? $"token ids of a vocabulary of {config.VocabularySize}"
        : $"{config.InputSize} input{(config.InputSize == 1 ? string.Empty : "s")}{(config.InputNames.Count > 0 ? $" ({string.Join(", ", config.InputNames)})" : string.Empty)}";

    private static string Predicts(ModelConfig config) =>
        $"{config.OutputSize} {(config.Head == HeadKind.Classification ? "class score" : "value")}{(config.OutputSize == 1 ? string.Empty : "s")} {(config.Pooling == Pooling.LastStep ? "once per sequence" : "at every step")}";
}
