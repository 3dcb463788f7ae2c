using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Unroll.Tasks;

/// <summary>One row of an evaluation table: the model or a baseline, one value per column (NaN where it has none).</summary>
/// <param name="Name">What the row measures, e.g. "model" or "persistence (x_t+1 = x_t)".</param>
/// <param name="Values">One value per column of the table.</param>
internal sealed record EvaluationRow(string Name, IReadOnlyList<double> Values);

/// <summary>A table of figures: named columns, one row per contestant.</summary>
/// <param name="Title">What the table shows.</param>
/// <param name="Columns">The column headers.</param>
/// <param name="Rows">The rows.</param>
internal sealed record EvaluationTable(string Title, IReadOnlyList<string> Columns, IReadOnlyList<EvaluationRow> Rows);

/// <summary>
/// A trained model's figures on a task's held-out data, in one shape for every task: the split and what it
/// holds, a table of the model beside the task's baselines, notes, and the key figures by name (for scripts).
/// Written as evaluation.json, printed by <c>unroll eval</c> and shown in report.html.
/// </summary>
internal sealed record Evaluation
{
    /// <summary>The task's name (oscillator, adding, text, ...).</summary>
    public required string Task { get; init; }

    /// <summary>"test" or "validation": which held-out part was scored.</summary>
    public required string Split { get; init; }

    /// <summary>What the scored part holds, e.g. "64 sequences of 100 steps".</summary>
    public required string Data { get; init; }

    /// <summary>The model beside the task's baselines.</summary>
    public required EvaluationTable Summary { get; init; }

    /// <summary>A finer breakdown (accuracy per class, error per target), or null.</summary>
    public EvaluationTable? Breakdown { get; init; }

    /// <summary>Sentences that read the figures (e.g. how many times lower than persistence).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>The key figures by snake_case name, e.g. one_step_mse, accuracy, bits_per_token.</summary>
    public required IReadOnlyDictionary<string, double> Figures { get; init; }

    /// <summary>The figure called <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">There is none.</exception>
    public double this[string name] => Figures[name];

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Converters = { new IO.FiniteOrNullConverter() },
    };

    /// <summary>The evaluation as indented JSON; figures that are not finite are null (JSON has no NaN or infinity).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Reads JSON written by <see cref="ToJson"/>.</summary>
    /// <exception cref="UnrollException">The text is not such JSON.</exception>
    public static Evaluation FromJson(string json, string path)
    {
        try
        {
            var evaluation = JsonSerializer.Deserialize<Evaluation>(json, JsonOptions);
            return evaluation is { Task: not null, Split: not null, Data: not null, Summary: { Columns: not null, Rows: not null }, Figures: not null }
                ? evaluation
                : throw new UnrollException($"{path}: expected the evaluation unroll writes (task, split, data, summary, figures), got JSON without them.");
        }
        catch (JsonException e)
        {
            throw new UnrollException($"{path}: expected the evaluation unroll writes, got invalid JSON ({e.Message}).", e);
        }
    }

    /// <summary>A figure as printed: four significant digits, "-" when it is not a number.</summary>
    public static string Format(double value) => double.IsNaN(value) ? "-" : value.ToString("G4", CultureInfo.InvariantCulture).Replace("E", "e", StringComparison.Ordinal);
}
