using Unroll.Forecasts;
using Unroll.Models;
using Unroll.Tasks;

namespace Unroll.Tests;

public class ForecasterTests
{
    private static SeriesTable Table(int length, Func<int, int, double> value, params string[] ids)
    {
        ids = ids.Length == 0 ? ["a"] : ids;
        var rows = ids.SelectMany(id => Enumerable.Range(0, length).Select(t => (id, t))).ToArray();
        return new SeriesTable("panel.csv", [.. rows.Select(r => r.id)], [.. rows.Select(r => r.t.ToString(System.Globalization.CultureInfo.InvariantCulture))],
            [.. rows.Select(r => value(Array.IndexOf(ids, r.id), r.t))], [.. Enumerable.Range(2, rows.Length)], ["value"]);
    }

    private static ForecastSpec Spec(ForecastBaseline relativeTo = ForecastBaseline.None) =>
        new() { Horizon = 4, Context = 8, Season = 4, Scaling = ForecastScaling.Window, RelativeTo = relativeTo };

    [Fact]
    public void ASeasonalNaiveRelativeWindowTargetsTheDeviationFromTheLastSeason()
    {
        var (series, _) = SeriesSplitter.Split(Table(20, (_, t) => (t % 4) + (0.5 * t)), "time");
        var inputs = new float[8];
        var targets = new float[4];
        var scale = Forecaster.Window(Spec(ForecastBaseline.SeasonalNaive), series[0], 10, inputs, targets);
        // Context t = 2..9: its own mean and (population) standard deviation.
        double[] context = [.. Enumerable.Range(2, 8).Select(t => (t % 4) + (0.5 * t))];
        double mean = context.Average(), std = Math.Sqrt(context.Select(v => (v - mean) * (v - mean)).Average());
        Assert.Equal(mean, scale.Mean, 12);
        Assert.Equal(std, scale.Std, 12);
        for (int k = 0; k < 4; k++)
        {
            // y_{10+k} - y_{6+k} = 0.5 * 4: the trend over one season, in the window's scale.
            Assert.Equal(2 / std, targets[k], 5);
            Assert.Equal((((10 + k - 4) % 4) + (0.5 * (6 + k))), scale.Offset(k), 12);
            Assert.Equal((float)((context[k] - mean) / std), inputs[k], 6);
        }
    }

    [Fact]
    public void TrainingAndItsScalingNeverReadTheHeldOutHorizon()
    {
        // The same series twice, the second with its held-out last H values changed: every training window, its
        // targets and the stored scaling must be the same bits.
        var spec = Spec() with { Scaling = ForecastScaling.Series };
        string file = Path.GetTempFileName(); // the task records the file's fingerprint; the rows come from the table
        ForecastTask Task(double future) => ForecastTask.Create(file, spec,
            Table(30, (s, t) => t >= 26 ? future : Math.Sin(t + s), "a", "b"));
        var (one, two) = (Task(1e6), Task(-5));
        File.Delete(file);
        Assert.Equal(one.Spec.SeriesScales["a"], two.Spec.SeriesScales["a"]);
        Assert.Equal(one.Spec.SeriesScales["b"], two.Spec.SeriesScales["b"]);
        var (windowsOne, windowsTwo) = (ForecastTask.TrainingWindows(one.Series, one.Spec), ForecastTask.TrainingWindows(two.Series, two.Spec));
        Assert.Equal(2 * (30 - 8 - 8 + 1), windowsOne.Count);
        Assert.All(windowsOne.Origins, o => Assert.True(o.Origin + 4 <= 26, $"origin {o.Origin} reads a held-out target"));
        int[] all = [.. Enumerable.Range(0, windowsOne.Count)];
        var (x1, y1, x2, y2) = (new float[8 * all.Length], new float[8 * all.Length * 4], new float[8 * all.Length], new float[8 * all.Length * 4]);
        windowsOne.CopyBatch(all, x1, y1);
        windowsTwo.CopyBatch(all, x2, y2);
        Assert.Equal(x1, x2);
        Assert.Equal(y1, y2);
    }

    [Fact]
    public void AZeroOutputForecastsTheBaselineAndQuantilesFollowTheGaussian()
    {
        var spec = Spec(ForecastBaseline.SeasonalNaive) with { Distribution = OutputDistribution.Gaussian, Quantiles = [0.1, 0.5, 0.9] };
        var (series, _) = SeriesSplitter.Split(Table(20, (_, t) => 3 + (t % 4)), "time");
        var model = new SequenceModel<float>(spec.Shape() with { HiddenSize = 3 }, initialize: false); // every weight zero: outputs 0
        var forecast = Forecaster.Forecast(model, spec with { SeriesScales = new Dictionary<string, double[]>() }, series, [20])[0];
        var scale = Forecaster.Window(spec, series[0], 20, new float[8], Span<float>.Empty);
        double sigma = Unroll.Training.DistributionLosses.Scale(0) * scale.Std;
        Assert.Equal([3.0, 4, 5, 6], forecast.Point);
        Assert.Equal(3 - (1.2815515655446004 * sigma), forecast.Quantiles[0], 6);
        Assert.Equal(3, forecast.Quantiles[1], 9);
        Assert.Equal(3 + (1.2815515655446004 * sigma), forecast.Quantiles[2], 6);
    }
}

public class ForecastBacktestTests
{
    private static IReadOnlyList<Series> Panel(Func<int, int, double> value) =>
        SeriesSplitter.Split(new SeriesTable("panel.csv", [.. Enumerable.Repeat("a", 40), .. Enumerable.Repeat("b", 36)],
            [.. Enumerable.Range(0, 40).Select(t => $"{t}"), .. Enumerable.Range(0, 36).Select(t => $"{t}")],
            [.. Enumerable.Range(0, 40).Select(t => value(0, t)), .. Enumerable.Range(0, 36).Select(t => value(1, t))],
            [.. Enumerable.Range(2, 76)], ["value"]), "time").Series;

    private static (IRecurrentModel<float> Model, int BestStep) Train(ForecastTask task, List<int> seenLengths)
    {
        seenLengths.AddRange(task.Series.Select(s => s.Length));
        var options = new Unroll.Training.TrainingOptions { Steps = 5, BatchSize = 4, ValidateEvery = 5 };
        return ForecastBacktest.TrainFold(task, new ModelConfig { Architecture = Architecture.Gru, HiddenSize = 3, InputSize = 1, OutputSize = 1 }, options);
    }

    [Fact]
    public void NoFoldSeesItsOwnFuture()
    {
        var spec = new ForecastSpec { Horizon = 3, Context = 6, Season = 4, Scaling = ForecastScaling.Series, RelativeTo = ForecastBaseline.SeasonalNaive };
        double Value(int s, int t) => Math.Sin((0.7 * t) + s) + (0.05 * t);
        var seen = new List<int>();
        var folds = ForecastBacktest.Run(spec, Panel(Value), 3, task => Train(task, seen));
        // Fold k cuts each series at n - (4 - k) H: a (40) at 31, 34, 37; b (36) at 27, 30, 33.
        Assert.Equal([31, 27, 34, 30, 37, 33], seen);
        Assert.Equal([[31, 27], [34, 30], [37, 33]], folds.Select(f => f.Origins.ToArray()));
        for (int k = 0; k < 3; k++)
        {
            // Every value from the fold's origin on changed: its training, scaling and forecast must not move (its score does).
            var origins = folds[k].Origins;
            var changed = ForecastBacktest.Run(spec, Panel((s, t) => t >= origins[s] ? 1000 + t : Value(s, t)), 3, task => Train(task, []));
            var before = Forecaster.Forecast(Train(ForecastTask.FromSeries(spec, Cut(Panel(Value), origins), "a"), []).Model, spec with { SeriesScales = Scales(spec, Panel(Value), origins) }, Panel(Value), origins);
            var after = Forecaster.Forecast(Train(ForecastTask.FromSeries(spec, Cut(Panel((s, t) => t >= origins[s] ? 1000 + t : Value(s, t)), origins), "a"), []).Model,
                spec with { SeriesScales = Scales(spec, Panel((s, t) => t >= origins[s] ? 1000 + t : Value(s, t)), origins) }, Panel((s, t) => t >= origins[s] ? 1000 + t : Value(s, t)), origins);
            Assert.Equal(before[0].Point, after[0].Point);
            Assert.Equal(before[1].Point, after[1].Point);
            Assert.NotEqual(folds[k].Evaluation["mase"], changed[k].Evaluation["mase"]);
        }
    }

    private static Series[] Cut(IReadOnlyList<Series> series, IReadOnlyList<int> origins) =>
        [.. series.Select((s, i) => new Series(s.Id, s.Values[..origins[i]], s.Times[..origins[i]]))];

    private static IReadOnlyDictionary<string, double[]> Scales(ForecastSpec spec, IReadOnlyList<Series> series, IReadOnlyList<int> origins) =>
        Forecaster.Fit(spec, Cut(series, origins), "a").SeriesScales;

    [Fact]
    public void TooManyFoldsAreRefusedByName()
    {
        var spec = new ForecastSpec { Horizon = 10, Context = 6, Season = 1 };
        // Series of 40 steps; a fold trains on a context of 6, a target of 10 and 10 held out: 26 steps before its origin.
        var error = Assert.Throws<UnrollException>(() => ForecastBacktest.Run(spec, Panel((_, t) => t), 4, task => Train(task, [])));
        Assert.Contains("--folds: 4 folds of 10 steps leave series 'a' (40 steps) only 0 steps before the first fold's origin; training a fold needs at least 26", error.Message, StringComparison.Ordinal);
        Assert.Contains("At most 1 fold fits it: use fewer --folds", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<UnrollException>(() => ForecastBacktest.Run(spec, Panel((_, t) => t), 2, task => Train(task, [])));
        Assert.Contains("leave series 'a' (40 steps) only 20 steps before the first fold's origin", error.Message, StringComparison.Ordinal);
        error = Assert.Throws<UnrollException>(() => ForecastBacktest.Run(spec with { Context = 25 }, Panel((_, t) => t), 1, task => Train(task, [])));
        Assert.Contains("No fold fits it: leave it out of the file, or backtest a model with a shorter --context.", error.Message, StringComparison.Ordinal);
    }
}
