using System.Globalization;
using System.Text;

namespace Unroll.Cli.Tests;

public class ForecastCommandTests
{
    private static string Write(TempDirectory temp, string name, string text)
    {
        File.WriteAllText(temp.File(name), text);
        return temp.File(name);
    }

    [Fact]
    public void TheSeriesColumnCanBeNamedWithId()
    {
        // As forecasting libraries call it (unique_id, item_id): --id is --series.
        using var temp = new TempDirectory();
        string data = Write(temp, "panel.csv", PipelineTests.Panel(["a", "b"], 40).Replace("series,time,", "unique_id,time,", StringComparison.Ordinal));
        var (code, output, error) = CliRunner.Run("train", "forecast", data, "--id", "unique_id", "--horizon", "3", "--context", "12", "--hidden", "4", "--steps", "2", "-o", temp.File("run"));
        Assert.True(code == 0, error);
        Assert.Contains("2 series", output, StringComparison.Ordinal);
        var (missing, _, missingError) = CliRunner.Run("train", "forecast", data, "--horizon", "3", "--context", "12", "--steps", "2", "-o", temp.File("run2"));
        Assert.NotEqual(0, missing);
        Assert.Contains("'series'", missingError, StringComparison.Ordinal);
    }

    [Fact]
    public void TrainsForecastsAndScoresBesideTheSeasonalNaive()
    {
        using var temp = new TempDirectory();
        string data = Write(temp, "panel.csv", PipelineTests.Panel(["a", "b"], 60));
        var (code, output, error) = CliRunner.Run("train", "forecast", data, "--horizon", "6", "--context", "12", "--distribution", "quantiles", "--quantiles", "0.1,0.5,0.9",
            "--hidden", "8", "--steps", "30", "-o", temp.File("run"));
        Assert.True(code == 0, error);
        Assert.Contains("seasonal naive (m = 12)", output, StringComparison.Ordinal);
        Assert.True(File.Exists(temp.File("run/forecast.svg")));
        var evaluation = File.ReadAllText(temp.File("run/evaluation.json"));
        Assert.Contains("\"mase\"", evaluation, StringComparison.Ordinal);
        Assert.Contains("\"weighted_quantile_loss\"", evaluation, StringComparison.Ordinal);

        (code, output, error) = CliRunner.Run("forecast", temp.File("run/model.safetensors"), "--input", data, "--horizon", "3", "--output", temp.File("f.csv"));
        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(temp.File("f.csv"));
        Assert.Equal("series,step,forecast,q0.1,q0.5,q0.9", lines[0]);
        Assert.Equal(1 + (2 * 3), lines.Length);
        foreach (var line in lines.Skip(1))
        {
            var q = line.Split(',').Skip(3).Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            Assert.True(q[0] <= q[1] && q[1] <= q[2], line);
        }

        // -o is --output, as for train.
        (code, _, error) = CliRunner.Run("forecast", temp.File("run/model.safetensors"), "--input", data, "--horizon", "3", "-o", temp.File("short.csv"));
        Assert.True(code == 0, error);
        Assert.Equal(lines, File.ReadAllLines(temp.File("short.csv")));

        (code, _, error) = CliRunner.Run("forecast", temp.File("run/model.safetensors"), "--input", data, "--horizon", "7");
        Assert.NotEqual(0, code);
        Assert.Contains("--horizon: expected 1 to 6 steps", error, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string> BadInputs => new()
    {
        { "series,time,value\na,2000-01-01,1\n", "--target nope", "data.csv:1: no column named 'nope'" },
        { "series,time,value\na,2000-01-01,1\na,2000-02-01,x\n", string.Empty, "data.csv:3:3: column 'value' is 'x'; expected a finite number" },
        { "series,time,value\na,2000-01-01,1\na,2000-02-01,NaN\n", string.Empty, "data.csv:3:3: column 'value' is 'NaN'" },
        { "series,time,value\na,2000-01-01,1\na,2000-01-01,2\n", string.Empty, "data.csv:3: column 'time' is '2000-01-01', the same time as line 2" },
        { "series,time,value\na,2000-01-01,1\na,2000-02-01,2\na,2000-04-01,3\n", string.Empty, "data.csv:4: column 'time' is '2000-04-01' after '2000-02-01'" },
        { "series,time,value\na,2000-01-01,1\na,yesterday,2\n", string.Empty, "data.csv:3: column 'time' is 'yesterday'" },
        { "series,time,value\na,2000-01-01,1\na,2000-02-01\n", string.Empty, "data.csv:3: 2 fields; expected 3" },
        { "series,time,value\n" + string.Concat(Enumerable.Range(0, 10).Select(t => $"a,{t},{t % 3}\n")), string.Empty, "series 'a' has 10 steps; expected at least 48" },
        { "series,time,value\na,1,1\n", "--horizonn 3", "unknown option '--horizonn'" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public void EveryBadInputGetsOneMessageNamingFileLineAndColumn(string content, string options, string message)
    {
        using var temp = new TempDirectory();
        string data = Write(temp, "data.csv", content);
        string[] extra = options.Length == 0 ? [] : options.Split(' ');
        var (code, _, error) = CliRunner.Run(["train", "forecast", data, .. extra, "-o", temp.File("run")]);
        Assert.NotEqual(0, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(temp.File("run")));
    }

    [Fact]
    public void AnUnknownSeriesIsRefusedByName()
    {
        using var temp = new TempDirectory();
        string data = Write(temp, "panel.csv", PipelineTests.Panel(["a"], 60));
        var (code, _, error) = CliRunner.Run("train", "forecast", data, "--scaling", "series", "--relative-to", "none", "--horizon", "4", "--context", "8", "--hidden", "4", "--steps", "3", "-o", temp.File("run"));
        Assert.True(code == 0, error);
        string other = Write(temp, "other.csv", PipelineTests.Panel(["zz"], 20));
        (code, _, error) = CliRunner.Run("forecast", temp.File("run/model.safetensors"), "--input", other);
        Assert.NotEqual(0, code);
        Assert.Contains("series 'zz': the model was trained on 1 series ('a')", error, StringComparison.Ordinal);
    }
}

public class BacktestCommandTests
{
    [Fact]
    public void RefitsBeforeEveryOriginAndPrintsEachFold()
    {
        using var temp = new TempDirectory();
        File.WriteAllText(temp.File("panel.csv"), PipelineTests.Panel(["a", "b"], 60));
        var (code, _, error) = CliRunner.Run("train", "forecast", temp.File("panel.csv"), "--horizon", "4", "--context", "12", "--hidden", "4", "--steps", "20", "-o", temp.File("run"));
        Assert.True(code == 0, error);
        (code, var output, error) = CliRunner.Run("backtest", temp.File("run/model.safetensors"), "--folds", "2", "--json");
        Assert.True(code == 0, error);
        using var folds = System.Text.Json.JsonDocument.Parse(output);
        var origins = folds.RootElement.EnumerateArray().Select(f => f.GetProperty("origins").EnumerateArray().Select(o => o.GetInt32()).ToArray()).ToArray();
        Assert.Equal([[52, 52], [56, 56]], origins);
        (code, _, error) = CliRunner.Run("backtest", temp.File("run/model.safetensors"), "--folds", "20");
        Assert.Equal(1, code);
        Assert.Contains("--folds: 20 folds of 4 steps leave series 'a' (60 steps) only 0 steps before the first fold's origin", error, StringComparison.Ordinal);
        Assert.Contains("use fewer --folds", error, StringComparison.Ordinal);
    }
}
