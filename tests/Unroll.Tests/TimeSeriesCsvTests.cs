using Unroll.Data.Tables;

namespace Unroll.Tests;

public sealed class TimeSeriesCsvTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "unroll-csv-" + Guid.NewGuid().ToString("N"));

    public TimeSeriesCsvTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string name, string contents)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, contents);
        return path;
    }

    [Fact]
    public void ReadsNamedColumnsInTheOrderAskedIgnoringOthers()
    {
        string path = Write("a.csv", "\uFEFFdate, a ,\"b\"\r\nmonday,1,2.5e1\r\ntuesday,-3,\"4\"\r\n\r\n");
        var data = TimeSeriesCsv.Read(path, ["b", "a"]);
        Assert.Equal(2, data.Rows);
        Assert.Equal([25.0, 1, 4, -3], data.Values);
    }

    [Theory]
    [InlineData("a,b\n1,2\n3,NaN\n", "b.csv:3:2: column 'b' is 'NaN'")]
    [InlineData("a,b\n1,2\n3,Infinity\n", "b.csv:3:2: column 'b' is 'Infinity'")]
    [InlineData("a,b\n1,2\nx,1\n", "b.csv:3:1: column 'a' is 'x'")]
    [InlineData("a,b\n1,\n", "b.csv:2:2: column 'b' is empty")]
    [InlineData("a,b\n1,2,3\n", "b.csv:2: 3 fields; expected 2")]
    [InlineData("a,c\n1,2\n", "b.csv:1: no column named 'b'; the header has 'a', 'c'")]
    [InlineData("a,b,b\n1,2,3\n", "names 'b' 2 times")]
    [InlineData("a,b\n", "only a header line")]
    [InlineData("", "the file is empty")]
    [InlineData("a,b\n1,2\n\n3,4\n", "b.csv:3: blank line")]
    [InlineData("a,b\n1,1e999\n", "b.csv:2:2: column 'b' is '1e999'")]
    public void RefusesBadFilesNamingLineAndColumn(string contents, string expected)
    {
        string path = Write("b.csv", contents);
        var error = Assert.Throws<UnrollException>(() => TimeSeriesCsv.Read(path, ["a", "b"]));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NormalisesWithTheTrainingPartOnlyAndShiftsTargets()
    {
        // y_t = t; x_t = 2 t. 10 rows, shift 1 -> 9 pairs; validation 1/3 -> 3, training 6 (rows 0..5, targets rows 1..6).
        string path = Write("s.csv", "x,y\n" + string.Concat(Enumerable.Range(0, 10).Select(t => $"{2 * t},{t}\n")));
        var task = new TimeSeriesTask { Inputs = ["x"], Targets = ["y"], Window = 3, Shift = 1, ValidationFraction = 1.0 / 3 };
        var (prepared, train, validation) = task.Prepare(task.ReadColumns(path));
        Assert.Equal(5.0, prepared.InputMeans[0], 12);                    // mean of 0, 2, .., 10
        Assert.Equal(Math.Sqrt(70.0 / 6), prepared.InputStds[0], 12);    // population std of those six
        Assert.Equal(3.5, prepared.TargetMeans[0], 12);                   // mean of targets 1 .. 6
        Assert.Equal((2, 3), (train.Count, train.Length));
        Assert.Equal((1, 3), (validation.Count, validation.Length));
        Assert.Equal((0 - 5) / Math.Sqrt(70.0 / 6), train.Input(0, 0, 0), 12);
        Assert.Equal((1 - 3.5) / prepared.TargetStds[0], train.Target(0, 0, 0), 12);
        Assert.Equal((7 - 3.5) / prepared.TargetStds[0], validation.Target(0, 0, 0), 12); // validation row 6 predicts row 7
        Assert.Equal(7.0, prepared.Denormalise(validation.Target(0, 0, 0), 0), 12);

        var back = TimeSeriesTask.FromJson(prepared.ToJson());
        Assert.Equal(prepared.InputStds, back.InputStds);
        Assert.Equal(prepared.TargetMeans, back.TargetMeans);
    }

    [Fact]
    public void ConstantColumnsAreScaledByOneAndShortFilesRefused()
    {
        string path = Write("c.csv", "x,y\n" + string.Concat(Enumerable.Range(0, 10).Select(t => $"4,{t}\n")));
        var task = new TimeSeriesTask { Inputs = ["x"], Targets = ["y"], Window = 2, Shift = 0 };
        var (prepared, train, _) = task.Prepare(task.ReadColumns(path));
        Assert.Equal(1.0, prepared.InputStds[0]);
        Assert.Equal(0.0, train.Input(0, 0, 0));
        var tooLong = task with { Window = 20 };
        Assert.Contains("--window 20", Assert.Throws<UnrollException>(() => tooLong.Prepare(task.ReadColumns(path))).Message, StringComparison.Ordinal);
        Assert.Throws<UnrollException>(() => new TimeSeriesTask { Inputs = ["x", "x"], Targets = ["y"] }.Validate());
        Assert.Throws<UnrollException>(() => new TimeSeriesTask { Inputs = ["x"], Targets = ["y"], Shift = -1 }.Validate());
    }
}
