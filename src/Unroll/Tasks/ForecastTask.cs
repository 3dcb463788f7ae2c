using System.Globalization;
using Unroll.Forecasts;
using Unroll.Models;
using Unroll.Training;

namespace Unroll.Tasks;

/// <summary>
/// Many series in long format forecast H steps at once (docs/forecasting.md): every series' last H steps are held out
/// for validation; the rest gives the training windows, L steps of context followed by H target steps, at every origin.
/// Scored on the held-out horizon by MASE, sMAPE and RMSSE (and the weighted quantile loss and interval coverage of a
/// probabilistic head) beside the seasonal naive forecast.
/// </summary>
internal sealed class ForecastTask : TrainingTask
{
    private IReadOnlyList<Series>? _series;

    /// <summary>A task described by <paramref name="spec"/> (with its scaling), reading its file when it needs the data.</summary>
    public ForecastTask(ForecastSpec spec, string? fingerprint = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Spec = spec;
        Fingerprint = fingerprint;
    }

    /// <summary>
    /// Reads a long-format file into a table of the given columns; with the flag set, rows at the end of a series may
    /// leave the target (and past covariates) empty, read as NaN: the steps to forecast, with their future covariates.
    /// The command sets it (its readers: Sep for CSV, Parquet.Net for Parquet); the library itself reads no tabular
    /// format, so a task rebuilt from a model file reads its data through this.
    /// </summary>
    public static Func<string, ForecastSpec, bool, SeriesTable>? Reader { get; set; }

    /// <summary>The columns, window, horizon, distribution and scaling.</summary>
    public ForecastSpec Spec { get; }

    /// <summary>The SHA-256 of the file, recorded when the run started.</summary>
    public string? Fingerprint { get; }

    /// <inheritdoc/>
    public override string Name => "forecast";

    /// <summary>A new run over <paramref name="table"/>: splits and checks the series and fits the scaling now.</summary>
    /// <exception cref="UnrollException">The table or the options do not make a forecasting task.</exception>
    public static ForecastTask Create(string path, ForecastSpec spec, SeriesTable table)
    {
        ArgumentNullException.ThrowIfNull(spec);
        spec = spec with { Source = Path.GetFullPath(path) };
        spec.Validate();
        var (series, step) = SeriesSplitter.Split(table, spec.TimeColumn);
        if (spec.Season == 0)
        {
            spec = spec with { Season = step.DefaultSeason };
        }

        if (spec.Calendar.Count > 0 && step.Integer)
        {
            throw new UnrollException($"--calendar: column '{spec.TimeColumn}' holds integer steps ('{table.Times[0]}' on {table.Name(0)} of {path}); expected dates or date-times to derive {string.Join(", ", spec.Calendar.Select(f => CalendarFeatures.All[(int)f]))} from.");
        }

        if (!step.Integer)
        {
            spec = spec with { StepMonths = step.Months, StepTicks = step.Months > 0 ? 0 : step.Ticks };
        }

        if (spec.RelativeTo != ForecastBaseline.None && spec.Context < spec.Season)
        {
            throw new UnrollException($"--relative-to: the seasonal baselines read whole seasons of the context; expected --context at least the season ({spec.Season}), got {spec.Context}.");
        }

        spec = Forecaster.Fit(spec, series, path);
        return new ForecastTask(spec, DataFingerprint.Of(path)) { _series = series };
    }

    /// <summary>
    /// A task over series already in memory (a backtest fold): the scaling fitted anew on them, <paramref name="what"/>
    /// naming them in messages; its source is the spec's.
    /// </summary>
    public static ForecastTask FromSeries(ForecastSpec spec, IReadOnlyList<Series> series, string what)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return new ForecastTask(Forecaster.Fit(spec, series, what)) { _series = series };
    }

    /// <summary>Rebuilds the task from a model file's metadata.</summary>
    public static ForecastTask FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        return new ForecastTask(ForecastSpec.FromJson(metadata[ForecastSpec.MetadataKey]), metadata.GetValueOrDefault(DataFingerprint.MetadataKey));
    }

    /// <summary>Reads <paramref name="path"/> (the training file, or another with the same columns) into checked series.</summary>
    /// <exception cref="UnrollException">The file is missing or malformed, or no reader is set.</exception>
    public IReadOnlyList<Series> Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new UnrollException($"{path}: file not found; expected long-format data with the columns {Spec.SeriesColumn}, {Spec.TimeColumn}, {string.Join(", ", Spec.ValueColumns)}.");
        }

        var reader = Reader ?? throw new UnrollException($"{path}: forecasting data is read by the unroll command's readers; expected them to be set (ForecastTask.Reader).");
        return SeriesSplitter.Split(reader(path, Spec, false), Spec.TimeColumn).Series;
    }

    /// <summary>
    /// Reads series to forecast from <paramref name="path"/>: each may end in rows whose target is empty (the steps to
    /// forecast, holding the future covariates). Returns the series and, per series, the origin: its first row without
    /// a target, or its length.
    /// </summary>
    /// <exception cref="UnrollException">The file is malformed, or a target follows an empty one.</exception>
    public (IReadOnlyList<Series> Series, int[] Origins) ReadToForecast(string path)
    {
        if (!File.Exists(path))
        {
            throw new UnrollException($"{path}: file not found; expected long-format data with the columns {Spec.SeriesColumn}, {Spec.TimeColumn}, {string.Join(", ", Spec.ValueColumns)}.");
        }

        var reader = Reader ?? throw new UnrollException($"{path}: forecasting data is read by the unroll command's readers; expected them to be set (ForecastTask.Reader).");
        var table = reader(path, Spec, true);
        var series = SeriesSplitter.Split(table, Spec.TimeColumn).Series;
        var origins = new int[series.Count];
        int width = Spec.RowWidth;
        for (int i = 0; i < series.Count; i++)
        {
            var s = series[i];
            int origin = 0;
            while (origin < s.Length && double.IsFinite(s.Values[origin * width]))
            {
                origin++;
            }

            for (int t = origin; t < s.Length; t++)
            {
                if (double.IsFinite(s.Values[t * width]))
                {
                    throw new UnrollException($"{path}: series '{s.Id}' has a value of '{Spec.Target}' at time '{s.Times[t]}' after an empty one at '{s.Times[origin]}'; expected the target empty only in the rows after the last observed step (the steps to forecast).");
                }
            }

            for (int t = 0; t < origin; t++)
            {
                for (int c = 1; c <= Spec.PastCovariates.Count; c++)
                {
                    if (!double.IsFinite(s.Values[(t * width) + c]))
                    {
                        throw new UnrollException($"{path}: series '{s.Id}' at time '{s.Times[t]}' has no value of '{Spec.PastCovariates[c - 1]}'; expected the past covariates wherever the target is given.");
                    }
                }
            }

            origins[i] = origin;
        }

        return (series, origins);
    }

    /// <summary>The training file's series.</summary>
    public IReadOnlyList<Series> Series => _series ??= Read(Spec.Source);

    /// <inheritdoc/>
    public override string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Spec.Source}: {(_series is null ? $"{Spec.SeriesScales.Count}" : $"{_series.Count}")} series of '{Spec.Target}'{(Spec.PastCovariates.Count > 0 ? $" with past covariates {string.Join(", ", Spec.PastCovariates)}" : string.Empty)}{(Spec.FutureCovariates.Count > 0 ? $", future covariates {string.Join(", ", Spec.FutureCovariates)}" : string.Empty)}{(Spec.Calendar.Count > 0 ? $", calendar {string.Join(", ", Spec.Calendar.Select(f => CalendarFeatures.All[(int)f]))}" : string.Empty)}, {Spec.Horizon} steps forecast {(Spec.Head == ForecastHead.Recursive ? "one at a time " : string.Empty)}from {Spec.Context} (season {Spec.Season}), the last {Spec.Horizon} of every series held out for validation{(Spec.HoldOutTest ? $" and the {Spec.Horizon} after them for the test" : string.Empty)}");

    /// <inheritdoc/>
    protected override ModelConfig Shape => Spec.Shape();

    /// <inheritdoc/>
    public override IReadOnlyDictionary<string, string> Metadata
    {
        get
        {
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [ForecastSpec.MetadataKey] = Spec.ToJson() };
            if (Fingerprint is not null)
            {
                metadata[DataFingerprint.MetadataKey] = Fingerprint;
            }

            return metadata;
        }
    }

    /// <inheritdoc/>
    public override void CheckUnchanged() => DataFingerprint.Check(Spec.Source, Fingerprint, Spec.Source);

    /// <inheritdoc/>
    public override IBatchSource TrainingBatches(TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new ShuffledBatches(TrainingWindows(Series, Spec), options.BatchSize, options.Seed);
    }

    /// <inheritdoc/>
    public override IValidation? Validation(TrainingOptions options) =>
        new SequenceValidation(new ForecastWindows(Spec, Series, [.. Series.Select((s, i) => (i, s.Length - Spec.Reserved))]), 256);

    /// <summary>Every window whose targets lie in the training part: origins from <see cref="ForecastSpec.FirstOrigin"/> to n - H - <see cref="ForecastSpec.Reserved"/> of every series.</summary>
    public static ForecastWindows TrainingWindows(IReadOnlyList<Series> series, ForecastSpec spec)
    {
        ArgumentNullException.ThrowIfNull(series);
        ArgumentNullException.ThrowIfNull(spec);
        var origins = new List<(int, int)>();
        for (int i = 0; i < series.Count; i++)
        {
            for (int origin = spec.FirstOrigin; origin + spec.Horizon <= series[i].Length - spec.Reserved; origin++)
            {
                origins.Add((i, origin));
            }
        }

        return new ForecastWindows(spec, series, origins);
    }

    /// <inheritdoc/>
    public override Evaluation Evaluate(IRecurrentModel<float> model, EvaluationOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        Refuse(options, input: false);
        var series = string.IsNullOrEmpty(options.Input) ? Series : Read(options.Input);
        string part = !string.IsNullOrEmpty(options.Input) ? "input"
            : Spec.HoldOutTest ? "test" : "validation";
        string what = part switch
        {
            "test" => "a test part neither training nor the choice of the best model saw",
            "validation" => "the validation part: training monitored it and the best model was chosen on it, so it is not unseen data (train with --test to hold out a test part)",
            _ => "another file",
        };
        var evaluation = Score(model, Spec, series, [.. series.Select(s => s.Length - Spec.Horizon)],
            string.Create(CultureInfo.InvariantCulture, $"the last {Spec.Horizon} steps of {series.Count} series of {(string.IsNullOrEmpty(options.Input) ? Spec.Source : options.Input)}, {what}"),
            part);
        return evaluation;
    }

    /// <summary>
    /// The model's forecasts from <paramref name="origins"/> scored against the H steps after them, beside the seasonal
    /// naive forecast from the same history: mean MASE, sMAPE and RMSSE over the series, and for probabilistic heads
    /// the weighted quantile loss and the coverage of the interval between the lowest and highest levels.
    /// </summary>
    public static Evaluation Score(IRecurrentModel<float> model, ForecastSpec spec, IReadOnlyList<Series> series, IReadOnlyList<int> origins, string what, string split)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(series);
        var forecasts = Forecaster.Forecast(model, spec, series, origins);
        int h = spec.Horizon, width = spec.RowWidth, q = spec.Quantiles.Count;
        double mase = 0, smape = 0, rmsse = 0, naiveMase = 0, naiveSmape = 0, naiveRmsse = 0;
        var actualAll = new List<double>();
        var quantilesAll = new List<double>();
        var lower = new List<double>();
        var upper = new List<double>();
        var rows = new List<EvaluationRow>();
        for (int i = 0; i < series.Count; i++)
        {
            var s = series[i];
            int origin = origins[i];
            if (origin + h > s.Length)
            {
                throw new UnrollException($"series '{s.Id}': a forecast from step {origin} needs {h} actual steps after it to score; the series has {s.Length}.");
            }

            var history = Enumerable.Range(0, origin).Select(t => s.Values[t * width]).ToArray();
            var actual = Enumerable.Range(origin, h).Select(t => s.Values[t * width]).ToArray();
            var naive = ForecastMetrics.SeasonalNaive(history, h, spec.Season);
            var f = forecasts[i];
            double m = ForecastMetrics.Mase(history, actual, f.Point, spec.Season), nm = ForecastMetrics.Mase(history, actual, naive, spec.Season);
            mase += m / series.Count;
            naiveMase += nm / series.Count;
            smape += ForecastMetrics.Smape(actual, f.Point) / series.Count;
            naiveSmape += ForecastMetrics.Smape(actual, naive) / series.Count;
            rmsse += ForecastMetrics.Rmsse(history, actual, f.Point, spec.Season) / series.Count;
            naiveRmsse += ForecastMetrics.Rmsse(history, actual, naive, spec.Season) / series.Count;
            rows.Add(new EvaluationRow(s.Id, [m, nm]));
            actualAll.AddRange(actual);
            if (f.Quantiles.Length > 0)
            {
                quantilesAll.AddRange(f.Quantiles);
                for (int t = 0; t < h; t++)
                {
                    lower.Add(f.Quantiles[t * q]);
                    upper.Add(f.Quantiles[(t * q) + q - 1]);
                }
            }
        }

        var figures = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["series"] = series.Count,
            ["horizon"] = h,
            ["mase"] = mase,
            ["smape"] = smape,
            ["rmsse"] = rmsse,
            ["baseline_mase"] = naiveMase,
            ["baseline_smape"] = naiveSmape,
            ["baseline_rmsse"] = naiveRmsse,
        };
        var notes = new List<string>();
        if (quantilesAll.Count > 0)
        {
            double wql = ForecastMetrics.WeightedQuantileLoss([.. actualAll], [.. quantilesAll], spec.Quantiles);
            double coverage = ForecastMetrics.Coverage([.. actualAll], [.. lower], [.. upper]);
            figures["weighted_quantile_loss"] = wql;
            figures["coverage"] = coverage;
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"Weighted quantile loss {Evaluation.Format(wql)} at levels {string.Join(", ", spec.Quantiles)}; {100 * coverage:F1}% of the actual values lie in the {100 * (spec.Quantiles[^1] - spec.Quantiles[0]):F0}% interval [{spec.Quantiles[0]}, {spec.Quantiles[^1]}]."));
        }

        notes.Add(string.Create(CultureInfo.InvariantCulture, $"MASE {Evaluation.Format(mase)} against the seasonal naive's {Evaluation.Format(naiveMase)} (season {spec.Season}; below 1 beats the in-sample seasonal naive)."));
        return new Evaluation
        {
            Task = "forecast",
            Split = split,
            Data = what,
            Summary = new EvaluationTable($"Forecasts of {h} steps, mean over the series", ["MASE", "sMAPE", "RMSSE"],
            [
                new("model", [mase, smape, rmsse]),
                new($"seasonal naive (m = {spec.Season})", [naiveMase, naiveSmape, naiveRmsse]),
            ]),
            Breakdown = series.Count > 1 ? new EvaluationTable("MASE per series", ["model", "seasonal naive"], rows) : null,
            Notes = notes,
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

        var windows = new ForecastWindows(Spec, Series, [.. Series.Select((s, i) => (i, s.Length - Spec.Reserved)).Take(sequences)]);
        int batch = windows.Count, steps = windows.Steps;
        var inputs = new float[steps * batch * windows.InputWidth];
        var targets = new float[steps * batch * windows.TargetWidth];
        windows.CopyBatch([.. Enumerable.Range(0, batch)], inputs, targets);
        return new DiagnosisSample(inputs, targets, steps, batch, string.Create(CultureInfo.InvariantCulture, $"the validation windows of {batch} series, {steps} steps each"));
    }
}

/// <summary>
/// Forecasting windows built on demand from the series (no copy of every window is kept): window (series, origin) reads
/// the steps <see cref="Forecaster.Window"/> gives; a direct head's targets are the H scaled values from the origin on at
/// its last step, a recursive head's the one-step target of every step.
/// </summary>
internal sealed class ForecastWindows(ForecastSpec spec, IReadOnlyList<Series> series, IReadOnlyList<(int Series, int Origin)> origins) : ISequenceData
{
    private float[] _window = [];

    /// <summary>The windows' series and origins.</summary>
    public IReadOnlyList<(int Series, int Origin)> Origins => origins;

    /// <inheritdoc/>
    public int Count => origins.Count;

    /// <inheritdoc/>
    public int Steps => spec.SequenceSteps;

    /// <inheritdoc/>
    public int InputWidth => spec.InputWidth;

    /// <inheritdoc/>
    public int TargetWidth => spec.Head == ForecastHead.Recursive ? 1 : spec.Horizon;

    /// <inheritdoc/>
    public void CopyBatch(ReadOnlySpan<int> indices, Span<float> inputs, Span<float> targets)
    {
        int batch = indices.Length, steps = Steps, width = InputWidth, h = spec.Horizon;
        bool recursive = spec.Head == ForecastHead.Recursive;
        int targetCount = recursive ? steps : h;
        if (_window.Length < (steps * width) + targetCount)
        {
            _window = new float[(steps * width) + targetCount];
        }

        targets.Clear();
        for (int b = 0; b < batch; b++)
        {
            var (s, origin) = origins[indices[b]];
            Forecaster.Window(spec, series[s], origin, _window.AsSpan(0, steps * width), _window.AsSpan(steps * width, targetCount));
            for (int t = 0; t < steps; t++)
            {
                _window.AsSpan(t * width, width).CopyTo(inputs.Slice(((t * batch) + b) * width, width));
            }

            if (recursive)
            {
                // One target per step: targets are [T, B, 1].
                for (int t = 0; t < steps; t++)
                {
                    targets[(t * batch) + b] = _window[(steps * width) + t];
                }

                continue;
            }

            // The last step's targets: the scaled target column of the H steps after the origin.
            var last = targets.Slice((((steps - 1) * batch) + b) * h, h);
            for (int k = 0; k < h; k++)
            {
                last[k] = _window[(steps * width) + k];
            }
        }
    }
}
