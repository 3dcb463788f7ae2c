using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;

namespace Unroll.Cli.Tests;

/// <summary>End-to-end runs of `unroll train`, `eval` and `predict` on small problems.</summary>
public class TrainCommandTests
{
    private static readonly string[] SmallRun =
    [
        "--hidden", "8", "--steps", "40", "--batch-size", "8", "--seq-length", "30",
        "--train-count", "32", "--validation-count", "8", "--test-count", "8", "--validate-every", "10",
    ];

    [Fact]
    public void DataSourceHelpShowsOnlyItsOwnArguments()
    {
        // The oscillator is a subcommand of train, so `train text --help` must not list an oscillator argument.
        var (code, output, error) = CliRunner.Run(["train", "text", "--help"]);
        Assert.True(code == 0, error);
        Assert.Contains("unroll train text <file> [options]", output, StringComparison.Ordinal);
        Assert.DoesNotContain("oscillator", output, StringComparison.Ordinal);

        (code, output, error) = CliRunner.Run(["train", "--help"]);
        Assert.True(code == 0, error);
        Assert.Contains("oscillator", output, StringComparison.Ordinal);
    }

    [Fact]
    public void TrainWritesTheRunDirectoryAndEvalReadsItBack()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        var (code, output, error) = CliRunner.Run(["train", "oscillator", "--output", run, .. SmallRun]);
        Assert.True(code == 0, error);
        foreach (var name in new[] { "model.safetensors", "metrics.csv", "evaluation.json", "loss.svg", "forecast.svg" })
        {
            Assert.True(File.Exists(Path.Combine(run, name)), $"missing {name}; output: {output}");
        }

        var metrics = File.ReadAllLines(Path.Combine(run, "metrics.csv"));
        Assert.Equal("step,train_loss,validation_loss,gradient_norm,clipped,spectral_radius,largest_singular_value,clipped_share,gradient_ratio,validation_accuracy", metrics[0]);
        Assert.Equal(41, metrics.Length);
        Assert.All(metrics.Skip(1), line => Assert.True(double.Parse(line.Split(',')[3], CultureInfo.InvariantCulture) > 0));
        XDocument.Parse(File.ReadAllText(Path.Combine(run, "forecast.svg")));
        Assert.Empty(Directory.GetFiles(run, "*.tmp*"));

        var (evalCode, evalOutput, evalError) = CliRunner.Run("eval", Path.Combine(run, "model.safetensors"), "--json");
        Assert.True(evalCode == 0, evalError);
        using var json = JsonDocument.Parse(evalOutput);
        var fromTrain = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "evaluation.json")));
        // eval rebuilds the same test set from the model's metadata, so the figures agree exactly.
        Assert.Equal(fromTrain.RootElement.GetProperty("figures").GetProperty("one_step_mse").GetDouble(), json.RootElement.GetProperty("figures").GetProperty("one_step_mse").GetDouble());
        Assert.Equal(8, json.RootElement.GetProperty("figures").GetProperty("sequences").GetInt32());
    }

    [Theory]
    [InlineData("lstm", "1")]
    [InlineData("gru", "2")]
    [InlineData("rnn", "2")]
    [InlineData("jordan", "1")]
    public void EveryCellTrainsOnTheOscillatorAndEvaluates(string cell, string layers)
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        string[] stacking = cell == "jordan" ? [] : ["--layers", layers, "--dropout", "0.1"];
        var (code, output, error) = CliRunner.Run(["train", "--model", cell, .. stacking, "-o", run, .. SmallRun]);
        Assert.True(code == 0, error);
        Assert.Contains(cell switch { "rnn" => "RNN", "jordan" => "Jordan", _ => cell.ToUpperInvariant() }, output, StringComparison.Ordinal);
        var file = Unroll.IO.SafeTensors.Read(Path.Combine(run, "model.safetensors"));
        Assert.Equal(layers == "2", file.TryGet("rnn.weight_hh_l1", out _));
        int gates = cell switch { "lstm" => 4, "gru" => 3, _ => 1 };
        if (cell == "jordan")
        {
            Assert.Equal([8, 1], file.Get("rnn.weight_yh_l0").Shape);
        }
        else
        {
            Assert.Equal([gates * 8, 8], file.Get("rnn.weight_hh_l0").Shape);
        }

        var (evalCode, evalOutput, evalError) = CliRunner.Run("eval", Path.Combine(run, "model.safetensors"));
        Assert.True(evalCode == 0, evalError);
        Assert.Contains("free-running MSE", evalOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void SameSeedGivesIdenticalModels()
    {
        using var temp = new TempDirectory();
        Assert.Equal(0, CliRunner.Run(["train", "-o", temp.File("a"), .. SmallRun]).ExitCode);
        Assert.Equal(0, CliRunner.Run(["train", "-o", temp.File("b"), .. SmallRun]).ExitCode);
        Assert.Equal(File.ReadAllBytes(temp.File("a/model.safetensors")), File.ReadAllBytes(temp.File("b/model.safetensors")));
    }

    [Fact]
    public void ExistingModelIsNotOverwrittenWithoutConsent()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        Assert.Equal(0, CliRunner.Run(["train", "-o", run, .. SmallRun]).ExitCode);
        var before = File.ReadAllBytes(Path.Combine(run, "model.safetensors"));
        var (code, _, error) = CliRunner.Run(["train", "-o", run, "--seed", "2", .. SmallRun]);
        Assert.Equal(1, code);
        Assert.Contains("--overwrite", error, StringComparison.Ordinal);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(run, "model.safetensors")));
        Assert.Equal(0, CliRunner.Run(["train", "-o", run, "--overwrite", "--seed", "2", .. SmallRun]).ExitCode);
        Assert.NotEqual(before, File.ReadAllBytes(Path.Combine(run, "model.safetensors")));
    }

    [Fact]
    public void PredictWritesOneRowPerInputRow()
    {
        using var temp = new TempDirectory();
        string run = temp.File("run");
        Assert.Equal(0, CliRunner.Run(["train", "-o", run, .. SmallRun]).ExitCode);
        File.WriteAllText(temp.File("in.csv"), "seq,t,x,force\na,0,1.0,0\na,1,0.99,0\na,2,0.97,0\nb,0,-0.5,0.2\n");
        var (code, output, error) = CliRunner.Run("predict", Path.Combine(run, "model.safetensors"), "--input", temp.File("in.csv"), "--output", temp.File("out.csv"));
        Assert.True(code == 0, error);
        var lines = File.ReadAllLines(temp.File("out.csv"));
        Assert.Equal("seq,t,x_next", lines[0]);
        Assert.Equal(5, lines.Length);
        Assert.StartsWith("a,0,", lines[1], StringComparison.Ordinal);
        Assert.StartsWith("b,0,", lines[4], StringComparison.Ordinal);
        Assert.Contains("2 sequences", output, StringComparison.Ordinal);
    }
}
