using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.Models;

namespace Unroll.Forecasts;

/// <summary>
/// How a forecasting model reads many series in long format and what it predicts: the columns, the context window L
/// and horizon H of its direct multi-step head, the seasonal period of the metrics, the output distribution, and the
/// scaling fitted on the training part (each series' target mean and standard deviation, each covariate's over all
/// series). Stored in the model file (<see cref="MetadataKey"/>) so that evaluation and forecasting scale as training did.
/// </summary>
public sealed record ForecastSpec
{
    /// <summary>The metadata key in a model file.</summary>
    public const string MetadataKey = "unroll.forecast";

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    /// <summary>The file trained on (full path).</summary>
    public string Source { get; init; } = string.Empty;

    /// <summary>The column of series ids.</summary>
    public string SeriesColumn { get; init; } = "series";

    /// <summary>The column of times (integer steps or ISO dates).</summary>
    public string TimeColumn { get; init; } = "time";

    /// <summary>The column forecast.</summary>
    public string Target { get; init; } = "value";

    /// <summary>Covariates known up to the forecast origin only (read over the context window).</summary>
    public IReadOnlyList<string> PastCovariates { get; init; } = [];

    /// <summary>H: steps forecast at once by the direct head.</summary>
    public int Horizon { get; init; } = 12;

    /// <summary>L: steps of history the model reads before the origin.</summary>
    public int Context { get; init; } = 24;

    /// <summary>m: the seasonal period of MASE, RMSSE and the seasonal naive baseline (0: from the time step).</summary>
    public int Season { get; init; }

    /// <summary>What the head predicts per step: a point, Gaussian or Student-t parameters, or quantiles.</summary>
    public OutputDistribution Distribution { get; init; }

    /// <summary>The quantile levels of a quantile head, and of the intervals reported for the other probabilistic heads.</summary>
    public IReadOnlyList<double> Quantiles { get; init; } = [0.1, 0.5, 0.9];

    /// <summary>How the target is scaled: by each series' stored training statistics, or by each window's own context.</summary>
    public ForecastScaling Scaling { get; init; }

    /// <summary>What the head's outputs are relative to: the scale's mean, or the seasonal naive forecast from the same origin.</summary>
    public ForecastBaseline RelativeTo { get; init; }

    /// <summary>The mean and standard deviation of each series' target over its training part, by series id.</summary>
    public IReadOnlyDictionary<string, double[]> SeriesScales { get; init; } = new Dictionary<string, double[]>();

    /// <summary>Each past covariate's mean over the training parts of every series.</summary>
    public double[] CovariateMeans { get; init; } = [];

    /// <summary>Each past covariate's standard deviation (population) over the same rows; 1 for a constant column.</summary>
    public double[] CovariateStds { get; init; } = [];

    /// <summary>Inputs per step: the scaled target, then the scaled past covariates.</summary>
    [JsonIgnore]
    public int InputWidth => 1 + PastCovariates.Count;

    /// <summary>The columns a reader must give, in <see cref="SeriesTable.Columns"/> order.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> ValueColumns => [Target, .. PastCovariates];

    /// <summary>Checks names and sizes.</summary>
    /// <exception cref="UnrollException">An option is out of range or a column is named twice.</exception>
    public void Validate()
    {
        if (Horizon < 1 || Horizon > 10_000)
        {
            throw new UnrollException($"--horizon: expected 1 to 10000 steps, got {Horizon}.");
        }

        if (Context < 1 || Context > 100_000)
        {
            throw new UnrollException($"--context: expected 1 to 100000 steps, got {Context}.");
        }

        if (Season < 0)
        {
            throw new UnrollException($"--season: expected a seasonal period of at least 1 (or 0 to take it from the time step), got {Season}.");
        }

        string[] names = [SeriesColumn, TimeColumn, Target, .. PastCovariates];
        if (names.Any(string.IsNullOrWhiteSpace))
        {
            throw new UnrollException("--series, --time, --target and --past: expected column names, got an empty name.");
        }

        if (names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } repeated)
        {
            throw new UnrollException($"--series, --time, --target and --past: column '{repeated.Key}' is named {repeated.Count()} times; expected each column in one role.");
        }

        bool quantilesOk = Quantiles.Count > 0 && Quantiles.All(q => q > 0 && q < 1) && Quantiles.Zip(Quantiles.Skip(1)).All(p => p.First < p.Second);
        if (!quantilesOk)
        {
            throw new UnrollException($"--quantiles: expected increasing levels in (0, 1), got {string.Join(",", Quantiles)}.");
        }
    }

    /// <summary>As JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Reads what <see cref="ToJson"/> wrote.</summary>
    /// <exception cref="UnrollException">The JSON is malformed or inconsistent.</exception>
    public static ForecastSpec FromJson(string json)
    {
        try
        {
            var spec = JsonSerializer.Deserialize<ForecastSpec>(json, JsonOptions) ?? throw new UnrollException("forecast task: expected a JSON object, got null.");
            if (spec.Source is null || spec.SeriesColumn is null || spec.TimeColumn is null || spec.Target is null || spec.PastCovariates is null
                || spec.Quantiles is null || spec.SeriesScales is null || spec.CovariateMeans is null || spec.CovariateStds is null
                || spec.SeriesScales.Values.Any(s => s is not { Length: 2 } || !double.IsFinite(s[0]) || !(s[1] > 0 && double.IsFinite(s[1]))))
            {
                throw new UnrollException("forecast task: expected the columns, the quantile levels and a finite mean and positive deviation per series, got null or a malformed scale.");
            }

            spec.Validate();
            if (spec.CovariateMeans.Length != spec.PastCovariates.Count || spec.CovariateStds.Length != spec.PastCovariates.Count || spec.CovariateStds.Any(s => !(s > 0)))
            {
                throw new UnrollException("forecast task: expected one mean and one positive standard deviation per past covariate.");
            }

            return spec;
        }
        catch (JsonException e)
        {
            throw new UnrollException($"forecast task: expected JSON, got invalid JSON ({e.Message}).", e);
        }
    }

    /// <summary>What a model for this spec reads and predicts: the scaled target and covariates per step, a last-step head of H values (times the distribution's parameters).</summary>
    public ModelConfig Shape() => new()
    {
        InputSize = InputWidth,
        OutputSize = Horizon * (Distribution == OutputDistribution.Quantiles ? Quantiles.Count : Distribution switch
        {
            OutputDistribution.Gaussian => 2,
            OutputDistribution.StudentT => 3,
            _ => 1,
        }),
        Pooling = Pooling.LastStep,
        Distribution = Distribution,
        Quantiles = Distribution == OutputDistribution.Quantiles ? Quantiles : null,
        InputNames = [Target, .. PastCovariates],
    };
}

/// <summary>How a forecasting model scales each series' target.</summary>
public enum ForecastScaling
{
    /// <summary>By the mean and standard deviation of the series' training part, stored in the model: only those series can be forecast.</summary>
    Series,

    /// <summary>By the mean and standard deviation of the context window read before each origin (any series, level shifts and trends followed).</summary>
    Window,
}

/// <summary>What the head predicts relative to.</summary>
public enum ForecastBaseline
{
    /// <summary>The scaled value itself: forecast = output * std + mean.</summary>
    None,

    /// <summary>The deviation from the seasonal naive forecast of the same origin: forecast = snaive + output * std (the network starts from snaive).</summary>
    SeasonalNaive,

    /// <summary>
    /// The deviation from the seasonal mean: each step's season averaged over every whole season of the context
    /// (floor(L / m) of them), plus the mean change from one season to the next over those seasons times the seasons
    /// ahead (a seasonal naive forecast with its noise averaged out and its drift kept).
    /// </summary>
    SeasonalMean,

    /// <summary>
    /// The deviation from exponential smoothing with a damped trend and additive (or, on the logs, multiplicative)
    /// seasonality fitted to the history before the origin (<see cref="ExponentialSmoothing"/>): the network learns
    /// what that model misses.
    /// </summary>
    ExponentialSmoothing,
}
