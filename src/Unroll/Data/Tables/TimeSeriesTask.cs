using System.Text.Json;
using Unroll.Training;

namespace Unroll.Data.Tables;

/// <summary>
/// How a model reads a user's time series: which columns are inputs and targets, how far ahead the
/// targets are (<see cref="Shift"/>), the training window, and each column's mean and standard
/// deviation on the training part. Stored in the model file (<see cref="MetadataKey"/>) so evaluation
/// and prediction on new files normalise exactly as training did.
/// </summary>
internal sealed record TimeSeriesTask
{
    /// <summary>The metadata key in a model file.</summary>
    public const string MetadataKey = "unroll.csv";

    private static readonly JsonSerializerOptions JsonOptions = IO.Json.Options(new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase }, IO.EnumNames.Numbers, DataJsonContext.Default, DataJson.Enums);

    /// <summary>The CSV file the model was trained on (full path), or empty.</summary>
    public string Source { get; init; } = string.Empty;

    /// <summary>Input column names.</summary>
    public required IReadOnlyList<string> Inputs { get; init; }

    /// <summary>Target column names.</summary>
    public required IReadOnlyList<string> Targets { get; init; }

    /// <summary>The model reading row t predicts the targets of row t + Shift (1: the next step; 0: the same row).</summary>
    public int Shift { get; init; } = 1;

    /// <summary>Steps per training sequence.</summary>
    public int Window { get; init; } = 50;

    /// <summary>The last fraction of the rows held out for validation.</summary>
    public double ValidationFraction { get; init; } = 0.2;

    /// <summary>Mean of every input column on the training rows.</summary>
    public double[] InputMeans { get; init; } = [];

    /// <summary>Standard deviation (population) of every input column on the training rows; 1 for a constant column.</summary>
    public double[] InputStds { get; init; } = [];

    /// <summary>Mean of every target column on the training rows.</summary>
    public double[] TargetMeans { get; init; } = [];

    /// <summary>Standard deviation of every target column on the training rows; 1 for a constant column.</summary>
    public double[] TargetStds { get; init; } = [];

    /// <summary>Checks names and sizes.</summary>
    /// <exception cref="UnrollException">A list is empty or has a repeated name, or an option is out of range.</exception>
    public void Validate()
    {
        if (Inputs.Count == 0 || Targets.Count == 0)
        {
            throw new UnrollException($"--inputs and --targets: expected at least one column each, got {Inputs.Count} and {Targets.Count}.");
        }

        foreach (var (names, option) in new[] { (Inputs, "--inputs"), (Targets, "--targets") })
        {
            var repeated = names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
            if (repeated is not null)
            {
                throw new UnrollException($"{option}: column '{repeated.Key}' is named twice; expected distinct columns.");
            }

            if (names.Any(string.IsNullOrWhiteSpace))
            {
                throw new UnrollException($"{option}: expected comma-separated column names, got an empty name.");
            }
        }

        if (Shift < 0)
        {
            throw new UnrollException($"--shift: expected 0 (targets of the same row) or more rows ahead, got {Shift}.");
        }

        if (Window < 1)
        {
            throw new UnrollException($"--window: expected at least 1 step, got {Window}.");
        }

        if (!(ValidationFraction > 0 && ValidationFraction < 1))
        {
            throw new UnrollException($"--validation-fraction: expected a fraction in (0, 1), got {ValidationFraction}.");
        }
    }

    /// <summary>As JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, IO.Json.Info<TimeSeriesTask>(JsonOptions));

    /// <summary>Reads what <see cref="ToJson"/> wrote.</summary>
    /// <exception cref="UnrollException">The JSON is malformed or inconsistent.</exception>
    public static TimeSeriesTask FromJson(string json)
    {
        try
        {
            var task = IO.Json.Deserialize(json, JsonOptions, new TimeSeriesTask { Inputs = [], Targets = [] }) ?? throw new UnrollException("time-series task: expected a JSON object, got null.");
            // JSON null passes the deserializer for any reference-typed member.
            if (task.Source is null || task.Inputs is null || task.Targets is null
                || task.InputMeans is null || task.InputStds is null || task.TargetMeans is null || task.TargetStds is null)
            {
                throw new UnrollException("time-series task: expected the source, the column lists and the normalisation arrays, got null for one of them.");
            }

            task.Validate();
            if (task.InputMeans.Length != task.Inputs.Count || task.InputStds.Length != task.Inputs.Count
                || task.TargetMeans.Length != task.Targets.Count || task.TargetStds.Length != task.Targets.Count)
            {
                throw new UnrollException("time-series task: expected one mean and one standard deviation per column.");
            }

            // The model's inputs are divided by these: a zero or negative deviation would feed it infinities or flipped signs.
            if (task.InputStds.Concat(task.TargetStds).Any(std => !(std > 0)))
            {
                throw new UnrollException("time-series task: expected positive standard deviations (1 for a constant column).");
            }

            return task;
        }
        catch (JsonException e)
        {
            throw new UnrollException($"time-series task: expected JSON, got invalid JSON ({e.Message}).", e);
        }
    }

    /// <summary>Reads the task's columns from a CSV file (inputs first, then targets not already among them).</summary>
    public NumericColumns ReadColumns(string path) => TimeSeriesCsv.Read(path, [.. Inputs, .. Targets.Where(t => !Inputs.Contains(t))]);

    /// <summary>
    /// Splits the rows into training and validation parts (the last fraction, in time order), sets
    /// the normalisation from the training part, and cuts it into windows.
    /// </summary>
    /// <returns>The task with its normalisation, the training windows and the validation part as one sequence.</returns>
    /// <exception cref="UnrollException">The file has too few rows for the shift, the split and one window.</exception>
    public (TimeSeriesTask Task, SequenceSet Train, SequenceSet Validation) Prepare(NumericColumns data)
    {
        ArgumentNullException.ThrowIfNull(data);
        Validate();
        int pairs = data.Rows - Shift;
        int validationRows = (int)Math.Round(pairs * ValidationFraction);
        int trainRows = pairs - validationRows;
        if (trainRows < Window || validationRows < 1)
        {
            throw new UnrollException(
                $"{data.Path}: {data.Rows} rows give {pairs} (input, target {Shift} rows later) pairs: {trainRows} for training and {validationRows} for validation; expected at least --window {Window} for training and 1 for validation.");
        }

        var (inputMeans, inputStds) = Statistics(data, Inputs, 0, trainRows);
        var (targetMeans, targetStds) = Statistics(data, Targets, Shift, trainRows);
        var task = this with { InputMeans = inputMeans, InputStds = inputStds, TargetMeans = targetMeans, TargetStds = targetStds };
        var (x, y) = task.Normalised(data);
        int windows = trainRows / Window;
        var train = Sequences(x, y, 0, windows, Window);
        var validation = Sequences(x, y, trainRows, 1, validationRows);
        return (task, train, validation);
    }

    /// <summary>The normalised inputs [pairs, I] and targets [pairs, O] of a file: input row t with the targets of row t + Shift.</summary>
    /// <exception cref="UnrollException">The file has no more rows than the shift.</exception>
    public (double[] Inputs, double[] Targets) Normalised(NumericColumns data)
    {
        ArgumentNullException.ThrowIfNull(data);
        int pairs = data.Rows - Shift;
        if (pairs < 1)
        {
            throw new UnrollException($"{data.Path}: {data.Rows} rows; expected more than --shift {Shift} so that at least one input row has a target.");
        }

        var inputs = new double[pairs * Inputs.Count];
        var targets = new double[pairs * Targets.Count];
        var inputColumns = Inputs.Select(n => Column(data, n)).ToArray();
        var targetColumns = Targets.Select(n => Column(data, n)).ToArray();
        for (int t = 0; t < pairs; t++)
        {
            for (int i = 0; i < inputColumns.Length; i++)
            {
                inputs[(t * inputColumns.Length) + i] = Normalise(data[t, inputColumns[i]], i);
            }

            for (int o = 0; o < targetColumns.Length; o++)
            {
                targets[(t * targetColumns.Length) + o] = (data[t + Shift, targetColumns[o]] - TargetMeans[o]) / TargetStds[o];
            }
        }

        return (inputs, targets);
    }

    /// <summary>The normalised inputs of every row (for prediction, where the targets may be absent).</summary>
    public double[] NormalisedInputs(NumericColumns data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var inputs = new double[data.Rows * Inputs.Count];
        var columns = Inputs.Select(n => Column(data, n)).ToArray();
        for (int t = 0; t < data.Rows; t++)
        {
            for (int i = 0; i < columns.Length; i++)
            {
                inputs[(t * columns.Length) + i] = Normalise(data[t, columns[i]], i);
            }
        }

        return inputs;
    }

    /// <summary>An input value in the column's own units, normalised as the model was trained.</summary>
    public double Normalise(double value, int input) => (value - InputMeans[input]) / InputStds[input];

    /// <summary>A normalised target value in the column's own units.</summary>
    public double Denormalise(double value, int target) => (value * TargetStds[target]) + TargetMeans[target];

    private static int Column(NumericColumns data, string name)
    {
        for (int i = 0; i < data.Names.Count; i++)
        {
            if (data.Names[i] == name)
            {
                return i;
            }
        }

        throw new UnrollException($"{data.Path}: expected a column named '{name}'.");
    }

    private static (double[] Means, double[] Stds) Statistics(NumericColumns data, IReadOnlyList<string> names, int firstRow, int rows)
    {
        var means = new double[names.Count];
        var stds = new double[names.Count];
        for (int c = 0; c < names.Count; c++)
        {
            int column = Column(data, names[c]);
            double sum = 0;
            for (int r = 0; r < rows; r++)
            {
                sum += data[firstRow + r, column];
            }

            double mean = sum / rows, squares = 0;
            for (int r = 0; r < rows; r++)
            {
                double d = data[firstRow + r, column] - mean;
                squares += d * d;
            }

            double std = Math.Sqrt(squares / rows);
            if (!double.IsFinite(mean) || !double.IsFinite(std))
            {
                throw new UnrollException(
                    $"{data.Path}: column '{names[c]}' has values too large to normalise (their mean or spread overflows a double); expected values below about 1e150 in magnitude, or a rescaled column.");
            }

            means[c] = mean;
            // A constant column carries no information to scale; dividing by 1 keeps it finite.
            stds[c] = std > 1e-12 * Math.Max(1, Math.Abs(mean)) ? std : 1;
        }

        return (means, stds);
    }

    private SequenceSet Sequences(double[] x, double[] y, int firstRow, int count, int length)
    {
        int inputSize = Inputs.Count, targetSize = Targets.Count;
        return new SequenceSet(count, length, Inputs, Targets,
            x.AsSpan(firstRow * inputSize, count * length * inputSize),
            y.AsSpan(firstRow * targetSize, count * length * targetSize));
    }
}
