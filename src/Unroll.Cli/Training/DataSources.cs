using System.CommandLine;
using Unroll.Data;
using Unroll.Data.Images;
using Unroll.Data.Tables;
using Unroll.Data.Tasks;
using Unroll.Data.Text;
using Unroll.Cli.Forecasts;
using Unroll.Forecasts;
using Unroll.Models;
using Unroll.Plots;
using Unroll.Tasks;
using Unroll.Training;

namespace Unroll.Cli.Training;

/// <summary>
/// A `unroll train` subcommand's own part: its name, its defaults, the options that say which data to read,
/// and the task it makes of them. Everything else (model, training, run directory) is shared.
/// </summary>
internal abstract class DataSource
{
    /// <summary>The subcommand's name.</summary>
    public abstract string Name { get; }

    /// <summary>The subcommand's help line.</summary>
    public abstract string Description { get; }

    /// <summary>The defaults that train well on this source.</summary>
    public abstract SourceDefaults Defaults { get; }

    /// <summary>Adds the source's own arguments and options.</summary>
    public abstract void AddTo(Command command);

    /// <summary>The task for a new run, its data read and checked (nothing is written before this succeeds).</summary>
    public abstract TrainingTask CreateTask(ParseResult parse, TrainOptions common);

    /// <summary>Whether a checkpoint's task belongs to this subcommand (for `train NAME --resume DIR`).</summary>
    public virtual bool Owns(TrainingTask task) => task.Name == Name;

    /// <summary>Plots only this source has, written after training; returns their file names.</summary>
    public virtual IEnumerable<string> WritePlots(string directory, TrainingTask task, IRecurrentModel<float> model, Evaluation evaluation) => [];

    /// <summary>Every source, in the order `unroll train --help` lists them.</summary>
    public static IEnumerable<DataSource> All() =>
    [
        new OscillatorSource(),
        .. SequenceTask.Names.Select(name => new SyntheticSource(name)),
        new TextSource(),
        new ImageSource(),
        new CsvSource(),
        new ForecastSource(),
    ];
}

/// <summary>The damped, driven oscillator (what `unroll train` trains when no source is named).</summary>
internal sealed class OscillatorSource : DataSource
{
    private readonly OscillatorCliOptions _oscillator = new();
    private readonly Option<int?> _horizon = Options.Optional<int>("--horizon", "Free-running forecast horizon of the evaluation, in steps (default: the whole sequence)");

    public override string Name => "oscillator";

    public override string Description => "Forecast the damped, driven oscillator m x'' + eta x' + x = F(t) (what `unroll train` does when no data source is named)";

    public override SourceDefaults Defaults { get; } = new("rnn", 64, 4000, 32, 0.01, 50);

    public override void AddTo(Command command)
    {
        _oscillator.AddTo(command);
        command.Add(_horizon);
    }

    public override TrainingTask CreateTask(ParseResult parse, TrainOptions common)
    {
        var options = _oscillator.Read(parse);
        int? horizon = parse.GetValue(_horizon);
        if (horizon is { } h && (h < 1 || h > options.Steps))
        {
            throw new UnrollException($"--horizon: expected 1 to {options.Steps} steps (the sequence length), got {h}.");
        }

        return new OscillatorTask(new OscillatorDataDescription(options, parse.GetValue(common.Seed), horizon));
    }

    public override IEnumerable<string> WritePlots(string directory, TrainingTask task, IRecurrentModel<float> model, Evaluation evaluation)
    {
        var dataset = ((OscillatorTask)task).Dataset;
        if (dataset.Test.Count == 0)
        {
            return [];
        }

        var first = dataset.Test.Slice(0, 1);
        int horizon = (int)evaluation["horizon"];
        var oneStep = Forecasting.OneStep(model, first);
        var freeRun = Forecasting.FreeRun(model, first, first.InputColumn(OscillatorDataset.PositionColumn), first.TargetColumn(OscillatorDataset.NextPositionColumn), horizon);
        double dt = dataset.Options.TimeStep;
        var time = Enumerable.Range(1, first.Length).Select(t => t * dt).ToList();
        var truth = Enumerable.Range(0, first.Length).Select(t => first.Target(0, t, 0)).ToList();
        var chart = new Chart { Title = "Test trajectory: x(t+dt)", XLabel = "time", YLabel = "x" }
            .AddLine("truth", time, truth)
            .AddLine("one-step prediction", time, oneStep)
            .AddLine("free-running forecast", time.Take(horizon).ToList(), freeRun, dashed: true);
        IO.AtomicFile.WriteAllText(Path.Combine(directory, "forecast.svg"), chart.ToSvg());
        return ["forecast.svg"];
    }
}

/// <summary>A generated long-range task: adding, copy or temporal-order.</summary>
internal sealed class SyntheticSource(string name) : DataSource
{
    private static readonly TaskDataDescription Counts = new();
    private readonly Option<int> _length = Options.Make("--length", "T: sequence length (adding, temporal-order) or the delay between the symbols and their recall (copy)", 100);
    private readonly Option<int> _trainCount = Options.Make("--train-count", "Training sequences", Counts.TrainCount);
    private readonly Option<int> _validationCount = Options.Make("--validation-count", "Validation sequences", Counts.ValidationCount);
    private readonly Option<int> _testCount = Options.Make("--test-count", "Test sequences", Counts.TestCount);

    public override string Name => name;

    public override string Description => name switch
    {
        AddingProblem.TaskName => "The adding problem: sum the two marked values of a sequence of T (Hochreiter & Schmidhuber 1997; Le et al. 2015)",
        CopyMemory.TaskName => "Copy memory: recall 10 symbols after T blanks (Arjovsky, Shah & Bengio 2016)",
        _ => "Temporal order: classify the order of X/Y at two positions of a sequence of T (Hochreiter & Schmidhuber 1997)",
    };

    public override SourceDefaults Defaults { get; } = new("lstm", 64, 4000, 32, 0.01, 100);

    public override void AddTo(Command command)
    {
        command.Add(_length);
        command.Add(_trainCount);
        command.Add(_validationCount);
        command.Add(_testCount);
    }

    public override TrainingTask CreateTask(ParseResult parse, TrainOptions common)
    {
        var description = new TaskDataDescription
        {
            Task = name,
            Length = parse.GetValue(_length),
            TrainCount = parse.GetValue(_trainCount),
            ValidationCount = parse.GetValue(_validationCount),
            TestCount = parse.GetValue(_testCount),
            Seed = parse.GetValue(common.Seed),
        };
        description.Validate();
        if (description.TestCount < 1)
        {
            throw new UnrollException($"--test-count: expected at least 1 (the run is evaluated on the test split), got {description.TestCount}.");
        }

        return new SyntheticTask(description);
    }
}

/// <summary>A character- or word-level language model on a UTF-8 text file.</summary>
internal sealed class TextSource : DataSource
{
    private readonly Argument<string> _file = new("file") { Description = "A UTF-8 text file" };
    private readonly Option<string> _level = Options.Make("--level", "Tokens: char (every Unicode character) or word (whitespace-separated, <eos> at line ends)", "char");
    private readonly Option<double> _validationFraction = Options.Make("--validation-fraction", "The last fraction of the text held out for validation", 0.1);
    private readonly Option<int?> _maxVocabulary = Options.Optional<int>("--max-vocab", "Keep at most this many tokens (<unk> included), the most frequent; others read as <unk>");
    private readonly Option<int> _minCount = Options.Make("--min-count", "Tokens seen fewer times in the training part read as <unk>", 1);

    public TextSource() => _level.AcceptOnlyFromAmong("char", "word");

    public override string Name => "text";

    public override string Description => "Train a character- or word-level language model on a UTF-8 text file (truncated BPTT over contiguous streams, --bptt K, default 50)";

    public override SourceDefaults Defaults { get; } = new("lstm", 128, 1000, 32, 0.002, 100);

    public override void AddTo(Command command)
    {
        command.Add(_file);
        command.Add(_level);
        command.Add(_validationFraction);
        command.Add(_maxVocabulary);
        command.Add(_minCount);
    }

    public override TrainingTask CreateTask(ParseResult parse, TrainOptions common)
    {
        var options = new TextCorpusOptions
        {
            Level = parse.GetValue(_level) == "word" ? TextLevel.Word : TextLevel.Char,
            ValidationFraction = parse.GetValue(_validationFraction),
            MaxVocabulary = parse.GetValue(_maxVocabulary),
            MinCount = parse.GetValue(_minCount),
        };
        options.Validate();
        string path = parse.GetValue(_file)!;
        return new TextTask(Path.GetFullPath(path), options);
    }
}

/// <summary>Fashion-MNIST read as sequences.</summary>
internal sealed class ImageSource : DataSource
{
    private readonly Option<string> _order = Options.Make("--order", "How an image becomes a sequence: rows (28 steps of 28 pixels), pixels (784 steps of 1) or permuted (784 steps in a fixed seeded order)", "rows");
    private readonly Option<string> _dataDirectory = Options.Make("--data-dir", "Directory of the four IDX files (train-images-idx3-ubyte.gz, ...)", FashionMnist.DefaultDirectory);
    private readonly Option<long> _permutationSeed = Options.Make("--permutation-seed", "Seeds the pixel permutation of --order permuted (stored in the model)", 1L);
    private readonly Option<int?> _trainCount = Options.Optional<int>("--train-count", "Use only the first N training images (quick runs); default all but the validation images");
    private readonly Option<int> _validationCount = Options.Make("--validation-count", "The last N training images held out for validation", 5000);
    private readonly Option<int?> _testCount = Options.Optional<int>("--test-count", "Evaluate on the first N test images (default all 10000)");

    public ImageSource() => _order.AcceptOnlyFromAmong("rows", "pixels", "permuted");

    public override string Name => "fashion-mnist";

    public override string Description => "Classify Fashion-MNIST images read as sequences (rows, pixels or permuted pixels); reports test accuracy";

    public override SourceDefaults Defaults { get; } = new("lstm", 128, 1000, 64, 0.002, 100);

    public override void AddTo(Command command)
    {
        foreach (Option option in new Option[] { _order, _dataDirectory, _permutationSeed, _trainCount, _validationCount, _testCount })
        {
            command.Add(option);
        }
    }

    public override TrainingTask CreateTask(ParseResult parse, TrainOptions common) => ImageTask.Create(
        parse.GetValue(_dataDirectory)!, Enum.Parse<PixelOrder>(parse.GetValue(_order)!, ignoreCase: true), parse.GetValue(_permutationSeed),
        parse.GetValue(_trainCount), parse.GetValue(_validationCount), parse.GetValue(_testCount));
}

/// <summary>A user's time series in a CSV file.</summary>
internal sealed class CsvSource : DataSource
{
    private readonly Argument<string> _file = new("file") { Description = "A CSV file: a header line of column names, then one line per time step" };
    private readonly Option<string> _inputs = new("--inputs") { Description = "Comma-separated names of the input columns", Required = true };
    private readonly Option<string> _targets = new("--targets") { Description = "Comma-separated names of the target columns", Required = true };
    private readonly Option<int> _window = Options.Make("--window", "Steps per training sequence (the file's training rows cut into windows)", 50);
    private readonly Option<int> _shift = Options.Make("--shift", "Predict the targets this many rows ahead (1: the next step; 0: the same row)", 1);
    private readonly Option<double> _validationFraction = Options.Make("--validation-fraction", "The last fraction of the rows held out for validation", 0.2);

    public override string Name => "csv";

    public override string Description => "Train on your own time series: input and target columns of a CSV file, normalised with the training part's mean and std";

    public override SourceDefaults Defaults { get; } = new("lstm", 32, 500, 16, 0.01, 50);

    public override void AddTo(Command command)
    {
        command.Add(_file);
        foreach (Option option in new Option[] { _inputs, _targets, _window, _shift, _validationFraction })
        {
            command.Add(option);
        }
    }

    public override TrainingTask CreateTask(ParseResult parse, TrainOptions common) => CsvTask.Create(parse.GetValue(_file)!, new TimeSeriesTask
    {
        Inputs = SplitNames(parse.GetValue(_inputs)!),
        Targets = SplitNames(parse.GetValue(_targets)!),
        Window = parse.GetValue(_window),
        Shift = parse.GetValue(_shift),
        ValidationFraction = parse.GetValue(_validationFraction),
    });

    private static string[] SplitNames(string text) => text.Split(',', StringSplitOptions.TrimEntries);
}

/// <summary>Many series in long format forecast several steps at once (docs/forecasting.md).</summary>
internal sealed class ForecastSource : DataSource
{
    private static readonly ForecastSpec Defaults_ = new();
    private readonly Argument<string> _file = new("file") { Description = "A CSV or Parquet file in long format: a series id, a time, the target and covariates per row" };
    // --id too: the name forecasting libraries give the column (unique_id, item_id).
    private readonly Option<string> _series = Options.Make("--series", "The column of series ids (also --id)", Defaults_.SeriesColumn).WithAlias("--id");
    private readonly Option<string> _time = Options.Make("--time", "The column of times: integer steps or ISO dates (2024-01-31, 2024-01-31T13:30)", Defaults_.TimeColumn);
    private readonly Option<string> _target = Options.Make("--target", "The column to forecast", Defaults_.Target);
    private readonly Option<string> _past = Options.Make("--past", "Comma-separated past covariates: columns known up to the forecast origin only", string.Empty);
    private readonly Option<string> _future = Options.Make("--future", "Comma-separated future covariates: columns known ahead (planned prices, holidays), read at the forecast steps too", string.Empty);
    private readonly Option<string> _calendar = Options.Make("--calendar", $"Comma-separated features derived from the time column, known ahead: {string.Join(", ", CalendarFeatures.All)}", string.Empty);
    private readonly Option<string> _calendarEncoding = Options.Make("--calendar-encoding", "How each calendar feature is given: sin-cos (two inputs) or one-hot (one input per position)", "sin-cos");
    private readonly Option<string> _head = Options.Make("--head", "direct (all H steps at once from the last state) or recursive (one step ahead, fed back; sampled paths for probabilistic heads)", "direct");
    private readonly Option<bool> _test = Options.Make("--test", "Hold out the last H steps of every series as a test part that neither training nor the choice of the best model sees (validation: the H steps before them); eval scores it", false);
    private readonly Option<int> _horizon = Options.Make("--horizon", "H: steps forecast from every origin; the last H of every series are held out for validation", Defaults_.Horizon);
    private readonly Option<int> _context = Options.Make("--context", "L: steps of history read before each forecast", Defaults_.Context);
    private readonly Option<int> _season = Options.Make("--season", "m: the seasonal period of MASE and the seasonal naive baseline (0: 12 for monthly, 4 quarterly, 7 daily, 24 hourly, 48 half-hourly data, else 1)", 0);
    private readonly Option<string> _distribution = Options.Make("--distribution", "What the head predicts: point (MSE), gaussian or student-t (negative log-likelihood) or quantiles (pinball loss)", "point");
    private readonly Option<string> _scaling = Options.Make("--scaling", "How each series' target is scaled: series (its training part's mean and std, stored in the model) or window (each context window's own)", "window");
    private readonly Option<string> _relativeTo = Options.Make("--relative-to", "What the head predicts relative to: none (the scaled value) seasonal-naive (the deviation from the seasonal naive forecast) seasonal-mean (from the context's seasons averaged, with their drift) or exponential-smoothing (from a damped-trend seasonal exponential smoothing fitted to the history before the origin)", "seasonal-naive");
    private readonly Option<string> _quantiles = Options.Make("--quantiles", "Comma-separated quantile levels of the quantile head and of the reported intervals", "0.1,0.5,0.9");

    public ForecastSource()
    {
        _distribution.AcceptOnlyFromAmong("point", "gaussian", "student-t", "quantiles");
        _scaling.AcceptOnlyFromAmong("series", "window");
        _calendarEncoding.AcceptOnlyFromAmong("sin-cos", "one-hot");
        _head.AcceptOnlyFromAmong("direct", "recursive");
        _relativeTo.AcceptOnlyFromAmong("none", "seasonal-naive", "seasonal-mean", "exponential-smoothing");
        ForecastTask.Reader ??= ForecastFiles.Read;
    }

    public override string Name => "forecast";

    public override string Description => "Forecast many series in long format H steps ahead (point, Gaussian, Student-t or quantile heads); scored by MASE beside the seasonal naive";

    public override SourceDefaults Defaults { get; } = new("lstm", 32, 1000, 32, 0.003, 100);

    public override void AddTo(Command command)
    {
        command.Add(_file);
        foreach (Option option in new Option[] { _series, _time, _target, _past, _future, _calendar, _calendarEncoding, _horizon, _context, _season, _head, _distribution, _quantiles, _scaling, _relativeTo, _test })
        {
            command.Add(option);
        }
    }

    public override TrainingTask CreateTask(ParseResult parse, TrainOptions common)
    {
        string path = parse.GetValue(_file)!;
        var spec = new ForecastSpec
        {
            SeriesColumn = parse.GetValue(_series)!,
            TimeColumn = parse.GetValue(_time)!,
            Target = parse.GetValue(_target)!,
            PastCovariates = parse.GetValue(_past)!.Length == 0 ? [] : parse.GetValue(_past)!.Split(',', StringSplitOptions.TrimEntries),
            FutureCovariates = parse.GetValue(_future)!.Length == 0 ? [] : parse.GetValue(_future)!.Split(',', StringSplitOptions.TrimEntries),
            Calendar = CalendarFeatures.Parse(parse.GetValue(_calendar)!),
            CalendarEncoding = parse.GetValue(_calendarEncoding) == "one-hot" ? CalendarEncoding.OneHot : CalendarEncoding.SinCos,
            Head = parse.GetValue(_head) == "recursive" ? ForecastHead.Recursive : ForecastHead.Direct,
            HoldOutTest = parse.GetValue(_test),
            Horizon = parse.GetValue(_horizon),
            Context = parse.GetValue(_context),
            Season = parse.GetValue(_season),
            Distribution = parse.GetValue(_distribution) switch
            {
                "gaussian" => OutputDistribution.Gaussian,
                "student-t" => OutputDistribution.StudentT,
                "quantiles" => OutputDistribution.Quantiles,
                _ => OutputDistribution.Point,
            },
            Quantiles = ParseLevels(parse.GetValue(_quantiles)!),
            Scaling = parse.GetValue(_scaling) == "series" ? ForecastScaling.Series : ForecastScaling.Window,
            RelativeTo = parse.GetValue(_relativeTo) switch
            {
                "seasonal-naive" => ForecastBaseline.SeasonalNaive,
                "seasonal-mean" => ForecastBaseline.SeasonalMean,
                "exponential-smoothing" => ForecastBaseline.ExponentialSmoothing,
                _ => ForecastBaseline.None,
            },
        };
        spec.Validate();
        return ForecastTask.Create(path, spec, ForecastFiles.Read(path, spec, futureRows: false));
    }

    public override IEnumerable<string> WritePlots(string directory, TrainingTask task, IRecurrentModel<float> model, Evaluation evaluation)
    {
        IO.AtomicFile.WriteAllText(Path.Combine(directory, "forecast.svg"), ForecastPlot.Svg((ForecastTask)task, model));
        return ["forecast.svg"];
    }

    /// <summary>Parses comma-separated quantile levels.</summary>
    public static double[] ParseLevels(string text) => [.. text.Split(',', StringSplitOptions.TrimEntries).Select(part =>
        double.TryParse(part, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double level)
            ? level
            : throw new UnrollException($"--quantiles: expected comma-separated levels in (0, 1), got '{part}'."))];
}
