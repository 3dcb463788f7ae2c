using System.Text.Json;

namespace Unroll.Cli.Tests;

/// <summary>`unroll train TASK`, `unroll eval` of task models and `unroll experiment`, with tiny settings.</summary>
public class TaskCommandTests
{
    private static readonly string[] Tiny =
    [
        "--hidden", "6", "--steps", "30", "--batch-size", "8", "--train-count", "64", "--validation-count", "16", "--test-count", "40",
        "--validate-every", "10", "--checkpoint-every", "10",
    ];

    [Theory]
    [InlineData("adding", "MSE", false)]
    [InlineData("copy", "cross-entropy", true)]
    [InlineData("temporal-order", "cross-entropy", true)]
    public void TrainWritesTheRunDirectoryAndEvalReportsTheMetricBesideTheBaseline(string task, string metric, bool classification)
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        var (code, output, error) = CliRunner.Run(["train", task, "--length", "12", "-o", run, .. Tiny]);
        Assert.True(code == 0, error);
        Assert.Contains("memoryless baseline", output, StringComparison.Ordinal);
        foreach (string file in new[] { "model.safetensors", "checkpoint.safetensors", "metrics.csv", "evaluation.json", "loss.svg" })
        {
            Assert.True(File.Exists(Path.Combine(run, file)), file);
        }

        Assert.Equal(31, File.ReadAllLines(Path.Combine(run, "metrics.csv")).Length);
        using var written = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "evaluation.json")));
        var figures = written.RootElement.GetProperty("figures");
        double baseline = figures.GetProperty("baseline_loss").GetDouble();
        double expectedBaseline = task switch
        {
            "adding" => 1.0 / 6,
            "copy" => 10 * Math.Log(8) / 32,
            _ => Math.Log(4),
        };
        Assert.Equal(expectedBaseline, baseline, 12);
        Assert.Equal(40, figures.GetProperty("sequences").GetInt32());
        Assert.Equal(classification, figures.TryGetProperty("accuracy", out _));

        var (evalCode, evalOutput, evalError) = CliRunner.Run("eval", Path.Combine(run, "model.safetensors"));
        Assert.True(evalCode == 0, evalError);
        Assert.Contains(metric, evalOutput, StringComparison.Ordinal);
        Assert.Equal(classification, evalOutput.Contains("accuracy", StringComparison.Ordinal));

        // eval regenerates exactly the test split the run measured.
        var (jsonCode, json, _) = CliRunner.Run("eval", Path.Combine(run, "model.safetensors"), "--json");
        Assert.Equal(0, jsonCode);
        using var evaluated = JsonDocument.Parse(json);
        Assert.Equal(figures.GetProperty("loss").GetDouble(), evaluated.RootElement.GetProperty("figures").GetProperty("loss").GetDouble());
    }

    [Fact]
    public void ARunStoppedByItsTimeLimitResumesToTheWeightsOfAnUninterruptedRun()
    {
        using var temp = new TempDirectory();
        string full = temp.File("full"), limited = temp.File("limited");
        string[] run = ["train", "temporal-order", "--length", "20", "--model", "gru", "--hidden", "8", "--steps", "20000", "--batch-size", "8",
            "--train-count", "64", "--validation-count", "8", "--test-count", "8", "--checkpoint-every", "1000"];
        Assert.Equal(0, CliRunner.Run([.. run, "-o", full]).ExitCode);
        var (code, output, error) = CliRunner.Run([.. run, "-o", limited, "--time-limit", "0.5s"]);
        Assert.True(code == 0, error);
        Assert.Contains("Stopped at the time limit", output, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(limited, "model.safetensors")));
        Assert.True(File.ReadAllLines(Path.Combine(limited, "metrics.csv")).Length < 20001);

        // The budget is spent: resuming needs a new one, and refuses to run without it.
        var (spentCode, _, spentError) = CliRunner.Run("train", "--resume", limited);
        Assert.Equal(1, spentCode);
        Assert.Contains("time budget of 00:00:00.5000000 is spent; pass --time-limit", spentError, StringComparison.Ordinal);
        var (resumeCode, resumed, resumeError) = CliRunner.Run("train", "--resume", limited, "--time-limit", "1h");
        Assert.True(resumeCode == 0, resumeError);
        Assert.Contains("Resuming", resumed, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllBytes(Path.Combine(full, "model.safetensors")), File.ReadAllBytes(Path.Combine(limited, "model.safetensors")));
        Assert.Equal(File.ReadAllText(Path.Combine(full, "metrics.csv")), File.ReadAllText(Path.Combine(limited, "metrics.csv")));
    }

    [Fact]
    public void TaskResumeRefusesOtherOptionsAndADirectoryWithoutCheckpoint()
    {
        using var temp = new TempDirectory();
        var (code, _, error) = CliRunner.Run("train", "adding", "--resume", temp.Path, "--lr", "0.1");
        Assert.Equal(1, code);
        Assert.Contains("--lr", error, StringComparison.Ordinal);
        (code, _, error) = CliRunner.Run("train", "adding", "--resume", temp.Path, "--time-limit", "1m");
        Assert.Equal(1, code);
        Assert.Contains("checkpoint.safetensors", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--length", "1", "--length")]
    [InlineData("--embedding", "4", "--embedding")]
    [InlineData("--time-limit", "5x", "--time-limit")]
    [InlineData("--layers", "0", "layers")]
    public void BadTaskOptionsAreRefusedByName(string option, string value, string expected)
    {
        using var temp = new TempDirectory();
        var (code, _, error) = CliRunner.Run(["train", "adding", option, value, "-o", temp.File("run"), .. Tiny]);
        Assert.Equal(1, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error, StringComparison.Ordinal);
        Assert.False(File.Exists(temp.File("run/model.safetensors")));
    }

    [Fact]
    public void CopyRefusesABidirectionalModelAndEvalRefusesAHorizon()
    {
        using var temp = new TempDirectory();
        var (code, _, error) = CliRunner.Run(["train", "copy", "--bidirectional", "-o", temp.File("bi"), .. Tiny]);
        Assert.Equal(1, code);
        Assert.Contains("--bidirectional", error, StringComparison.Ordinal);

        string run = temp.File("run");
        Assert.Equal(0, CliRunner.Run(["train", "copy", "--length", "3", "-o", run, .. Tiny]).ExitCode);
        var (evalCode, _, evalError) = CliRunner.Run("eval", Path.Combine(run, "model.safetensors"), "--horizon", "5");
        Assert.Equal(1, evalCode);
        Assert.Contains("--horizon", evalError, StringComparison.Ordinal);
    }

    [Fact]
    public void ExperimentRunsTheGridAndWritesTheTableAndOnePlotPerLength()
    {
        using var temp = new TempDirectory();
        string directory = temp.File("experiment");
        var (code, output, error) = CliRunner.Run(
            "experiment", "adding", "--lengths", "6,9", "--models", "tanh,irnn,lstm", "--steps", "20", "--hidden", "4", "--batch-size", "8",
            "--train-count", "32", "--test-count", "16", "--validate-every", "5", "-o", directory);
        Assert.True(code == 0, error);
        string table = File.ReadAllText(Path.Combine(directory, "results.md"));
        Assert.Contains(table.Trim(), output, StringComparison.Ordinal);
        var rows = table.Split('\n').Where(line => line.StartsWith("| 6 |", StringComparison.Ordinal) || line.StartsWith("| 9 |", StringComparison.Ordinal)).ToList();
        Assert.Equal(6, rows.Count);
        Assert.Contains(rows, row => row.StartsWith("| 9 | irnn | 0.001 |", StringComparison.Ordinal));
        Assert.All(rows, row => Assert.Contains("| 0.1667 |", row, StringComparison.Ordinal));
        foreach (string plot in new[] { "adding-T6.svg", "adding-T9.svg" })
        {
            string svg = File.ReadAllText(Path.Combine(directory, plot));
            Assert.Contains("<svg", svg, StringComparison.Ordinal);
            Assert.Contains("lstm", svg, StringComparison.Ordinal);
            Assert.Contains("baseline", svg, StringComparison.Ordinal);
        }

        Assert.True(File.Exists(Path.Combine(directory, "adding-T9-lstm", "model.safetensors")));
        // The test metric is measured every 5 steps: 4 points per curve.
        Assert.Equal(4, File.ReadAllLines(Path.Combine(directory, "adding-T6-tanh", "metrics.csv")).Skip(1).Count(line => line.Split(',')[2].Length > 0));
    }

    [Fact]
    public void TheExperimentsLstmPresetTrainsTheSameWeightsAsTrainWithItsOptions()
    {
        using var temp = new TempDirectory();
        string[] shared = ["--hidden", "6", "--steps", "30", "--batch-size", "8", "--train-count", "64", "--validation-count", "16", "--test-count", "40"];
        Assert.Equal(0, CliRunner.Run(["experiment", "adding", "--lengths", "12", "--models", "lstm", "-o", temp.File("grid"), .. shared]).ExitCode);
        Assert.Equal(0, CliRunner.Run(["train", "adding", "--length", "12", "--model", "lstm", "--forget-bias", "1", "--lr", "0.01", "-o", temp.File("run"), .. shared]).ExitCode);
        Assert.Equal(TensorBytes(temp.File("run/model.safetensors")), TensorBytes(temp.File("grid/adding-T12-lstm/model.safetensors")));
    }

    // The tensor data of a safetensors file: everything after the 8-byte header length and the JSON header.
    private static byte[] TensorBytes(string path)
    {
        var bytes = File.ReadAllBytes(path);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        return bytes[(int)(8 + headerLength)..];
    }

    [Fact]
    public void ExperimentRefusesUnknownModelsAndRepeatedLengths()
    {
        using var temp = new TempDirectory();
        var (code, _, error) = CliRunner.Run("experiment", "copy", "--models", "tanh,transformer", "-o", temp.File("x"));
        Assert.Equal(1, code);
        Assert.Contains("transformer", error, StringComparison.Ordinal);
        (code, _, error) = CliRunner.Run("experiment", "copy", "--lengths", "10,10", "-o", temp.File("y"));
        Assert.Equal(1, code);
        Assert.Contains("--lengths", error, StringComparison.Ordinal);
    }
}
