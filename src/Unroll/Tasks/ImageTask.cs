using System.Globalization;
using Unroll.Data.Images;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tasks;

/// <summary>
/// Fashion-MNIST classified from its images read as sequences (rows, pixels or a fixed permutation of the
/// pixels; docs/data.md): the last N training images are the validation part, the test images are scored
/// by accuracy (overall and per class) and cross-entropy beside always guessing the most frequent class.
/// </summary>
internal sealed class ImageTask(ImageSequenceDescription description) : TrainingTask
{
    private (SequentialImages Train, SequentialImages Validation)? _training;

    /// <summary>How the images become sequences, where they are, and how many are used.</summary>
    public ImageSequenceDescription Description { get; } = description;

    /// <summary>The SHA-256 of the training images and labels, recorded when the run started.</summary>
    public string? Fingerprint { get; init; }

    /// <inheritdoc/>
    public override string Name => Description.Dataset;

    /// <summary>Reads the description written by <see cref="Metadata"/>.</summary>
    public static ImageTask FromJson(string json) => new(ImageSequenceDescription.FromJson(json));

    /// <summary>
    /// A new run over the IDX files in <paramref name="directory"/>: reads and splits the training images
    /// now, so that a bad file or count is reported before anything is written.
    /// </summary>
    /// <exception cref="UnrollException">A file is missing or malformed, or a count is out of range.</exception>
    public static ImageTask Create(string directory, PixelOrder order, long permutationSeed, int? trainCount, int validationCount, int? testCount)
    {
        var all = FashionMnist.Load(directory, train: true, PixelOrder.Rows, null);
        int[]? permutation = order == PixelOrder.Permuted ? SequentialImages.Permutation(all.Rows * all.Columns, permutationSeed) : null;
        var description = new ImageSequenceDescription("fashion-mnist", order, all.Rows, all.Columns, permutationSeed, permutation, Path.GetFullPath(directory), trainCount, validationCount, testCount);
        var files = FashionMnist.Files(directory, train: true);
        var task = new ImageTask(description) { Fingerprint = DataFingerprint.Of(files.Images, files.Labels) };
        task._training = task.Split(all.WithOrder(order, permutation));
        return task;
    }

    /// <inheritdoc/>
    public override string Describe()
    {
        if (_training is not var (train, validation))
        {
            return $"Fashion-MNIST from {Description.DataDirectory} read as {Description.Order.ToString().ToLowerInvariant()}";
        }

        return string.Create(CultureInfo.InvariantCulture,
            $"Fashion-MNIST from {Description.DataDirectory}: {train.Count} training and {validation.Count} validation images as {train.Steps} steps of {train.InputSize} ({Description.Order.ToString().ToLowerInvariant()})");
    }

    /// <inheritdoc/>
    protected override ModelConfig Shape => new()
    {
        InputSize = Description.Order == PixelOrder.Rows ? Description.Columns : 1,
        OutputSize = FashionMnist.ClassNames.Count,
        Head = HeadKind.Classification,
        Pooling = Pooling.LastStep,
        OutputNames = FashionMnist.ClassNames,
    };

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, string> Metadata
    {
        get
        {
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [ImageSequenceDescription.MetadataKey] = Description.ToJson() };
            if (Fingerprint is not null)
            {
                metadata[DataFingerprint.MetadataKey] = Fingerprint;
            }

            return metadata;
        }
    }

    private (SequentialImages Train, SequentialImages Validation) Training => _training ??= Split(LoadTraining());

    /// <inheritdoc/>
    public override void CheckUnchanged()
    {
        var files = FashionMnist.Files(Description.DataDirectory, train: true);
        DataFingerprint.Check(Description.DataDirectory, Fingerprint, files.Images, files.Labels);
    }

    /// <inheritdoc/>
    public override IBatchSource TrainingBatches(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new ShuffledBatches(new ImageSequenceData(Training.Train), options.BatchSize, options.Seed);
    }

    /// <inheritdoc/>
    public override IValidation? Validation(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new SequenceValidation(new ImageSequenceData(Training.Validation), Math.Max(options.BatchSize, 256));
    }

    /// <inheritdoc/>
    public override Evaluation Evaluate(IRecurrentModel<float> model, EvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        Refuse(options, testCount: false, dataDirectory: false);
        var test = LoadTest(options);
        int classes = FashionMnist.ClassNames.Count;
        var (loss, accuracy, perClass, counts) = Score(model, new ImageSequenceData(test), classes);
        int majority = Array.IndexOf(counts, counts.Max());
        double majorityShare = (double)counts[majority] / test.Count;
        // Always answering the most frequent class with its frequency as the probability: cross-entropy -ln(share).
        double majorityLoss = -Math.Log(majorityShare);
        var figures = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["accuracy"] = accuracy,
            ["loss"] = loss,
            ["count"] = test.Count,
            ["baseline_accuracy"] = majorityShare,
        };
        return new Evaluation
        {
            Task = Name,
            Split = "test",
            Data = string.Create(CultureInfo.InvariantCulture, $"{test.Count} test images from {DirectoryFor(options)}, read as {test.Steps} steps of {test.InputSize} ({Description.Order.ToString().ToLowerInvariant()})"),
            Summary = new EvaluationTable("Test accuracy and cross-entropy", ["accuracy", "cross-entropy"],
            [
                new("model", [accuracy, loss]),
                new($"most frequent class ({FashionMnist.ClassNames[majority]})", [majorityShare, majorityLoss]),
            ]),
            Breakdown = new EvaluationTable("Accuracy per class", ["accuracy", "images"],
                [.. Enumerable.Range(0, classes).Select(c => new EvaluationRow($"{c} {FashionMnist.ClassNames[c]}", [perClass[c], counts[c]]))]),
            Figures = figures,
        };
    }

    /// <inheritdoc/>
    public override DiagnosisSample Sample(int sequences, EvaluationOptions options)
    {
        Refuse(options, dataDirectory: false);
        if (sequences < 1)
        {
            throw new UnrollException($"--sequences: expected at least 1, got {sequences}.");
        }

        var validation = Training.Validation;
        int batch = Math.Min(sequences, validation.Count);
        var inputs = new float[validation.Steps * batch * validation.InputSize];
        var targets = new float[validation.Steps * batch];
        new ImageSequenceData(validation).CopyBatch(Enumerable.Range(0, batch).ToArray(), inputs, targets);
        return new DiagnosisSample(inputs, targets, validation.Steps, batch, string.Create(CultureInfo.InvariantCulture, $"{batch} validation images of {validation.Steps} steps"));
    }

    /// <summary>The test images (the first --test-count of them) in the model's order, from <see cref="EvaluationOptions.DataDirectory"/> or where training found them.</summary>
    /// <exception cref="UnrollException">The files are missing or malformed, hold images of another size, or the count is out of range.</exception>
    public SequentialImages LoadTest(EvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        string directory = DirectoryFor(options);
        var test = FashionMnist.Load(directory, train: false, PixelOrder.Rows, null);
        if (test.Rows != Description.Rows || test.Columns != Description.Columns)
        {
            throw new UnrollException($"{directory}: test images are {test.Rows} x {test.Columns}; the model was trained on {Description.Rows} x {Description.Columns}.");
        }

        test = test.WithOrder(Description.Order, Description.Permutation);
        int? count = options.TestCount ?? Description.TestCount;
        if (count is { } n)
        {
            if (n < 1 || n > test.Count)
            {
                throw new UnrollException($"--test-count: expected 1 to {test.Count} test images, got {n}.");
            }

            test = test.Slice(0, n);
        }

        return test;
    }

    private string DirectoryFor(EvaluationOptions options) => string.IsNullOrEmpty(options.DataDirectory) ? Description.DataDirectory : options.DataDirectory;

    private SequentialImages LoadTraining()
    {
        var all = FashionMnist.Load(Description.DataDirectory, train: true, PixelOrder.Rows, null);
        if (all.Rows != Description.Rows || all.Columns != Description.Columns)
        {
            throw new UnrollException($"{Description.DataDirectory}: training images are {all.Rows} x {all.Columns}; the model was trained on {Description.Rows} x {Description.Columns}.");
        }

        return all.WithOrder(Description.Order, Description.Permutation);
    }

    private (SequentialImages Train, SequentialImages Validation) Split(SequentialImages all)
    {
        int held = Description.ValidationCount;
        if (held < 1 || held >= all.Count)
        {
            throw new UnrollException($"--validation-count: expected 1 to {all.Count - 1} of the {all.Count} training images, got {held}.");
        }

        int available = all.Count - held;
        int used = Description.TrainCount ?? available;
        if (used < 1 || used > available)
        {
            throw new UnrollException($"--train-count: expected 1 to {available} images (the training images before the {held} held out), got {used}.");
        }

        return (all.Slice(0, used), all.Slice(all.Count - held, held));
    }

    // One pass over the images: the mean cross-entropy, the accuracy, and the accuracy and count per true class.
    private static (double Loss, double Accuracy, double[] PerClass, int[] Counts) Score(IRecurrentModel<float> model, ImageSequenceData data, int classes)
    {
        var counts = new int[classes];
        var right = new int[classes];
        const int batch = 256;
        var inputs = new float[data.Steps * batch * data.InputWidth];
        var targets = new float[data.Steps * batch];
        var indices = new int[batch];
        double lossSum = 0;
        model.Training = false;
        for (int start = 0; start < data.Count; start += batch)
        {
            int count = Math.Min(batch, data.Count - start);
            for (int i = 0; i < count; i++)
            {
                indices[i] = start + i;
            }

            var x = inputs.AsSpan(0, data.Steps * count * data.InputWidth);
            var y = targets.AsSpan(0, data.Steps * count);
            data.CopyBatch(indices.AsSpan(0, count), x, y);
            model.Run(x, y, data.Steps, count);
            lossSum += HeadLoss.Compute<float>(model.Config, model.Predictions, y, data.Steps, count, Span<float>.Empty).Loss * count;
            var logits = model.Predictions;
            for (int b = 0; b < count; b++)
            {
                int label = (int)y[((data.Steps - 1) * count) + b];
                var row = logits.Slice(b * classes, classes);
                int best = 0;
                for (int c = 1; c < classes; c++)
                {
                    best = row[c] > row[best] ? c : best;
                }

                counts[label]++;
                right[label] += best == label ? 1 : 0;
            }
        }

        var perClass = Enumerable.Range(0, classes).Select(c => counts[c] == 0 ? double.NaN : (double)right[c] / counts[c]).ToArray();
        return (lossSum / data.Count, (double)right.Sum() / data.Count, perClass, counts);
    }
}

/// <summary>Images as <see cref="ISequenceData"/>: pixels time-major, each image's label as the target of every step.</summary>
internal sealed class ImageSequenceData(SequentialImages images) : ISequenceData
{
    private int[] _labels = [];

    /// <inheritdoc/>
    public int Count => images.Count;

    /// <inheritdoc/>
    public int Steps => images.Steps;

    /// <inheritdoc/>
    public int InputWidth => images.InputSize;

    /// <inheritdoc/>
    public int TargetWidth => 1;

    /// <inheritdoc/>
    public void CopyBatch(ReadOnlySpan<int> indices, Span<float> inputs, Span<float> targets)
    {
        int batch = indices.Length;
        if (_labels.Length < batch)
        {
            _labels = new int[batch];
        }

        var labels = _labels.AsSpan(0, batch);
        images.CopyBatch(indices, inputs, labels);
        for (int t = 0; t < images.Steps; t++)
        {
            for (int b = 0; b < batch; b++)
            {
                targets[(t * batch) + b] = labels[b];
            }
        }
    }
}
