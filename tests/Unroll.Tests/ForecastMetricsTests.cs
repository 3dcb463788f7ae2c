using System.Text.Json;
using Unroll.Forecasts;

namespace Unroll.Tests;

public class ForecastMetricsTests
{
    private static double[] Numbers(JsonElement element) => [.. element.EnumerateArray().Select(e => e.GetDouble())];

    public static TheoryData<string> RCases => ["airpassengers_m12", "ukgas_m4", "nottem_m12_h30", "lynx_m1"];

    [Theory]
    [MemberData(nameof(RCases))]
    public void AgreeWithRsForecastAccuracyAndSnaive(string name)
    {
        // Written by scripts/reference/forecast_metrics_golden.R (forecast::accuracy, forecast::snaive).
        var root = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Golden", "forecast_metrics.json"))).RootElement;
        var c = root.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        var history = Numbers(c.GetProperty("history"));
        var actual = Numbers(c.GetProperty("actual"));
        var forecast = Numbers(c.GetProperty("forecast"));
        int season = c.GetProperty("season").GetInt32();
        Assert.Equal(c.GetProperty("mase").GetDouble(), ForecastMetrics.Mase(history, actual, forecast, season), 11);
        Assert.Equal(c.GetProperty("rmsse").GetDouble(), ForecastMetrics.Rmsse(history, actual, forecast, season), 11);
        Assert.Equal(c.GetProperty("smape").GetDouble(), ForecastMetrics.Smape(actual, forecast), 11);
        Assert.Equal(Numbers(c.GetProperty("snaive")), ForecastMetrics.SeasonalNaive(history, actual.Length, season));
    }

    [Fact]
    public void ByHand()
    {
        double[] history = [1, 2, 4, 3, 5]; // lag-2 differences 3, 1, 1: mean |.| 5/3, mean square 11/3
        double[] actual = [6, 4], forecast = [5, 6];
        Assert.Equal(1.5 / (5.0 / 3), ForecastMetrics.Mase(history, actual, forecast, 2), 14);
        Assert.Equal(Math.Sqrt(2.5 / (11.0 / 3)), ForecastMetrics.Rmsse(history, actual, forecast, 2), 14);
        Assert.Equal(100 * ((1.0 / 11) + (2.0 / 10)), ForecastMetrics.Smape(actual, forecast), 12);
        Assert.Equal([3.0, 5, 3], ForecastMetrics.SeasonalNaive(history, 3, 2));
        Assert.Equal(0.5, ForecastMetrics.Coverage(actual, [5.5, 4.5], [6, 9]));
        // levels 0.1 and 0.9; actual 10 and 20 (sum 30). q0.1 = [8, 25]: pinball 0.1*2 + 0.9*5 = 4.7; q0.9 = [12, 19]: 0.1*2 + 0.9*1 = 1.1.
        Assert.Equal(((2 * 4.7 / 30) + (2 * 1.1 / 30)) / 2, ForecastMetrics.WeightedQuantileLoss([10, 20], [8, 12, 25, 19], [0.1, 0.9]), 14);
    }

    [Fact]
    public void RefuseHistoriesThatCannotScale()
    {
        Assert.Contains("longer than the season", Assert.Throws<UnrollException>(() => ForecastMetrics.Mase([1, 2], [1], [1], 2)).Message, StringComparison.Ordinal);
        Assert.Contains("repeats itself", Assert.Throws<UnrollException>(() => ForecastMetrics.Mase([1, 2, 1, 2], [1], [1], 2)).Message, StringComparison.Ordinal);
        Assert.Throws<UnrollException>(() => ForecastMetrics.SeasonalNaive([1, 2], 3, 12));
    }
}
