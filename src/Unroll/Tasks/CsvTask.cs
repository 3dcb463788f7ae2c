using System.Globalization;
using Unroll.Data;
using Unroll.Data.Tables;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tasks;

/// <summary>
/// A user's time series in a CSV file (docs/data.md): named input columns predict named target columns
/// <see cref="TimeSeriesTask.Shift"/> rows later; values are normalised with the training part's mean and
/// standard deviation (stored in the model); the training rows are cut into windows, the last fraction is
/// the validation part, scored per target in the targets' own units beside always predicting the training mean.
/// </summary>
internal sealed class CsvTask : TrainingTask
{
    private (SequenceSet Train, SequenceSet Validation)? _splits;

    /// <summary>A task described by <paramref name="series"/> (with its normalisation), reading its file when it needs the data.</summary>
    public CsvTask(TimeSeriesTask series, string? fingerprint = null)
    {
        ArgumentNullException.ThrowIfNull(series);
        Series = series;
        Fingerprint = fingerprint;
    }

    /// <summary>The columns, shift, window, split and normalisation.</summary>
    public TimeSeriesTask Series { get; private set; }

    /// <summary>The SHA-256 of the file, recorded when the run started.</summary>
    public string? Fingerprint { get; private set; }

    /// <inheritdoc/>
    public override string Name => "csv";

    /// <summary>
    /// A new run over <paramref name="path"/>: reads the columns, sets the normalisation from the training
    /// part and cuts the windows now, so a bad file or split is reported before anything is written.
    /// </summary>
    /// <exception cref="UnrollException">The file or a column is missing or malformed, or it has too few rows.</exception>
    public static CsvTask Create(string path, TimeSeriesTask series)
    {
        ArgumentNullException.ThrowIfNull(series);
        series = series with { Source = Path.GetFullPath(path) };
        series.Validate();
        var (prepared, train, validation) = series.Prepare(series.ReadColumns(path));
        return new CsvTask(prepared, DataFingerprint.Of(path)) { _splits = (train, validation) };
    }

    /// <summary>Rebuilds the task from a model file's metadata.</summary>
    public static CsvTask FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        return new CsvTask(TimeSeriesTask.FromJson(metadata[TimeSeriesTask.MetadataKey]), metadata.GetValueOrDefault(DataFingerprint.MetadataKey));
    }

    /// <inheritdoc/>
    public override string Describe()
    {
        var s = Series;
        string columns = $"inputs {string.Join(", ", s.Inputs)} -> targets {string.Join(", ", s.Targets)} {s.Shift} row{(s.Shift == 1 ? string.Empty : "s")} later";
        return _splits is { } splits
            ? string.Create(CultureInfo.InvariantCulture, $"{s.Source}: {columns}; {splits.Train.Count} training windows of {s.Window} steps, {splits.Validation.Length} validation steps")
            : $"{s.Source}: {columns}";
    }

    /// <inheritdoc/>
    protected override ModelConfig Shape => new()
    {
        InputSize = Series.Inputs.Count,
        OutputSize = Series.Targets.Count,
        InputNames = Series.Inputs,
        OutputNames = Series.Targets,
    };

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, string> Metadata
    {
        get
        {
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [TimeSeriesTask.MetadataKey] = Series.ToJson() };
            if (Fingerprint is not null)
            {
                metadata[DataFingerprint.MetadataKey] = Fingerprint;
            }

            return metadata;
        }
    }

    private (SequenceSet Train, SequenceSet Validation) Splits
    {
        get
        {
            if (_splits is null)
            {
                if (!File.Exists(Series.Source))
                {
                    throw new UnrollException($"{Series.Source}: the training file no longer exists; pass --input FILE to score another file with the same columns.");
                }

                var (_, train, validation) = Series.Prepare(Series.ReadColumns(Series.Source));
                _splits = (train, validation);
            }

            return _splits.Value;
        }
    }

    /// <inheritdoc/>
    public override void CheckUnchanged() => DataFingerprint.Check(Series.Source, Fingerprint, Series.Source);

    /// <inheritdoc/>
    public override IBatchSource TrainingBatches(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new ShuffledBatches(new SequenceSetData(Splits.Train), options.BatchSize, options.Seed);
    }

    /// <inheritdoc/>
    public override IValidation? Validation(TrainingOptions options) => new SequenceValidation(new SequenceSetData(Splits.Validation), 1);

    /// <inheritdoc/>
    public override Evaluation Evaluate(IRecurrentModel<float> model, EvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        Refuse(options, input: false);
        var (inputs, targets, steps, what) = Scored(options);
        int outputs = Series.Targets.Count;
        var predictions = Predict(model, inputs, steps);
        var mse = new double[outputs];
        var baseline = new double[outputs];
        for (int t = 0; t < steps; t++)
        {
            for (int o = 0; o < outputs; o++)
            {
                double truth = Series.Denormalise(targets[(t * outputs) + o], o);
                double error = Series.Denormalise(predictions[(t * outputs) + o], o) - truth;
                double meanError = Series.TargetMeans[o] - truth;
                mse[o] += error * error / steps;
                baseline[o] += meanError * meanError / steps;
            }
        }

        var figures = new Dictionary<string, double>(StringComparer.Ordinal) { ["steps"] = steps };
        for (int o = 0; o < outputs; o++)
        {
            figures[$"mse_{Series.Targets[o]}"] = mse[o];
            figures[$"baseline_mse_{Series.Targets[o]}"] = baseline[o];
        }

        figures["mse"] = mse.Average();
        return new Evaluation
        {
            Task = Name,
            Split = string.IsNullOrEmpty(options.Input) ? "validation" : "input",
            Data = string.Create(CultureInfo.InvariantCulture, $"{what}: {steps} steps, errors in the targets' own units"),
            Summary = new EvaluationTable("Mean squared error over the targets", ["MSE", "RMSE"],
            [
                new("model", [mse.Average(), Math.Sqrt(mse.Average())]),
                new("training mean", [baseline.Average(), Math.Sqrt(baseline.Average())]),
            ]),
            Breakdown = outputs == 1 ? null : new EvaluationTable("Per target", ["model MSE", "model RMSE", "training-mean MSE"],
                [.. Enumerable.Range(0, outputs).Select(o => new EvaluationRow(Series.Targets[o], [mse[o], Math.Sqrt(mse[o]), baseline[o]]))]),
            Figures = figures,
        };
    }

    /// <inheritdoc/>
    public override DiagnosisSample Sample(int sequences, EvaluationOptions options)
    {
        Refuse(options);
        if (sequences < 1)
        {
            throw new UnrollException($"--sequences: expected at least 1, got {sequences}.");
        }

        // The validation part cut into windows of the training window (or fewer steps when it is short).
        var validation = Splits.Validation;
        int steps = Math.Min(Series.Window, validation.Length);
        int batch = Math.Max(1, Math.Min(sequences, validation.Length / steps));
        int inputWidth = Series.Inputs.Count, targetWidth = Series.Targets.Count;
        var inputs = new float[steps * batch * inputWidth];
        var targets = new float[steps * batch * targetWidth];
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < steps; t++)
            {
                int row = (b * steps) + t;
                for (int i = 0; i < inputWidth; i++)
                {
                    inputs[(((t * batch) + b) * inputWidth) + i] = (float)validation.Input(0, row, i);
                }

                for (int o = 0; o < targetWidth; o++)
                {
                    targets[(((t * batch) + b) * targetWidth) + o] = (float)validation.Target(0, row, o);
                }
            }
        }

        return new DiagnosisSample(inputs, targets, steps, batch, string.Create(CultureInfo.InvariantCulture, $"{batch} validation windows of {steps} steps"));
    }

    /// <summary>
    /// The model run over a whole series from a zero state: normalised predictions [T, O], one sequence of
    /// <paramref name="steps"/> steps with normalised inputs [T, I].
    /// </summary>
    public static double[] Predict(IRecurrentModel<float> model, ReadOnlySpan<double> inputs, int steps)
    {
        ArgumentNullException.ThrowIfNull(model);
        var x = new float[inputs.Length];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = (float)inputs[i];
        }

        model.Training = false;
        model.Run(x, ReadOnlySpan<float>.Empty, steps, batch: 1);
        var predictions = new double[model.Predictions.Length];
        for (int i = 0; i < predictions.Length; i++)
        {
            predictions[i] = model.Predictions[i];
        }

        return predictions;
    }

    // The normalised inputs and targets scored: the validation part of the training file, or a whole other file.
    private (double[] Inputs, double[] Targets, int Steps, string What) Scored(EvaluationOptions options)
    {
        string source = string.IsNullOrEmpty(options.Input) ? Series.Source : options.Input;
        if (!File.Exists(source))
        {
            throw new UnrollException($"{source}: file not found; pass --input FILE with the columns {string.Join(", ", Series.Inputs.Concat(Series.Targets).Distinct())}.");
        }

        var data = Series.ReadColumns(source);
        var (x, y) = Series.Normalised(data);
        int pairs = data.Rows - Series.Shift, start = 0;
        string what = source;
        if (string.IsNullOrEmpty(options.Input))
        {
            start = pairs - (int)Math.Round(pairs * Series.ValidationFraction);
            what = $"the validation part of {source} (from data row {start + 1})";
        }

        int steps = pairs - start;
        if (steps < 1)
        {
            throw new UnrollException($"{source}: expected at least {Series.Shift + 1} rows (one input row and its target {Series.Shift} rows later), got {data.Rows}.");
        }

        return (x[(start * Series.Inputs.Count)..], y[(start * Series.Targets.Count)..], steps, what);
    }
}
