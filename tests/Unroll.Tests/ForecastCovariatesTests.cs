using System.Globalization;
using Unroll.Forecasts;
using Unroll.Kernels;
using Unroll.Models;
using Unroll.Tasks;
using Unroll.Training;

namespace Unroll.Tests;

/// <summary>Future covariates, calendar features and the recursive head: what they read, what they learn, what they never see.</summary>
public class ForecastCovariatesTests
{
    // A long table: every series has `length` steps; row(s, t) gives the target then the covariates of `columns`.
    internal static SeriesTable Table(int series, int length, Func<int, int, double[]> row, string[] columns, Func<int, string>? time = null)
    {
        time ??= t => t.ToString(CultureInfo.InvariantCulture);
        var keys = Enumerable.Range(0, series).SelectMany(s => Enumerable.Range(0, length).Select(t => (s, t))).ToArray();
        return new SeriesTable("panel.csv", [.. keys.Select(k => $"s{k.s}")], [.. keys.Select(k => time(k.t))],
            [.. keys.SelectMany(k => row(k.s, k.t))], [.. Enumerable.Range(2, keys.Length)], columns);
    }

    private static IRecurrentModel<float> Train(ForecastTask task, string cell = "gru", int steps = 300)
    {
        var options = new TrainingOptions { Steps = steps, BatchSize = 32, ValidateEvery = steps, DiagnoseEvery = 0 };
        return ForecastBacktest.TrainFold(task, new ModelConfig { Architecture = Architectures.Parse(cell), HiddenSize = 16, InputSize = 1, OutputSize = 1 }, options).Model;
    }

    [Theory]
    [InlineData("Direct")]
    [InlineData("Recursive")]
    public void AFutureCovariateTheTargetFollowsIsLearned(string headName)
    {
        var head = Enum.Parse<ForecastHead>(headName);
        // y_t = 10 + 3 x_t + noise with x_t = +-1 drawn per step: the past of y says nothing about its next values, the
        // known-ahead x says nearly everything. With m = 1 the MASE scale is mean |y_t - y_{t-1}|, about 3.
        var random = new Random(5);
        var x = new double[4, 160];
        var noise = new double[4, 160];
        for (int s = 0; s < 4; s++)
        {
            for (int t = 0; t < 160; t++)
            {
                (x[s, t], noise[s, t]) = (random.Next(2) * 2 - 1, 0.1 * (random.NextDouble() - 0.5));
            }
        }

        string file = Path.GetTempFileName();
        try
        {
            double Mase(IReadOnlyList<string> future)
            {
                var spec = new ForecastSpec { Horizon = 4, Context = 8, Season = 1, Head = head, FutureCovariates = future, Scaling = ForecastScaling.Series, RelativeTo = ForecastBaseline.None };
                // The reader gives the columns the spec names.
                var table = Table(4, 160, (s, t) => [10 + (3 * x[s, t]) + noise[s, t], .. future.Count > 0 ? new[] { x[s, t] } : []], [.. spec.ValueColumns]);
                var task = ForecastTask.Create(file, spec, table);
                return task.Evaluate(Train(task), new EvaluationOptions())["mase"];
            }

            double with = Mase(["x"]), without = Mase([]);
            Assert.True(with < 0.25, $"with x known ahead: MASE {with}");
            Assert.True(without > 0.6, $"without x: MASE {without}");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("Direct")]
    [InlineData("Recursive")]
    public void NoTargetOrPastCovariateFromTheFutureReachesTheInputs(string headName)
    {
        var head = Enum.Parse<ForecastHead>(headName);
        // Series with a past covariate p (direct only: a recursive head refuses one for H > 1), a future covariate f and
        // the month: changing every target and past value from the origin on leaves the window and the forecast alone;
        // changing a future covariate after the origin changes them (it is read, where it belongs).
        int origin = 30;
        string[] columns = head == ForecastHead.Direct ? ["value", "p", "f"] : ["value", "f"];
        IReadOnlyList<Series> Panel(double targetAfter, double futureAfter) => SeriesSplitter.Split(Table(2, 40,
            (s, t) => head == ForecastHead.Direct
                ? [t >= origin ? targetAfter : Math.Sin(t + s), t >= origin ? -targetAfter : Math.Cos(t), t >= origin ? futureAfter : t % 3]
                : [t >= origin ? targetAfter : Math.Sin(t + s), t >= origin ? futureAfter : t % 3],
            columns, t => new DateTime(2000, 1, 1).AddMonths(t).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)), "time").Series;
        var spec = new ForecastSpec
        {
            Horizon = 4, Context = 12, Season = 12, Head = head, Scaling = ForecastScaling.Window, RelativeTo = ForecastBaseline.SeasonalNaive,
            PastCovariates = head == ForecastHead.Direct ? ["p"] : [], FutureCovariates = ["f"], Calendar = [CalendarFeature.Month], StepMonths = 1,
            CovariateMeans = head == ForecastHead.Direct ? [0, 1] : [1], CovariateStds = head == ForecastHead.Direct ? [1, 1] : [1],
        };
        var model = new SequenceModel<float>(spec.Shape() with { Architecture = Architecture.Lstm, HiddenSize = 4 }, initialize: false);
        Initializers.PyTorchDefault(model, new Random(2));
        float[] Inputs(IReadOnlyList<Series> panel)
        {
            var inputs = new float[spec.SequenceSteps * spec.InputWidth];
            Forecaster.Window(spec, panel[0], origin, inputs, Span<float>.Empty);
            return inputs;
        }

        var (plain, targetsChanged, futureChanged) = (Panel(1, 2), Panel(1e6, 2), Panel(1, 7));
        Assert.Equal(Inputs(plain), Inputs(targetsChanged));
        Assert.NotEqual(Inputs(plain), Inputs(futureChanged));
        var forecast = Forecaster.Forecast(model, spec, plain, [origin, origin]);
        Assert.Equal(forecast[0].Point, Forecaster.Forecast(model, spec, targetsChanged, [origin, origin])[0].Point);
        Assert.NotEqual(forecast[0].Point, Forecaster.Forecast(model, spec, futureChanged, [origin, origin])[0].Point);
    }

    [Theory]
    [InlineData("Direct")]
    [InlineData("Recursive")]
    public void TrainingNeverReadsTheHeldOutParts(string headName)
    {
        var head = Enum.Parse<ForecastHead>(headName);
        // With a test part, validation and test are the last 2H steps: every training window and its targets, future
        // covariates and calendar included, are the same bits whatever those steps hold.
        var spec = new ForecastSpec
        {
            Horizon = 3, Context = 6, Season = 4, Head = head, HoldOutTest = true, Scaling = ForecastScaling.Series,
            RelativeTo = ForecastBaseline.SeasonalNaive, FutureCovariates = ["f"], Calendar = [CalendarFeature.DayOfWeek], CalendarEncoding = CalendarEncoding.OneHot,
        };
        string file = Path.GetTempFileName();
        ForecastTask Task(double after) => ForecastTask.Create(file, spec, Table(2, 30, (s, t) => t >= 24 ? [after, after] : [Math.Sin(t + s), t % 5], ["value", "f"],
            t => new DateTime(2024, 1, 1).AddDays(t).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)));
        var (one, two) = (Task(1e6), Task(-5));
        File.Delete(file);
        Assert.Equal(one.Spec.SeriesScales["s0"], two.Spec.SeriesScales["s0"]);
        Assert.Equal(one.Spec.CovariateMeans, two.Spec.CovariateMeans);
        var (first, second) = (ForecastTask.TrainingWindows(one.Series, one.Spec), ForecastTask.TrainingWindows(two.Series, two.Spec));
        Assert.All(first.Origins, o => Assert.True(o.Origin + 3 <= 24, $"origin {o.Origin} reads a held-out step"));
        int[] all = [.. Enumerable.Range(0, first.Count)];
        var (x1, y1) = (new float[first.Steps * all.Length * first.InputWidth], new float[first.Steps * all.Length * first.TargetWidth]);
        var (x2, y2) = (new float[x1.Length], new float[y1.Length]);
        first.CopyBatch(all, x1, y1);
        second.CopyBatch(all, x2, y2);
        Assert.Equal(x1, x2);
        Assert.Equal(y1, y2);
    }

    [Fact]
    public void CalendarFeaturesAreTheHandComputedPositions()
    {
        Span<float> features = stackalloc float[2 + 2 + 7];
        // 2024-01-01 is a Monday; 13:30 is the 28th half-hour (position 27).
        CalendarFeatures.Write([CalendarFeature.Month, CalendarFeature.HalfHour, CalendarFeature.DayOfWeek], CalendarEncoding.SinCos, new DateTime(2024, 4, 1, 13, 30, 0), features[..6]);
        Assert.Equal((float)Math.Sin(2 * Math.PI * 3 / 12), features[0]);
        Assert.Equal((float)Math.Cos(2 * Math.PI * 3 / 12), features[1]);
        Assert.Equal((float)Math.Sin(2 * Math.PI * 27 / 48), features[2]);
        Assert.Equal((float)Math.Cos(2 * Math.PI * 0 / 7), features[5]); // 2024-04-01 is a Monday too
        CalendarFeatures.Write([CalendarFeature.DayOfWeek], CalendarEncoding.OneHot, new DateTime(2024, 1, 7), features[4..]);
        Assert.Equal([0f, 0, 0, 0, 0, 0, 1], features[4..].ToArray()); // Sunday, the last position
        Assert.Equal(["month_sin", "month_cos", "quarter_1", "quarter_2", "quarter_3", "quarter_4"],
            [.. CalendarFeatures.Names([CalendarFeature.Month], CalendarEncoding.SinCos), .. CalendarFeatures.Names([CalendarFeature.Quarter], CalendarEncoding.OneHot)]);
        Assert.Throws<UnrollException>(() => CalendarFeatures.Parse("month,weekday"));
    }

    [Fact]
    public void StepsAfterASeriesEndTakeTheirTimeFromTheFileStep()
    {
        var series = SeriesSplitter.Split(Table(1, 3, (_, t) => [t], ["value"], t => new DateTime(2023, 11, 30).AddMonths(t).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)), "time").Series[0];
        Assert.Equal(new DateTime(2024, 1, 30), series.TimeAt(2, 1, 0));
        Assert.Equal(new DateTime(2024, 3, 30), series.TimeAt(4, 1, 0));
        var hourly = SeriesSplitter.Split(Table(1, 2, (_, t) => [t], ["value"], t => $"2024-01-01T0{t}:30"), "time").Series[0];
        Assert.Equal(new DateTime(2024, 1, 1, 3, 30, 0), hourly.TimeAt(3, 0, TimeSpan.TicksPerHour));
        var integers = SeriesSplitter.Split(Table(1, 2, (_, t) => [t], ["value"]), "time").Series[0];
        Assert.Contains("expected dates or date-times", Assert.Throws<UnrollException>(() => integers.TimeAt(0, 0, 1)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rnn")]
    [InlineData("lstm")]
    [InlineData("gru")]
    [InlineData("lru")]
    [InlineData("mingru")]
    [InlineData("minlstm")]
    public void EveryCellForecastsRecursivelyBetterThanTheNaive(string cell)
    {
        // Sines of period 10 with a phase per series: one step back says where the wave is going only with a memory.
        var table = Table(6, 120, (s, t) => [5 + Math.Sin((2 * Math.PI * t / 10) + s)], ["value"]);
        string file = Path.GetTempFileName();
        try
        {
            var spec = new ForecastSpec { Horizon = 6, Context = 12, Season = 1, Head = ForecastHead.Recursive, Scaling = ForecastScaling.Series, RelativeTo = ForecastBaseline.None };
            var task = ForecastTask.Create(file, spec, table);
            var evaluation = task.Evaluate(Train(task, cell, 400), new EvaluationOptions());
            Assert.True(evaluation["mase"] < 0.5 * evaluation["baseline_mase"], $"{cell}: MASE {evaluation["mase"]} against the naive's {evaluation["baseline_mase"]}");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void AZeroRecursiveHeadRepeatsTheLastSeasonThroughItsOwnForecasts()
    {
        // Every weight zero: each step forecasts the value one season earlier, which beyond the first season is the
        // path's own forecast: the seasonal naive, whatever the horizon.
        var spec = new ForecastSpec { Horizon = 7, Context = 4, Season = 3, Head = ForecastHead.Recursive, Scaling = ForecastScaling.Window, RelativeTo = ForecastBaseline.SeasonalNaive };
        var series = SeriesSplitter.Split(Table(1, 10, (_, t) => [t * t], ["value"]), "time").Series;
        var model = new SequenceModel<float>(spec.Shape() with { HiddenSize = 2 }, initialize: false);
        var forecast = Forecaster.Forecast(model, spec, series, [10])[0];
        Assert.Equal(ForecastMetrics.SeasonalNaive([.. Enumerable.Range(0, 10).Select(t => (double)(t * t))], 7, 3), forecast.Point);
    }

    [Fact]
    public void SampledPathsFeedBackTheirOwnDrawsSoTheirSpreadGrowsLikeARandomWalk()
    {
        // h = x (identity Elman unit reading the previous value), mu = h and a constant sigma: every path is a random walk
        // from the last value, so the spread after k steps is sqrt(k) times the first step's (draws independent per step
        // would keep it constant).
        var spec = new ForecastSpec { Horizon = 9, Context = 5, Season = 1, Head = ForecastHead.Recursive, Distribution = OutputDistribution.Gaussian, Scaling = ForecastScaling.Window, RelativeTo = ForecastBaseline.None, Quantiles = [0.1, 0.9] };
        var model = new SequenceModel<float>(spec.Shape() with { HiddenSize = 1, Activation = Activation.Identity }, initialize: false);
        model.Parameters.Value(SequenceModel<float>.WeightIhName)[0] = 1;
        model.Parameters.Value(SequenceModel<float>.HeadWeightName)[0] = 1; // mu = h; sigma = softplus(0) from a zero bias
        var series = SeriesSplitter.Split(Table(1, 8, (_, t) => [t % 2], ["value"]), "time").Series;
        var forecast = Forecaster.Forecast(model, spec, series, [8])[0];
        double Width(int step) => forecast.Quantiles[(step * 2) + 1] - forecast.Quantiles[step * 2];
        Assert.InRange(Width(3) / Width(0), 2 * 0.9, 2 * 1.1); // sqrt(4)
        Assert.InRange(Width(8) / Width(0), 3 * 0.9, 3 * 1.1); // sqrt(9)
        Assert.Equal(1, forecast.Point[0], 1); // the last value, 1, at the median
    }

    [Fact]
    public void ARecursiveHeadRefusesWhatItCannotKnow()
    {
        Assert.Contains("not known after the origin", Assert.Throws<UnrollException>(() => new ForecastSpec { Head = ForecastHead.Recursive, PastCovariates = ["p"] }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("expected seasonal-naive or none", Assert.Throws<UnrollException>(() => new ForecastSpec { Head = ForecastHead.Recursive, RelativeTo = ForecastBaseline.SeasonalMean }.Validate()).Message, StringComparison.Ordinal);
        Assert.Contains("never a covariate", Assert.Throws<UnrollException>(() => new ForecastSpec { FutureCovariates = ["value"] }.Validate()).Message, StringComparison.Ordinal);
    }
}
