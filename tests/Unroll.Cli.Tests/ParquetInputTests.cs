using System.Globalization;
using Parquet;
using Parquet.Schema;

namespace Unroll.Cli.Tests;

/// <summary>
/// Long-format series in Parquet: the same table as the CSV reader's (so the same model and forecasts), and every bad
/// file refused in one message naming the file, the row and the column. The files are written here with Parquet.Net,
/// in several row groups where the row numbers matter.
/// </summary>
public class ParquetInputTests
{
    // The rows of PipelineTests.Panel: two monthly series with a past covariate u.
    private static (string[] Ids, DateTime[] Times, double[] Values, double[] U) PanelRows(IReadOnlyList<string> ids, int length)
    {
        var lines = PipelineTests.Panel(ids, length).Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(',')).ToArray();
        return (
            [.. lines.Select(f => f[0])],
            [.. lines.Select(f => DateTime.SpecifyKind(DateTime.ParseExact(f[1], "yyyy-MM-dd", CultureInfo.InvariantCulture), DateTimeKind.Utc))],
            [.. lines.Select(f => double.Parse(f[2], CultureInfo.InvariantCulture))],
            [.. lines.Select(f => double.Parse(f[3], CultureInfo.InvariantCulture))]);
    }

    // A column: its field and how to write rows [range] of it into a row group.
    private sealed record Column(DataField Field, Func<ParquetRowGroupWriter, Range, Task> Write);

    // Writes the columns in row groups of at most groupRows rows (so row numbers must count across groups).
    private static async Task WriteParquet(string path, IReadOnlyList<Column> columns, int rows, int groupRows = int.MaxValue)
    {
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(columns.Select(c => (Field)c.Field)), stream);
        for (int start = 0; start < rows; start += groupRows)
        {
            using var group = writer.CreateRowGroup();
            foreach (var column in columns)
            {
                await column.Write(group, start..Math.Min(rows, start + groupRows));
            }
        }
    }

    private static Column Text(string name, string?[] values)
    {
        var field = new DataField<string>(name);
        return new(field, (g, r) => g.WriteAsync(field, values[r]!));
    }

    private static Column Dates(string name, DateTime[] values)
    {
        var field = new DataField<DateTime>(name);
        return new(field, (g, r) => g.WriteAsync<DateTime>(field, values.AsMemory(r)));
    }

    private static Column Numbers(string name, double[] values)
    {
        var field = new DataField<double>(name);
        return new(field, (g, r) => g.WriteAsync<double>(field, values.AsMemory(r)));
    }

    private static Column NullableNumbers(string name, double?[] values)
    {
        var field = new DataField<double?>(name);
        return new(field, (g, r) => g.WriteAsync<double>(field, values.AsMemory(r)));
    }

    [Fact]
    public async Task AParquetFileTrainsAndForecastsAsTheSameRowsInCsv()
    {
        using var temp = new TempDirectory();
        string csv = temp.File("panel.csv"), parquet = temp.File("panel.parquet");
        File.WriteAllText(csv, PipelineTests.Panel(["a", "b"], 60));
        var (ids, times, values, u) = PanelRows(["a", "b"], 60);
        await WriteParquet(parquet, [Text("series", ids), Dates("time", times), Numbers("value", values), Numbers("u", u)], ids.Length, groupRows: 50);

        string[] train = ["--past", "u", "--horizon", "4", "--context", "12", "--hidden", "4", "--steps", "15", "--threads", "1", "--seed", "3"];
        var (code, _, error) = CliRunner.Run(["train", "forecast", csv, .. train, "-o", temp.File("from-csv")]);
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run(["train", "forecast", parquet, .. train, "-o", temp.File("from-parquet")]);
        Assert.True(code == 0, error);

        // The model files name their data file, so the runs are compared by what they forecast, from either file.
        (code, _, error) = CliRunner.Run("forecast", temp.File("from-csv/model.safetensors"), "--input", csv, "--output", temp.File("csv.csv"));
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run("forecast", temp.File("from-parquet/model.safetensors"), "--input", parquet, "--output", temp.File("parquet.csv"));
        Assert.True(code == 0, error);
        (code, _, error) = CliRunner.Run("forecast", temp.File("from-parquet/model.safetensors"), "--input", csv, "--output", temp.File("crossed.csv"));
        Assert.True(code == 0, error);
        var forecasts = File.ReadAllLines(temp.File("csv.csv"));
        Assert.Equal(1 + (2 * 4), forecasts.Length);
        Assert.Equal(forecasts, File.ReadAllLines(temp.File("parquet.csv")));
        Assert.Equal(forecasts, File.ReadAllLines(temp.File("crossed.csv")));
    }

    [Fact]
    public async Task IntegerStepsAndTextTimesReadAsInCsv()
    {
        // Times as integers; ids as text; a forecast from a Parquet file equals the forecast from the same rows in CSV.
        using var temp = new TempDirectory();
        int n = 60;
        string[] ids = [.. Enumerable.Repeat("s", n)];
        long[] steps = [.. Enumerable.Range(0, n).Select(t => (long)t)];
        double[] values = [.. Enumerable.Range(0, n).Select(t => 5 + Math.Sin(2 * Math.PI * t / 12))];
        File.WriteAllText(temp.File("s.csv"), "series,time,value\n" + string.Concat(Enumerable.Range(0, n).Select(t => string.Create(CultureInfo.InvariantCulture, $"s,{t},{values[t]:R}\n"))));
        var time = new DataField<long>("time");
        await WriteParquet(temp.File("s.parquet"), [Text("series", ids), new(time, (g, r) => g.WriteAsync<long>(time, steps.AsMemory(r))), Numbers("value", values)], n);
        var (code, _, error) = CliRunner.Run("train", "forecast", temp.File("s.csv"), "--horizon", "3", "--context", "12", "--hidden", "4", "--steps", "5", "--threads", "1", "-o", temp.File("run"));
        Assert.True(code == 0, error);
        (code, var fromCsv, error) = CliRunner.Run("forecast", temp.File("run/model.safetensors"), "--input", temp.File("s.csv"));
        Assert.True(code == 0, error);
        (code, var fromParquet, error) = CliRunner.Run("forecast", temp.File("run/model.safetensors"), "--input", temp.File("s.parquet"));
        Assert.True(code == 0, error);
        Assert.Contains("s,1,", fromCsv, StringComparison.Ordinal);
        Assert.Equal(fromCsv, fromParquet);
    }

    [Fact]
    public async Task NullTargetsAfterTheEndAreTheStepsToForecastAsEmptyCsvCells()
    {
        // Future covariates: rows after a series' end carry u and an empty target, in CSV an empty cell, in Parquet a null.
        using var temp = new TempDirectory();
        string csv = temp.File("panel.csv");
        File.WriteAllText(csv, PipelineTests.Panel(["a", "b"], 60));
        var (code, _, error) = CliRunner.Run("train", "forecast", csv, "--future", "u", "--horizon", "4", "--context", "12", "--hidden", "4", "--steps", "5", "--threads", "1", "-o", temp.File("run"));
        Assert.True(code == 0, error);

        var (ids, times, values, u) = PanelRows(["a", "b"], 64);
        bool[] ahead = [.. Enumerable.Range(0, ids.Length).Select(r => r % 64 >= 60)];
        double?[] targets = [.. values.Select((v, r) => ahead[r] ? (double?)null : v)];
        File.WriteAllText(temp.File("ahead.csv"), "series,time,value,u\n" + string.Concat(Enumerable.Range(0, ids.Length).Select(r =>
            string.Create(CultureInfo.InvariantCulture, $"{ids[r]},{times[r]:yyyy-MM-dd},{(ahead[r] ? string.Empty : values[r].ToString("R", CultureInfo.InvariantCulture))},{u[r]:R}\n"))));
        await WriteParquet(temp.File("ahead.parquet"), [Text("series", ids), Dates("time", times), NullableNumbers("value", targets), Numbers("u", u)], ids.Length, groupRows: 61);

        (code, var fromCsv, error) = CliRunner.Run("forecast", temp.File("run/model.safetensors"), "--input", temp.File("ahead.csv"));
        Assert.True(code == 0, error);
        (code, var fromParquet, error) = CliRunner.Run("forecast", temp.File("run/model.safetensors"), "--input", temp.File("ahead.parquet"));
        Assert.True(code == 0, error);
        Assert.Equal(1 + (2 * 4), fromCsv.Trim().Split('\n').Length);
        Assert.Equal(fromCsv, fromParquet);
    }

    public static TheoryData<string, string> BadFiles => new()
    {
        { "missing column", "data.parquet: no column named 'value'; the file has 'series', 'time', 'target'" },
        { "null value", "data.parquet: row 3, column 'value' is empty; expected a finite number" },
        { "NaN value", "data.parquet: row 2, column 'value' is NaN; expected a finite number" },
        { "repeated time", "data.parquet: row 3, column 'time' is '2000-02-01', the same time as row 2 of series 'a'" },
        { "null id", "data.parquet: row 2, column 'series' is empty; expected a series id" },
        { "text file", "data.parquet: is not a readable Parquet file (" },
        { "empty file", "data.parquet: is not a readable Parquet file (" },
        { "truncated file", "data.parquet: is not a readable Parquet file (" },
        { "text values", "data.parquet: row 2, column 'value' is 'x'; expected a finite number" },
        { "boolean values", "data.parquet: row 1, column 'value' holds Boolean values; expected numbers" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public async Task EveryBadParquetFileGetsOneMessageNamingFileRowAndColumn(string bad, string message)
    {
        using var temp = new TempDirectory();
        string data = temp.File("data.parquet");
        string?[] ids = ["a", "a", "a", "a"];
        DateTime[] times = [.. Enumerable.Range(0, 4).Select(t => new DateTime(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(t))];
        double[] values = [1, 2, 3, 4];
        switch (bad)
        {
            case "missing column":
                await WriteParquet(data, [Text("series", ids), Dates("time", times), Numbers("target", values)], 4, groupRows: 2);
                break;
            case "null value":
                await WriteParquet(data, [Text("series", ids), Dates("time", times), NullableNumbers("value", [1, 2, null, 4])], 4, groupRows: 2);
                break;
            case "NaN value":
                await WriteParquet(data, [Text("series", ids), Dates("time", times), Numbers("value", [1, double.NaN, 3, 4])], 4, groupRows: 2);
                break;
            case "repeated time":
                await WriteParquet(data, [Text("series", ids), Dates("time", [times[0], times[1], times[1], times[2]]), Numbers("value", values)], 4, groupRows: 2);
                break;
            case "null id":
                await WriteParquet(data, [Text("series", ["a", null, "a", "a"]), Dates("time", times), Numbers("value", values)], 4, groupRows: 2);
                break;
            case "text file":
                File.WriteAllText(data, "series,time,value\na,2000-01-01,1\n");
                break;
            case "empty file":
                File.WriteAllBytes(data, []);
                break;
            case "truncated file":
                await WriteParquet(data, [Text("series", ids), Dates("time", times), Numbers("value", values)], 4, groupRows: 2);
                var whole = File.ReadAllBytes(data);
                File.WriteAllBytes(data, whole[..(whole.Length / 2)]);
                break;
            case "text values":
                await WriteParquet(data, [Text("series", ids), Dates("time", times), Text("value", ["1", "x", "3", "4"])], 4, groupRows: 2);
                break;
            case "boolean values":
                var flags = new DataField<bool>("value");
                await WriteParquet(data, [Text("series", ids), Dates("time", times), new(flags, (g, r) => g.WriteAsync<bool>(flags, new[] { true, false, true, false }.AsMemory(r)))], 4, groupRows: 2);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(bad), bad, "no such case");
        }

        var (code, _, error) = CliRunner.Run("train", "forecast", data, "--horizon", "2", "--context", "4", "--steps", "2", "-o", temp.File("run"));
        Assert.NotEqual(0, code);
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.Single(error.Trim().Split('\n'));
        Assert.False(Directory.Exists(temp.File("run")));
    }
}
