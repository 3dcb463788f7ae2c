using System.Diagnostics;
using System.Globalization;
using Unroll.Models;

namespace Unroll.Cli.Tests;

/// <summary>
/// unroll predict --stream: one line in, one prediction out, as it arrives; the same predictions as predict --input
/// over the whole sequences; an empty line starts a new sequence; a bad line is named.
/// </summary>
public sealed class PredictStreamTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly string _model;

    public PredictStreamTests()
    {
        var model = new SequenceModel<float>(new ModelConfig
        {
            Architecture = Architecture.Lstm, InputSize = 2, HiddenSize = 8, OutputSize = 1, Layers = 2, InputNames = ["x", "force"], OutputNames = ["x_next"],
        }, seed: 3);
        _model = _temp.File("model.safetensors");
        ModelFile.Save(_model, model);
    }

    public void Dispose() => _temp.Dispose();

    private static readonly double[][] First = [[1.0, 0], [0.99, 0.1], [0.95, -0.2], [0.9, 0.3]];
    private static readonly double[][] Second = [[-0.5, 0.2], [-0.45, 0]];

    private static string Row(double[] values) => string.Join(",", values.Select(v => v.ToString(CultureInfo.InvariantCulture)));

    private static double[] Values(string line) => [.. line.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture))];

    /// <summary>The first predicted column of <c>predict MODEL --input FILE</c> (after its step columns).</summary>
    private static List<double> Predicted(string model, string input)
    {
        var whole = CliRunner.Run("predict", model, "--input", input);
        Assert.True(whole.ExitCode == 0, whole.Error);
        return [.. whole.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(line => double.Parse(line.Split(',')[2], CultureInfo.InvariantCulture))];
    }

    /// <summary>
    /// <c>predict MODEL --stream --input LINES</c> answers with <paramref name="header"/> and then <paramref name="expected"/>,
    /// each within <paramref name="tolerance"/> x (1 + |value|); returns its standard error.
    /// </summary>
    private static string AssertStreamed(string model, string lines, string header, List<double> expected, double tolerance)
    {
        var streamed = CliRunner.Run("predict", model, "--stream", "--input", lines);
        Assert.True(streamed.ExitCode == 0, streamed.Error);
        var output = streamed.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(header, output[0]);
        Assert.Equal(expected.Count, output.Length - 1);
        for (int i = 0; i < expected.Count; i++)
        {
            double actual = Values(output[i + 1])[0];
            Assert.True(Math.Abs(actual - expected[i]) <= tolerance * (1 + Math.Abs(expected[i])), $"line {i + 1}: predict {expected[i]}, stream {actual}");
        }

        return streamed.Error;
    }

    [Fact]
    public void StreamedLinesGiveWhatPredictGivesForTheWholeSequences()
    {
        // Long format: two sequences, each from a zero state.
        string csv = _temp.File("in.csv");
        File.WriteAllText(csv, "seq,t,x,force\n"
            + string.Concat(First.Select((row, t) => $"a,{t},{Row(row)}\n"))
            + string.Concat(Second.Select((row, t) => $"b,{t},{Row(row)}\n")));
        var expected = Predicted(_model, csv);

        // Streamed: a header, the first sequence, an empty line (a new sequence), the second.
        string lines = _temp.File("steps.csv");
        File.WriteAllText(lines, "x,force\n" + string.Concat(First.Select(r => Row(r) + "\n")) + "\n" + string.Concat(Second.Select(r => Row(r) + "\n")));
        string error = AssertStreamed(_model, lines, "x_next", expected, tolerance: 1e-6);
        Assert.Contains("Predicted 6 steps.", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ACsvModelStreamsRowsInTheirOwnUnitsAndATextModelIsRefused()
    {
        // A CSV run: the model normalises its columns; streaming reads and writes them in their own units.
        string data = _temp.File("sensor.csv");
        File.WriteAllText(data, "temp,load\n" + string.Concat(Enumerable.Range(0, 120).Select(t =>
            string.Create(CultureInfo.InvariantCulture, $"{20 + (5 * Math.Sin(t / 4.0))},{50 + (10 * Math.Cos(t / 4.0))}\n"))));
        string run = _temp.File("csv-run");
        var trained = CliRunner.Run("train", "csv", data, "--inputs", "temp,load", "--targets", "temp", "--hidden", "8", "--window", "20", "--steps", "20", "-o", run);
        Assert.True(trained.ExitCode == 0, trained.Error);
        string model = Path.Combine(run, "model.safetensors");

        string rows = _temp.File("rows.csv");
        File.WriteAllLines(rows, File.ReadAllLines(data).Take(11));
        var expected = Predicted(model, rows);
        Assert.Equal(10, expected.Count);

        // In degrees, not in the model's normalised units: the two agree to float precision.
        AssertStreamed(model, rows, "temp", expected, tolerance: 1e-5);

        File.WriteAllText(rows, "temp,load\n21,oops\n");
        var (code, _, error) = CliRunner.Run("predict", model, "--stream", "--input", rows);
        Assert.Equal(1, code);
        Assert.Contains("line 2, column 2 (load) is 'oops'; expected a finite number", error, StringComparison.Ordinal);

        string text = _temp.File("text.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("to be or not to be, that is the question. ", 20)));
        string textRun = _temp.File("text-run");
        Assert.Equal(0, CliRunner.Run("train", "text", text, "--hidden", "8", "--steps", "2", "-o", textRun).ExitCode);
        (code, _, error) = CliRunner.Run("predict", Path.Combine(textRun, "model.safetensors"), "--stream", "--input", rows);
        Assert.Equal(1, code);
        Assert.Contains("got a model of a text task, whose inputs are encoded first; use --input FILE", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ABadLineIsNamedAndTheLinesBeforeItWereAnswered()
    {
        string lines = _temp.File("bad.csv");
        File.WriteAllText(lines, "1,0\n0.5,0.1\n0.2,oops\n");
        var (code, output, error) = CliRunner.Run("predict", _model, "--stream", "--input", lines);
        Assert.Equal(1, code);
        Assert.Contains("line 3, column 2 (force) is 'oops'; expected a finite number", error, StringComparison.Ordinal);
        Assert.Equal(2, output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

        File.WriteAllText(lines, "1,0,3\n");
        (code, _, error) = CliRunner.Run("predict", _model, "--stream", "--input", lines);
        Assert.Equal(1, code);
        Assert.Contains("line 1 has 3 values; expected 2 (x,force)", error, StringComparison.Ordinal);

        File.WriteAllText(lines, "force,x\n1,0\n");
        (code, _, error) = CliRunner.Run("predict", _model, "--stream", "--input", lines);
        Assert.Equal(1, code);
        Assert.Contains("expected the model's inputs 'x,force'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void StreamingNeedsStandardOutputAndPredictNeedsAnInputOrAStream()
    {
        var (code, _, error) = CliRunner.Run("predict", _model, "--stream", "--output", _temp.File("out.csv"));
        Assert.Equal(1, code);
        Assert.Contains("expected --output - (the default)", error, StringComparison.Ordinal);
        (code, _, error) = CliRunner.Run("predict", _model);
        Assert.Equal(2, code);
        Assert.Contains("expected --input FILE", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EachPredictionIsWrittenBeforeTheNextLineIsRead()
    {
        // A separate process reading its standard input: each answer must arrive while the input is still open.
        string cli = Path.Combine(AppContext.BaseDirectory, "Unroll.Cli.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { cli, "predict", _model, "--stream" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            foreach (var row in First)
            {
                process.StandardInput.WriteLine(Row(row));
                process.StandardInput.Flush();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
                // Cancelled (a failure) if no answer arrives while the input stays open: the prediction was not flushed.
                string? answer = await process.StandardOutput.ReadLineAsync(timeout.Token);
                Assert.Single(Values(answer!));
            }

            process.StandardInput.Close();
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(exit.Token);
            string errors = await stderr;
            Assert.True(process.ExitCode == 0, errors);
            Assert.Contains("Predicted 4 steps.", errors, StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }
}
