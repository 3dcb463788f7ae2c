using System.Text.Json;
using System.Text.Json.Serialization;
using Unroll.Models;

namespace Unroll.Forecasts;

/// <summary>
/// How a forecasting model reads many series in long format and what it predicts: the columns (target, past and future
/// covariates, calendar features of the time column), the context window L and horizon H, the head (direct multi-step
/// or recursive one-step), the seasonal period of the metrics, the output distribution, and the scaling fitted on the
/// training part (each series' target mean and standard deviation, each covariate's over all series). Stored in the
/// model file (<see cref="MetadataKey"/>) so that evaluation and forecasting read and scale as training did.
/// </summary>
internal sealed record ForecastSpec
{
    /// <summary>The metadata key in a model file.</summary>
    public const string MetadataKey = "unroll.forecast";

    private static readonly JsonSerializerOptions JsonOptions = IO.Json.Options(
        new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase }, IO.EnumNames.CamelCase, ForecastJsonContext.Default, ForecastJson.Enums);

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

    /// <summary>Covariates known ahead (e.g. planned prices, holidays): read at the forecast steps too.</summary>
    public IReadOnlyList<string> FutureCovariates { get; init; } = [];

    /// <summary>Features derived from the time column (known ahead for any step).</summary>
    public IReadOnlyList<CalendarFeature> Calendar { get; init; } = [];

    /// <summary>How each calendar feature is given to the network: a sine and cosine pair, or one-hot.</summary>
    public CalendarEncoding CalendarEncoding { get; init; }

    /// <summary>The time step of the file in whole months (0 when fixed), for the calendar features of steps after a series' end.</summary>
    public int StepMonths { get; init; }

    /// <summary>The time step in ticks when <see cref="StepMonths"/> is 0.</summary>
    public long StepTicks { get; init; }

    /// <summary>Direct (all H steps from the last state) or recursive (one step ahead, fed back).</summary>
    public ForecastHead Head { get; init; }

    /// <summary>
    /// Whether the last H steps of every series are a test part that neither training nor the choice of the best model
    /// sees (the validation part is then the H steps before them).
    /// </summary>
    public bool HoldOutTest { get; init; }

    /// <summary>H: steps forecast from every origin.</summary>
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

    /// <summary>Each covariate's mean (the past ones, then the future ones) over the training parts of every series.</summary>
    public double[] CovariateMeans { get; init; } = [];

    /// <summary>Each past covariate's standard deviation (population) over the same rows; 1 for a constant column.</summary>
    public double[] CovariateStds { get; init; } = [];

    /// <summary>The covariates in the order of the scaling arrays and of a series' values: the past ones, then the future ones.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> Covariates => [.. PastCovariates, .. FutureCovariates];

    /// <summary>Values per row of a series: the target, the past covariates, the future covariates.</summary>
    [JsonIgnore]
    public int RowWidth => 1 + PastCovariates.Count + FutureCovariates.Count;

    /// <summary>Whether the network reads inputs of the steps it forecasts (future covariates or calendar features).</summary>
    [JsonIgnore]
    public bool KnowsAhead => FutureCovariates.Count > 0 || Calendar.Count > 0;

    /// <summary>The calendar inputs per step.</summary>
    [JsonIgnore]
    public int CalendarWidth => Calendar.Sum(f => CalendarEncoding == CalendarEncoding.SinCos ? 2 : CalendarFeatures.Period(f));

    /// <summary>
    /// Inputs per step: the scaled target, the scaled past and future covariates, the calendar features, and for a
    /// direct head that reads the forecast steps' known inputs, an indicator that the step's target is observed.
    /// </summary>
    [JsonIgnore]
    public int InputWidth => RowWidth + CalendarWidth + (Head == ForecastHead.Direct && KnowsAhead ? 1 : 0);

    /// <summary>
    /// Steps of the sequence the network reads per origin: the context (L), followed for a direct head that knows
    /// ahead by the H forecast steps; for a recursive head the L + H - 1 steps whose one-step targets end at the horizon.
    /// </summary>
    [JsonIgnore]
    public int SequenceSteps => Head == ForecastHead.Recursive ? Context + Horizon - 1 : Context + (KnowsAhead ? Horizon : 0);

    /// <summary>Steps at the end of every series that no training target reaches: the validation part, and the test part.</summary>
    [JsonIgnore]
    public int Reserved => Horizon * (HoldOutTest ? 2 : 1);

    /// <summary>The first origin of a training window: a recursive head relative to the seasonal naive also reads a season before its first row.</summary>
    [JsonIgnore]
    public int FirstOrigin => Context + (Head == ForecastHead.Recursive && RelativeTo == ForecastBaseline.SeasonalNaive ? Season - 1 : 0);

    /// <summary>The fewest steps a series needs: the first origin, one training target and the held-out parts.</summary>
    [JsonIgnore]
    public int MinimumLength => FirstOrigin + Horizon + Reserved;

    /// <summary>The columns a reader must give, in <see cref="SeriesTable.Columns"/> order.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> ValueColumns => [Target, .. PastCovariates, .. FutureCovariates];

    /// <summary>The names of the network's inputs, in order.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> InputNames => [.. ValueColumns, .. CalendarFeatures.Names(Calendar, CalendarEncoding), .. Head == ForecastHead.Direct && KnowsAhead ? new[] { "observed" } : []];

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

        string[] names = [SeriesColumn, TimeColumn, Target, .. PastCovariates, .. FutureCovariates];
        if (names.Any(string.IsNullOrWhiteSpace))
        {
            throw new UnrollException("--series, --time, --target, --past and --future: expected column names, got an empty name.");
        }

        if (names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } repeated)
        {
            throw new UnrollException($"--series, --time, --target, --past and --future: column '{repeated.Key}' is named {repeated.Count()} times; expected each column in one role (the target is never a covariate).");
        }

        if (Calendar.Distinct().Count() != Calendar.Count || Calendar.Any(f => !Enum.IsDefined(f)) || !Enum.IsDefined(CalendarEncoding) || !Enum.IsDefined(Head))
        {
            throw new UnrollException($"--calendar: expected each of {string.Join(", ", CalendarFeatures.All)} at most once, got {string.Join(",", Calendar)}.");
        }

        if (Head == ForecastHead.Recursive && PastCovariates.Count > 0 && Horizon > 1)
        {
            throw new UnrollException($"--past: a recursive head feeds its own forecasts back, and a past covariate ('{PastCovariates[0]}') is not known after the origin; expected --head direct, or --future for a column known ahead.");
        }

        if (Head == ForecastHead.Recursive && RelativeTo is ForecastBaseline.SeasonalMean or ForecastBaseline.ExponentialSmoothing)
        {
            throw new UnrollException($"--relative-to: a recursive head predicts one step at a time, relative to the value one season earlier or to nothing; expected seasonal-naive or none, got {RelativeTo}.");
        }

        bool quantilesOk = Quantiles.Count > 0 && Quantiles.All(q => q > 0 && q < 1) && Quantiles.Zip(Quantiles.Skip(1)).All(p => p.First < p.Second);
        if (!quantilesOk)
        {
            throw new UnrollException($"--quantiles: expected increasing levels in (0, 1), got {string.Join(",", Quantiles)}.");
        }
    }

    /// <summary>As JSON.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, IO.Json.Info<ForecastSpec>(JsonOptions));

    /// <summary>Reads what <see cref="ToJson"/> wrote.</summary>
    /// <exception cref="UnrollException">The JSON is malformed or inconsistent.</exception>
    public static ForecastSpec FromJson(string json)
    {
        try
        {
            var spec = IO.Json.Deserialize(json, JsonOptions, new ForecastSpec()) ?? throw new UnrollException("forecast task: expected a JSON object, got null.");
            if (spec.Source is null || spec.SeriesColumn is null || spec.TimeColumn is null || spec.Target is null || spec.PastCovariates is null
                || spec.Quantiles is null || spec.SeriesScales is null || spec.CovariateMeans is null || spec.CovariateStds is null
                || spec.SeriesScales.Values.Any(s => s is not { Length: 2 } || !double.IsFinite(s[0]) || !(s[1] > 0 && double.IsFinite(s[1]))))
            {
                throw new UnrollException("forecast task: expected the columns, the quantile levels and a finite mean and positive deviation per series, got null or a malformed scale.");
            }

            spec.Validate();
            if (spec.FutureCovariates is null || spec.Calendar is null)
            {
                throw new UnrollException("forecast task: expected the future covariates and calendar features, got null.");
            }

            if (spec.CovariateMeans.Length != spec.Covariates.Count || spec.CovariateStds.Length != spec.Covariates.Count || spec.CovariateStds.Any(s => !(s > 0)))
            {
                throw new UnrollException("forecast task: expected one mean and one positive standard deviation per covariate.");
            }

            if (spec.Calendar.Count > 0 && (spec.StepMonths < 0 || spec.StepTicks < 0 || (spec.StepMonths == 0) == (spec.StepTicks == 0)))
            {
                throw new UnrollException("forecast task: expected the time step of the calendar features (months or ticks), got none.");
            }

            return spec;
        }
        catch (JsonException e)
        {
            throw new UnrollException($"forecast task: expected JSON, got invalid JSON ({e.Message}).", e);
        }
    }

    /// <summary>
    /// What a model for this spec reads and predicts: <see cref="InputWidth"/> inputs per step; a direct head gives H
    /// values (times the distribution's parameters) at the last step, a recursive head one value at every step.
    /// </summary>
    public ModelConfig Shape() => new()
    {
        InputSize = InputWidth,
        OutputSize = (Head == ForecastHead.Recursive ? 1 : Horizon) * (Distribution == OutputDistribution.Quantiles ? Quantiles.Count : Distribution switch
        {
            OutputDistribution.Gaussian => 2,
            OutputDistribution.StudentT => 3,
            _ => 1,
        }),
        Pooling = Head == ForecastHead.Recursive ? Pooling.EveryStep : Pooling.LastStep,
        Distribution = Distribution,
        Quantiles = Distribution == OutputDistribution.Quantiles ? Quantiles : null,
        InputNames = InputNames,
    };
}

/// <summary>How a forecasting network gives its H steps.</summary>
internal enum ForecastHead
{
    /// <summary>All H steps at once from the state after the context (and, when it knows ahead, the forecast steps' known inputs).</summary>
    Direct,

    /// <summary>One step ahead at every step, its forecast fed back as the next step's input (DeepAR's form).</summary>
    Recursive,
}

/// <summary>How a forecasting model scales each series' target.</summary>
internal enum ForecastScaling
{
    /// <summary>By the mean and standard deviation of the series' training part, stored in the model: only those series can be forecast.</summary>
    Series,

    /// <summary>By the mean and standard deviation of the context window read before each origin (any series, level shifts and trends followed).</summary>
    Window,
}

/// <summary>What the head predicts relative to.</summary>
internal enum ForecastBaseline
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
